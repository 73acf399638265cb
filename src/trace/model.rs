//! [`Model`]: the timeline of a run, folded from its events. A pure fold — no I/O, no
//! clocks — so the headless transcript, the summary, the UI and a replay all read the same
//! state from the same events.

use std::collections::BTreeMap;

use super::event::{FinishOutcome, ResultOutcome, TraceEvent, TraceKind};
use crate::pool::{TaskId, WorkerId};

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Queued, not started.
    Pending,
    /// On a worker.
    Running,
    /// Returned a value.
    Done,
    /// Raised.
    Failed,
    /// Its worker process died under it.
    Crashed,
    /// Cancelled before it started.
    Cancelled,
    /// Failed without running (pool terminated or broken).
    Abandoned,
}

impl TaskState {
    /// True once nothing more will happen to the task.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// One task, from submit to finish.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Its id (its index in [`Model::tasks`]).
    pub id: TaskId,
    /// Its label.
    pub label: String,
    /// The step that submitted it.
    pub step: Option<usize>,
    /// When it was queued (µs).
    pub submitted_us: u64,
    /// When a worker took it.
    pub started_us: Option<u64>,
    /// When it ended (finished, cancelled or abandoned).
    pub ended_us: Option<u64>,
    /// The worker that ran it.
    pub worker: Option<WorkerId>,
    /// The process that ran it.
    pub pid: Option<u32>,
    /// Its state.
    pub state: TaskState,
    /// What it returned.
    pub value: Option<String>,
    /// What it raised.
    pub error: Option<String>,
    /// Done-callbacks that ran for it.
    pub callbacks: u32,
    /// What the main program got for it, the last time it asked.
    pub received: Option<ResultOutcome>,
    /// What it takes alone (µs), when known in advance.
    pub cost_us: Option<u64>,
}

impl TaskRecord {
    /// Queue wait: submit to start.
    pub fn wait_us(&self) -> Option<u64> {
        self.started_us.map(|s| s.saturating_sub(self.submitted_us))
    }

    /// Run time: start to end.
    pub fn run_us(&self) -> Option<u64> {
        Some(self.ended_us?.saturating_sub(self.started_us?))
    }

    /// What the task would take on one worker alone: its nominal cost when known (a CPU-bound
    /// task slowed by a GIL or busy cores runs longer than that), else its run time.
    pub fn serial_us(&self) -> Option<u64> {
        let run = self.run_us()?;
        Some(self.cost_us.unwrap_or(run))
    }
}

/// A worker's lane.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// Its id.
    pub worker: WorkerId,
    /// Its current (or last) process id.
    pub pid: u32,
    /// Every process id it has had (a respawned process worker gets a new one).
    pub pids: Vec<u32>,
    /// Alive since (µs), while alive.
    pub up_since: Option<u64>,
    /// Total time alive before `up_since`.
    pub alive_us: u64,
    /// The task it runs now.
    pub current: Option<TaskId>,
    /// The tasks it ran, in order.
    pub ran: Vec<TaskId>,
    /// Time with at least one task running on it (overlapping coroutines count once),
    /// up to `busy_since`.
    pub busy_us: u64,
    /// Tasks running on it now (several on a coroutine loop).
    pub running: u32,
    /// Since when it has had a task running, while it has.
    pub busy_since: Option<u64>,
    /// Why it last went down.
    pub down_reason: Option<String>,
}

impl Lane {
    /// Time alive up to `now`.
    pub fn alive_until(&self, now: u64) -> u64 {
        self.alive_us + self.up_since.map_or(0, |s| now.saturating_sub(s))
    }

    /// Time busy up to `now`, counting the task(s) running now.
    pub fn busy_until(&self, now: u64) -> u64 {
        self.busy_us + self.busy_since.map_or(0, |s| now.saturating_sub(s))
    }
}

/// A step as the main program began it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// From 0.
    pub index: usize,
    /// The op.
    pub op: String,
    /// Its Python.
    pub python: String,
    /// Its caption.
    pub note: Option<String>,
    /// When it began.
    pub at_us: u64,
}

