//! [`ProcessPool`]: N worker processes fed over pipes, with the API of
//! `concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool`.
//!
//! The workers are copies of a program that calls [`worker_main_if_requested`] first thing
//! in `main` — by default the current executable, as `multiprocessing` re-runs the Python
//! interpreter. Work crosses the process boundary as [`TaskSpec`]s (data, never closures)
//! in a small versioned binary framing over each worker's stdin and stdout; results come
//! back tagged with the worker's real PID.
//!
//! ```text
//!  submit ─▶ pending jobs ─▶ lane 0: writer ─▶ stdin │ worker process │ stdout ─▶ reader ─▶ futures
//!                         └▶ lane 1: writer ─▶ stdin │ worker process │ stdout ─▶ reader ─┘
//! ```
//!
//! A worker never outlives the pool's process: it exits when its stdin closes, and a watch
//! thread in it exits within 50 ms of the parent's death, even if the parent was killed
//! with `SIGKILL` in the middle of a CPU-bound task.

mod dispatch;
mod pipes;
mod wire;
mod worker;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use self::dispatch::{Deferred, Job, Queued, Shared, State, Stopping};
use super::error::{PoolError, SubmitError, TaskError, TaskResult};
use super::executor::{Executor, PoolKind};
use super::future::Future;
use super::map::{MapIter, MapOptions};
use super::probe::{EventKind, Phase, Probe, Telemetry, WorkerId};
use super::queues::SharedQueues;
use super::task::{self, TaskSpec, TaskValue};

/// The environment variable that makes a program a process-pool worker (see
/// [`worker_main_if_requested`]).
pub const WORKER_ENV: &str = "POOLSCOPE_WORKER";

/// Set for the workers of a pool in a simulated run: their tasks take no real time (the
/// parent keeps the virtual time; see [`crate::pool::sim`]).
const SIMULATED_ENV: &str = "POOLSCOPE_SIMULATED";

/// Runs this process as a [`ProcessPool`] worker if it was started as one, and returns the
/// exit code to leave with; returns `None` in every other process.
///
/// Call it first thing in `main` of any program that is (or may be) a pool's worker program,
/// like `multiprocessing.freeze_support()`: the pool starts workers by running the program
/// with [`WORKER_ENV`] set, and speaks to them over stdin and stdout, so nothing else may
/// run or print before this call.
///
/// # Examples
/// ```no_run
/// use std::process::ExitCode;
///
/// fn main() -> ExitCode {
///     if let Some(code) = poolscope::pool::process::worker_main_if_requested() {
///         return code;
///     }
///     // ... the program proper, which may build a ProcessPool ...
///     ExitCode::SUCCESS
/// }
/// ```
pub fn worker_main_if_requested() -> Option<ExitCode> {
    std::env::var_os(WORKER_ENV)?;
    Some(worker::main())
}

/// What a [`ProcessPool`] does when a worker process dies under a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnWorkerDeath {
    /// Like `BrokenProcessPool`: the task fails with [`TaskError::WorkerDied`], every task
    /// not started fails too, and submits are refused with [`SubmitError::Broken`].
    #[default]
    Break,
    /// The task fails with [`TaskError::WorkerDied`]; a new process takes the dead one's
    /// lane and the tasks waiting there run on. No task is lost, none runs twice.
    Respawn,
}

/// Configures a [`ProcessPool`].
pub struct ProcessPoolBuilder {
    workers: Option<usize>,
    eager: bool,
    probe: Option<Arc<dyn Probe>>,
    on_death: OnWorkerDeath,
    initializer: Option<TaskSpec>,
    queues: Option<Arc<SharedQueues>>,
    program: Option<PathBuf>,
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("workers", &self.workers)
            .field("eager", &self.eager)
            .field("probe", &self.probe.is_some())
            .field("on_worker_death", &self.on_death)
            .field("initializer", &self.initializer)
            .field("worker_program", &self.program)
            .finish()
    }
}

