//! The README's lesson table is the list of built-in lessons, in the picker's order: a
//! lesson added, renamed or moved without the README (or the other way round) fails here.

use poolscope::scenario::{builtin_names, cluster_names};

/// The lesson names in the README's section `heading`'s table (its first column, `` `name` ``).
fn readme_lessons(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let marker = format!("\n## {heading}\n");
    let section = readme.split(&marker).nth(1).unwrap_or_else(|| panic!("the README has a {heading} section"));
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
    assert_eq!(readme_lessons("Lessons"), built_in);
}

#[test]
fn the_readme_lists_the_lessons_past_one_machine() {
    let cluster: Vec<String> = cluster_names().map(String::from).collect();
    assert_eq!(readme_lessons("Past one machine"), cluster);
}
