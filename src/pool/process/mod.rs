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
//!  submit ─▶ pending jobs ─▶ lane 0: writer ─▶ stdin │ worker process │ stdout ─▶ reader ─▶ results ─▶ futures
//!                         └▶ lane 1: writer ─▶ stdin │ worker process │ stdout ─▶ reader ─┘  thread
//! ```
//!
//! A worker never outlives the pool's process: it exits when its stdin closes, and a watch
//! thread in it exits within 50 ms of the parent's death, even if the parent was killed
//! with `SIGKILL` in the middle of a CPU-bound task.

mod dispatch;
mod pipes;
mod wire;
mod worker;

#[doc(hidden)]
pub use wire::decode_stream;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use self::dispatch::{Gate, Job, Queued, State, Supervisor};
use super::builder::{self, Builder};
use super::executor::PoolKind;
use super::front::{Backend, Pool, Refusal, Stopping};
use super::future::Future;
use super::probe::{Telemetry, WorkerId};
use super::queues::SharedQueues;
use super::relay::Relay;
use super::sync::{Bell, Clock};
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
    /// Like `BrokenProcessPool`: the task fails with [`TaskError::WorkerDied`](crate::pool::TaskError::WorkerDied), every task
    /// not started fails too, and submits are refused with [`SubmitError::Broken`](crate::pool::SubmitError::Broken).
    #[default]
    Break,
    /// The task fails with [`TaskError::WorkerDied`](crate::pool::TaskError::WorkerDied); a new process takes the dead one's
    /// lane and the tasks waiting there run on. No task is lost, none runs twice.
    Respawn,
}

/// How a [`ProcessPool`] starts its workers, named after `multiprocessing`'s start methods
/// whose timing it follows. (Either way a worker is a fresh run of the worker program.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// Every worker at the first submit, as `ProcessPoolExecutor` does under `fork`, the
    /// default on Linux up to Python 3.13.
    #[default]
    Fork,
    /// One worker per submit that finds none idle, up to the pool's size, as
    /// `ProcessPoolExecutor` does under `spawn` (the default on macOS and Windows) and
    /// `forkserver`.
    Spawn,
}

impl StartMethod {
    /// `"fork"` or `"spawn"`.
    pub fn named(name: &str) -> Option<StartMethod> {
        match name {
            "fork" => Some(StartMethod::Fork),
            "spawn" => Some(StartMethod::Spawn),
            _ => None,
        }
    }

    /// `fork` or `spawn`, as `multiprocessing` names them.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
        }
    }
}

/// Configures a [`ProcessPool`].
pub type ProcessPoolBuilder = Builder<ProcessOptions>;

/// A process pool's own options (see [`ProcessPoolBuilder`]).
#[derive(Debug, Default)]
pub struct ProcessOptions {
    on_death: OnWorkerDeath,
    initializer: Option<TaskSpec>,
    program: Option<PathBuf>,
    start: StartMethod,
    max_tasks: Option<usize>,
    results_thread: Option<String>,
    task_thread: Option<String>,
}

impl builder::HasWorkers for ProcessOptions {}

impl Builder<ProcessOptions> {
    /// Names the parent's thread that completes every future, and so runs every
    /// done-callback (`poolscope-results` by default): CPython's is the executor's management
    /// thread, `Thread-1` in a program's first `ProcessPoolExecutor`, or
    /// `multiprocessing.Pool`'s `Thread-3 (_handle_results)`.
    pub fn results_thread_name(mut self, name: impl Into<String>) -> Self {
        self.kind.results_thread = Some(name.into());
        self
    }

    /// The thread a task's value says ran it ([`TaskValue::thread`]): a worker process runs
    /// its tasks on its main thread, which Python calls `MainThread`. By default a value
    /// names its worker instead (`worker N`).
    pub fn task_thread_name(mut self, name: impl Into<String>) -> Self {
        self.kind.task_thread = Some(name.into());
        self
    }

