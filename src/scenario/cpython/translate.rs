//! What the probe in the Python program sends, turned into the run's [`TraceEvent`]s.
//!
//! The probe reports in the program's own terms — a pool number, a PID and a thread name —
//! and this fold gives each (pool, PID, thread) a worker lane, counts the queue the way
//! [`Feed`](crate::scenario::feed::Feed) does, fills in each step's text from the lesson,
//! and keeps `t` non-decreasing although events arrive from many processes.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::pool::{DownReason, Outcome, Phase, PoolKind, TaskId, WorkerId};
use crate::trace::{EngineChoice, ResultOutcome, TraceEvent, TraceKind};

/// One datagram of the probe (`poolscope_probe.py`).
#[derive(Debug, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(super) enum Message {
    Pool {
        t: u64,
        #[serde(default)]
        pool: u64,
        kind: PoolKind,
        workers: usize,
    },
    WorkerUp {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
    },
    WorkerDown {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
        /// `died` or `retired` (a `multiprocessing.Pool` worker that exited on its own), or, as
        /// a ProcessPoolExecutor breaks, `died` or `terminated`.
        reason: DownReason,
        exitcode: Option<i32>,
    },
    /// A worker began the pool's initializer.
    Initializing {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
    },
    /// A worker's initializer returned, or raised `error`.
    Initialized {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
        error: Option<String>,
    },
    Submit {
        t: u64,
        task: TaskId,
        #[serde(default)]
        pool: Option<u64>,
        label: String,
    },
    Start {
        t: u64,
        task: TaskId,
        pool: u64,
        pid: u32,
        thread: String,
    },
    Finish {
        t: u64,
        task: TaskId,
        pool: u64,
        pid: u32,
        thread: String,
        outcome: Outcome,
        value: Option<String>,
        error: Option<String>,
    },
    Broken {
        t: u64,
        task: TaskId,
    },
    Cancel {
        t: u64,
        task: TaskId,
        ok: bool,
    },
    Callback {
        t: u64,
        task: TaskId,
        thread: String,
        error: Option<String>,
    },
    Result {
        t: u64,
        task: TaskId,
        outcome: ResultOutcome,
        value: Option<String>,
        error: Option<String>,
        exception: Option<String>,
    },
    Raise {
        t: u64,
        exception: String,
        message: String,
    },
    Waited {
        t: u64,
        done: Vec<TaskId>,
        not_done: Vec<TaskId>,
    },
    Shutdown {
        t: u64,
        pool: u64,
        wait: bool,
        phase: Phase,
        /// A `multiprocessing.Pool`'s `close`, `join` or `terminate`; none for an executor's
        /// `shutdown()`.
        #[serde(default)]
        how: Option<String>,
    },
    WithExit {
        t: u64,
    },
    Step {
        t: u64,
        index: usize,
    },
    /// A Dask scheduler's count of tasks waiting for a worker thread (its queue).
    SchedulerQueue {
        t: u64,
        pool: u64,
        depth: usize,
    },
    /// The CPU of a Dask worker's process as Dask read it, for one lane of a worker whose
    /// process poolscope cannot see here.
    WorkerCpu {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
        cpu: f32,
    },
    /// A line the main program printed in a step that prints a value of its own.
    Print {
        t: u64,
        text: String,
    },
    /// The program made a pool while its pools were being sized (`POOLSCOPE_WORKERS`).
    Sized(MadePool),
}

/// A pool a program made while its pools were being sized: which one, and the size it got.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct MadePool {
    /// From 0, in the order the program made its pools.
    pub index: usize,
    /// Its class: `ThreadPoolExecutor`, `ProcessPoolExecutor`, `Pool`, `ThreadPool` (or the
    /// program's subclass).
    pub kind: String,
    /// The size the program asked for; `None` for the default.
    pub asked: Option<usize>,
    /// The size it got; `None` for the default.
    pub workers: Option<usize>,
    /// Whether poolscope chose its size.
    pub sized: bool,
}

/// A lesson's step, as its `step` event shows it.
#[derive(Clone, Debug)]
pub struct StepText {
    /// The op's name.
    pub op: String,
    /// The equivalent Python.
    pub python: String,
    /// The caption.
    pub note: Option<String>,
}

/// The `run` event's fields that the program does not say.
#[derive(Clone, Debug)]
pub(super) struct RunInfo {
    pub scenario: String,
    pub title: String,
    /// The lesson's pool (kind, workers, gil); `None` for a script: its first pool says.
    pub pool: Option<(PoolKind, usize, bool)>,
    pub seed: u64,
    pub cores: usize,
    /// A lesson's task templates' labels, by function name.
    pub labels: std::collections::HashMap<String, String>,
}

