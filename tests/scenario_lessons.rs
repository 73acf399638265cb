//! Every built-in lesson (scenarios/*.toml) runs headless to completion, fast (`--speed`),
//! and its event log keeps the SPEC §5 contract. Unwritable outputs exit 1, never panic.

use std::process::{Command, Stdio};

use poolscope::trace::{TraceKind, parse_jsonl};

fn poolscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_poolscope"))
}

#[test]
fn every_lesson_file_is_built_in_and_valid() {
    let mut files: Vec<String> = std::fs::read_dir("scenarios")
        .expect("scenarios/")
        .map(|e| e.expect("entry").path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // The picker's lessons, and those past one machine (on a Dask cluster).
    let mut builtin: Vec<String> =
        poolscope::scenario::builtin_names().chain(poolscope::scenario::cluster_names()).map(String::from).collect();
    builtin.sort();
    assert_eq!(files, builtin, "every scenarios/*.toml is embedded, and nothing else");
    assert!(builtin.len() >= 12);
    for name in &builtin {
        let scenario = poolscope::scenario::load(&format!("scenarios/{name}.toml")).expect(name);
        assert!(!scenario.title.is_empty() && !scenario.summary.is_empty(), "{name} has a title and a summary");
        assert!(scenario.steps.iter().any(|s| s.note.is_some()), "{name} teaches with notes");
    }
}

#[test]
fn every_lesson_runs_headless_to_completion_with_a_valid_event_log() {
    let dir = std::env::temp_dir().join(format!("poolscope-lessons-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for name in poolscope::scenario::builtin_names() {
        let log = dir.join(format!("{name}.jsonl"));
        let output = poolscope()
            .args(["run", name, "--headless", "--speed", "20", "--events"])
            .arg(&log)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("What the main program received, in order:"), "{name}");
        assert!(stdout.contains("speed-up"), "{name}: summary table");
        let events = parse_jsonl(&std::fs::read_to_string(&log).expect("log")).expect(name);
        assert!(matches!(events.first().map(|e| &e.kind), Some(TraceKind::Run { .. })), "{name}: run first");
        assert!(matches!(events.last().map(|e| &e.kind), Some(TraceKind::End { .. })), "{name}: end last");
        assert!(events.windows(2).all(|w| w[0].t <= w[1].t), "{name}: in time order");
        let raw = std::fs::read_to_string(&log).unwrap();
        for line in raw.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["t"].is_u64() && v["ev"].is_string(), "{name}: {line}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn list_names_every_lesson() {
    let output = poolscope().arg("list").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for name in poolscope::scenario::builtin_names().chain(poolscope::scenario::cluster_names()) {
        assert!(text.contains(name), "{name}");
    }
    assert!(text.contains("Past one machine"), "{text}");
}

#[test]
fn same_seed_same_durations() {
    let scenario = poolscope::scenario::load("scenarios/pool-basics.toml").unwrap();
    let template = scenario.tasks.values().next().unwrap().clone();
    let ranged = poolscope::scenario::TaskTemplate {
        duration: poolscope::scenario::DurationSpec::Range(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(3),
        ),
        ..template
    };
    use rand::SeedableRng;
    let draw = |seed| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..10).map(|i| ranged.instantiate(i, &mut rng, 1.0).duration).collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
}

#[test]
fn events_to_a_full_disk_exit_1_with_a_message() {
    let output = poolscope()
        .args(["run", "threads-io-bound", "--headless", "--speed", "50", "--events", "/dev/full"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write the event log /dev/full"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn transcript_to_a_full_disk_exits_1_with_a_message() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let output = poolscope()
        .args(["run", "threads-io-bound", "--headless", "--speed", "50"])
        .stdout(Stdio::from(full))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write the transcript"), "{stderr}");
}

#[test]
fn a_note_steps_text_is_its_caption_shown_once() {
    let output = poolscope().args(["run", "callbacks", "--headless", "--virtual-time"]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    let captions = stdout.lines().filter(|l| l.starts_with("   ▸ The main program is free")).count();
    assert_eq!(captions, 1, "{stdout}");
}
