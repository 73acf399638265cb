//! The real binary in a real terminal (tmux): open the picker, run a lesson, pause, grow the
//! pool, quit — then the screen is the shell's again, the terminal is back in cooked mode, and
//! no worker process is left. Skipped, with a notice, where tmux is not installed.
#![cfg(feature = "ui")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::{Tmux, assert_cooked, no_tmux, start};

/// The process ids in the lanes of `screen` ("w0 12345 ...").
fn lane_pids(screen: &str) -> Vec<u32> {
    screen.lines().filter(|l| l.starts_with('w')).filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect()
}

/// Waits (5 s at most) for every one of `pids` to be gone.
fn assert_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "worker processes left behind: {pids:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; only its parent's wait is missing.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn pick_pause_resize_quit_in_tmux() {
    if no_tmux() {
        return;
    }
    let tmux = start("ui-test", "", "40");

    let picker = tmux.wait_for("Pick a lesson");
    assert!(picker.contains("pool-basics"), "{picker}");
    tmux.keys(&["Enter"]);
    let live = tmux.wait_for("▶ live");
    assert!(live.contains("Pool basics"), "{live}");
    let lanes = tmux.wait_for("w3 ");

    tmux.keys(&["Space"]);
    tmux.wait_for("PAUSED");
    tmux.keys(&["+"]);
    let resized = tmux.wait_for("pool resized: 4 → 5 workers");
    assert!(resized.contains("PAUSED"), "{resized}");

    // The worker processes' PIDs, from the lanes ("w0 12345 ...").
    let pids = lane_pids(&lanes);
    assert!(!pids.is_empty(), "no PIDs in the lanes:\n{lanes}");

    tmux.keys(&["q"]);
    let after = tmux.wait_for("STTY-END");
    assert!(after.contains("EXITED 0"), "{after}");
    assert!(!after.contains("PAUSED"), "the UI is still on screen:\n{after}");
    assert_cooked(after.split("EXITED").nth(1).unwrap_or(""));

    assert_gone(&pids);
}

/// Sends `signal` to the live UI while its process pool runs: the terminal is cooked again,
/// no worker is left, and the program exits with 128 + the signal's number.
fn a_signal_restores_the_terminal_and_stops_the_workers(signal: &str, status: u8) {
    if no_tmux() {
        return;
    }
    let tmux = start(&format!("ui-{signal}"), "run pool-basics", "30");
    let lanes = tmux.wait_for("w3 ");
    let pids = lane_pids(&lanes);
    assert!(!pids.is_empty(), "no PIDs in the lanes:\n{lanes}");
    let ui_pid = tmux.program_pid();
    assert!(Command::new("kill").args([&format!("-{signal}"), &ui_pid]).status().unwrap().success());
    let after = tmux.wait_for("STTY-END");
    assert!(after.contains(&format!("EXITED {status}")), "{after}");
    assert!(!after.contains("panicked"), "{after}");
    assert_cooked(&after);
    assert_gone(&pids);
}

#[test]
fn sigterm_restores_the_terminal_stops_the_workers_and_exits_143() {
    a_signal_restores_the_terminal_and_stops_the_workers("TERM", 143);
}

#[test]
fn sigint_restores_the_terminal_stops_the_workers_and_exits_130() {
    a_signal_restores_the_terminal_and_stops_the_workers("INT", 130);
}

#[test]
fn sighup_restores_the_terminal_stops_the_workers_and_exits_129() {
    a_signal_restores_the_terminal_and_stops_the_workers("HUP", 129);
}

/// Kills a process that a failed test would otherwise leave stopped for ever.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.0]).output();
    }
}

#[test]
fn a_stopped_worker_shows_its_lane_stuck_and_quitting_leaves_no_process_behind() {
    if no_tmux() {
        return;
    }
    let tmux = start("stopped-worker", "run pool-basics --speed 0.1", "30");
    let lanes = tmux.wait_for("w3 ");
    let pids = lane_pids(&lanes);
    assert!(!pids.is_empty(), "no PIDs in the lanes:\n{lanes}");
    let stopped = pids[0].to_string();
    let _cleanup = KillOnDrop(stopped.clone());
    assert!(Command::new("kill").args(["-STOP", &stopped]).status().unwrap().success());
    // The signal is delivered asynchronously: wait until the kernel shows the worker stopped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{stopped}/stat")).unwrap_or_default();
        if state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T')) {
            break;
        }
        assert!(Instant::now() < deadline, "never stopped: {state}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The next CPU reading shows it: the lane is marked, and a warning says why.
    let marked = tmux.wait_for(&format!("{stopped} STOP"));
    assert!(marked.contains("A worker process is stopped (SIGSTOP)"), "{marked}");
    tmux.quit_cleanly();
    assert_gone(&pids);
}

