//! [`ThreadPool`]: N worker threads fed from one crossbeam-channel queue.

mod worker;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use super::builder::{self, Builder};
use super::counters::SharedCounters;
use super::error::{BROKEN_THREAD_POOL, TaskError};
use super::executor::PoolKind;
use super::front::{Admission, Backend, Pool, Refusal, RunsClosures, Stopping};
use super::future::Future;
use super::gil::{DEFAULT_SWITCH_INTERVAL, Gil};
use super::job::{Job, Single, Specs, Unrun};
use super::probe::{DownReason, EventKind, Telemetry, WorkerId};
use super::queues::SharedQueues;
use super::relay::Relay;
use super::sync::{self, Bell, Clock, PoolThread};
use super::task::{TaskSpec, TaskValue};

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
pub type ThreadPool = Pool<Threads>;

/// A [`ThreadPool`]'s workers: threads in this process, fed from one queue.
pub struct Threads {
    crew: Arc<Crew>,
}

/// What the queue carries: work, or a nudge to re-read the pool's size and state.
pub(crate) enum QueueItem {
    Task(Arc<dyn Single>),
    Job(Box<dyn Job>),
    /// From `set_workers`: leave if the pool is over its size. May sit ahead of queued work.
    Retire,
    /// From a stop: sent behind every job queued before it, so the reader can leave.
    Stop,
}

/// What the pool's handle and its worker threads share.
pub(crate) struct Crew {
    /// Both ends of the queue: a worker whose initializer failed empties it of work and
    /// puts back the wake-ups meant for the others.
    tx: Sender<QueueItem>,
    rx: Receiver<QueueItem>,
    pub(crate) telemetry: Option<Arc<Telemetry>>,
    pub(crate) gil: Option<Gil>,
    pub(crate) queues: Arc<SharedQueues>,
    pub(crate) counters: Arc<SharedCounters>,
    pub(crate) pid: u32,
    name: String,
    /// Python's `thread_name_prefix`: worker `N` is the thread `PREFIX_N`.
    prefix: Option<String>,
    /// Threads are named as CPython names those of a program's only pool.
    python_names: bool,
    /// The pool's size when built: `multiprocessing.pool.ThreadPool` numbers its handler
    /// threads after its first workers.
    size: usize,
    /// Run by each worker once, before its first task.
    pub(crate) initializer: Option<TaskSpec>,
    on_init_failure: InitializerFailure,
    /// An initializer raised: no new worker starts on demand or by a resize.
    init_failed: AtomicBool,
    /// Set under the gate when an initializer raised and the pool broke
    /// ([`InitializerFailure::Break`]): submits are refused.
    broken: AtomicBool,
    /// Set under the gate when every worker died in its initializer
    /// ([`InitializerFailure::WorkerExits`]): no task can run any more.
    stranded: AtomicBool,
    eager: bool,
    /// Workers that finished a task and have not been claimed by a submit since
    /// (`ThreadPoolExecutor._idle_semaphore`); only kept while the pool is below its size.
    idle_tokens: AtomicUsize,
    live: AtomicUsize,
    target: AtomicUsize,
    /// Open, shut or terminated, with the gate submitters and stops take.
    pub(crate) admission: Admission,
    workers: Mutex<WorkerSet>,
    /// Held while joining the workers, so a second `shutdown(wait)` waits too.
    joining: Mutex<()>,
    /// The clock of the run that built the pool.
    pub(crate) clock: Clock,
    /// Rung by every send on the queue, for a worker waiting in a simulated run.
    bell: Bell,
    /// The thread that completes futures, when the pool has one (see
    /// [`ThreadPoolBuilder::results_thread`]).
    pub(crate) relay: Option<Relay>,
}

struct WorkerSet {
    free_ids: BTreeSet<WorkerId>,
    next_id: WorkerId,
    threads: Vec<WorkerThread>,
}

struct WorkerThread {
    busy: Arc<CachePadded<AtomicBool>>,
    thread: PoolThread,
}

/// Configures a [`ThreadPool`].
pub type ThreadPoolBuilder = Builder<ThreadOptions>;

/// A thread pool's own options (see [`ThreadPoolBuilder`]).
#[derive(Debug)]
pub struct ThreadOptions {
    gil: Option<Duration>,
    name: String,
    prefix: Option<String>,
    python_names: bool,
    initializer: Option<TaskSpec>,
    on_init_failure: InitializerFailure,
    results_thread: bool,
}

