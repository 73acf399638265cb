//! [`Pool`]: the front-end every pool kind shares — submit, map, apply, shutdown, close,
//! join, terminate and the futures' bookkeeping, written once over a small [`Backend`] per
//! kind (worker threads, an event loop, worker processes).
//!
//! ```text
//!   Pool<B> ── gate ─▶ number the task, report it submitted ─▶ B::send_* ─▶ B's workers
//!           └─ shut / terminate / join ─▶ B
//! ```
//!
//! The gate orders submits against stopping: a submit that finds the pool open under the
//! gate has queued its work before any stop can begin, so no work slips in after the
//! workers were told to leave.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::CachePadded;

use super::error::{PoolError, SubmitError, TaskError, TaskResult};
use super::executor::{Executor, PoolKind};
use super::future::Future;
use super::job::{Chunk, Job, Single, single};
use super::map::{MapIter, MapOptions, Unordered};
use super::probe::{EventKind, Phase, TaskId, Telemetry};
use super::queues::SharedQueues;
use super::sync;
use super::task::{TaskEnv, TaskSpec, TaskValue};

/// A pool of workers with the API of Python's `concurrent.futures` executors and
/// `multiprocessing.Pool`. Which workers depends on `B`: see [`super::ThreadPool`],
/// [`super::CoroutinePool`] and [`super::ProcessPool`].
pub struct Pool<B: Backend> {
    backend: B,
    /// Where the pool reports its events (its workers hold the same).
    telemetry: Option<Arc<Telemetry>>,
    /// The next task's id; taken under the gate, so ids follow the order of the submits.
    next_task: AtomicU64,
}

/// Why a pool refuses new work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// After `shutdown`, `close` or `terminate`.
    Shutdown,
    /// A worker process died and broke the pool.
    Broken,
    /// A worker thread's initializer raised and broke the pool.
    BrokenThreadPool,
}

impl Refusal {
    fn hand_back<J>(self, job: J) -> SubmitError<J> {
        match self {
            Refusal::Shutdown => SubmitError::Shutdown(job),
            Refusal::Broken => SubmitError::Broken(job),
            Refusal::BrokenThreadPool => SubmitError::BrokenThreadPool(job),
        }
    }
}

/// How far a pool has stopped. Only ever moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stopping {
    /// Takes work.
    Open = 0,
    /// `shutdown` or `close`: no new work; queued work still runs.
    Shut = 1,
    /// `terminate`: queued work is dropped, workers leave at once.
    Terminated = 2,
}

/// A pool's [`Stopping`] state with the gate that guards it, for the pools whose workers
/// read it without a lock (threads, the event loop).
pub struct Admission {
    /// Changes only under `gate` (Release); read with Acquire, so a worker that sees
    /// `Shut` also sees every job queued before it.
    stopping: AtomicU8,
    /// Padded: the submitter takes it on every submit, and workers read their neighbours
    /// after every task — sharing a cache line would cost every worker a miss per submit.
    gate: CachePadded<Mutex<()>>,
}

impl Default for Admission {
    fn default() -> Self {
        Admission { stopping: AtomicU8::new(Stopping::Open as u8), gate: CachePadded::new(Mutex::new(())) }
    }
}

impl Admission {
    /// Takes the gate.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the pool is now.
    pub fn stopping(&self) -> Stopping {
        match self.stopping.load(Ordering::Acquire) {
            0 => Stopping::Open,
            1 => Stopping::Shut,
            _ => Stopping::Terminated,
        }
    }

    /// True while the pool takes work.
    pub fn is_open(&self) -> bool {
        self.stopping() == Stopping::Open
    }

    /// Moves to `to` unless already further, under the gate.
    pub fn stop(&self, to: Stopping) {
        let _gate = self.lock();
        if self.stopping() < to {
            self.stopping.store(to as u8, Ordering::Release);
        }
    }
}

