//! [`CoroutinePool`]: one thread running many cooperative tasks — an event loop, as asyncio's.
//!
//! The loop is the pool's single worker (worker 0, this process's pid). A task spec gives the
//! loop back only at its await points: the wait of `sleep`, the `duration` wait before `noop`,
//! `fail`, `crash`, `queue_put` and `queue_get`, the wait of `queue_get` for an item, and
//! `increment`'s wait for its lock (an `asyncio.Lock`: first come, first served) and its wait
//! between the read and the write.
//! While one task is suspended the loop runs the others, so many tasks are "running" on the
//! one worker at once. `spin` and `sum_squares` have no await point: they run to their end
//! and stall every other task — the "blocking call inside an event loop" lesson. So do plain
//! Rust closures given to [`CoroutinePool::submit`], which run on the loop like a synchronous
//! function called from a coroutine.
//!
//! ```text
//!   submit ──> jobs channel ──> admit (first step)──┐
//!                                                   v
//!        ┌──────────── ready queue <── due timers ── timer heap (sleeps)
//!        └─> step ─┬─> done: Finish, future completed, callbacks on the loop thread
//!                  ├─> sleep until t: timer heap
//!                  ├─> wait for an item: getters (retried after a put, or polled)
//!                  └─> wait for a lock: its waiters (the first handed the lock at its release)
//!   nothing ready: block on the jobs channel until the next deadline (no busy-wait)
//! ```

mod event_loop;
mod spec;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use crossbeam_channel::{Receiver, Sender};

use super::builder::{Builder, SharesMemory};
use super::counters::SharedCounters;
use super::error::TaskError;
use super::executor::PoolKind;
use super::front::{Admission, Backend, Pool, Refusal, RunsClosures, Stopping};
use super::future::Future;
use super::job::{Job, Single, Unrun};
use super::probe::{EventKind, Telemetry};
use super::queues::SharedQueues;
use super::sync::{Bell, Clock, PoolThread};
use super::task::{TaskSpec, TaskValue};
use spec::SpecTask;

/// The loop's worker id: a coroutine pool has one lane.
pub const LOOP_WORKER: super::probe::WorkerId = 0;

/// A pool of one event-loop thread running cooperative tasks, with the API of
/// `concurrent.futures` (and `multiprocessing.Pool`'s vocabulary) — what asyncio's
/// `create_task` / `gather` do, driven from outside the loop.
///
/// # Examples
/// ```
/// use poolscope::pool::{CoroutinePool, TaskSpec, Work};
/// use std::time::Duration;
///
/// let pool = CoroutinePool::new();
/// // Three 20 ms sleeps overlap on the loop's one thread: together they take about 20 ms.
/// let specs = (0..3).map(|i| TaskSpec::new(Work::Sleep, Duration::from_millis(20), format!("T{i}"))).collect();
/// let futures = pool.submit_tasks(specs, 1).unwrap();
/// for future in &futures {
///     let value = future.result(None).unwrap();
///     assert_eq!(value.worker, 0, "every task runs on the loop");
/// }
///
/// // A plain closure runs to its end on the loop, blocking it meanwhile.
/// assert_eq!(pool.submit(|| 6 * 7).unwrap().result(None), Ok(42));
/// ```
pub type CoroutinePool = Pool<Loop>;

/// A [`CoroutinePool`]'s one worker: the event-loop thread.
pub struct Loop {
    core: Arc<LoopCore>,
    thread: Mutex<Option<PoolThread>>,
    loop_thread: ThreadId,
}

/// What the jobs channel carries.
enum Submitted {
    /// A closure: runs to its end in one step.
    Closure(Arc<dyn Single>),
    /// A chunk of `map` items: runs to its end in one step.
    Blocking(Box<dyn Job>),
    /// Task specs: a coroutine suspended at their await points.
    Specs(SpecTask),
}

impl Submitted {
    fn unrun(self, how: &Unrun) {
        match self {
            Submitted::Closure(task) => task.unrun(how.clone()),
            Submitted::Blocking(job) => job.unrun(how.clone()),
            Submitted::Specs(task) => task.unrun(how),
        }
    }
}

