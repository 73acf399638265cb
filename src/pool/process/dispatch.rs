//! The parent side: one lane per worker process and the jobs no worker has taken yet. The
//! two threads that talk to each worker are in `pipes`.
//!
//! All pool state sits behind one lock, and no I/O ever happens under it: frames for a worker
//! go into its writer's channel, and the reader reads before it locks. So a worker blocked
//! writing results can always be drained, whatever the submitting threads are doing.
//!
//! As `ProcessPoolExecutor`, the pool keeps a *call queue*: up to `workers + 1` jobs marked
//! running before any worker has them, from which idle workers take their next job. It is
//! filled when the pool wakes (a submit, a result), never when a worker takes a job, so a
//! burst of submits to idle workers leaves exactly `workers + 1` tasks running — and
//! `cancel()` fails on the one no worker runs yet, as in CPython. A job's `Start` event
//! waits until the task is at the head of the worker's line, i.e. the worker is running it,
//! so a lane never shows two tasks at once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::pipes;
use super::wire::{self, FromWorker};
use super::{OnWorkerDeath, StartMethod};
use crate::pool::error::{BROKEN_FUTURE, QUEUE_NOT_INHERITED, TaskError, TaskResult};
use crate::pool::front::Stopping;
use crate::pool::future::{Future, finish_event};
use crate::pool::probe::{DownReason, EventKind, Telemetry, WorkerId};
use crate::pool::queues::SharedQueues;
use crate::pool::relay::Relay;
use crate::pool::sync::{Bell, Clock, PoolThread, Reader, TimedOut};
use crate::pool::task::{TaskSpec, TaskValue, simulated_cost};

/// Jobs a worker may hold at once when every one of them is quick ([`wire::is_quick`]):
/// enough to hide a pipe round trip behind work. Other jobs go one at a time, so a task
/// marked running is a task really running.
const PIPELINE: usize = 16;

/// A task no worker has taken.
pub(super) struct Queued {
    pub(super) future: Future<TaskValue>,
    pub(super) spec: TaskSpec,
    /// Already marked running: it was handed to a worker that died before starting it.
    pub(super) begun: bool,
}

/// Tasks that go to one worker in one message.
pub(super) struct Job {
    pub(super) tasks: Vec<Queued>,
    pub(super) quick: bool,
    /// In the call queue: its tasks are marked running, a worker takes it next.
    pub(super) called: bool,
}

impl Job {
    pub(super) fn new(tasks: Vec<Queued>) -> Job {
        let quick = tasks.iter().all(|q| wire::is_quick(&q.spec));
        let called = tasks.iter().all(|q| q.begun);
        Job { tasks, quick, called }
    }
}

/// A task a worker holds, in the order it runs them.
struct InFlight {
    future: Future<TaskValue>,
    spec: TaskSpec,
    /// Its `Start` was reported: it is the worker's current task.
    started: bool,
    /// When it started, on the run's clock.
    started_at: Instant,
    /// A simulated run: its CPU time was taken on the simulated cores.
    charged: bool,
    /// The last task of its job.
    job_end: bool,
}

/// One worker process.
pub(super) struct Lane {
    id: WorkerId,
    /// The pid shown: the process's own, or a stable stand-in in a simulated run.
    pid: u32,
    /// The process's own pid, which it gives in its handshake.
    os_pid: u32,
    /// Its reader, which a simulated run tells when a frame is owed.
    reader: Reader,
    /// When it was started, on the run's clock.
    spawned_at: Instant,
    child: Arc<Mutex<Child>>,
    tx: Sender<Vec<u8>>,
    inflight: VecDeque<InFlight>,
    jobs: usize,
    /// When it last had nothing to do, as a count of such moments: the worker idle longest
    /// takes the next job, as the one waiting longest on `call_queue.get()` does in CPython.
    idle_since: u64,
    /// Every job it holds is quick.
    quick_only: bool,
    /// Jobs it finished.
    jobs_done: usize,
    /// It finished its `max_tasks_per_child` jobs: it leaves, and a new process takes its lane.
    spent: bool,
    /// `set_workers` shrank the pool: it takes no new work.
    retiring: bool,
    /// Why it is going away, once it was asked to (`Exit` sent, or killed).
    exit: Option<DownReason>,
    /// It answered the handshake.
    ready: bool,
    init_failed: Option<String>,
}

impl Lane {
    fn accepting(&self) -> bool {
        !self.retiring && self.exit.is_none()
    }

    /// The worker process owes the pool a frame: its handshake, a task's end, or (leaving)
    /// the end of its output.
    fn owes(&self) -> bool {
        self.exit.is_some() || !self.ready || !self.inflight.is_empty()
    }

