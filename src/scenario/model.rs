//! A checked scenario: what the runner executes. Built only by [`crate::scenario::parse`], so
//! every name it refers to exists and every number is in range.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;

use super::arrival::ArrivalLimit;
use super::duration::DurationSpec;
use crate::pool::{PoolKind, ReturnWhen, StartMethod, TaskSpec, Work};

/// The largest pool a scenario may ask for.
pub const MAX_WORKERS: usize = 1024;
/// The most tasks one step may submit.
pub const MAX_COUNT: usize = 1_000_000;

/// What a spawned worker raises when it re-runs the top level of a program without the
/// `__main__` guard, and so starts a pool of its own while it is still starting.
pub const UNGUARDED: &str = "RuntimeError: \
    An attempt has been made to start a new process before the current process has finished its bootstrapping phase.";

/// What a callback with `raises = true` raises (`RuntimeError`).
pub const CALLBACK_FAILED: &str = "the callback failed";

/// A lesson: a pool, task templates, and the steps of its main program.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Short name: the file stem (`map-ordering`).
    pub name: String,
    /// Where it came from: a path, or `builtin:NAME`.
    pub origin: String,
    /// One line.
    pub title: String,
    /// A few sentences: what the lesson shows.
    pub summary: String,
    /// Seeds the durations of ranged templates.
    pub seed: u64,
    /// The pool the lesson drives.
    pub pool: PoolConfig,
    /// The queues `[queues]` declares `"plain"`: a `multiprocessing.Queue()` handed to each
    /// task as an argument, which a process pool cannot send. The others are a
    /// `Manager().Queue()`, which every worker reaches by name.
    pub plain_queues: BTreeSet<String>,
    /// Named task templates.
    pub tasks: BTreeMap<String, TaskTemplate>,
    /// The main program, in order.
    pub steps: Vec<Step>,
}

/// `[pool]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads, processes or coroutines.
    pub kind: PoolKind,
    /// How many workers.
    pub workers: WorkerCount,
    /// Thread pool only: simulate the GIL.
    pub gil: bool,
    /// Process pool only: what a worker's death does.
    pub on_worker_death: WorkerDeath,
    /// The Python API the lesson's program speaks (a coroutine pool always speaks asyncio).
    pub api: Api,
    /// Process pool only: when workers start, as `multiprocessing`'s start method.
    pub start_method: StartMethod,
    /// Process pool only: a worker process is replaced after this many tasks.
    pub max_tasks_per_child: Option<usize>,
    /// The program keeps its top level under `if __name__ == "__main__":`. Without it (a
    /// spawn process pool only), each new worker re-runs the program's top level, which tries
    /// to start a pool of its own and raises: the pool breaks (with the `RuntimeError` of `UNGUARDED`).
    pub main_guard: bool,
    /// Start every worker at once rather than on demand.
    pub eager: bool,
    /// Thread pools (`ThreadPoolExecutor`) only: worker `N` is the thread `PREFIX_N`.
    pub thread_name_prefix: Option<String>,
    /// Thread pools only: the task template each worker runs once, before its first task
    /// (`initializer=NAME, initargs=(LABEL,)`); a template no step submits.
    pub initializer: Option<String>,
    /// The file says how many workers (else `workers` is the kind's default, which another
    /// kind replaces with its own).
    pub workers_written: bool,
    /// A Dask pool's cluster (`kind = "dask"` only; `workers` is then the number of Dask
    /// workers).
    pub dask: DaskCluster,
}

/// The cluster a Dask pool's client reaches: a `LocalCluster` it starts on this machine,
/// in Dask's own words, or an existing scheduler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaskCluster {
    /// Each worker's threads (`threads_per_worker`); Dask's choice when `None`.
    pub threads_per_worker: Option<usize>,
    /// Each worker in a process of its own (`processes`); Dask's choice (processes) when `None`.
    pub processes: Option<bool>,
    /// An existing scheduler, `tcp://HOST:PORT`: the client attaches to it and starts no cluster.
    pub scheduler: Option<String>,
}

