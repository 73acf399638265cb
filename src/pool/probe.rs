//! Instrumentation: what a pool reports about itself while it works.
//!
//! A pool built with a [`Probe`] reports every submit, start, finish, cancel, callback, queue
//! change and worker change as an [`Event`] stamped with a monotonic [`Instant`]. A pool without
//! one skips all of it: the only cost left is a branch on `Option`.
//!
//! Telemetry must never slow the pool down, so [`ChannelProbe::bounded`] never blocks: when its
//! consumer falls behind, events are dropped and counted ([`ChannelProbe::dropped`]), and a
//! viewer shows that count. The scenario runner, which writes a complete event log, uses
//! [`ChannelProbe::unbounded`] instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

mod buffer;
mod record;
mod ring;
pub use buffer::BufferProbe;
use record::Compact;
use serde::{Deserialize, Serialize};

/// A task's id: integers from 0 in submission order, per pool.
pub type TaskId = u64;

/// A worker's lane: stable for the worker's life, reused (lowest first) after it retires.
pub type WorkerId = usize;

/// One thing that happened in a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// How a task ended. Serialised as in the event log: `ok`, `error`, `crashed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It returned a value.
    Ok,
    /// It raised (returned an error or panicked); its worker lives on.
    Error,
    /// Its worker process died under it.
    Crashed,
}

impl Outcome {
    /// The lowercase name used in the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Crashed => "crashed",
        }
    }
}

/// Why a worker left. Serialised as in the event log: `retired`, `shutdown`, `terminated`,
/// `died`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownReason {
    /// `set_workers` shrank the pool.
    Retired,
    /// The pool shut down.
    Shutdown,
    /// `terminate()` stopped it.
    Terminated,
    /// The worker process died.
    Died,
}

impl DownReason {
    /// The lowercase name used in the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::Retired => "retired",
            DownReason::Shutdown => "shutdown",
            DownReason::Terminated => "terminated",
            DownReason::Died => "died",
        }
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the GIL changed hands (a GIL thread pool). Serialised as in the event log: `wait`,
/// `take`, `release`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GilChange {
    /// The worker asked for the GIL and must wait: another thread holds it.
    Wait,
    /// The worker now holds the GIL. The thread that held it until now, if it did not
    /// release it, yielded it at a switch interval and waits to get it back: one event per
    /// hand-off, not two.
    Take,
    /// The worker released the GIL for good: its CPU-bound work is done.
    Release,
}

/// The phase of a `shutdown` call. Serialised as in the event log: `begin`, `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `shutdown` was called.
    Begin,
    /// `shutdown` returned.
    End,
}

/// What happened. A tiny task costs three events: submit, start, finish. Queue depth is not
/// reported: a reader derives it from the stream (a submit joins the queue; a start, a
/// successful cancel or an abandon leaves it), so the pool's threads share no counter for it.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A worker started (`pid` is the process that runs its tasks).
    WorkerUp {
        /// Its lane.
        worker: WorkerId,
        /// Its process id.
        pid: u32,
    },
    /// A worker stopped.
    WorkerDown {
        /// Its lane.
        worker: WorkerId,
        /// Its process id.
        pid: u32,
        /// Why.
        reason: DownReason,
        /// What it raised, when a worker that died said why (its initializer raised).
        cause: Option<String>,
    },
    /// A worker's thread has the name Python gives it (a thread pool given a
    /// `thread_name_prefix`): sent right after its `WorkerUp`.
    ThreadName {
        /// Its lane.
        worker: WorkerId,
        /// The thread's name, e.g. `fetcher_0`.
        name: Arc<str>,
    },
    /// A worker began the pool's initializer, before any task: until its `Initialized` it
    /// runs no task, though it is not idle. (A thread pool's worker; a process pool's reports
    /// neither: a lesson's process pool has no initializer of its own.)
    Initializing {
        /// Its lane.
        worker: WorkerId,
    },
    /// A worker ran the pool's initializer, before any task.
    Initialized {
        /// Its lane.
        worker: WorkerId,
        /// What the initializer raised, if it did (the worker then leaves).
        error: Option<String>,
    },
    /// A task was queued.
    Submit {
        /// The task.
        task: TaskId,
        /// Its label, when it has one.
        label: Option<Arc<str>>,
        /// What it takes alone ([`crate::pool::TaskSpec::nominal_cost`]), when known.
        cost: Option<std::time::Duration>,
        /// True for CPU-bound work ([`crate::pool::Work::is_cpu_bound`]): it holds a core, and
        /// on a GIL pool the GIL.
        cpu: bool,
    },
    /// A worker took a task and began it.
    Start {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: WorkerId,
        /// The process running it.
        pid: u32,
    },
    /// A task ended.
    Finish {
        /// The task.
        task: TaskId,
        /// The worker that ran it.
        worker: WorkerId,
        /// How it ended.
        outcome: Outcome,
        /// What it returned, shown to people (tasks with a printable value only).
        value: Option<String>,
        /// What it raised.
        error: Option<String>,
    },
    /// `cancel()` was called.
    Cancel {
        /// The task.
        task: TaskId,
        /// Whether the cancel took (only pending tasks can be cancelled).
        ok: bool,
    },
    /// A task was failed without running: the pool shut down with `cancel_futures`, was
    /// terminated, or broke; or it could not be sent to a worker process.
    Abandon {
        /// The task.
        task: TaskId,
        /// Why, when it was not the pool stopping: the error it failed with.
        error: Option<String>,
    },
    /// A done-callback ran.
    Callback {
        /// The task whose future it was added to.
        task: TaskId,
        /// The name of the thread it ran on.
        thread: String,
        /// The panic message, when the callback panicked (reported, not fatal).
        panicked: Option<String>,
    },
    /// `shutdown` began or ended.
    Shutdown {
        /// Whether it waits for the workers.
        wait: bool,
        /// Begin or end.
        phase: Phase,
    },
    /// The simulated GIL changed hands (a thread pool with a GIL only).
    Gil {
        /// The worker whose thread waits for, takes or releases it.
        worker: WorkerId,
        /// What it did.
        change: GilChange,
    },
}

