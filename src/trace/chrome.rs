//! Chrome trace-event JSON (the format of chrome://tracing and Perfetto) from a run's events.
//!
//! One process, one named track per worker plus one for the main program; an `X` slice per
//! task a worker ran (label, outcome, PID, value or error), an `X` slice per step on the main
//! program's track, `C` counters for the queue depth and the tasks running (and the CPU, which
//! the caller samples: [`ChromeTrace::cpu`], [`ChromeTrace::simulated_cpu`]), and flow arrows
//! (`s` / `f`) from each submit to its start and from each finish to its callbacks. On a
//! thread pool with the simulated GIL, each task's slice holds slices of the GIL: "holds the
//! GIL" while its thread runs Python code, "waits for the GIL" while another thread has it.
//! Timestamps are the run's microseconds, as the format wants.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::observe::{ThreadKind, thread_kind};
use super::{TraceEvent, TraceKind};
use crate::pool::{TaskId, WorkerId};

/// The process id used for the run in the trace (one process: the pool, whatever its kind).
const PID: u32 = 1;
/// The main program's track.
const MAIN_TID: u64 = 0;

fn worker_tid(worker: WorkerId) -> u64 {
    worker as u64 + 1
}

/// Builds a Chrome trace from a run's events (in time order, as a run produces them).
#[derive(Debug, Default)]
pub struct ChromeTrace {
    out: Vec<Value>,
    named: HashMap<u64, String>,
    labels: HashMap<TaskId, String>,
    started: HashMap<TaskId, (u64, WorkerId, u32)>,
    finished_on: HashMap<TaskId, (u64, WorkerId)>,
    step: Option<(u64, String, String)>,
    running: i64,
    last_t: u64,
    gil: super::GilLedger,
}

impl ChromeTrace {
    /// An empty trace.
    pub fn new() -> ChromeTrace {
        let mut trace = ChromeTrace::default();
        trace.out.push(
            json!({"ph": "M", "name": "process_name", "pid": PID, "tid": MAIN_TID, "args": {"name": "poolscope run"}}),
        );
        trace.name_track(MAIN_TID, "main program".to_string());
        trace
    }