impl ProcessPoolBuilder {
    /// The number of worker processes (at least 1). Default: the number of CPUs, as
    /// `ProcessPoolExecutor`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Start every worker now. Default: lazily, one per submit that finds no idle worker.
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = eager;
        self
    }

    /// Report events to `probe`.
    pub fn probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// What to do when a worker process dies. Default: [`OnWorkerDeath::Break`].
    pub fn on_worker_death(mut self, policy: OnWorkerDeath) -> Self {
        self.on_death = policy;
        self
    }

    /// A task each new worker runs once before any other. If it raises (or crashes the
    /// worker) the pool breaks, whatever [`ProcessPoolBuilder::on_worker_death`] says.
    pub fn initializer(mut self, spec: TaskSpec) -> Self {
        self.initializer = Some(spec);
        self
    }

    /// Share these named queues with the tasks (`queue_put` / `queue_get`).
    pub fn queues(mut self, queues: Arc<SharedQueues>) -> Self {
        self.queues = Some(queues);
        self
    }

    /// The program the workers run; it must call [`worker_main_if_requested`] first thing.
    /// Default: [`std::env::current_exe`]. Tests and examples, which are not the poolscope
    /// binary, pass it here (`env!("CARGO_BIN_EXE_poolscope")`).
    pub fn worker_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// Builds the pool (starting its workers if eager).
    ///
    /// # Errors
    /// When the worker program cannot be found or, for an eager pool, started.
    pub fn build(self) -> io::Result<ProcessPool> {
        let program = match self.program {
            Some(program) => program,
            None => std::env::current_exe()?,
        };
        // A lazy pool starts nothing yet: find a missing program now, not at the first submit.
        std::fs::metadata(&program)
            .map_err(|e| io::Error::new(e.kind(), format!("worker program {}: {e}", program.display())))?;
        let size = self.workers.unwrap_or_else(super::cpus).max(1);
        let shared = Arc::new(Shared {
            telemetry: self.probe.map(Telemetry::new),
            queues: self.queues.unwrap_or_default(),
            program,
            eager: self.eager,
            on_death: self.on_death,
            initializer: self.initializer,
            spin_rate: task::spin_rate_per_ms(),
            next_task: AtomicU64::new(0),
            state: Mutex::new(State {
                pending: VecDeque::new(),
                lanes: BTreeMap::new(),
                free_ids: BTreeSet::new(),
                next_id: 0,
                target: size,
                stopping: Stopping::Open,
                broken: None,
            }),
            threads: Mutex::new(Vec::new()),
            sim: crate::pool::sim::current(),
        });
        let pool = ProcessPool { shared };
        if self.eager {
            let mut deferred = Deferred::default();
            let started = {
                let mut state = pool.shared.lock();
                (0..size).try_for_each(|_| state.spawn_new(&pool.shared, &mut deferred))
            };
            deferred.run();
            // Dropping the pool on error stops the workers already started.
            started?;
        }
        Ok(pool)
    }
}

/// A pool of worker processes with the API of `concurrent.futures.ProcessPoolExecutor`
/// and `multiprocessing.Pool`, plus live resizing and a choice of what a worker's death
/// does ([`OnWorkerDeath`]).
///
/// Tasks are [`TaskSpec`]s. A job (one spec from [`ProcessPool::submit_task`], or a chunk
/// of `chunksize` specs from [`ProcessPool::submit_tasks`]) goes to one worker as one
/// message, and its tasks are marked running as it is handed over — so, as in Python, a
/// chunk can no longer be cancelled once a worker has it. Done-callbacks run in this
/// process, on the thread that reads the worker's results.
///
/// # Examples
/// ```no_run
/// use poolscope::pool::process::ProcessPool;
/// use poolscope::pool::{TaskSpec, Work};
/// use std::time::Duration;
///
/// // The worker program must call `worker_main_if_requested` first in `main`; the
/// // poolscope binary does.
/// let pool = ProcessPool::builder().workers(2).worker_program("target/release/poolscope").build()?;
/// let future = pool.submit_task(TaskSpec::new(Work::SumSquares { n: 1000 }, Duration::ZERO, "squares")).unwrap();
/// let value = future.result(None).unwrap();
/// assert_ne!(value.pid, std::process::id());
/// assert_eq!(value.output.as_deref(), Some("332833500"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ProcessPool {
    shared: Arc<Shared>,
}

