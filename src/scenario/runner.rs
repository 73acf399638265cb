//! The runner: plays a scenario's steps on a real pool from the scenario's own "main
//! program" thread, and reports everything as [`TraceEvent`]s.
//!
//! Where the Python program would raise — a timeout, a cancelled or failed future, a submit
//! refused by a shut-down or broken pool — the runner records the exception the program would
//! see (a `result` or `raise` event) and goes on with the next step.

mod arrive;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::clock::Clock;
use super::cpython::{CpythonError, CpythonOptions, CpythonRun, Describe, Program, StepText};
use super::feed::Feed;
use super::future_list::{self, FutureList};
use super::model::{
    Api, Batch, CALLBACK_FAILED, Dialect, Op, OpName, PoolConfig, Scenario, Step, UNGUARDED, WorkerDeath,
};
use super::stream::{EventStream, event_stream};
use crate::pool::sim::{Reserved, SimClock};
use crate::pool::{
    CoroutinePool, Executor, Future, InitializerFailure, OnWorkerDeath, PoolKind, Probe, ProcessPool, SharedCounters,
    SharedQueues, SubmitError, TaskError, TaskId, TaskResult, TaskSpec, TaskValue, ThreadPool, Work, wait,
};
use crate::trace::{EngineChoice, PolledFuture, ResultOutcome, TraceEvent, TraceKind};

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Divides every duration (tasks, sleeps, timeouts): 20 runs a lesson 20 times faster.
    pub speed: f64,
    /// The binary process workers run (default: this executable).
    pub worker_program: Option<PathBuf>,
    /// Run on simulated time (`--virtual-time`, see [`crate::pool::sim`]): the same events,
    /// to the byte, every run.
    pub time: TimeMode,
    /// Simulated time: the cores CPU-bound work shares, and what `workers = "cpus"` means
    /// (default: the machine's). Fixing it makes a run repeat on other machines too.
    pub cores: Option<usize>,
    /// Which pool runs the lesson: poolscope's own, or CPython's (SPEC §7).
    pub engine: Engine,
}

/// Which implementation of the pool a run drives.
#[derive(Clone, Debug, Default)]
pub enum Engine {
    /// poolscope's Rust pools.
    #[default]
    Poolscope,
    /// CPython's own `concurrent.futures`, in a `python3` child process.
    Cpython(CpythonOptions),
}

impl Engine {
    /// The same engine for another lesson: a CPython engine running a lesson's program runs
    /// `code` (with its `step_lines`) instead; a script stays the script.
    pub fn for_lesson(&self, code: &[String], step_lines: &[usize]) -> Engine {
        match self {
            Engine::Cpython(options) if matches!(options.program, Program::Lesson { .. }) => {
                Engine::Cpython(CpythonOptions {
                    program: Program::Lesson { code: code.to_vec(), step_lines: step_lines.to_vec() },
                    ..options.clone()
                })
            }
            other => other.clone(),
        }
    }

    /// `poolscope` or `cpython`, as the `run` event says.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Poolscope => "poolscope",
            Engine::Cpython(_) => "cpython",
        }
    }
}

/// Which clock a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeMode {
    /// Real time: tasks really sleep and spin.
    #[default]
    Real,
    /// Simulated time, as fast as the run goes: a 60 s lesson takes a moment.
    Virtual,
    /// Simulated time held back to real time, for watching a reproducible run live.
    VirtualPaced,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: None,
            speed: 1.0,
            worker_program: None,
            time: TimeMode::Real,
            cores: None,
            engine: Engine::Poolscope,
        }
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    /// `speed` is not a positive number.
    BadSpeed(f64),
    /// The pool could not be built (a worker process failed to start, ...).
    Pool(std::io::Error),
    /// The main-program thread could not be started.
    Thread(std::io::Error),
    /// CPython could not run the program.
    Cpython(CpythonError),
    /// The CPython engine runs in real time, at the program's own speed.
    NotOnCpython(&'static str),
    /// A Dask pool runs only as CPython's: poolscope has no Dask cluster of its own.
    DaskNeedsCpython,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::BadSpeed(s) => write!(f, "speed {s} is not a positive number"),
            RunError::Pool(e) => write!(f, "could not start the pool: {e}"),
            RunError::Thread(e) => write!(f, "could not start the main-program thread: {e}"),
            RunError::Cpython(e) => write!(f, "{e}"),
            RunError::NotOnCpython(what) => write!(f, "{what} does not apply to the CPython engine"),
            RunError::DaskNeedsCpython => write!(
                f,
                "kind = \"dask\" runs the lesson's program on a Dask cluster, which only the CPython engine does; add --engine cpython"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// A running scenario: its event stream, its pool, its main-program thread.
///
/// The stream ends with an `end` event; nothing follows it.
#[derive(Debug)]
pub struct Run {
    events: EventStream,
    backend: Backend,
}

/// What produces a run's events.
#[derive(Debug)]
enum Backend {
    /// A poolscope pool, driven by the main-program thread.
    Pool { pool: Arc<dyn Executor>, feed: Arc<Feed>, main: Option<JoinHandle<()>>, sim: Option<SimClock>, clock: Clock },
    /// A `python3` running the program on CPython's pools.
    Cpython(CpythonRun),
}

/// `resize` on a pool that cannot change its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeRefused;

impl fmt::Display for ResizeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPython's pools cannot be resized: max_workers is fixed when the pool is made")
    }
}

