//! The one place pool code meets time and blocking. Every wait, wake-up, sleep, thread and
//! "now" of the pools goes through here, and each serves a real run and a simulated one
//! ([`super::sim`], `--virtual-time`) alike, so the pools never ask which they are in — as
//! tokio's `loom` facade or rayon-core's `sleep` module keep their crates' callers free of
//! the two worlds.
//!
//! - [`now`], [`sleep`], [`cpu`]: time, on the caller's clock.
//! - [`Clock`]: the clock of the run a pool was built in, for its threads and pids.
//! - [`Bell`]: what a waiter waits on and a waker rings: in a simulated run the waiter is
//!   parked on the bell and the ring makes it runnable; in a real run it blocks on the
//!   real primitive (a channel, a condvar) the caller names, and the ring costs nothing.
//! - [`Condvar`]: a condition variable that is its own bell: `notify_all` wakes both kinds
//!   of waiter, so no wake-up can be forgotten for one clock.
//! - [`recv`]: a channel receive with a deadline, on either clock.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::sim::{self, Key, Reserved, Seat, SimClock};

pub use super::sim::TimedOut;

/// Now: the simulated clock's time on a thread of a simulated run, else the real time.
pub fn now() -> Instant {
    sim::now()
}

/// Sleeps `d` on the caller's clock.
pub fn sleep(d: Duration) {
    sim::sleep(d);
}

/// Spends `d` of CPU time: on a simulated run's cores (shared with the other CPU-bound work
/// there), or, in a real run, as a real sleep (the caller does its own arithmetic there).
pub fn cpu(d: Duration) {
    sim::cpu(d);
}

/// The clock of the run a pool was built in: real time, or a simulated run's clock. The
/// pool keeps it, so its threads join that run and its events carry that run's times and
/// pids, whichever thread reports them.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<SimClock>);

impl Clock {
    /// The calling thread's clock.
    pub fn current() -> Clock {
        Clock(sim::current())
    }

    /// True on a simulated run's clock.
    pub fn is_simulated(&self) -> bool {
        self.0.is_some()
    }

    /// This process's pid as the run reports it (a simulated run has its own, fixed).
    pub fn pid(&self) -> u32 {
        if self.is_simulated() { sim::PARENT_PID } else { std::process::id() }
    }

    /// The pid a run reports for a worker process whose OS pid is `os_pid`: a simulated run
    /// numbers its processes itself, so its log does not depend on the OS.
    pub fn worker_pid(&self, os_pid: u32) -> u32 {
        self.0.as_ref().map_or(os_pid, SimClock::new_pid)
    }

    /// Now on this clock, from any thread.
    pub fn now(&self) -> Instant {
        self.0.as_ref().map_or_else(super::tsc::now, SimClock::now)
    }

    /// Starts a thread of the pool: in a simulated run, a participant that takes its turns
    /// with the others.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) -> io::Result<PoolThread> {
        self.spawn_with(name, self.0.as_ref().map(SimClock::reserve), f)
    }

    /// Starts a thread that reads a worker process's pipe: in a simulated run, a participant
    /// that reads outside the run and takes a turn for each frame ([`arrive`]).
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn spawn_reader(&self, name: String, f: impl FnOnce() + Send + 'static) -> io::Result<PoolThread> {
        self.spawn_with(name, self.0.as_ref().map(SimClock::reserve_outside), f)
    }

    fn spawn_with(
        &self,
        name: String,
        reserved: Option<Reserved>,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<PoolThread> {
        let seat = reserved.as_ref().map(Reserved::seat);
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            let _me = reserved.map(Reserved::take);
            f();
        })?;
        Ok(PoolThread { handle, seat })
    }

    /// A reader's worker process owes it a frame now (or no longer): a simulated run waits
    /// for owed frames before it moves on. Nothing in a real run.
    pub fn owe(&self, reader: Reader, owed: bool) {
        if let (Some(clock), Some(seat)) = (&self.0, reader.0) {
            clock.owe(seat, owed);
        }
    }
}

/// A thread of a pool, started by [`Clock::spawn`].
#[derive(Debug)]
pub struct PoolThread {
    handle: JoinHandle<()>,
    /// Its seat in a simulated run.
    seat: Option<Seat>,
}

/// Names a reader thread to [`Clock::owe`].
#[derive(Clone, Copy, Debug)]
pub struct Reader(Option<Seat>);

impl PoolThread {
    /// This thread, as a reader of a worker process.
    pub fn reader(&self) -> Reader {
        Reader(self.seat)
    }

    /// Waits for the thread to end (in a simulated run, first for it to leave the run).
    pub fn join(self) {
        if let Some(seat) = self.seat {
            sim::wait_left(seat);
        }
        let _ = self.handle.join();
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.handle.thread().id()
    }