#[test]
fn compare_shows_both_runs_and_quits_leaving_no_worker() {
    if no_tmux() {
        return;
    }
    let tmux = start("compare", "compare pool-basics --a kind=thread --b kind=process", "48");
    let screen = tmux.wait_for("B · kind=process");
    assert!(screen.contains("A · kind=thread"), "{screen}");
    let both = tmux.wait_for("process pool, 4 workers");
    assert!(both.contains("thread pool, 4 workers"), "{both}");
    // Process workers show their PIDs: the lanes below "B ·".
    let deadline = Instant::now() + Duration::from_secs(20);
    let pids = loop {
        let screen = tmux.screen();
        let below_b = screen.split("B · kind=process").nth(1).unwrap_or("");
        let pids = lane_pids(below_b);
        if pids.len() == 4 {
            break pids;
        }
        assert!(Instant::now() < deadline, "B's four worker PIDs never appeared:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");
    tmux.keys(&["Space"]);
    tmux.wait_for("resume both");
    tmux.quit_cleanly();
    assert_gone(&pids);
}

/// Every process below `pid` (its children, theirs, ...) whose command is `python3`.
fn python_descendants(pid: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid.to_string()];
    while let Some(pid) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace() {
                let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
                if comm.trim().starts_with("python") {
                    found.extend(child.parse::<u32>().ok());
                }
                queue.push(child.to_string());
            }
        }
    }
    found
}

