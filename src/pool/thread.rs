//! [`ThreadPool`]: N worker threads fed from one crossbeam-channel queue.

mod worker;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, Sender, TryRecvError};
use crossbeam_utils::CachePadded;

use super::error::{PoolError, SubmitError, TaskError, TaskResult};
use super::executor::{Executor, PoolKind};
use super::future::Future;
use super::gil::{DEFAULT_SWITCH_INTERVAL, Gil};
use super::job::{Chunk, Job, Single, Specs, Unrun, single};
use super::map::{MapIter, MapOptions, Unordered};
use super::probe::{DownReason, EventKind, Phase, Probe, TaskId, Telemetry, WorkerId};
use super::queues::SharedQueues;
use super::sim::{self, SimClock};
use super::task::{TaskEnv, TaskSpec, TaskValue};

/// `ThreadPoolExecutor`'s default size: `min(32, cpus + 4)`.
pub fn default_thread_workers() -> usize {
    32.min(super::cpus() + 4)
}

/// A pool of worker threads with the API of `concurrent.futures.ThreadPoolExecutor` and
/// `multiprocessing.pool.ThreadPool`, plus live resizing and an optional simulated GIL.
///
/// # Examples
/// ```
/// use poolscope::pool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new(4);
/// let futures: Vec<_> = (0..8u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let mut total = 0;
/// for future in as_completed(&futures, None) {
///     total += future.unwrap().result(None).unwrap();
/// }
/// assert_eq!(total, 140);
///
/// // map yields in input order, whatever order the tasks finish in.
/// let squares: Vec<u64> = pool.map(|i: u64| i * i, 0..5, Default::default()).unwrap()
///     .map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// ```
pub struct ThreadPool {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
}

/// What the queue carries: work, or a nudge to re-read the pool's size and state.
pub(crate) enum Msg {
    Task(Arc<dyn Single>),
    Job(Box<dyn Job>),
    /// From `set_workers`: leave if the pool is over its size. May sit ahead of queued work.
    Retire,
    /// From `stop`: sent behind every job queued before shutdown, so the reader can leave.
    Stop,
}

const OPEN: u8 = 0;
const SHUT: u8 = 1;
const TERMINATED: u8 = 2;

pub(crate) struct Shared {
    rx: Receiver<Msg>,
    pub(crate) telemetry: Option<Arc<Telemetry>>,
    pub(crate) gil: Option<Gil>,
    pub(crate) queues: Arc<SharedQueues>,
    pub(crate) pid: u32,
    name: String,
    eager: bool,
    /// Workers that finished a task and have not been claimed by a submit since
    /// (`ThreadPoolExecutor._idle_semaphore`); only kept while the pool is below its size.
    idle_tokens: AtomicUsize,
    live: AtomicUsize,
    target: AtomicUsize,
    /// OPEN, SHUT or TERMINATED; changes only under `gate`.
    stopping: AtomicU8,
    /// Held by submitters and by shutdown, so no job slips in after the workers were told
    /// to leave.
    /// (It also numbers the tasks: the next task's id.)
    /// Padded: the submitter writes it on every submit, and the workers read their
    /// neighbours (`live`, `target`) after every task — sharing a cache line would make
    /// every submit cost every worker a miss.
    gate: CachePadded<Mutex<TaskId>>,
    workers: Mutex<WorkerSet>,
    /// Held while joining the workers, so a second `shutdown(wait)` waits too.
    joining: Mutex<()>,
    /// The simulated clock of the run that built the pool, if any (see [`super::sim`]).
    pub(crate) sim: Option<SimClock>,
}

struct WorkerSet {
    free_ids: BTreeSet<WorkerId>,
    next_id: WorkerId,
    threads: Vec<WorkerThread>,
}

struct WorkerThread {
    id: WorkerId,
    /// Its seat in a simulated run.
    seat: Option<sim::Seat>,
    busy: Arc<CachePadded<AtomicBool>>,
    handle: JoinHandle<()>,
}

