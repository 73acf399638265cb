//! Named counters and locks shared by the tasks of one process: the module-level
//! `counter = 0` and `counter_lock = threading.Lock()` of the race lesson.
//!
//! A read and a write are one step each, as `LOAD_GLOBAL` and `STORE_GLOBAL` are in CPython;
//! `x = x + 1` is both, with room between them for another task to read the same value
//! ([`Work::Increment`](super::Work::Increment)). A lock is a real lock: a task holds it from
//! before its read to after its write, and every other task that asks for it blocks (on
//! either clock) until it is released.
//!
//! A thread pool's tasks share the counters of the pool, which the main program reads too;
//! so do a coroutine pool's, whose locks are the loop's own (`asyncio.Lock`). Each worker
//! process of a process pool has counters of its own, as each Python process has its own
//! globals: what a process pool's tasks write never reaches the parent.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use super::sync::Condvar;

/// A set of named counters (each 0 until written) and named locks, made on first use.
///
/// # Examples
/// ```
/// use poolscope::pool::SharedCounters;
///
/// let counters = SharedCounters::default();
/// let guard = counters.lock("counter_lock");
/// let seen = counters.get("counter");
/// counters.set("counter", seen + 1);
/// drop(guard);
/// assert_eq!(counters.get("counter"), 1);
/// ```
#[derive(Default)]
pub struct SharedCounters {
    values: Mutex<HashMap<String, i64>>,
    locks: Mutex<HashMap<String, Arc<Lock>>>,
}

/// One named lock: a flag, and the condition variable its waiters block on.
#[derive(Default)]
struct Lock {
    held: Mutex<bool>,
    released: Condvar,
}

impl Lock {
    fn held(&self) -> MutexGuard<'_, bool> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A named lock, held until this is dropped — also when the task holding it panics, as
/// `with lock:` releases it when its block raises.
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard {
    lock: Arc<Lock>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        *self.lock.held() = false;
        self.lock.released.notify_all();
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

impl fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = f.debug_map();
        for (name, value) in values.iter() {
            map.entry(name, value);
        }
        map.finish()
    }
}

impl SharedCounters {
    /// The value of counter `name`: 0 if it was never written.
    pub fn get(&self, name: &str) -> i64 {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied().unwrap_or(0)
    }

    /// Writes `value` to counter `name`, whatever it holds now.
    pub fn set(&self, name: &str, value: i64) {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), value);
    }

    /// Takes lock `name`, waiting while another task holds it.
    pub fn lock(&self, name: &str) -> LockGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(name.to_string()).or_default())
        };
        let held = lock.held();
        let take = |held: &mut bool| (!*held).then(|| *held = true);
        let (held, taken) = lock.released.wait_until(&lock.held, held, None, take);
        drop(held);
        taken.unwrap_or_else(|_| unreachable!("no deadline"));
        LockGuard { lock }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::pool::sim::SimClock;
    use crate::pool::sync::{self, Clock};

    #[test]
    fn a_counter_is_zero_until_written_and_then_holds_what_was_written() {
        let counters = SharedCounters::default();
        assert_eq!(counters.get("hits"), 0);
        counters.set("hits", 7);
        counters.set("misses", -1);
        assert_eq!((counters.get("hits"), counters.get("misses")), (7, -1));
    }

    /// Two threads both read before either writes (a barrier puts them there): one update
    /// is lost, as `x = x + 1` loses it when the switch falls between the read and the write.
    #[test]
    fn two_reads_before_two_writes_lose_an_update() {
        let counters = SharedCounters::default();
        let read = Barrier::new(2);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let seen = counters.get("counter");
                    read.wait();
                    counters.set("counter", seen + 1);
                });
            }
        });
        assert_eq!(counters.get("counter"), 1);
    }

    /// On simulated time, so every instant is exact: one thread takes the lock, reads, and
    /// writes a second later; another asks for the lock 10 ms in. Without the lock it would
    /// read 0 at 10 ms; with it, it waits for the write and reads 1 at one second.
    #[test]
    fn a_held_lock_keeps_the_next_reader_out_until_the_write() {
        for locked in [true, false] {
            let sim = SimClock::new();
            let main = sim.join_here();
            let clock = Clock::current();
            let counters = Arc::new(SharedCounters::default());
            let increment = |delay: Duration, gap: Duration| {
                let counters = Arc::clone(&counters);
                move || {
                    sync::sleep(delay);
                    let guard = locked.then(|| counters.lock("lock"));
                    let seen = counters.get("counter");
                    let at = sync::now();
                    sync::sleep(gap);
                    counters.set("counter", seen + 1);
                    drop(guard);
                    (seen, at)
                }
            };
            let (tx, rx) = mpsc::channel();
            let mut threads = Vec::new();
            for (name, delay, gap) in [("first", 0, 1000), ("second", 10, 0)] {
                let run = increment(Duration::from_millis(delay), Duration::from_millis(gap));
                let tx = tx.clone();
                threads.push(clock.spawn(name.into(), move || tx.send((name, run())).unwrap()).unwrap());
            }
            for thread in threads {
                thread.join();
            }
            drop(main);
            let second = rx.try_iter().find(|(name, _)| *name == "second").unwrap().1;
            let since = |(seen, at): (i64, std::time::Instant)| (seen, at - sim.origin());
            if locked {
                assert_eq!(since(second), (1, Duration::from_secs(1)), "it waited for the write");
                assert_eq!(counters.get("counter"), 2);
            } else {
                assert_eq!(since(second), (0, Duration::from_millis(10)), "it read before the write");
                assert_eq!(counters.get("counter"), 1, "an update is lost");
            }
        }
    }

    /// Takes lock `name` on another thread: true if it got it before the deadlock guard.
    fn can_take(counters: &Arc<SharedCounters>, name: &'static str) -> bool {
        let (tx, rx) = mpsc::channel();
        let counters = Arc::clone(counters);
        thread::spawn(move || {
            drop(counters.lock(name));
            let _ = tx.send(());
        });
        // Only turns a hang into a failure; never reached by a passing test.
        rx.recv_timeout(Duration::from_secs(30)).is_ok()
    }

    #[test]
    fn a_panic_while_holding_the_lock_releases_it() {
        let counters = Arc::new(SharedCounters::default());
        let panicked = thread::scope(|s| {
            s.spawn(|| {
                let _guard = counters.lock("lock");
                panic!("the task raised");
            })
            .join()
        });
        assert!(panicked.is_err());
        assert!(can_take(&counters, "lock"));
    }

    #[test]
    fn locks_of_different_names_are_apart() {
        let counters = Arc::new(SharedCounters::default());
        let _a = counters.lock("a");
        assert!(can_take(&counters, "b"));
    }
}
