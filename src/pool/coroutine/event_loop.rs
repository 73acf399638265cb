//! The event loop: a ready queue, a timer heap, the tasks waiting for a queue item and those
//! waiting for a lock, all owned by the loop thread. One turn, as asyncio's `_run_once`: move
//! what is due to the ready queue, step every task that was ready at the start of the turn,
//! admit new work; when nothing is ready, block on the jobs channel until the next deadline.

use std::cell::RefCell;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Select;

use super::spec::{Await, SpecTask};
use super::{LOOP_WORKER, LoopCore, Submitted};
use crate::pool::counters::SharedCounters;
use crate::pool::error::TaskError;
use crate::pool::front::Stopping;
use crate::pool::job::Unrun;
use crate::pool::probe::{DownReason, EventKind, Telemetry, WorkerId};
use crate::pool::queues::SharedQueues;
use crate::pool::sync;
use crate::pool::task::TaskEnv;

/// Runs the loop until the pool is shut down and every task has ended, or terminated.
pub(super) fn run(shared: &Arc<LoopCore>) {
    let mut event_loop = EventLoop {
        env: LoopEnv { shared, locks: RefCell::default(), handed: RefCell::default() },
        ready: VecDeque::new(),
        timers: BinaryHeap::new(),
        getters: Vec::new(),
        getters_saw: 0,
        next_seq: 0,
        alive: 0,
    };
    let reason = event_loop.run();
    shared.emit(EventKind::WorkerDown { worker: LOOP_WORKER, pid: shared.pid, reason, cause: None });
}

struct EventLoop<'a> {
    env: LoopEnv<'a>,
    ready: VecDeque<Box<SpecTask>>,
    timers: BinaryHeap<Timer>,
    /// `queue_get`s waiting for an item: retried once the queues change.
    getters: Vec<SpecTask>,
    /// [`SharedQueues::changes`] when the getters last looked for their items.
    getters_saw: u64,
    next_seq: u64,
    /// Coroutines started and not finished (ready, sleeping, waiting for an item or a lock).
    alive: usize,
}

/// A sleeping coroutine, ordered by wake-up time then by when it went to sleep (the heap is
/// a max-heap: the order is reversed so the earliest is on top).
struct Timer {
    at: Instant,
    seq: u64,
    task: Box<SpecTask>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl EventLoop<'_> {
    fn run(&mut self) -> DownReason {
        let shared = self.env.shared;
        loop {
            if self.env.terminated() {
                self.kill_all();
                return DownReason::Terminated;
            }
            self.wake_due(sync::now());
            // Only the tasks ready now: one that suspends with `sleep(0)` runs next turn.
            for _ in 0..self.ready.len() {
                if self.env.terminated() {
                    // Killed with the others at the top of the next turn.
                    break;
                }
                let task = self.ready.pop_front().expect("counted");
                self.step(task);
            }
            self.admit();
            if !self.ready.is_empty() || (!self.getters.is_empty() && self.queues_changed()) {
                continue;
            }
            if shared.admission.stopping() == Stopping::Shut && self.alive == 0 && shared.jobs.is_empty() {
                return DownReason::Shutdown;
            }
            self.block();
        }
    }

    /// Moves the sleepers whose time has come to the ready queue, and the item waiters too
    /// when an item was put (or the queues closed) since they last looked.
    fn wake_due(&mut self, now: Instant) {
        while self.timers.peek().is_some_and(|timer| timer.at <= now) {
            let timer = self.timers.pop().expect("peeked");
            self.ready.push_back(timer.task);
        }
        if !self.getters.is_empty() && self.queues_changed() {
            // Read before they look: a put after this moves the count again and wakes the
            // loop (the queues' waker), so no put can slip between a look and the block.
            self.getters_saw = self.env.shared.queues.changes();
            self.ready.extend(self.getters.drain(..).map(Box::new));
        }
    }

    fn queues_changed(&self) -> bool {
        self.env.shared.queues.changes() != self.getters_saw
    }

    /// Takes new work from the jobs channel while below the limit: at most what is there
    /// now, so a flood of submits cannot starve the tasks already on the loop.
    fn admit(&mut self) {
        let shared = self.env.shared;
        for _ in 0..shared.jobs.len() {
            // A terminated loop starts nothing: the next turn abandons what is queued.
            if self.alive >= shared.limit.load(Ordering::Relaxed) || self.env.terminated() {
                break;
            }
            match shared.jobs.try_recv() {
                Ok(job) => self.start(job),
                Err(_) => break,
            }
        }
    }

    fn start(&mut self, job: Submitted) {
        match job {
            Submitted::Closure(task) => {
                self.publish(self.alive + 1);
                task.run(&self.env, None);
                self.publish(self.alive);
            }
            Submitted::Blocking(job) => {
                self.publish(self.alive + 1);
                job.run(&self.env, None);
                self.publish(self.alive);
            }
            Submitted::Specs(task) => {
                self.alive += 1;
                self.publish(self.alive);
                self.step(Box::new(task));
            }
        }
    }

    fn step(&mut self, mut task: Box<SpecTask>) {
        match task.step(&self.env) {
            Await::Done => {
                self.alive -= 1;
                self.publish(self.alive);
            }
            Await::Until(at) => {
                self.next_seq += 1;
                self.timers.push(Timer { at, seq: self.next_seq, task });
            }
            Await::Item => self.getters.push(*task),
            Await::Lock(name) => self.env.wait_for_lock(name, task),
        }
        // A lock released in that step went to its first waiter, which runs next turn.
        self.ready.extend(self.env.handed.take().into_iter().map(Box::new));
    }