impl DaskCluster {
    /// The client as Python writes it: `Client("tcp://...")`, or `Client(n_workers=2,
    /// threads_per_worker=2)` (`workers` when the lesson gives it), which starts a
    /// `LocalCluster` and closes it with the client.
    pub fn client(&self, workers: Option<usize>) -> String {
        if let Some(address) = &self.scheduler {
            return format!("Client({address:?})");
        }
        let mut args = Vec::new();
        if let Some(n) = workers {
            args.push(format!("n_workers={n}"));
        }
        if let Some(n) = self.threads_per_worker {
            args.push(format!("threads_per_worker={n}"));
        }
        if let Some(p) = self.processes {
            args.push(format!("processes={}", if p { "True" } else { "False" }));
        }
        format!("Client({})", args.join(", "))
    }

    /// Why `address` is not `tcp://HOST:PORT` (or another Dask protocol's), if it is not.
    pub fn address_problem(address: &str) -> Option<&'static str> {
        let Some((protocol, rest)) = address.split_once("://") else {
            return Some("is not an address; expected tcp://HOST:PORT");
        };
        if !matches!(protocol, "tcp" | "tls" | "ws" | "wss" | "inproc" | "ucx") {
            return Some("has an unknown protocol; expected tcp://HOST:PORT");
        }
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Some("has no port; expected tcp://HOST:PORT");
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Some("is not HOST:PORT; expected tcp://HOST:PORT");
        }
        if address.chars().any(|c| c.is_control() || c == '"' || c == '\\' || c.is_whitespace()) {
            return Some("has characters no address has; expected tcp://HOST:PORT");
        }
        None
    }

    /// The lanes to expect: every thread of every worker, when the lesson says both.
    pub fn threads(&self, workers: usize) -> usize {
        workers * self.threads_per_worker.unwrap_or(1)
    }
}

/// A worker count as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerCount {
    /// Exactly this many.
    Fixed(usize),
    /// One per CPU (`ProcessPoolExecutor`'s default).
    Cpus,
    /// `min(32, cpus + 4)` (`ThreadPoolExecutor`'s default).
    CpusPlus4,
}

impl WorkerCount {
    /// `"cpus"` or `"cpus+4"` (spaces allowed), as a scenario or `--pool` names them.
    pub fn named(name: &str) -> Option<WorkerCount> {
        match name.replace(' ', "").as_str() {
            "cpus" => Some(WorkerCount::Cpus),
            "cpus+4" => Some(WorkerCount::CpusPlus4),
            _ => None,
        }
    }

    /// The count a pool of `kind` gets when the scenario says none: Python's defaults.
    pub fn default_for(kind: PoolKind) -> WorkerCount {
        match kind {
            PoolKind::Thread => WorkerCount::CpusPlus4,
            PoolKind::Process => WorkerCount::Cpus,
            PoolKind::Coroutine => WorkerCount::Fixed(1),
            // LocalCluster's own default splits the cores among its workers.
            PoolKind::Dask => WorkerCount::Cpus,
        }
    }

    /// The number it stands for on this machine.
    pub fn resolve(self) -> usize {
        self.resolve_for(crate::pool::cpus())
    }

    /// The number on a machine of `cpus` cores (a simulated one, say).
    pub fn resolve_for(self, cpus: usize) -> usize {
        match self {
            WorkerCount::Fixed(n) => n,
            WorkerCount::Cpus => cpus,
            WorkerCount::CpusPlus4 => 32.min(cpus + 4),
        }
    }

    /// As Python writes it: `4`, `os.cpu_count()`, `min(32, os.cpu_count() + 4)`.
    pub fn python(self) -> String {
        match self {
            WorkerCount::Fixed(n) => n.to_string(),
            WorkerCount::Cpus => "os.cpu_count()".to_string(),
            WorkerCount::CpusPlus4 => "min(32, os.cpu_count() + 4)".to_string(),
        }
    }
}

/// `on_worker_death`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerDeath {
    /// Like Python's `BrokenProcessPool`: every pending future fails, no new work.
    #[default]
    Break,
    /// Start a new worker in its place.
    Respawn,
}

impl WorkerDeath {
    /// `"break"` or `"respawn"`.
    pub fn named(name: &str) -> Option<WorkerDeath> {
        match name {
            "break" => Some(WorkerDeath::Break),
            "respawn" => Some(WorkerDeath::Respawn),
            _ => None,
        }
    }

    /// As written in a scenario.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerDeath::Break => "break",
            WorkerDeath::Respawn => "respawn",
        }
    }
}

/// `[tasks.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTemplate {
    /// The template's name, used as the Python function name.
    pub name: String,
    /// What the tasks do (`{i}` in a queue item is replaced like in the label).
    pub work: Work,
    /// How long they take.
    pub duration: DurationSpec,
    /// Label pattern; `{i}` is the task's index within its step.
    pub label: String,
}

