//! The README's lesson table is the list of built-in lessons, in the picker's order: a
//! lesson added, renamed or moved without the README (or the other way round) fails here.

use poolscope::scenario::builtin_names;

/// The lesson names in the README's "Lessons" table (its first column, `` `name` ``).
fn readme_lessons() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## Lessons\n").nth(1).expect("the README has a Lessons section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn the_readme_lists_every_built_in_lesson_in_the_pickers_order() {
    let built_in: Vec<String> = builtin_names().map(String::from).collect();
    assert_eq!(readme_lessons(), built_in);
}
