//! [`TraceEvent`]: one thing that happened in a run — the pool's probe events and the
//! runner's own, on one clock. Serialised, it is one line of the event log (SPEC §5,
//! `docs/event-log.md`).
//!
//! The pool's own words are used as they are: a finish's [`Outcome`], a worker's
//! [`DownReason`], a shutdown's [`Phase`] and the run's [`PoolKind`] serialise to the log's
//! spellings, so the trace and the UI match on them rather than on strings.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pool::{DownReason, GilChange, Outcome, Phase, PoolKind, TaskId, WorkerId};

/// One event of a run: `t` microseconds after the run began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Microseconds since the run began (never decreases along a run).
    pub t: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// Which implementation ran a run's pools: poolscope's own, or CPython's (the lesson's
/// Python program under `python3`). Also what a side of `poolscope compare` runs on (its
/// `engine=` key). Serialised as `poolscope` or `cpython`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// poolscope's own pools.
    #[default]
    Poolscope,
    /// CPython's `concurrent.futures` and `multiprocessing` pools, in `python3`.
    Cpython,
}

impl EngineChoice {
    /// `poolscope` or `cpython`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineChoice::Poolscope => "poolscope",
            EngineChoice::Cpython => "cpython",
        }
    }
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the main program got when it asked for a task's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultOutcome {
    /// The value.
    Ok,
    /// The task's exception (or the pool's, for a task that never ran).
    Error,
    /// `CancelledError`.
    Cancelled,
    /// `TimeoutError`: the main program stopped waiting; the task goes on.
    Timeout,
}

/// A future's state as `poll` saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolledFuture {
    /// The task.
    pub task: TaskId,
    /// `pending`, `running`, `finished` or `cancelled`.
    pub state: String,
}

