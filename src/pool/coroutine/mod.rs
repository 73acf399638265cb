//! [`CoroutinePool`]: one thread running many cooperative tasks — an event loop, as asyncio's.
//!
//! The loop is the pool's single worker (worker 0, this process's pid). A task spec gives the
//! loop back only at its await points: the wait of `sleep`, the `duration` wait before `noop`,
//! `fail`, `crash`, `queue_put` and `queue_get`, and the wait of `queue_get` for an item.
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
//!                  └─> wait for an item: getters (retried after a put, or polled)
//!   nothing ready: block on the jobs channel until the next deadline (no busy-wait)
//! ```

mod event_loop;
mod spec;

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::{Receiver, Sender};

use super::error::{PoolError, SubmitError, TaskError, TaskResult};
use super::executor::{Executor, PoolKind};
use super::future::Future;
use super::job::{Chunk, Job, Single, Unrun, single};
use super::map::{MapIter, MapOptions, Unordered};
use super::probe::{EventKind, Phase, Probe, TaskId, Telemetry};
use super::queues::SharedQueues;
use super::sim::{self, SimClock};
use super::task::{TaskEnv, TaskSpec, TaskValue};
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
pub struct CoroutinePool {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    loop_thread: ThreadId,
    /// The loop's seat in a simulated run.
    seat: Option<sim::Seat>,
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

const OPEN: u8 = 0;
const SHUT: u8 = 1;
const TERMINATED: u8 = 2;

struct Shared {
    jobs_tx: Sender<Submitted>,
    jobs: Receiver<Submitted>,
    /// Nudges the loop to re-read the pool's state and limit (capacity 1: wakes coalesce).
    wake_tx: Sender<()>,
    wake: Receiver<()>,
    telemetry: Option<Arc<Telemetry>>,
    queues: Arc<SharedQueues>,
    pid: u32,
    next_task: AtomicU64,
    /// Most tasks alive (started, not finished) at once; `usize::MAX` for no limit.
    limit: AtomicUsize,
    /// Tasks alive on the loop now, as the loop last counted them.
    active: AtomicUsize,
    /// OPEN, SHUT or TERMINATED; changes only under `gate` (Release), read with Acquire so
    /// the loop that sees SHUT also sees every job sent before it.
    stopping: AtomicU8,
    /// Held by submitters and by shutdown, so no job slips in after the loop was told to end.
    gate: Mutex<()>,
    /// The simulated clock of the run that built the pool, if any (see [`super::sim`]).
    sim: Option<SimClock>,
}

/// Configures a [`CoroutinePool`].
pub struct CoroutinePoolBuilder {
    probe: Option<Arc<dyn Probe>>,
    queues: Option<Arc<SharedQueues>>,
    name: String,
    limit: Option<usize>,
}

impl fmt::Debug for CoroutinePoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoroutinePoolBuilder")
            .field("probe", &self.probe.is_some())
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish()
    }
}

impl Default for CoroutinePoolBuilder {
    fn default() -> Self {
        CoroutinePoolBuilder { probe: None, queues: None, name: "poolscope".into(), limit: None }
    }
}

impl CoroutinePoolBuilder {
    /// Report events to `probe`.
    pub fn probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Share these named queues with the tasks (`queue_put` / `queue_get`).
    pub fn queues(mut self, queues: Arc<SharedQueues>) -> Self {
        self.queues = Some(queues);
        self
    }

    /// Name prefix of the loop thread (`NAME-loop`; default `poolscope-loop`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// At most `n` tasks (at least 1) alive on the loop at once; the others wait, pending, in
    /// the queue — what an `asyncio.Semaphore(n)` around each task does. Default: no limit,
    /// as asyncio.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Builds the pool and starts its loop thread.
    ///
    /// # Panics
    /// If the OS refuses to start a thread.
    pub fn build(self) -> CoroutinePool {
        let (jobs_tx, jobs) = crossbeam_channel::unbounded();
        let sim = sim::current();
        let (wake_tx, wake) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            jobs_tx,
            jobs,
            wake_tx,
            wake,
            telemetry: self.probe.map(Telemetry::new),
            queues: self.queues.unwrap_or_default(),
            pid: if sim.is_some() { sim::PARENT_PID } else { std::process::id() },
            next_task: AtomicU64::new(0),
            limit: AtomicUsize::new(self.limit.map_or(usize::MAX, |n| n.max(1))),
            active: AtomicUsize::new(0),
            stopping: AtomicU8::new(OPEN),
            gate: Mutex::new(()),
            sim,
        });
        shared.emit(EventKind::WorkerUp { worker: LOOP_WORKER, pid: shared.pid });
        let for_loop = Arc::clone(&shared);
        let reserved = shared.sim.as_ref().map(SimClock::reserve);
        let seat = reserved.as_ref().map(sim::Reserved::seat);
        let handle = std::thread::Builder::new()
            .name(format!("{}-loop", self.name))
            .spawn(move || {
                let _me = reserved.map(sim::Reserved::take);
                event_loop::run(&for_loop);
            })
            .expect("the OS refused to start the event-loop thread");
        let loop_thread = handle.thread().id();
        CoroutinePool { shared, thread: Mutex::new(Some(handle)), loop_thread, seat }
    }
}