/// Configures a [`ThreadPool`].
pub struct ThreadPoolBuilder {
    workers: Option<usize>,
    eager: bool,
    probe: Option<Arc<dyn Probe>>,
    gil: Option<Duration>,
    name: String,
    queues: Option<Arc<SharedQueues>>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("workers", &self.workers)
            .field("eager", &self.eager)
            .field("probe", &self.probe.is_some())
            .field("gil", &self.gil)
            .field("name", &self.name)
            .finish()
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder {
            workers: None,
            eager: false,
            probe: None,
            gil: None,
            name: "poolscope".into(),
            queues: None,
        }
    }
}

impl ThreadPoolBuilder {
    /// The number of workers (at least 1). Default: `min(32, cpus + 4)`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Start every worker now. Default: lazily, one per submit that finds no idle worker,
    /// as `ThreadPoolExecutor` does.
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = eager;
        self
    }

    /// Report events to `probe`.
    pub fn probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Simulate CPython's GIL with this switch interval (see [`Gil`]).
    pub fn gil(mut self, switch_interval: Duration) -> Self {
        self.gil = Some(switch_interval);
        self
    }

    /// Simulate CPython's GIL with its default 5 ms switch interval.
    pub fn with_gil(self) -> Self {
        self.gil(DEFAULT_SWITCH_INTERVAL)
    }

    /// Name prefix of the worker threads (`NAME-worker-ID`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Share these named queues with the tasks (`queue_put` / `queue_get`).
    pub fn queues(mut self, queues: Arc<SharedQueues>) -> Self {
        self.queues = Some(queues);
        self
    }

    /// Builds the pool.
    pub fn build(self) -> ThreadPool {
        let (tx, rx) = crossbeam_channel::unbounded();
        let size = self.workers.unwrap_or_else(default_thread_workers).max(1);
        let sim = sim::current();
        let shared = Arc::new(Shared {
            rx,
            telemetry: self.probe.map(Telemetry::new),
            gil: self.gil.map(Gil::new),
            queues: self.queues.unwrap_or_default(),
            pid: if sim.is_some() { sim::PARENT_PID } else { std::process::id() },
            name: self.name,
            eager: self.eager,
            idle_tokens: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            target: AtomicUsize::new(size),
            stopping: AtomicU8::new(OPEN),
            gate: CachePadded::new(Mutex::new(0)),
            workers: Mutex::new(WorkerSet { free_ids: BTreeSet::new(), next_id: 0, threads: Vec::new() }),
            joining: Mutex::new(()),
            sim,
        });
        if self.eager {
            let mut set = shared.lock_workers();
            while shared.live.load(Ordering::Relaxed) < size {
                shared.spawn(&mut set);
            }
        }
        ThreadPool { shared, tx }
    }
}

impl ThreadPool {
    /// A pool of `n` workers, started lazily.
    pub fn new(n: usize) -> ThreadPool {
        ThreadPool::builder().workers(n).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// Schedules `f` and returns its future. Never blocks. A panic in `f` becomes
    /// [`TaskError::Failed`] in the future; the worker lives on.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with `f` handed back, after `shutdown`, `close` or `terminate`.
    pub fn submit<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut gate = self.shared.lock_gate();
        if self.shared.stopping.load(Ordering::Relaxed) != OPEN {
            return Err(SubmitError::Shutdown(f));
        }
        let id = self.shared.submitted(&mut gate, None);
        let (future, task) = single(id, self.shared.telemetry.clone(), move |_: &dyn TaskEnv| Ok(f()), no_value);
        self.send(Msg::Task(task), &gate);
        Ok(future)
    }

    /// Like [`ThreadPool::submit`] for work that can fail: `Err(e)` becomes
    /// [`TaskError::Failed`] with `e`'s message, as an exception raised by a Python task.
    ///
    /// # Errors
    /// As [`ThreadPool::submit`].
    pub fn submit_fallible<F, T, E>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Display,
    {
        let mut gate = self.shared.lock_gate();
        if self.shared.stopping.load(Ordering::Relaxed) != OPEN {
            return Err(SubmitError::Shutdown(f));
        }
        let id = self.shared.submitted(&mut gate, None);
        let work = move |_: &dyn TaskEnv| f().map_err(|e| TaskError::Failed(e.to_string()));
        let (future, task) = single(id, self.shared.telemetry.clone(), work, no_value);
        self.send(Msg::Task(task), &gate);
        Ok(future)
    }

    /// Calls `f` on each item, in chunks of `options.chunksize` items per job, and yields the
    /// results in input order. All items are submitted before this returns; the timeout runs
    /// from this call. The first error ends the iteration and cancels what has not started.
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

