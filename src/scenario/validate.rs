//! From TOML text to a checked [`Scenario`], collecting every error with its place.

mod arrive;
mod dask;
mod predict;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::duration::{DurationSpec, parse_duration, parse_spec};
use super::error::{ScenarioError, ScenarioErrors, Source};
use super::model::{
    Api, Batch, MAX_COUNT, MAX_WORKERS, Op, OpName, PoolConfig, Scenario, Step, TaskTemplate, WorkerCount, WorkerDeath,
};
use super::python;
use super::raw::{RawDuration, RawScenario, RawStep, RawTask, RawWorkers, read};
use crate::pool::{PoolKind, ReturnWhen, StartMethod, Work};

/// Parses and checks a scenario. `file` names it in errors; `name` is its short name.
///
/// # Errors
/// Every problem found, each with file, line, column, field and what was expected.
pub fn parse(text: &str, file: &str, name: &str) -> Result<Scenario, ScenarioErrors> {
    let source = Source { name: file, text };
    let (raw, errors) = read(source).map_err(|e| ScenarioErrors(vec![e]))?;
    let mut checker = Checker {
        source,
        errors,
        declared: HashSet::new(),
        globals: Vec::new(),
        initializer_fails: false,
        plain_queues: BTreeSet::new(),
    };
    let scenario = checker.scenario(raw, file, name);
    // Each part of the file is read and checked on its own: put the errors back in file order.
    checker.errors.sort_by_key(|e| (e.line, e.column));
    if checker.errors.is_empty() { Ok(scenario) } else { Err(ScenarioErrors(checker.errors)) }
}

struct Checker<'a> {
    source: Source<'a>,
    errors: Vec<ScenarioError>,
    /// Every template name in the file, valid or not: a step naming a broken template is
    /// not reported again.
    declared: HashSet<String>,
    /// The pool is a `multiprocessing.pool.ThreadPool` whose initializer raises: no task
    /// will ever run, and only the steps that do not wait for ever in Python are allowed.
    initializer_fails: bool,
    /// Each counter and lock a template names, where, and which it is: globals of the
    /// lesson's program, checked against each other once every template is read.
    globals: Vec<Global>,
    /// The queues declared plain (`[queues] q = "plain"`).
    plain_queues: BTreeSet<String>,
}

/// A counter or a lock named by a template.
struct Global {
    name: String,
    kind: &'static str,
    at: Option<Range<usize>>,
    field: String,
}

/// What a text field may hold besides printable characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    /// Nothing: a label, a name, an item — shown on one line.
    Line,
    /// Newlines and tabs: a caption, a summary, code.
    Prose,
}

fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