impl Default for ThreadOptions {
    fn default() -> Self {
        ThreadOptions {
            gil: None,
            name: "poolscope".into(),
            prefix: None,
            python_names: false,
            initializer: None,
            on_init_failure: InitializerFailure::Break,
            results_thread: false,
        }
    }
}

/// What a thread pool does when a worker's initializer raises (see
/// [`ThreadPoolBuilder::initializer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitializerFailure {
    /// As `ThreadPoolExecutor`: the pool breaks. Every queued task fails with
    /// [`TaskError::BrokenThreadPool`], submits are refused with
    /// [`SubmitError::BrokenThreadPool`](crate::pool::SubmitError::BrokenThreadPool); tasks
    /// already running finish.
    #[default]
    Break,
    /// As `multiprocessing.pool.ThreadPool`: the worker thread dies and nothing replaces it.
    /// Once no worker is left no task can run, so queued tasks, and tasks submitted later
    /// (still taken), fail with [`TaskError::BrokenThreadPool`] at once — where a Python
    /// program waits until its `get(timeout)` gives up.
    WorkerExits,
}

/// What the futures of tasks that no worker will ever run fail with, under
/// [`InitializerFailure::WorkerExits`].
const NO_WORKER_LEFT: &str = "every worker thread's initializer raised: no task will run";

impl builder::HasWorkers for ThreadOptions {}

impl builder::SharesMemory for ThreadOptions {}

impl Builder<ThreadOptions> {
    /// Simulate CPython's GIL with this switch interval (see [`Gil`]).
    pub fn gil(mut self, switch_interval: Duration) -> Self {
        self.kind.gil = Some(switch_interval);
        self
    }

    /// Simulate CPython's GIL with its default 5 ms switch interval.
    pub fn with_gil(self) -> Self {
        self.gil(DEFAULT_SWITCH_INTERVAL)
    }

    /// Name prefix of the worker threads (`NAME-worker-ID`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.kind.name = name.into();
        self
    }

    /// Names the worker threads as `ThreadPoolExecutor(thread_name_prefix=PREFIX)` does:
    /// worker `N` is the thread `PREFIX_N`. The pool then reports each worker's name
    /// ([`EventKind::ThreadName`]) and a task's value says which thread ran it
    /// ([`TaskValue::thread`]).
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.kind.prefix = Some(prefix.into());
        self
    }

    /// Names the threads as CPython names those of a program's only pool, and a task's value
    /// says which thread ran it ([`TaskValue::thread`]): worker `N` is
    /// `ThreadPoolExecutor-0_N`, or, with a [`results_thread`](Self::results_thread) (as
    /// `multiprocessing.pool.ThreadPool`), `Thread-{N+1} (worker)`, its results thread
    /// `Thread-{size+3} (_handle_results)`. Unlike a [`thread_name_prefix`](Self::thread_name_prefix),
    /// these names are not reported as the lanes' own.
    pub fn python_thread_names(mut self) -> Self {
        self.kind.python_names = true;
        self
    }

    /// A task each worker runs once, on its own thread, before any other, as
    /// `ThreadPoolExecutor(initializer=...)` and `multiprocessing.pool.ThreadPool(initializer=...)`
    /// do. What it sets up is the worker's own (`LABEL of WORKER`, the initializer's label and
    /// the worker's thread name or `worker N`), and every task that worker runs reports it in
    /// its value (`with LABEL of WORKER`). If it raises (or panics), the worker reports it
    /// ([`EventKind::Initialized`]) and leaves, no worker starts on demand after it, and the
    /// pool does what `on_failure` says.
    pub fn initializer(mut self, spec: TaskSpec, on_failure: InitializerFailure) -> Self {
        self.kind.initializer = Some(spec);
        self.kind.on_init_failure = on_failure;
        self
    }

    /// Completes every future on one thread of the pool's own (`NAME-results`), so every
    /// done-callback runs there, as `multiprocessing.pool.ThreadPool` runs callbacks on its
    /// result-handler thread. By default a worker completes the future of the task it ran,
    /// and its callbacks run on that worker, as in `ThreadPoolExecutor`.
    pub fn results_thread(mut self) -> Self {
        self.kind.results_thread = true;
        self
    }

    /// Builds the pool.
    pub fn build(self) -> ThreadPool {
        let (tx, rx) = crossbeam_channel::unbounded();
        let size = self.workers.unwrap_or_else(default_thread_workers).max(1);
        let clock = Clock::current();
        // Should the OS refuse the thread, the workers complete their futures themselves.
        let results_name = if self.kind.python_names {
            // `Pool.__init__` starts its workers, then its worker, task and result handlers.
            format!("Thread-{} (_handle_results)", size + 3)
        } else {
            format!("{}-results", self.kind.name)
        };
        let relay = self.kind.results_thread.then(|| Relay::start(&clock, &results_name).ok());
        let telemetry = self.probe.map(Telemetry::new);
        let gil = self.kind.gil.map(|interval| Gil::reporting(interval, telemetry.clone()));
        let crew = Arc::new(Crew {
            tx,
            rx,
            telemetry,
            gil,
            queues: self.queues.unwrap_or_default(),
            counters: self.counters.unwrap_or_default(),
            pid: clock.pid(),
            name: self.kind.name,
            prefix: self.kind.prefix,
            python_names: self.kind.python_names,
            size,
            initializer: self.kind.initializer,
            on_init_failure: self.kind.on_init_failure,
            init_failed: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            stranded: AtomicBool::new(false),
            eager: self.eager,
            idle_tokens: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            target: AtomicUsize::new(size),
            admission: Admission::default(),
            workers: Mutex::new(WorkerSet { free_ids: BTreeSet::new(), next_id: 0, threads: Vec::new() }),
            joining: Mutex::new(()),
            bell: Bell::new(&clock),
            relay: relay.flatten(),
            clock,
        });
        if self.eager {
            let mut set = crew.lock_workers();
            // One start each: a worker whose initializer raised may have left already.
            for _ in 0..size {
                crew.spawn(&mut set);
            }
        }
        let telemetry = crew.telemetry.clone();
        Pool::with_backend(Threads { crew }, telemetry)
    }
}