impl Default for CoroutinePool {
    fn default() -> Self {
        CoroutinePool::new()
    }
}

impl CoroutinePool {
    /// A pool with its loop running, no probe, no limit.
    pub fn new() -> CoroutinePool {
        CoroutinePool::builder().build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> CoroutinePoolBuilder {
        CoroutinePoolBuilder::default()
    }

    /// Schedules `f` to run on the loop and returns its future. Never blocks. `f` has no
    /// await point: it runs to its end in one go and every other task waits meanwhile. A
    /// panic in `f` becomes [`TaskError::Failed`]; the loop lives on.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with `f` handed back, after `shutdown`, `close` or `terminate`.
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let gate = self.shared.lock_gate();
        if !self.shared.is_open() {
            return Err(SubmitError::Shutdown(f));
        }
        let id = self.shared.submitted(None);
        let (future, task) = single(id, self.shared.telemetry.clone(), move |_: &dyn TaskEnv| Ok(f()), no_value);
        self.shared.send(Submitted::Closure(task), &gate);
        Ok(future)
    }

    /// Like [`CoroutinePool::submit`] for work that can fail: `Err(e)` becomes
    /// [`TaskError::Failed`] with `e`'s message.
    ///
    /// # Errors
    /// As [`CoroutinePool::submit`].
    pub fn submit_fallible<F, T, E>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Display,
    {
        let gate = self.shared.lock_gate();
        if !self.shared.is_open() {
            return Err(SubmitError::Shutdown(f));
        }
        let id = self.shared.submitted(None);
        let work = move |_: &dyn TaskEnv| f().map_err(|e| TaskError::Failed(e.to_string()));
        let (future, task) = single(id, self.shared.telemetry.clone(), work, no_value);
        self.shared.send(Submitted::Closure(task), &gate);
        Ok(future)
    }