impl TaskTemplate {
    /// The spec of task `i` of a step, its duration divided by `speed`.
    pub fn instantiate(&self, i: usize, rng: &mut impl Rng, speed: f64) -> TaskSpec {
        let index = i.to_string();
        let mut work = self.work.clone();
        if let Work::QueuePut { item, .. } = &mut work {
            *item = item.replace("{i}", &index);
        }
        let duration = self.duration_of(i, rng, speed);
        TaskSpec { work, duration, label: self.label.replace("{i}", &index) }
    }

    /// The duration of task `i` of a step, divided by `speed`: what [`TaskTemplate::instantiate`]
    /// draws, without building the spec.
    pub fn duration_of(&self, i: usize, rng: &mut impl Rng, speed: f64) -> Duration {
        scale(self.duration.pick(i, rng), speed)
    }
}

/// `d / speed`, at most [`Duration::MAX`].
pub fn scale(d: Duration, speed: f64) -> Duration {
    if speed == 1.0 { d } else { Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(Duration::MAX) }
}

/// Which futures an op works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Every future submitted so far.
    All,
    /// The futures an earlier step stored `into` this name.
    Named(String),
}

impl Batch {
    /// The Python variable holding the batch.
    pub fn python(&self) -> &str {
        match self {
            Batch::All => "futures",
            Batch::Named(name) => name,
        }
    }
}

/// One step of the main program.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// From 0.
    pub index: usize,
    /// What it does.
    pub op: Op,
    /// The caption shown while it runs.
    pub note: Option<String>,
    /// The equivalent Python (given in the file, or generated).
    pub python: String,
    /// The line of its `[[step]]` header in the file.
    pub line: usize,
    /// What the learner is asked to predict before it runs, in the live view.
    pub predict: Option<super::predict::Predict>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `count` × `pool.submit(task, i)`; with `sync`, `.result()` right after each.
    Submit {
        /// Template name.
        task: String,
        /// How many.
        count: usize,
        /// Wait for each result before the next submit.
        sync: bool,
        /// `add_done_callback` on each future.
        callback: bool,
        /// Name the futures.
        into: Option<String>,
    },
    /// `pool.map(task, range(count), chunksize, timeout)`, results in input order.
    Map {
        /// Template name.
        task: String,
        /// How many items.
        count: usize,
        /// Items per job.
        chunksize: usize,
        /// Give up after this long (from the call).
        timeout: Option<Duration>,
        /// Name the futures.
        into: Option<String>,
    },
    /// Open arrivals: tasks submitted one by one as a Poisson process of `rate` a second
    /// brings them (`time.sleep(gap)` before each `pool.submit(task, i)`), until `limit`.
    Arrive {
        /// Template name.
        task: String,
        /// Arrivals a second, on average (> 0).
        rate: f64,
        /// How many, or for how long.
        limit: ArrivalLimit,
        /// Name the futures.
        into: Option<String>,
    },
    /// `for f in as_completed(of, timeout): f.result()`.
    AsCompleted {
        /// Which futures.
        of: Batch,
        /// Give up after this long.
        timeout: Option<Duration>,
    },
    /// `done, not_done = wait(of, timeout, return_when)`.
    Wait {
        /// Which futures.
        of: Batch,
        /// When to return.
        return_when: ReturnWhen,
        /// Give up after this long.
        timeout: Option<Duration>,
    },
    /// `for f in of: f.result(timeout)`, in submission order.
    Results {
        /// Which futures.
        of: Batch,
        /// Per-result timeout.
        timeout: Option<Duration>,
    },
    /// `for result in pool.imap(task, range(count), chunksize): print(result)`
    /// (`multiprocessing.Pool`), or `imap_unordered`: each chunk's results as soon as the
    /// chunk is done and, for `imap`, every chunk before it; for `imap_unordered`, in the
    /// order chunks finish. The first exception ends the loop.
    Imap {
        /// The template.
        task: String,
        /// How many items.
        count: usize,
        /// Items per chunk.
        chunksize: usize,
        /// `imap`: results in input order; else `imap_unordered`.
        ordered: bool,
    },
    /// `for f in of: print(repr(f.exception(timeout)))`: `None` for a task that returned, the
    /// exception it raised, without raising it; a cancelled future raises `CancelledError`.
    Exceptions {
        /// Which futures.
        of: Batch,
        /// Per-future timeout.
        timeout: Option<Duration>,
    },
    /// `for f in of: f.add_done_callback(done)`: on a future already done, the callback runs
    /// at once, on the main program's thread.
    AddCallback {
        /// Which futures.
        of: Batch,
        /// The callback raises `RuntimeError` after printing: CPython logs "exception
        /// calling callback for <Future ...>" with the traceback and goes on.
        raises: bool,
    },
    /// `for f in of: f.cancel()`.
    Cancel {
        /// Which futures.
        of: Batch,
    },
    /// `f.done(), f.running(), f.cancelled()` for each.
    Poll {
        /// Which futures.
        of: Batch,
    },
    /// `time.sleep(duration)` on the main thread.
    Sleep {
        /// How long.
        duration: Duration,
    },
    /// `pool.shutdown(wait, cancel_futures)`.
    Shutdown {
        /// Wait for the workers to finish.
        wait: bool,
        /// Cancel what has not started.
        cancel_futures: bool,
    },
    /// Grow or shrink the pool live (poolscope only).
    Resize {
        /// The new size.
        workers: WorkerCount,
    },
    /// A caption, nothing else.
    Note {
        /// What to say.
        text: String,
    },
    /// `print("counter =", counter)`: the main program reads a shared counter itself.
    PrintCounter {
        /// The counter, one that `increment` tasks name.
        counter: String,
    },
    /// `Pool.close()`: no new work, queued work still runs.
    Close,
    /// `Pool.join()`: wait for the workers to exit (after close or terminate).
    Join,
    /// `Pool.terminate()`: drop queued work, stop the workers.
    Terminate,
}