impl Checker<'_> {
    fn error(&mut self, span: Option<Range<usize>>, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(self.source.error(span, field, message));
    }

    /// A name `field` does not know: `unknown value "x"; expected <expected>`.
    fn unknown(&mut self, value: &Spanned<String>, field: &str, expected: &str) {
        self.error(span(value), field, format!("unknown value {:?}; expected {expected}", value.get_ref()));
    }

    fn scenario(&mut self, raw: RawScenario, file: &str, name: &str) -> Scenario {
        self.printable(&raw.title, raw.title_at.clone(), "title", Text::Prose);
        if let Some(summary) = &raw.summary {
            self.printable(summary.get_ref(), span(summary), "summary", Text::Prose);
        }
        let title = raw.title;
        let summary = raw.summary.map(Spanned::into_inner).unwrap_or_default();
        let seed = match raw.seed {
            Some(seed) if *seed.get_ref() < 0 => {
                self.error(span(&seed), "seed", format!("negative seed {}; expected an integer ≥ 0", seed.get_ref()));
                0
            }
            Some(seed) => *seed.get_ref() as u64,
            None => 0,
        };
        let initializer_at = raw.pool.as_ref().and_then(|p| p.initializer.as_ref()).map(|i| i.span());
        let dask = self.dask_cluster(raw.pool.as_ref());
        let mut pool = self.pool(raw.pool);
        if pool.kind == PoolKind::Dask {
            pool.dask = dask;
            self.dask_refusals(&raw.tasks, &raw.step);
        }
        let mut tasks = BTreeMap::new();
        self.declared = raw.tasks.keys().cloned().collect();
        for (task_name, task) in raw.tasks {
            let initializer = pool.initializer.as_deref() == Some(task_name.as_str());
            if let Some(template) = task.and_then(|task| self.task(&task_name, task, initializer)) {
                tasks.insert(task_name, template);
            }
        }
        self.globals_apart(&tasks);
        self.initializer(&mut pool, &tasks, initializer_at);
        self.plain_queues = self.queues(raw.queues, &pool, &tasks);
        let mut steps = Vec::new();
        let mut batches = HashSet::new();
        for (index, step) in raw.step.into_iter().enumerate() {
            if let Some(step) = step.and_then(|step| self.step(index, step, &tasks, &mut batches, &pool, &steps)) {
                steps.push(step);
            }
        }
        if steps.is_empty() && self.errors.is_empty() {
            self.error(None, "step", "the scenario has no steps; expected at least one [[step]]");
        }
        Scenario {
            name: name.to_string(),
            origin: file.to_string(),
            title,
            summary,
            seed,
            pool,
            plain_queues: std::mem::take(&mut self.plain_queues),
            tasks,
            steps,
        }
    }

    fn pool(&mut self, raw: Option<super::raw::RawPool>) -> PoolConfig {
        let mut config = PoolConfig {
            kind: PoolKind::Thread,
            workers: WorkerCount::CpusPlus4,
            gil: false,
            on_worker_death: WorkerDeath::Break,
            api: Api::Executor,
            start_method: StartMethod::Fork,
            max_tasks_per_child: None,
            main_guard: true,
            eager: false,
            workers_written: false,
            thread_name_prefix: None,
            dask: Default::default(),
            initializer: None,
        };
        let Some(raw) = raw else { return config };
        if let Some(kind) = &raw.kind {
            config.kind = match PoolKind::named(kind.get_ref()) {
                Some(kind) => kind,
                None => {
                    let other = kind.get_ref();
                    self.error(
                        span(kind),
                        "pool.kind",
                        format!(
                            "unknown pool kind {other:?}; expected \"thread\", \"process\", \"coroutine\" or \"dask\""
                        ),
                    );
                    PoolKind::Thread
                }
            };
        }
        config.workers = match &raw.workers {
            Some(workers) if config.kind == PoolKind::Coroutine => {
                if !matches!(workers.get_ref(), RawWorkers::Count(1)) {
                    self.error(
                        span(workers),
                        "pool.workers",
                        "a coroutine pool has exactly one worker, its event loop; expected `workers = 1` or none for kind = \"coroutine\"",
                    );
                }
                WorkerCount::Fixed(1)
            }
            Some(workers) => self.workers(workers, "pool.workers").unwrap_or(WorkerCount::Fixed(1)),
            None => WorkerCount::default_for(config.kind),
        };
        config.workers_written = raw.workers.is_some() && config.kind != PoolKind::Coroutine;
        if let Some(gil) = &raw.gil {
            config.gil = *gil.get_ref();
            if config.gil && config.kind != PoolKind::Thread {
                self.error(
                    span(gil),
                    "pool.gil",
                    "gil = true applies to thread pools only; expected kind = \"thread\"",
                );
            }
        }
        if let Some(death) = &raw.on_worker_death {
            config.on_worker_death = match WorkerDeath::named(death.get_ref()) {
                Some(death) => death,
                None => {
                    self.unknown(death, "pool.on_worker_death", "\"break\" or \"respawn\"");
                    WorkerDeath::Break
                }
            };
        }
        if let Some(api) = &raw.api {
            match Api::named(api.get_ref()) {
                Some(Api::Multiprocessing) if config.kind == PoolKind::Coroutine => self.error(
                    span(api),
                    "pool.api",
                    "a coroutine pool speaks asyncio; expected api = \"multiprocessing\" only on a thread or process pool",
                ),
                // Reported with the cluster's words (validate/dask.rs).
                Some(Api::Multiprocessing) if config.kind == PoolKind::Dask => {}
                Some(chosen) => config.api = chosen,
                None => self.unknown(api, "pool.api", "\"executor\" or \"multiprocessing\""),
            }
        }
        if let Some(method) = &raw.start_method {
            match StartMethod::named(method.get_ref()) {
                Some(_) if config.kind != PoolKind::Process => self.error(
                    span(method),
                    "pool.start_method",
                    "start_method applies to process pools only; expected kind = \"process\"",
                ),
                Some(start) => config.start_method = start,
                None => self.unknown(method, "pool.start_method", "\"fork\" or \"spawn\""),
            }
        }
        if let Some(max) = &raw.max_tasks_per_child {
            match *max.get_ref() {
                _ if config.kind != PoolKind::Process => self.error(
                    span(max),
                    "pool.max_tasks_per_child",
                    "max_tasks_per_child applies to process pools only; expected kind = \"process\"",
                ),
                n if n < 1 || n > MAX_COUNT as i64 => self.error(
                    span(max),
                    "pool.max_tasks_per_child",
                    format!("{n} is out of range; expected a whole number from 1 to {MAX_COUNT}"),
                ),
                // `ProcessPoolExecutor` refuses it under fork, and takes spawn when no
                // start method is given.
                _ if config.api == Api::Executor && raw.start_method.is_some() && config.start_method == StartMethod::Fork => {
                    self.error(
                        span(max),
                        "pool.max_tasks_per_child",
                        "ProcessPoolExecutor refuses max_tasks_per_child under the fork start method; expected start_method = \"spawn\", or none",
                    )
                }
                n => {
                    config.max_tasks_per_child = Some(n as usize);
                    if config.api == Api::Executor {
                        config.start_method = StartMethod::Spawn;
                    }
                }
            }
        }
        if let Some(guard) = &raw.main_guard
            && !*guard.get_ref()
        {
            let why = if config.kind != PoolKind::Process {
                Some("only a process pool's workers re-run the program; expected kind = \"process\"")
            } else if config.api != Api::Executor {
                Some(
                    "a multiprocessing.Pool restarts workers that fail to start, for ever: the program would hang; expected api = \"executor\"",
                )
            } else if config.start_method != StartMethod::Spawn {
                Some(
                    "only the spawn start method re-runs the program in each worker; expected start_method = \"spawn\"",
                )
            } else {
                None
            };
            match why {
                Some(why) => self.error(span(guard), "pool.main_guard", why),
                None => config.main_guard = false,
            }
        }
        config.eager = raw.eager.unwrap_or(false);
        if let Some(prefix) = &raw.thread_name_prefix {
            self.printable(prefix.get_ref(), span(prefix), "pool.thread_name_prefix", Text::Line);
            match (config.kind, config.api) {
                (PoolKind::Thread, Api::Executor) if prefix.get_ref().is_empty() => self.error(
                    span(prefix),
                    "pool.thread_name_prefix",
                    "an empty prefix leaves CPython's default names (ThreadPoolExecutor-N_M); expected a name like \"fetcher\", or no thread_name_prefix",
                ),
                (PoolKind::Thread, Api::Executor) => config.thread_name_prefix = Some(prefix.get_ref().clone()),
                (PoolKind::Thread, Api::Multiprocessing) => self.error(
                    span(prefix),
                    "pool.thread_name_prefix",
                    "multiprocessing.pool.ThreadPool takes no thread_name_prefix (its threads are \"Thread-N (worker)\"); expected api = \"executor\"",
                ),
                _ => self.error(
                    span(prefix),
                    "pool.thread_name_prefix",
                    "thread_name_prefix names the threads of a ThreadPoolExecutor; expected kind = \"thread\"",
                ),
            }
        }
        if let Some(initializer) = &raw.initializer {
            if config.kind == PoolKind::Thread {
                config.initializer = Some(initializer.get_ref().clone());
            } else {
                self.error(
                    span(initializer),
                    "pool.initializer",
                    "poolscope runs an initializer on thread pools only; expected kind = \"thread\"",
                );
            }
        }
        config
    }

    /// `[queues]`: `"manager"` (the default: a `Manager().Queue()` every worker reaches by
    /// name) or `"plain"` (a `multiprocessing.Queue()` passed to each task as an argument),
    /// for a queue some template uses. The plain ones.
    fn queues(
        &mut self,
        raw: BTreeMap<String, Spanned<String>>,
        pool: &PoolConfig,
        tasks: &BTreeMap<String, TaskTemplate>,
    ) -> BTreeSet<String> {
        let mut plain = BTreeSet::new();
        for (name, kind) in raw {
            let field = format!("queues.{name}");
            let used = tasks.values().any(|t| match &t.work {
                Work::QueuePut { queue, .. } | Work::QueueGet { queue } => *queue == name,
                _ => false,
            });
            match kind.get_ref().as_str() {
                _ if !used => self.error(
                    span(&kind),
                    &field,
                    format!("no task uses the queue {name:?}; expected the name a template gives in `queue`"),
                ),
                "manager" => {}
                "plain" if pool.kind == PoolKind::Coroutine => self.error(
                    span(&kind),
                    &field,
                    "a coroutine pool's queues are asyncio.Queue(); expected \"manager\" (the default) or another pool kind",
                ),
                "plain" => {
                    plain.insert(name);
                }
                _ => self.unknown(&kind, &field, "\"manager\" or \"plain\""),
            }
        }
        plain
    }

    /// `[pool] initializer`: a template of the file with a fixed duration (Python passes the
    /// same `initargs` to every worker). Dropped from `pool` when it is not.
    fn initializer(&mut self, pool: &mut PoolConfig, tasks: &BTreeMap<String, TaskTemplate>, at: Option<Range<usize>>) {
        let Some(name) = pool.initializer.clone() else { return };
        match tasks.get(&name) {
            // A broken template is reported already.
            None if self.declared.contains(&name) => {}
            None => {
                let known: Vec<&str> = tasks.keys().map(String::as_str).collect();
                let known = if known.is_empty() { "none are defined".to_string() } else { known.join(", ") };
                self.error(at, "pool.initializer", format!("unknown task template {name:?}; expected one of: {known}"));
            }
            Some(template) if !matches!(template.duration, DurationSpec::Fixed(_)) => self.error(
                at,
                "pool.initializer",
                format!(
                    "the initializer {name:?} runs with the same initargs in every worker; expected a fixed duration, not a range or a list"
                ),
            ),
            Some(template)
                if matches!(template.work, Work::QueuePut { .. } | Work::QueueGet { .. } | Work::Increment { .. }) =>
            {
                self.error(
                at,
                "pool.initializer",
                format!(
                    "the initializer {name:?} uses a queue or a counter, which poolscope does not model in an initializer; expected work = \"sleep\", \"spin\", \"sum_squares\", \"noop\", \"fail\" or \"crash\""
                ),
            )
            }
            Some(template) => {
                self.initializer_fails = pool.api == Api::Multiprocessing
                    && matches!(template.work, Work::Fail { .. } | Work::Crash);
                return;
            }
        }
        pool.initializer = None;
    }

    fn workers(&mut self, raw: &Spanned<RawWorkers>, field: &str) -> Option<WorkerCount> {
        match raw.get_ref() {
            RawWorkers::Count(n) if *n <= 0 => {
                self.error(span(raw), field, format!("{n} workers; expected at least 1"));
                None
            }
            RawWorkers::Count(n) if *n as u64 > MAX_WORKERS as u64 => {
                self.error(span(raw), field, format!("{n} workers is absurdly many; expected at most {MAX_WORKERS}"));
                None
            }
            RawWorkers::Count(n) => Some(WorkerCount::Fixed(*n as usize)),
            RawWorkers::Named(s) => match WorkerCount::named(s) {
                Some(count) => Some(count),
                None => {
                    self.error(
                        span(raw),
                        field,
                        format!("unknown worker count {s:?}; expected a positive integer, \"cpus\" or \"cpus+4\""),
                    );
                    None
                }
            },
        }
    }

    fn duration_spec(&mut self, raw: &Spanned<RawDuration>, field: &str) -> Option<DurationSpec> {
        let result = match raw.get_ref() {
            RawDuration::One(text) => parse_spec(text),
            RawDuration::List(list) if list.is_empty() => {
                Err("empty duration list; expected at least one duration, like [\"3s\", \"1s\"]".to_string())
            }
            RawDuration::List(list) => list
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    parse_duration(text).map_err(|e| format!("element {i}: {e} (ranges are not allowed in a list)"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(DurationSpec::List),
        };
        result.map_err(|message| self.error(span(raw), field, message)).ok()
    }

    /// A single duration (sleep, timeout): no range, no list.
    fn single_duration(&mut self, raw: &Spanned<RawDuration>, field: &str) -> Option<Duration> {
        match raw.get_ref() {
            RawDuration::One(text) if !text.contains("..") => {
                parse_duration(text).map_err(|message| self.error(span(raw), field, message)).ok()
            }
            _ => {
                self.error(span(raw), field, "expected a single duration like \"500ms\" (not a range or a list)");
                None
            }
        }
    }

    /// One template; `initializer` when the pool runs it as its initializer, which has no
    /// index: its label (the initializer's argument) takes no `{i}`.
    fn task(&mut self, name: &str, raw: RawTask, initializer: bool) -> Option<TaskTemplate> {
        let field = |f: &str| format!("tasks.{name}.{f}");
        for (key, text) in
            [("label", &raw.label), ("message", &raw.message), ("queue", &raw.queue), ("item", &raw.item)]
        {
            if let Some(text) = text {
                self.printable(text.get_ref(), span(text), &field(key), Text::Line);
            }
        }
        let at = span(&raw.work);
        let mut used = vec!["work", "duration", "label"];
        let work = match raw.work.get_ref().as_str() {
            "noop" => Some(Work::Noop),
            "sleep" => Some(Work::Sleep),
            "spin" => Some(Work::Spin),
            "sum_squares" => {
                used.push("n");
                match &raw.n {
                    None => {
                        self.error(at.clone(), field("n"), "work = \"sum_squares\" needs n = <how many squares>");
                        None
                    }
                    Some(n) if *n.get_ref() < 0 => {
                        self.error(span(n), field("n"), format!("negative n {}; expected an integer ≥ 0", n.get_ref()));
                        None
                    }
                    Some(n) => Some(Work::SumSquares { n: *n.get_ref() as u64 }),
                }
            }
            "fail" => {
                used.push("message");
                let message = raw.message.as_ref().map_or_else(|| "task failed".to_string(), |m| m.get_ref().clone());
                Some(Work::Fail { message })
            }
            "crash" => Some(Work::Crash),
            "queue_put" | "queue_get" => {
                used.push("queue");
                let queue = match &raw.queue {
                    Some(q) => q.get_ref().clone(),
                    None => {
                        self.error(
                            at.clone(),
                            field("queue"),
                            format!("work = {:?} needs queue = \"<name>\"", raw.work.get_ref()),
                        );
                        String::new()
                    }
                };
                if raw.work.get_ref() == "queue_put" {
                    used.push("item");
                    let item = raw.item.as_ref().map_or_else(|| "item {i}".to_string(), |i| i.get_ref().clone());
                    Some(Work::QueuePut { queue, item })
                } else {
                    Some(Work::QueueGet { queue })
                }
            }
            "increment" => {
                used.extend(["counter", "lock"]);
                let counter = match &raw.counter {
                    Some(counter) => self.global(counter, "counter", &field("counter")),
                    None => {
                        self.error(at.clone(), field("counter"), "work = \"increment\" needs counter = \"<name>\"");
                        None
                    }
                };
                let lock = match &raw.lock {
                    Some(lock) => self.global(lock, "lock", &field("lock")).map(Some),
                    None => Some(None),
                };
                Some(Work::Increment { counter: counter?, lock: lock? })
            }
            other => {
                self.error(
                    at.clone(),
                    field("work"),
                    format!(
                        "unknown work {other:?}; expected one of sleep, spin, sum_squares, fail, crash, queue_put, queue_get, increment, noop"
                    ),
                );
                None
            }
        };
        let extras: [(&str, Option<Range<usize>>); 6] = [
            ("n", raw.n.as_ref().map(|s| s.span())),
            ("message", raw.message.as_ref().map(|s| s.span())),
            ("queue", raw.queue.as_ref().map(|s| s.span())),
            ("item", raw.item.as_ref().map(|s| s.span())),
            ("counter", raw.counter.as_ref().map(|s| s.span())),
            ("lock", raw.lock.as_ref().map(|s| s.span())),
        ];
        if work.is_some() {
            for (key, at) in extras {
                if let Some(at) = at
                    && !used.contains(&key)
                {
                    self.error(
                        Some(at),
                        field(key),
                        format!("field `{key}` does not apply to work = {:?}", raw.work.get_ref()),
                    );
                }
            }
        }
        let duration = match &raw.duration {
            Some(d) => self.duration_spec(d, &field("duration")),
            None => Some(DurationSpec::default()),
        };
        let label = match &raw.label {
            Some(label) => {
                let text = label.get_ref();
                let without = text.replace("{i}", "");
                if without.contains('{') || without.contains('}') {
                    self.error(
                        span(label),
                        field("label"),
                        format!("bad label {text:?}: the only placeholder is {{i}}"),
                    );
                } else if initializer && text.contains("{i}") {
                    self.error(
                        span(label),
                        field("label"),
                        format!(
                            "bad label {text:?}: the pool's initializer has no index (its label is what it sets up); expected a label without {{i}}"
                        ),
                    );
                }
                text.clone()
            }
            None if initializer => name.to_string(),
            None => format!("{name}{{i}}"),
        };
        Some(TaskTemplate { name: name.to_string(), work: work?, duration: duration?, label })
    }

    /// A counter's or a lock's name: a global of the lesson's Python program, so a Python
    /// name that is not a keyword nor one the program uses for something else. Noted, to be
    /// checked against the other templates' names.
    fn global(&mut self, name: &Spanned<String>, kind: &'static str, field: &str) -> Option<String> {
        let text = name.get_ref();
        let mut chars = text.chars();
        let python_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        let problem = if !python_name {
            Some("is not a Python name; expected letters, digits and _, not starting with a digit")
        } else if PYTHON_KEYWORDS.contains(&text.as_str()) {
            Some("is a Python keyword; expected another name")
        } else if python::PROGRAM_NAMES.contains(&text.as_str()) {
            Some("is a name the lesson's Python program already uses; expected another name")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(span(name), field, format!("the {kind} {text:?} {problem}"));
            return None;
        }
        self.globals.push(Global { name: text.clone(), kind, at: span(name), field: field.to_string() });
        Some(text.clone())
    }

    /// Counters and locks are globals of one program: a name is a counter or a lock, and
    /// not a task template's (its function) nor a queue's.
    fn globals_apart(&mut self, tasks: &BTreeMap<String, TaskTemplate>) {
        let globals = std::mem::take(&mut self.globals);
        let queues: HashSet<&str> = tasks
            .values()
            .filter_map(|t| match &t.work {
                Work::QueuePut { queue, .. } | Work::QueueGet { queue } => Some(queue.as_str()),
                _ => None,
            })
            .collect();
        for g in &globals {
            let other = globals.iter().find(|o| o.name == g.name && o.kind != g.kind);
            let message = if let Some(other) = other {
                Some(format!(
                    "{:?} is a {} in {}, so it cannot be a {} too; expected another name",
                    g.name, other.kind, other.field, g.kind
                ))
            } else if self.declared.contains(&g.name) {
                Some(format!(
                    "the {} {:?} has the name of a task template, whose function the program defines; expected another name",
                    g.kind, g.name
                ))
            } else if queues.contains(g.name.as_str()) {
                Some(format!(
                    "the {} {:?} has the name of a queue, also a global of the program; expected another name",
                    g.kind, g.name
                ))
            } else {
                None
            };
            if let Some(message) = message {
                self.error(g.at.clone(), g.field.clone(), message);
            }
        }
        self.globals = globals;
    }

    /// Reports a control character in `text` (any, in a one-line `Text::Line`; any but a
    /// newline or a tab in `Text::Prose`): printed as it is — in the transcript, a lane, a
    /// caption — an escape or a carriage return would garble the terminal.
    fn printable(&mut self, text: &str, at: Option<Range<usize>>, field: &str, kind: Text) {
        let allowed = |c: char| kind == Text::Prose && (c == '\n' || c == '\t');
        if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
            self.error(
                at,
                field,
                format!(
                    "the control character {c:?} (U+{:04X}) would garble the terminal; expected {}",
                    u32::from(c),
                    match kind {
                        Text::Line => "printable text on one line",
                        Text::Prose => "printable text (newlines and tabs are fine)",
                    }
                ),
            );
        }
    }

    /// One `[[step]]`, built by its op's own function; `None` if anything in it is wrong.
    fn step(
        &mut self,
        index: usize,
        raw: RawStep,
        tasks: &BTreeMap<String, TaskTemplate>,
        batches: &mut HashSet<String>,
        pool: &PoolConfig,
        before: &[Step],
    ) -> Option<Step> {
        let line = self.source.line_col(raw.op.span().start).0;
        let Some(name) = OpName::named(raw.op.get_ref()) else {
            let names: Vec<&str> = OpName::ALL.iter().map(|op| op.as_str()).collect();
            let message = format!("unknown op {:?}; expected one of {}", raw.op.get_ref(), names.join(", "));
            self.error(span(&raw.op), format!("step[{index}].op"), message);
            return None;
        };
        if let Some(api) = name.only_in().filter(|api| *api != pool.api && pool.kind != PoolKind::Coroutine) {
            let message = match api {
                Api::Multiprocessing => format!(
                    "`{}` is a multiprocessing.Pool method, which an executor does not have; expected api = \"multiprocessing\" in [pool]",
                    name.as_str()
                ),
                Api::Executor => format!(
                    "`{}` is a concurrent.futures word, which a multiprocessing.Pool does not have; expected api = \"executor\" in [pool] (the default)",
                    name.as_str()
                ),
            };
            self.error(span(&raw.op), format!("step[{index}].op"), message);
        }
        let step = StepToCheck { index, raw: &raw, name, tasks, batches };
        let errors_before = self.errors.len();
        let texts = [
            ("note", &raw.note, Text::Prose),
            ("text", &raw.text, Text::Prose),
            ("python", &raw.python, Text::Prose),
            ("into", &raw.into, Text::Line),
            ("of", &raw.of, Text::Line),
        ];
        for (key, text, kind) in texts {
            if let Some(text) = text {
                self.printable(text.get_ref(), span(text), &step.field(key), kind);
            }
        }
        self.stray_fields(&step);
        let op = match name {
            OpName::Submit => self.submit(&step),
            OpName::Map => self.map(&step),
            OpName::Arrive => self.arrive(&step),
            OpName::Imap | OpName::ImapUnordered => match self.map(&step)? {
                Op::Map { task, .. } if matches!(tasks[&task].duration, DurationSpec::Range(..)) => {
                    // Its items are one argument each: a drawn duration cannot ride along.
                    let message = format!(
                        "{} passes one argument per item, so {task:?} cannot draw its durations from a range; expected a fixed duration or a list",
                        name.as_str()
                    );
                    self.error(raw.task.as_ref().and_then(span), step.field("task"), message);
                    None
                }
                Op::Map { task, count, chunksize, .. } => {
                    Some(Op::Imap { task, count, chunksize, ordered: name == OpName::Imap })
                }
                _ => None,
            },
            OpName::AsCompleted => self.as_completed(&step),
            OpName::Wait => self.wait(&step),
            OpName::Results => self.results(&step),
            OpName::Exceptions => {
                let (of, timeout) = (self.batch(&step), self.timeout(&step));
                Some(Op::Exceptions { of: of?, timeout: timeout? })
            }
            OpName::AddCallback => self.batch(&step).map(|of| Op::AddCallback { of, raises: flag(&raw.raises, false) }),
            OpName::Cancel => self.batch(&step).map(|of| Op::Cancel { of }),
            OpName::Poll => self.batch(&step).map(|of| Op::Poll { of }),
            OpName::Sleep => self.sleep(&step),
            OpName::Shutdown => {
                Some(Op::Shutdown { wait: flag(&raw.wait, true), cancel_futures: flag(&raw.cancel_futures, false) })
            }
            OpName::Resize => self.resize(&step),
            OpName::Note => self.note(&step),
            OpName::PrintCounter => self.print_counter(&step),
            OpName::Close => Some(Op::Close),
            OpName::Join => Some(Op::Join),
            OpName::Terminate => Some(Op::Terminate),
        }?;
        if let Op::Submit { task, .. } | Op::Map { task, .. } | Op::Arrive { task, .. } | Op::Imap { task, .. } = &op
            && pool.initializer.as_ref() == Some(task)
        {
            let message = format!(
                "{task:?} is the pool's initializer, which each worker runs once by itself; expected another template"
            );
            self.error(raw.task.as_ref().and_then(span), step.field("task"), message);
        }
        if self.initializer_fails {
            self.stranded_step(&step, &op);
        }
        // `multiprocessing.Pool.map` hands each task one item: a queue cannot ride along.
        if let Op::Map { task, .. } | Op::Imap { task, .. } = &op
            && pool.api == Api::Multiprocessing
            && pool.kind != PoolKind::Coroutine
            && let Work::QueuePut { queue, .. } | Work::QueueGet { queue } = &tasks[task].work
            && self.plain_queues.contains(queue)
        {
            let message = format!(
                "{task:?} takes the plain queue {queue:?} as an argument besides its item, which multiprocessing.Pool's {} does not pass; expected op = \"submit\"",
                op.name()
            );
            self.error(step.op_span(), step.field("op"), message);
        }
        // Only a step that could be built names a batch for the steps after it.
        if let Op::Submit { into: Some(batch), .. }
        | Op::Map { into: Some(batch), .. }
        | Op::Arrive { into: Some(batch), .. } = &op
        {
            if batch == "all" || batch == "futures" {
                let at = raw.into.as_ref().map(|s| s.span());
                self.error(
                    at,
                    step.field("into"),
                    format!("{batch:?} is reserved for every future; expected another name"),
                );
            }
            batches.insert(batch.clone());
        }
        if self.errors.len() > errors_before {
            return None;
        }
        let python = match raw.python {
            Some(p) => p.into_inner(),
            None => python::line(&op, tasks, pool, &self.plain_queues),
        };
        let mut step = Step { index, op, note: raw.note.map(Spanned::into_inner), python, line, predict: None };
        // A wrong prediction is reported, and the step still names its batch for the steps after.
        step.predict = self.predict(raw.predict.as_ref(), &step, before, tasks);
        Some(step)
    }

    /// A `multiprocessing.pool.ThreadPool` whose initializer raises loses every worker and
    /// never runs a task, and nothing replaces them while it runs: a step that waits for a
    /// task (or for the workers) would wait for ever in Python.
    fn stranded_step(&mut self, step: &StepToCheck, op: &Op) {
        let raw = step.raw;
        let why = match op {
            Op::Submit { sync: true, .. } => Some(("sync", raw.sync.as_ref().map(|s| s.span()), "apply() would wait")),
            Op::Submit { callback: true, .. } => {
                Some(("callback", raw.callback.as_ref().map(|s| s.span()), "its callback would never run"))
            }
            Op::Submit { .. }
            | Op::Arrive { .. }
            | Op::Results { .. }
            | Op::Sleep { .. }
            | Op::Note { .. }
            | Op::PrintCounter { .. }
            | Op::Terminate
            | Op::Resize { .. } => None,
            Op::Map { .. } | Op::Imap { .. } => Some(("op", step.op_span(), "it would wait")),
            Op::Close | Op::Join => {
                Some(("op", step.op_span(), "close() starts new workers that fail again, and join() would wait"))
            }
            Op::Poll { .. } => Some(("op", step.op_span(), "ready() stays False")),
            Op::AsCompleted { .. }
            | Op::Wait { .. }
            | Op::Exceptions { .. }
            | Op::AddCallback { .. }
            | Op::Cancel { .. }
            | Op::Shutdown { .. } => None,
        };
        if let Some((key, at, what)) = why {
            let message = format!(
                "the pool's initializer raises, so multiprocessing.pool.ThreadPool loses every worker and never runs a task: {what} for ever; expected submit (without sync or callback), results, sleep, note or terminate"
            );
            self.error(at, step.field(key), message);
        }
    }

    /// Reports each field given that the step's op does not take.
    fn stray_fields(&mut self, step: &StepToCheck) {
        let raw = step.raw;
        let given: [(&str, Option<Range<usize>>); 16] = [
            ("task", raw.task.as_ref().map(|s| s.span())),
            ("count", raw.count.as_ref().map(|s| s.span())),
            ("rate", raw.rate.as_ref().map(|s| s.span())),
            ("sync", raw.sync.as_ref().map(|s| s.span())),
            ("callback", raw.callback.as_ref().map(|s| s.span())),
            ("into", raw.into.as_ref().map(|s| s.span())),
            ("of", raw.of.as_ref().map(|s| s.span())),
            ("text", raw.text.as_ref().map(|s| s.span())),
            ("timeout", raw.timeout.as_ref().map(|s| s.span())),
            ("return_when", raw.return_when.as_ref().map(|s| s.span())),
            ("chunksize", raw.chunksize.as_ref().map(|s| s.span())),
            ("duration", raw.duration.as_ref().map(|s| s.span())),
            ("wait", raw.wait.as_ref().map(|s| s.span())),
            ("cancel_futures", raw.cancel_futures.as_ref().map(|s| s.span())),
            ("workers", raw.workers.as_ref().map(|s| s.span())),
            ("counter", raw.counter.as_ref().map(|s| s.span())),
        ];
        let allowed = step.name.fields();
        for (key, at) in given {
            if let Some(at) = at
                && !allowed.contains(&key)
            {
                let takes = if allowed.is_empty() {
                    "no fields but op, note and python".to_string()
                } else {
                    allowed.join(", ")
                };
                let message = format!("field `{key}` does not apply to op {:?}; it takes {takes}", step.name.as_str());
                self.error(Some(at), step.field(key), message);
            }
        }
    }

    fn submit(&mut self, step: &StepToCheck) -> Option<Op> {
        let (task, count) = (self.template(step), self.count(step));
        let raw = step.raw;
        Some(Op::Submit {
            task: task?,
            count: count?,
            sync: flag(&raw.sync, false),
            callback: flag(&raw.callback, false),
            into: raw.into.as_ref().map(|s| s.get_ref().clone()),
        })
    }

    fn map(&mut self, step: &StepToCheck) -> Option<Op> {
        let (task, count, timeout) = (self.template(step), self.count(step), self.timeout(step));
        let chunksize = match &step.raw.chunksize {
            None => Some(1),
            Some(c) if *c.get_ref() < 1 => {
                self.error(span(c), step.field("chunksize"), format!("chunksize {}; expected at least 1", c.get_ref()));
                None
            }
            Some(c) => Some(*c.get_ref() as usize),
        };
        let into = step.raw.into.as_ref().map(|s| s.get_ref().clone());
        Some(Op::Map { task: task?, count: count?, chunksize: chunksize?, timeout: timeout?, into })
    }

    fn as_completed(&mut self, step: &StepToCheck) -> Option<Op> {
        let (of, timeout) = (self.batch(step), self.timeout(step));
        Some(Op::AsCompleted { of: of?, timeout: timeout? })
    }

    fn results(&mut self, step: &StepToCheck) -> Option<Op> {
        let (of, timeout) = (self.batch(step), self.timeout(step));
        Some(Op::Results { of: of?, timeout: timeout? })
    }

    fn wait(&mut self, step: &StepToCheck) -> Option<Op> {
        let (of, timeout) = (self.batch(step), self.timeout(step));
        let return_when = match &step.raw.return_when {
            None => Some(ReturnWhen::AllCompleted),
            Some(r) => match r.get_ref().to_ascii_uppercase().as_str() {
                "FIRST_COMPLETED" => Some(ReturnWhen::FirstCompleted),
                "FIRST_EXCEPTION" => Some(ReturnWhen::FirstException),
                "ALL_COMPLETED" => Some(ReturnWhen::AllCompleted),
                _ => {
                    self.error(
                        span(r),
                        step.field("return_when"),
                        format!(
                            "unknown return_when {:?}; expected \"FIRST_COMPLETED\", \"FIRST_EXCEPTION\" or \"ALL_COMPLETED\"",
                            r.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        Some(Op::Wait { of: of?, return_when: return_when?, timeout: timeout? })
    }

    fn sleep(&mut self, step: &StepToCheck) -> Option<Op> {
        let Some(d) = &step.raw.duration else {
            self.error(step.op_span(), step.field("duration"), "op \"sleep\" needs duration = \"<how long>\"");
            return None;
        };
        Some(Op::Sleep { duration: self.single_duration(d, &step.field("duration"))? })
    }

    fn resize(&mut self, step: &StepToCheck) -> Option<Op> {
        let Some(w) = &step.raw.workers else {
            self.error(step.op_span(), step.field("workers"), "op \"resize\" needs workers = <new size>");
            return None;
        };
        Some(Op::Resize { workers: self.workers(w, &step.field("workers"))? })
    }

    fn note(&mut self, step: &StepToCheck) -> Option<Op> {
        let Some(t) = &step.raw.text else {
            self.error(step.op_span(), step.field("text"), "op \"note\" needs text = \"<what to say>\"");
            return None;
        };
        Some(Op::Note { text: t.get_ref().clone() })
    }

    /// `counter`: one that a task template increments.
    fn print_counter(&mut self, step: &StepToCheck) -> Option<Op> {
        let Some(c) = &step.raw.counter else {
            self.error(step.op_span(), step.field("counter"), "op \"print_counter\" needs counter = \"<name>\"");
            return None;
        };
        let counters: std::collections::BTreeSet<&str> = step
            .tasks
            .values()
            .filter_map(|t| match &t.work {
                Work::Increment { counter, .. } => Some(counter.as_str()),
                _ => None,
            })
            .collect();
        if counters.contains(c.get_ref().as_str()) {
            return Some(Op::PrintCounter { counter: c.get_ref().clone() });
        }
        let known: Vec<&str> = counters.into_iter().collect();
        let known = if known.is_empty() { "no task increments one".to_string() } else { known.join(", ") };
        self.error(
            span(c),
            step.field("counter"),
            format!("unknown counter {:?}; expected one that a task template increments ({known})", c.get_ref()),
        );
        None
    }

    /// `task`: a template defined in the file.
    fn template(&mut self, step: &StepToCheck) -> Option<String> {
        match &step.raw.task {
            None => {
                let message = format!("op {:?} needs task = \"<template name>\"", step.name.as_str());
                self.error(step.op_span(), step.field("task"), message);
                None
            }
            Some(t) if self.declared.contains(t.get_ref()) && !step.tasks.contains_key(t.get_ref()) => {
                // The template itself is broken and already reported; the step fails quietly.
                None
            }
            Some(t) if !step.tasks.contains_key(t.get_ref()) => {
                let known: Vec<&str> = step.tasks.keys().map(String::as_str).collect();
                let known = if known.is_empty() { "none are defined".to_string() } else { known.join(", ") };
                self.error(
                    span(t),
                    step.field("task"),
                    format!("unknown task template {:?}; expected one of: {known}", t.get_ref()),
                );
                None
            }
            Some(t) => Some(t.get_ref().clone()),
        }
    }

    /// `count`, 1 if not given.
    fn count(&mut self, step: &StepToCheck) -> Option<usize> {
        match &step.raw.count {
            None => Some(1),
            Some(c) if *c.get_ref() < 0 => {
                self.error(
                    span(c),
                    step.field("count"),
                    format!("negative count {}; expected an integer ≥ 0", c.get_ref()),
                );
                None
            }
            Some(c) if *c.get_ref() as u64 > MAX_COUNT as u64 => {
                self.error(
                    span(c),
                    step.field("count"),
                    format!("count {} is too large; expected at most {MAX_COUNT}", c.get_ref()),
                );
                None
            }
            Some(c) => Some(*c.get_ref() as usize),
        }
    }

    /// `of`: every future, or a batch an earlier step named.
    fn batch(&mut self, step: &StepToCheck) -> Option<Batch> {
        match &step.raw.of {
            None => Some(Batch::All),
            Some(b) if b.get_ref() == "all" || b.get_ref() == "futures" => Some(Batch::All),
            Some(b) if !step.batches.contains(b.get_ref()) => {
                let mut known: Vec<&str> = step.batches.iter().map(String::as_str).collect();
                known.sort_unstable();
                let known = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
                self.error(
                    span(b),
                    step.field("of"),
                    format!(
                        "unknown batch {:?}; expected \"all\" or a name given by `into` in an earlier step ({known})",
                        b.get_ref()
                    ),
                );
                None
            }
            Some(b) => Some(Batch::Named(b.get_ref().clone())),
        }
    }

    /// `timeout`: `Some(None)` if not given, `None` if malformed.
    fn timeout(&mut self, step: &StepToCheck) -> Option<Option<Duration>> {
        match &step.raw.timeout {
            None => Some(None),
            Some(t) => self.single_duration(t, &step.field("timeout")).map(Some),
        }
    }
}

/// A `[[step]]` being checked, and what its fields may refer to.
struct StepToCheck<'s> {
    /// From 0.
    index: usize,
    raw: &'s RawStep,
    name: OpName,
    tasks: &'s BTreeMap<String, TaskTemplate>,
    /// The names earlier steps gave their futures with `into`.
    batches: &'s HashSet<String>,
}

impl StepToCheck<'_> {
    /// `step[INDEX].KEY`, as errors name a field.
    fn field(&self, key: &str) -> String {
        format!("step[{}].{key}", self.index)
    }

    fn op_span(&self) -> Option<Range<usize>> {
        span(&self.raw.op)
    }
}

/// Python's keywords: not a counter's or a lock's name.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// A boolean field's value, `default` if not given.
fn flag(b: &Option<Spanned<bool>>, default: bool) -> bool {
    b.as_ref().map_or(default, |b| *b.get_ref())
}