/// What happened. The kinds and fields of SPEC §5 are a stable contract; the kinds marked
/// *extra* are poolscope's additions (readers ignore kinds they do not know).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum TraceKind {
    /// First event: what runs.
    Run {
        /// The scenario's short name.
        scenario: String,
        /// Its title.
        title: String,
        /// `thread`, `process` or `coroutine`.
        pool: PoolKind,
        /// The pool's size at the start.
        workers: usize,
        /// The seed of the durations.
        seed: u64,
        /// Durations were divided by this.
        speed: f64,
        /// Thread pools: whether the GIL is simulated.
        gil: bool,
        /// Whether the run is on simulated time (`--virtual-time`).
        virtual_time: bool,
        /// The cores the run has: the machine's, or on simulated time the simulated ones.
        cores: usize,
        /// `poolscope` (its own pools) or `cpython` (CPython's, in `python3`); `poolscope`
        /// when absent.
        #[serde(default)]
        engine: EngineChoice,
    },
    /// The main program begins a step.
    Step {
        /// From 0.
        index: usize,
        /// The op's name.
        op: String,
        /// The equivalent Python.
        python: String,
        /// The caption.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A worker started.
    WorkerUp {
        /// Its lane.
        worker: WorkerId,
        /// The process that runs its tasks.
        pid: u32,
    },
    /// A worker stopped.
    WorkerDown {
        /// Its lane.
        worker: WorkerId,
        /// Its process.
        pid: u32,
        /// `retired`, `shutdown`, `terminated` or `died`.
        reason: DownReason,
        /// What it raised, when a worker that died said why (its initializer raised).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// *Extra*: a worker's thread has the name Python gives it (a thread pool with a
    /// `thread_name_prefix`); it follows the worker's `worker_up`.
    ThreadName {
        /// Its lane.
        worker: WorkerId,
        /// The thread's name (`fetcher_0`).
        name: String,
    },
    /// *Extra*: a worker began the pool's initializer, before any task; it runs none until
    /// its `Initialized`.
    Initializing {
        /// Its lane.
        worker: WorkerId,
    },
    /// *Extra*: a worker ran the pool's initializer, before any task.
    Initialized {
        /// Its lane.
        worker: WorkerId,
        /// What the initializer raised, if it did: the worker then leaves.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A task was queued.
    Submit {
        /// From 0, in submission order.
        task: TaskId,
        /// Its label.
        label: String,
        /// *Extra*: what it takes alone (µs) — its duration, for work whose time is known in
        /// advance; the yardstick of the summary's speed-up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_us: Option<u64>,
        /// *Extra*: CPU-bound work (`spin`, `sum_squares`): it needs a core, and on a GIL
        /// thread pool the GIL. Absent means it waits (sleeps, I/O, a queue).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cpu: bool,
    },
    /// A worker began a task.
    Start {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: WorkerId,
        /// The process running it.
        pid: u32,
    },
    /// A task ended on its worker.
    Finish {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: WorkerId,
        /// How it ended: `ok`, `error`, or `crashed` (its worker process died under it).
        outcome: Outcome,
        /// What it returned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        /// What it raised.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A `cancel()` call and whether it succeeded.
    Cancel {
        /// The task.
        task: TaskId,
        /// True if the future is cancelled.
        ok: bool,
    },
    /// *Extra*: a task failed without running (pool terminated or broken).
    Abandon {
        /// The task.
        task: TaskId,
        /// Why, when it was not the pool stopping: the exception's message (a task whose
        /// arguments cannot be sent to a worker process).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A done-callback ran.
    Callback {
        /// The task whose future it was added to.
        task: TaskId,
        /// The thread it ran on.
        thread: String,
        /// Its panic message, if it raised (reported, not fatal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The main program obtained a task's outcome.
    Result {
        /// The task.
        task: TaskId,
        /// What it got.
        outcome: ResultOutcome,
        /// The value, when `ok`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        /// The exception's message, otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The Python exception class the program would see (`TimeoutError`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exception: Option<String>,
    },
    /// The queue depth changed.
    Queue {
        /// Tasks waiting to start.
        depth: usize,
    },
    /// `shutdown` began or ended.
    Shutdown {
        /// Whether it waits.
        wait: bool,
        /// Begin or end.
        phase: Phase,
    },
    /// *Extra*: the main program meets an exception not tied to one result (a refused
    /// submit, `join` on a running pool, a `wait` or `as_completed` that timed out).
    Raise {
        /// The Python exception class.
        exception: String,
        /// Its message.
        message: String,
    },
    /// *Extra*: `poll` looked at the futures.
    Poll {
        /// Each future's state.
        futures: Vec<PolledFuture>,
    },
    /// *Extra*: `wait` returned.
    Waited {
        /// The done set.
        done: Vec<TaskId>,
        /// The not-done set.
        not_done: Vec<TaskId>,
    },
    /// *Extra*: the pool was resized.
    Resize {
        /// Its new size.
        workers: usize,
        /// True when the viewer resized it live (`+`/`-`), not a step of the lesson: the
        /// lesson's code still describes the size before.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        live: bool,
    },
    /// *Extra*: a `note` step's text.
    Note {
        /// The text.
        text: String,
    },
    /// *Extra*: the main program printed a value it read itself, not a task's result (a
    /// `print_counter` step: `counter = 2`).
    Print {
        /// The line it printed.
        text: String,
    },
    /// *Extra*: the simulated GIL changed hands (poolscope's thread pool with `gil = true`;
    /// never on the CPython engine, whose real GIL poolscope cannot see). `wait`: the worker
    /// queues for it; `take`: it holds it now, and the worker that held it until then (if it
    /// did not `release` it) yielded at the switch interval and waits again; `release`: its
    /// CPU-bound work is done.
    Gil {
        /// The worker.
        worker: WorkerId,
        /// `wait`, `take` or `release`.
        change: GilChange,
    },
    /// *Extra*: the CPU a Dask worker that poolscope cannot see on this machine (one on
    /// another machine, or one that cannot reach poolscope's socket) uses, as Dask measures
    /// it: percent of one core, for the worker's whole process, one event per lane of it.
    WorkerCpu {
        /// The lane: a thread of that worker.
        worker: WorkerId,
        /// Percent of one core (up to 100 × the worker machine's cores).
        cpu: f32,
    },
    /// Last event.
    End {
        /// Microseconds from the start of the run to its end.
        makespan_us: u64,
    },
}

impl TraceKind {
    /// The task the event is about, if it is about one.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            TraceKind::Submit { task, .. }
            | TraceKind::Start { task, .. }
            | TraceKind::Finish { task, .. }
            | TraceKind::Cancel { task, .. }
            | TraceKind::Abandon { task, .. }
            | TraceKind::Callback { task, .. }
            | TraceKind::Result { task, .. } => Some(*task),
            _ => None,
        }
    }

    /// The `ev` name.
    pub fn name(&self) -> &'static str {
        match self {
            TraceKind::Run { .. } => "run",
            TraceKind::Step { .. } => "step",
            TraceKind::WorkerUp { .. } => "worker_up",
            TraceKind::WorkerDown { .. } => "worker_down",
            TraceKind::ThreadName { .. } => "thread_name",
            TraceKind::Initializing { .. } => "initializing",
            TraceKind::Initialized { .. } => "initialized",
            TraceKind::Submit { .. } => "submit",
            TraceKind::Start { .. } => "start",
            TraceKind::Finish { .. } => "finish",
            TraceKind::Cancel { .. } => "cancel",
            TraceKind::Abandon { .. } => "abandon",
            TraceKind::Callback { .. } => "callback",
            TraceKind::Result { .. } => "result",
            TraceKind::Queue { .. } => "queue",
            TraceKind::Shutdown { .. } => "shutdown",
            TraceKind::Raise { .. } => "raise",
            TraceKind::Poll { .. } => "poll",
            TraceKind::Waited { .. } => "waited",
            TraceKind::Resize { .. } => "resize",
            TraceKind::Note { .. } => "note",
            TraceKind::Print { .. } => "print",
            TraceKind::Gil { .. } => "gil",
            TraceKind::WorkerCpu { .. } => "worker_cpu",
            TraceKind::End { .. } => "end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: &str) -> TraceEvent {
        let event: TraceEvent = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), line, "written back as read");
        event
    }

    #[test]
    fn the_pools_words_keep_the_logs_spellings() {
        for outcome in [Outcome::Ok, Outcome::Error, Outcome::Crashed] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
        for reason in [DownReason::Retired, DownReason::Shutdown, DownReason::Terminated, DownReason::Died] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        for kind in [PoolKind::Thread, PoolKind::Process, PoolKind::Coroutine] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for engine in [EngineChoice::Poolscope, EngineChoice::Cpython] {
            assert_eq!(serde_json::to_value(engine).unwrap(), engine.as_str());
        }
        assert_eq!(serde_json::to_value(Phase::Begin).unwrap(), "begin");
        assert_eq!(serde_json::to_value(Phase::End).unwrap(), "end");
    }

    #[test]
    fn event_lines_read_and_write_back_byte_for_byte() {
        let run = round_trip(
            r#"{"t":9,"ev":"run","scenario":"s","title":"T","pool":"process","workers":4,"seed":42,"speed":5.0,"gil":false,"virtual_time":false,"cores":2,"engine":"cpython"}"#,
        );
        assert!(matches!(run.kind, TraceKind::Run { pool: PoolKind::Process, engine: EngineChoice::Cpython, .. }));
        let down = round_trip(r#"{"t":1,"ev":"worker_down","worker":0,"pid":7,"reason":"died"}"#);
        assert!(matches!(down.kind, TraceKind::WorkerDown { reason: DownReason::Died, .. }));
        let finish = round_trip(r#"{"t":2,"ev":"finish","task":0,"worker":0,"outcome":"crashed","error":"gone"}"#);
        assert!(matches!(finish.kind, TraceKind::Finish { outcome: Outcome::Crashed, .. }));
        let shutdown = round_trip(r#"{"t":3,"ev":"shutdown","wait":true,"phase":"begin"}"#);
        let gil = round_trip(r#"{"t":4,"ev":"gil","worker":1,"change":"take"}"#);
        assert!(matches!(gil.kind, TraceKind::Gil { worker: 1, change: GilChange::Take }));
        assert!(matches!(shutdown.kind, TraceKind::Shutdown { phase: Phase::Begin, .. }));
    }

    #[test]
    fn a_log_from_before_the_engine_field_reads_as_poolscopes() {
        let old = r#"{"t":0,"ev":"run","scenario":"s","title":"T","pool":"thread","workers":1,"seed":1,"speed":1.0,"gil":true,"virtual_time":true,"cores":2}"#;
        let event: TraceEvent = serde_json::from_str(old).unwrap();
        assert!(matches!(event.kind, TraceKind::Run { pool: PoolKind::Thread, engine: EngineChoice::Poolscope, .. }));
    }
}