/// What a pool kind provides to [`Pool`]: where its work goes and how it stops.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// Held while a submit numbers and queues its tasks; stopping waits for it.
    type Gate<'a>
    where
        Self: 'a;

    /// Which kind of pool this is.
    const KIND: PoolKind;

    /// Takes the gate.
    fn gate(&self) -> Self::Gate<'_>;

    /// Why the pool takes no new work, if it does not (read under the gate).
    fn refusal(&self, gate: &Self::Gate<'_>) -> Option<Refusal>;

    /// True until `shutdown`, `close` or `terminate`.
    fn is_open(&self) -> bool;

    /// Queues consecutive task specs that one worker runs back to back.
    fn send_specs(&self, gate: &mut Self::Gate<'_>, tasks: Vec<(Future<TaskValue>, TaskSpec)>);

    /// Everything one submit call queues was sent: the pool may hand it out. (A process
    /// pool's call queue is filled once per submit call, as CPython's manager thread wakes
    /// once for a burst of submits.)
    fn sent(&self, _gate: &mut Self::Gate<'_>) {}

    /// `shutdown`'s stop: no new work; with `cancel_futures`, cancels what no worker took.
    fn shut(&self, cancel_futures: bool);

    /// Drops queued work, stops the workers as far as they can be stopped.
    fn terminate(&self);

    /// Waits for every worker to exit (unless called from one of them).
    fn join_workers(&self);

    /// Grows or shrinks the pool while it runs.
    fn set_workers(&self, n: usize);

    /// The pool's size: the workers it runs when busy.
    fn workers(&self) -> usize;

    /// Workers alive now.
    fn live_workers(&self) -> usize;

    /// Workers running a task now.
    fn active(&self) -> usize;

    /// Queued jobs.
    fn queued_jobs(&self) -> usize;

    /// The named queues the tasks share.
    fn queues(&self) -> &Arc<SharedQueues>;

    /// True for a thread pool simulating the GIL.
    fn has_gil(&self) -> bool {
        false
    }
}

/// A [`Backend`] whose workers live in this process, so they can run Rust closures.
pub trait RunsClosures: Backend {
    /// Queues one closure.
    fn send_single(&self, gate: &mut Self::Gate<'_>, task: Arc<dyn Single>);

    /// Queues a chunk of `map` items.
    fn send_chunk(&self, gate: &mut Self::Gate<'_>, job: Box<dyn Job>);
}

impl<B: Backend> Pool<B> {
    pub(crate) fn with_backend(backend: B, telemetry: Option<Arc<Telemetry>>) -> Pool<B> {
        Pool { backend, telemetry, next_task: AtomicU64::new(0) }
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    /// The id of the next task, reported as submitted and counted into the queue. Taken
    /// under the gate.
    fn number(&self, _gate: &B::Gate<'_>, spec: Option<&TaskSpec>) -> TaskId {
        let id = self.next_task.fetch_add(1, Ordering::Relaxed);
        if let Some(telemetry) = self.telemetry.as_ref() {
            telemetry.submitted(id, spec);
        }
        id
    }

    fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = self.telemetry.as_ref() {
            telemetry.emit(kind);
        }
    }

    /// Queues `items` in chunks of `chunksize`, each chunk one job; one future per item.
    fn queue_chunks<X, R: 'static>(
        &self,
        items: Vec<X>,
        chunksize: usize,
        spec_of: fn(&X) -> Option<&TaskSpec>,
        send: impl Fn(&B, &mut B::Gate<'_>, Vec<(Future<R>, X)>),
    ) -> Result<Vec<Future<R>>, SubmitError<Vec<X>>> {
        let mut gate = self.backend.gate();
        if let Some(refusal) = self.backend.refusal(&gate) {
            return Err(refusal.hand_back(items));
        }
        let mut futures = Vec::with_capacity(items.len());
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(Future<R>, X)> = items
                .by_ref()
                .take(chunksize.max(1))
                .map(|item| {
                    let id = self.number(&gate, spec_of(&item));
                    (Future::new(id, self.telemetry.as_ref().cloned()), item)
                })
                .collect();
            futures.extend(chunk.iter().map(|(future, _)| future.clone()));
            send(&self.backend, &mut gate, chunk);
        }
        self.backend.sent(&mut gate);
        Ok(futures)
    }

    /// Schedules a task spec and returns its future; its value says which worker ran it.
    ///
    /// # Errors
    /// The spec handed back: [`SubmitError::Shutdown`] after `shutdown`, `close` or
    /// `terminate`; [`SubmitError::Broken`] once a worker process died and broke the pool;
    /// [`SubmitError::BrokenThreadPool`] once a worker thread's initializer raised.
    pub fn submit_task(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        Executor::submit_spec(self, spec)
    }

    /// Schedules specs in chunks of `chunksize` consecutive specs, each chunk run back to
    /// back by one worker (for a process pool, one message: one round trip per chunk). One
    /// future per spec, in order.
    ///
    /// # Errors
    /// As [`Pool::submit_task`], with every spec handed back.
    pub fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        self.queue_chunks(specs, chunksize, |spec| Some(spec), B::send_specs)
    }

    /// Runs the specs in chunks of `options.chunksize` and yields their results in input
    /// order, as `Executor.map`.
    ///
    /// # Errors
    /// As [`Pool::submit_tasks`].
    pub fn map_tasks(
        &self,
        specs: Vec<TaskSpec>,
        options: MapOptions,
    ) -> Result<MapIter<TaskValue>, SubmitError<Vec<TaskSpec>>> {
        // Python takes the deadline before it consumes the items.
        let deadline = options.timeout.map(|t| sync::now() + t);
        Ok(MapIter::until(self.submit_tasks(specs, options.chunksize)?, deadline))
    }

    /// `multiprocessing.Pool.apply` for a spec: runs it on a worker and waits.
    ///
    /// # Errors
    /// [`TaskError::PoolShutdown`] if the pool takes no new work; the task's own error.
    pub fn apply_task(&self, spec: TaskSpec) -> TaskResult<TaskValue> {
        self.submit_task(spec).map_err(|_| TaskError::PoolShutdown)?.result(None)
    }

    /// Grows or shrinks the pool to `n` workers (at least 1) while it runs. Growing starts
    /// the new workers at once; shrinking lets running tasks finish, then those workers
    /// leave. Worker ids stay with their workers; freed ids are reused, lowest first. A
    /// coroutine pool has one worker, its loop, and ignores this.
    pub fn set_workers(&self, n: usize) {
        self.backend.set_workers(n.max(1));
    }

    /// The pool's size: the number of workers it runs when busy.
    pub fn workers(&self) -> usize {
        self.backend.workers()
    }

    /// Workers alive now (fewer than [`Pool::workers`] while lazily starting or shrinking).
    pub fn live_workers(&self) -> usize {
        self.backend.live_workers()
    }

    /// Workers running a task now (for a coroutine pool: tasks alive on the loop).
    pub fn active(&self) -> usize {
        self.backend.active()
    }

    /// Jobs waiting in the pool's queue: a `map` chunk counts once, and a cancelled task
    /// counts until a worker skips it. (The exact depth over time is in the event stream:
    /// a reader counts submits in and starts, cancels and abandons out, as the run's feed
    /// does, so the pool's hot path shares no counter between threads.)
    pub fn queued(&self) -> usize {
        self.backend.queued_jobs()
    }

    /// The named queues the tasks share.
    pub fn queues(&self) -> &Arc<SharedQueues> {
        self.backend.queues()
    }

    /// Stops taking work. With `cancel_futures`, cancels every task no worker has taken.
    /// With `wait`, returns once every worker has finished and exited (unless called from
    /// one of its own workers, which cannot wait for itself). Calling it again is harmless.
    /// As `Executor.shutdown`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.emit(EventKind::Shutdown { wait, phase: Phase::Begin });
        self.backend.shut(cancel_futures);
        if wait {
            self.backend.join_workers();
        }
        self.emit(EventKind::Shutdown { wait, phase: Phase::End });
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
        if self.backend.is_open() {
            return Err(PoolError::StillRunning);
        }
        self.backend.join_workers();
        Ok(())
    }

    /// `multiprocessing.Pool.terminate`: tasks not started fail with
    /// [`TaskError::PoolShutdown`], the shared queues close, and the workers stop. Worker
    /// processes are killed at once (their running tasks fail with
    /// [`TaskError::WorkerDied`]); a thread cannot be killed, so a running task runs to its
    /// end, then its worker exits; an event loop stops at its next turn. Returns without
    /// waiting: [`Pool::join`] waits.
    pub fn terminate(&self) {
        self.backend.terminate();
        self.backend.queues().close();
    }
}

impl<B: RunsClosures> Pool<B> {
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
        self.submit_closure(f, |f| Ok(f()))
    }

    /// Like [`Pool::submit`] for work that can fail: `Err(e)` becomes
    /// [`TaskError::Failed`] with `e`'s message, as an exception raised by a Python task.
    ///
    /// # Errors
    /// As [`Pool::submit`].
    pub fn submit_fallible<F, T, E>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Display,
    {
        self.submit_closure(f, |f| f().map_err(|e| TaskError::Failed(e.to_string())))
    }

    fn submit_closure<F, T>(&self, f: F, call: fn(F) -> TaskResult<T>) -> Result<Future<T>, SubmitError<F>>
    where
        F: Send + 'static,
        T: Send + 'static,
    {
        let mut gate = self.backend.gate();
        if let Some(refusal) = self.backend.refusal(&gate) {
            return Err(refusal.hand_back(f));
        }
        let id = self.number(&gate, None);
        let (future, task) = single(id, self.telemetry.as_ref().cloned(), move |_: &dyn TaskEnv| call(f), |_| None);
        self.backend.send_single(&mut gate, task);
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
        let deadline = options.timeout.map(|t| sync::now() + t);
        let futures = self.submit_chunks(f, items, options.chunksize)?;
        Ok(MapIter::until(futures, deadline))
    }

    /// `multiprocessing.Pool.imap`: [`Pool::map`] without a timeout.
    ///
    /// # Errors
    /// As [`Pool::map`].
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
    /// As [`Pool::map`].
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
        let function = Arc::new(f);
        self.queue_chunks(
            items.into_iter().collect(),
            chunksize,
            |_| None,
            |backend, gate, items| {
                backend.send_chunk(gate, Box::new(Chunk { function: Arc::clone(&function), items }));
            },
        )
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

    /// `multiprocessing.Pool.apply_async`: the same as [`Pool::submit`].
    ///
    /// # Errors
    /// As [`Pool::submit`].
    pub fn apply_async<F, T>(&self, f: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(f)
    }
}

impl<B: Backend> Drop for Pool<B> {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl<B: Backend> fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.backend.fmt(f)
    }
}

impl<B: Backend> Executor for Pool<B> {
    fn kind(&self) -> PoolKind {
        B::KIND
    }

    fn has_gil(&self) -> bool {
        self.backend.has_gil()
    }

    fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        Pool::submit_tasks(self, specs, chunksize)
    }

    fn set_workers(&self, n: usize) {
        Pool::set_workers(self, n);
    }

    fn workers(&self) -> usize {
        Pool::workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Pool::shutdown(self, wait, cancel_futures);
    }

    fn terminate(&self) {
        Pool::terminate(self);
    }

    fn join(&self) -> Result<(), PoolError> {
        Pool::join(self)
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        Pool::queues(self)
    }
}