impl Pool<Threads> {
    /// A pool of `n` workers, started lazily.
    pub fn new(n: usize) -> ThreadPool {
        ThreadPool::builder().workers(n).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }
}

impl Backend for Threads {
    type Gate<'a> = MutexGuard<'a, ()>;

    const KIND: PoolKind = PoolKind::Thread;

    fn gate(&self) -> MutexGuard<'_, ()> {
        self.crew.admission.lock()
    }

    fn refusal(&self, _gate: &MutexGuard<'_, ()>) -> Option<Refusal> {
        // As `ThreadPoolExecutor.submit`: a broken pool says so before a shut one does.
        if self.crew.broken.load(Ordering::Acquire) {
            Some(Refusal::BrokenThreadPool)
        } else {
            (!self.crew.admission.is_open()).then_some(Refusal::Shutdown)
        }
    }

    fn is_open(&self) -> bool {
        self.crew.admission.is_open()
    }

    fn send_specs(&self, gate: &mut MutexGuard<'_, ()>, tasks: Vec<(Future<TaskValue>, TaskSpec)>) {
        self.send(QueueItem::Job(Box::new(Specs { tasks })), gate);
    }

    fn shut(&self, cancel_futures: bool) {
        self.stop(Stopping::Shut, cancel_futures.then_some(Unrun::Cancel));
    }

    /// Threads cannot be killed: a running task runs to its end (its result is still
    /// delivered), then its worker exits.
    fn terminate(&self) {
        self.stop(Stopping::Terminated, Some(Unrun::Abandon(TaskError::PoolShutdown)));
    }

    fn join_workers(&self) {
        self.crew.join_all();
    }

    fn set_workers(&self, n: usize) {
        let mut set = self.crew.lock_workers();
        if !self.crew.admission.is_open() {
            return;
        }
        self.crew.target.store(n, Ordering::Relaxed);
        let live = self.crew.live.load(Ordering::Relaxed);
        // Once an initializer raised, no new worker starts (it would raise too).
        if n > live && !self.crew.init_failed.load(Ordering::Acquire) {
            for _ in live..n {
                self.crew.spawn(&mut set);
            }
        } else {
            for _ in n..live {
                let _ = self.crew.tx.send(QueueItem::Retire);
                self.crew.wake_one();
            }
        }
        set.threads.retain(|t| !t.thread.is_finished());
    }

    fn workers(&self) -> usize {
        self.crew.target.load(Ordering::Relaxed)
    }

    fn live_workers(&self) -> usize {
        self.crew.live.load(Ordering::Relaxed)
    }

    fn active(&self) -> usize {
        self.crew.lock_workers().threads.iter().filter(|t| t.busy.load(Ordering::Relaxed)).count()
    }

    /// The channel's length: jobs (a `map` chunk counts once) plus any retire / stop
    /// messages a resize or shutdown has queued.
    fn queued_jobs(&self) -> usize {
        self.crew.rx.len()
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        &self.crew.queues
    }

    fn has_gil(&self) -> bool {
        self.crew.gil.is_some()
    }
}