type WorkerKey = (u64, u32, String);

/// The fold: messages in, events out.
#[derive(Debug)]
pub(super) struct Translator {
    info: RunInfo,
    /// The lesson's steps, and the closing shutdown after them; empty for a script.
    steps: Vec<StepText>,
    run_sent: bool,
    last_t: u64,
    next_step: usize,
    workers: HashMap<WorkerKey, WorkerId>,
    /// Lanes given so far, and those freed by a worker that went down (reused lowest first).
    lanes: usize,
    free: std::collections::BTreeSet<WorkerId>,
    /// Each pool's kind (thread or process), and each task's pool.
    pool_kind: HashMap<u64, PoolKind>,
    pool_of: HashMap<TaskId, u64>,
    /// Lanes up and not down yet.
    up: Vec<(WorkerKey, WorkerId)>,
    waiting: HashSet<TaskId>,
    started: HashSet<TaskId>,
    ended: HashSet<TaskId>,
    worker_of: HashMap<TaskId, WorkerId>,
    /// The pools the program made while they were being sized.
    made: Vec<MadePool>,
    out: Vec<TraceEvent>,
}

impl Translator {
    pub(super) fn new(info: RunInfo, steps: Vec<StepText>) -> Translator {
        let mut translator = Translator {
            info,
            steps,
            run_sent: false,
            last_t: 0,
            next_step: 0,
            workers: HashMap::new(),
            lanes: 0,
            free: Default::default(),
            pool_kind: HashMap::new(),
            pool_of: HashMap::new(),
            up: Vec::new(),
            waiting: HashSet::new(),
            started: HashSet::new(),
            ended: HashSet::new(),
            worker_of: HashMap::new(),
            made: Vec::new(),
            out: Vec::new(),
        };
        if let Some((kind, workers, gil)) = translator.info.pool {
            translator.run(0, kind, workers, gil);
        }
        translator
    }

    fn run(&mut self, t: u64, pool: PoolKind, workers: usize, gil: bool) {
        self.run_sent = true;
        let kind = TraceKind::Run {
            scenario: self.info.scenario.clone(),
            title: self.info.title.clone(),
            pool,
            workers,
            seed: self.info.seed,
            speed: 1.0,
            gil,
            virtual_time: false,
            cores: self.info.cores,
            engine: EngineChoice::Cpython,
        };
        self.push(t, kind);
    }

    fn push(&mut self, t: u64, kind: TraceKind) {
        let t = t.max(self.last_t);
        self.last_t = t;
        self.out.push(TraceEvent { t, kind });
    }

    /// The pools the program made while they were being sized, in the order it made them.
    pub(super) fn made(&mut self) -> Vec<MadePool> {
        let mut made = std::mem::take(&mut self.made);
        made.sort_by_key(|p| p.index);
        made
    }

