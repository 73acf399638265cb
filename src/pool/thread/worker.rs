//! The loop each worker thread runs, and the environment its tasks see.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{Crew, QueueItem};
use crate::pool::counters::SharedCounters;
use crate::pool::front::Stopping;
use crate::pool::future::{catching, panic_message};
use crate::pool::probe::{DownReason, EventKind, WorkerId};
use crate::pool::sync;
use crate::pool::task::{TaskEnv, TaskSpec, run_spec};

pub(super) fn run(crew: &Arc<Crew>, id: WorkerId, busy: &CachePadded<AtomicBool>, thread: Option<Arc<str>>) {
    let mut env = ThreadEnv { crew, id, thread, setup: None };
    if let Some(spec) = &crew.initializer {
        let outcome = initialize(&env, spec);
        crew.emit(EventKind::Initialized { worker: id, error: outcome.as_ref().err().cloned() });
        match outcome {
            Ok(setup) => env.setup = Some(setup),
            Err(_) => return crew.initializer_failed(id),
        }
    }
    let over_size = || crew.live.load(Ordering::Relaxed) > crew.target.load(Ordering::Relaxed);
    loop {
        match crew.next_item() {
            Some(item @ (QueueItem::Task(_) | QueueItem::Job(_))) => {
                busy.store(true, Ordering::Relaxed);
                match item {
                    QueueItem::Task(task) => task.run(&env, crew.relay.as_ref()),
                    QueueItem::Job(job) => job.run(&env, crew.relay.as_ref()),
                    QueueItem::Retire | QueueItem::Stop => {}
                }
                busy.store(false, Ordering::Relaxed);
                if crew.live.load(Ordering::Relaxed) < crew.target.load(Ordering::Relaxed) {
                    crew.idle_tokens.fetch_add(1, Ordering::AcqRel);
                }
                if over_size() && crew.leave(id, DownReason::Retired) {
                    return;
                }
            }
            Some(QueueItem::Retire) => {
                if over_size() && crew.leave(id, DownReason::Retired) {
                    return;
                }
            }
            Some(QueueItem::Stop) => match crew.admission.stopping() {
                Stopping::Open => {}
                Stopping::Terminated => {
                    crew.leave(id, DownReason::Terminated);
                    return;
                }
                Stopping::Shut => {
                    // Wake-ups follow every job queued before shutdown: nothing is left for us.
                    crew.leave(id, DownReason::Shutdown);
                    return;
                }
            },
            None => {
                crew.leave(id, DownReason::Shutdown);
                return;
            }
        }
    }
}

/// Runs the pool's initializer on this worker: what it set up (`LABEL of WORKER`), or what
/// it raised.
fn initialize(env: &ThreadEnv<'_>, spec: &TaskSpec) -> Result<String, String> {
    match catching(|| run_spec(spec, env)) {
        Ok(Ok(_)) => {
            let worker = env.thread.as_deref().map_or_else(|| format!("worker {}", env.id), str::to_string);
            Ok(format!("{} of {worker}", spec.label))
        }
        Ok(Err(raised)) => Err(raised),
        Err(payload) => Err(panic_message(&*payload)),
    }
}

/// What a task spec sees on a worker thread.
struct ThreadEnv<'a> {
    crew: &'a Arc<Crew>,
    id: WorkerId,
    /// The thread's name, when the pool names its threads as Python does.
    thread: Option<Arc<str>>,
    /// What the pool's initializer set up on this worker.
    setup: Option<String>,
}

impl TaskEnv for ThreadEnv<'_> {
    fn worker(&self) -> WorkerId {
        self.id
    }

    fn pid(&self) -> u32 {
        self.crew.pid
    }

    fn sleep(&self, duration: Duration) {
        sync::sleep(duration);
    }

    fn simulated(&self) -> bool {
        self.crew.clock.is_simulated()
    }

    fn cpu_time(&self, duration: Duration) {
        let Some(gil) = &self.crew.gil else { return sync::cpu(duration) };
        // Held in slices of the switch interval, handed over between them as CPython does.
        let mut guard = gil.acquire_for(self.id);
        let mut left = duration;
        while !left.is_zero() {
            let slice = left.min(gil.switch_interval());
            sync::cpu(slice);
            left -= slice;
            if !left.is_zero() {
                guard.switch_point();
            }
        }
    }

    fn cpu(&self, work: &mut dyn FnMut() -> bool) {
        match &self.crew.gil {
            Some(gil) => {
                let mut guard = gil.acquire_for(self.id);
                while !work() {
                    guard.switch_point();
                }
            }
            None => while !work() {},
        }
    }

    fn queue_put(&self, queue: &str, item: String) -> Result<(), String> {
        self.crew.queues.put(queue, item)
    }

    fn queue_get(&self, queue: &str) -> Result<String, String> {
        self.crew.queues.get(queue)
    }

    fn counters(&self) -> &SharedCounters {
        &self.crew.counters
    }

    fn thread(&self) -> Option<&Arc<str>> {
        self.thread.as_ref()
    }

    fn setup(&self) -> Option<&str> {
        self.setup.as_deref()
    }

    fn crash(&self) -> ! {
        // A thread cannot die alone without taking the process with it: it panics, and the
        // panic becomes the task's error.
        panic!("the task crashed")
    }
}