impl Op {
    /// Which op this is.
    pub fn op_name(&self) -> OpName {
        match self {
            Op::Submit { .. } => OpName::Submit,
            Op::Map { .. } => OpName::Map,
            Op::Arrive { .. } => OpName::Arrive,
            Op::AsCompleted { .. } => OpName::AsCompleted,
            Op::Wait { .. } => OpName::Wait,
            Op::Results { .. } => OpName::Results,
            Op::Exceptions { .. } => OpName::Exceptions,
            Op::Imap { ordered: true, .. } => OpName::Imap,
            Op::Imap { ordered: false, .. } => OpName::ImapUnordered,
            Op::AddCallback { .. } => OpName::AddCallback,
            Op::Cancel { .. } => OpName::Cancel,
            Op::Poll { .. } => OpName::Poll,
            Op::Sleep { .. } => OpName::Sleep,
            Op::Shutdown { .. } => OpName::Shutdown,
            Op::Resize { .. } => OpName::Resize,
            Op::Note { .. } => OpName::Note,
            Op::PrintCounter { .. } => OpName::PrintCounter,
            Op::Close => OpName::Close,
            Op::Join => OpName::Join,
            Op::Terminate => OpName::Terminate,
        }
    }

    /// The op's name, as in the file and the event log.
    pub fn name(&self) -> &'static str {
        self.op_name().as_str()
    }
}

/// What a step's `op =` names: one per [`Op`] variant. A new op is a variant here and in
/// [`OpName::ALL`]; the compiler then asks for its name, the fields it takes, and how the
/// validator builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpName {
    /// [`Op::Submit`].
    Submit,
    /// [`Op::Map`].
    Map,
    /// [`Op::Arrive`].
    Arrive,
    /// [`Op::AsCompleted`].
    AsCompleted,
    /// [`Op::Wait`].
    Wait,
    /// [`Op::Results`].
    Results,
    /// [`Op::Exceptions`].
    Exceptions,
    /// [`Op::Imap`], in input order.
    Imap,
    /// [`Op::Imap`], in the order chunks finish.
    ImapUnordered,
    /// [`Op::AddCallback`].
    AddCallback,
    /// [`Op::Cancel`].
    Cancel,
    /// [`Op::Poll`].
    Poll,
    /// [`Op::Sleep`].
    Sleep,
    /// [`Op::Shutdown`].
    Shutdown,
    /// [`Op::Resize`].
    Resize,
    /// [`Op::Note`].
    Note,
    /// [`Op::PrintCounter`].
    PrintCounter,
    /// [`Op::Close`].
    Close,
    /// [`Op::Join`].
    Join,
    /// [`Op::Terminate`].
    Terminate,
}