/// What the pool's handle and its loop thread share.
struct LoopCore {
    jobs_tx: Sender<Submitted>,
    jobs: Receiver<Submitted>,
    /// Nudges the loop to re-read the pool's state and limit (capacity 1: wakes coalesce).
    wake_tx: Sender<()>,
    wake: Receiver<()>,
    telemetry: Option<Arc<Telemetry>>,
    queues: Arc<SharedQueues>,
    counters: Arc<SharedCounters>,
    pid: u32,
    /// Most tasks alive (started, not finished) at once; `usize::MAX` for no limit.
    limit: AtomicUsize,
    /// Tasks alive on the loop now, as the loop last counted them.
    active: AtomicUsize,
    /// Open, shut or terminated, with the gate submitters and stops take.
    admission: Admission,
    /// The clock of the run that built the pool.
    clock: Clock,
    /// Rung by every job and wake-up, for the loop waiting in a simulated run.
    bell: Bell,
    /// The thread a task's value says ran it (see [`CoroutinePoolBuilder::loop_thread_name`]).
    value_thread: Option<Arc<str>>,
}

/// Configures a [`CoroutinePool`].
pub type CoroutinePoolBuilder = Builder<LoopOptions>;

/// A coroutine pool's own options (see [`CoroutinePoolBuilder`]).
#[derive(Debug)]
pub struct LoopOptions {
    name: String,
    limit: Option<usize>,
    loop_thread: Option<String>,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions { name: "poolscope".into(), limit: None, loop_thread: None }
    }
}

impl SharesMemory for LoopOptions {}

impl Builder<LoopOptions> {
    /// Name prefix of the loop thread (`NAME-loop`; default `poolscope-loop`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.kind.name = name.into();
        self
    }

    /// Names the loop thread `name` (rather than `NAME-loop`), and each task's value says it
    /// ran there ([`TaskValue::thread`](crate::pool::TaskValue::thread)): asyncio runs its loop
    /// on the program's own thread, `MainThread`.
    pub fn loop_thread_name(mut self, name: impl Into<String>) -> Self {
        self.kind.loop_thread = Some(name.into());
        self
    }

    /// At most `n` tasks (at least 1) alive on the loop at once; the others wait, pending, in
    /// the queue — what an `asyncio.Semaphore(n)` around each task does. Default: no limit,
    /// as asyncio.
    pub fn limit(mut self, n: usize) -> Self {
        self.kind.limit = Some(n);
        self
    }

    /// Builds the pool and starts its loop thread.
    ///
    /// # Panics
    /// If the OS refuses to start a thread.
    pub fn build(self) -> CoroutinePool {
        let (jobs_tx, jobs) = crossbeam_channel::unbounded();
        let clock = Clock::current();
        let (wake_tx, wake) = crossbeam_channel::bounded(1);
        let core = Arc::new(LoopCore {
            jobs_tx,
            jobs,
            wake_tx,
            wake,
            telemetry: self.probe.map(Telemetry::new),
            queues: self.queues.unwrap_or_default(),
            counters: self.counters.unwrap_or_default(),
            pid: clock.pid(),
            limit: AtomicUsize::new(self.kind.limit.map_or(usize::MAX, |n| n.max(1))),
            active: AtomicUsize::new(0),
            admission: Admission::default(),
            bell: Bell::new(&clock),
            clock,
            value_thread: self.kind.loop_thread.as_deref().map(Arc::from),
        });
        // A task waiting in `queue_get` is retried when an item is put, from anywhere.
        let weak = Arc::downgrade(&core);
        core.queues.on_change(Box::new(move || weak.upgrade().map(|core| core.wake()).is_some()));
        core.emit(EventKind::WorkerUp { worker: LOOP_WORKER, pid: core.pid });
        let for_loop = Arc::clone(&core);
        let thread = core
            .clock
            .spawn(self.kind.loop_thread.unwrap_or_else(|| format!("{}-loop", self.kind.name)), move || {
                event_loop::run(&for_loop)
            })
            .expect("the OS refused to start the event-loop thread");
        let loop_thread = thread.id();
        let telemetry = core.telemetry.clone();
        Pool::with_backend(Loop { core, thread: Mutex::new(Some(thread)), loop_thread }, telemetry)
    }
}

impl Default for Pool<Loop> {
    fn default() -> Self {
        CoroutinePool::new()
    }
}