impl RunsClosures for Threads {
    fn send_single(&self, gate: &mut MutexGuard<'_, ()>, task: Arc<dyn Single>) {
        self.send(QueueItem::Task(task), gate);
    }

    fn send_chunk(&self, gate: &mut MutexGuard<'_, ()>, job: Box<dyn Job>) {
        self.send(QueueItem::Job(job), gate);
    }
}

impl Threads {
    fn send(&self, item: QueueItem, _gate: &MutexGuard<'_, ()>) {
        if self.crew.stranded.load(Ordering::Acquire) {
            // No worker is left to run it (read under the gate, which set it).
            self.crew.never_run(item);
            return;
        }
        // The pool's own receiver lives as long as the pool: the send cannot fail.
        let _ = self.crew.tx.send(item);
        self.crew.wake_one();
        if !self.crew.eager {
            self.crew.start_worker_if_none_idle();
        }
    }

    fn stop(&self, to: Stopping, unrun: Option<Unrun>) {
        self.crew.admission.stop(to);
        if let Some(unrun) = unrun {
            while let Ok(item) = self.crew.rx.try_recv() {
                match item {
                    QueueItem::Task(task) => task.unrun(unrun.clone()),
                    QueueItem::Job(job) => job.unrun(unrun.clone()),
                    QueueItem::Retire | QueueItem::Stop => {}
                }
            }
        }
        // Every worker alive now gets a wake-up behind the queued work; no job can follow it.
        let set = self.crew.lock_workers();
        for _ in 0..self.crew.live.load(Ordering::Relaxed) {
            let _ = self.crew.tx.send(QueueItem::Stop);
            self.crew.wake_one();
        }
        drop(set);
    }
}

impl fmt::Debug for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers())
            .field("live", &self.live_workers())
            .field("active", &self.active())
            .field("queued", &self.queued_jobs())
            .field("gil", &self.crew.gil.is_some())
            .finish()
    }
}

impl Crew {
    fn lock_workers(&self) -> MutexGuard<'_, WorkerSet> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells a worker waiting in a simulated run that an item is queued.
    fn wake_one(&self) {
        self.bell.ring_one();
    }