impl std::error::Error for ResizeRefused {}

impl Run {
    /// Builds the pool and starts the main program. The first event is `run`.
    ///
    /// # Errors
    /// A bad speed, or a pool that could not start.
    pub fn start(scenario: &Scenario, options: &RunOptions) -> Result<Run, RunError> {
        if !(options.speed.is_finite() && options.speed > 0.0) {
            return Err(RunError::BadSpeed(options.speed));
        }
        if let Engine::Cpython(cpython) = &options.engine {
            return Run::on_cpython(scenario, options, cpython);
        }
        if scenario.pool.kind == PoolKind::Dask {
            return Err(RunError::DaskNeedsCpython);
        }
        let sim = match options.time {
            TimeMode::Real => None,
            TimeMode::Virtual => Some(SimClock::new()),
            TimeMode::VirtualPaced => Some(SimClock::paced()),
        };
        if let (Some(sim), Some(cores)) = (&sim, options.cores) {
            sim.set_cores(cores);
        }
        let cores = sim.as_ref().map_or_else(crate::pool::cpus, SimClock::cores);
        // On simulated time this thread takes part while it builds the pool, so the pool's
        // threads are seated in a fixed order; it leaves once the main program is seated.
        let here = sim.as_ref().map(SimClock::join_here);
        let clock = match &sim {
            Some(sim) => Clock::simulated(sim, options.speed),
            None => Clock::start(options.speed),
        };
        let (feed, events) = Feed::new(clock);
        let seed = options.seed.unwrap_or(scenario.seed);
        let workers = scenario.pool.workers.resolve_for(cores);
        feed.emit(TraceKind::Run {
            scenario: scenario.name.clone(),
            title: scenario.title.clone(),
            pool: scenario.pool.kind,
            workers,
            seed,
            speed: options.speed,
            gil: scenario.pool.gil,
            virtual_time: sim.is_some(),
            cores,
            engine: EngineChoice::Poolscope,
        });
        let queues = Arc::new(SharedQueues::default());
        for queue in &scenario.plain_queues {
            queues.mark_plain(queue);
        }
        let probe: Arc<dyn Probe> = Arc::clone(&feed) as _;
        // `multiprocessing.Pool()` starts every worker in its constructor.
        let config = PoolConfig {
            eager: scenario.pool.eager || scenario.dialect() == Dialect::MultiprocessingPool,
            ..scenario.pool.clone()
        };
        // The program's globals, which the main program reads; a process pool's workers
        // have their own.
        let counters = Arc::new(SharedCounters::default());
        let shared = Shared { queues, counters: Arc::clone(&counters) };
        // Its duration is fixed (checked), so it draws nothing from the lesson's seed.
        let initializer = config
            .initializer
            .as_ref()
            .map(|name| scenario.tasks[name].instantiate(0, &mut StdRng::seed_from_u64(seed), options.speed));
        let pool = build_pool(&config, workers, initializer, probe, shared, options).map_err(RunError::Pool)?;
        let mut program = MainProgram {
            steps: super::python::shown_steps(scenario),
            tasks: scenario.tasks.clone(),
            pool: Arc::clone(&pool),
            counters,
            feed: Arc::clone(&feed),
            clock,
            rng: StdRng::seed_from_u64(seed),
            all: FutureList::new(),
            keep_all: scenario.steps.iter().any(|step| uses_all(&step.op)),
            batches: HashMap::new(),
            labels: Labels::default(),
            state: PoolState::Open,
            step_count: scenario.steps.len(),
            cores,
            dialect: scenario.dialect(),
            closing: scenario.closing(),
        };
        let seat = sim.as_ref().map(SimClock::reserve);
        let main = std::thread::Builder::new()
            // The program's own thread, as Python names it.
            .name("MainThread".into())
            .spawn(move || {
                let _me = seat.map(Reserved::take);
                program.run();
            })
            .map_err(RunError::Thread)?;
        drop(here);
        Ok(Run { events, backend: Backend::Pool { pool, feed, main: Some(main), sim, clock } })
    }

