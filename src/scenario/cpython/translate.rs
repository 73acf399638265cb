//! What the probe in the Python program sends, turned into the run's [`TraceEvent`]s.
//!
//! The probe reports in the program's own terms — a pool number, a PID and a thread name —
//! and this fold gives each (pool, PID, thread) a worker lane, counts the queue the way
//! [`Feed`](crate::scenario::feed::Feed) does, fills in each step's text from the lesson,
//! and keeps `t` non-decreasing although events arrive from many processes.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::pool::{TaskId, WorkerId};
use crate::trace::{FinishOutcome, ResultOutcome, ShutdownPhase, TraceEvent, TraceKind};

/// One datagram of the probe (`poolscope_probe.py`).
#[derive(Debug, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(super) enum Message {
    Pool {
        t: u64,
        kind: String,
        workers: usize,
    },
    WorkerUp {
        t: u64,
        pool: u64,
        pid: u32,
        thread: String,
    },
    Submit {
        t: u64,
        task: TaskId,
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
        outcome: FinishOutcome,
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
        phase: ShutdownPhase,
    },
    WithExit {
        t: u64,
    },
    Step {
        t: u64,
        index: usize,
    },
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
    pub pool: Option<(String, usize, bool)>,
    pub seed: u64,
    pub cores: usize,
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
    /// Lanes up and not down yet.
    up: Vec<(WorkerKey, WorkerId)>,
    waiting: HashSet<TaskId>,
    started: HashSet<TaskId>,
    ended: HashSet<TaskId>,
    worker_of: HashMap<TaskId, WorkerId>,
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
            up: Vec::new(),
            waiting: HashSet::new(),
            started: HashSet::new(),
            ended: HashSet::new(),
            worker_of: HashMap::new(),
            out: Vec::new(),
        };
        if let Some((kind, workers, gil)) = translator.info.pool.clone() {
            translator.run(0, kind, workers, gil);
        }
        translator
    }

    fn run(&mut self, t: u64, pool: String, workers: usize, gil: bool) {
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
            engine: "cpython".into(),
        };
        self.push(t, kind);
    }

    fn push(&mut self, t: u64, kind: TraceKind) {
        let t = t.max(self.last_t);
        self.last_t = t;
        self.out.push(TraceEvent { t, kind });
    }

    /// Takes the events made so far.
    pub(super) fn drain(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.out)
    }

    fn lane(&mut self, t: u64, key: WorkerKey) -> WorkerId {
        if let Some(worker) = self.workers.get(&key) {
            return *worker;
        }
        let worker = self.workers.len();
        self.workers.insert(key.clone(), worker);
        let pid = key.1;
        self.up.push((key, worker));
        self.push(t, TraceKind::WorkerUp { worker, pid });
        worker
    }

    fn leaves_queue(&mut self, t: u64, task: TaskId) {
        if self.waiting.remove(&task) {
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

    fn workers_down(&mut self, t: u64, pool: Option<u64>, reason: &str) {
        let (gone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.up).into_iter().partition(|(key, _)| pool.is_none_or(|p| key.0 == p));
        self.up = kept;
        for ((_, pid, _), worker) in gone {
            self.push(t, TraceKind::WorkerDown { worker, pid, reason: reason.into() });
        }
    }

    /// Folds one message in.
    pub(super) fn message(&mut self, message: Message) {
        if !self.run_sent {
            match &message {
                Message::Pool { t, kind, workers, .. } => {
                    let gil = kind == "thread";
                    self.run(*t, kind.clone(), *workers, gil);
                }
                _ => self.run(0, "thread".into(), 0, true),
            }
        }
        match message {
            Message::Pool { .. } => {}
            Message::WorkerUp { t, pool, pid, thread } => {
                self.lane(t, (pool, pid, thread));
            }
            Message::Submit { t, task, label } => {
                self.push(t, TraceKind::Submit { task, label, cost_us: None, cpu: false });
                self.waiting.insert(task);
                let depth = self.waiting.len();
                self.push(t, TraceKind::Queue { depth });
            }
            Message::Start { t, task, pool, pid, thread } => {
                let worker = self.lane(t, (pool, pid, thread));
                self.started.insert(task);
                self.worker_of.insert(task, worker);
                self.push(t, TraceKind::Start { task, worker, pid });
                self.leaves_queue(t, task);
            }
            Message::Finish { t, task, pool, pid, thread, outcome, value, error } => {
                let worker = self.lane(t, (pool, pid, thread));
                self.ended.insert(task);
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
                                TraceKind::Finish { task, worker, outcome: FinishOutcome::Crashed, value: None, error },
                            );
                        }
                        _ => {
                            self.push(t, TraceKind::Abandon { task });
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
            Message::Shutdown { t, pool, wait, phase } => {
                self.push(t, TraceKind::Shutdown { wait, phase });
                if phase == ShutdownPhase::End && wait {
                    self.workers_down(t, Some(pool), "shutdown");
                }
            }
            Message::WithExit { t, .. } => {
                // Leaving the `with` block is the lesson's closing shutdown step.
                let closing = self.steps.len().saturating_sub(1);
                self.step(t, closing);
            }
            Message::Step { t, index } => self.step(t, index),
        }
    }

    /// The program has exited: the workers still up are gone, and the run ends.
    pub(super) fn end(&mut self, t: u64) {
        if !self.run_sent {
            self.run(0, "thread".into(), 0, true);
        }
        let t = t.max(self.last_t);
        self.workers_down(t, None, "shutdown");
        self.push(t, TraceKind::End { makespan_us: t });
    }
}
