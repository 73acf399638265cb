//! [`Model`]: the timeline of a run, folded from its events. A pure fold — no I/O, no
//! clocks — so the headless transcript, the summary, the UI and a replay all read the same
//! state from the same events.
//!
//! Memory stays bounded however many tasks run (SPEC §6): the model keeps the most recent
//! [`TASK_WINDOW`] task records, the most recent [`RECEIVED_WINDOW`] results and the most
//! recent [`LANE_RAN_WINDOW`] task ids of each lane, and running [`TaskTotals`] (with HDR
//! histograms of the waits and run times, for their percentiles) so the summary and the stats
//! never need the records that fell out of the window. A task that falls out
//! before it ends keeps a few numbers (its times and state) until it ends, so the totals stay
//! exact; the pool holds such a task anyway.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::event::{EngineChoice, ResultOutcome, TraceEvent, TraceKind};
use super::gil::GilLedger;
use super::latency::Latency;
use super::queueing::Arrivals;
use crate::pool::{DownReason, Outcome, PoolKind, TaskId, WorkerId};

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

/// Task records kept: the most recent this many (older ones are counted in
/// [`Model::totals`] only). At a few hundred bytes a record, about 15 MB.
pub const TASK_WINDOW: usize = 50_000;

/// Results kept in [`Model::received`]: the most recent this many.
pub const RECEIVED_WINDOW: usize = 50_000;

/// Task ids kept in each [`Lane::ran`]: the most recent this many.
pub const LANE_RAN_WINDOW: usize = TASK_WINDOW;

/// Process ids kept in each [`Lane::pids`] (a process worker respawned after every task gets
/// a new one each time): the most recent this many.
pub const LANE_PIDS_KEPT: usize = 64;

/// One task, from submit to finish.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Its id (`Model::first_task` + its index in [`Model::tasks`]).
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
    /// The thread each of them ran on, in order.
    pub callback_threads: Vec<String>,
    /// What the main program got for it, the last time it asked.
    pub received: Option<ResultOutcome>,
    /// What it takes alone (µs), when known in advance.
    pub cost_us: Option<u64>,
    /// CPU-bound work: it needs a core (and the GIL, on a GIL pool).
    pub cpu: bool,
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
    /// task slowed by a GIL or busy cores runs longer than that), else its run time — and
    /// never more than it ran: a task whose worker died or was killed did only part of its
    /// work.
    pub fn serial_us(&self) -> Option<u64> {
        let run = self.run_us()?;
        Some(self.cost_us.map_or(run, |cost| cost.min(run)))
    }

    /// Its state and times.
    pub fn times(&self) -> TaskTimes {
        TaskTimes {
            id: self.id,
            state: self.state,
            submitted_us: self.submitted_us,
            started_us: self.started_us,
            ended_us: self.ended_us,
            cost_us: self.cost_us,
            cpu: self.cpu,
        }
    }

    fn tally(&self) -> Tally {
        Tally {
            state: self.state,
            cpu: self.cpu,
            wait_us: self.wait_us(),
            run_us: self.run_us(),
            serial_us: self.serial_us(),
        }
    }
}

/// What one task adds to the [`TaskTotals`].
#[derive(Clone, Copy, Debug)]
struct Tally {
    state: TaskState,
    cpu: bool,
    wait_us: Option<u64>,
    run_us: Option<u64>,
    serial_us: Option<u64>,
}

/// Running totals over every task submitted, in or out of the window: what the summary and
/// the stats read, so they never iterate the tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskTotals {
    /// Tasks queued, not started.
    pub pending: usize,
    /// Tasks on a worker.
    pub running: usize,
    /// Of those, CPU-bound ones: they need a core each, and on a GIL pool the GIL.
    pub running_cpu: usize,
    /// Tasks that returned a value.
    pub done: usize,
    /// Tasks that raised.
    pub failed: usize,
    /// Tasks whose worker died under them.
    pub crashed: usize,
    /// Tasks cancelled before they started.
    pub cancelled: usize,
    /// Tasks that failed without running.
    pub abandoned: usize,
    /// Tasks that started (those with a queue wait).
    pub started: usize,
    /// Their queue waits added up (µs).
    pub wait_sum_us: u64,
    /// Tasks that ran to an end on a worker (those with a run time).
    pub ran: usize,
    /// Their run times added up (µs).
    pub run_sum_us: u64,
    /// Their [`TaskRecord::serial_us`] added up (µs).
    pub serial_sum_us: u64,
    /// The queue waits, for their percentiles.
    pub wait_latency: Latency,
    /// The run times, for their percentiles.
    pub run_latency: Latency,
}