impl Pool<Loop> {
    /// A pool with its loop running, no probe, no limit.
    pub fn new() -> CoroutinePool {
        CoroutinePool::builder().build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> CoroutinePoolBuilder {
        CoroutinePoolBuilder::default()
    }

    /// Sets the most tasks alive on the loop at once (at least 1), while it runs: lowering it
    /// lets the tasks alive finish; the rest wait, pending and cancellable, in the queue.
    pub fn set_limit(&self, n: usize) {
        let core = &self.backend().core;
        core.limit.store(n.max(1), Ordering::Relaxed);
        core.wake();
    }

    /// The most tasks alive on the loop at once, `None` when unbounded (the default).
    pub fn limit(&self) -> Option<usize> {
        Some(self.backend().core.limit.load(Ordering::Relaxed)).filter(|&n| n != usize::MAX)
    }
}

impl Backend for Loop {
    type Gate<'a> = MutexGuard<'a, ()>;

    const KIND: PoolKind = PoolKind::Coroutine;

    fn gate(&self) -> MutexGuard<'_, ()> {
        self.core.admission.lock()
    }

    fn refusal(&self, _gate: &MutexGuard<'_, ()>) -> Option<Refusal> {
        (!self.core.admission.is_open()).then_some(Refusal::Shutdown)
    }

    fn is_open(&self) -> bool {
        self.core.admission.is_open()
    }

    /// `chunksize` consecutive specs make one coroutine, which runs them one after the other.
    fn send_specs(&self, gate: &mut MutexGuard<'_, ()>, tasks: Vec<(Future<TaskValue>, TaskSpec)>) {
        self.core.send(Submitted::Specs(SpecTask::new(tasks)), gate);
    }

    fn shut(&self, cancel_futures: bool) {
        self.stop(Stopping::Shut, cancel_futures.then_some(Unrun::Cancel));
    }

    /// Tasks suspended at an await point die with the loop: their futures fail with
    /// [`TaskError::WorkerDied`]. A task running without yielding (`spin`, a closure) cannot
    /// be interrupted: it runs to its end first, as a blocking call would in asyncio.
    fn terminate(&self) {
        self.stop(Stopping::Terminated, Some(Unrun::Abandon(TaskError::PoolShutdown)));
    }

    /// Unless called on the loop itself, from a callback: then it cannot wait.
    fn join_workers(&self) {
        if std::thread::current().id() == self.loop_thread {
            return;
        }
        // Held while joining, so a second joiner also waits for the end.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(thread) = thread.take() {
            thread.join();
        }
    }

    /// Does nothing: a coroutine pool has exactly one worker, its event loop, and more
    /// threads would not make it a coroutine pool. Concurrency on the loop is not bounded by
    /// workers but by await points; to bound it, see [`CoroutinePool::set_limit`].
    fn set_workers(&self, _n: usize) {}

    /// Always 1: the event loop.
    fn workers(&self) -> usize {
        1
    }

    fn live_workers(&self) -> usize {
        1
    }

    /// Tasks alive on the loop now: started and not finished, most of them suspended at an
    /// await point (a chunk of specs counts once).
    fn active(&self) -> usize {
        self.core.active.load(Ordering::Relaxed)
    }

    fn queued_jobs(&self) -> usize {
        self.core.jobs.len()
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        &self.core.queues
    }
}

impl RunsClosures for Loop {
    /// A closure has no await point: it runs to its end in one go and every other task waits
    /// meanwhile.
    fn send_single(&self, gate: &mut MutexGuard<'_, ()>, task: Arc<dyn Single>) {
        self.core.send(Submitted::Closure(task), gate);
    }

    fn send_chunk(&self, gate: &mut MutexGuard<'_, ()>, job: Box<dyn Job>) {
        self.core.send(Submitted::Blocking(job), gate);
    }
}

impl Loop {
    fn stop(&self, to: Stopping, unrun: Option<Unrun>) {
        self.core.admission.stop(to);
        if let Some(unrun) = unrun {
            while let Ok(job) = self.core.jobs.try_recv() {
                job.unrun(&unrun);
            }
        }
        self.core.wake();
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoroutinePool")
            .field("workers", &1)
            .field("active", &self.active())
            .field("queued", &self.queued_jobs())
            .field("limit", &Some(self.core.limit.load(Ordering::Relaxed)).filter(|&n| n != usize::MAX))
            .finish()
    }
}

impl LoopCore {
    fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(kind);
        }
    }

    /// Wakes the loop if it is blocked waiting (a wake already pending is enough).
    fn wake(&self) {
        let _ = self.wake_tx.try_send(());
        self.bell.ring_all();
    }

    fn send(&self, job: Submitted, _gate: &MutexGuard<'_, ()>) {
        // The loop's own receiver lives in `self`: the send cannot fail.
        let _ = self.jobs_tx.send(job);
        self.bell.ring_all();
    }
}
