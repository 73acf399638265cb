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

/// The phase of a `shutdown` call. Serialised as in the event log: `begin`, `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `shutdown` was called.
    Begin,
    /// `shutdown` returned.
    End,
}

/// What happened. Queue depth rides on the events that change it (`queued` = tasks waiting
/// to start, after the change) so a tiny task costs three events, not five.
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
        /// Tasks waiting after this one was queued.
        queued: usize,
    },
    /// A worker took a task and began it.
    Start {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: WorkerId,
        /// The process running it.
        pid: u32,
        /// Tasks still waiting.
        queued: usize,
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
        /// Tasks waiting after it.
        queued: usize,
    },
    /// A task was failed without running: the pool shut down with `cancel_futures`, was
    /// terminated, or broke.
    Abandon {
        /// The task.
        task: TaskId,
        /// Tasks waiting after it.
        queued: usize,
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
}

impl EventKind {
    /// `submit` of task `task`, from its spec when it has one (a closure has none), with
    /// `queued` tasks waiting after it: the one way every pool reports a submission.
    pub fn submit(task: TaskId, spec: Option<&crate::pool::TaskSpec>, queued: usize) -> EventKind {
        EventKind::Submit {
            task,
            label: spec.map(|s| Arc::from(s.label.as_str())),
            cost: spec.and_then(crate::pool::TaskSpec::nominal_cost),
            cpu: spec.is_some_and(|s| s.work.is_cpu_bound()),
            queued,
        }
    }
}

/// Where a pool sends its events.
pub trait Probe: Send + Sync + 'static {
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

