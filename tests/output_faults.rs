//! Outputs that fail under a headless run: an event log, a trace or a recording on a full
//! disk (`/dev/full`), and a stdout whose reader has gone (`poolscope run ... | head -1`).
//! The run says which output failed and exits 1 — or, for a closed stdout, leaves quietly —
//! and never panics.
#![cfg(feature = "ui")]

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_poolscope");

/// A folder of its own under the system's temporary one, removed on drop; `full.EXT` in it
/// are links to `/dev/full`, so each output format can be sent to a full disk by its name.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("poolscope-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for ext in ["jsonl", "json", "cast", "svg", "gif"] {
            std::os::unix::fs::symlink("/dev/full", dir.join(format!("full.{ext}"))).unwrap();
        }
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `poolscope run map-ordering --headless --virtual-time` with `outputs`: its exit code, stdout
/// and stderr.
fn run(outputs: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(["run", "map-ordering", "--headless", "--virtual-time"]);
    for (flag, path) in outputs {
        command.arg(flag).arg(path);
    }
    command.output().expect("poolscope runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_output_on_a_full_disk_exits_1_and_says_which() {
    let scratch = Scratch::new("full-disk");
    for (flag, file, what) in [
        ("--events", "full.jsonl", "the event log"),
        ("--trace", "full.json", "the trace"),
        ("--record", "full.cast", "the recording"),
        ("--record", "full.svg", "the recording"),
        ("--record", "full.gif", "the recording"),
    ] {
        let path = scratch.path(file);
        let output = run(&[(flag, &path)]);
        let said = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{flag} {file}: {said}");
        let expected = format!("poolscope: cannot write {what} {}: No space left on device", path.display());
        assert!(said.contains(&expected), "{flag} {file}: {said}");
        assert!(!said.contains("panicked"), "{flag} {file}: {said}");
    }
}

/// One output on a full disk fails alone: the transcript and the other files are what a run
/// with every output writable makes (on virtual time, byte for byte).
#[test]
fn an_output_on_a_full_disk_leaves_the_others_complete() {
    let scratch = Scratch::new("full-disk-others");
    let outputs = [("--events", "events.jsonl"), ("--trace", "trace.json"), ("--record", "screen.cast")];
    let paths: Vec<(&str, PathBuf)> = outputs.iter().map(|(flag, file)| (*flag, scratch.path(file))).collect();
    let all: Vec<(&str, &Path)> = paths.iter().map(|(flag, path)| (*flag, path.as_path())).collect();
    let reference = run(&all);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let written: Vec<Vec<u8>> = paths.iter().map(|(_, path)| std::fs::read(path).unwrap()).collect();
    for failing in 0..outputs.len() {
        for (_, path) in &paths {
            let _ = std::fs::remove_file(path);
        }
        let full = scratch.path(&format!("full.{}", outputs[failing].1.rsplit('.').next().unwrap()));
        let mut these = all.clone();
        these[failing].1 = &full;
        let output = run(&these);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            output.stdout == reference.stdout,
            "with {} on a full disk, the transcript is {} of {} bytes",
            outputs[failing].0,
            output.stdout.len(),
            reference.stdout.len()
        );
        for (other, (flag, path)) in paths.iter().enumerate().filter(|(i, _)| *i != failing) {
            let got = std::fs::read(path).unwrap_or_default();
            assert!(
                got == written[other],
                "with {} on a full disk, {flag} wrote {} of {} bytes",
                outputs[failing].0,
                got.len(),
                written[other].len()
            );
        }
    }
}

/// A pipe whose reading end is already closed: every write to the other end fails with
/// `EPIPE`, as once `head -1` has read its line and gone.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: pipe(2) succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

fn run_into_closed_stdout() -> Output {
    Command::new(BIN)
        .args(["run", "map-ordering", "--headless", "--virtual-time"])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("poolscope runs")
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let output = run_into_closed_stdout();
    let said = stderr(&output);
    assert!(!said.contains("panicked"), "{said}");
    assert!(output.status.code().is_some(), "killed by a signal: {:?}", output.status);
}

/// As `export` and `sweep` do: a reader that stopped reading is no failure to report.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let output = run_into_closed_stdout();
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(0));
}
