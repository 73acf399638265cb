//! A simulated global interpreter lock, as in CPython.
//!
//! CPU-bound Python code holds the GIL; a thread that wants it waits, and after the switch
//! interval (`sys.getswitchinterval()`, 5 ms) the holder is asked to drop it and the waiter
//! takes over. So N threads doing CPU work take N times as long as one: no speed-up. I/O
//! (sleeps) runs without the GIL. poolscope's thread pool can simulate this so the lesson is
//! visible with real threads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::sync::{self, Condvar};

/// CPython's default switch interval.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// A fair global lock handed over every switch interval to the longest waiter.
pub struct Gil {
    switch_interval: Duration,
    state: Mutex<GilState>,
    changed: Condvar,
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
        Gil { switch_interval, state: Mutex::new(GilState::default()), changed: Condvar::default() }
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
        self.take();
        GilGuard { gil: self, since: sync::now() }
    }

    fn lock(&self) -> MutexGuard<'_, GilState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) {
        let mut state = self.lock();
        if !state.held && state.waiting.is_empty() {
            state.held = true;
            return;
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        let turn = |state: &mut GilState| {
            (!state.held && state.waiting.front() == Some(&ticket)).then(|| {
                state.waiting.pop_front();
                state.held = true;
            })
        };
        let _ = self.changed.wait_until(&self.state, state, None, turn);
    }

    fn release(&self) {
        let mut state = self.lock();
        state.held = false;
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
        self.gil.release();
        self.gil.take();
        self.since = sync::now();
        true
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        self.gil.release();
    }
}