    fn takes(&self, quick: bool) -> bool {
        self.accepting() && (self.jobs == 0 || (quick && self.quick_only && self.jobs < PIPELINE))
    }

    /// Reports the head task as started if it was not yet.
    fn start_head(&mut self, supervisor: &Supervisor) {
        if let Some(head) = self.inflight.front_mut()
            && !head.started
        {
            head.started = true;
            head.started_at = supervisor.now();
            if let Some(telemetry) = &supervisor.telemetry {
                telemetry.emit(EventKind::Start { task: head.future.id(), worker: self.id, pid: self.pid });
            }
        }
    }

    fn send_exit(&mut self, reason: DownReason) {
        let mut frame = Vec::new();
        wire::encode_exit(&mut frame);
        let _ = self.tx.send(frame);
        self.exit = Some(reason);
    }
}

/// Future completions to run once the state lock is released, on the pool's results thread
/// (as CPython's management thread completes every future): they run callbacks, which may
/// call back into the pool.
#[derive(Default)]
pub(super) struct Deferred(Vec<Action>);

enum Action {
    Finish(Future<TaskValue>, TaskResult<TaskValue>),
    Abandon(Future<TaskValue>, TaskError),
    Cancel(Future<TaskValue>),
}

/// The pool's state, locked: what a submit, a stop or a resize holds. Releasing it runs the
/// future completions deferred meanwhile.
pub struct Gate<'a> {
    state: Option<MutexGuard<'a, State>>,
    deferred: Deferred,
    relay: &'a Relay,
}

impl<'a> Gate<'a> {
    pub(super) fn new(supervisor: &'a Supervisor) -> Gate<'a> {
        Gate { state: Some(supervisor.lock()), deferred: Deferred::default(), relay: &supervisor.relay }
    }

    pub(super) fn state(&self) -> &State {
        self.state.as_ref().expect("held until dropped")
    }

    pub(super) fn parts(&mut self) -> (&mut State, &mut Deferred) {
        (self.state.as_mut().expect("held until dropped"), &mut self.deferred)
    }
}

impl std::fmt::Debug for Gate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        drop(self.state.take());
        std::mem::take(&mut self.deferred).hand_to(self.relay);
    }
}

impl Deferred {
    pub(super) fn cancel(&mut self, future: Future<TaskValue>) {
        self.0.push(Action::Cancel(future));
    }

    /// Runs the completions on the pool's results thread, in order after those before.
    pub(super) fn hand_to(self, relay: &Relay) {
        if !self.0.is_empty() {
            relay.run(move || self.run());
        }
    }

    fn run(self) {
        for action in self.0 {
            match action {
                Action::Finish(future, outcome) => future.finish(outcome),
                Action::Abandon(future, error) => {
                    future.abandon(error);
                }
                Action::Cancel(future) => {
                    future.cancel();
                }
            }
        }
    }
}

/// What the pool's handle and the threads that talk to its worker processes share: the
/// processes, the jobs no worker has taken, and how to start more.
pub(super) struct Supervisor {
    pub(super) telemetry: Option<Arc<Telemetry>>,
    /// The thread a task's value says ran it (see [`ProcessPoolBuilder::task_thread_name`](super::ProcessPoolBuilder::task_thread_name)).
    pub(super) task_thread: Option<Arc<str>>,
    pub(super) queues: Arc<SharedQueues>,
    pub(super) program: PathBuf,
    pub(super) eager: bool,
    pub(super) start: StartMethod,
    /// `max_tasks_per_child`: a worker leaves after this many jobs, and a new one takes its lane.
    pub(super) max_tasks: Option<usize>,
    pub(super) on_death: OnWorkerDeath,
    pub(super) initializer: Option<TaskSpec>,
    pub(super) spin_rate: u64,
    pub(super) state: Mutex<State>,
    /// Reader threads, one per worker process ever started and not yet joined, with their
    /// seats in a simulated run.
    pub(super) threads: Mutex<Vec<PoolThread>>,
    /// The clock of the run that built the pool.
    pub(super) clock: Clock,
    /// Rung when a worker is killed, for readers waiting out its task's simulated time.
    pub(super) bell: Bell,
    /// Counts the moments workers fall idle (see `Lane::idle_since`).
    pub(super) ticks: std::sync::atomic::AtomicU64,
    /// The thread that completes futures and runs their callbacks.
    pub(super) relay: Relay,
}