impl ProcessPool {
    /// A pool of `n` worker processes of the current executable, started lazily.
    ///
    /// # Errors
    /// When the current executable cannot be found.
    pub fn new(n: usize) -> io::Result<ProcessPool> {
        ProcessPool::builder().workers(n).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            workers: None,
            eager: false,
            probe: None,
            on_death: OnWorkerDeath::default(),
            initializer: None,
            queues: None,
            program: None,
        }
    }

    /// Schedules a task spec and returns its future. Never blocks (a worker process may be
    /// started, lazily).
    ///
    /// # Errors
    /// The spec handed back: [`SubmitError::Shutdown`] after `shutdown`, `close` or
    /// `terminate`; [`SubmitError::Broken`] once a worker died under
    /// [`OnWorkerDeath::Break`].
    pub fn submit_task(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        Executor::submit_spec(self, spec)
    }

    /// Schedules specs in chunks of `chunksize`; each chunk goes to one worker as one
    /// message (batching: one round trip per chunk instead of per task). One future per
    /// spec, in order.
    ///
    /// # Errors
    /// As [`ProcessPool::submit_task`], with every spec handed back.
    pub fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        let mut deferred = Deferred::default();
        let mut futures = Vec::with_capacity(specs.len());
        {
            let mut state = self.shared.lock();
            if state.broken.is_some() {
                return Err(SubmitError::Broken(specs));
            }
            if state.stopping != Stopping::Open {
                return Err(SubmitError::Shutdown(specs));
            }
            let mut specs = specs.into_iter().peekable();
            while specs.peek().is_some() {
                let tasks: Vec<Queued> = specs
                    .by_ref()
                    .take(chunksize.max(1))
                    .map(|spec| Queued { future: self.shared.new_future(&spec), spec, begun: false })
                    .collect();
                futures.extend(tasks.iter().map(|q| q.future.clone()));
                state.pending.push_back(Job::new(tasks));
                state.start_if_none_idle(&self.shared, &mut deferred);
                state.dispatch(&self.shared);
            }
        }
        deferred.run();
        Ok(futures)
    }

    /// Runs the specs in chunks of `options.chunksize` and yields their results in input
    /// order, as `Executor.map`.
    ///
    /// # Errors
    /// As [`ProcessPool::submit_tasks`].
    pub fn map_tasks(
        &self,
        specs: Vec<TaskSpec>,
        options: MapOptions,
    ) -> Result<MapIter<TaskValue>, SubmitError<Vec<TaskSpec>>> {
        // Python takes the deadline before it consumes the items.
        let deadline = options.timeout.map(|t| crate::pool::sim::now() + t);
        let futures = self.submit_tasks(specs, options.chunksize)?;
        Ok(MapIter::until(futures, deadline))
    }

    /// `multiprocessing.Pool.apply`: runs a spec on a worker and waits for its result.
    ///
    /// # Errors
    /// [`TaskError::PoolShutdown`] if the pool takes no new work; the task's own error.
    pub fn apply(&self, spec: TaskSpec) -> TaskResult<TaskValue> {
        self.submit_task(spec).map_err(|_| TaskError::PoolShutdown)?.result(None)
    }

    /// `multiprocessing.Pool.apply_async`: the same as [`ProcessPool::submit_task`].
    ///
    /// # Errors
    /// As [`ProcessPool::submit_task`].
    pub fn apply_async(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        self.submit_task(spec)
    }

    /// Grows or shrinks the pool to `n` workers (at least 1) while it runs. Growing starts
    /// the new processes at once; shrinking retires idle workers first, then the highest
    /// ids, each after its current task. Worker ids stay with their lanes; freed ids are
    /// reused, lowest first.
    pub fn set_workers(&self, n: usize) {
        let mut deferred = Deferred::default();
        {
            let mut state = self.shared.lock();
            if !state.closing() {
                state.resize(&self.shared, n.max(1), &mut deferred);
            }
        }
        deferred.run();
    }

    /// The pool's size: the number of workers it runs when busy.
    pub fn workers(&self) -> usize {
        self.shared.lock().target
    }

    /// Worker processes that take work now (fewer than [`ProcessPool::workers`] while
    /// lazily starting or shrinking).
    pub fn live_workers(&self) -> usize {
        self.shared.lock().live()
    }

    /// Workers running a task now.
    pub fn active(&self) -> usize {
        self.shared.lock().active()
    }

    /// Tasks waiting to start.
    pub fn queued(&self) -> usize {
        match &self.shared.telemetry {
            Some(telemetry) => telemetry.queued(),
            None => self.shared.lock().waiting(),
        }
    }

    /// `(worker, pid)` of every worker process alive now, by worker id.
    pub fn pids(&self) -> Vec<(WorkerId, u32)> {
        self.shared.lock().pids()
    }

    /// Why the pool broke, if a worker died under [`OnWorkerDeath::Break`].
    pub fn broken(&self) -> Option<String> {
        self.shared.lock().broken.clone()
    }

    /// The named queues the tasks share.
    pub fn queues(&self) -> &Arc<SharedQueues> {
        &self.shared.queues
    }

    /// Stops taking work. With `cancel_futures`, cancels every task no worker has taken.
    /// With `wait`, returns once every worker process has exited. Calling it again is
    /// harmless. As `Executor.shutdown`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::Begin });
        let mut deferred = Deferred::default();
        {
            let mut state = self.shared.lock();
            if state.stopping == Stopping::Open {
                state.stopping = Stopping::Shut;
            }
            if cancel_futures {
                for job in &mut state.pending {
                    // Tasks handed back by a dead worker are already running: they stay.
                    let (begun, cancel): (Vec<Queued>, Vec<Queued>) = job.tasks.drain(..).partition(|q| q.begun);
                    job.tasks = begun;
                    for queued in cancel {
                        deferred.cancel(queued.future);
                    }
                }
                state.pending.retain(|job| !job.tasks.is_empty());
            }
            state.dispatch(&self.shared);
        }
        deferred.run();
        if wait {
            self.shared.join_all();
        }
        self.shared.emit(EventKind::Shutdown { wait, phase: Phase::End });
    }

    /// `multiprocessing.Pool.close`: no new work; queued work still runs.
    pub fn close(&self) {
        self.shutdown(false, false);
    }

    /// `multiprocessing.Pool.join`: waits for the worker processes to exit.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] unless `close`, `shutdown` or `terminate` came first.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.shared.lock().stopping == Stopping::Open {
            return Err(PoolError::StillRunning);
        }
        self.shared.join_all();
        Ok(())
    }

    /// `multiprocessing.Pool.terminate`: kills every worker process at once. Tasks not
    /// started fail with [`TaskError::PoolShutdown`], running ones with
    /// [`TaskError::WorkerDied`]; the shared queues close. Returns without waiting; use
    /// [`ProcessPool::join`] to wait for the processes to be reaped.
    pub fn terminate(&self) {
        let mut deferred = Deferred::default();
        self.shared.lock().terminate(&self.shared, &mut deferred);
        deferred.run();
        self.shared.queues.close();
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ProcessPool")
            .field("workers", &state.target)
            .field("live", &state.live())
            .field("active", &state.active())
            .field("queued", &state.waiting())
            .field("pids", &state.pids())
            .field("broken", &state.broken)
            .finish()
    }
}

impl Executor for ProcessPool {
    fn kind(&self) -> PoolKind {
        PoolKind::Process
    }

    fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>> {
        ProcessPool::submit_tasks(self, specs, chunksize)
    }

    fn set_workers(&self, n: usize) {
        ProcessPool::set_workers(self, n);
    }

    fn workers(&self) -> usize {
        ProcessPool::workers(self)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPool::shutdown(self, wait, cancel_futures);
    }

    fn terminate(&self) {
        ProcessPool::terminate(self);
    }

    fn join(&self) -> Result<(), PoolError> {
        ProcessPool::join(self)
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        ProcessPool::queues(self)
    }
}
