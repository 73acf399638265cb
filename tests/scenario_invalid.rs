//! Every malformed scenario in tests/fixtures/invalid is refused with exactly the error text
//! in its `.err` sibling — file, line, column, field and what was expected — and `poolscope
//! check` exits 2 with that text on stderr, never a panic.

use std::path::Path;
use std::process::Command;

fn fixtures() -> Vec<(String, String, String)> {
    let dir = Path::new("tests/fixtures/invalid");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("fixture");
            let expected = std::fs::read_to_string(path.with_extension("err")).expect("every fixture has a .err");
            cases.push((name, text, expected));
        }
    }
    cases.sort();
    assert!(cases.len() >= 15, "the fixtures cover every kind of error");
    cases
}

#[test]
fn every_invalid_fixture_gives_its_expected_error() {
    for (name, text, expected) in fixtures() {
        let stem = Path::new(&name).file_stem().unwrap().to_string_lossy().into_owned();
        let error = poolscope::scenario::parse(&text, &name, &stem).expect_err(&name);
        assert_eq!(format!("{error}\n"), expected, "{name}");
        for e in &error.0 {
            assert!(e.line >= 1 && e.column >= 1, "{name}: located");
            assert!(!e.field.is_empty(), "{name}: names the field");
        }
    }
}

#[test]
fn check_exits_2_with_the_error_on_stderr() {
    for (name, _, expected) in fixtures() {
        let output = Command::new(env!("CARGO_BIN_EXE_poolscope")).args(["check", &name]).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected, "{name}");
    }
}

#[test]
fn run_of_a_malformed_file_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", "tests/fixtures/invalid/unknown-op.toml", "--headless"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown-op.toml:9:6: `step[1].op`: unknown op \"sumbit\"")
    );
}

#[test]
fn unknown_lesson_names_and_missing_files_exit_2() {
    for arg in ["no-such-lesson", "missing/file.toml"] {
        let output =
            Command::new(env!("CARGO_BIN_EXE_poolscope")).args(["run", arg, "--headless"]).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{arg}");
        assert!(!output.stderr.is_empty());
    }
}

#[test]
fn garbage_never_panics() {
    // Arbitrary text, truncated lessons and odd bytes: an error or a scenario, never a panic.
    let lesson = poolscope::scenario::BUILTIN[0].1;
    let mut inputs: Vec<String> =
        (0..lesson.len()).step_by(7).map(|n| lesson[..lesson.floor_char_boundary(n)].to_string()).collect();
    inputs.extend(
        [
            "",
            "[[step]]",
            "title = \"é\"\n[[step]]\nop = \"\u{0}\"",
            "title=1\ntitle=2",
            "[pool]\nworkers = -9223372036854775808",
        ]
        .map(String::from),
    );
    for input in inputs {
        let _ = poolscope::scenario::parse(&input, "fuzz.toml", "fuzz");
    }
}

#[test]
fn every_error_in_a_file_is_reported_not_only_the_first() {
    // A range check in [pool], a bad duration in [tasks.job] and a type error in a step: three
    // independent mistakes, one of them found by TOML typing and two by the checker.
    let name = "tests/fixtures/invalid/three-errors.toml";
    let text = std::fs::read_to_string(name).expect("fixture");
    let errors = poolscope::scenario::parse(&text, name, "three-errors").expect_err("malformed").0;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["pool.workers", "tasks.job.duration", "step[0].count"]);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 6, 10]);

    let output = Command::new(env!("CARGO_BIN_EXE_poolscope")).args(["check", name]).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 3);
}

#[test]
fn a_broken_template_is_reported_once_not_again_by_the_steps_using_it() {
    for (work, expected) in [("duration = 5", "wrong type"), ("work = \"nap\"", "unknown work")] {
        let (work, duration) = if work.starts_with("work") { (work, "") } else { ("work = \"sleep\"", work) };
        let text = format!(
            "title = \"x\"\n[tasks.job]\n{work}\n{duration}\n[[step]]\nop = \"submit\"\ntask = \"job\"\n\
             [[step]]\nop = \"map\"\ntask = \"job\"\n"
        );
        let errors = poolscope::scenario::parse(&text, "t.toml", "t").expect_err("malformed").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains(expected), "{errors:?}");
        assert_eq!(errors[0].field.split('.').take(2).collect::<Vec<_>>(), ["tasks", "job"]);
    }
}

#[test]
fn a_title_of_the_wrong_type_is_one_error_not_also_a_missing_title() {
    let errors = poolscope::scenario::parse("title = 3\n[[step]]\nop = \"note\"\ntext = \"x\"\n", "t.toml", "t")
        .expect_err("bad")
        .0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.starts_with("wrong type"), "{errors:?}");
}

#[test]
fn a_coroutine_pool_of_one_worker_is_what_it_is() {
    let text = "title = \"x\"\n[pool]\nkind = \"coroutine\"\nworkers = 1\n[tasks.job]\nwork = \"sleep\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\n";
    let scenario = poolscope::scenario::parse(text, "one-loop.toml", "one-loop").expect("workers = 1 is the loop");
    assert_eq!(scenario.pool.workers, poolscope::scenario::WorkerCount::Fixed(1));
}
