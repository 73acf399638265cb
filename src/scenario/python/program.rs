//! The whole lesson as one runnable Python program (SPEC §7): imports, a function per task
//! template, the `__main__` guard, every list initialised, each step's code and its prints.
//!
//! Three dialects, chosen by what the lesson does:
//! - `concurrent.futures` executors, the default;
//! - `multiprocessing.Pool` / `multiprocessing.pool.ThreadPool` when the lesson speaks its
//!   words (`close`, `join`, `terminate`, or a process pool that replaces dead workers) and
//!   nothing only an executor has (`as_completed`, `wait`, `cancel`, callbacks added later,
//!   `shutdown`);
//! - `asyncio` for coroutine pools: the event loop is the pool, `main()` the main program.
//!
//! What the program prints lines up with the transcript's "received" list: a task's result
//! (`Job1 by ThreadPoolExecutor-0_1 (pid 4242)`, its label first) or `repr(e)` of the
//! exception the main program caught (`Exception('division by zero')`).

mod arrive;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::super::duration::{DurationSpec, python_seconds};
use super::super::model::{
    Batch, CALLBACK_FAILED, Dialect, Op, Scenario, TaskTemplate, WorkerCount, WorkerDeath, scale,
};
use super::{own_code, print_counter, py_bool};
use crate::pool::{PoolKind, ReturnWhen, StartMethod, Work};

/// A lesson's Python program, line by line, with where each step's code starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The program's lines, indented as Python needs.
    pub lines: Vec<String>,
    /// For step *i*, the index of its first line; one more entry at the end for the closing
    /// part (the `with` block's end, where the pool shuts down).
    pub step_lines: Vec<usize>,
    /// Set when some step's code is the lesson's own hand-written text: poolscope has not
    /// written it, so the program is an illustration that may not run as it stands.
    pub illustration: Option<String>,
}

impl Program {
    /// The program as one text, ending in a newline.
    pub fn text(&self) -> String {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out
    }

    /// Step `index`'s code, as one text without its indentation.
    pub fn step_code(&self, index: usize) -> String {
        let start = self.step_lines.get(index).copied().unwrap_or(self.lines.len());
        let end = self.step_lines.get(index + 1).copied().unwrap_or(self.lines.len()).max(start);
        let lines = &self.lines[start..end];
        let depth =
            lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
        lines.iter().map(|l| l.get(depth..).unwrap_or("")).collect::<Vec<_>>().join("\n")
    }

    /// The lines before the first step: imports, functions, the pool's creation.
    pub fn preamble(&self) -> &[String] {
        &self.lines[..self.step_lines.first().copied().unwrap_or(self.lines.len())]
    }
}

/// How the program is written: the lesson's durations divided by `speed` (so a test can run
/// it quickly), ranged durations drawn from `seed` (default: the lesson's) as a run draws them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProgramOptions {
    /// Divides every duration.
    pub speed: f64,
    /// Overrides the lesson's seed.
    pub seed: Option<u64>,
}

impl Default for ProgramOptions {
    fn default() -> Self {
        ProgramOptions { speed: 1.0, seed: None }
    }
}

/// The lesson as one complete Python program.
pub fn program(scenario: &Scenario, options: ProgramOptions) -> Program {
    Writer::new(scenario, options).write()
}

/// Names the program gives its own things (modules, functions, variables, the pool) or takes
/// from Python's builtins: a lesson's counter or lock, a global of the program, takes none.
pub(crate) const PROGRAM_NAMES: &[&str] = &[
    "pool",
    "futures",
    "done",
    "done_raising",
    "who",
    "f",
    "i",
    "r",
    "e",
    "v",
    "x",
    "new",
    "mapped",
    "seconds",
    "gaps",
    "gap",
    "finished",
    "unfinished",
    "item",
    "total",
    "outcome",
    "manager",
    "burn",
    "burn_cpu",
    "loops_per_second",
    "LOOPS_PER_SECOND",
    "share_queues",
    "time",
    "os",
    "sys",
    "threading",
    "asyncio",
    "multiprocessing",
    "concurrent",
    "main",
    "result",
    "wait",
    "as_completed",
    "ThreadPoolExecutor",
    "ProcessPoolExecutor",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "print",
    "range",
    "repr",
    "len",
    "sum",
    "int",
    "str",
    "globals",
    "Exception",
    "RuntimeError",
];

/// The queues the lesson's tasks name, in order.
fn queues(scenario: &Scenario) -> BTreeSet<&str> {
    scenario
        .tasks
        .values()
        .filter_map(|t| match &t.work {
            Work::QueuePut { queue, .. } | Work::QueueGet { queue } => Some(queue.as_str()),
            _ => None,
        })
        .collect()
}

/// The queues a `Manager()` hosts, which every worker reaches by name: all but the plain ones.
fn managed_queues(scenario: &Scenario) -> BTreeSet<&str> {
    let mut managed = queues(scenario);
    managed.retain(|q| !scenario.plain_queues.contains(*q));
    managed
}

/// The plain `multiprocessing.Queue` task `template` is handed as its last argument, if any.
fn plain_queue<'s>(scenario: &'s Scenario, template: &TaskTemplate) -> Option<&'s str> {
    match &template.work {
        Work::QueuePut { queue, .. } | Work::QueueGet { queue } => {
            scenario.plain_queues.get(queue.as_str()).map(String::as_str)
        }
        _ => None,
    }
}

/// A Python f-string body: `{i}` stays a placeholder, every other brace and quote is escaped.
fn f_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('{', "{{").replace('}', "}}");
    escaped.replace("{{i}}", "{i}")
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("{pad}{l}") }).collect::<Vec<_>>().join("\n")
}

struct Writer<'a> {
    scenario: &'a Scenario,
    dialect: Dialect,
    speed: f64,
    seed: u64,
    rng: StdRng,
    lines: Vec<String>,
    /// Python keeps `futures`, every future so far, only when a step asks for them all.
    keep_all: bool,
    /// Some step can raise in the main program: every result() is caught and printed.
    may_raise: bool,
    /// What the program's `except` catches: `Exception`, with asyncio's `CancelledError`, or
    /// only `BrokenProcessPool` in a program without the `__main__` guard.
    catch: &'static str,
    /// The pool stopped taking work (shutdown, close, terminate).
    closed: bool,
    terminated: bool,
    joined: bool,
    /// A crash task was submitted (a process pool breaks, or loses its result).
    crashed: bool,
    /// The pool's initializer raises: a `ThreadPoolExecutor` breaks once a worker started, a
    /// `ThreadPool` never runs a task.
    init_raises: bool,
    /// A task was submitted to a thread pool whose initializer raises: it may be broken.
    started_broken: bool,
    /// The durations of every task submitted so far, added up (scaled).
    submitted: Duration,
    illustration: Vec<usize>,
}