/// Something the main program received: a result, or an exception not tied to one.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// When.
    pub at_us: u64,
    /// The task, for results.
    pub task: Option<TaskId>,
    /// The outcome (`Error` for a raise).
    pub outcome: ResultOutcome,
    /// The value or the exception, as the program would print it.
    pub text: String,
}

/// The run so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    /// The scenario's short name.
    pub scenario: String,
    /// Its title.
    pub title: String,
    /// `thread`, `process` or `coroutine`.
    pub pool: String,
    /// The seed.
    pub seed: u64,
    /// The speed-up factor of durations.
    pub speed: f64,
    /// Whether the GIL is simulated.
    pub gil: bool,
    /// The pool's size now.
    pub pool_size: usize,
    /// Time of the latest event (µs).
    pub now_us: u64,
    /// Set by `end`.
    pub makespan_us: Option<u64>,
    /// Steps begun, in order.
    pub steps: Vec<StepRecord>,
    /// Every task, by id.
    pub tasks: Vec<TaskRecord>,
    /// Worker lanes, by id.
    pub lanes: BTreeMap<WorkerId, Lane>,
    /// Tasks waiting now.
    pub queue_depth: usize,
    /// The deepest the queue got.
    pub max_queue_depth: usize,
    /// What the main program received, in order.
    pub received: Vec<Received>,
    /// Callbacks run: (task, thread).
    pub callbacks: Vec<(TaskId, String)>,
    /// Events folded so far.
    pub events: u64,
}

impl Model {
    /// An empty model, before the `run` event.
    pub fn new() -> Model {
        Model { speed: 1.0, ..Model::default() }
    }

    /// The step running now.
    pub fn current_step(&self) -> Option<&StepRecord> {
        self.steps.last()
    }

    /// A task by id.
    pub fn task(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.get(usize::try_from(id).ok()?)
    }

    /// `#3 Process3`, or `#3` for an unknown task.
    pub fn task_name(&self, id: TaskId) -> String {
        match self.task(id) {
            Some(task) => format!("#{id} {}", task.label),
            None => format!("#{id}"),
        }
    }

    /// True once the run ended.
    pub fn ended(&self) -> bool {
        self.makespan_us.is_some()
    }