impl OpName {
    /// Every op, in the order error messages list them.
    pub const ALL: [OpName; 20] = [
        OpName::Submit,
        OpName::Map,
        OpName::Arrive,
        OpName::AsCompleted,
        OpName::Wait,
        OpName::Results,
        OpName::Exceptions,
        OpName::Imap,
        OpName::ImapUnordered,
        OpName::AddCallback,
        OpName::Cancel,
        OpName::Poll,
        OpName::Sleep,
        OpName::Shutdown,
        OpName::Resize,
        OpName::Note,
        OpName::PrintCounter,
        OpName::Close,
        OpName::Join,
        OpName::Terminate,
    ];

    /// The op written `name` in a file.
    pub fn named(name: &str) -> Option<OpName> {
        OpName::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// As written in a file and the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            OpName::Submit => "submit",
            OpName::Map => "map",
            OpName::Arrive => "arrive",
            OpName::AsCompleted => "as_completed",
            OpName::Wait => "wait",
            OpName::Results => "results",
            OpName::Exceptions => "exceptions",
            OpName::Imap => "imap",
            OpName::ImapUnordered => "imap_unordered",
            OpName::AddCallback => "add_callback",
            OpName::Cancel => "cancel",
            OpName::Poll => "poll",
            OpName::Sleep => "sleep",
            OpName::Shutdown => "shutdown",
            OpName::Resize => "resize",
            OpName::Note => "note",
            OpName::PrintCounter => "print_counter",
            OpName::Close => "close",
            OpName::Join => "join",
            OpName::Terminate => "terminate",
        }
    }

    /// The fields a step with this op may give besides `op`, `note` and `python`; any other
    /// field is an error.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            OpName::Submit => &["task", "count", "sync", "callback", "into"],
            OpName::Map => &["task", "count", "chunksize", "timeout", "into"],
            OpName::Arrive => &["task", "rate", "count", "duration", "into"],
            OpName::Imap | OpName::ImapUnordered => &["task", "count", "chunksize"],
            OpName::AsCompleted | OpName::Results | OpName::Exceptions => &["of", "timeout"],
            OpName::Wait => &["of", "return_when", "timeout"],
            OpName::Cancel | OpName::Poll => &["of"],
            OpName::AddCallback => &["of", "raises"],
            OpName::Sleep => &["duration"],
            OpName::Shutdown => &["wait", "cancel_futures"],
            OpName::Resize => &["workers"],
            OpName::Note => &["text"],
            OpName::PrintCounter => &["counter"],
            OpName::Close | OpName::Join | OpName::Terminate => &[],
        }
    }
}

/// `[pool] api`: which of Python's two pool APIs a lesson's program uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// `concurrent.futures`: `ThreadPoolExecutor` / `ProcessPoolExecutor` and futures.
    #[default]
    Executor,
    /// `multiprocessing.Pool` / `multiprocessing.pool.ThreadPool` and `AsyncResult`s.
    Multiprocessing,
}

impl Api {
    /// `"executor"` or `"multiprocessing"`.
    pub fn named(name: &str) -> Option<Api> {
        match name {
            "executor" => Some(Api::Executor),
            "multiprocessing" => Some(Api::Multiprocessing),
            _ => None,
        }
    }

    /// As written in `[pool] api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Executor => "executor",
            Api::Multiprocessing => "multiprocessing",
        }
    }
}

impl OpName {
    /// True for an op that queues tasks on the pool.
    pub fn submits(self) -> bool {
        matches!(self, OpName::Submit | OpName::Map | OpName::Arrive | OpName::Imap | OpName::ImapUnordered)
    }

    /// The one API that has this op, or `None` when both have it.
    pub fn only_in(self) -> Option<Api> {
        match self {
            OpName::AsCompleted
            | OpName::Wait
            | OpName::Cancel
            | OpName::AddCallback
            | OpName::Exceptions
            | OpName::Shutdown => Some(Api::Executor),
            OpName::Close | OpName::Join | OpName::Terminate | OpName::Imap | OpName::ImapUnordered => {
                Some(Api::Multiprocessing)
            }
            OpName::Submit
            | OpName::Map
            | OpName::Arrive
            | OpName::Results
            | OpName::Poll
            | OpName::Sleep
            | OpName::Resize
            | OpName::Note
            | OpName::PrintCounter => None,
        }
    }
}