impl TaskTotals {
    /// Tasks in `state`.
    pub fn in_state(&self, state: TaskState) -> usize {
        match state {
            TaskState::Pending => self.pending,
            TaskState::Running => self.running,
            TaskState::Done => self.done,
            TaskState::Failed => self.failed,
            TaskState::Crashed => self.crashed,
            TaskState::Cancelled => self.cancelled,
            TaskState::Abandoned => self.abandoned,
        }
    }

    fn count_mut(&mut self, state: TaskState) -> &mut usize {
        match state {
            TaskState::Pending => &mut self.pending,
            TaskState::Running => &mut self.running,
            TaskState::Done => &mut self.done,
            TaskState::Failed => &mut self.failed,
            TaskState::Crashed => &mut self.crashed,
            TaskState::Cancelled => &mut self.cancelled,
            TaskState::Abandoned => &mut self.abandoned,
        }
    }

    fn add(&mut self, t: Tally) {
        *self.count_mut(t.state) += 1;
        if t.cpu && t.state == TaskState::Running {
            self.running_cpu += 1;
        }
        if let Some(wait) = t.wait_us {
            self.started += 1;
            self.wait_sum_us = self.wait_sum_us.saturating_add(wait);
        }
        if let Some(run) = t.run_us {
            self.ran += 1;
            self.run_sum_us = self.run_sum_us.saturating_add(run);
        }
        // Saturating: only a corrupt log's times (near u64::MAX µs) could reach the end.
        self.serial_sum_us = self.serial_sum_us.saturating_add(t.serial_us.unwrap_or(0));
    }

    /// Counts a new task.
    fn push(&mut self, t: Tally) {
        self.add(t);
        if let Some(us) = t.wait_us {
            self.wait_latency.record(us);
        }
        if let Some(us) = t.run_us {
            self.run_latency.record(us);
        }
    }

    /// A task changed from `before` to `after`. The histograms change only where a time did
    /// (a task's wait is counted once, when it starts, not again at each later event).
    fn change(&mut self, before: Tally, after: Tally) {
        self.remove(before);
        self.add(after);
        for (latency, was, now) in [
            (&mut self.wait_latency, before.wait_us, after.wait_us),
            (&mut self.run_latency, before.run_us, after.run_us),
        ] {
            if was != now {
                if let Some(us) = was {
                    latency.unrecord(us);
                }
                if let Some(us) = now {
                    latency.record(us);
                }
            }
        }
    }

    /// Takes back what `add(t)` added (so never goes below zero).
    fn remove(&mut self, t: Tally) {
        *self.count_mut(t.state) -= 1;
        if t.cpu && t.state == TaskState::Running {
            self.running_cpu -= 1;
        }
        if let Some(wait) = t.wait_us {
            self.started -= 1;
            self.wait_sum_us = self.wait_sum_us.saturating_sub(wait);
        }
        if let Some(run) = t.run_us {
            self.ran -= 1;
            self.run_sum_us = self.run_sum_us.saturating_sub(run);
        }
        self.serial_sum_us = self.serial_sum_us.saturating_sub(t.serial_us.unwrap_or(0));
    }
}