    /// `multiprocessing.Pool.imap`: [`ThreadPool::map`] without a timeout.
    ///
    /// # Errors
    /// As [`ThreadPool::map`].
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
    /// As [`ThreadPool::map`].
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
        let mut gate = self.shared.lock_gate();
        if self.shared.stopping.load(Ordering::Relaxed) != OPEN {
            return Err(SubmitError::Shutdown(items));
        }
        let function = Arc::new(f);
        let mut futures = Vec::with_capacity(items.len());
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(Future<R>, I)> = items
                .by_ref()
                .take(chunksize.max(1))
                .map(|item| (self.shared.new_future(&mut gate, None), item))
                .collect();
            futures.extend(chunk.iter().map(|(future, _)| future.clone()));
            self.send(Msg::Job(Box::new(Chunk { function: Arc::clone(&function), items: chunk })), &gate);
        }
        Ok(futures)
    }

    /// `multiprocessing.Pool.apply`: runs `f` on a worker and waits for its result.
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

    /// `multiprocessing.Pool.apply_async`: the same as [`ThreadPool::submit`].
    ///
    /// # Errors
    /// As [`ThreadPool::submit`].
    pub fn apply_async<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(f)
    }

    /// Schedules a task spec; its value says which worker ran it.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with the spec handed back.
    pub fn submit_task(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        Executor::submit_spec(self, spec)
    }

    /// Schedules task specs in chunks of `chunksize` (one job each); one future per spec.
    ///
    /// # Errors
    /// [`SubmitError::Shutdown`] with the specs handed back.
    pub fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        let mut gate = self.shared.lock_gate();
        if self.shared.stopping.load(Ordering::Relaxed) != OPEN {
            return Err(SubmitError::Shutdown(specs));
        }
        let mut futures = Vec::with_capacity(specs.len());
        let mut specs = specs.into_iter().peekable();
        while specs.peek().is_some() {
            let tasks: Vec<(Future<TaskValue>, TaskSpec)> = specs
                .by_ref()
                .take(chunksize.max(1))
                .map(|spec| (self.shared.new_future(&mut gate, Some(&spec)), spec))
                .collect();
            futures.extend(tasks.iter().map(|(future, _)| future.clone()));
            self.send(Msg::Job(Box::new(Specs { tasks })), &gate);
        }
        Ok(futures)
    }

    fn send(&self, msg: Msg, _gate: &MutexGuard<'_, TaskId>) {
        // The pool's own receiver lives as long as the pool: the send cannot fail.
        let _ = self.tx.send(msg);
        self.shared.wake_one();
        if !self.shared.eager {
            self.shared.start_worker_if_none_idle();
        }
    }

    /// Grows or shrinks the pool to `n` workers (at least 1) while it runs. Growing starts
    /// the new workers at once; shrinking lets running tasks finish, then those workers
    /// leave. Worker ids stay with their workers; freed ids are reused, lowest first.
    pub fn set_workers(&self, n: usize) {
        let n = n.max(1);
        let mut set = self.shared.lock_workers();
        if self.shared.stopping.load(Ordering::Relaxed) != OPEN {
            return;
        }
        self.shared.target.store(n, Ordering::Relaxed);
        let live = self.shared.live.load(Ordering::Relaxed);
        if n > live {
            for _ in live..n {
                self.shared.spawn(&mut set);
            }
        } else {
            for _ in n..live {
                let _ = self.tx.send(Msg::Retire);
                self.shared.wake_one();
            }
        }
        set.threads.retain(|t| !t.handle.is_finished());
    }

    /// The pool's size: the number of workers it runs when busy.
    pub fn workers(&self) -> usize {
        self.shared.target.load(Ordering::Relaxed)
    }

    /// Worker threads alive now (fewer than [`ThreadPool::workers`] while lazily starting
    /// or while shrinking).
    pub fn live_workers(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Workers running a task now.
    pub fn active(&self) -> usize {
        self.shared.lock_workers().threads.iter().filter(|t| t.busy.load(Ordering::Relaxed)).count()
    }

    /// Tasks waiting in the queue. Exact with a probe; without one it is the channel's
    /// length: jobs (a `map` chunk counts once) plus any retire / stop messages a resize or
    /// shutdown has queued.
    pub fn queued(&self) -> usize {
        match &self.shared.telemetry {
            Some(telemetry) => telemetry.queued(),
            None => self.shared.rx.len(),
        }
    }

    /// The named queues the tasks share.
    pub fn queues(&self) -> &Arc<SharedQueues> {
        &self.shared.queues
    }

    /// Stops taking work. With `cancel_futures`, cancels every task that has not started.
    /// With `wait`, returns once every worker has finished and exited. Calling it again is
    /// harmless. As `Executor.shutdown`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::Begin });
        self.stop(SHUT, cancel_futures.then_some(Unrun::Cancel));
        if wait {
            self.shared.join_all();
        }
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::End });
    }

    /// `multiprocessing.Pool.close`: no new work; queued work still runs.
    pub fn close(&self) {
        self.shutdown(false, false);
    }

    /// `multiprocessing.Pool.join`: waits for the workers to exit.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] unless `close`, `shutdown` or `terminate` came first.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.shared.stopping.load(Ordering::Relaxed) == OPEN {
            return Err(PoolError::StillRunning);
        }
        self.shared.join_all();
        Ok(())
    }

    /// `multiprocessing.Pool.terminate`: fails every task that has not started with
    /// [`TaskError::PoolShutdown`], closes the shared queues, and tells the workers to leave.
    /// Threads cannot be killed: a running task runs to its end (its result is still
    /// delivered), then its worker exits. Use [`ThreadPool::join`] to wait for that.
    pub fn terminate(&self) {
        self.stop(TERMINATED, Some(Unrun::Abandon(TaskError::PoolShutdown)));
        self.shared.queues.close();
    }

    fn stop(&self, how: u8, unrun: Option<Unrun>) {
        {
            let _gate = self.shared.lock_gate();
            if self.shared.stopping.load(Ordering::Relaxed) < how {
                self.shared.stopping.store(how, Ordering::Relaxed);
            }
        }
        if let Some(unrun) = unrun {
            while let Ok(msg) = self.shared.rx.try_recv() {
                match msg {
                    Msg::Task(task) => task.unrun(unrun.clone()),
                    Msg::Job(job) => job.unrun(unrun.clone()),
                    Msg::Retire | Msg::Stop => {}
                }
            }
        }
        // Every worker alive now gets a wake-up behind the queued work; no job can follow it.
        let set = self.shared.lock_workers();
        for _ in 0..self.shared.live.load(Ordering::Relaxed) {
            let _ = self.tx.send(Msg::Stop);
            self.shared.wake_one();
        }
        drop(set);
    }
}