    /// True once the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// A reader outside a simulated run: a frame came; waits for its turn to handle it. Nothing
/// in a real run.
pub fn arrive() {
    sim::arrive();
}

/// A reader that handled its frame goes back to reading outside the run; `owed`: whether its
/// worker owes it another frame already (asked only in a simulated run). Nothing in a real run.
pub fn step_outside(owed: impl FnOnce() -> bool) {
    if sim::seat().is_some() {
        sim::step_outside(owed());
    }
}

/// What a waiter waits on and a waker rings. It must not move while anyone waits on it (it
/// lives in the pool's shared state, behind an `Arc`): its address is its name.
#[derive(Debug)]
pub struct Bell {
    reach: Reach,
}

#[derive(Debug)]
enum Reach {
    /// Rings in this run only (nothing in a real run): a pool's own bells.
    Run(Option<SimClock>),
    /// Rings in whatever simulated run waits on it: things not tied to one run.
    Anywhere,
}

impl Bell {
    /// A bell of the run on `clock`.
    pub fn new(clock: &Clock) -> Bell {
        Bell { reach: Reach::Run(clock.0.clone()) }
    }

    /// A bell for a thing any run may wait on (a future, a shared queue).
    pub const fn anywhere() -> Bell {
        Bell { reach: Reach::Anywhere }
    }

    fn key(&self) -> Key {
        sim::key(self)
    }

    /// Wakes the waiter that has waited longest.
    pub fn ring_one(&self) {
        match &self.reach {
            Reach::Run(Some(clock)) => clock.notify_one(self.key()),
            Reach::Run(None) => {}
            Reach::Anywhere => sim::notify_one(self.key()),
        }
    }

    /// Wakes every waiter.
    pub fn ring_all(&self) {
        match &self.reach {
            Reach::Run(Some(clock)) => clock.notify_all(self.key()),
            Reach::Run(None) => {}
            Reach::Anywhere => sim::notify_all(self.key()),
        }
    }

    /// Waits until `poll` gives a value or `deadline` passes. In a simulated run, parks on
    /// this bell and polls at each ring; in a real run, calls `block`, which waits on the
    /// real thing the bell stands for.
    ///
    /// # Errors
    /// [`TimedOut`] once the deadline passed, in a simulated run; `block`'s own in a real one.
    pub fn wait<T>(
        &self,
        deadline: Option<Instant>,
        poll: impl FnMut() -> Option<T>,
        block: impl FnOnce() -> Result<T, TimedOut>,
    ) -> Result<T, TimedOut> {
        match sim::wait(self.key(), deadline, poll) {
            Some(got) => got,
            None => block(),
        }
    }
}

impl Bell {
    /// Spends `d` of CPU time on a simulated run's cores, cut short when the bell rings and
    /// `stop` then says so; true if the work ran to its end. In a real run, a real sleep.
    pub fn cpu_unless(&self, d: Duration, stop: impl FnMut() -> bool) -> bool {
        sim::cpu_unless(d, self.key(), stop)
    }
}

/// A condition variable for both clocks: waits park in a simulated run and block in a real
/// one, and `notify_all` wakes both.
#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    /// Waits, with `guard` on `mutex`, until `ready` gives a value or `deadline` passes.
    /// `ready` runs with the lock held.
    ///
    /// # Errors
    /// [`TimedOut`] with the guard, once the deadline passed.
    pub fn wait_until<'a, T, R>(
        &self,
        mutex: &'a Mutex<T>,
        mut guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut T) -> Option<R>,
    ) -> (MutexGuard<'a, T>, Result<R, TimedOut>) {
        if let Some(value) = ready(&mut guard) {
            return (guard, Ok(value));
        }
        let lock = || mutex.lock().unwrap_or_else(|e| e.into_inner());
        if sim::seat().is_some() {
            drop(guard);
            let got = sim::wait(sim::key(self), deadline, || ready(&mut lock())).expect("on a participant");
            return (lock(), got);
        }
        loop {
            guard = match deadline {
                None => self.0.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(sim::now());
                    if left.is_zero() {
                        return (guard, Err(TimedOut));
                    }
                    self.0.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
            if let Some(value) = ready(&mut guard) {
                return (guard, Ok(value));
            }
        }
    }

    /// Wakes every waiter, on either clock.
    pub fn notify_all(&self) {
        self.0.notify_all();
        sim::notify_all(sim::key(self));
    }
}

/// Receives from `rx`, waiting until `deadline`, on either clock; in a simulated run, waits
/// on `bell`, which whoever sends on the channel rings.
///
/// # Errors
/// `Timeout` once the deadline passed, `Disconnected` once no sender is left.
pub fn recv<T>(rx: &Receiver<T>, bell: &Bell, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
    let poll = || match rx.try_recv() {
        Ok(item) => Some(Ok(item)),
        Err(TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
        Err(TryRecvError::Empty) => None,
    };
    let block = || {
        Ok(match deadline {
            Some(deadline) => rx.recv_deadline(deadline),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        })
    };
    bell.wait(deadline, poll, block).unwrap_or(Err(RecvTimeoutError::Timeout))
}