/// Which Python API a lesson's program speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `concurrent.futures`: an executor and its futures.
    Executor,
    /// `multiprocessing.Pool` (or `multiprocessing.pool.ThreadPool`): `apply_async`,
    /// `AsyncResult.get`, `close` / `join` / `terminate`. A result whose task was lost (its
    /// worker died, or `terminate` dropped it) never arrives: `get(timeout)` raises
    /// `TimeoutError`.
    MultiprocessingPool,
    /// `asyncio`: a coroutine pool.
    Asyncio,
}

impl Scenario {
    /// The step poolscope adds at the end, when the program has not closed its pool itself:
    /// its Python and its caption, as the lesson's dialect leaves its `with` block.
    pub fn closing(&self) -> (&'static str, &'static str) {
        let crashes = self.pool.kind == PoolKind::Process && self.tasks.values().any(|t| t.work == Work::Crash);
        match self.dialect() {
            Dialect::MultiprocessingPool if self.initializer_raises() => (
                "# leaving the with-block terminate()s the pool",
                "The end: no worker is left to run a task, and close() would start new ones whose initializer \
                 raises again, so join() would wait for ever; leaving the `with` block terminate()s the pool.",
            ),
            Dialect::MultiprocessingPool if crashes => (
                "# leaving the with-block terminate()s the pool",
                "The end: a task whose worker died never finishes, so close() and join() would wait for ever; \
                 leaving the `with` block terminate()s the pool.",
            ),
            Dialect::MultiprocessingPool => (
                "pool.close()\npool.join()",
                "The end: close() and join() let every task run to its end, then the workers exit \
                 (leaving a Pool's `with` block alone would terminate() it).",
            ),
            Dialect::Executor | Dialect::Asyncio => (
                "# the with-block ends: pool.shutdown(wait=True)",
                "Leaving the `with` block shuts the pool down and waits for every task.",
            ),
        }
    }

    /// The counters the lesson's tasks increment, and the locks they hold, in order: each a
    /// global of its program.
    pub fn counters_and_locks(&self) -> (BTreeSet<&str>, BTreeSet<&str>) {
        let (mut counters, mut locks) = (BTreeSet::new(), BTreeSet::new());
        for task in self.tasks.values() {
            if let Work::Increment { counter, lock } = &task.work {
                counters.insert(counter.as_str());
                locks.extend(lock.as_deref());
            }
        }
        (counters, locks)
    }

    /// True when the pool has an initializer that raises (`work = "fail"` or `"crash"`): a
    /// `ThreadPoolExecutor` breaks, a `multiprocessing.pool.ThreadPool` loses every worker.
    pub fn initializer_raises(&self) -> bool {
        let initializer = self.pool.initializer.as_ref().and_then(|name| self.tasks.get(name));
        initializer.is_some_and(|t| matches!(t.work, Work::Fail { .. } | Work::Crash))
    }

    /// Why the lesson's tasks or steps have no form on a Dask executor, if they have none
    /// (the file's checks say where; this says it for a lesson moved to Dask by `--pool`).
    pub fn dask_refusal(&self) -> Option<&'static str> {
        for task in self.tasks.values() {
            match task.work {
                Work::Crash => return Some("a task crashes its worker, which Dask restarts and retries"),
                Work::QueuePut { .. } | Work::QueueGet { .. } => {
                    return Some("its tasks use queues, which Dask's workers do not share");
                }
                Work::Increment { .. } => return Some("its tasks share a counter, which Dask's workers do not"),
                _ => {}
            }
        }
        for step in &self.steps {
            match step.op {
                Op::Shutdown { cancel_futures: true, .. } => {
                    return Some("Dask's executor shutdown() has no cancel_futures");
                }
                Op::Resize { .. } => return Some("a Dask pool is resized by its cluster, not its executor"),
                _ => {}
            }
        }
        None
    }

    /// The Python API the lesson's program speaks: its `[pool] api`, or asyncio for a
    /// coroutine pool.
    pub fn dialect(&self) -> Dialect {
        match (self.pool.kind, self.pool.api) {
            (PoolKind::Coroutine, _) => Dialect::Asyncio,
            (PoolKind::Dask, _) => Dialect::Executor,
            (_, Api::Executor) => Dialect::Executor,
            (_, Api::Multiprocessing) => Dialect::MultiprocessingPool,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpName;

    #[test]
    fn every_op_is_named_by_its_own_name_once() {
        for op in OpName::ALL {
            assert_eq!(OpName::named(op.as_str()), Some(op));
        }
        assert_eq!(OpName::named("Submit"), None);
    }
}