    fn name_track(&mut self, tid: u64, name: String) {
        if self.named.get(&tid) == Some(&name) {
            return;
        }
        self.out.push(json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid, "args": {"name": name}}));
        self.out
            .push(json!({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid, "args": {"sort_index": tid}}));
        self.named.insert(tid, name);
    }

    fn counter(&mut self, t: u64, name: &str, value: i64) {
        self.out.push(json!({"ph": "C", "name": name, "pid": PID, "tid": MAIN_TID, "ts": t, "args": {name: value}}));
    }

    fn close_step(&mut self, t: u64) {
        if let Some((begin, op, python)) = self.step.take() {
            self.out.push(json!({
                "ph": "X", "cat": "step", "name": op, "pid": PID, "tid": MAIN_TID,
                "ts": begin, "dur": t.saturating_sub(begin), "args": {"python": python},
            }));
        }
    }

    fn label(&self, task: TaskId) -> String {
        self.labels.get(&task).cloned().unwrap_or_else(|| format!("task {task}"))
    }

    /// Adds one event.
    pub fn apply(&mut self, event: &TraceEvent) {
        let t = event.t;
        self.last_t = self.last_t.max(t);
        match &event.kind {
            TraceKind::Run { scenario, pool, workers, .. } => {
                self.out.push(json!({"ph": "M", "name": "process_name", "pid": PID, "tid": MAIN_TID,
                    "args": {"name": format!("{scenario}: {pool} pool, {workers} workers")}}));
            }
            TraceKind::Step { index, op, python, .. } => {
                self.close_step(t);
                self.step = Some((t, format!("{}. {op}", index + 1), python.clone()));
            }
            TraceKind::WorkerUp { worker, pid } => {
                self.name_track(worker_tid(*worker), format!("worker {worker} (pid {pid})"));
            }
            TraceKind::WorkerDown { worker, reason, .. } => {
                self.out.push(json!({"ph": "i", "s": "t", "name": format!("worker down: {reason}"),
                    "pid": PID, "tid": worker_tid(*worker), "ts": t}));
            }
            TraceKind::Submit { task, label, .. } => {
                self.labels.insert(*task, label.clone());
                self.out.push(json!({"ph": "s", "cat": "submit", "name": "submit", "id": task, "pid": PID, "tid": MAIN_TID, "ts": t}));
            }
            TraceKind::Start { task, worker, pid } => {
                self.started.insert(*task, (t, *worker, *pid));
                self.out.push(json!({"ph": "f", "bp": "e", "cat": "submit", "name": "submit", "id": task,
                    "pid": PID, "tid": worker_tid(*worker), "ts": t}));
                self.running += 1;
                self.counter(t, "running", self.running);
            }
            TraceKind::Finish { task, worker, outcome, value, error } => {
                let (begin, _, pid) = self.started.remove(task).unwrap_or((t, *worker, 0));
                let mut args = json!({"task": task, "outcome": outcome, "pid": pid});
                if let Some(value) = value {
                    args["value"] = json!(value);
                }
                if let Some(error) = error {
                    args["error"] = json!(error);
                }
                self.out.push(json!({"ph": "X", "cat": "task", "name": self.label(*task), "pid": PID,
                    "tid": worker_tid(*worker), "ts": begin, "dur": t.saturating_sub(begin), "args": args}));
                self.finished_on.insert(*task, (t, *worker));
                self.running -= 1;
                self.counter(t, "running", self.running);
            }
            TraceKind::Callback { task, thread, error } => {
                let tid = callback_track(thread, self.finished_on.get(task).map(|&(_, worker)| worker));
                if let Some((finished, worker)) = self.finished_on.get(task).copied() {
                    // Flow ids are per category: callbacks get their own so they never pair
                    // with a submit arrow.
                    self.out.push(json!({"ph": "s", "cat": "callback", "name": "callback", "id": task,
                        "pid": PID, "tid": worker_tid(worker), "ts": finished}));
                    self.out.push(json!({"ph": "f", "bp": "e", "cat": "callback", "name": "callback", "id": task,
                        "pid": PID, "tid": tid.unwrap_or(MAIN_TID), "ts": t}));
                }
                self.out.push(json!({"ph": "i", "s": "t", "name": format!("callback {}", self.label(*task)),
                    "pid": PID, "tid": tid.unwrap_or(MAIN_TID), "ts": t, "args": {"thread": thread, "error": error}}));
            }
            TraceKind::Result { task, outcome, .. } => {
                self.out
                    .push(json!({"ph": "i", "s": "t", "name": format!("result {}: {outcome:?}", self.label(*task)),
                    "pid": PID, "tid": MAIN_TID, "ts": t}));
            }
            TraceKind::Queue { depth } => self.counter(t, "queue depth", *depth as i64),
            TraceKind::Raise { exception, message } => {
                self.out.push(json!({"ph": "i", "s": "t", "name": exception, "pid": PID, "tid": MAIN_TID, "ts": t,
                    "args": {"message": message}}));
            }
            TraceKind::Gil { worker, change } => {
                self.gil.apply(t, *worker, *change);
                for span in std::mem::take(&mut self.gil.closed) {
                    let name = match span.what {
                        super::GilUse::Holding => "holds the GIL",
                        super::GilUse::Waiting => "waits for the GIL",
                    };
                    self.out.push(json!({"ph": "X", "cat": "gil", "name": name, "pid": PID,
                        "tid": worker_tid(span.worker), "ts": span.start_us, "dur": span.end_us - span.start_us}));
                }
            }
            TraceKind::End { .. } => self.close_step(t),
            _ => {}
        }
    }

    /// Adds a CPU sample at `t`: each core's usage (0–100), stacked in one counter track.
    pub fn cpu(&mut self, t: u64, cores: &[f32]) {
        let args: serde_json::Map<String, Value> =
            cores.iter().enumerate().map(|(i, pct)| (format!("core {i} %"), json!(pct))).collect();
        self.out.push(json!({"ph": "C", "name": "CPU", "pid": PID, "tid": MAIN_TID, "ts": t, "args": args}));
    }

    /// Adds a simulated run's busy cores at `t` (out of `cores`), as a counter track.
    pub fn simulated_cpu(&mut self, t: u64, busy: usize, cores: usize) {
        let args = json!({"busy cores": busy, "idle cores": cores.saturating_sub(busy)});
        self.out
            .push(json!({"ph": "C", "name": "CPU (simulated)", "pid": PID, "tid": MAIN_TID, "ts": t, "args": args}));
    }

    /// Writes the trace as one JSON object (`{"traceEvents": [...]}`).
    ///
    /// # Errors
    /// When `out` fails.
    pub fn write(mut self, out: &mut dyn Write) -> io::Result<()> {
        let end = self.last_t;
        self.close_step(end);
        let document = json!({"traceEvents": self.out, "displayTimeUnit": "ms"});
        serde_json::to_writer(&mut *out, &document).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// The track of the thread a callback ran on: a worker thread's (the worker that finished the
/// task, on whose thread `ThreadPoolExecutor` runs its callbacks), else the main program's.
fn callback_track(thread: &str, finished_by: Option<WorkerId>) -> Option<u64> {
    (thread_kind(thread) == ThreadKind::Worker).then_some(finished_by?).map(worker_tid)
}