    /// Takes the events made so far.
    pub(super) fn drain(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.out)
    }

    fn lane(&mut self, t: u64, key: WorkerKey) -> WorkerId {
        if let Some(worker) = self.workers.get(&key) {
            return *worker;
        }
        let worker = match self.free.pop_first() {
            Some(worker) => worker,
            None => {
                self.lanes += 1;
                self.lanes - 1
            }
        };
        self.workers.insert(key.clone(), worker);
        let pid = key.1;
        // A thread the lesson named (`thread_name_prefix`) shows its name, as poolscope's do.
        // A Dask worker thread shows where it runs: HOST:PID·SLOT.
        let named = match self.pool_kind.get(&key.0) {
            Some(PoolKind::Thread) => crate::trace::observe::lesson_named(&key.2),
            Some(PoolKind::Dask) => true,
            _ => false,
        };
        let name = named.then(|| key.2.clone());
        self.up.push((key, worker));
        self.push(t, TraceKind::WorkerUp { worker, pid });
        if let Some(name) = name {
            self.push(t, TraceKind::ThreadName { worker, name });
        }
        worker
    }

    /// True for a task of a Dask pool, whose queue is the scheduler's to say.
    fn scheduler_counts(&self, task: TaskId) -> bool {
        let pool = self.pool_of.get(&task);
        pool.and_then(|p| self.pool_kind.get(p)) == Some(&PoolKind::Dask)
    }

    fn leaves_queue(&mut self, t: u64, task: TaskId) {
        if self.waiting.remove(&task) && !self.scheduler_counts(task) {
            let depth = self.waiting.len();
            self.push(t, TraceKind::Queue { depth });
        }
    }

    fn step(&mut self, t: u64, index: usize) {
        if index < self.next_step || index >= self.steps.len() {
            return;
        }
        self.next_step = index + 1;
        let text = self.steps[index].clone();
        self.push(t, TraceKind::Step { index, op: text.op, python: text.python, note: text.note });
    }

    fn workers_down(&mut self, t: u64, pool: Option<u64>, reason: DownReason) {
        let (gone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.up).into_iter().partition(|(key, _)| pool.is_none_or(|p| key.0 == p));
        self.up = kept;
        for ((_, pid, _), worker) in gone {
            self.push(t, TraceKind::WorkerDown { worker, pid, reason, cause: None });
        }
    }

    /// One worker went down on its own: a task it was running died with it, and its lane is
    /// free for the worker that replaces it.
    fn worker_down(&mut self, t: u64, key: WorkerKey, reason: DownReason, exitcode: Option<i32>) {
        let Some(at) = self.up.iter().position(|(k, _)| *k == key) else { return };
        let (key, worker) = self.up.remove(at);
        let running: Vec<TaskId> = self
            .worker_of
            .iter()
            .filter(|(task, w)| **w == worker && self.started.contains(task) && !self.ended.contains(task))
            .map(|(task, _)| *task)
            .collect();
        // Without a task of its own to say so, the exit says how it died (a worker whose
        // start-up raised exits with code 1).
        let cause = match exitcode {
            _ if reason != DownReason::Died || !running.is_empty() => None,
            Some(code) if code < 0 => Some(format!("signal {}", -code)),
            Some(code) => Some(format!("exit code {code}")),
            None => None,
        };
        for task in running {
            self.ended.insert(task);
            let error = Some(match exitcode {
                Some(code) if code < 0 => format!("the worker process died (signal {})", -code),
                Some(code) => format!("the worker process died (exit code {code})"),
                None => "the worker process died".to_string(),
            });
            self.push(t, TraceKind::Finish { task, worker, outcome: Outcome::Crashed, value: None, error });
        }
        self.workers.remove(&key);
        self.free.insert(worker);
        self.push(t, TraceKind::WorkerDown { worker, pid: key.1, reason, cause });
    }

    /// `terminate()` of a `multiprocessing.Pool` returned: its queued tasks never run; on a
    /// process pool its workers were killed, and the tasks they were running with them (a
    /// thread pool's threads cannot be killed: their tasks still finish, unseen).
    fn terminated(&mut self, t: u64, pool: u64) {
        let process = self.pool_kind.get(&pool) == Some(&PoolKind::Process);
        let mut open: Vec<TaskId> = self
            .pool_of
            .iter()
            .filter(|(task, p)| **p == pool && !self.ended.contains(task))
            .map(|(task, _)| *task)
            .collect();
        open.sort_unstable();
        for task in open {
            match self.worker_of.get(&task) {
                Some(&worker) if self.started.contains(&task) => {
                    if process {
                        self.ended.insert(task);
                        let error = Some("the pool was terminated".to_string());
                        self.push(t, TraceKind::Finish { task, worker, outcome: Outcome::Crashed, value: None, error });
                    }
                }
                _ => {
                    self.ended.insert(task);
                    self.push(t, TraceKind::Abandon { task, error: None });
                    self.leaves_queue(t, task);
                }
            }
        }
        if process {
            self.workers_down(t, Some(pool), DownReason::Terminated);
        }
    }

    /// A lesson's label for a task the probe calls `fetch(2)`: the template `fetch`'s label
    /// with `{i}` its first argument (`Page2`), as poolscope's own run labels it.
    fn lesson_label(&self, probed: &str) -> Option<String> {
        let (name, args) = probed.strip_suffix(')')?.split_once('(')?;
        let template = self.info.labels.get(name)?;
        let i = args.split(',').next()?.trim();
        Some(template.replace("{i}", i))
    }

    /// Folds one datagram in; one that is not a probe message is skipped.
    pub(super) fn datagram(&mut self, bytes: &[u8]) {
        if let Ok(message) = serde_json::from_slice::<Message>(bytes) {
            self.message(message);
        }
    }

    /// Folds one message in.
    pub(super) fn message(&mut self, message: Message) {
        if let Message::Sized(pool) = message {
            self.made.push(pool);
            return;
        }
        if !self.run_sent {
            match &message {
                Message::Pool { t, kind, workers, .. } => {
                    let gil = *kind == PoolKind::Thread;
                    self.run(*t, *kind, *workers, gil);
                }
                _ => self.run(0, PoolKind::Thread, 0, true),
            }
        }
        match message {
            Message::Pool { pool, kind, .. } => {
                self.pool_kind.insert(pool, kind);
            }
            Message::WorkerUp { t, pool, pid, thread } => {
                self.lane(t, (pool, pid, thread));
            }
            Message::WorkerDown { t, pool, pid, thread, reason, exitcode } => {
                self.worker_down(t, (pool, pid, thread), reason, exitcode)
            }
            Message::Initializing { t, pool, pid, thread } => {
                let worker = self.lane(t, (pool, pid, thread));
                self.push(t, TraceKind::Initializing { worker });
            }
            Message::Initialized { t, pool, pid, thread, error } => {
                let worker = self.lane(t, (pool, pid, thread));
                self.push(t, TraceKind::Initialized { worker, error });
            }
            Message::Submit { t, task, pool, label } => {
                if let Some(pool) = pool {
                    self.pool_of.insert(task, pool);
                }
                let label = self.lesson_label(&label).unwrap_or(label);
                self.push(t, TraceKind::Submit { task, label, cost_us: None, cpu: false });
                self.waiting.insert(task);
                if !self.scheduler_counts(task) {
                    let depth = self.waiting.len();
                    self.push(t, TraceKind::Queue { depth });
                }
            }
            Message::Start { t, task, pool, pid, thread } => {
                if self.ended.contains(&task) {
                    return; // abandoned by terminate() while on its way to a worker
                }
                let worker = self.lane(t, (pool, pid, thread));
                self.started.insert(task);
                self.worker_of.insert(task, worker);
                self.push(t, TraceKind::Start { task, worker, pid });
                self.leaves_queue(t, task);
            }
            Message::Finish { t, task, pool, pid, thread, outcome, value, error } => {
                if !self.ended.insert(task) {
                    return; // already ended: its worker died or the pool was terminated
                }
                let worker = self.lane(t, (pool, pid, thread));
                self.push(t, TraceKind::Finish { task, worker, outcome, value, error });
            }
            Message::Broken { t, task } => {
                // The pool broke: a task that was running died with its worker; one that was
                // queued never runs.
                if self.ended.insert(task) {
                    match self.worker_of.get(&task) {
                        Some(&worker) if self.started.contains(&task) => {
                            let error = Some("BrokenProcessPool: a worker process died".to_string());
                            self.push(
                                t,
                                TraceKind::Finish { task, worker, outcome: Outcome::Crashed, value: None, error },
                            );
                        }
                        _ => {
                            self.push(t, TraceKind::Abandon { task, error: None });
                            self.leaves_queue(t, task);
                        }
                    }
                }
            }
            Message::Cancel { t, task, ok } => {
                self.push(t, TraceKind::Cancel { task, ok });
                if ok {
                    self.leaves_queue(t, task);
                }
            }
            Message::Callback { t, task, thread, error } => self.push(t, TraceKind::Callback { task, thread, error }),
            Message::Result { t, task, outcome, value, error, exception } => {
                self.push(t, TraceKind::Result { task, outcome, value, error, exception })
            }
            Message::Raise { t, exception, message } => self.push(t, TraceKind::Raise { exception, message }),
            Message::Waited { t, done, not_done } => self.push(t, TraceKind::Waited { done, not_done }),
            Message::Shutdown { t, pool, wait, phase, how } => {
                self.push(t, TraceKind::Shutdown { wait, phase });
                if phase == Phase::End {
                    if how.as_deref() == Some("terminate") {
                        self.terminated(t, pool);
                    } else if wait {
                        self.workers_down(t, Some(pool), DownReason::Shutdown);
                    }
                }
            }
            Message::WithExit { t, .. } => {
                // Leaving the `with` block is the lesson's closing shutdown step.
                let closing = self.steps.len().saturating_sub(1);
                self.step(t, closing);
            }
            Message::Step { t, index } => self.step(t, index),
            Message::Print { t, text } => self.push(t, TraceKind::Print { text }),
            Message::Sized(_) => {}
            Message::WorkerCpu { t, pool, pid, thread, cpu } => {
                // Only a lane that is up; a reading that is not a number is none.
                if let Some(&worker) = self.workers.get(&(pool, pid, thread))
                    && cpu.is_finite()
                {
                    self.push(t, TraceKind::WorkerCpu { worker, cpu: cpu.max(0.0) });
                }
            }
            Message::SchedulerQueue { t, pool, depth } => {
                if self.pool_kind.get(&pool) == Some(&PoolKind::Dask) {
                    self.push(t, TraceKind::Queue { depth });
                }
            }
        }
    }

    /// The program has exited: the workers still up are gone, and the run ends.
    pub(super) fn end(&mut self, t: u64) {
        if !self.run_sent {
            self.run(0, PoolKind::Thread, 0, true);
        }
        let t = t.max(self.last_t);
        self.workers_down(t, None, DownReason::Shutdown);
        self.push(t, TraceKind::End { makespan_us: t });
    }
}
