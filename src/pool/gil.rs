//! A simulated global interpreter lock, as in CPython.
//!
//! CPU-bound Python code holds the GIL; a thread that wants it waits, and after the switch
//! interval (`sys.getswitchinterval()`, 5 ms) the holder is asked to drop it and the waiter
//! takes over. So N threads doing CPU work take N times as long as one: no speed-up. I/O
//! (sleeps) runs without the GIL. poolscope's thread pool can simulate this so the lesson is
//! visible with real threads.
//!
//! A pool with a probe reports who holds the lock when ([`EventKind::Gil`]), from under the
//! lock's own mutex, so the reports come in the order the lock changed hands: a `wait` when a
//! thread must queue for it, a `take` at each hand-off (the thread that yielded it is then
//! waiting again — one event per switch, not two) and a `release` when a thread's CPU-bound
//! work is done.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::probe::{EventKind, GilChange, Telemetry, WorkerId};
use super::sync::{self, Condvar};

/// CPython's default switch interval.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// A fair global lock handed over every switch interval to the longest waiter.
pub struct Gil {
    switch_interval: Duration,
    state: Mutex<GilState>,
    changed: Condvar,
    /// Where hand-offs are reported, when the pool has a probe.
    telemetry: Option<std::sync::Arc<Telemetry>>,
}

#[derive(Default)]
struct GilState {
    held: bool,
    next_ticket: u64,
    /// Tickets of the threads waiting for the lock, first come first served.
    waiting: VecDeque<u64>,
}

impl fmt::Debug for Gil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Gil")
            .field("switch_interval", &self.switch_interval)
            .field("held", &state.held)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

impl Gil {
    /// A GIL with the given switch interval.
    pub fn new(switch_interval: Duration) -> Gil {
        Gil { switch_interval, state: Mutex::new(GilState::default()), changed: Condvar::default(), telemetry: None }
    }

    /// A GIL that reports its hand-offs to `telemetry`.
    pub(crate) fn reporting(switch_interval: Duration, telemetry: Option<std::sync::Arc<Telemetry>>) -> Gil {
        Gil { telemetry, ..Gil::new(switch_interval) }
    }

    /// The switch interval.
    pub fn switch_interval(&self) -> Duration {
        self.switch_interval
    }

    /// Waits for the lock, then holds it until the guard is dropped.
    ///
    /// # Examples
    /// ```
    /// use poolscope::pool::gil::Gil;
    /// use std::time::Duration;
    ///
    /// let gil = Gil::new(Duration::from_millis(5));
    /// let mut guard = gil.acquire();
    /// for _ in 0..1000 {
    ///     // ... a slice of CPU-bound work ...
    ///     guard.switch_point(); // lets a waiting thread in once the interval has passed
    /// }
    /// ```
    pub fn acquire(&self) -> GilGuard<'_> {
        self.take(None, false);
        GilGuard { gil: self, worker: None, since: sync::now() }
    }

    /// [`Gil::acquire`] for the thread of pool worker `worker`: its waits and hand-offs are
    /// reported.
    pub(crate) fn acquire_for(&self, worker: WorkerId) -> GilGuard<'_> {
        self.take(Some(worker), false);
        GilGuard { gil: self, worker: Some(worker), since: sync::now() }
    }

    /// Reports `change` by `worker`; called with the state locked, so reports keep the
    /// lock's order.
    fn report(&self, worker: Option<WorkerId>, change: GilChange) {
        if let (Some(telemetry), Some(worker)) = (&self.telemetry, worker) {
            telemetry.emit(EventKind::Gil { worker, change });
        }
    }

    fn lock(&self) -> MutexGuard<'_, GilState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the lock, queueing for it while another thread holds it. `yielded`: the caller
    /// just handed it over at a switch point (its wait is implied by the next `take`).
    fn take(&self, worker: Option<WorkerId>, yielded: bool) {
        let mut state = self.lock();
        if !state.held && state.waiting.is_empty() {
            state.held = true;
            self.report(worker, GilChange::Take);
            return;
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        if !yielded {
            self.report(worker, GilChange::Wait);
        }
        let turn = |state: &mut GilState| {
            (!state.held && state.waiting.front() == Some(&ticket)).then(|| {
                state.waiting.pop_front();
                state.held = true;
                self.report(worker, GilChange::Take);
            })
        };
        let _ = self.changed.wait_until(&self.state, state, None, turn);
    }

    /// Releases the lock; `worker` is done with it (reported), or `None` when it yields at a
    /// switch point (the next holder's `take` says so).
    fn release(&self, done: Option<WorkerId>) {
        let mut state = self.lock();
        state.held = false;
        self.report(done, GilChange::Release);
        let anyone = !state.waiting.is_empty();
        drop(state);
        if anyone {
            self.changed.notify_all();
        }
    }

    fn has_waiters(&self) -> bool {
        !self.lock().waiting.is_empty()
    }
}

/// Holding the GIL. Dropping it releases the lock.
#[derive(Debug)]
pub struct GilGuard<'a> {
    gil: &'a Gil,
    /// The pool worker holding it, when its hand-offs are reported.
    worker: Option<WorkerId>,
    since: Instant,
}

impl GilGuard<'_> {
    /// Call often during CPU-bound work: once the switch interval has passed and another
    /// thread waits, hands the lock over and queues up to get it back. Returns true if it
    /// switched.
    pub fn switch_point(&mut self) -> bool {
        if sync::now().saturating_duration_since(self.since) < self.gil.switch_interval || !self.gil.has_waiters() {
            return false;
        }
        self.gil.release(None);
        self.gil.take(self.worker, true);
        self.since = sync::now();
        true
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        self.gil.release(self.worker);
    }
}