/// A task's state and times — what the totals, the timeline and the stats need — for any
/// task the model still follows: one in the window, one out of it that has not ended, and
/// the one the latest event touched ([`Model::task_times`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskTimes {
    /// The task.
    pub id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// When it was queued (µs).
    pub submitted_us: u64,
    /// When a worker took it.
    pub started_us: Option<u64>,
    /// When it ended.
    pub ended_us: Option<u64>,
    /// What it takes alone (µs), when known in advance.
    pub cost_us: Option<u64>,
    /// CPU-bound work.
    pub cpu: bool,
}

impl TaskTimes {
    /// A record with these times (no label or values: they are not kept).
    fn record(&self) -> TaskRecord {
        TaskRecord {
            started_us: self.started_us,
            ended_us: self.ended_us,
            cost_us: self.cost_us,
            cpu: self.cpu,
            state: self.state,
            ..placeholder_record(self.id, self.submitted_us, String::new())
        }
    }

    /// Queue wait: submit to start.
    pub fn wait_us(&self) -> Option<u64> {
        self.record().wait_us()
    }

    /// Run time: start to end.
    pub fn run_us(&self) -> Option<u64> {
        self.record().run_us()
    }

    /// See [`TaskRecord::serial_us`].
    pub fn serial_us(&self) -> Option<u64> {
        self.record().serial_us()
    }
}

/// A worker's lane.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// Its id.
    pub worker: WorkerId,
    /// Its current (or last) process id.
    pub pid: u32,
    /// The process ids it has had (a respawned process worker gets a new one): the most
    /// recent [`LANE_PIDS_KEPT`].
    pub pids: Vec<u32>,
    /// Alive since (µs), while alive.
    pub up_since: Option<u64>,
    /// Total time alive before `up_since`.
    pub alive_us: u64,
    /// The task it runs now.
    pub current: Option<TaskId>,
    /// The tasks it ran, in order: the most recent [`LANE_RAN_WINDOW`].
    pub ran: VecDeque<TaskId>,
    /// How many tasks it ran in all.
    pub ran_total: usize,
    /// Time with at least one task running on it (overlapping coroutines count once),
    /// up to `busy_since`.
    pub busy_us: u64,
    /// Tasks running on it now (several on a coroutine loop).
    pub running: u32,
    /// Since when it has had a task running, while it has.
    pub busy_since: Option<u64>,
    /// Since when it has been alive with nothing to run, while it has.
    pub idle_since: Option<u64>,
    /// Why it last went down.
    pub down_reason: Option<DownReason>,
    /// Its thread's name, when the pool names its threads as Python does.
    pub thread: Option<String>,
    /// The CPU of its process as Dask last read it, for a Dask worker poolscope cannot see on
    /// this machine (its pid is not one here): percent of one core.
    pub remote_cpu: Option<f32>,
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
    /// The index of the step that received it: the step the main program had begun last,
    /// in the order of the stream (which is the main program's own order). Not read from
    /// `at_us`: on simulated time a step often begins at the very instant of the results
    /// before it.
    pub step: Option<usize>,
    /// The task, for results (none for a raise or a print).
    pub task: Option<TaskId>,
    /// The outcome (`Error` for a raise, `Ok` for a print).
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
    /// The pool's kind; `None` before the `run` event.
    pub pool: Option<PoolKind>,
    /// The seed.
    pub seed: u64,
    /// The speed-up factor of durations.
    pub speed: f64,
    /// Whether the GIL is simulated.
    pub gil: bool,
    /// The run is on simulated time.
    pub virtual_time: bool,
    /// `poolscope`, or `cpython` when CPython's own pools ran the program.
    pub engine: EngineChoice,
    /// The pool's size now.
    pub pool_size: usize,
    /// The pool's size as the lesson's code has it: the size at the start, or after the
    /// lesson's own `resize` step — not after a live `+`/`-`.
    pub code_size: usize,
    /// The cores of the run: the machine's, or on simulated time the simulated ones.
    pub cores: usize,
    /// Time of the latest event (µs).
    pub now_us: u64,
    /// Set by `end`.
    pub makespan_us: Option<u64>,
    /// Steps begun, in order.
    pub steps: Vec<StepRecord>,
    /// The most recent [`TASK_WINDOW`] tasks, by id from [`Model::first_task`].
    pub tasks: VecDeque<TaskRecord>,
    /// The id of `tasks[0]`: how many tasks fell out of the window.
    pub first_task: TaskId,
    /// Totals over every task submitted.
    pub totals: TaskTotals,
    /// Tasks out of the window that have not ended yet.
    unfinished: HashMap<TaskId, TaskTimes>,
    /// The task the latest event changed, as it is now (even if out of the window).
    touched: Option<TaskTimes>,
    /// Worker lanes, by id.
    pub lanes: BTreeMap<WorkerId, Lane>,
    /// Tasks waiting now.
    pub queue_depth: usize,
    /// The deepest the queue got.
    pub max_queue_depth: usize,
    /// Tasks waiting (submitted, not started) times the time they waited, summed up to
    /// `now_us` (task·µs): over the elapsed time, the mean number waiting.
    pub waiting_area: u128,
    /// When the pool's first worker came up or its first task was submitted, whichever came
    /// first: where the queueing laws' window starts (a cluster may take seconds to start).
    pub pool_since_us: Option<u64>,
    /// When the last worker went down, while none is up: where that window ends (a program
    /// may take a while to exit after its pool shut down).
    pub pool_until_us: Option<u64>,
    /// When tasks were submitted: their rate and how regular it was.
    pub arrivals: Arrivals,
    /// Once seen: more CPU-bound tasks ran at once than [`Model::cpu_ceiling`], so they
    /// slowed each other down (their run times stretched).
    pub cpu_contended: bool,
    /// The queue's last change made it deeper.
    pub queue_rising: bool,
    /// Since when tasks have waited in the queue without a break, while they have.
    pub queue_since: Option<u64>,
    /// What the main program received, in order: the most recent [`RECEIVED_WINDOW`].
    pub received: VecDeque<Received>,
    /// How many results and exceptions it received in all.
    pub received_total: usize,
    /// Done-callbacks run.
    pub callbacks: usize,
    /// Who held the simulated GIL when (empty unless the run reports its GIL).
    pub gil_ledger: GilLedger,
    /// Events folded so far.
    pub events: u64,
}

