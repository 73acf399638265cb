//! The loop each worker thread runs, and the environment its tasks see.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{Msg, OPEN, Shared, TERMINATED};
use crate::pool::probe::{DownReason, WorkerId};
use crate::pool::sim;
use crate::pool::task::TaskEnv;

pub(super) fn run(shared: &Arc<Shared>, id: WorkerId, busy: &CachePadded<AtomicBool>) {
    let env = ThreadEnv { shared, id };
    let over_size = || shared.live.load(Ordering::Relaxed) > shared.target.load(Ordering::Relaxed);
    loop {
        match shared.next_msg() {
            Ok(msg @ (Msg::Task(_) | Msg::Job(_))) => {
                busy.store(true, Ordering::Relaxed);
                match msg {
                    Msg::Task(task) => task.run(&env),
                    Msg::Job(job) => job.run(&env),
                    Msg::Retire | Msg::Stop => {}
                }
                busy.store(false, Ordering::Relaxed);
                if shared.live.load(Ordering::Relaxed) < shared.target.load(Ordering::Relaxed) {
                    shared.idle_tokens.fetch_add(1, Ordering::AcqRel);
                }
                if over_size() && shared.leave(id, DownReason::Retired) {
                    return;
                }
            }
            Ok(Msg::Retire) => {
                if over_size() && shared.leave(id, DownReason::Retired) {
                    return;
                }
            }
            Ok(Msg::Stop) => match shared.stopping.load(Ordering::Relaxed) {
                OPEN => {}
                TERMINATED => {
                    shared.leave(id, DownReason::Terminated);
                    return;
                }
                _ => {
                    // Wake-ups follow every job queued before shutdown: nothing is left for us.
                    shared.leave(id, DownReason::Shutdown);
                    return;
                }
            },
            Err(_) => {
                shared.leave(id, DownReason::Shutdown);
                return;
            }
        }
    }
}

/// What a task spec sees on a worker thread.
struct ThreadEnv<'a> {
    shared: &'a Arc<Shared>,
    id: WorkerId,
}

impl TaskEnv for ThreadEnv<'_> {
    fn worker(&self) -> WorkerId {
        self.id
    }

    fn pid(&self) -> u32 {
        self.shared.pid
    }

    fn sleep(&self, duration: Duration) {
        sim::sleep(duration);
    }

    fn simulated(&self) -> bool {
        self.shared.sim.is_some()
    }

    fn cpu_time(&self, duration: Duration) {
        let Some(gil) = &self.shared.gil else { return sim::cpu(duration) };
        // Held in slices of the switch interval, handed over between them as CPython does.
        let mut guard = gil.acquire();
        let mut left = duration;
        while !left.is_zero() {
            let slice = left.min(gil.switch_interval());
            sim::cpu(slice);
            left -= slice;
            if !left.is_zero() {
                guard.switch_point();
            }
        }
    }

    fn cpu(&self, work: &mut dyn FnMut() -> bool) {
        match &self.shared.gil {
            Some(gil) => {
                let mut guard = gil.acquire();
                while !work() {
                    guard.switch_point();
                }
            }
            None => while !work() {},
        }
    }

    fn queue_put(&self, queue: &str, item: String) -> Result<(), String> {
        self.shared.queues.put(queue, item)
    }

    fn queue_get(&self, queue: &str) -> Result<String, String> {
        self.shared.queues.get(queue)
    }

    fn crash(&self) -> ! {
        // A thread cannot die alone without taking the process with it: it panics, and the
        // panic becomes the task's error.
        panic!("the task crashed")
    }
}