impl EventKind {
    /// `submit` of task `task`, from its spec when it has one (a closure has none): the one
    /// way every pool reports a submission.
    pub fn submit(task: TaskId, spec: Option<&crate::pool::TaskSpec>) -> EventKind {
        EventKind::Submit {
            task,
            label: spec.map(|s| Arc::from(s.label.as_str())),
            cost: spec.and_then(crate::pool::TaskSpec::nominal_cost),
            cpu: spec.is_some_and(|s| s.work.is_cpu_bound()),
        }
    }
}

/// Where a pool sends its events.
pub trait Probe: std::any::Any + Send + Sync + 'static {
    /// Records one event. Must not block for long: it runs on the pool's hot path.
    fn record(&self, event: Event);
}

/// A [`Probe`] that sends events into a crossbeam channel.
#[derive(Debug)]
pub struct ChannelProbe {
    tx: Sender<Event>,
    dropped: AtomicU64,
}

impl ChannelProbe {
    /// A probe that never blocks: when `capacity` events wait unread, new ones are dropped and
    /// counted.
    pub fn bounded(capacity: usize) -> (Arc<ChannelProbe>, Receiver<Event>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (Arc::new(ChannelProbe { tx, dropped: AtomicU64::new(0) }), rx)
    }

    /// A probe that keeps every event (memory grows if nobody reads).
    pub fn unbounded() -> (Arc<ChannelProbe>, Receiver<Event>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Arc::new(ChannelProbe { tx, dropped: AtomicU64::new(0) }), rx)
    }

    /// How many events were dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Probe for ChannelProbe {
    fn record(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A probe and the clock that stamps its events; shared by a pool and its futures. Exists
/// only when a probe was given, so a pool without one pays nothing for it.
pub(crate) struct Telemetry {
    /// On a cache line of its own, away from the `Arc`'s counts: every future holds a
    /// handle, so the submitter writes those counts once per task, while every emitter on
    /// every thread reads these fields.
    hot: crossbeam_utils::CachePadded<Hot>,
}

struct Hot {
    probe: Arc<dyn Probe>,
    /// The same probe when it is a [`BufferProbe`] and the run is in real time: the pool
    /// then calls it directly and it stamps its records itself from the time-stamp counter,
    /// with no dynamic call and no `Instant` in between.
    buffer: Option<Arc<BufferProbe>>,
    /// The clock of the run that built the pool: events are stamped with its time.
    clock: super::sync::Clock,
}

impl Telemetry {
    pub(crate) fn new(probe: Arc<dyn Probe>) -> Arc<Telemetry> {
        super::tsc::warm_up();
        let clock = super::sync::Clock::current();
        let any: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(&probe) as _;
        let buffer = if clock.is_simulated() { None } else { any.downcast::<BufferProbe>().ok() };
        Arc::new(Telemetry { hot: crossbeam_utils::CachePadded::new(Hot { probe, buffer, clock }) })
    }

    #[inline]
    pub(crate) fn emit(&self, kind: EventKind) {
        match &self.hot.buffer {
            Some(buffer) => buffer.record_now(kind),
            None => self.hot.probe.record(Event { at: self.hot.clock.now(), kind }),
        }
    }

    /// Reports task `task` submitted, from its spec when it has one (a closure has none).
    #[inline]
    pub(crate) fn submitted(&self, task: TaskId, spec: Option<&crate::pool::TaskSpec>) {
        match (&self.hot.buffer, spec) {
            (Some(buffer), None) => buffer.record_compact(Compact::Submit { task }),
            _ => self.emit(EventKind::submit(task, spec)),
        }
    }

    /// Reports task `task` started by `worker` of process `pid`.
    #[inline]
    pub(crate) fn started(&self, task: TaskId, worker: WorkerId, pid: u32) {
        match &self.hot.buffer {
            Some(buffer) => buffer.record_compact(Compact::Start { task, worker, pid }),
            None => self.emit(EventKind::Start { task, worker, pid }),
        }
    }

    /// Reports task `task` finished by `worker` with `outcome`, its value shown as
    /// `describe` says ([`crate::pool::future::finish_event`]).
    #[inline]
    pub(crate) fn finished<T>(
        &self,
        task: TaskId,
        worker: WorkerId,
        outcome: &crate::pool::error::TaskResult<T>,
        describe: impl FnOnce(&T) -> Option<String>,
    ) {
        match (&self.hot.buffer, outcome) {
            (Some(buffer), Ok(value)) => match describe(value) {
                None => buffer.record_compact(Compact::FinishOk { task, worker }),
                value => {
                    buffer.record_now(EventKind::Finish { task, worker, outcome: Outcome::Ok, value, error: None })
                }
            },
            _ => self.emit(crate::pool::future::finish_event(task, worker, outcome, describe)),
        }
    }
}