/// Everything that changes, under one lock.
pub struct State {
    pub(super) pending: VecDeque<Job>,
    pub(super) lanes: BTreeMap<WorkerId, Lane>,
    pub(super) free_ids: BTreeSet<WorkerId>,
    pub(super) next_id: WorkerId,
    pub(super) target: usize,
    pub(super) stopping: Stopping,
    /// Why the pool broke (`OnWorkerDeath::Break`).
    pub(super) broken: Option<String>,
    /// The workers were started: with [`StartMethod::Fork`], all of them at the first submit.
    pub(super) launched: bool,
    /// Jobs ended by workers that stay, not yet taken by a submit: `ProcessPoolExecutor`'s
    /// `_idle_worker_semaphore`, which a submit under spawn takes before it starts a worker.
    pub(super) idle_tokens: usize,
}

impl Supervisor {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock (callbacks run after it is released); a
        // poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn emit(&self, kind: EventKind) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(kind);
        }
    }

    /// Fails a task its worker was running when the worker died or was killed.
    fn fail_running(&self, future: Future<TaskValue>, worker: WorkerId, error: TaskError, deferred: &mut Deferred) {
        let outcome = Err(error);
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(finish_event(future.id(), worker, &outcome, |_| None));
        }
        deferred.0.push(Action::Finish(future, outcome));
    }

    /// Fails a task that was marked running but never started (its worker died or was
    /// killed first), reporting it as abandoned.
    fn fail_begun(&self, future: Future<TaskValue>, error: TaskError, deferred: &mut Deferred) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(EventKind::Abandon { task: future.id(), error: None });
        }
        deferred.0.push(Action::Finish(future, Err(error)));
    }

    /// Fails a task that cannot be sent to a worker process (it takes a plain queue), as
    /// CPython's feeder thread fails the future whose call it could not pickle.
    pub(super) fn fail_unsent(&self, future: Future<TaskValue>, deferred: &mut Deferred) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.emit(EventKind::Abandon { task: future.id(), error: Some(QUEUE_NOT_INHERITED.into()) });
        }
        deferred.0.push(Action::Finish(future, Err(TaskError::NotSent(QUEUE_NOT_INHERITED.into()))));
    }

    /// Waits for every reader thread (so every worker process) to end, then for the results
    /// thread to run what they handed it (unless a callback on it shuts the pool down).
    pub(super) fn join_all(&self) {
        let me = std::thread::current().id();
        loop {
            let others: Vec<PoolThread> = {
                let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
                let (mine, others) = threads.drain(..).partition(|t| t.id() == me);
                *threads = mine;
                others
            };
            if others.is_empty() {
                self.relay.stop();
                return;
            }
            for thread in others {
                thread.join();
            }
        }
    }

    /// Handles a batch of frames from worker `id`.
    pub(super) fn handle(&self, id: WorkerId, pid: u32, batch: &mut Vec<FromWorker>) -> Result<(), String> {
        let mut deferred = Deferred::default();
        let mut requests = Vec::new();
        let outcome = {
            let mut state = self.lock();
            // A killed worker's late frames are void: its tasks were failed when it was killed.
            let live = |lane: &&mut Lane| lane.pid == pid && lane.exit != Some(DownReason::Terminated);
            // A result wakes the pool, as it wakes CPython's manager thread.
            let results = batch.iter().any(|msg| matches!(msg, FromWorker::Done { .. }));
            let outcome = match state.lanes.get_mut(&id).filter(live) {
                Some(lane) => self.take_frames(lane, batch, &mut requests, &mut deferred),
                None => Ok(0),
            };
            let outcome = outcome.map(|ended| state.idle_tokens += ended);
            if results {
                state.dispatch(self);
            } else {
                state.settle(self);
            }
            outcome
        };
        deferred.hand_to(&self.relay);
        for (tx, request) in requests {
            self.serve(tx, request);
        }
        outcome
    }

    /// Applies a worker's frames to its lane: results complete futures, queue requests are
    /// set aside to be served once the lock is released. Returns how many jobs ended on a
    /// worker that stays.
    fn take_frames(
        &self,
        lane: &mut Lane,
        batch: &mut Vec<FromWorker>,
        requests: &mut Vec<(Sender<Vec<u8>>, FromWorker)>,
        deferred: &mut Deferred,
    ) -> Result<usize, String> {
        let mut ended = 0;
        for msg in batch.drain(..) {
            match msg {
                FromWorker::Ready { version, pid } => {
                    if version != wire::VERSION || pid != lane.os_pid {
                        return Err(format!("a bad handshake (version {version}, pid {pid})"));
                    }
                    lane.ready = true;
                    // Its initializer ran: the job it was handed meanwhile starts now.
                    lane.start_head(self);
                }
                FromWorker::InitFailed(msg) => lane.init_failed = Some(msg),
                FromWorker::Done { task, outcome } => {
                    let Some(head) = lane.inflight.pop_front().filter(|head| head.future.id() == task) else {
                        return Err(format!("a result for task {task}, which it was not running"));
                    };
                    let mut job_end = head.job_end;
                    let failed = outcome.as_ref().err().cloned();
                    let outcome = match outcome {
                        Ok(output) => {
                            Ok(TaskValue { worker: lane.id, pid: lane.pid, output, thread: self.task_thread.clone() })
                        }
                        Err(msg) => Err(TaskError::Failed(msg)),
                    };
                    if let Some(telemetry) = &self.telemetry {
                        telemetry.emit(finish_event(task, lane.id, &outcome, |v| Some(v.describe(&head.spec.label))));
                    }
                    deferred.0.push(Action::Finish(head.future, outcome));
                    if let Some(msg) = failed {
                        // The exception ends its job (one call, as CPython's chunk): the
                        // worker skips the job's other tasks, which fail with it, unrun.
                        while !job_end && let Some(rest) = lane.inflight.pop_front() {
                            job_end = rest.job_end;
                            self.fail_begun(rest.future, TaskError::Failed(msg.clone()), deferred);
                        }
                    }
                    if job_end {
                        lane.jobs -= 1;
                        lane.jobs_done += 1;
                        if lane.jobs == 0 {
                            lane.idle_since = self.tick();
                        }
                        if self.max_tasks.is_some_and(|max| lane.jobs_done >= max) {
                            lane.spent = true;
                            lane.retiring = true;
                        } else {
                            ended += 1;
                        }
                    }
                    lane.start_head(self);
                }
                request @ (FromWorker::QueuePut { .. } | FromWorker::QueueGet { .. }) => {
                    requests.push((lane.tx.clone(), request));
                }
            }
        }
        Ok(ended)
    }

    /// Answers a worker's queue request. A `get` waits for an item on a thread of its own,
    /// so the worker's reader goes on reading.
    fn serve(&self, tx: Sender<Vec<u8>>, request: FromWorker) {
        let reply = |tx: &Sender<Vec<u8>>, reply: Result<String, String>| {
            let mut frame = Vec::new();
            wire::encode_queue_reply(&mut frame, &reply);
            let _ = tx.send(frame);
        };
        match request {
            FromWorker::QueuePut { queue, item } => reply(&tx, self.queues.put(&queue, item).map(|()| String::new())),
            FromWorker::QueueGet { queue } if self.clock.is_simulated() => {
                // A simulated run: the reader waits for the item in virtual time (the worker
                // sends nothing until it has its answer).
                reply(&tx, self.queues.get(&queue));
            }
            FromWorker::QueueGet { queue } => {
                let queues = Arc::clone(&self.queues);
                let spawned = std::thread::Builder::new()
                    .name("poolscope-queue-get".into())
                    .spawn(move || reply(&tx, queues.get(&queue)));
                if let Err(e) = spawned {
                    // `tx` went with the closure; the worker learns of it when it dies.
                    eprintln!("poolscope: cannot serve a queue_get: {e}");
                }
            }
            _ => {}
        }
    }

    /// Whether worker `id` (process `pid`) owes its reader a frame now.
    pub(super) fn owes(&self, id: WorkerId, pid: u32) -> bool {
        self.lock().lanes.get(&id).is_some_and(|lane| lane.pid == pid && lane.owes())
    }

    /// The next moment in the order workers fell idle.
    fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Now on the run's clock, from any thread (a viewer terminating the pool included).
    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// In a simulated run, waits until the virtual time at which what worker `id` just sent
    /// comes — the end of its current task's work, or of its initializer — since the worker
    /// itself spends no time. False if the pool was terminated (or the worker replaced)
    /// meanwhile: the worker was killed before it could send it, so the frame is void.
    pub(super) fn catch_up(&self, id: WorkerId, pid: u32) -> bool {
        if !self.clock.is_simulated() {
            // A real worker spent its time before it wrote.
            return true;
        }
        let killed = || {
            let state = self.lock();
            state.lanes.get(&id).is_none_or(|lane| lane.pid != pid || lane.exit == Some(DownReason::Terminated))
        };
        let mut cpu = None;
        let due = {
            let mut state = self.lock();
            state.lanes.get_mut(&id).filter(|lane| lane.pid == pid).and_then(|lane| {
                if !lane.ready {
                    let setup = self.initializer.as_ref().map_or(Duration::ZERO, simulated_cost);
                    return Some(lane.spawned_at + setup);
                }
                let head = lane.inflight.front_mut().filter(|head| head.started)?;
                if head.spec.work.is_cpu_bound() {
                    // CPU-bound work needs a core, and may have to share one.
                    if !head.charged {
                        head.charged = true;
                        cpu = Some(simulated_cost(&head.spec));
                    }
                    return None;
                }
                Some(head.started_at + simulated_cost(&head.spec))
            })
        };
        if let Some(cpu) = cpu
            && !self.bell.cpu_unless(cpu, killed)
        {
            return false;
        }
        let Some(due) = due else { return !killed() };
        match self.bell.wait(Some(due), || killed().then_some(()), || unreachable!("only in a simulated run")) {
            Ok(()) => false,
            Err(TimedOut) => !killed(),
        }
    }

    /// Worker `id` (process `pid`) ended: its stdout closed and it was reaped.
    pub(super) fn exited(self: &Arc<Self>, id: WorkerId, pid: u32, cause: String) {
        let mut deferred = Deferred::default();
        {
            let mut state = self.lock();
            state.on_exit(self, id, pid, cause, &mut deferred);
            state.dispatch(self);
        }
        deferred.hand_to(&self.relay);
    }
}

