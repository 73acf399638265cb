//! Helpers shared by the thread-pool tests: gates that hold a task at a known point, and
//! deadlock guards so a broken pool fails a test instead of hanging it.
//!
//! Only the tests synchronise through these; nothing here sleeps.

#![allow(dead_code)]

pub mod tmux;

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use poolscope::pool::{Event, EventKind};

/// How long a test waits for something that must happen before calling it a deadlock.
/// Never reached by a passing test; only turns a hang into a failure.
pub const DEADLOCK: Duration = Duration::from_secs(30);

/// The test's side of a gate: knows when tasks arrive, decides when they pass.
///
/// Declare it after the pool: if the test fails, the gate drops first and lets every waiting
/// task through, so the pool's `Drop` (which waits for running tasks) cannot hang.
pub struct Gate {
    arrivals: Receiver<()>,
    passes: Sender<()>,
    waiter: Waiter,
}

/// The task's side of a gate.
#[derive(Clone)]
pub struct Waiter {
    arrive: Sender<()>,
    pass: Receiver<()>,
}

impl Gate {
    pub fn new() -> Gate {
        let (arrive, arrivals) = crossbeam_channel::unbounded();
        let (passes, pass) = crossbeam_channel::unbounded();
        Gate { arrivals, passes, waiter: Waiter { arrive, pass } }
    }

    /// A handle for tasks to wait at this gate.
    pub fn waiter(&self) -> Waiter {
        self.waiter.clone()
    }

    /// Blocks until one more task has arrived at the gate (so it is running).
    pub fn arrived(&self) {
        self.arrivals.recv_timeout(DEADLOCK).expect("no task arrived at the gate: deadlock?");
    }

    /// Lets `n` tasks through (now or whenever they arrive).
    pub fn release(&self, n: usize) {
        for _ in 0..n {
            self.passes.send(()).expect("the gate's waiters hold the receiver");
        }
    }
}

impl Waiter {
    /// Announces the arrival, then blocks until the test releases one task (or drops the gate).
    pub fn wait(&self) {
        let _ = self.arrive.send(());
        let _ = self.pass.recv();
    }
}

/// Runs `f` on another thread and returns its value; fails the test if it has not returned
/// within [`DEADLOCK`] (for calls that would block for ever if the pool were wrong).
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLOCK).unwrap_or_else(|_| panic!("{what} did not return: deadlock"))
}

/// Receives probe events until one matches `pred`, and returns it (and fails on deadlock).
pub fn next_event(rx: &Receiver<Event>, mut pred: impl FnMut(&EventKind) -> bool) -> EventKind {
    loop {
        let event = rx.recv_timeout(DEADLOCK).expect("the expected probe event never came");
        if pred(&event.kind) {
            return event.kind;
        }
    }
}

/// Every event the probe holds now.
pub fn drain(rx: &Receiver<Event>) -> Vec<Event> {
    rx.try_iter().collect()
}

/// The event log of `lesson` (a built-in name or a file) run headless on simulated time.
pub fn lesson_events(lesson: &str) -> Vec<poolscope::trace::TraceEvent> {
    // A file of each call's own: tests running side by side may run the same lesson, and one
    // would read the log while the other's run rewrites it.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("poolscope-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join(format!("{}-{call}.jsonl", lesson.replace(['/', '.'], "_")));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--headless", "--virtual-time", "--events"])
        .arg(&events)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success(), "{lesson} did not run");
    let text = std::fs::read_to_string(&events).unwrap();
    let _ = std::fs::remove_file(&events);
    poolscope::trace::parse_jsonl(&text).unwrap()
}
