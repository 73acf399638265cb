//! `--virtual-time`: one simulated clock for the main program and every pool, so a lesson
//! gives the same event log, transcript and recording, byte for byte, every run — and tasks
//! take exactly their durations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use poolscope::scenario::builtin_names;
use serde_json::Value;

struct Outputs {
    events: Vec<u8>,
    cast: Vec<u8>,
    transcript: Vec<u8>,
}

fn run(lesson: &str, dir: &Path, tag: &str, extra: &[&str]) -> Outputs {
    let events = dir.join(format!("{lesson}.{tag}.jsonl"));
    let cast = dir.join(format!("{lesson}.{tag}.cast"));
    let output = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--headless", "--virtual-time", "--size", "100x30"])
        .args(extra)
        .arg("--events")
        .arg(&events)
        .arg("--record")
        .arg(&cast)
        .stderr(Stdio::null())
        .output()
        .expect("poolscope runs");
    assert!(output.status.success(), "{lesson}: the run exits 0");
    Outputs {
        events: std::fs::read(&events).expect("the event log was written"),
        cast: std::fs::read(&cast).expect("the cast was written"),
        transcript: output.stdout,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolscope-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(events: &[u8]) -> Vec<Value> {
    std::str::from_utf8(events).unwrap().lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect()
}

#[test]
fn every_lesson_gives_the_same_bytes_twice() {
    let dir = temp_dir("virtual-twice");
    for lesson in builtin_names() {
        let (a, b) = (run(lesson, &dir, "a", &[]), run(lesson, &dir, "b", &[]));
        let events = parse(&a.events);
        assert_eq!(events[0]["virtual_time"], true, "{lesson}: the run says its time is simulated");
        assert_eq!(events.last().unwrap()["ev"], "end", "{lesson}: the log ends");
        // Every lesson's tasks end: they ran, or (the main-guard lesson's) a broken pool dropped them.
        assert!(events.iter().any(|e| e["ev"] == "finish" || e["ev"] == "abandon"), "{lesson}: tasks ended");
        assert!(a.events == b.events, "{lesson}: the two event logs differ");
        assert!(a.transcript == b.transcript, "{lesson}: the two transcripts differ");
        assert!(a.cast == b.cast, "{lesson}: the two recordings differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tasks_take_exactly_their_durations_and_pids_are_stable() {
    let dir = temp_dir("virtual-exact");
    // Ten one-second tasks on four worker processes: three rounds.
    let events = parse(&run("pool-basics", &dir, "a", &[]).events);
    assert_eq!(events.last().unwrap()["makespan_us"], 3_000_000);
    let mut started = std::collections::HashMap::new();
    let mut pids = std::collections::BTreeSet::new();
    let mut finished = 0;
    for e in &events {
        match e["ev"].as_str().unwrap() {
            "start" => {
                started.insert(e["task"].as_u64().unwrap(), e["t"].as_u64().unwrap());
                pids.insert(e["pid"].as_u64().unwrap());
            }
            "finish" => {
                let begun = started[&e["task"].as_u64().unwrap()];
                assert_eq!(e["t"].as_u64().unwrap() - begun, 1_000_000, "a 1 s task takes 1 s: {e}");
                finished += 1;
            }
            _ => {}
        }
    }
    assert_eq!(finished, 10);
    assert_eq!(pids.into_iter().collect::<Vec<_>>(), [1001, 1002, 1003, 1004], "four processes, numbered in order");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_gil_serialises_cpu_bound_threads_in_virtual_time_too() {
    let dir = temp_dir("virtual-gil");
    let events = parse(&run("threads-cpu-gil", &dir, "a", &[]).events);
    let serial: u64 = events.iter().filter(|e| e["ev"] == "submit").filter_map(|e| e["cost_us"].as_u64()).sum();
    let makespan = events.last().unwrap()["makespan_us"].as_u64().unwrap();
    assert!(serial > 0);
    assert!(makespan >= serial, "four threads holding one GIL take the serial time: {makespan} µs < {serial} µs");
    // Processes have no GIL: the same amount of work overlaps.
    let events = parse(&run("processes-cpu-bound", &dir, "a", &[]).events);
    let (mut running, mut most) = (0i32, 0i32);
    for e in &events {
        match e["ev"].as_str().unwrap() {
            "start" => running += 1,
            "finish" => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert!(most >= 2, "CPU-bound tasks on processes run side by side");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_simulated_cast_replays_to_the_lesson_screen_marked_sim() {
    let dir = temp_dir("virtual-cast");
    let cast = run("callbacks", &dir, "a", &[]).cast;
    let lines: Vec<Value> = parse(&cast);
    let mut screen = vt100::Parser::new(30, 100, 0);
    let mut markers = Vec::new();
    for event in &lines[1..] {
        match event[1].as_str().unwrap() {
            "o" => screen.process(event[2].as_str().unwrap().as_bytes()),
            "m" => markers.push(screen.screen().contents()),
            other => panic!("unexpected event code {other}"),
        }
    }
    assert!(markers.len() >= 3);
    for (n, contents) in markers.iter().enumerate() {
        assert!(contents.contains("SIM time"), "the header says the time is simulated:\n{contents}");
        assert!(contents.contains(&format!("Step {}/", n + 1)), "the caption names the step:\n{contents}");
        assert!(contents.contains("Workers"), "the lanes are drawn:\n{contents}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_minute_long_lesson_runs_on_virtual_time() {
    let dir = temp_dir("virtual-minute");
    // Durations divided by 0.05: the three-second lesson lasts a minute.
    let events = parse(&run("pool-basics", &dir, "a", &["--speed", "0.05"]).events);
    assert_eq!(events.last().unwrap()["makespan_us"], 60_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_simulated_trace_counts_the_busy_simulated_cores() {
    let dir = temp_dir("virtual-trace");
    let trace = dir.join("trace.json");
    let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", "processes-cpu-bound", "--headless", "--virtual-time", "--trace"])
        .arg(&trace)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success());
    let document: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).expect("valid JSON");
    let events = document["traceEvents"].as_array().unwrap();
    let busy: Vec<u64> = events
        .iter()
        .filter(|e| e["ph"] == "C" && e["name"] == "CPU (simulated)")
        .map(|e| e["args"]["busy cores"].as_u64().unwrap())
        .collect();
    assert_eq!(busy.first(), Some(&0), "the track starts idle");
    assert!(busy.iter().any(|&n| n >= 1), "CPU-bound tasks keep simulated cores busy: {busy:?}");
    assert_eq!(busy.last(), Some(&0), "and it ends idle: {busy:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn terminate_kills_running_process_tasks_at_that_moment() {
    let dir = temp_dir("virtual-terminate");
    let events = parse(&run("close-join-terminate", &dir, "a", &[]).events);
    let terminate_at = events.iter().find(|e| e["ev"] == "step" && e["op"] == "terminate").unwrap()["t"].clone();
    let crashed: Vec<&Value> = events.iter().filter(|e| e["ev"] == "finish" && e["outcome"] == "crashed").collect();
    assert_eq!(crashed.len(), 2, "the two running tasks die with their processes");
    for e in crashed {
        assert_eq!(e["t"], terminate_at, "killed when terminate() runs, not at their natural end: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_simulated_machine_has_the_cores_asked_for() {
    let dir = temp_dir("virtual-cores");
    let makespan = |cores: &str| {
        let events = parse(&run("processes-cpu-bound", &dir, cores, &["--cores", cores]).events);
        assert_eq!(events[0]["cores"].as_u64(), cores.parse().ok(), "the run says how many cores it had");
        events.last().unwrap()["makespan_us"].as_u64().unwrap()
    };
    // The same CPU-bound work, and a pool of one worker per CPU: with one core it takes as
    // long as all the work; with four, a quarter of it (plus the last, partial round).
    let (one, four) = (makespan("1"), makespan("4"));
    assert!(one >= 3 * four, "1 core: {one} µs, 4 cores: {four} µs");
    let _ = std::fs::remove_dir_all(&dir);
}