#[test]
fn compare_on_cpython_says_so_refuses_to_resize_it_and_quits_leaving_no_python3() {
    if no_tmux() {
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        println!("SKIPPED: python3 is not installed; the live comparison on CPython did not run");
        return;
    }
    let tmux = start("compare-cpython", "compare map-ordering --a engine=poolscope --b engine=cpython", "48");
    let screen = tmux.wait_for("CPYTHON");
    assert!(screen.contains("B · engine=cpython") && screen.contains("A · engine=poolscope"), "{screen}");
    // python3 runs under poolscope, in a process group of its own.
    let ui_pid = tmux.program_pid();
    let deadline = Instant::now() + Duration::from_secs(20);
    let pythons = loop {
        let pythons = python_descendants(&ui_pid);
        if !pythons.is_empty() {
            break pythons;
        }
        assert!(Instant::now() < deadline, "no python3 ever ran under poolscope:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux.keys(&["+"]);
    let resized = tmux.wait_for("CPython's pools cannot be resized");
    let below_b = resized.split("B · engine=cpython").nth(1).unwrap_or("");
    assert!(below_b.contains("CPython's pools cannot be resized"), "said on B's half:\n{resized}");
    // The program's own prints do not draw over the view.
    assert!(!resized.contains("Page0 by"), "{resized}");
    let after = tmux.quit_cleanly();
    assert!(!after.contains("Page0 by"), "the program's output is not printed after the view:\n{after}");
    assert_gone(&pythons);
}

#[test]
fn sweep_charts_every_size_then_leaves_its_table_in_the_shell() {
    if no_tmux() {
        return;
    }
    let tmux = start("sweep", "sweep threads-io-bound --workers 1..3 --virtual-time", "30");
    let chart = tmux.wait_for("Sweep 3/3 done");
    assert!(chart.contains("Makespan (s) by workers"), "{chart}");
    assert!(chart.contains("Fastest: 3 workers, 3.000 s."), "{chart}");
    let after = tmux.quit_cleanly();
    assert!(after.contains("Fastest: 3 workers"), "the table stays in the shell:\n{after}");
    assert!(!after.contains("Makespan (s) by workers"), "the chart is still on screen:\n{after}");
}

#[test]
fn sweep_stops_on_sigterm_prints_what_it_measured_and_exits_143() {
    if no_tmux() {
        return;
    }
    // Real time: 1 + 2 + 4 seconds of lesson at speed 2 — SIGTERM lands while it runs.
    let tmux = start("sweep-term", "sweep threads-io-bound --workers 1,2,4 --speed 2", "30");
    tmux.wait_for("running 1 worker…");
    let sweep_pid = tmux.program_pid();
    assert!(Command::new("kill").args(["-TERM", &sweep_pid]).status().unwrap().success());
    let after = tmux.wait_for("STTY-END");
    // As a shell reports a program SIGTERM ended, though it restored the terminal first.
    assert!(after.contains("EXITED 143"), "{after}");
    assert!(after.contains("(stopped after"), "{after}");
    assert_cooked(&after);
    let pid: u32 = sweep_pid.parse().unwrap();
    assert!(!alive(pid), "the sweep is still running after SIGTERM");
}

impl Tmux {
    fn resize(&self, width: u16, height: u16) {
        let out = self.cmd(&["resize-window", "-t", "ui", "-x", &width.to_string(), "-y", &height.to_string()]);
        assert!(out.status.success(), "tmux resize-window: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn resizes_at_any_moment_in_every_screen_keep_it_drawing() {
    if no_tmux() {
        return;
    }
    let tmux = start("resize", "", "40");
    tmux.wait_for("Pick a lesson");
    // The picker, then its help overlay.
    for (w, h) in [(80, 24), (1, 1), (200, 60), (120, 40)] {
        tmux.resize(w, h);
    }
    tmux.wait_for("Pick a lesson");
    tmux.keys(&["?"]);
    tmux.wait_for("esc");
    tmux.resize(80, 24);
    tmux.resize(120, 40);
    tmux.keys(&["Escape"]);
    tmux.wait_for("Pick a lesson");
    // A lesson, running slowly so that it is still live after every resize.
    tmux.keys(&["[", "[", "Enter"]);
    tmux.wait_for("▶ live");
    let lanes = tmux.wait_for("w3 ");
    let pids = lane_pids(&lanes);
    for (w, h) in [(80, 24), (1, 1), (200, 60), (80, 24), (30, 5), (120, 40)] {
        tmux.resize(w, h);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still drawing, at the new size, and still answering keys: the help overlay opens.
    tmux.wait_for("Pool basics");
    tmux.keys(&["?"]);
    tmux.wait_for("Keys");
    tmux.resize(80, 24);
    tmux.keys(&["Escape"]);
    tmux.wait_for("w3 ");
    tmux.quit_cleanly();
    assert_gone(&pids);
}

#[test]
fn a_hang_up_ends_the_program_and_its_workers() {
    if no_tmux() {
        return;
    }
    // setsid: no SIGHUP reaches it when the terminal goes; it must notice the hang-up itself.
    let tmux = Tmux { socket: format!("poolscope-hangup-{}", std::process::id()) };
    let binary = env!("CARGO_BIN_EXE_poolscope");
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "ui",
        "-x",
        "120",
        "-y",
        "40",
        "setsid",
        "-w",
        binary,
        "run",
        "pool-basics",
        "--speed",
        "0.1",
    ]);
    assert!(started.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&started.stderr));
    let lanes = tmux.wait_for("w3 ");
    let pids = lane_pids(&lanes);
    assert!(!pids.is_empty(), "{lanes}");
    let program = tmux.program_pid();
    let program: u32 = program.parse().unwrap();
    tmux.cmd(&["kill-server"]);
    let mut all = pids.clone();
    all.push(program);
    assert_gone(&all);
}

#[test]
fn the_inspector_opens_from_a_search_and_from_the_futures_grid() {
    if no_tmux() {
        return;
    }
    let tmux = start("inspector", "run future-exception --virtual-time --speed 8", "40");
    // Every future done (the lesson goes on: the inspector works at any moment).
    tmux.wait_for("✓ ✓ ✗");
    // `/` and a label: the first task whose label has it.
    tmux.keys(&["/"]);
    tmux.wait_for("enter: inspect");
    tmux.keys(&["Brok", "Enter"]);
    let broken = tmux.wait_for("submitted by");
    assert!(broken.contains("#2 Broken0") && broken.contains("failed: raised"), "{broken}");
    assert!(broken.contains("disk full") && broken.contains("pool.submit(broken, 0)"), "{broken}");
    // ← / →: the task before and after, by id; the last one stays.
    tmux.keys(&["Left"]);
    let before = tmux.wait_for("#1 Fetch1 ─");
    assert!(before.contains("done: returned a value") && before.contains("thread ThreadPoolExecutor-0_1"), "{before}");
    tmux.keys(&["Escape"]);
    let closed = tmux.wait_for_gone("submitted by");
    // Enter on the futures grid: its first future.
    tmux.keys(&["Tab", "Enter"]);
    let first = tmux.wait_for("submitted by");
    assert!(first.contains("#0 Fetch0") && first.contains("thread ThreadPoolExecutor-0_0"), "{first}\n{closed}");
    tmux.quit_cleanly();
}