impl State {
    pub(super) fn closing(&self) -> bool {
        self.stopping != Stopping::Open || self.broken.is_some()
    }

    /// Workers that take work (not retiring, not leaving).
    pub(super) fn live(&self) -> usize {
        self.lanes.values().filter(|l| l.accepting()).count()
    }

    /// Workers running a task now.
    pub(super) fn active(&self) -> usize {
        self.lanes.values().filter(|l| !l.inflight.is_empty()).count()
    }

    /// Tasks not started: queued here, or waiting in a worker behind its current task.
    pub(super) fn waiting(&self) -> usize {
        let here: usize = self.pending.iter().map(|j| j.tasks.iter().filter(|q| !q.future.done()).count()).sum();
        let there: usize = self.lanes.values().map(|l| l.inflight.iter().filter(|t| !t.started).count()).sum();
        here + there
    }

    /// `(worker, pid)` of every worker process alive.
    pub(super) fn pids(&self) -> Vec<(WorkerId, u32)> {
        self.lanes.values().map(|l| (l.id, l.pid)).collect()
    }

    /// Starts workers for a submit, as `ProcessPoolExecutor` does: under `fork`, every
    /// worker at the first submit (`_launch_processes`); under `spawn`, one if no worker is
    /// idle, up to the pool's size (`_adjust_process_count`).
    pub(super) fn start_workers(&mut self, supervisor: &Arc<Supervisor>, deferred: &mut Deferred) {
        // On failure the pool broke: the pending futures hold the error.
        match supervisor.start {
            StartMethod::Fork if !self.launched => {
                self.launched = true;
                while self.live() < self.target && self.spawn_new(supervisor, deferred).is_ok() {}
            }
            StartMethod::Fork => {}
            // `_adjust_process_count`: a submit takes an idle token (a job ended since) or,
            // finding none, starts a worker — even while the ones just started are idle.
            StartMethod::Spawn if self.idle_tokens > 0 => self.idle_tokens -= 1,
            StartMethod::Spawn => {
                if !supervisor.eager && self.live() < self.target {
                    let _ = self.spawn_new(supervisor, deferred);
                }
            }
        }
    }