    fn publish(&self, active: usize) {
        self.env.shared.active.store(active, Ordering::Relaxed);
    }

    /// Nothing is ready: waits for new work (if below the limit) or a wake-up (a put, a
    /// resize, a stop), until the next sleeper's time. Without sleepers, waits for ever. New
    /// work is left in the channel for the next turn's `admit`, so work that piled up is
    /// admitted in one turn.
    fn block(&mut self) {
        let shared = self.env.shared;
        let deadline = self.timers.peek().map(|timer| timer.at);
        let below_limit = self.alive < shared.limit.load(Ordering::Relaxed);
        let poll = || (shared.wake.try_recv().is_ok() || (below_limit && !shared.jobs.is_empty())).then_some(());
        let block = || {
            let mut select = Select::new();
            let wake = select.recv(&shared.wake);
            if below_limit {
                select.recv(&shared.jobs);
            }
            let ready = match deadline {
                Some(deadline) => select.ready_deadline(deadline).ok(),
                None => Some(select.ready()),
            };
            if ready == Some(wake) {
                let _ = shared.wake.try_recv();
            }
            Ok(())
        };
        // Woken, or the deadline came: either way, the next turn sees to it.
        let _ = shared.bell.wait(deadline, poll, block);
    }

    /// Terminate: every suspended task dies with the loop; queued work is abandoned.
    fn kill_all(&mut self) {
        let suspended = self.ready.drain(..).chain(self.timers.drain().map(|timer| timer.task));
        let mut suspended: Vec<_> = suspended.chain(self.getters.drain(..).map(Box::new)).collect();
        for (_, lock) in self.env.locks.take() {
            suspended.extend(lock.waiters);
        }
        suspended.extend(self.env.handed.take().into_iter().map(Box::new));
        for task in suspended {
            task.kill(&self.env);
        }
        while let Ok(job) = self.env.shared.jobs.try_recv() {
            job.unrun(&Unrun::Abandon(TaskError::PoolShutdown));
        }
        self.alive = 0;
        self.publish(0);
    }
}

/// What a task sees on the loop. Its waits block the loop: only closures and the CPU-bound
/// specs (which never wait) run through it; spec waits are await points of [`SpecTask`].
pub(super) struct LoopEnv<'a> {
    shared: &'a LoopCore,
    /// The loop's locks (`asyncio.Lock`), by name, made on first use.
    locks: RefCell<HashMap<String, AsyncLock>>,
    /// Waiters handed their lock by a release in the step that just ran: ready next.
    handed: RefCell<Vec<SpecTask>>,
}

/// An `asyncio.Lock`: held by at most one task, its waiters served first come, first served.
/// A release hands it straight to the first waiter, so a task asking later never gets in
/// ahead of one already waiting (as asyncio's `acquire` queues behind earlier waiters).
#[derive(Default)]
struct AsyncLock {
    held: bool,
    waiters: VecDeque<Box<SpecTask>>,
}

impl LoopEnv<'_> {
    pub(super) fn telemetry(&self) -> Option<&Telemetry> {
        self.shared.telemetry.as_deref()
    }

    /// True once the pool was terminated: the loop stops at its next turn.
    pub(super) fn terminated(&self) -> bool {
        self.shared.admission.stopping() == Stopping::Terminated
    }

    pub(super) fn shared_queues(&self) -> &SharedQueues {
        &self.shared.queues
    }

    /// Takes lock `name` if it is free and nobody waits for it; false otherwise.
    pub(super) fn try_lock(&self, name: &str) -> bool {
        let mut locks = self.locks.borrow_mut();
        let lock = locks.entry(name.to_string()).or_default();
        let free = !lock.held && lock.waiters.is_empty();
        lock.held |= free;
        free
    }

    /// `task` waits for lock `name`, behind those already waiting.
    fn wait_for_lock(&self, name: String, task: Box<SpecTask>) {
        self.locks.borrow_mut().entry(name).or_default().waiters.push_back(task);
    }

    /// Releases lock `name`: it passes to the first waiter, if any, which is ready next.
    pub(super) fn release(&self, name: &str) {
        let mut locks = self.locks.borrow_mut();
        let Some(lock) = locks.get_mut(name) else { return };
        match lock.waiters.pop_front() {
            Some(mut next) => {
                next.lock_granted();
                self.handed.borrow_mut().push(*next);
            }
            None => lock.held = false,
        }
    }
}

impl TaskEnv for LoopEnv<'_> {
    fn worker(&self) -> WorkerId {
        LOOP_WORKER
    }

    fn pid(&self) -> u32 {
        self.shared.pid
    }

    fn thread(&self) -> Option<&Arc<str>> {
        self.shared.value_thread.as_ref()
    }

    fn sleep(&self, duration: Duration) {
        // `time.sleep` inside a coroutine: the whole loop sleeps.
        sync::sleep(duration);
    }

    fn simulated(&self) -> bool {
        self.shared.clock.is_simulated()
    }

    fn cpu_time(&self, duration: Duration) {
        // CPU-bound code in a coroutine holds the loop, and a core.
        sync::cpu(duration);
    }

    fn cpu(&self, work: &mut dyn FnMut() -> bool) {
        while !work() {}
    }

    fn queue_put(&self, queue: &str, item: String) -> Result<(), String> {
        self.shared.queues.put(queue, item)
    }

    fn queue_get(&self, queue: &str) -> Result<String, String> {
        self.shared.queues.get(queue)
    }

    fn counters(&self) -> &SharedCounters {
        &self.shared.counters
    }

    fn crash(&self) -> ! {
        panic!("the task crashed")
    }
}