impl Model {
    /// An empty model, before the `run` event.
    pub fn new() -> Model {
        Model { speed: 1.0, ..Model::default() }
    }

    /// How many CPU-bound tasks can make progress at once: one on a GIL thread pool or an
    /// event loop, else one per core (`None` while the cores are not known).
    pub fn cpu_ceiling(&self) -> Option<usize> {
        if (self.gil && self.pool == Some(PoolKind::Thread)) || self.pool == Some(PoolKind::Coroutine) {
            Some(1)
        } else {
            (self.cores > 0).then_some(self.cores)
        }
    }

    /// The step running now.
    pub fn current_step(&self) -> Option<&StepRecord> {
        self.steps.last()
    }

    /// A task by id; `None` for an unknown task or one that fell out of the window.
    pub fn task(&self, id: TaskId) -> Option<&TaskRecord> {
        self.tasks.get(usize::try_from(id.checked_sub(self.first_task)?).ok()?)
    }

    /// A task's state and times: from its record in the window, or for a task out of it, while
    /// it has not ended and right after the event that ended it.
    pub fn task_times(&self, id: TaskId) -> Option<TaskTimes> {
        if let Some(record) = self.task(id) {
            return Some(record.times());
        }
        match self.touched {
            Some(times) if times.id == id => Some(times),
            _ => self.unfinished.get(&id).copied(),
        }
    }

    /// Tasks submitted so far, in or out of the window.
    pub fn submitted(&self) -> usize {
        usize::try_from(self.first_task).unwrap_or(usize::MAX).saturating_add(self.tasks.len())
    }

    /// `#3 Process3`, or `#3` for an unknown task.
    pub fn task_name(&self, id: TaskId) -> String {
        match self.task(id) {
            Some(task) => format!("#{id} {}", task.label),
            None => format!("#{id}"),
        }
    }