    /// Starts a worker on the lowest free id. On failure the pool breaks (the error is in
    /// every pending future).
    pub(super) fn spawn_new(&mut self, supervisor: &Arc<Supervisor>, deferred: &mut Deferred) -> io::Result<()> {
        let id = self.free_ids.pop_first().unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id - 1
        });
        self.spawn_on(supervisor, id, deferred)
    }

    /// Starts a worker on lane `id`. On failure the lane's id is free again and the pool
    /// breaks (the error is in every pending future).
    fn spawn_on(&mut self, supervisor: &Arc<Supervisor>, id: WorkerId, deferred: &mut Deferred) -> io::Result<()> {
        let spawned = self.spawn(supervisor, id);
        if let Err(e) = &spawned {
            self.free_ids.insert(id);
            let cause = format!("cannot start a worker process ({}): {e}", supervisor.program.display());
            self.break_pool(supervisor, cause, deferred);
        }
        spawned
    }

    /// Starts a worker process on lane `id`: handshake queued, writer and reader running.
    fn spawn(&mut self, supervisor: &Arc<Supervisor>, id: WorkerId) -> io::Result<()> {
        let mut command = Command::new(&supervisor.program);
        if supervisor.clock.is_simulated() {
            command.env(super::SIMULATED_ENV, "1");
        }
        let mut child = command
            .env(super::WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C meant for the parent does not kill the workers
            // under it; they leave when the parent does (stdin closes, the parent watch).
            .process_group(0)
            .spawn()?;
        let os_pid = child.id();
        let pid = supervisor.clock.worker_pid(os_pid);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both pipes were asked for")
        };
        let child = Arc::new(Mutex::new(child));
        let kill = |child: &Arc<Mutex<Child>>| {
            let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut hello = Vec::new();
        wire::encode_hello(&mut hello, id, supervisor.spin_rate, supervisor.initializer.as_ref());
        let _ = tx.send(hello);
        let writer =
            std::thread::Builder::new().name(format!("poolscope-pipe-{id}")).spawn(move || pipes::write(stdin, &rx));
        if let Err(e) = writer {
            kill(&child);
            return Err(e);
        }
        let reader = {
            let supervisor = Arc::clone(supervisor);
            let child = Arc::clone(&child);
            let name = format!("poolscope-process-{id}");
            supervisor.clock.clone().spawn_reader(name, move || pipes::read(&supervisor, id, pid, stdout, &child))
        };
        let reader = match reader {
            Ok(thread) => {
                let mut threads = supervisor.threads.lock().unwrap_or_else(|e| e.into_inner());
                // Readers of workers long gone have ended: nothing to wait for there.
                threads.retain(|t| !t.is_finished());
                let reader = thread.reader();
                threads.push(thread);
                reader
            }
            Err(e) => {
                kill(&child);
                return Err(e);
            }
        };
        self.lanes.insert(
            id,
            Lane {
                id,
                pid,
                os_pid,
                reader,
                spawned_at: supervisor.now(),
                child,
                tx,
                inflight: VecDeque::new(),
                jobs: 0,
                idle_since: supervisor.tick(),
                quick_only: true,
                jobs_done: 0,
                spent: false,
                retiring: false,
                exit: None,
                ready: false,
                init_failed: None,
            },
        );
        supervisor.emit(EventKind::WorkerUp { worker: id, pid });
        supervisor.clock.owe(reader, true);
        Ok(())
    }

    /// The pool wakes, as `ProcessPoolExecutor`'s manager thread does on a submit or a
    /// result: idle workers take jobs from the call queue, the call queue is filled up to
    /// `workers + 1` jobs (marking their tasks running), and idle workers take again. Asks
    /// workers with nothing left to do to leave when the pool is shrinking or closing.
    pub(super) fn dispatch(&mut self, supervisor: &Supervisor) {
        self.take_called(supervisor);
        // Quick jobs on the real clock: a worker may hold several, to hide the pipe's round
        // trip; fill and take until they are all out. Any other job: one fill, as CPython.
        while self.fill_call_queue() && self.take_called(supervisor) == Took::QuickOnly {}
        self.settle(supervisor);
    }

    /// What a worker's frames change when the pool does not wake (a handshake, a queue
    /// request): idle workers take from the call queue, but nothing new enters it; workers
    /// with nothing left to do leave when the pool is shrinking or closing.
    pub(super) fn settle(&mut self, supervisor: &Supervisor) {
        self.take_called(supervisor);
        let closing = self.closing() && self.pending.is_empty();
        for lane in self.lanes.values_mut() {
            if lane.exit.is_none() && lane.jobs == 0 && (lane.retiring || closing) {
                lane.send_exit(if closing { DownReason::Shutdown } else { DownReason::Retired });
            }
        }
        self.tell_owed(supervisor);
    }

    /// Hands jobs at the head of the call queue to workers that can take them, the worker
    /// idle longest first.
    fn take_called(&mut self, supervisor: &Supervisor) -> Took {
        let mut took = Took::None;
        while let Some(job) = self.pending.front().filter(|job| job.called) {
            let quick = job.quick && supervisor.max_tasks.is_none();
            let Some(lane) = self
                .lanes
                .values_mut()
                .filter(|l| l.takes(quick && !supervisor.clock.is_simulated()))
                .min_by_key(|l| (l.jobs, l.idle_since, l.id))
            else {
                break;
            };
            let job = self.pending.pop_front().expect("a front job");
            hand_off(supervisor, lane, job);
            took = match took {
                Took::None | Took::QuickOnly if quick && !supervisor.clock.is_simulated() => Took::QuickOnly,
                _ => Took::Some,
            };
        }
        took
    }

    /// Moves queued jobs into the call queue until it holds `workers + 1`, marking their
    /// tasks running; cancelled tasks are dropped. True if any job was moved.
    fn fill_call_queue(&mut self) -> bool {
        let capacity = self.target + 1;
        let (mut called, mut moved, mut i) = (0, false, 0);
        while called < capacity && i < self.pending.len() {
            let job = &mut self.pending[i];
            if !job.called {
                job.tasks.retain_mut(|q| {
                    q.begun = q.begun || q.future.begin();
                    q.begun
                });
                if job.tasks.is_empty() {
                    self.pending.remove(i);
                    continue;
                }
                job.called = true;
                moved = true;
            }
            called += 1;
            i += 1;
        }
        moved
    }

    /// A simulated run: tells the clock which workers owe their readers a frame.
    fn tell_owed(&self, supervisor: &Supervisor) {
        for lane in self.lanes.values() {
            supervisor.clock.owe(lane.reader, lane.owes());
        }
    }

    /// `BrokenProcessPool`, as `ProcessPoolExecutor`'s `terminate_broken`: refuses new work,
    /// fails every task not finished — queued, or handed to any worker — with CPython's
    /// message, and kills the other workers. `cause` is kept for [`ProcessPool::broken`].
    ///
    /// [`ProcessPool::broken`]: super::ProcessPool::broken
    pub(super) fn break_pool(&mut self, supervisor: &Supervisor, cause: String, deferred: &mut Deferred) {
        if self.broken.is_none() {
            self.broken = Some(cause);
        }
        let broken = || TaskError::WorkerDied(BROKEN_FUTURE.into());
        for job in self.pending.drain(..) {
            for queued in job.tasks {
                if queued.begun {
                    supervisor.fail_begun(queued.future, broken(), deferred);
                } else {
                    deferred.0.push(Action::Abandon(queued.future, broken()));
                }
            }
        }
        for lane in self.lanes.values_mut().filter(|lane| lane.exit != Some(DownReason::Terminated)) {
            let inflight = std::mem::take(&mut lane.inflight);
            for task in inflight {
                if task.started {
                    supervisor.fail_running(task.future, lane.id, broken(), deferred);
                } else {
                    supervisor.fail_begun(task.future, broken(), deferred);
                }
            }
            lane.exit = Some(DownReason::Terminated);
            let _ = lane.child.lock().unwrap_or_else(|e| e.into_inner()).kill();
        }
        self.tell_owed(supervisor);
        // Readers waiting out a task's simulated time: the task is gone.
        supervisor.bell.ring_all();
    }

    /// Fails the queued tasks of a terminated pool; kills every worker (their readers report
    /// the rest).
    pub(super) fn terminate(&mut self, supervisor: &Supervisor, deferred: &mut Deferred) {
        self.stopping = Stopping::Terminated;
        for job in self.pending.drain(..) {
            for queued in job.tasks {
                if queued.begun {
                    supervisor.fail_begun(queued.future, TaskError::PoolShutdown, deferred);
                } else {
                    deferred.0.push(Action::Abandon(queued.future, TaskError::PoolShutdown));
                }
            }
        }
        for lane in self.lanes.values_mut() {
            lane.exit = Some(DownReason::Terminated);
            let _ = lane.child.lock().unwrap_or_else(|e| e.into_inner()).kill();
        }
        self.tell_owed(supervisor);
        // Readers waiting out a task's simulated time: the task is gone.
        supervisor.bell.ring_all();
    }

    /// Grows (at once) or shrinks (idle workers first, then the highest ids; running tasks
    /// finish) the pool to `n` workers.
    pub(super) fn resize(&mut self, supervisor: &Arc<Supervisor>, n: usize, deferred: &mut Deferred) {
        self.target = n;
        let mut live = self.live();
        // Take back workers still finishing their work before retiring, lowest first.
        for lane in self.lanes.values_mut() {
            if live < n && lane.retiring && !lane.spent && lane.exit.is_none() {
                lane.retiring = false;
                live += 1;
            }
        }
        while live < n {
            if self.spawn_new(supervisor, deferred).is_err() {
                return;
            }
            live += 1;
        }
        if live > n {
            let mut order: Vec<(bool, std::cmp::Reverse<WorkerId>)> =
                self.lanes.values().filter(|l| l.accepting()).map(|l| (l.jobs > 0, std::cmp::Reverse(l.id))).collect();
            order.sort();
            for (_, std::cmp::Reverse(id)) in order.into_iter().take(live - n) {
                if let Some(lane) = self.lanes.get_mut(&id) {
                    lane.retiring = true;
                }
            }
        }
        self.dispatch(supervisor);
    }

    /// Accounts for a worker process that ended.
    fn on_exit(
        &mut self,
        supervisor: &Arc<Supervisor>,
        id: WorkerId,
        pid: u32,
        cause: String,
        deferred: &mut Deferred,
    ) {
        if self.lanes.get(&id).is_none_or(|l| l.pid != pid) {
            return;
        }
        let lane = self.lanes.remove(&id).expect("the lane");
        let mut inflight = lane.inflight;
        match lane.exit {
            Some(reason) if inflight.is_empty() => {
                supervisor.emit(EventKind::WorkerDown { worker: id, pid, reason, cause: None });
                let replace =
                    lane.spent && reason == DownReason::Retired && !self.closing() && self.live() < self.target;
                if replace {
                    let _ = self.spawn_on(supervisor, id, deferred);
                } else {
                    self.free_ids.insert(id);
                }
                return;
            }
            Some(DownReason::Terminated) => {
                if let Some(head) = inflight.pop_front() {
                    let error = TaskError::WorkerDied("the pool was terminated".into());
                    supervisor.fail_running(head.future, id, error, deferred);
                }
                for task in inflight {
                    supervisor.fail_begun(task.future, TaskError::PoolShutdown, deferred);
                }
                supervisor.emit(EventKind::WorkerDown { worker: id, pid, reason: DownReason::Terminated, cause: None });
                self.free_ids.insert(id);
                return;
            }
            _ => {}
        }
        let raised = lane.init_failed.as_ref().map(|msg| {
            let initializer = supervisor.initializer.as_ref().map_or("its initializer", |spec| spec.label.as_str());
            format!("ran {initializer}, which raised {msg}")
        });
        let cause = match (&raised, lane.ready) {
            (Some(raised), _) => raised.clone(),
            (None, false) => format!("it failed to start ({cause})"),
            (None, true) => cause,
        };
        let cause = format!("worker {id} (pid {pid}) {cause}");
        // A worker that cannot even start would be respawned for ever: that breaks the pool
        // whatever the policy, as a failing initializer does in Python.
        let respawn = supervisor.on_death == OnWorkerDeath::Respawn && lane.ready && lane.init_failed.is_none();
        if let Some(head) = inflight.pop_front() {
            let error = TaskError::WorkerDied(if respawn { cause.clone() } else { BROKEN_FUTURE.into() });
            if head.started {
                supervisor.fail_running(head.future, id, error, deferred);
            } else {
                // It died before it began the task: in its initializer, or while starting.
                supervisor.fail_begun(head.future, error, deferred);
            }
        }
        supervisor.emit(EventKind::WorkerDown {
            worker: id,
            pid,
            reason: DownReason::Died,
            cause: raised.map(|r| format!("it {r}")),
        });
        if respawn {
            if !inflight.is_empty() {
                let tasks =
                    inflight.into_iter().map(|t| Queued { future: t.future, spec: t.spec, begun: true }).collect();
                self.pending.push_front(Job::new(tasks));
            }
            let wanted = self.stopping != Stopping::Terminated
                && self.broken.is_none()
                && !lane.retiring
                && (self.stopping == Stopping::Open || !self.pending.is_empty());
            if wanted {
                let _ = self.spawn_on(supervisor, id, deferred);
            } else {
                self.free_ids.insert(id);
            }
        } else {
            self.free_ids.insert(id);
            for task in inflight {
                supervisor.fail_begun(task.future, TaskError::WorkerDied(BROKEN_FUTURE.into()), deferred);
            }
            self.break_pool(supervisor, cause, deferred);
        }
    }
}