impl<'a> Writer<'a> {
    fn new(scenario: &'a Scenario, options: ProgramOptions) -> Writer<'a> {
        let dialect = scenario.dialect();
        let seed = options.seed.unwrap_or(scenario.seed);
        let keep_all = dialect == Dialect::Asyncio
            || scenario.steps.iter().any(|s| match &s.op {
                Op::AsCompleted { of, .. }
                | Op::Wait { of, .. }
                | Op::Results { of, .. }
                | Op::Exceptions { of, .. }
                | Op::AddCallback { of, .. }
                | Op::Cancel { of }
                | Op::Poll { of } => *of == Batch::All,
                _ => false,
            });
        // A task handed a plain queue cannot be sent to a process: its result() raises.
        let unsent = scenario.pool.kind == PoolKind::Process && !scenario.plain_queues.is_empty();
        // Without the `__main__` guard the pool breaks as its first worker starts.
        let may_raise = unsent
            || !scenario.pool.main_guard
            || scenario.tasks.values().any(|t| matches!(t.work, Work::Fail { .. } | Work::Crash))
            || scenario.steps.iter().any(|s| match &s.op {
                Op::Map { timeout, .. }
                | Op::AsCompleted { timeout, .. }
                | Op::Results { timeout, .. }
                | Op::Exceptions { timeout, .. } => timeout.is_some(),
                Op::Cancel { .. } | Op::Shutdown { .. } | Op::Close | Op::Terminate => true,
                _ => false,
            });
        Writer {
            scenario,
            dialect,
            speed: options.speed,
            seed,
            rng: StdRng::seed_from_u64(seed),
            lines: Vec::new(),
            keep_all,
            may_raise,
            catch: match dialect {
                Dialect::Asyncio => "(Exception, asyncio.CancelledError)",
                // A worker re-running the top level must not catch its own RuntimeError: the
                // parent catches what its dead workers leave it.
                _ if !scenario.pool.main_guard => "BrokenProcessPool",
                _ => "Exception",
            },
            closed: false,
            terminated: false,
            joined: false,
            crashed: !scenario.pool.main_guard,
            init_raises: scenario.initializer_raises(),
            started_broken: false,
            submitted: Duration::ZERO,
            illustration: Vec::new(),
        }
    }

    fn push(&mut self, text: &str, by: usize) {
        for l in text.lines() {
            self.lines.push(if l.is_empty() { String::new() } else { format!("{}{l}", " ".repeat(by)) });
        }
    }

    fn seconds(&self, d: Duration) -> String {
        python_seconds(scale(d, self.speed))
    }

    fn write(mut self) -> Program {
        let s = self.scenario;
        let header = self.header();
        self.push(&header, 0);
        let functions = self.functions();
        self.push(&functions, 0);
        let (opening, depth) = self.opening();
        self.push(&opening, 0);
        let mut step_lines = Vec::with_capacity(s.steps.len() + 1);
        for step in &s.steps {
            step_lines.push(self.lines.len());
            let generated = self.step(&step.op);
            if own_code(step, s) {
                self.illustration.push(step.index + 1);
                let own = format!("# the lesson's own code for this step, not checked to run:\n{}", step.python);
                self.push(&own, depth);
            } else {
                self.push(&generated, depth);
            }
        }
        step_lines.push(self.lines.len());
        let closing = self.closing();
        self.push(&closing, depth);
        let trailer = self.trailer();
        self.push(&trailer, 0);
        let illustration = (!self.illustration.is_empty()).then(|| {
            let steps: Vec<String> = self.illustration.iter().map(usize::to_string).collect();
            format!(
                "an illustration: the code of step {} is the lesson's own text, not checked to run",
                steps.join(", ")
            )
        });
        if let Some(why) = &illustration {
            self.lines.insert(0, format!("# {why}"));
            for start in &mut step_lines {
                *start += 1;
            }
        }
        Program { lines: self.lines, step_lines, illustration }
    }

    fn header(&self) -> String {
        let s = self.scenario;
        let mut out = format!("\"\"\"{}\n\nThe lesson {:?}, as a Python program", s.title.replace('"', "'"), s.name);
        if self.speed != 1.0 {
            let _ = write!(out, " (every duration divided by {})", self.speed);
        }
        out.push_str(". Run it with python3.\n\"\"\"\n\n");
        match self.dialect {
            Dialect::Asyncio => out.push_str("import asyncio\n"),
            Dialect::Executor | Dialect::MultiprocessingPool => {}
        }
        let multiprocessing = s.pool.kind == PoolKind::Process || !queues(s).is_empty();
        if multiprocessing || self.dialect == Dialect::MultiprocessingPool {
            out.push_str("import multiprocessing\n");
        }
        if self.dialect == Dialect::MultiprocessingPool && s.pool.kind == PoolKind::Thread {
            out.push_str("import multiprocessing.pool\n");
        }
        out.push_str("import os\nimport threading\nimport time\n");
        if self.dialect == Dialect::Executor {
            let mut names = match s.pool.kind {
                PoolKind::Process => vec!["ProcessPoolExecutor"],
                // The executor is the client's: `client.get_executor()`.
                PoolKind::Dask => vec![],
                _ => vec!["ThreadPoolExecutor"],
            };
            for step in &s.steps {
                match &step.op {
                    Op::AsCompleted { .. } => names.push("as_completed"),
                    Op::Wait { return_when, .. } => {
                        names.push("wait");
                        match return_when {
                            ReturnWhen::FirstCompleted => names.push("FIRST_COMPLETED"),
                            ReturnWhen::FirstException => names.push("FIRST_EXCEPTION"),
                            ReturnWhen::AllCompleted => {}
                        }
                    }
                    _ => {}
                }
            }
            let mut seen = BTreeSet::new();
            names.retain(|n| seen.insert(*n));
            if !names.is_empty() {
                let _ = writeln!(out, "from concurrent.futures import {}", names.join(", "));
            }
            if s.pool.kind == PoolKind::Dask {
                out.push_str("\nfrom distributed import Client  # pip install distributed\n");
            }
            if !s.pool.main_guard {
                out.push_str("from concurrent.futures.process import BrokenProcessPool\n");
            }
        }
        out
    }

    fn functions(&self) -> String {
        let s = self.scenario;
        let mut out = String::new();
        let name = match s.pool.kind {
            PoolKind::Process => "multiprocessing.current_process().name",
            _ => "threading.current_thread().name",
        };
        let _ = write!(
            out,
            "\n\ndef who():\n    \"\"\"The worker running this: its name and process id.\"\"\"\n    \
             return f\"{{{name}}} (pid {{os.getpid()}})\"\n"
        );
        out.push_str(&self.globals());
        if s.tasks.values().any(|t| t.work == Work::Spin) {
            out.push_str(
                "\n\ndef burn(loops):\n    \"\"\"Real arithmetic, `loops` rounds of it.\"\"\"\n    x = 0\n    \
                 for _ in range(loops):\n        x = (x * 31 + 7) % 1000003\n    return x\n\n\n\
                 def loops_per_second():\n    \"\"\"How many rounds of burn() one free core runs in a second, measured once.\"\"\"\n    \
                 start = time.perf_counter()\n    burn(200_000)\n    return 200_000 / (time.perf_counter() - start)\n\n\n\
                 LOOPS_PER_SECOND = loops_per_second()\n\n\n\
                 def burn_cpu(seconds):\n    \"\"\"CPU-bound: the arithmetic one free core does in `seconds` (shared cores, or a\n    \
                 shared GIL, make it take longer — it is never a timed wait).\"\"\"\n    \
                 burn(int(seconds * LOOPS_PER_SECOND))\n",
            );
        }
        if s.pool.kind == PoolKind::Process && self.dialect != Dialect::Asyncio && !managed_queues(s).is_empty() {
            out.push_str(
                "\n\ndef share_queues(queues):\n    \"\"\"Runs once in each worker process: the Manager's queues become globals there too.\"\"\"\n    \
                 globals().update(queues)\n",
            );
        }
        let callbacks =
            s.steps.iter().any(|st| matches!(st.op, Op::AddCallback { .. } | Op::Submit { callback: true, .. }));
        if callbacks {
            match self.dialect {
                Dialect::MultiprocessingPool => out.push_str(
                    "\n\ndef done(outcome):\n    \"\"\"Called with a task's result (or its exception) on the pool's result thread.\"\"\"\n    \
                     print(\"callback:\", outcome, \"on\", threading.current_thread().name)\n",
                ),
                Dialect::Executor | Dialect::Asyncio => out.push_str(
                    "\n\ndef done(f):\n    \"\"\"Called once f is done: on the thread that finished it, or at once if it already is.\"\"\"\n    \
                     if f.cancelled():\n        outcome = \"cancelled\"\n    elif f.exception() is not None:\n        \
                     outcome = repr(f.exception())\n    else:\n        outcome = f.result()\n    \
                     print(\"callback:\", outcome, \"on\", threading.current_thread().name)\n",
                ),
            }
        }
        if s.steps.iter().any(|st| matches!(st.op, Op::AddCallback { raises: true, .. })) {
            let _ = write!(
                out,
                "\n\ndef done_raising(f):\n    \"\"\"A callback with a bug: the pool logs its exception and goes on.\"\"\"\n    \
                 done(f)\n    raise RuntimeError({CALLBACK_FAILED:?})\n"
            );
        }
        let initializer = s.pool.initializer.as_ref().and_then(|name| s.tasks.get(name));
        if let Some(template) = initializer {
            out.push_str("\n\nstate = threading.local()  # each worker thread's own: what its initializer set up\n");
            out.push_str("\n\n");
            out.push_str(&self.initializer(template));
        }
        for task in s.tasks.values().filter(|t| Some(&t.name) != s.pool.initializer.as_ref()) {
            out.push_str("\n\n");
            out.push_str(&self.function(task));
        }
        out
    }

    /// The counters and locks, globals of the program (an asyncio program makes its locks in
    /// `main()`, on its loop).
    fn globals(&self) -> String {
        let (counters, locks) = self.scenario.counters_and_locks();
        if counters.is_empty() {
            return String::new();
        }
        let shared = match (self.dialect, self.scenario.pool.kind) {
            (Dialect::Asyncio, _) => "every task on the loop reads and writes this one",
            (_, PoolKind::Process) => "each worker process has a copy of its own",
            _ => "every thread reads and writes this one",
        };
        let mut out = String::from("\n\n");
        for counter in counters {
            let _ = writeln!(out, "{counter} = 0  # a global: {shared}");
        }
        if self.dialect != Dialect::Asyncio {
            for lock in locks {
                let _ = writeln!(out, "{lock} = threading.Lock()");
            }
        }
        out
    }

    /// The pool's initializer: the template's work, then what it sets up on its worker
    /// thread. Its one argument is the template's label (`initargs=(LABEL,)`).
    fn initializer(&self, task: &TaskTemplate) -> String {
        let seconds = match &task.duration {
            DurationSpec::Fixed(d) => self.seconds(*d),
            // Checked: an initializer's duration is fixed.
            DurationSpec::Range(..) | DurationSpec::List(_) => "0".into(),
        };
        let zero = matches!(&task.duration, DurationSpec::Fixed(d) if d.is_zero());
        let wait_first = if zero { String::new() } else { format!("time.sleep({seconds})\n") };
        let setup = "state.setup = f\"{name} of {threading.current_thread().name}\"";
        let body = match &task.work {
            Work::Noop => format!("{wait_first}{setup}"),
            Work::Sleep => format!("time.sleep({seconds})  # I/O-bound: waits without using the CPU\n{setup}"),
            Work::Spin => format!("burn_cpu({seconds})  # CPU-bound: computes, never waits\n{setup}"),
            Work::SumSquares { n } => format!("sum(x * x for x in range({n}))\n{setup}"),
            Work::Fail { message } => format!("{wait_first}raise Exception({message:?})"),
            Work::Crash => format!("{wait_first}raise RuntimeError(\"the task crashed\")  # a thread cannot die alone"),
            // Checked: an initializer uses no queue and no counter.
            Work::QueuePut { .. } | Work::QueueGet { .. } | Work::Increment { .. } => setup.to_string(),
        };
        format!(
            "def {}(name):\n    \"\"\"The pool's initializer: each worker thread runs it once, before its first task.\"\"\"\n{}\n",
            task.name,
            indent(&body, 4)
        )
    }

    fn function(&self, task: &TaskTemplate) -> String {
        let asyncio = self.dialect == Dialect::Asyncio;
        let ranged = matches!(task.duration, DurationSpec::Range(..));
        let seconds = match &task.duration {
            DurationSpec::Fixed(d) => self.seconds(*d),
            DurationSpec::Range(..) => "seconds".to_string(),
            DurationSpec::List(list) => {
                let items: Vec<String> = list.iter().map(|d| self.seconds(*d)).collect();
                format!("[{}][i % {}]", items.join(", "), list.len())
            }
        };
        let zero = matches!(&task.duration, DurationSpec::Fixed(d) if d.is_zero());
        let sleep = if asyncio { "await asyncio.sleep" } else { "time.sleep" };
        let wait_first = if zero { String::new() } else { format!("{sleep}({seconds})\n") };
        let label = f_string(&task.label);
        // A pool with an initializer: each task also reports what it set up on its worker.
        let setup = self.scenario.pool.initializer.is_some() && !asyncio;
        let (plain, more) = if setup { (" -> with {state.setup}", ", with {state.setup}") } else { ("", "") };
        let value = format!("f\"{label} by {{who()}}");
        let body = match &task.work {
            Work::Noop => format!("{wait_first}return {value}{plain}\""),
            Work::Sleep => {
                format!("{sleep}({seconds})  # I/O-bound: waits without using the CPU\nreturn {value}{plain}\"")
            }
            Work::Spin => format!("burn_cpu({seconds})  # CPU-bound: computes, never waits\nreturn {value}{plain}\""),
            Work::SumSquares { n } => {
                format!("total = sum(x * x for x in range({n}))\nreturn {value} -> {{total}}{more}\"")
            }
            Work::Fail { message } => format!("{wait_first}raise Exception({message:?})"),
            Work::Crash => match (self.scenario.pool.kind, asyncio) {
                (PoolKind::Process, false) => format!("{wait_first}os.abort()  # the worker process dies (SIGABRT)"),
                _ => format!("{wait_first}raise RuntimeError(\"the task crashed\")  # a thread cannot die alone"),
            },
            Work::QueuePut { queue, item } => {
                let put = if asyncio { format!("await {queue}.put") } else { format!("{queue}.put") };
                let item = f_string(item);
                format!("{wait_first}{put}(f\"{item}\")\nreturn {value} -> put \\\"{item}\\\" on {queue}{more}\"")
            }
            Work::QueueGet { queue } => {
                let get = if asyncio { format!("await {queue}.get()") } else { format!("{queue}.get()") };
                format!(
                    "{wait_first}item = {get}  # waits while the queue is empty\nreturn {value} -> got \\\"{{item}}\\\" from {queue}{more}\""
                )
            }
            Work::Increment { counter, lock } => {
                let switch = match (asyncio, self.scenario.pool.kind) {
                    (true, _) => "the loop switches here: another task reads the same value",
                    (false, PoolKind::Process) => "no other worker reads this process's counter",
                    (false, _) => "the switch can fall here: another thread reads the same value",
                };
                let add = format!("v = {counter}  # read\n{sleep}({seconds})  # {switch}\n{counter} = v + 1  # write");
                let add = match lock {
                    Some(lock) if asyncio => format!("async with {lock}:\n{}", indent(&add, 4)),
                    Some(lock) => format!("with {lock}:\n{}", indent(&add, 4)),
                    None => add,
                };
                format!("global {counter}\n{add}\nreturn {value} -> read {{v}}, wrote {{v + 1}}\"")
            }
        };
        let def = if asyncio { "async def" } else { "def" };
        let mut args = if ranged { "i, seconds".to_string() } else { "i".to_string() };
        if let Some(queue) = plain_queue(self.scenario, task) {
            // A plain queue reaches a task only as its argument.
            let _ = write!(args, ", {queue}");
        }
        format!("{def} {}({args}):\n{}\n", task.name, indent(&body, 4))
    }

    fn pool_constructor(&self) -> String {
        let s = self.scenario;
        if s.pool.kind == PoolKind::Dask {
            // The client starts a LocalCluster (or attaches to a scheduler) and closes it
            // when its with-block ends; its executor is a concurrent.futures executor.
            let workers = match s.pool.workers {
                WorkerCount::Fixed(n) if s.pool.workers_written => Some(n),
                _ => None,
            };
            return format!("{} as client, client.get_executor()", s.pool.dask.client(workers));
        }
        let workers = s.pool.workers.python();
        let share = if s.pool.kind == PoolKind::Process && !managed_queues(s).is_empty() {
            let entries: Vec<String> = managed_queues(s).iter().map(|q| format!("{q:?}: {q}")).collect();
            format!(", initializer=share_queues, initargs=({{{}}},)", entries.join(", "))
        } else {
            String::new()
        };
        // Linux's default start method (up to Python 3.13) is fork; another is said, except
        // where ProcessPoolExecutor takes spawn itself (with max_tasks_per_child).
        let max_tasks = s.pool.max_tasks_per_child;
        let spawn =
            s.pool.start_method == StartMethod::Spawn && !(self.dialect == Dialect::Executor && max_tasks.is_some());
        let share = match (max_tasks, self.dialect) {
            (Some(n), Dialect::MultiprocessingPool) => format!("{share}, maxtasksperchild={n}"),
            (Some(n), _) => format!("{share}, max_tasks_per_child={n}"),
            (None, _) => share,
        };
        match (self.dialect, s.pool.kind) {
            (Dialect::MultiprocessingPool, PoolKind::Process) if spawn => {
                format!("multiprocessing.get_context(\"spawn\").Pool(processes={workers}{share})")
            }
            (Dialect::MultiprocessingPool, PoolKind::Process) => {
                format!("multiprocessing.Pool(processes={workers}{share})")
            }
            (Dialect::MultiprocessingPool, _) => {
                format!("multiprocessing.pool.ThreadPool(processes={workers}{})", self.thread_options())
            }
            (_, PoolKind::Process) if spawn => format!(
                "ProcessPoolExecutor(max_workers={workers}{share}, mp_context=multiprocessing.get_context(\"spawn\"))"
            ),
            (_, PoolKind::Process) => format!("ProcessPoolExecutor(max_workers={workers}{share})"),
            _ => format!("ThreadPoolExecutor(max_workers={workers}{})", self.thread_options()),
        }
    }

    /// A thread pool's `thread_name_prefix`, `initializer` and `initargs`, as arguments.
    fn thread_options(&self) -> String {
        let pool = &self.scenario.pool;
        let mut out = String::new();
        if let Some(prefix) = &pool.thread_name_prefix {
            let _ = write!(out, ", thread_name_prefix={prefix:?}");
        }
        if let Some(template) = pool.initializer.as_ref().and_then(|name| self.scenario.tasks.get(name)) {
            let _ = write!(out, ", initializer={}, initargs=({:?},)", template.name, template.label);
        }
        out
    }

    /// From the `__main__` guard (or `async def main`) to the first step; and the steps' indent.
    fn opening(&self) -> (String, usize) {
        let s = self.scenario;
        let mut lists = String::new();
        if self.keep_all {
            lists.push_str("futures = []  # every future, in submission order\n");
        }
        let mut named = BTreeSet::new();
        for step in &s.steps {
            if let Op::Submit { into: Some(n), .. } | Op::Map { into: Some(n), .. } | Op::Arrive { into: Some(n), .. } =
                &step.op
                && named.insert(n.as_str())
            {
                let _ = writeln!(lists, "{} = []", self.list(n));
            }
        }
        let queues = managed_queues(s);
        if self.dialect == Dialect::Asyncio {
            let mut out = String::from("\n\nasync def main():\n");
            if !queues.is_empty() {
                let names: Vec<&str> = queues.iter().copied().collect();
                let _ = writeln!(out, "    global {}  # the tasks reach the queues by name", names.join(", "));
                for q in &queues {
                    let _ = writeln!(out, "    {q} = asyncio.Queue()");
                }
            }
            let (_, locks) = s.counters_and_locks();
            if !locks.is_empty() {
                let names: Vec<&str> = locks.iter().copied().collect();
                let them = if names.len() == 1 { "it" } else { "them" };
                let _ = writeln!(
                    out,
                    "    global {}  # made on the loop; the tasks reach {them} by name",
                    names.join(", ")
                );
                for lock in &locks {
                    let _ = writeln!(out, "    {lock} = asyncio.Lock()");
                }
            }
            out.push_str(&indent(&lists, 4));
            out.push_str("\n    # the event loop is the pool: one thread runs every task, switching only at await\n");
            return (out, 4);
        }
        if !s.pool.main_guard {
            // Without the guard: the pool is made at the top level, which every spawned
            // worker runs again when it imports this file.
            let mut out = String::from(
                "\n\n# no `if __name__ == \"__main__\":` guard: each spawned worker runs the lines below again\n",
            );
            out.push_str(&lists);
            let _ = writeln!(out, "with {} as pool:", self.pool_constructor());
            return (out, 4);
        }
        let mut out = String::from("\n\nif __name__ == \"__main__\":\n");
        out.push_str(&indent(&lists, 4));
        out.push('\n');
        for q in &s.plain_queues {
            let _ = writeln!(
                out,
                "    {q} = multiprocessing.Queue()  # a plain queue: processes may share it only by inheritance"
            );
        }
        let mut depth = 4;
        if !queues.is_empty() {
            out.push_str("    with multiprocessing.Manager() as manager:  # it hosts the queues\n");
            depth = 8;
            for q in &queues {
                let _ = writeln!(out, "        {q} = manager.Queue()");
            }
        }
        let _ = writeln!(out, "{}with {} as pool:", " ".repeat(depth), self.pool_constructor());
        (out, depth + 4)
    }

    fn closing(&self) -> String {
        match self.dialect {
            Dialect::Executor => "# the with-block ends: pool.shutdown(wait=True)".to_string(),
            Dialect::MultiprocessingPool if self.joined => "# the with-block ends (the pool is already gone)".to_string(),
            Dialect::MultiprocessingPool if self.closed => "pool.join()  # wait for the workers to exit".to_string(),
            Dialect::MultiprocessingPool if self.init_raises => {
                "# no worker is left, and close() would start new ones whose initializer raises again,\n\
                 # so join() would wait forever: leaving the with-block terminate()s the pool"
                    .to_string()
            }
            Dialect::MultiprocessingPool if self.crashed && self.scenario.pool.kind == PoolKind::Process => {
                "# a task whose worker died never finishes, so close() and join() would wait forever:\n\
                 # leaving the with-block terminate()s the pool"
                    .to_string()
            }
            Dialect::MultiprocessingPool => {
                "# leaving the with-block would terminate() the pool; wait for every task first\npool.close()\npool.join()"
                    .to_string()
            }
            Dialect::Asyncio => {
                "# the end: wait for every task, as leaving an executor's with-block does\n\
                 await asyncio.gather(*futures, return_exceptions=True)"
                    .to_string()
            }
        }
    }

    fn trailer(&self) -> String {
        match self.dialect {
            Dialect::Asyncio => "\n\nif __name__ == \"__main__\":\n    asyncio.run(main())".to_string(),
            Dialect::Executor | Dialect::MultiprocessingPool => String::new(),
        }
    }

    /// `body` inside `try: ... except: print(repr(e))` when `catch` is set.
    fn tried(&self, body: &str, catch: bool) -> String {
        if !catch {
            return body.to_string();
        }
        format!("try:\n{}\nexcept {} as e:\n    print(repr(e))", indent(body, 4), self.catch)
    }

    /// A submit or map can be refused: the pool is shut, or broken by a dead process or an
    /// initializer that raised.
    fn may_refuse(&self) -> bool {
        self.closed
            || (self.started_broken && self.dialect == Dialect::Executor)
            || (self.crashed
                && self.scenario.pool.kind == PoolKind::Process
                && self.dialect == Dialect::Executor
                && self.scenario.pool.on_worker_death == WorkerDeath::Break)
    }

    /// Draws the step's durations as the runner does; for a ranged template, the Python list
    /// holding them.
    fn draw(&mut self, task: &str, count: usize) -> Option<String> {
        let template = &self.scenario.tasks[task];
        // Only a ranged template's program lists its durations; a step may submit a million.
        let ranged = matches!(template.duration, DurationSpec::Range(..));
        let mut drawn = Vec::with_capacity(if ranged { count } else { 0 });
        for i in 0..count {
            let d = template.duration_of(i, &mut self.rng, self.speed);
            self.submitted += d;
            if ranged {
                drawn.push(python_seconds(d));
            }
        }
        if template.work == Work::Crash {
            self.crashed = true;
        }
        if self.init_raises {
            self.started_broken = true;
        }
        ranged.then(|| {
            format!(
                "seconds = [{}]  # {task}'s durations, drawn with seed {} as poolscope draws them",
                drawn.join(", "),
                self.seed
            )
        })
    }

    fn step(&mut self, op: &Op) -> String {
        let refuse = self.may_refuse();
        match op {
            Op::Submit { task, count, sync, callback, into } => {
                let drawn = self.draw(task, *count);
                let code = self.submit(task, *count, *sync, *callback, into.as_deref(), drawn.is_some());
                let code = self.tried(&code, refuse);
                match drawn {
                    Some(list) => format!("{list}\n{code}"),
                    None => code,
                }
            }
            Op::Map { task, count, chunksize, timeout, into } => {
                let drawn = self.draw(task, *count);
                let code = self.map(task, *count, *chunksize, *timeout, into.as_deref(), drawn.is_some());
                let code = self.tried(&code, refuse || self.may_raise);
                match drawn {
                    Some(list) => format!("{list}\n{code}"),
                    None => code,
                }
            }
            Op::Arrive { task, rate, limit, into } => {
                let code = self.arrive(task, *rate, *limit, into.as_deref());
                self.tried(&code, refuse)
            }
            Op::AsCompleted { of, timeout } => {
                let of = self.batch(of);
                let t = timeout.map(|t| format!(", timeout={}", self.seconds(t))).unwrap_or_default();
                let code = match self.dialect {
                    Dialect::Asyncio => {
                        format!(
                            "for f in asyncio.as_completed({of}{t}):\n{}",
                            indent(&self.tried("print(await f)", true), 4)
                        )
                    }
                    _ => format!(
                        "for f in as_completed({of}{t}):\n{}",
                        indent(&self.tried("print(f.result())", true), 4)
                    ),
                };
                self.tried(&code, timeout.is_some() && self.dialect != Dialect::Asyncio)
            }
            Op::Wait { of, return_when, timeout } => {
                let mut args = vec![self.batch(of)];
                if let Some(t) = timeout {
                    args.push(format!("timeout={}", self.seconds(*t)));
                }
                let module = if self.dialect == Dialect::Asyncio { "asyncio." } else { "" };
                match return_when {
                    ReturnWhen::AllCompleted => {}
                    ReturnWhen::FirstCompleted => args.push(format!("return_when={module}FIRST_COMPLETED")),
                    ReturnWhen::FirstException => args.push(format!("return_when={module}FIRST_EXCEPTION")),
                }
                let call = match self.dialect {
                    Dialect::Asyncio => format!("await asyncio.wait({})", args.join(", ")),
                    _ => format!("wait({})", args.join(", ")),
                };
                // Not `done`: that is the done-callback's name.
                format!("finished, unfinished = {call}\nprint(len(finished), \"done,\", len(unfinished), \"not done\")")
            }
            Op::Results { of, timeout } => self.results(&self.batch(of), *timeout),
            Op::Imap { task, count, chunksize, ordered } => {
                self.draw(task, *count);
                let chunks = if *chunksize == 1 { String::new() } else { format!(", chunksize={chunksize}") };
                let imap = if *ordered { "imap" } else { "imap_unordered" };
                let code = format!("for result in pool.{imap}({task}, range({count}){chunks}):\n    print(result)");
                self.tried(&code, refuse || self.may_raise)
            }
            Op::Exceptions { of, timeout } => {
                let t = timeout.map(|t| format!("timeout={}", self.seconds(t))).unwrap_or_default();
                let call = match self.dialect {
                    // A task's exception() raises InvalidStateError until it is done.
                    Dialect::Asyncio => "await asyncio.wait([f])\nprint(repr(f.exception()))".to_string(),
                    _ => format!("print(repr(f.exception({t})))"),
                };
                let body = self.tried(&call, true);
                format!("for f in {}:\n{}", self.batch(of), indent(&body, 4))
            }
            Op::AddCallback { of, raises } => {
                let done = if *raises { "done_raising" } else { "done" };
                format!("for f in {}:\n    f.add_done_callback({done})", self.batch(of))
            }
            Op::Cancel { of } => format!("for f in {}:\n    print(f.cancel())", self.batch(of)),
            Op::Poll { of } => match self.dialect {
                Dialect::Executor => {
                    format!("for f in {}:\n    print(f.done(), f.running(), f.cancelled())", self.batch(of))
                }
                Dialect::Asyncio => format!("for f in {}:\n    print(f.done(), f.cancelled())", self.batch(of)),
                Dialect::MultiprocessingPool => format!("for r in {}:\n    print(r.ready())", self.batch(of)),
            },
            Op::Sleep { duration } => match self.dialect {
                Dialect::Asyncio => format!("await asyncio.sleep({})", self.seconds(*duration)),
                _ => format!("time.sleep({})", self.seconds(*duration)),
            },
            Op::Shutdown { wait, cancel_futures } => {
                self.closed = true;
                self.joined |= *wait;
                match self.dialect {
                    Dialect::Asyncio => {
                        let mut out = String::from("# an event loop has no shutdown(): nothing refuses new tasks");
                        if *cancel_futures {
                            out.push_str("\nfor f in futures:\n    f.cancel()  # unlike an executor, this also stops running tasks");
                        }
                        if *wait {
                            out.push_str("\nawait asyncio.gather(*futures, return_exceptions=True)");
                        }
                        out
                    }
                    _ => format!("pool.shutdown(wait={}, cancel_futures={})", py_bool(*wait), py_bool(*cancel_futures)),
                }
            }
            Op::Resize { workers } => {
                let workers = workers.python();
                match self.dialect {
                    Dialect::Executor => {
                        let constructor =
                            self.pool_constructor().replace(&self.scenario.pool.workers.python(), &workers);
                        format!(
                            "# poolscope resizes the running pool (set_workers({workers})); Python cannot,\n\
                             # so this program starts a new pool of that size. The old one finishes its tasks.\n\
                             pool.shutdown(wait=False)\npool = {constructor}"
                        )
                    }
                    _ => format!("# poolscope resizes the running pool here (set_workers({workers})); Python cannot"),
                }
            }
            Op::Note { text } => text.lines().map(|l| format!("# {l}")).collect::<Vec<_>>().join("\n"),
            Op::PrintCounter { counter } => print_counter(counter),
            Op::Close => {
                self.closed = true;
                match self.dialect {
                    Dialect::MultiprocessingPool => "pool.close()".to_string(),
                    Dialect::Executor => "pool.shutdown(wait=False)  # an executor's close()".to_string(),
                    Dialect::Asyncio => "# an event loop has no close(): nothing refuses new tasks".to_string(),
                }
            }
            Op::Join => {
                let open = !self.closed;
                let code = match self.dialect {
                    Dialect::MultiprocessingPool => "pool.join()".to_string(),
                    Dialect::Executor => "pool.shutdown(wait=True)  # an executor's join()".to_string(),
                    Dialect::Asyncio => "await asyncio.gather(*futures, return_exceptions=True)".to_string(),
                };
                if !open {
                    self.joined = true;
                }
                self.tried(&code, open && self.dialect == Dialect::MultiprocessingPool)
            }
            Op::Terminate => {
                self.closed = true;
                self.terminated = true;
                match self.dialect {
                    Dialect::MultiprocessingPool => "pool.terminate()".to_string(),
                    Dialect::Executor => {
                        "pool.shutdown(wait=False, cancel_futures=True)  # the nearest an executor has to terminate()"
                            .to_string()
                    }
                    Dialect::Asyncio => "for f in futures:\n    f.cancel()  # terminate(): stop every task".to_string(),
                }
            }
        }
    }

    /// The call that submits task `i` (or `0`), as the dialect writes it.
    /// The Python list holding the batch `name`: the name itself, unless a function or a name
    /// the program uses already has it (then `name_futures`), since batches and task
    /// templates are apart in a lesson but share one namespace in Python.
    fn list(&self, name: &str) -> String {
        let (counters, locks) = self.scenario.counters_and_locks();
        if self.scenario.tasks.contains_key(name)
            || PROGRAM_NAMES.contains(&name)
            || counters.contains(name)
            || locks.contains(name)
        {
            format!("{name}_futures")
        } else {
            name.to_string()
        }
    }

    /// The Python list of a batch.
    fn batch(&self, of: &crate::scenario::model::Batch) -> String {
        match of {
            crate::scenario::model::Batch::All => "futures".to_string(),
            crate::scenario::model::Batch::Named(name) => self.list(name),
        }
    }

    fn call(&self, task: &str, index: &str, ranged: bool) -> String {
        let seconds = if ranged { format!(", seconds[{index}]") } else { String::new() };
        let queue = plain_queue(self.scenario, &self.scenario.tasks[task]).map(|q| format!(", {q}"));
        match (self.dialect, queue) {
            (Dialect::Executor, queue) => format!("pool.submit({task}, {index}{seconds}{})", queue.unwrap_or_default()),
            (Dialect::MultiprocessingPool, None) => format!("pool.apply_async({task}, ({index}{seconds},))"),
            (Dialect::MultiprocessingPool, Some(queue)) => {
                format!("pool.apply_async({task}, ({index}{seconds}{queue}))")
            }
            (Dialect::Asyncio, _) => format!("asyncio.create_task({task}({index}{seconds}))"),
        }
    }

    fn submit(&self, task: &str, count: usize, sync: bool, callback: bool, into: Option<&str>, ranged: bool) -> String {
        let index = if count == 1 { "0" } else { "i" };
        let call = self.call(task, index, ranged);
        let simple = !(sync || callback && self.dialect != Dialect::MultiprocessingPool);
        let each = |body: String| {
            if count == 1 { body } else { format!("for i in range({count}):\n{}", indent(&body, 4)) }
        };
        if simple {
            // Only a multiprocessing pool's submit is simple with a callback: apply_async takes it.
            let call = match call.strip_suffix(')') {
                Some(open) if callback => format!("{open}, callback=done, error_callback=done)"),
                _ => call,
            };
            let listed = if count == 1 { format!("[{call}]") } else { format!("[{call} for i in range({count})]") };
            return match (into.map(|n| self.list(n)), self.keep_all) {
                // A batch named again grows, as the lesson's does.
                (Some(name), true) => format!("new = {listed}\n{name} += new\nfutures += new"),
                (Some(name), false) => format!("{name} += {listed}"),
                (None, true) => format!("futures += {listed}"),
                (None, false) => each(call),
            };
        }
        let mut body = Vec::new();
        let out = String::new();
        if self.dialect == Dialect::MultiprocessingPool && into.is_none() {
            // sync: apply() is submit-and-wait in one call.
            let apply = call.replace("apply_async", "apply");
            body.push(self.tried(&format!("print({apply})"), self.may_raise));
            return format!("{out}{}", each(body.join("\n")));
        }
        body.push(format!("f = {call}"));
        if callback && self.dialect != Dialect::MultiprocessingPool {
            body.push("f.add_done_callback(done)".into());
        }
        if let Some(name) = into {
            body.push(format!("{}.append(f)", self.list(name)));
        }
        if self.keep_all {
            body.push("futures.append(f)".into());
        }
        if sync {
            let result = match self.dialect {
                Dialect::Asyncio => "print(await f)",
                // get() at once: the AsyncResult is kept, the call as synchronous as apply().
                Dialect::MultiprocessingPool => "print(f.get())",
                Dialect::Executor => "print(f.result())",
            };
            body.push(self.tried(result, self.may_raise));
        }
        format!("{out}{}", each(body.join("\n")))
    }

    fn map(
        &self,
        task: &str,
        count: usize,
        chunksize: usize,
        timeout: Option<Duration>,
        into: Option<&str>,
        ranged: bool,
    ) -> String {
        let t = timeout.map(|t| self.seconds(t));
        let seconds = if ranged { ", seconds" } else { "" };
        if into.is_some() || self.keep_all {
            // Written out: map() hands back results, and the lesson names its futures.
            let call = self.call(task, "i", ranged);
            let mut out = format!(
                "# pool.map({task}, range({count})), written out to keep its futures\nmapped = [{call} for i in range({count})]\n"
            );
            if let Some(name) = into {
                let _ = writeln!(out, "{} += mapped", self.list(name));
            }
            if self.keep_all {
                let _ = writeln!(out, "futures += mapped");
            }
            let result = self.result_call(t.as_deref());
            let _ = write!(out, "for f in mapped:\n    print({result})");
            return out;
        }
        let mut args = vec![task.to_string(), format!("range({count}){seconds}")];
        if let Some(queue) = plain_queue(self.scenario, &self.scenario.tasks[task]) {
            let _ = write!(args[1], ", [{queue}] * {count}");
        }
        match self.dialect {
            Dialect::Executor => {
                if chunksize != 1 {
                    args.push(format!("chunksize={chunksize}"));
                }
                if let Some(t) = t {
                    args.push(format!("timeout={t}"));
                }
                format!("for result in pool.map({}):\n    print(result)", args.join(", "))
            }
            Dialect::MultiprocessingPool => {
                // Pool.map passes one argument per item (its third is the chunksize): a task
                // of two arguments is mapped with starmap over the pairs.
                let map = if ranged {
                    args[1] = format!("zip(range({count}), seconds)");
                    "starmap"
                } else {
                    "map"
                };
                if chunksize != 1 {
                    args.push(format!("chunksize={chunksize}"));
                }
                let call = match t {
                    Some(t) => format!("pool.{map}_async({}).get(timeout={t})", args.join(", ")),
                    None => format!("pool.{map}({})", args.join(", ")),
                };
                format!("for result in {call}:\n    print(result)")
            }
            Dialect::Asyncio => {
                let items = if ranged { "i, seconds[i]" } else { "i" };
                let gather = format!("asyncio.gather(*({task}({items}) for i in range({count})))");
                let call = match t {
                    Some(t) => format!("await asyncio.wait_for({gather}, timeout={t})"),
                    None => format!("await {gather}"),
                };
                format!("for result in {call}:\n    print(result)")
            }
        }
    }

    /// What waits for one future `f` (an `AsyncResult` `f` on a `multiprocessing` pool).
    fn result_call(&self, timeout: Option<&str>) -> String {
        match (self.dialect, timeout) {
            (Dialect::Executor, None) => "f.result()".into(),
            (Dialect::Executor, Some(t)) => format!("f.result(timeout={t})"),
            (Dialect::MultiprocessingPool, None) => "f.get()".into(),
            (Dialect::MultiprocessingPool, Some(t)) => format!("f.get(timeout={t})"),
            (Dialect::Asyncio, None) => "await f".into(),
            (Dialect::Asyncio, Some(t)) => format!("await asyncio.wait_for(asyncio.shield(f), timeout={t})"),
        }
    }

    fn results(&self, of: &str, timeout: Option<Duration>) -> String {
        let mut comment = String::new();
        let timeout = match timeout {
            Some(t) => Some(self.seconds(t)),
            None if self.dialect == Dialect::MultiprocessingPool && self.terminated => {
                comment = "# after terminate() no more results arrive: take those already here\n".into();
                Some("0".into())
            }
            None if self.dialect == Dialect::MultiprocessingPool
                && self.crashed
                && self.scenario.pool.kind == PoolKind::Process =>
            {
                // The lost result never comes: wait no longer than every task could take.
                let limit = self.submitted + Duration::from_secs(1);
                comment = format!(
                    "# a task whose worker died never delivers its result: give up after {} s\n",
                    python_seconds(limit)
                );
                Some(python_seconds(limit))
            }
            None if self.dialect == Dialect::MultiprocessingPool && self.init_raises => {
                let limit = self.submitted + Duration::from_secs(1);
                comment = format!(
                    "# every worker's initializer raised, so no task runs and no result comes: give up after {} s\n",
                    python_seconds(limit)
                );
                Some(python_seconds(limit))
            }
            None => None,
        };
        let call = self.result_call(timeout.as_deref());
        format!("{comment}for f in {of}:\n{}", indent(&self.tried(&format!("print({call})"), self.may_raise), 4))
    }
}

/// The template names a lesson's steps use, for tests.
#[cfg(test)]
fn used(scenario: &Scenario) -> std::collections::BTreeMap<&str, usize> {
    let mut out = std::collections::BTreeMap::new();
    for step in &scenario.steps {
        if let Op::Submit { task, .. } | Op::Map { task, .. } | Op::Arrive { task, .. } = &step.op {
            *out.entry(task.as_str()).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn program_of(name: &str) -> Program {
        program(&scenario::load(name).unwrap(), ProgramOptions::default())
    }

    #[test]
    fn every_builtin_program_defines_what_it_uses() {
        for name in scenario::builtin_names() {
            let lesson = scenario::load(name).unwrap();
            let text = program(&lesson, ProgramOptions::default()).text();
            for task in used(&lesson).keys() {
                assert!(text.contains(&format!("def {task}(")), "{name}: {task} is defined\n{text}");
            }
            assert!(text.contains("if __name__ == \"__main__\":"), "{name}: the guard\n{text}");
            assert!(!text.contains("LoopPool"), "{name}\n{text}");
            let mut code = text.lines().filter(|l| !l.trim_start().starts_with('#'));
            assert!(!code.any(|l| l.contains("set_workers(")), "{name}: Python pools cannot resize");
            if text.contains("burn_cpu(") {
                assert!(text.contains("def burn_cpu("), "{name}");
            }
        }
    }

    #[test]
    fn each_step_starts_where_the_program_says() {
        let lesson = scenario::load("as-completed").unwrap();
        let p = program(&lesson, ProgramOptions::default());
        assert_eq!(p.step_lines.len(), lesson.steps.len() + 1);
        assert!(p.lines[p.step_lines[2]].trim_start().starts_with("for f in as_completed(futures):"), "{:?}", p.lines);
        assert!(p.lines[p.step_lines[3]].contains("the with-block ends"));
        assert!(p.step_lines.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn pool_words_make_a_multiprocessing_pool_and_coroutines_real_asyncio() {
        let text = program_of("close-join-terminate").text();
        assert!(text.contains("with multiprocessing.Pool(processes=2) as pool:"), "{text}");
        assert!(text.contains("pool.apply_async(job, (i,))"), "{text}");
        assert!(text.contains("f.get(timeout=0)"), "{text}");
        let text = program_of("coroutines").text();
        assert!(text.contains("async def fetch(i):") && text.contains("asyncio.run(main())"), "{text}");
        assert!(text.contains("await asyncio.sleep(1)"), "{text}");
    }

    #[test]
    fn speed_divides_durations_and_ranges_draw_as_the_runner_does() {
        let text = program(&scenario::load("as-completed").unwrap(), ProgramOptions { speed: 4.0, seed: None }).text();
        assert!(text.contains("[0.375, 0.075, 0.25][i % 3]"), "{text}");
        let source = "title = \"t\"\nseed = 3\n[tasks.job]\nwork = \"sleep\"\nduration = \"1s..3s\"\n\
                      [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 3\n";
        let lesson = scenario::parse(source, "ranged.toml", "ranged").unwrap();
        let p = program(&lesson, ProgramOptions::default());
        let mut rng = StdRng::seed_from_u64(3);
        let drawn: Vec<String> =
            (0..3).map(|i| python_seconds(lesson.tasks["job"].instantiate(i, &mut rng, 1.0).duration)).collect();
        assert!(p.text().contains(&format!("seconds = [{}]", drawn.join(", "))), "{}", p.text());
        assert!(p.text().contains("pool.submit(job, i, seconds[i])"), "{}", p.text());
    }

    #[test]
    fn an_increment_reads_waits_and_writes_a_global_inside_its_lock() {
        let on = |kind: &str| {
            let lesson = scenario::load("shared-counter").unwrap();
            let lesson = kind.parse::<scenario::PoolOverride>().unwrap().apply(&lesson).unwrap();
            program(&lesson, ProgramOptions::default()).text()
        };
        let threads = on("kind=thread");
        assert!(threads.contains("\ncounter = 0  # a global: every thread reads and writes this one\n"), "{threads}");
        assert!(threads.contains("\nlock = threading.Lock()\n"), "{threads}");
        let locked = "def add_locked(i):\n    global safe_counter\n    with lock:\n        v = safe_counter  # read\n        \
                      time.sleep(0.1)  # the switch can fall here: another thread reads the same value\n        \
                      safe_counter = v + 1  # write\n    return f\"Locked{i} by {who()} -> read {v}, wrote {v + 1}\"\n";
        assert!(threads.contains(locked), "{threads}");
        assert!(threads.contains("def add(i):\n    global counter\n    v = counter  # read\n"), "{threads}");
        assert!(threads.contains("        print(\"counter =\", counter)\n"), "{threads}");
        // asyncio: the wait is an await point, the lock an asyncio.Lock made on the loop.
        let coroutines = on("kind=coroutine");
        assert!(
            coroutines
                .contains("    async with lock:\n        v = safe_counter  # read\n        await asyncio.sleep(0.1)")
        );
        assert!(
            coroutines.contains(
                "    global lock  # made on the loop; the tasks reach it by name\n    lock = asyncio.Lock()\n"
            )
        );
        assert!(!coroutines.contains("threading.Lock()"), "{coroutines}");
        // Each worker process has its own copy of the globals.
        let processes = on("kind=process");
        assert!(
            processes.contains("counter = 0  # a global: each worker process has a copy of its own"),
            "{processes}"
        );
    }

    #[test]
    fn a_batch_named_like_a_counter_gets_a_list_of_its_own() {
        let source = "title = \"t\"\n[tasks.add]\nwork = \"increment\"\ncounter = \"hits\"\n\
                      [[step]]\nop = \"submit\"\ntask = \"add\"\ninto = \"hits\"\n[[step]]\nop = \"results\"\nof = \"hits\"\n";
        let text = program(&scenario::parse(source, "t.toml", "t").unwrap(), ProgramOptions::default()).text();
        assert!(
            text.contains("hits_futures += [pool.submit(add, 0)]") && text.contains("for f in hits_futures:"),
            "{text}"
        );
    }

    #[test]
    fn a_thread_pools_initializer_and_prefix_are_its_constructors_arguments() {
        let source = |api: &str, prefix: &str, work: &str| {
            format!(
                "title = \"t\"\n[pool]\nworkers = 2\napi = \"{api}\"\n{prefix}initializer = \"connect\"\n\
                 [tasks.connect]\nwork = \"{work}\"\nduration = \"0.5s\"\nlabel = \"session\"\n\
                 [tasks.job]\nwork = \"sleep\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\ninto = \"jobs\"\n\
                 [[step]]\nop = \"results\"\nof = \"jobs\"\n"
            )
        };
        let text =
            |source: &str| program(&scenario::parse(source, "i.toml", "i").unwrap(), ProgramOptions::default()).text();
        let executor = text(&source("executor", "thread_name_prefix = \"fetcher\"\n", "sleep"));
        assert!(
            executor.contains(
                "ThreadPoolExecutor(max_workers=2, thread_name_prefix=\"fetcher\", initializer=connect, initargs=(\"session\",))"
            ),
            "{executor}"
        );
        assert!(
            executor.contains("def connect(name):") && executor.contains("state.setup = f\"{name} of"),
            "{executor}"
        );
        assert!(executor.contains("return f\"job{i} by {who()} -> with {state.setup}\""), "{executor}");
        assert!(!executor.contains("def connect(i)"), "the initializer is not written as a task too\n{executor}");
        let pool = text(&source("multiprocessing", "", "fail"));
        assert!(
            pool.contains("multiprocessing.pool.ThreadPool(processes=2, initializer=connect, initargs=(\"session\",))"),
            "{pool}"
        );
        // Its tasks never run: get() gives up, and the with-block terminates the pool.
        assert!(pool.contains("f.get(timeout="), "{pool}");
        assert!(!pool.contains("pool.join()"), "{pool}");
    }

    #[test]
    fn a_plain_queue_is_made_before_the_pool_and_handed_to_each_task_that_uses_it() {
        let source = |kind: &str, api: &str| {
            format!(
                "title = \"t\"\n[pool]\nkind = \"{kind}\"\nworkers = 2\napi = \"{api}\"\n[queues]\nq = \"plain\"\n\
                 [tasks.writer]\nwork = \"queue_put\"\nqueue = \"q\"\n[tasks.reader]\nwork = \"queue_get\"\nqueue = \"m\"\n\
                 [[step]]\nop = \"submit\"\ntask = \"writer\"\ncount = 2\ninto = \"w\"\n[[step]]\nop = \"results\"\nof = \"w\"\n"
            )
        };
        let text =
            |source: &str| program(&scenario::parse(source, "q.toml", "q").unwrap(), ProgramOptions::default()).text();
        let executor = text(&source("process", "executor"));
        assert!(executor.contains("    q = multiprocessing.Queue()  # a plain queue"), "{executor}");
        assert!(executor.contains("def writer(i, q):") && executor.contains("def reader(i):"), "{executor}");
        assert!(executor.contains("pool.submit(writer, i, q)"), "{executor}");
        // Only the Manager's queue is shared through the initializer.
        assert!(executor.contains("initargs=({\"m\": m},)") && executor.contains("m = manager.Queue()"), "{executor}");
        assert!(executor.contains("except Exception as e:"), "its results raise\n{executor}");
        let pool = text(&source("process", "multiprocessing"));
        assert!(pool.contains("pool.apply_async(writer, (i, q))"), "{pool}");
        let threads = text(&source("thread", "executor"));
        assert!(threads.contains("pool.submit(writer, i, q)"), "{threads}");
    }

    #[test]
    fn a_hand_written_step_marks_the_program_an_illustration() {
        let source = "title = \"t\"\n[tasks.job]\nwork = \"sleep\"\n\
                      [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 1\npython = \"pool.submit(my_job)\"\n";
        let lesson = scenario::parse(source, "own.toml", "own").unwrap();
        let p = program(&lesson, ProgramOptions::default());
        assert!(p.illustration.as_deref().is_some_and(|w| w.contains("step 1")), "{:?}", p.illustration);
        assert!(p.lines[0].starts_with("# an illustration"));
        assert!(p.lines[p.step_lines[0]].contains("the lesson's own code"));
        assert!(program_of("pool-basics").illustration.is_none());
    }
}