    /// Calls `f` on each item on the loop, `options.chunksize` items per job, and yields the
    /// results in input order (see [`MapIter`]).
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with the items handed back if the pool takes no new work.
    pub fn map<I, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
        options: MapOptions,
    ) -> Result<MapIter<R>, SubmitError<Vec<I>>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Send + 'static,
        R: Send + 'static,
    {
        // Python takes the deadline before it consumes the items.
        let deadline = options.timeout.map(|t| crate::pool::sim::now() + t);
        let futures = self.submit_chunks(f, items, options.chunksize)?;
        Ok(MapIter::until(futures, deadline))
    }

    /// `multiprocessing.Pool.imap`: [`CoroutinePool::map`] without a timeout.
    ///
    /// # Errors
    /// As [`CoroutinePool::map`].
    pub fn imap<I, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
        chunksize: usize,
    ) -> Result<MapIter<R>, SubmitError<Vec<I>>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Send + 'static,
        R: Send + 'static,
    {
        self.map(f, items, MapOptions { chunksize, timeout: None })
    }

    /// `multiprocessing.Pool.imap_unordered`: results as they complete.
    ///
    /// # Errors
    /// As [`CoroutinePool::map`].
    pub fn imap_unordered<I, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
        chunksize: usize,
    ) -> Result<Unordered<R>, SubmitError<Vec<I>>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Send + 'static,
        R: Send + 'static,
    {
        Ok(Unordered::new(self.submit_chunks(f, items, chunksize)?))
    }

    fn submit_chunks<I, R, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
        chunksize: usize,
    ) -> Result<Vec<Future<R>>, SubmitError<Vec<I>>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Send + 'static,
        R: Send + 'static,
    {
        let items: Vec<I> = items.into_iter().collect();
        let gate = self.shared.lock_gate();
        if !self.shared.is_open() {
            return Err(SubmitError::Shutdown(items));
        }
        let function = Arc::new(f);
        let mut futures = Vec::with_capacity(items.len());
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(Future<R>, I)> =
                items.by_ref().take(chunksize.max(1)).map(|item| (self.shared.new_future(None), item)).collect();
            futures.extend(chunk.iter().map(|(future, _)| future.clone()));
            let job = Chunk { function: Arc::clone(&function), items: chunk };
            self.shared.send(Submitted::Blocking(Box::new(job)), &gate);
        }
        Ok(futures)
    }

    /// `multiprocessing.Pool.apply`: runs `f` on the loop and waits for its result.
    ///
    /// # Errors
    /// [`TaskError::PoolShutdown`] if the pool takes no new work; the task's own error.
    pub fn apply<F, T>(&self, f: F) -> TaskResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Clone + 'static,
    {
        self.submit(f).map_err(|_| TaskError::PoolShutdown)?.result(None)
    }

    /// `multiprocessing.Pool.apply_async`: the same as [`CoroutinePool::submit`].
    ///
    /// # Errors
    /// As [`CoroutinePool::submit`].
    pub fn apply_async<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(f)
    }

    /// Schedules a task spec as a coroutine (`loop.create_task`); its value says it ran on
    /// worker 0 in this process.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with the spec handed back.
    pub fn submit_task(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        Executor::submit_spec(self, spec)
    }

    /// Schedules task specs, `chunksize` consecutive specs per coroutine (which runs them one
    /// after the other); one future per spec, in order.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with the specs handed back.
    pub fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        let gate = self.shared.lock_gate();
        if !self.shared.is_open() {
            return Err(SubmitError::Shutdown(specs));
        }
        let mut futures = Vec::with_capacity(specs.len());
        let mut specs = specs.into_iter().peekable();
        while specs.peek().is_some() {
            let tasks: Vec<(Future<TaskValue>, TaskSpec)> =
                specs.by_ref().take(chunksize.max(1)).map(|spec| (self.shared.new_future(Some(&spec)), spec)).collect();
            futures.extend(tasks.iter().map(|(future, _)| future.clone()));
            self.shared.send(Submitted::Specs(SpecTask::new(tasks)), &gate);
        }
        Ok(futures)
    }

    /// Does nothing: a coroutine pool has exactly one worker, its event loop, and more
    /// threads would not make it a coroutine pool. Concurrency on the loop is not bounded by
    /// workers but by await points; to bound it, see [`CoroutinePool::set_limit`].
    pub fn set_workers(&self, n: usize) {
        let _ = n;
    }

    /// Always 1: the event loop.
    pub fn workers(&self) -> usize {
        1
    }

    /// Sets the most tasks alive on the loop at once (at least 1), while it runs: lowering it
    /// lets the tasks alive finish; the rest wait, pending and cancellable, in the queue.
    pub fn set_limit(&self, n: usize) {
        self.shared.limit.store(n.max(1), Ordering::Relaxed);
        self.shared.wake();
    }

    /// The most tasks alive on the loop at once, `None` when unbounded (the default).
    pub fn limit(&self) -> Option<usize> {
        Some(self.shared.limit.load(Ordering::Relaxed)).filter(|&n| n != usize::MAX)
    }

    /// Tasks alive on the loop now: started and not finished, most of them suspended at an
    /// await point (a chunk of specs counts once).
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Tasks waiting to start (jobs, when a chunk holds several tasks, and no probe is set).
    pub fn queued(&self) -> usize {
        match &self.shared.telemetry {
            Some(telemetry) => telemetry.queued(),
            None => self.shared.jobs.len(),
        }
    }

    /// The named queues the tasks share.
    pub fn queues(&self) -> &Arc<SharedQueues> {
        &self.shared.queues
    }

    /// Stops taking work. With `cancel_futures`, cancels every task that has not started.
    /// With `wait`, returns once every task has finished and the loop has exited (unless
    /// called on the loop itself, from a callback: then it cannot wait). Calling it again is
    /// harmless. As `Executor.shutdown`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::Begin });
        self.stop(SHUT, cancel_futures.then_some(Unrun::Cancel));
        if wait {
            self.join_loop();
        }
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::End });
    }

    /// `multiprocessing.Pool.close`: no new work; queued work still runs.
    pub fn close(&self) {
        self.shutdown(false, false);
    }

    /// `multiprocessing.Pool.join`: waits for the loop to exit.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] unless `close`, `shutdown` or `terminate` came first.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.shared.is_open() {
            return Err(PoolError::StillRunning);
        }
        self.join_loop();
        Ok(())
    }

    /// `multiprocessing.Pool.terminate`: fails every task that has not started with
    /// [`TaskError::PoolShutdown`], closes the shared queues, and stops the loop at its next
    /// turn. Tasks suspended at an await point die with the loop: their futures fail with
    /// [`TaskError::WorkerDied`]. A task running without yielding (`spin`, a closure) cannot
    /// be interrupted: it runs to its end first, as a blocking call would in asyncio.
    pub fn terminate(&self) {
        self.stop(TERMINATED, Some(Unrun::Abandon(TaskError::PoolShutdown)));
        self.shared.queues.close();
    }

    fn stop(&self, how: u8, unrun: Option<Unrun>) {
        {
            let _gate = self.shared.lock_gate();
            if self.shared.stopping.load(Ordering::Relaxed) < how {
                self.shared.stopping.store(how, Ordering::Release);
            }
        }
        if let Some(unrun) = unrun {
            while let Ok(job) = self.shared.jobs.try_recv() {
                job.unrun(&unrun);
            }
        }
        self.shared.wake();
    }

    fn join_loop(&self) {
        if std::thread::current().id() == self.loop_thread {
            return;
        }
        // Held while joining, so a second joiner also waits for the end.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = thread.take() {
            if let Some(seat) = self.seat {
                sim::wait_left(seat);
            }
            let _ = handle.join();
        }
    }
}