fn no_value<T>(_: &T) -> Option<String> {
    None
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers())
            .field("live", &self.live_workers())
            .field("active", &self.active())
            .field("queued", &self.queued())
            .field("gil", &self.shared.gil.is_some())
            .finish()
    }
}

impl Executor for ThreadPool {
    fn kind(&self) -> PoolKind {
        PoolKind::Thread
    }

    fn has_gil(&self) -> bool {
        self.shared.gil.is_some()
    }

    fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        ThreadPool::submit_tasks(self, specs, chunksize)
    }

    fn set_workers(&self, n: usize) {
        ThreadPool::set_workers(self, n);
    }

    fn workers(&self) -> usize {
        ThreadPool::workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ThreadPool::shutdown(self, wait, cancel_futures);
    }

    fn terminate(&self) {
        ThreadPool::terminate(self);
    }

    fn join(&self) -> Result<(), PoolError> {
        ThreadPool::join(self)
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        ThreadPool::queues(self)
    }
}

impl Shared {
    fn lock_gate(&self) -> MutexGuard<'_, TaskId> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_workers(&self) -> MutexGuard<'_, WorkerSet> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells a worker waiting in a simulated run that a message is queued.
    fn wake_one(&self) {
        if let Some(sim) = &self.sim {
            sim.notify_one(sim::key(&self.rx));
        }
    }