    /// The next item, waiting for one; `None` once the queue is gone.
    pub(crate) fn next_item(&self) -> Option<QueueItem> {
        sync::recv(&self.rx, &self.bell, None).ok()
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(kind);
        }
    }

    /// `ThreadPoolExecutor._adjust_thread_count`: a submit that finds no idle worker starts
    /// one, up to the pool's size.
    fn start_worker_if_none_idle(self: &Arc<Self>) {
        if self.live.load(Ordering::Relaxed) >= self.target.load(Ordering::Relaxed)
            || self.init_failed.load(Ordering::Acquire)
        {
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
        if !self.admission.is_open() {
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
        let named: Option<Arc<str>> = if let Some(prefix) = &self.prefix {
            // `ThreadPoolExecutor` names its threads `PREFIX_N`.
            let name: Arc<str> = Arc::from(format!("{prefix}_{id}"));
            self.emit(EventKind::ThreadName { worker: id, name: Arc::clone(&name) });
            Some(name)
        } else if self.python_names {
            Some(Arc::from(self.python_name(id)))
        } else {
            None
        };
        if self.initializer.is_some() {
            // The thread's first act: said here, not from the thread, so a lane is never drawn
            // idle between its start and its initializer (a paused clock holds a new thread
            // before its first step).
            self.emit(EventKind::Initializing { worker: id });
        }
        let thread_name = named.as_deref().map_or_else(|| format!("{}-worker-{id}", self.name), str::to_string);
        let busy = Arc::new(CachePadded::new(AtomicBool::new(false)));
        let crew = Arc::clone(self);
        let flag = Arc::clone(&busy);
        let thread = self
            .clock
            .spawn(thread_name, move || worker::run(&crew, id, &flag, named))
            .expect("the OS refused to start a worker thread");
        set.threads.push(WorkerThread { busy, thread });
    }

    /// Worker `id`'s thread name in CPython, for a program's only pool.
    fn python_name(&self, id: WorkerId) -> String {
        if self.relay.is_some() {
            // `multiprocessing.pool.ThreadPool`: its first workers are the program's first
            // threads; the three handlers come next, then any worker started later.
            let number = if id < self.size { id + 1 } else { id + 4 };
            format!("Thread-{number} (worker)")
        } else {
            format!("ThreadPoolExecutor-0_{id}")
        }
    }

    /// Worker `id`'s initializer raised: it leaves, no new worker starts, and the pool breaks
    /// or, once no worker is left, strands (see [`InitializerFailure`]). Either way the work
    /// queued now will never run: it fails at once.
    fn initializer_failed(&self, id: WorkerId) {
        self.init_failed.store(true, Ordering::Release);
        let failed = match self.on_init_failure {
            InitializerFailure::Break => {
                let _gate = self.admission.lock();
                !self.broken.swap(true, Ordering::AcqRel)
            }
            InitializerFailure::WorkerExits => false,
        };
        if failed {
            self.fail_queued();
        }
        self.leave(id, DownReason::Died);
        if self.on_init_failure == InitializerFailure::WorkerExits && self.live.load(Ordering::Relaxed) == 0 {
            let stranded = {
                let _gate = self.admission.lock();
                !self.stranded.swap(true, Ordering::AcqRel)
            };
            if stranded {
                self.fail_queued();
            }
        }
    }

    /// Fails every task in the queue now; the wake-ups in it go back for the workers they
    /// are meant for.
    fn fail_queued(&self) {
        let mut wakeups = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            match item {
                QueueItem::Task(_) | QueueItem::Job(_) => self.never_run(item),
                QueueItem::Retire | QueueItem::Stop => wakeups.push(item),
            }
        }
        for item in wakeups {
            let _ = self.tx.send(item);
            self.wake_one();
        }
    }

    /// Fails the work of `item`, which no worker will run: `BrokenThreadPool`. On a pool with
    /// a results thread its futures complete there, as every other future of the pool does.
    fn never_run(&self, item: QueueItem) {
        let message = match self.on_init_failure {
            InitializerFailure::Break => BROKEN_THREAD_POOL,
            InitializerFailure::WorkerExits => NO_WORKER_LEFT,
        };
        let unrun = Unrun::Abandon(TaskError::BrokenThreadPool(message.into()));
        let fail = move || match item {
            QueueItem::Task(task) => task.unrun(unrun),
            QueueItem::Job(job) => job.unrun(unrun),
            QueueItem::Retire | QueueItem::Stop => {}
        };
        match &self.relay {
            Some(relay) => relay.run(fail),
            None => fail(),
        }
    }

    /// Takes a worker out of the set (it is about to exit): always, or, when it would
    /// retire, only if the pool is above its size. Returns whether it left.
    fn leave(&self, id: WorkerId, reason: DownReason) -> bool {
        let mut set = self.lock_workers();
        if reason == DownReason::Retired && self.live.load(Ordering::Relaxed) <= self.target.load(Ordering::Relaxed) {
            return false;
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        // Reported before the id is freed, so a lane never shows two workers at once.
        self.emit(EventKind::WorkerDown { worker: id, pid: self.pid, reason, cause: None });
        set.free_ids.insert(id);
        true
    }

    /// Waits until every worker has exited. Concurrent callers all wait (the first joins,
    /// the others wait for it); a worker calling it (a task or callback shutting down its own
    /// pool) cannot wait for itself and returns at once.
    fn join_all(&self) {
        let me = std::thread::current().id();
        if self.lock_workers().threads.iter().any(|t| t.thread.id() == me) {
            return;
        }
        let _joining = self.joining.lock().unwrap_or_else(|e| e.into_inner());
        let threads: Vec<WorkerThread> = {
            let mut set = self.lock_workers();
            let (mine, others): (Vec<_>, Vec<_>) = set.threads.drain(..).partition(|t| t.thread.id() == me);
            set.threads = mine;
            others
        };
        for worker in threads {
            worker.thread.join();
        }
        if let Some(relay) = &self.relay {
            relay.stop();
        }
    }
}