    /// The lesson's program (or a script) on CPython, under `python3`.
    fn on_cpython(scenario: &Scenario, options: &RunOptions, cpython: &CpythonOptions) -> Result<Run, RunError> {
        if options.time != TimeMode::Real {
            return Err(RunError::NotOnCpython("--virtual-time"));
        }
        if options.speed != 1.0 {
            return Err(RunError::NotOnCpython("--speed (the program's durations are its own)"));
        }
        let describe = match &cpython.program {
            Program::Lesson { .. } => {
                let cores = crate::pool::cpus();
                let mut steps: Vec<StepText> = super::python::shown_steps(scenario)
                    .iter()
                    .map(|step| StepText {
                        op: step.op.name().to_string(),
                        python: step.python.clone(),
                        note: step.note.clone().or_else(|| match &step.op {
                            Op::Note { text } => Some(text.clone()),
                            _ => None,
                        }),
                    })
                    .collect();
                steps.push(StepText {
                    op: OpName::Shutdown.as_str().into(),
                    python: scenario.closing().0.into(),
                    note: Some(scenario.closing().1.into()),
                });
                Describe {
                    scenario: scenario.name.clone(),
                    title: scenario.title.clone(),
                    pool: Some((
                        scenario.pool.kind,
                        match scenario.pool.kind {
                            // A lane per worker thread.
                            PoolKind::Dask => scenario.pool.dask.threads(scenario.pool.workers.resolve_for(cores)),
                            _ => scenario.pool.workers.resolve_for(cores),
                        },
                        scenario.pool.kind == PoolKind::Thread,
                    )),
                    seed: options.seed.unwrap_or(scenario.seed),
                    steps,
                    labels: scenario.tasks.iter().map(|(name, t)| (name.clone(), t.label.clone())).collect(),
                }
            }
            Program::Script { .. } => Describe {
                scenario: scenario.name.clone(),
                title: scenario.title.clone(),
                pool: None,
                seed: 0,
                steps: Vec::new(),
                labels: std::collections::HashMap::new(),
            },
        };
        if scenario.pool.kind == PoolKind::Dask {
            super::cpython::check_python(&cpython.python).map_err(RunError::Cpython)?;
            super::cpython::check_distributed(&cpython.python).map_err(RunError::Cpython)?;
        }
        let (tx, events) = event_stream();
        let run = CpythonRun::start(cpython, describe, tx).map_err(RunError::Cpython)?;
        Ok(Run { events, backend: Backend::Cpython(run) })
    }

    /// The event stream. It ends with an `end` event.
    pub fn events(&self) -> &EventStream {
        &self.events
    }

    /// The pool, on poolscope's engine (`None` on CPython's: it is in another process).
    pub fn pool(&self) -> Option<&Arc<dyn Executor>> {
        match &self.backend {
            Backend::Pool { pool, .. } => Some(pool),
            Backend::Cpython(_) => None,
        }
    }

    /// Resizes the pool live (the viewer's `+`/`-`), and says so in the event stream — a
    /// `resize` marked `live`, since the lesson's code still has the size before — so
    /// everything that reads the events shows the size the pool has now.
    ///
    /// # Errors
    /// On CPython, whose pools have a fixed size.
    pub fn resize(&self, workers: usize) -> Result<(), ResizeRefused> {
        match &self.backend {
            Backend::Pool { pool, feed, .. } => {
                pool.set_workers(workers);
                feed.emit(TraceKind::Resize { workers: pool.workers(), live: true });
                Ok(())
            }
            Backend::Cpython(_) => Err(ResizeRefused),
        }
    }

    /// Microseconds from the start of the run to `at`, on the run's clock (the `t` of its
    /// events).
    pub fn micros(&self, at: std::time::Instant) -> u64 {
        match &self.backend {
            Backend::Pool { clock, .. } => clock.micros(at),
            Backend::Cpython(run) => run.micros(at),
        }
    }

    /// The simulated clock of a run on virtual time: a live view holds it to pause the run.
    pub fn sim(&self) -> Option<&SimClock> {
        match &self.backend {
            Backend::Pool { sim, .. } => sim.as_ref(),
            Backend::Cpython(_) => None,
        }
    }

    /// Stops the run early: terminates the pool so the main program's waits end soon; on
    /// CPython, kills `python3` and every worker process it started.
    pub fn abort(&self) {
        match &self.backend {
            Backend::Pool { pool, sim, .. } => {
                if let Some(sim) = sim {
                    // A held clock would keep the tasks that must see the end from ever running.
                    sim.hold(false);
                }
                pool.terminate();
            }
            Backend::Cpython(run) => run.abort(),
        }
    }

    /// On CPython, the process group of `python3` and every worker it started (for a caller
    /// that must stop them from elsewhere, a signal handler say); `None` on poolscope's pools.
    pub fn cpython_group(&self) -> Option<u32> {
        match &self.backend {
            Backend::Pool { .. } => None,
            Backend::Cpython(run) => Some(run.group()),
        }
    }

    /// Takes every event of the run, up to and including its `end`, then waits for the
    /// main program to finish.
    pub fn collect_to_end(self) -> Vec<TraceEvent> {
        let mut events = Vec::new();
        for event in self.events.iter() {
            let end = matches!(event.kind, TraceKind::End { .. });
            events.push(event);
            if end {
                break;
            }
        }
        self.join();
        events
    }

