//! Every input in the fuzz corpora (`fuzz/corpus/TARGET/`), replayed through the checks the
//! fuzz targets run (`fuzz/src/lib.rs`), so stable Rust guards what the fuzzer found: a
//! scenario file, a worker's stdout, an event log and the CPython probe's datagrams, each
//! garbage or not, give an answer and never a panic.
#![cfg(feature = "ui")]

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Runs `check` on every file of `fuzz/corpus/{target}`; a panic names the file.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
            panic!("{} fails its check (see the panic above)", file.display());
        }
    }
}

#[test]
fn scenario_corpus() {
    replay("scenario", checks::scenario);
}

#[test]
fn wire_corpus() {
    replay("wire", checks::wire);
}

#[test]
fn event_log_corpus() {
    replay("event_log", checks::event_log);
}

#[test]
fn cpython_events_corpus() {
    replay("cpython_events", checks::cpython_events);
}

// Inputs that still fail their check, each kept until the code it names is fixed.

#[test]
fn an_event_at_the_end_of_time_folds() {
    checks::event_log(br#"{"t":18446744073709551615,"ev":"queue","depth":1}"#);
}

#[test]
fn huge_run_times_add_up() {
    let mut log = String::new();
    for task in 0..2 {
        log += &format!(r#"{{"t":0,"ev":"submit","task":{task},"label":"x"}}"#);
        log += &format!("\n{{\"t\":0,\"ev\":\"start\",\"task\":{task},\"worker\":0,\"pid\":1}}\n");
        log += &format!(
            "{{\"t\":10000000000000000000,\"ev\":\"finish\",\"task\":{task},\"worker\":0,\"outcome\":\"ok\"}}\n"
        );
    }
    checks::event_log(log.as_bytes());
}

#[test]
fn a_submit_far_past_the_last_task_folds() {
    checks::event_log(br#"{"t":0,"ev":"submit","task":1000000000000,"label":"x"}"#);
}
