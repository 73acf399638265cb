//! docs/scenarios.md cannot drift from the validator: every field, work kind and op the
//! validator accepts has a row in the reference, each op's row lists exactly the fields the
//! validator lets it take, and the reference lists nothing the validator refuses. What the
//! validator accepts is read from its own error messages, so a new field shows up here by itself.

use std::collections::BTreeSet;

use poolscope::scenario::{OpName, parse};

const REFERENCE: &str = include_str!("../docs/scenarios.md");

/// The single error a malformed scenario gives.
fn only_error(text: &str) -> String {
    let errors = parse(text, "probe.toml", "probe").expect_err(text).0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].message.clone()
}

/// The names in backticks in `text`.
fn quoted(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The fields an `unknown field` error says the table takes.
fn accepted_fields(text: &str) -> BTreeSet<String> {
    let message = only_error(text);
    let list = message.split_once("expected one of").unwrap_or_else(|| panic!("{message}")).1;
    quoted(list)
}

/// The first cell (a name in backticks) of each table row under `heading`, up to the next heading.
fn rows_under(heading: &str) -> BTreeSet<String> {
    let start = REFERENCE.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("no heading {heading:?}"));
    REFERENCE[start + heading.len() + 2..]
        .lines()
        .take_while(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_top_level_and_pool_field_has_a_row() {
    let top = accepted_fields("title = \"x\"\nno_such_field = 1\n[[step]]\nop = \"poll\"\n");
    assert!(top.contains("title") && top.contains("step"), "{top:?}");
    assert_eq!(rows_under("## Top-level fields"), top);

    let pool = accepted_fields("title = \"x\"\n[pool]\nno_such_field = 1\n[[step]]\nop = \"poll\"\n");
    assert!(pool.contains("workers"), "{pool:?}");
    assert_eq!(rows_under("## `[pool]`"), pool);
}

#[test]
fn every_task_field_and_work_kind_has_a_row() {
    let fields =
        accepted_fields("title = \"x\"\n[tasks.job]\nwork = \"sleep\"\nno_such_field = 1\n[[step]]\nop = \"poll\"\n");
    assert!(fields.contains("work") && fields.contains("duration"), "{fields:?}");
    let message = only_error("title = \"x\"\n[tasks.job]\nwork = \"no_such_work\"\n[[step]]\nop = \"poll\"\n");
    let works: BTreeSet<String> = message
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("{message}"))
        .1
        .split(", ")
        .map(|w| w.trim().to_string())
        .collect();
    assert!(works.contains("sleep") && works.contains("queue_get"), "{works:?}");
    // The section holds two tables: the fields, then the work kinds.
    assert_eq!(rows_under("## `[tasks.NAME]`"), fields.union(&works).cloned().collect());
}

#[test]
fn every_step_field_has_a_row() {
    let fields = accepted_fields("title = \"x\"\n[[step]]\nop = \"poll\"\nno_such_field = 1\n");
    assert!(fields.contains("op") && fields.contains("into") && fields.contains("of"), "{fields:?}");
    assert_eq!(rows_under("## `[[step]]`"), fields);
}

#[test]
fn every_op_has_a_row_listing_exactly_the_fields_it_takes() {
    let ops: Vec<&str> = OpName::ALL.iter().map(|op| op.as_str()).collect();
    assert_eq!(rows_under("### Ops"), set(&ops));
    for op in ops {
        // A field the op does not take makes the validator say which ones it does.
        let stray = if op == "note" { "count = 1" } else { "text = \"x\"" };
        let text = format!("title = \"x\"\n[[step]]\nop = \"{op}\"\n{stray}\n");
        let errors = parse(&text, "probe.toml", "probe").expect_err(&text).0;
        let message = errors
            .iter()
            .map(|e| e.message.clone())
            .find(|m| m.contains("does not apply"))
            .unwrap_or_else(|| panic!("{errors:?}"));
        let takes = message.split_once("it takes ").unwrap_or_else(|| panic!("{message}")).1;
        let takes: BTreeSet<String> = if takes.starts_with("no fields") {
            BTreeSet::new()
        } else {
            takes.split(", ").map(str::to_string).collect()
        };
        // Field and op names overlap (`wait`, `note`): look in the ops table only.
        let ops_table = REFERENCE.split_once("\n### Ops\n").expect("an ops section").1;
        let row = ops_table
            .lines()
            .find(|line| line.starts_with(&format!("| `{op}` |")))
            .unwrap_or_else(|| panic!("no row for op {op}"));
        let listed = quoted(row.split('|').nth(2).expect("a fields cell"));
        assert_eq!(listed, takes, "op {op}: {row}");
    }
}

#[test]
fn the_reference_shows_every_duration_form_into_of_and_callback() {
    for needle in ["\"1.5s\"", "\"1s..3s\"", "[\"3s\", \"1s\", \"2s\"]", "### `into` and `of`", "### `callback`"] {
        assert!(REFERENCE.contains(needle), "{needle}");
    }
    // The example at the top is a valid scenario.
    let example = REFERENCE.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("example");
    parse(example, "docs/scenarios.md", "example").unwrap_or_else(|e| panic!("{e}"));
}