    /// The next message, waiting for one.
    pub(crate) fn next_msg(&self) -> Result<Msg, RecvError> {
        let poll = || match self.rx.try_recv() {
            Ok(msg) => Some(Ok(msg)),
            Err(TryRecvError::Disconnected) => Some(Err(RecvError)),
            Err(TryRecvError::Empty) => None,
        };
        match sim::wait(sim::key(&self.rx), None, poll) {
            Some(got) => got.unwrap_or(Err(RecvError)),
            None => self.rx.recv(),
        }
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(kind);
        }
    }

    /// The id of the next task, reported as submitted and counted into the queue.
    fn submitted(&self, gate: &mut MutexGuard<'_, TaskId>, spec: Option<&TaskSpec>) -> TaskId {
        let id: TaskId = **gate;
        **gate += 1;
        if let Some(telemetry) = &self.telemetry {
            let queued = telemetry.enqueued(1);
            telemetry.emit(EventKind::submit(id, spec, queued));
        }
        id
    }

    /// A future for the next task, reported as submitted and counted into the queue.
    fn new_future<T: 'static>(&self, gate: &mut MutexGuard<'_, TaskId>, spec: Option<&TaskSpec>) -> Future<T> {
        Future::new(self.submitted(gate, spec), self.telemetry.clone())
    }

    /// `ThreadPoolExecutor._adjust_thread_count`: a submit that finds no idle worker starts
    /// one, up to the pool's size.
    fn start_worker_if_none_idle(self: &Arc<Self>) {
        if self.live.load(Ordering::Relaxed) >= self.target.load(Ordering::Relaxed) {
            return;
        }
        if self.idle_tokens.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
            return;
        }
        let mut set = self.lock_workers();
        if self.live.load(Ordering::Relaxed) < self.target.load(Ordering::Relaxed) {
            self.spawn(&mut set);
        }
    }

    /// Starts one worker on the lowest free id. Caller holds the worker-set lock.
    fn spawn(self: &Arc<Self>, set: &mut WorkerSet) {
        if self.stopping.load(Ordering::Relaxed) != OPEN {
            return;
        }
        let id = match set.free_ids.pop_first() {
            Some(id) => id,
            None => {
                set.next_id += 1;
                set.next_id - 1
            }
        };
        self.live.fetch_add(1, Ordering::Relaxed);
        self.emit(EventKind::WorkerUp { worker: id, pid: self.pid });
        let busy = Arc::new(CachePadded::new(AtomicBool::new(false)));
        let shared = Arc::clone(self);
        let flag = Arc::clone(&busy);
        let reserved = self.sim.as_ref().map(SimClock::reserve);
        let seat = reserved.as_ref().map(sim::Reserved::seat);
        let handle = std::thread::Builder::new()
            .name(format!("{}-worker-{id}", self.name))
            .spawn(move || {
                let _me = reserved.map(sim::Reserved::take);
                worker::run(&shared, id, &flag);
            })
            .expect("the OS refused to start a worker thread");
        set.threads.push(WorkerThread { id, seat, busy, handle });
    }

    /// Takes a worker out of the set (it is about to exit) if `retire_only_if_over` finds the
    /// pool above its size, or unconditionally. Returns whether it left.
    fn leave(&self, id: WorkerId, reason: DownReason) -> bool {
        let mut set = self.lock_workers();
        if reason == DownReason::Retired && self.live.load(Ordering::Relaxed) <= self.target.load(Ordering::Relaxed) {
            return false;
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        // Reported before the id is freed, so a lane never shows two workers at once.
        self.emit(EventKind::WorkerDown { worker: id, pid: self.pid, reason });
        set.free_ids.insert(id);
        true
    }

    /// Waits until every worker has exited. Concurrent callers all wait (the first joins,
    /// the others wait for it); a worker calling it (a task or callback shutting down its own
    /// pool) cannot wait for itself and returns at once.
    fn join_all(&self) {
        let me = std::thread::current().id();
        if self.lock_workers().threads.iter().any(|t| t.handle.thread().id() == me) {
            return;
        }
        let _joining = self.joining.lock().unwrap_or_else(|e| e.into_inner());
        let threads: Vec<WorkerThread> = {
            let mut set = self.lock_workers();
            let (mine, others): (Vec<_>, Vec<_>) = set.threads.drain(..).partition(|t| t.handle.thread().id() == me);
            set.threads = mine;
            others
        };
        for thread in threads {
            let _ = thread.id;
            if let Some(seat) = thread.seat {
                sim::wait_left(seat);
            }
            let _ = thread.handle.join();
        }
    }
}
