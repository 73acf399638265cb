//! CPython is the reference (SPEC §7): every built-in lesson's Python program, as
//! `poolscope export NAME --python` writes it, runs to the end under `python3`, without a
//! traceback, and prints its results in the order the poolscope transcript received them.
//!
//! Skipped, with a notice, where `python3` is missing. The programs run with their durations
//! divided by [`SPEED`]; the lessons space their durations so that this keeps every order —
//! except the lessons in [`RACES`], which run at their own speed.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use poolscope::trace::{ResultOutcome, TraceEvent, TraceKind, parse_jsonl};

/// Every duration of the Python programs is divided by this, to keep the test short.
const SPEED: &str = "4";

/// Lessons whose result is a real race between CPython's threads: it holds while every thread
/// reaches its read within the gap before the first write. Shortened to a quarter (25 ms),
/// the gap was missed on a loaded machine (CPython printed `counter = 3`, once in 30 runs
/// beside two busy processes per core); these run at the speed a learner runs them.
const RACES: [&str; 1] = ["shared-counter"];

fn poolscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_poolscope"))
}

fn python3() -> Option<String> {
    let ok = Command::new("python3").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    ok.is_ok_and(|s| s.success()).then(|| "python3".to_string())
}

/// What the main program received, as a comparable token: a result's task label, or an
/// exception's class name. `group` numbers results whose order is not fixed: those an
/// `as_completed` loop received at the same instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Received {
    group: usize,
    token: String,
    ok: bool,
}

/// The main program's results and exceptions in a poolscope run (virtual time: exact ties).
fn poolscope_received(events: &[TraceEvent]) -> Vec<Received> {
    let mut labels = HashMap::new();
    let mut op = String::new();
    let mut out = Vec::new();
    let mut group = 0;
    let mut last = None;
    for event in events {
        let mut push = |token: String, ok: bool| {
            // Within an as_completed loop, results of one instant may come in any order.
            let tie = op == "as_completed" && last == Some(event.t);
            if !tie {
                group += 1;
            }
            last = Some(event.t);
            out.push(Received { group, token, ok });
        };
        match &event.kind {
            TraceKind::Step { op: name, .. } => {
                op = name.clone();
                last = None;
            }
            TraceKind::Submit { task, label, .. } => {
                labels.insert(*task, label.clone());
            }
            // `print(repr(f.exception()))` prints None for a task that returned.
            TraceKind::Result { outcome: ResultOutcome::Ok, .. } if op == "exceptions" => push("None".into(), true),
            TraceKind::Result { task, outcome: ResultOutcome::Ok, .. } => push(labels[task].clone(), true),
            TraceKind::Result { exception, .. } => push(exception.clone().unwrap_or_default(), false),
            TraceKind::Raise { exception, .. } => push(exception.clone(), false),
            // `print("counter =", counter)`: the program prints the very line.
            TraceKind::Print { text } => push(text.clone(), true),
            _ => {}
        }
    }
    out
}

/// The same from the Python program's output: `Job1 by ...` lines are results,
/// `Name(...)` lines the `repr` of a caught exception (or of one `exception()` returned), `None`
/// what `exception()` returns for a task that did not raise, `counter = 2` a counter the
/// program printed; everything else is not received.
fn python_received(stdout: &str) -> Vec<String> {
    let counter = |line: &str| {
        line.split_once(" = ").is_some_and(|(name, value)| {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && value.parse::<i64>().is_ok()
        })
    };
    stdout
        .lines()
        .filter_map(|line| {
            if line == "None" || counter(line) {
                return Some(line.to_string());
            }
            if let Some((name, _)) = line.split_once('(')
                && line.ends_with(')')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Some(name.to_string());
            }
            let (label, _) = line.split_once(" by ")?;
            (!label.is_empty() && !label.contains(' ')).then(|| label.to_string())
        })
        .collect()
}

/// The callbacks' tasks, in the order they ran.
fn poolscope_callbacks(events: &[TraceEvent]) -> Vec<String> {
    let mut labels = HashMap::new();
    let mut out = Vec::new();
    for event in events {
        match &event.kind {
            TraceKind::Submit { task, label, .. } => {
                labels.insert(*task, label.clone());
            }
            // A task that raised: the callback prints its exception's repr, `Exception(...)`.
            TraceKind::Finish { task, error: Some(_), .. } => {
                labels.insert(*task, "Exception".into());
            }
            TraceKind::Callback { task, .. } => out.push(labels[task].clone()),
            _ => {}
        }
    }
    out
}

fn python_callbacks(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("callback: ")?.split_whitespace().next())
        .map(|word| word.split('(').next().unwrap_or(word).to_string())
        .collect()
}

/// Does `python` hold the tokens of `expected` in order (any order within a tie group)?
fn same_order(expected: &[Received], python: &[String]) -> bool {
    if expected.len() != python.len() {
        return false;
    }
    let mut at = 0;
    while at < expected.len() {
        let group = expected[at].group;
        let end = expected[at..].iter().position(|r| r.group != group).map_or(expected.len(), |n| at + n);
        let mut want: Vec<&str> = expected[at..end].iter().map(|r| r.token.as_str()).collect();
        let mut got: Vec<&str> = python[at..end].iter().map(String::as_str).collect();
        want.sort_unstable();
        got.sort_unstable();
        if want != got {
            return false;
        }
        at = end;
    }
    true
}