    /// Waits for the main program to finish.
    pub fn join(mut self) {
        match &mut self.backend {
            Backend::Pool { main, .. } => {
                if let Some(main) = main.take() {
                    let _ = main.join();
                }
            }
            Backend::Cpython(run) => run.join(),
        }
    }
}

/// What the tasks share with the main program: the queues (hosted here for every kind), and
/// the counters (shared by threads and coroutines only).
struct Shared {
    queues: Arc<SharedQueues>,
    counters: Arc<SharedCounters>,
}

/// Builds the pool a scenario asks for. One line per kind.
fn build_pool(
    config: &PoolConfig,
    workers: usize,
    initializer: Option<TaskSpec>,
    probe: Arc<dyn Probe>,
    Shared { queues, counters }: Shared,
    options: &RunOptions,
) -> std::io::Result<Arc<dyn Executor>> {
    match config.kind {
        PoolKind::Thread => {
            let mut builder = ThreadPool::builder()
                .workers(workers)
                .eager(config.eager)
                .probe(probe)
                .queues(queues)
                .counters(counters);
            if config.gil {
                builder = builder.with_gil();
            }
            if config.api == Api::Multiprocessing {
                // `multiprocessing.pool.ThreadPool` runs callbacks on its result-handler thread.
                builder = builder.results_thread();
            }
            if let Some(prefix) = &config.thread_name_prefix {
                builder = builder.thread_name_prefix(prefix);
            } else {
                builder = builder.python_thread_names();
            }
            if let Some(spec) = initializer {
                // `ThreadPoolExecutor` breaks when an initializer raises; `ThreadPool` loses
                // the worker and goes on without it.
                let on_failure = match config.api {
                    Api::Executor => InitializerFailure::Break,
                    Api::Multiprocessing => InitializerFailure::WorkerExits,
                };
                builder = builder.initializer(spec, on_failure);
            }
            Ok(Arc::new(builder.build()))
        }
        PoolKind::Process => {
            let on_death = match config.on_worker_death {
                WorkerDeath::Break => OnWorkerDeath::Break,
                WorkerDeath::Respawn => OnWorkerDeath::Respawn,
            };
            let mut builder = ProcessPool::builder()
                .workers(workers)
                .eager(config.eager)
                .start_method(config.start_method)
                .probe(probe)
                .on_worker_death(on_death)
                .queues(queues)
                // CPython completes futures, and runs callbacks, on one thread of the parent.
                .results_thread_name(match config.api {
                    Api::Executor => "Thread-1",
                    Api::Multiprocessing => "Thread-3 (_handle_results)",
                })
                // A worker process runs its tasks on its own main thread.
                .task_thread_name("MainThread");
            if let Some(program) = &options.worker_program {
                builder = builder.worker_program(program);
            }
            if let Some(max) = config.max_tasks_per_child {
                builder = builder.max_tasks_per_child(max);
            }
            if !config.main_guard {
                // Each new worker first re-runs the program's top level, which raises.
                let top_level = Work::Fail { message: UNGUARDED.into() };
                builder = builder.initializer(TaskSpec::new(
                    top_level,
                    std::time::Duration::ZERO,
                    "the program's top level again",
                ));
            }
            Ok(Arc::new(builder.build()?))
        }
        // Refused before: `Run::start` sends a Dask pool to CPython's engine.
        PoolKind::Dask => Err(std::io::Error::other("a Dask pool runs on the CPython engine only")),
        PoolKind::Coroutine => {
            // asyncio's loop runs on the program's own thread.
            let builder = CoroutinePool::builder().probe(probe).queues(queues).counters(counters);
            Ok(Arc::new(builder.loop_thread_name("MainThread").build()))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolState {
    Open,
    /// `shutdown`, `close` or `terminate` was called; `joined` once the workers are known gone.
    Closed {
        joined: bool,
    },
}

/// The label of every task the main program submitted, kept as runs of consecutive ids from
/// one step — (first id, count, template, index of the first) — rather than a string per
/// task: a step of a million tasks is one run.
#[derive(Debug, Default)]
struct Labels {
    runs: Vec<LabelRun>,
}

#[derive(Debug)]
struct LabelRun {
    first: TaskId,
    count: u64,
    template: String,
    first_index: usize,
}

impl Labels {
    /// Task `id` is task `index` of a step submitting `template`.
    fn note(&mut self, id: TaskId, template: &str, index: usize) {
        if let Some(run) = self.runs.last_mut()
            && run.template == template
            && run.first + run.count == id
            && run.first_index as u64 + run.count == index as u64
        {
            run.count += 1;
            return;
        }
        self.runs.push(LabelRun { first: id, count: 1, template: template.to_string(), first_index: index });
    }

    /// `futures` are the tasks of one step, from its index 0.
    fn note_all(&mut self, futures: &[Future<TaskValue>], template: &str) {
        for (index, future) in futures.iter().enumerate() {
            self.note(future.id(), template, index);
        }
    }

    /// Task `id`'s label, or `task{id}` for one the main program did not submit.
    fn label(&self, id: TaskId, templates: &std::collections::BTreeMap<String, super::model::TaskTemplate>) -> String {
        let found = self.runs.partition_point(|run| run.first <= id).checked_sub(1).map(|k| &self.runs[k]);
        match found {
            Some(run) if id - run.first < run.count => {
                let index = run.first_index as u64 + (id - run.first);
                templates[&run.template].label.replace("{i}", &index.to_string())
            }
            _ => format!("task{id}"),
        }
    }
}

/// The scenario's main program: the thread that in Python would run the `with` block.
struct MainProgram {
    steps: Vec<Step>,
    tasks: std::collections::BTreeMap<String, super::model::TaskTemplate>,
    pool: Arc<dyn Executor>,
    /// The program's counters, as the main program reads them.
    counters: Arc<SharedCounters>,
    feed: Arc<Feed>,
    clock: Clock,
    rng: StdRng,
    /// Every future submitted so far — kept only if a step works on them all (`keep_all`), so
    /// a run that never asks for them frees each task once it ends (SPEC §6).
    all: FutureList,
    keep_all: bool,
    batches: HashMap<String, FutureList>,
    /// Each submitted task's label, by its future's id.
    labels: Labels,
    state: PoolState,
    step_count: usize,
    /// What `workers = "cpus"` means in this run.
    cores: usize,
    /// The Python API the lesson's program speaks, which decides what it sees.
    dialect: Dialect,
    /// The Python and caption of the closing step ([`Scenario::closing`]).
    closing: (&'static str, &'static str),
}

impl MainProgram {
    fn run(&mut self) {
        // A panic here is a bug, reported as the run's own error event; under the live UI the
        // screen stays (see `pool::panic_is_caught`).
        let outcome = crate::pool::future::catching(|| {
            for step in std::mem::take(&mut self.steps) {
                self.feed.emit(TraceKind::Step {
                    index: step.index,
                    op: step.op.name().to_string(),
                    python: step.python.clone(),
                    // A `note` step's text is its caption.
                    note: step.note.clone().or_else(|| match &step.op {
                        Op::Note { text } => Some(text.clone()),
                        _ => None,
                    }),
                });
                self.step(&step);
            }
            self.leave_with_block();
        });
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            self.feed.emit(TraceKind::Raise { exception: "InternalError".into(), message });
            self.pool.terminate();
        }
        self.feed.end();
    }

    /// The end of Python's `with` block: `shutdown(wait=True)`, shown as a last step. A pool
    /// already closed is only joined.
    fn leave_with_block(&mut self) {
        match self.state {
            PoolState::Open => {
                self.feed.emit(TraceKind::Step {
                    index: self.step_count,
                    op: OpName::Shutdown.as_str().into(),
                    python: self.closing.0.into(),
                    note: Some(self.closing.1.into()),
                });
                self.pool.shutdown(true, false);
            }
            PoolState::Closed { joined: false } => {
                let _ = self.pool.join();
            }
            PoolState::Closed { joined: true } => {}
        }
    }

    fn step(&mut self, step: &Step) {
        match &step.op {
            Op::Submit { task, count, sync, callback, into } => {
                self.submit(task, *count, *sync, *callback, into.as_deref())
            }
            Op::Map { task, count, chunksize, timeout, into } => {
                self.map(task, *count, *chunksize, *timeout, into.as_deref());
            }
            Op::Arrive { task, rate, limit, into } => self.arrive(task, *rate, *limit, into.as_deref()),
            Op::Imap { task, count, chunksize, ordered } => self.imap(task, *count, *chunksize, *ordered),
            Op::AsCompleted { of, timeout } => {
                let futures = self.list(of);
                let given = futures.len();
                let deadline = self.clock.deadline(*timeout);
                let mut completed = futures.as_completed(self.clock.left(deadline));
                for next in completed.by_ref() {
                    match next {
                        Ok(future) => {
                            let outcome = future.result(None);
                            self.report(&future, outcome);
                        }
                        Err(_) => break,
                    }
                }
                // As Python's: the iterator raises one TimeoutError; the unfinished futures
                // stay as they are.
                let unfinished = completed.not_yielded();
                if unfinished > 0 {
                    self.raise("TimeoutError", format!("{unfinished} (of {given}) futures unfinished"));
                }
            }
            Op::Wait { of, return_when, timeout } => {
                let futures: Vec<_> = self.list(of).iter().collect();
                let outcome =
                    wait(&futures, self.clock.deadline(*timeout).and_then(|d| self.clock.left(Some(d))), *return_when);
                // As Python's: a timeout raises nothing; the program sees the two sets.
                self.feed.emit(TraceKind::Waited {
                    done: outcome.done.iter().map(Future::id).collect(),
                    not_done: outcome.not_done.iter().map(Future::id).collect(),
                });
            }
            // `exception()` raises only for a cancelled future or a timeout; what the program
            // learns of the others is what `result()` would have told it.
            Op::Results { of, timeout } | Op::Exceptions { of, timeout } => {
                for future in self.list(of).iter() {
                    let outcome = future.result(timeout.map(|t| self.clock.scale(t)));
                    self.report(&future, outcome);
                }
            }
            Op::AddCallback { of, raises } => {
                for future in self.list(of).iter() {
                    if *raises {
                        // Caught by the future, which reports it and goes on, as CPython logs
                        // the exception and goes on.
                        future.add_done_callback(|_| panic!("RuntimeError: {CALLBACK_FAILED}"));
                    } else {
                        future.add_done_callback(|_| {});
                    }
                }
            }
            Op::Cancel { of } => {
                for future in self.list(of).iter() {
                    future.cancel();
                }
            }
            Op::Poll { of } => {
                let futures = self
                    .list(of)
                    .iter()
                    .map(|f| PolledFuture { task: f.id(), state: f.state_name().to_string() })
                    .collect();
                self.feed.emit(TraceKind::Poll { futures });
            }
            Op::Sleep { duration } => self.clock.sleep(*duration),
            Op::Shutdown { wait, cancel_futures } => {
                self.pool.shutdown(*wait, *cancel_futures);
                self.state = PoolState::Closed { joined: *wait };
            }
            Op::Resize { workers } => {
                if self.state == PoolState::Open {
                    self.pool.set_workers(workers.resolve_for(self.cores));
                    self.feed.emit(TraceKind::Resize { workers: self.pool.workers(), live: false });
                } else {
                    self.raise("RuntimeError", "cannot resize a pool after shutdown".into());
                }
            }
            Op::Note { text } => self.feed.emit(TraceKind::Note { text: text.clone() }),
            Op::PrintCounter { counter } => {
                let value = self.counters.get(counter);
                self.feed.emit(TraceKind::Print { text: format!("{counter} = {value}") });
            }
            Op::Close => {
                self.pool.shutdown(false, false);
                if self.state == PoolState::Open {
                    self.state = PoolState::Closed { joined: false };
                }
            }
            Op::Join => match self.pool.join() {
                Ok(()) => self.state = PoolState::Closed { joined: true },
                Err(_) => self.raise("ValueError", "Pool is still running".into()),
            },
            Op::Terminate => {
                self.pool.terminate();
                self.state = PoolState::Closed { joined: false };
            }
        }
    }

    fn submit(&mut self, task: &str, count: usize, sync: bool, callback: bool, into: Option<&str>) {
        let template = &self.tasks[task];
        let mut batch = into.map(|into| self.batches.remove(into).unwrap_or_default());
        if let Some(batch) = &mut batch {
            batch.reserve(count);
        }
        if self.keep_all {
            self.all.reserve(count);
        }
        // A burst of submits to a process pool is one wake of its manager (CPython's main
        // thread keeps the GIL through the loop): the call queue fills once, for all of them.
        let mut burst = if self.pool.kind() == PoolKind::Process && !sync && count > 1 {
            let specs = (0..count).map(|i| template.instantiate(i, &mut self.rng, self.clock.speed())).collect();
            match self.pool.submit_tasks(specs, 1) {
                Ok(futures) => {
                    self.labels.note_all(&futures, task);
                    Some(futures.into_iter())
                }
                Err(refused) => {
                    self.refused(&refused);
                    return;
                }
            }
        } else {
            None
        };
        for i in 0..count {
            let submitted = match &mut burst {
                Some(futures) => futures.next().ok_or(()),
                None => {
                    let spec = template.instantiate(i, &mut self.rng, self.clock.speed());
                    self.pool.submit_spec(spec).map_err(|refused| self.refused(&refused))
                }
            };
            let Ok(future) = submitted else { break };
            if burst.is_none() {
                self.labels.note(future.id(), task, i);
            }
            if callback {
                future.add_done_callback(|_| {});
            }
            if self.keep_all {
                self.all.push(future.clone());
            }
            if let Some(batch) = &mut batch {
                batch.push(future.clone());
            }
            if sync {
                let outcome = future.result(None);
                self.report(&future, outcome);
            }
        }
        // A name used again adds to its list, as `jobs += [...]` does in Python.
        if let Some((into, batch)) = into.zip(batch) {
            self.batches.insert(into.to_string(), batch);
        }
    }

    /// `pool.map`: every item submitted at once, results taken in input order. The first
    /// error or the timeout ends the iteration, and the items not taken yet are cancelled
    /// (as Python's `map` generator does in its `finally`).
    fn map(
        &mut self,
        task: &str,
        count: usize,
        chunksize: usize,
        timeout: Option<std::time::Duration>,
        into: Option<&str>,
    ) {
        let deadline = self.clock.deadline(timeout);
        let template = &self.tasks[task];
        let specs = (0..count).map(|i| template.instantiate(i, &mut self.rng, self.clock.speed())).collect();
        // `ThreadPoolExecutor.map` takes `chunksize` and ignores it; `ProcessPoolExecutor.map`
        // sends a chunk as one call and hands its results out together, once all are in.
        let executor = self.dialect == Dialect::Executor;
        let (chunksize, delivered_together) = match self.pool.kind() {
            PoolKind::Thread if executor => (1, 1),
            PoolKind::Process if executor => (chunksize, chunksize),
            _ => (chunksize, 1),
        };
        let futures = match self.pool.submit_tasks(specs, chunksize) {
            Ok(futures) => {
                self.labels.note_all(&futures, task);
                futures
            }
            Err(refused) => {
                self.refused(&refused);
                return;
            }
        };
        if self.keep_all {
            self.all.extend(futures.iter().cloned());
        }
        if let Some(into) = into {
            self.batches.entry(into.to_string()).or_default().extend(futures.iter().cloned());
        }
        if self.dialect == Dialect::MultiprocessingPool {
            self.pool_map(&futures, deadline);
            return;
        }
        for (k, chunk) in futures.chunks(delivered_together.max(1)).enumerate() {
            let outcomes: Vec<_> = chunk.iter().map(|future| future.result(self.clock.left(deadline))).collect();
            let first_error = outcomes.iter().position(Result::is_err);
            match first_error.map(|i| (i, &outcomes[i])) {
                // As Python's: the generator raises one TimeoutError (with no message).
                Some((_, Err(TaskError::Timeout))) => self.raise("TimeoutError", String::new()),
                // A chunk that raised raises as a whole: its other results are never seen.
                Some((i, outcome)) => self.report(&chunk[i], outcome.clone()),
                None => {
                    for (future, outcome) in chunk.iter().zip(outcomes) {
                        self.report(future, outcome);
                    }
                }
            }
            if first_error.is_some() {
                for rest in &futures[k * delivered_together.max(1)..] {
                    if !rest.done() {
                        rest.cancel();
                    }
                }
                break;
            }
        }
    }

    /// `Pool.imap` / `imap_unordered`: a chunk's results reach the program together once the
    /// chunk is done — for `imap` once every chunk before it is handed over too, for
    /// `imap_unordered` in the order chunks finish; a chunk that raised raises its exception,
    /// which ends the loop. Nothing is cancelled: a `Pool` cannot cancel.
    fn imap(&mut self, task: &str, count: usize, chunksize: usize, ordered: bool) {
        let template = &self.tasks[task];
        let specs = (0..count).map(|i| template.instantiate(i, &mut self.rng, self.clock.speed())).collect();
        let futures = match self.pool.submit_tasks(specs, chunksize) {
            Ok(futures) => futures,
            Err(refused) => {
                self.refused(&refused);
                return;
            }
        };
        self.labels.note_all(&futures, task);
        let chunksize = chunksize.max(1);
        if ordered {
            for items in futures.chunks(chunksize) {
                for future in items {
                    let _ = future.result(None);
                }
                if !self.hand_over_chunk(items) {
                    return;
                }
            }
            return;
        }
        let mut left: Vec<usize> = futures.chunks(chunksize).map(<[_]>::len).collect();
        for done in crate::pool::as_completed(&futures, None).map_while(Result::ok) {
            // One submit call numbers its tasks consecutively.
            let index = (done.id() - futures[0].id()) as usize;
            let chunk = index / chunksize;
            left[chunk] -= 1;
            if left[chunk] > 0 {
                continue;
            }
            let items = &futures[chunk * chunksize..(chunk * chunksize + chunksize).min(futures.len())];
            if !self.hand_over_chunk(items) {
                return;
            }
        }
    }

    /// Hands a finished chunk of an `imap` to the program: its results, or the exception of
    /// its first item that raised (false: that ends the loop).
    fn hand_over_chunk(&self, items: &[Future<TaskValue>]) -> bool {
        if let Some(failed) = items.iter().find(|f| f.raised()) {
            self.report(failed, failed.result(Some(std::time::Duration::ZERO)));
            return false;
        }
        for future in items {
            self.report(future, future.result(Some(std::time::Duration::ZERO)));
        }
        true
    }

    /// `multiprocessing.Pool.map` (or `map_async(...).get(timeout)`): one list, handed over
    /// when every item is done; or, as soon as an item raised, that exception alone; or
    /// `TimeoutError` at the deadline. Nothing is cancelled: a `Pool` cannot cancel.
    fn pool_map(&self, futures: &[Future<TaskValue>], deadline: Option<std::time::Instant>) {
        let waited = wait(futures, self.clock.left(deadline), crate::pool::ReturnWhen::FirstException);
        if let Some(failed) = futures.iter().find(|f| f.done() && f.raised()) {
            let outcome = failed.result(Some(std::time::Duration::ZERO));
            self.report(failed, outcome);
        } else if !waited.not_done.is_empty() {
            self.raise("TimeoutError", String::new());
        } else {
            for future in futures {
                self.report(future, future.result(Some(std::time::Duration::ZERO)));
            }
        }
    }

    /// The futures `of` names (for [`Batch::All`], kept since `keep_all` is then set).
    fn list(&self, of: &Batch) -> &FutureList {
        match of {
            Batch::All => &self.all,
            Batch::Named(name) => self.batches.get(name).unwrap_or(future_list::EMPTY),
        }
    }

    fn refused<J>(&self, refused: &SubmitError<J>) {
        match refused {
            // `apply_async` on a closed or terminated `multiprocessing.Pool`.
            SubmitError::Shutdown(_) if self.dialect == Dialect::MultiprocessingPool => {
                self.raise("ValueError", "Pool not running".into());
            }
            SubmitError::Shutdown(_) => self.raise("RuntimeError", refused.to_string()),
            SubmitError::Broken(_) => self.raise("BrokenProcessPool", refused.to_string()),
            SubmitError::BrokenThreadPool(_) => self.raise("BrokenThreadPool", refused.to_string()),
        }
    }

    fn raise(&self, exception: &str, message: String) {
        self.feed.emit(TraceKind::Raise { exception: exception.to_string(), message });
    }

    /// The main program got `outcome` for `future`.
    fn report(&self, future: &Future<TaskValue>, outcome: TaskResult<TaskValue>) {
        let outcome = match outcome {
            // `multiprocessing.Pool` loses the result of a task whose worker died or that
            // `terminate` dropped: it never arrives, and `get(timeout)` raises TimeoutError.
            // Nor does one that no worker is left to run (every thread's initializer raised).
            Err(TaskError::WorkerDied(_) | TaskError::PoolShutdown | TaskError::BrokenThreadPool(_))
                if self.dialect == Dialect::MultiprocessingPool =>
            {
                Err(TaskError::Timeout)
            }
            outcome => outcome,
        };
        let kind = match outcome {
            Ok(value) => TraceKind::Result {
                task: future.id(),
                outcome: ResultOutcome::Ok,
                value: Some(value.describe(&self.labels.label(future.id(), &self.tasks))),
                error: None,
                exception: None,
            },
            Err(error) => {
                let outcome = match error {
                    TaskError::Cancelled => ResultOutcome::Cancelled,
                    TaskError::Timeout => ResultOutcome::Timeout,
                    _ => ResultOutcome::Error,
                };
                let message = match &error {
                    TaskError::Failed(message) => message.clone(),
                    // As Python's: `CancelledError()` and `TimeoutError()` carry no message.
                    TaskError::Cancelled | TaskError::Timeout => String::new(),
                    other => other.to_string(),
                };
                TraceKind::Result {
                    task: future.id(),
                    outcome,
                    value: None,
                    error: Some(message),
                    exception: Some(error.python_name().to_string()),
                }
            }
        };
        self.feed.emit(kind);
    }
}

/// True if `op` works on every future submitted so far (Python's `futures` list).
fn uses_all(op: &Op) -> bool {
    matches!(
        op,
        Op::AsCompleted { of: Batch::All, .. }
            | Op::Wait { of: Batch::All, .. }
            | Op::Results { of: Batch::All, .. }
            | Op::Exceptions { of: Batch::All, .. }
            | Op::AddCallback { of: Batch::All, .. }
            | Op::Cancel { of: Batch::All }
            | Op::Poll { of: Batch::All }
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pool::Work;
    use crate::scenario::duration::DurationSpec;
    use crate::scenario::model::TaskTemplate;

    fn template(name: &str, label: &str) -> (String, TaskTemplate) {
        let duration = DurationSpec::Fixed(std::time::Duration::ZERO);
        (name.into(), TaskTemplate { name: name.into(), work: Work::Noop, duration, label: label.into() })
    }

    #[test]
    fn labels_are_kept_as_runs_and_found_by_id() {
        let templates: BTreeMap<_, _> = [template("a", "A{i}"), template("b", "fetch({i})")].into_iter().collect();
        let mut labels = Labels::default();
        for i in 0..1000 {
            labels.note(i, "a", i as usize);
        }
        // A second step of the same template starts again at index 0; ids go on.
        for i in 0..3 {
            labels.note(1000 + i, "a", i as usize);
        }
        labels.note(1003, "b", 0);
        // An id the main program did not submit (a gap).
        labels.note(1010, "b", 1);
        assert_eq!(labels.runs.len(), 4, "{:?}", labels.runs);
        assert_eq!(labels.label(0, &templates), "A0");
        assert_eq!(labels.label(999, &templates), "A999");
        assert_eq!(labels.label(1002, &templates), "A2");
        assert_eq!(labels.label(1003, &templates), "fetch(0)");
        assert_eq!(labels.label(1010, &templates), "fetch(1)");
        assert_eq!(labels.label(1005, &templates), "task1005");
        assert_eq!(Labels::default().label(7, &templates), "task7");
    }
}