/// A [`Probe`] for a live view of a busy pool: each recording thread appends to a buffer of
/// its own, and the reader collects them all at once ([`BufferProbe::drain_into`]), as a
/// viewer does once per frame.
///
/// Recording costs a thread-local lookup, an uncontended lock and a push: threads never
/// fight over one queue and the reader is never woken. The reader merges the buffers in time
/// order and holds back events newer than the moment it began collecting, so an event never
/// comes out before one that caused it (a task's `Submit` before its `Start`), even though
/// they were recorded on different threads. When a thread's buffer holds `capacity` unread
/// events, its new events are dropped and counted ([`BufferProbe::dropped`]).
#[derive(Debug)]
pub struct BufferProbe {
    /// Identifies this probe in each thread's list of buffers.
    key: Arc<()>,
    shards: std::sync::Mutex<Vec<Arc<Shard>>>,
    /// Collected but newer than the last collection began: released next time.
    held_back: std::sync::Mutex<Vec<Event>>,
    /// Emptied buffers, kept for their capacity and handed back to the threads.
    spares: std::sync::Mutex<Vec<Vec<Event>>>,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct Shard {
    events: std::sync::Mutex<Vec<Event>>,
}

thread_local! {
    /// This thread's buffers, one per live `BufferProbe` it recorded to.
    static SHARDS: std::cell::RefCell<Vec<(std::sync::Weak<()>, Arc<Shard>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl BufferProbe {
    /// A probe holding at most `capacity` unread events per recording thread.
    pub fn new(capacity: usize) -> Arc<BufferProbe> {
        Arc::new(BufferProbe {
            key: Arc::new(()),
            shards: std::sync::Mutex::default(),
            held_back: std::sync::Mutex::default(),
            spares: std::sync::Mutex::default(),
            capacity,
            dropped: AtomicU64::new(0),
        })
    }

    /// Appends to `out`, oldest first, every event recorded before this call began, except
    /// those already taken.
    pub fn drain_into(&self, out: &mut Vec<Event>) {
        self.collect(out, Some(Instant::now()));
    }

    /// Appends every event recorded so far, once no thread records any more.
    pub fn drain_all_into(&self, out: &mut Vec<Event>) {
        self.collect(out, None);
    }

    fn collect(&self, out: &mut Vec<Event>, horizon: Option<Instant>) {
        // Take every thread's buffer whole, leaving an empty one with capacity in its place,
        // then merge the runs (each is in time order already) straight into `out`: every
        // event moves once, and in a steady state nothing is allocated.
        let shards: Vec<Arc<Shard>> = self.shards.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut held_back = self.held_back.lock().unwrap_or_else(|e| e.into_inner());
        let mut runs = vec![std::mem::take(&mut *held_back)];
        {
            let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
            for shard in &shards {
                let mut events = shard.events.lock().unwrap_or_else(|e| e.into_inner());
                if !events.is_empty() {
                    let spare = spares.pop().unwrap_or_default();
                    runs.push(std::mem::replace(&mut *events, spare));
                }
            }
        }
        out.reserve(runs.iter().map(Vec::len).sum());
        let mut heads: Vec<_> = runs.iter_mut().map(|run| run.drain(..).peekable()).collect();
        loop {
            let mut earliest: Option<(usize, Instant)> = None;
            for (i, head) in heads.iter_mut().enumerate() {
                if let Some(event) = head.peek()
                    && earliest.is_none_or(|(_, at)| event.at < at)
                {
                    earliest = Some((i, event.at));
                }
            }
            let Some((i, at)) = earliest else { break };
            let event = heads[i].next().expect("peeked");
            match horizon {
                Some(horizon) if at >= horizon => held_back.push(event),
                _ => out.push(event),
            }
        }
        drop(heads);
        let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        spares.extend(runs.into_iter().skip(1).filter(|run| run.capacity() > 0));
        spares.truncate(16);
    }

    /// How many events were dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn my_shard(&self) -> Arc<Shard> {
        SHARDS.with(|shards| {
            let mut shards = shards.borrow_mut();
            if let Some((_, shard)) = shards.iter().find(|(key, _)| std::ptr::eq(key.as_ptr(), Arc::as_ptr(&self.key)))
            {
                return Arc::clone(shard);
            }
            // First event from this thread: forget buffers of probes that are gone, register.
            shards.retain(|(key, _)| key.strong_count() > 0);
            let shard = Arc::new(Shard::default());
            shards.push((Arc::downgrade(&self.key), Arc::clone(&shard)));
            self.shards.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(&shard));
            shard
        })
    }
}

impl Probe for BufferProbe {
    fn record(&self, event: Event) {
        let mut event = Some(event);
        let room = SHARDS.with(|shards| {
            let shards = shards.borrow();
            let (_, shard) = shards.iter().find(|(key, _)| std::ptr::eq(key.as_ptr(), Arc::as_ptr(&self.key)))?;
            Some(shard.push(&mut event, self.capacity))
        });
        let room = room.unwrap_or_else(|| self.my_shard().push(&mut event, self.capacity));
        if !room {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Shard {
    /// Takes the event if there is room for it.
    fn push(&self, event: &mut Option<Event>, capacity: usize) -> bool {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() >= capacity {
            return false;
        }
        events.extend(event.take());
        true
    }
}

/// A probe plus the queue-depth counter it reports; shared by a pool and its futures.
/// Exists only when a probe was given, so a pool without one pays nothing for it.
pub(crate) struct Telemetry {
    pub(crate) probe: Arc<dyn Probe>,
    /// On its own cache line: submitters and workers both write it, while every emitter
    /// reads `probe` beside it.
    queued: crossbeam_utils::CachePadded<std::sync::atomic::AtomicUsize>,
    /// The clock of the run that built the pool: events are stamped with its time.
    clock: super::sync::Clock,
}

impl Telemetry {
    pub(crate) fn new(probe: Arc<dyn Probe>) -> Arc<Telemetry> {
        Arc::new(Telemetry { probe, queued: Default::default(), clock: super::sync::Clock::current() })
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        self.probe.record(Event { at: self.clock.now(), kind });
    }

    /// Tasks waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Counts `n` tasks into the queue; returns the depth after.
    pub(crate) fn enqueued(&self, n: usize) -> usize {
        self.queued.fetch_add(n, Ordering::Relaxed) + n
    }

    /// Counts one task out of the queue; returns the depth after.
    pub(crate) fn dequeued(&self) -> usize {
        self.queued.fetch_sub(1, Ordering::Relaxed).saturating_sub(1)
    }
}