    /// The mean number of tasks waiting (submitted, not started) from the pool's start to
    /// `now` (at or after the latest event): Little's `L` for the queue.
    pub fn mean_waiting(&self, now: u64) -> f64 {
        let span = self.pool_span_us(now);
        if span == 0 {
            return 0.0;
        }
        let since_latest = u128::from(now.saturating_sub(self.now_us)) * self.totals.pending as u128;
        self.waiting_area.saturating_add(since_latest) as f64 / span as f64
    }

    /// The time from the pool's start ([`Model::pool_since_us`]; the run's before it) to
    /// `now`, or to its end if every worker is down ([`Model::pool_until_us`]): the window
    /// the queueing laws measure over.
    pub fn pool_span_us(&self, now: u64) -> u64 {
        let end = self.pool_until_us.map_or(now, |until| until.min(now));
        end.saturating_sub(self.pool_since_us.unwrap_or(0))
    }

    /// True once the run ended.
    pub fn ended(&self) -> bool {
        self.makespan_us.is_some()
    }

    /// Changes task `id` with `change`, keeping the totals in step. A task out of the window
    /// that has not ended changes too, as far as its totals go.
    fn update(&mut self, id: TaskId, change: impl FnOnce(&mut TaskRecord)) {
        let index = id.checked_sub(self.first_task).and_then(|i| usize::try_from(i).ok());
        if let Some(record) = index.and_then(|i| self.tasks.get_mut(i)) {
            let before = record.tally();
            change(record);
            self.totals.change(before, record.tally());
        } else if let Some(times) = self.unfinished.get(&id) {
            let mut record = times.record();
            let before = record.tally();
            change(&mut record);
            self.totals.change(before, record.tally());
            let times = record.times();
            self.touched = Some(times);
            if times.state.is_terminal() {
                self.unfinished.remove(&id);
            } else {
                self.unfinished.insert(id, times);
            }
        }
    }

    /// Appends the next task, evicting the oldest beyond the window.
    fn push_task(&mut self, record: TaskRecord) {
        self.totals.push(record.tally());
        push_within(&mut self.tasks, record, TASK_WINDOW);
        if self.tasks.len() > TASK_WINDOW
            && let Some(old) = self.tasks.pop_front()
        {
            if !old.state.is_terminal() {
                self.unfinished.insert(old.id, old.times());
            }
            self.first_task += 1;
        }
    }