    fn task_mut(&mut self, id: TaskId) -> Option<&mut TaskRecord> {
        self.tasks.get_mut(usize::try_from(id).ok()?)
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &TraceEvent) {
        let t = event.t;
        self.now_us = self.now_us.max(t);
        self.events += 1;
        match &event.kind {
            TraceKind::Run { scenario, title, pool, workers, seed, speed, gil } => {
                self.scenario = scenario.clone();
                self.title = title.clone();
                self.pool = pool.clone();
                self.pool_size = *workers;
                self.seed = *seed;
                self.speed = *speed;
                self.gil = *gil;
            }
            TraceKind::Step { index, op, python, note } => self.steps.push(StepRecord {
                index: *index,
                op: op.clone(),
                python: python.clone(),
                note: note.clone(),
                at_us: t,
            }),
            TraceKind::WorkerUp { worker, pid } => {
                let lane = self.lanes.entry(*worker).or_insert_with(|| Lane {
                    worker: *worker,
                    pid: *pid,
                    pids: Vec::new(),
                    up_since: None,
                    alive_us: 0,
                    current: None,
                    ran: Vec::new(),
                    busy_us: 0,
                    running: 0,
                    busy_since: None,
                    down_reason: None,
                });
                lane.pid = *pid;
                if lane.pids.last() != Some(pid) {
                    lane.pids.push(*pid);
                }
                lane.up_since = Some(t);
                lane.down_reason = None;
            }
            TraceKind::WorkerDown { worker, reason, .. } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    if let Some(since) = lane.up_since.take() {
                        lane.alive_us += t.saturating_sub(since);
                    }
                    lane.current = None;
                    lane.down_reason = Some(reason.clone());
                }
            }
            TraceKind::Submit { task, label, cost_us } => {
                let step = self.steps.last().map(|s| s.index);
                let index = usize::try_from(*task).unwrap_or(usize::MAX);
                // Ids are dense from 0; tolerate a gap rather than misplace a task.
                while self.tasks.len() < index {
                    let id = self.tasks.len() as TaskId;
                    self.tasks.push(placeholder(id, t));
                }
                let record = TaskRecord { label: label.clone(), step, cost_us: *cost_us, ..placeholder(*task, t) };
                if index == self.tasks.len() {
                    self.tasks.push(record);
                } else if let Some(slot) = self.tasks.get_mut(index) {
                    *slot = record;
                }
            }
            TraceKind::Start { task, worker, pid } => {
                if let Some(record) = self.task_mut(*task) {
                    record.started_us = Some(t);
                    record.worker = Some(*worker);
                    record.pid = Some(*pid);
                    record.state = TaskState::Running;
                }
                if let Some(lane) = self.lanes.get_mut(worker) {
                    lane.current = Some(*task);
                    lane.ran.push(*task);
                    if lane.running == 0 {
                        lane.busy_since = Some(t);
                    }
                    lane.running += 1;
                }
            }
            TraceKind::Finish { task, worker, outcome, value, error } => {
                if let Some(record) = self.task_mut(*task) {
                    record.ended_us = Some(t);
                    record.state = match outcome {
                        FinishOutcome::Ok => TaskState::Done,
                        FinishOutcome::Error => TaskState::Failed,
                        FinishOutcome::Crashed => TaskState::Crashed,
                    };
                    record.value = value.clone();
                    record.error = error.clone();
                    record.worker = Some(*worker);
                }
                if let Some(lane) = self.lanes.get_mut(worker) {
                    if lane.current == Some(*task) {
                        lane.current = None;
                    }
                    lane.running = lane.running.saturating_sub(1);
                    if lane.running == 0
                        && let Some(since) = lane.busy_since.take()
                    {
                        lane.busy_us += t.saturating_sub(since);
                    }
                }
            }
            TraceKind::Cancel { task, ok } => {
                if *ok
                    && let Some(record) = self.task_mut(*task)
                    && record.state == TaskState::Pending
                {
                    record.state = TaskState::Cancelled;
                    record.ended_us = Some(t);
                }
            }
            TraceKind::Abandon { task } => {
                if let Some(record) = self.task_mut(*task) {
                    record.state = TaskState::Abandoned;
                    record.ended_us = Some(t);
                }
            }
            TraceKind::Callback { task, thread, .. } => {
                if let Some(record) = self.task_mut(*task) {
                    record.callbacks += 1;
                }
                self.callbacks.push((*task, thread.clone()));
            }
            TraceKind::Result { task, outcome, value, error, exception } => {
                if let Some(record) = self.task_mut(*task) {
                    record.received = Some(*outcome);
                }
                let text = match (value, exception, error) {
                    (Some(value), _, _) => value.clone(),
                    (None, Some(exception), Some(error)) => format!("{exception}: {error}"),
                    (None, Some(exception), None) => exception.clone(),
                    (None, None, error) => error.clone().unwrap_or_default(),
                };
                self.received.push(Received { at_us: t, task: Some(*task), outcome: *outcome, text });
            }
            TraceKind::Queue { depth } => {
                self.queue_depth = *depth;
                self.max_queue_depth = self.max_queue_depth.max(*depth);
            }
            TraceKind::Raise { exception, message } => self.received.push(Received {
                at_us: t,
                task: None,
                outcome: ResultOutcome::Error,
                text: format!("{exception}: {message}"),
            }),
            TraceKind::Resize { workers } => self.pool_size = *workers,
            TraceKind::End { makespan_us } => {
                self.makespan_us = Some(*makespan_us);
                for lane in self.lanes.values_mut() {
                    if let Some(since) = lane.up_since.take() {
                        lane.alive_us += makespan_us.saturating_sub(since);
                    }
                }
            }
            TraceKind::Shutdown { .. } | TraceKind::Poll { .. } | TraceKind::Waited { .. } | TraceKind::Note { .. } => {
            }
        }
    }
}

fn placeholder(id: TaskId, t: u64) -> TaskRecord {
    TaskRecord {
        id,
        label: format!("task{id}"),
        step: None,
        submitted_us: t,
        started_us: None,
        ended_us: None,
        worker: None,
        pid: None,
        state: TaskState::Pending,
        value: None,
        error: None,
        callbacks: 0,
        received: None,
        cost_us: None,
    }
}