    /// What to do when a worker process dies. Default: [`OnWorkerDeath::Break`].
    pub fn on_worker_death(mut self, policy: OnWorkerDeath) -> Self {
        self.kind.on_death = policy;
        self
    }

    /// When workers start: all at the first submit ([`StartMethod::Fork`], the default) or
    /// one per submit that finds none idle ([`StartMethod::Spawn`]).
    pub fn start_method(mut self, start: StartMethod) -> Self {
        self.kind.start = start;
        self
    }

    /// Replaces a worker process by a new one (same lane, new PID) after it ran `n` jobs, as
    /// `multiprocessing.Pool(maxtasksperchild=n)` and `ProcessPoolExecutor(max_tasks_per_child=n)`
    /// do. A job is one submitted task, or one chunk of a map.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.kind.max_tasks = Some(n.max(1));
        self
    }

    /// A task each new worker runs once before any other. If it raises (or crashes the
    /// worker) the pool breaks, whatever [`ProcessPoolBuilder::on_worker_death`] says.
    pub fn initializer(mut self, spec: TaskSpec) -> Self {
        self.kind.initializer = Some(spec);
        self
    }

    /// The program the workers run; it must call [`worker_main_if_requested`] first thing.
    /// Default: [`std::env::current_exe`]. Tests and examples, which are not the poolscope
    /// binary, pass it here (`env!("CARGO_BIN_EXE_poolscope")`).
    pub fn worker_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.kind.program = Some(path.into());
        self
    }

    /// Builds the pool (starting its workers if eager).
    ///
    /// # Errors
    /// When the worker program cannot be found or, for an eager pool, started.
    pub fn build(self) -> io::Result<ProcessPool> {
        let program = match self.kind.program {
            Some(program) => program,
            None => std::env::current_exe()?,
        };
        // A lazy pool starts nothing yet: find a missing program now, not at the first submit.
        std::fs::metadata(&program)
            .map_err(|e| io::Error::new(e.kind(), format!("worker program {}: {e}", program.display())))?;
        let size = self.workers.unwrap_or_else(super::cpus).max(1);
        let clock = Clock::current();
        let relay = Relay::start(&clock, self.kind.results_thread.as_deref().unwrap_or("poolscope-results"))?;
        let supervisor = Arc::new(Supervisor {
            telemetry: self.probe.map(Telemetry::new),
            task_thread: self.kind.task_thread.map(Arc::from),
            queues: self.queues.unwrap_or_default(),
            program,
            eager: self.eager,
            start: self.kind.start,
            max_tasks: self.kind.max_tasks,
            on_death: self.kind.on_death,
            initializer: self.kind.initializer,
            spin_rate: task::spin_rate_per_ms(),
            state: Mutex::new(State {
                pending: VecDeque::new(),
                lanes: BTreeMap::new(),
                free_ids: BTreeSet::new(),
                next_id: 0,
                target: size,
                stopping: Stopping::Open,
                broken: None,
                launched: self.eager,
                idle_tokens: 0,
            }),
            threads: Mutex::new(Vec::new()),
            bell: Bell::new(&clock),
            ticks: std::sync::atomic::AtomicU64::new(0),
            relay,
            clock,
        });
        let telemetry = supervisor.telemetry.clone();
        let pool = Pool::with_backend(Processes { supervisor }, telemetry);
        if self.eager {
            let supervisor = &pool.backend().supervisor;
            let mut gate = Gate::new(supervisor);
            let (state, deferred) = gate.parts();
            let started = (0..size).try_for_each(|_| state.spawn_new(supervisor, deferred));
            drop(gate);
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
/// Tasks are [`TaskSpec`]s. A job (one spec from [`Pool::submit_task`], or a chunk
/// of `chunksize` specs from [`Pool::submit_tasks`]) goes to one worker as one
/// message, and its tasks are marked running as it is handed over — so, as in Python, a
/// chunk can no longer be cancelled once a worker has it. Done-callbacks run in this
/// process, all on one thread, the pool's results thread (`poolscope-results`), as
/// `ProcessPoolExecutor` runs them on its management thread: a slow callback holds up the
/// results behind it.
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
pub type ProcessPool = Pool<Processes>;

/// A [`ProcessPool`]'s workers: child processes, each fed over its own pipes.
pub struct Processes {
    supervisor: Arc<Supervisor>,
}

impl Pool<Processes> {
    /// A pool of `n` worker processes of the current executable, started lazily.
    ///
    /// # Errors
    /// When the current executable cannot be found.
    pub fn new(n: usize) -> io::Result<ProcessPool> {
        ProcessPool::builder().workers(n).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// `(worker, pid)` of every worker process alive now, by worker id.
    pub fn pids(&self) -> Vec<(WorkerId, u32)> {
        self.backend().supervisor.lock().pids()
    }

    /// Why the pool broke, if a worker died under [`OnWorkerDeath::Break`].
    pub fn broken(&self) -> Option<String> {
        self.backend().supervisor.lock().broken.clone()
    }
}

impl Backend for Processes {
    type Gate<'a> = Gate<'a>;

    const KIND: PoolKind = PoolKind::Process;

    fn gate(&self) -> Gate<'_> {
        Gate::new(&self.supervisor)
    }

    fn refusal(&self, gate: &Gate<'_>) -> Option<Refusal> {
        if gate.state().broken.is_some() {
            Some(Refusal::Broken)
        } else if gate.state().stopping != Stopping::Open {
            Some(Refusal::Shutdown)
        } else {
            None
        }
    }

    fn is_open(&self) -> bool {
        self.supervisor.lock().stopping == Stopping::Open
    }

    /// A chunk goes to one worker as one message. A chunk that takes a plain queue
    /// ([`SharedQueues::mark_plain`]) cannot be sent: its tasks fail at once, never run.
    fn send_specs(&self, gate: &mut Gate<'_>, tasks: Vec<(Future<TaskValue>, TaskSpec)>) {
        let (state, deferred) = gate.parts();
        if tasks.iter().any(|(_, spec)| self.supervisor.queues.takes_plain(spec)) {
            // The submit starts workers all the same, as `ProcessPoolExecutor.submit` does.
            state.start_workers(&self.supervisor, deferred);
            for (future, _) in tasks {
                self.supervisor.fail_unsent(future, deferred);
            }
            return;
        }
        let tasks = tasks.into_iter().map(|(future, spec)| Queued { future, spec, begun: false }).collect();
        state.pending.push_back(Job::new(tasks));
        state.start_workers(&self.supervisor, deferred);
    }

    fn sent(&self, gate: &mut Gate<'_>) {
        let (state, _) = gate.parts();
        state.dispatch(&self.supervisor);
    }

    /// With `cancel_futures`, cancels every task no worker has taken.
    fn shut(&self, cancel_futures: bool) {
        let mut gate = self.gate();
        let (state, deferred) = gate.parts();
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
        state.dispatch(&self.supervisor);
    }

    /// Kills every worker process at once: running tasks fail with
    /// [`TaskError::WorkerDied`](crate::pool::TaskError::WorkerDied).
    fn terminate(&self) {
        let mut gate = self.gate();
        let (state, deferred) = gate.parts();
        state.terminate(&self.supervisor, deferred);
    }

    fn join_workers(&self) {
        self.supervisor.join_all();
    }

    /// Shrinking retires idle workers first, then the highest ids, each after its current
    /// task.
    fn set_workers(&self, n: usize) {
        let mut gate = self.gate();
        let (state, deferred) = gate.parts();
        if !state.closing() {
            state.resize(&self.supervisor, n, deferred);
        }
    }

    fn workers(&self) -> usize {
        self.supervisor.lock().target
    }

    fn live_workers(&self) -> usize {
        self.supervisor.lock().live()
    }

    fn active(&self) -> usize {
        self.supervisor.lock().active()
    }

    fn queued_jobs(&self) -> usize {
        self.supervisor.lock().waiting()
    }

    fn queues(&self) -> &Arc<SharedQueues> {
        &self.supervisor.queues
    }
}

impl fmt::Debug for Processes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.supervisor.lock();
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