/// What [`State::take_called`] handed to workers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Took {
    None,
    /// Only quick jobs, on the real clock: workers may take more of them at once.
    QuickOnly,
    Some,
}

/// Gives `job` to `lane`: marks its tasks running (skipping cancelled ones) and sends it.
fn hand_off(supervisor: &Supervisor, lane: &mut Lane, job: Job) {
    let tasks: Vec<Queued> = job.tasks.into_iter().filter(|q| q.begun || q.future.begin()).collect();
    if tasks.is_empty() {
        return;
    }
    let mut frame = Vec::with_capacity(8 + 16 * tasks.len());
    wire::encode_job(&mut frame, tasks.len(), tasks.iter().map(|q| (q.future.id(), &q.spec)));
    // If the writer is gone the worker is dying: its reader accounts for these tasks.
    let _ = lane.tx.send(frame);
    let was_idle = lane.inflight.is_empty();
    lane.quick_only = job.quick && (was_idle || lane.quick_only);
    lane.jobs += 1;
    let last = tasks.len() - 1;
    lane.inflight.extend(tasks.into_iter().enumerate().map(|(i, q)| InFlight {
        future: q.future,
        spec: q.spec,
        started: false,
        started_at: supervisor.now(),
        charged: false,
        job_end: i == last,
    }));
    if was_idle && lane.ready {
        lane.start_head(supervisor);
    }
}