/// Runs `python3 FILE`, giving up (a failure) after a minute.
fn run_python(python: &str, file: &std::path::Path) -> (bool, String, String) {
    let mut child =
        Command::new(python).arg(file).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("python3 starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (reader.join().unwrap(), err_reader.join().unwrap());
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

/// How many of the tracebacks in a program's stderr are not a failure of the program: those
/// CPython logs for a done-callback that raised (after "exception calling callback for
/// <Future ...>"), and, in a program without the `__main__` guard (the lesson is about it),
/// those of the spawned workers that re-ran its top level. Such a worker's traceback starts
/// in the `python -c` that spawn runs it with, and may be cut off anywhere: once one worker
/// has died, the broken pool terminates the others, even one half-way through printing.
fn expected_tracebacks(stderr: &str) -> usize {
    let callbacks = stderr.matches("exception calling callback for").count();
    if !stderr.contains("has finished its bootstrapping phase") {
        return callbacks;
    }
    let spawned = stderr
        .split("Traceback (most recent call last):")
        .skip(1)
        .filter(|after| match after.lines().nth(1).map(str::trim_start) {
            Some(frame) if frame.starts_with("File") => frame.starts_with("File \"<string>\", line 1, in <module>"),
            _ => true,
        })
        .count();
    callbacks + spawned
}

/// Exports, runs and compares one lesson; what went wrong, if anything.
fn check(name: &str, python: &str, dir: &std::path::Path) -> Option<String> {
    let speed = if RACES.contains(&name) { "1" } else { SPEED };
    let export = poolscope().args(["export", name, "--python", "--speed", speed]).output().expect("export runs");
    assert!(export.status.success(), "{name}: {}", String::from_utf8_lossy(&export.stderr));
    let file = dir.join(format!("{}.py", name.replace('-', "_")));
    std::fs::write(&file, &export.stdout).expect("write the program");
    let log = dir.join(format!("{name}.jsonl"));
    let run = poolscope()
        .args(["run", name, "--headless", "--virtual-time", "--cores", "2", "--events"])
        .arg(&log)
        .output()
        .expect("run");
    assert!(run.status.success(), "{name}: {}", String::from_utf8_lossy(&run.stderr));
    let events = parse_jsonl(&std::fs::read_to_string(&log).expect("log")).expect("events");

    let (ok, stdout, stderr) = run_python(python, &file);
    if !ok || stderr.matches("Traceback").count() > expected_tracebacks(&stderr) {
        return Some(format!("{name}: python3 did not run it to the end cleanly\n{stdout}\n{stderr}"));
    }
    let expected = poolscope_received(&events);
    let printed = python_received(&stdout);
    // Every lesson, the multiprocessing.Pool and BrokenProcessPool ones included: the
    // results and exceptions in the order they were received.
    if !same_order(&expected, &printed) {
        return Some(format!("{name}: poolscope received {expected:?}\npython printed {printed:?}"));
    }
    let (callbacks, printed) = (poolscope_callbacks(&events), python_callbacks(&stdout));
    (callbacks != printed)
        .then(|| format!("{name}: callbacks ran for {callbacks:?} in poolscope, {printed:?} in python"))
}

#[test]
fn every_lesson_program_runs_in_python_and_prints_what_the_transcript_received() {
    let Some(python) = python3() else {
        eprintln!("notice: python3 not found; the lessons' Python programs were not run");
        return;
    };
    let dir = std::env::temp_dir().join(format!("poolscope-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let names: Vec<&str> = poolscope::scenario::builtin_names().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    // A few at a time: most of a lesson is waiting, and the orders compared are spaced wide.
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while let Some(name) = names.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    if let Some(failure) = check(name, &python, &dir) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_spawned_worker_s_traceback_is_expected_only_without_the_guard_even_cut_off() {
    let spawned = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n  File \"spawn.py\", line 122, in spawn_main\n";
    let complete = format!("{spawned}RuntimeError: \n  current process has finished its bootstrapping phase.\n");
    let parent =
        "Traceback (most recent call last):\n  File \"/tmp/main_guard.py\", line 27, in <module>\nValueError\n";
    assert_eq!(
        expected_tracebacks(&format!("{complete}{spawned}")),
        2,
        "one worker's cut off as the pool terminated it"
    );
    assert_eq!(expected_tracebacks(&format!("{complete}Traceback (most recent call last):\n")), 2, "cut off at once");
    assert_eq!(expected_tracebacks(&format!("{complete}{parent}")), 1, "the main program's own is a failure");
    assert_eq!(expected_tracebacks(spawned), 0, "a worker's traceback in a program that has its guard");
    assert_eq!(expected_tracebacks("exception calling callback for <Future>\nTraceback (most recent call last):\n"), 1);
}

#[test]
fn received_lines_are_told_from_other_prints() {
    let stdout = "Job1 by ThreadPoolExecutor-0_1 (pid 7)\nException('division by zero')\nTrue False False\n\
                  500 done, 0 not done\ncallback: Job1 by X (pid 1) on MainThread\nTimeoutError()\ncounter = 2\n";
    assert_eq!(python_received(stdout), ["Job1", "Exception", "TimeoutError", "counter = 2"]);
    assert_eq!(python_callbacks(stdout), ["Job1"]);
    let tie = |group, token: &str| Received { group, token: token.into(), ok: true };
    let expected = [tie(1, "A"), tie(2, "B"), tie(2, "C"), tie(3, "D")];
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(same_order(&expected, &strings(&["A", "C", "B", "D"])));
    assert!(!same_order(&expected, &strings(&["B", "A", "C", "D"])));
    assert!(!same_order(&expected, &strings(&["A", "B", "C"])));
}

#[test]
fn export_refuses_bad_input_with_exit_2() {
    for args in [
        vec!["export", "no-such-lesson", "--python"],
        vec!["export", "pool-basics", "--python", "--speed", "0"],
        vec!["export", "pool-basics"],
    ] {
        let output = poolscope().args(&args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).trim().is_empty(), "{args:?} says why");
        assert!(output.stdout.is_empty(), "{args:?} writes no program");
    }
}