    fn push_received(&mut self, received: Received) {
        self.received_total += 1;
        push_within(&mut self.received, received, RECEIVED_WINDOW);
        if self.received.len() > RECEIVED_WINDOW {
            self.received.pop_front();
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &TraceEvent) {
        let t = event.t;
        let waited = u128::from(t.saturating_sub(self.now_us)) * self.totals.pending as u128;
        self.waiting_area = self.waiting_area.saturating_add(waited);
        self.now_us = self.now_us.max(t);
        self.events += 1;
        match &event.kind {
            TraceKind::Run { scenario, title, pool, workers, seed, speed, gil, virtual_time, cores, engine } => {
                self.virtual_time = *virtual_time;
                self.engine = *engine;
                self.cores = *cores;
                self.code_size = *workers;
                self.scenario = scenario.clone();
                self.title = title.clone();
                self.pool = Some(*pool);
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
                self.pool_since_us.get_or_insert(t);
                self.pool_until_us = None;
                let lane = self.lanes.entry(*worker).or_insert_with(|| Lane {
                    worker: *worker,
                    pid: *pid,
                    pids: Vec::new(),
                    up_since: None,
                    alive_us: 0,
                    current: None,
                    ran: VecDeque::new(),
                    ran_total: 0,
                    busy_us: 0,
                    running: 0,
                    busy_since: None,
                    idle_since: None,
                    down_reason: None,
                    thread: None,
                    remote_cpu: None,
                });
                lane.idle_since = if lane.running == 0 { Some(t) } else { None };
                lane.pid = *pid;
                if lane.pids.last() != Some(pid) {
                    if lane.pids.len() >= LANE_PIDS_KEPT {
                        lane.pids.remove(0);
                    }
                    lane.pids.push(*pid);
                }
                lane.up_since = Some(t);
                lane.down_reason = None;
            }
            TraceKind::ThreadName { worker, name } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    lane.thread = Some(name.clone());
                }
            }
            TraceKind::Initializing { worker } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    // Neither idle nor running a task.
                    lane.idle_since = None;
                }
            }
            TraceKind::Initialized { worker, .. } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    if lane.up_since.is_some() && lane.running == 0 {
                        lane.idle_since = Some(t);
                    }
                }
            }
            TraceKind::WorkerDown { worker, reason, .. } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    if let Some(since) = lane.up_since.take() {
                        lane.alive_us += t.saturating_sub(since);
                    }
                    lane.current = None;
                    lane.idle_since = None;
                    lane.down_reason = Some(*reason);
                }
                if self.lanes.values().all(|l| l.up_since.is_none()) {
                    self.pool_until_us = Some(t);
                }
            }
            TraceKind::Submit { task, label, cost_us, cpu } => {
                self.pool_since_us.get_or_insert(t);
                let step = self.steps.last().map(|s| s.index);
                let next = self.first_task + self.tasks.len() as TaskId;
                // Ids are dense from 0; tolerate a gap rather than misplace a task. Of a gap
                // wider than the window (only a corrupt log has one), the window keeps the
                // last ids; the others count as submitted and pending, as if they had left it.
                let window = TASK_WINDOW as TaskId;
                if task.saturating_sub(next) > window {
                    while let Some(old) = self.tasks.pop_front() {
                        if !old.state.is_terminal() {
                            self.unfinished.insert(old.id, old.times());
                        }
                    }
                    let skipped = task - window - next;
                    self.totals.pending =
                        self.totals.pending.saturating_add(usize::try_from(skipped).unwrap_or(usize::MAX));
                    self.first_task = task - window;
                }
                let next = self.first_task + self.tasks.len() as TaskId;
                for id in next..*task {
                    self.push_task(placeholder(id, t));
                }
                let record =
                    TaskRecord { step, cost_us: *cost_us, cpu: *cpu, ..placeholder_record(*task, t, label.clone()) };
                if *task >= next {
                    self.arrivals.submit(t);
                    self.push_task(record);
                } else {
                    self.update(*task, |slot| *slot = record);
                }
            }
            TraceKind::Start { task, worker, pid } => {
                self.update(*task, |record| {
                    record.started_us = Some(t);
                    record.worker = Some(*worker);
                    record.pid = Some(*pid);
                    record.state = TaskState::Running;
                });
                if self.cpu_ceiling().is_some_and(|c| self.totals.running_cpu > c) {
                    self.cpu_contended = true;
                }
                if let Some(lane) = self.lanes.get_mut(worker) {
                    lane.current = Some(*task);
                    push_within(&mut lane.ran, *task, LANE_RAN_WINDOW);
                    lane.ran_total += 1;
                    if lane.ran.len() > LANE_RAN_WINDOW {
                        lane.ran.pop_front();
                    }
                    if lane.running == 0 {
                        lane.busy_since = Some(t);
                    }
                    lane.running += 1;
                    lane.idle_since = None;
                }
            }
            TraceKind::Finish { task, worker, outcome, value, error } => {
                self.update(*task, |record| {
                    record.ended_us = Some(t);
                    record.state = match outcome {
                        Outcome::Ok => TaskState::Done,
                        Outcome::Error => TaskState::Failed,
                        Outcome::Crashed => TaskState::Crashed,
                    };
                    record.value = value.clone();
                    record.error = error.clone();
                    record.worker = Some(*worker);
                });
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
                    if lane.running == 0 && lane.up_since.is_some() {
                        lane.idle_since = Some(t);
                    }
                }
            }
            TraceKind::Cancel { task, ok } => {
                if *ok {
                    self.update(*task, |record| {
                        if record.state == TaskState::Pending {
                            record.state = TaskState::Cancelled;
                            record.ended_us = Some(t);
                        }
                    });
                }
            }
            TraceKind::Abandon { task, .. } => {
                self.update(*task, |record| {
                    record.state = TaskState::Abandoned;
                    record.ended_us = Some(t);
                });
            }
            TraceKind::Callback { task, thread, .. } => {
                self.update(*task, |record| {
                    record.callbacks += 1;
                    record.callback_threads.push(thread.clone());
                });
                self.callbacks += 1;
            }
            TraceKind::Result { task, outcome, value, error, exception } => {
                self.update(*task, |record| record.received = Some(*outcome));
                let text = match (value, exception, error) {
                    (Some(value), _, _) => value.clone(),
                    // `TimeoutError()` and `CancelledError()` carry no message: the type alone.
                    (None, Some(exception), Some(error)) if !error.is_empty() => format!("{exception}: {error}"),
                    (None, Some(exception), _) => exception.clone(),
                    (None, None, error) => error.clone().unwrap_or_default(),
                };
                let step = self.steps.last().map(|s| s.index);
                self.push_received(Received { at_us: t, step, task: Some(*task), outcome: *outcome, text });
            }
            TraceKind::Queue { depth } => {
                self.queue_rising = *depth > self.queue_depth;
                self.queue_since = match (*depth, self.queue_since) {
                    (0, _) => None,
                    (_, Some(since)) => Some(since),
                    (_, None) => Some(t),
                };
                self.queue_depth = *depth;
                self.max_queue_depth = self.max_queue_depth.max(*depth);
            }
            TraceKind::Raise { exception, message } => self.push_received(Received {
                at_us: t,
                step: self.steps.last().map(|s| s.index),
                task: None,
                outcome: ResultOutcome::Error,
                text: if message.is_empty() { exception.clone() } else { format!("{exception}: {message}") },
            }),
            // What the main program read itself: shown beside its results, in its step.
            TraceKind::Print { text } => self.push_received(Received {
                at_us: t,
                step: self.steps.last().map(|s| s.index),
                task: None,
                outcome: ResultOutcome::Ok,
                text: text.clone(),
            }),
            TraceKind::Resize { workers, live } => {
                self.pool_size = *workers;
                if !live {
                    self.code_size = *workers;
                }
            }
            TraceKind::End { makespan_us } => {
                self.makespan_us = Some(*makespan_us);
                for lane in self.lanes.values_mut() {
                    if let Some(since) = lane.up_since.take() {
                        lane.alive_us += makespan_us.saturating_sub(since);
                    }
                }
            }
            TraceKind::Gil { worker, change } => self.gil_ledger.apply(t, *worker, *change),
            TraceKind::WorkerCpu { worker, cpu } => {
                if let Some(lane) = self.lanes.get_mut(worker) {
                    lane.remote_cpu = Some(*cpu);
                }
            }
            TraceKind::Shutdown { .. } | TraceKind::Poll { .. } | TraceKind::Waited { .. } | TraceKind::Note { .. } => {
            }
        }
    }
}

/// Appends `item` to `deque`, which its caller keeps to `window` items by evicting the oldest
/// after the push: it grows by doubling as a `Vec` does, but never past the `window + 1`
/// items it ever holds (a doubling past half a window of task records would make room for
/// 65,536 of them, 3 MB more than the 50,001 it needs).
fn push_within<T>(deque: &mut VecDeque<T>, item: T, window: usize) {
    if deque.len() == deque.capacity() {
        let room = (deque.capacity() * 2).clamp(8, window + 1);
        deque.reserve_exact(room.saturating_sub(deque.len()));
    }
    deque.push_back(item);
}

fn placeholder(id: TaskId, t: u64) -> TaskRecord {
    placeholder_record(id, t, format!("task{id}"))
}

fn placeholder_record(id: TaskId, t: u64, label: String) -> TaskRecord {
    TaskRecord {
        id,
        label,
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
        callback_threads: Vec::new(),
        received: None,
        cost_us: None,
        cpu: false,
    }
}