fn no_value<T>(_: &T) -> Option<String> {
    None
}

impl Drop for CoroutinePool {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for CoroutinePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoroutinePool")
            .field("workers", &1)
            .field("active", &self.active())
            .field("queued", &self.queued())
            .field("limit", &self.limit())
            .finish()
    }
}

impl Executor for CoroutinePool {
    fn kind(&self) -> PoolKind {
        PoolKind::Coroutine
    }

    fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        CoroutinePool::submit_tasks(self, specs, chunksize)
    }

    fn set_workers(&self, n: usize) {
        CoroutinePool::set_workers(self, n);
    }

    fn workers(&self) -> usize {
        CoroutinePool::workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        CoroutinePool::shutdown(self, wait, cancel_futures);
    }

    fn terminate(&self) {
        CoroutinePool::terminate(self);
    }

    fn join(&self) -> Result<(), PoolError> {
        CoroutinePool::join(self)
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        CoroutinePool::queues(self)
    }
}

impl Shared {
    fn lock_gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_open(&self) -> bool {
        self.stopping.load(Ordering::Acquire) == OPEN
    }

    fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(kind);
        }
    }

    /// Wakes the loop if it is blocked waiting (a wake already pending is enough).
    fn wake(&self) {
        let _ = self.wake_tx.try_send(());
        self.nudge_sim();
    }

    /// Wakes the loop if it waits in a simulated run.
    fn nudge_sim(&self) {
        if let Some(sim) = &self.sim {
            sim.notify_all(sim::key(&self.wake));
        }
    }

    fn send(&self, job: Submitted, _gate: &MutexGuard<'_, ()>) {
        // The loop's own receiver lives in `self`: the send cannot fail.
        let _ = self.jobs_tx.send(job);
        self.nudge_sim();
    }

    /// The id of the next task, reported as submitted and counted into the queue.
    fn submitted(&self, spec: Option<&TaskSpec>) -> TaskId {
        let id: TaskId = self.next_task.fetch_add(1, Ordering::Relaxed);
        if let Some(telemetry) = &self.telemetry {
            let queued = telemetry.enqueued(1);
            telemetry.emit(EventKind::submit(id, spec, queued));
        }
        id
    }

    /// A future for the next task, reported as submitted and counted into the queue.
    fn new_future<T: 'static>(&self, spec: Option<&TaskSpec>) -> Future<T> {
        Future::new(self.submitted(spec), self.telemetry.clone())
    }
}
