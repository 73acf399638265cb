//! Virtual time (`--virtual-time`): one simulated clock shared by a run's main program and
//! every thread of its pool, so a run is reproducible to the byte and a long lesson takes a
//! moment.
//!
//! The threads stay real; only time and the order they run in are decided here. Each thread
//! that takes part (the main program, every worker, a coroutine loop, the reader of each
//! worker process) is a *participant*, and exactly one participant runs at a time: it holds
//! the baton. It hands the baton on when it blocks — waiting for a message, a future, a lock,
//! or for the clock to reach a deadline — and the scheduler picks who runs next by fixed
//! rules: the participants woken first run first; when nobody can run, the clock jumps to
//! the earliest deadline (tokio's paused clock does the same). With one runner at a time and
//! fixed rules, the same program gives the same interleaving, the same event order and the
//! same timestamps, every time.
//!
//! Worker processes are outside: a process pool's reader thread reads its pipe without the
//! baton. When the pool has sent a worker something it must answer, the reader *owes* a
//! frame, and the scheduler waits for every owed frame to arrive before it runs anyone
//! else, then lets the readers in by participant order. So a child's answer is taken at the
//! same point of the run however long the OS takes to deliver it.
//!
//! CPU-bound work takes simulated cores ([`cpu`]): as many as the machine has, shared
//! equally among the work that wants one (processor sharing, as an OS time-slices), so
//! oversubscribed cores stretch CPU-bound tasks in simulated time as they do in real time.
//!
//! Code blocks through [`wait`] and wakes through [`notify_one`] / [`notify_all`], keyed by
//! an address; on a thread that is not a participant these fall back to real blocking, so
//! the same pool code serves real and simulated runs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A participant's number, in the order they were seated.
pub type Seat = u32;

/// What a blocked participant waits to be told about: the address of the thing it waits on.
pub type Key = usize;

/// A key nothing is notified on: a plain sleep.
const ALARM: Key = 0;

/// The pid the simulated parent process reports.
pub const PARENT_PID: u32 = 1000;

/// A handle on one simulated clock; clones share it.
#[derive(Clone)]
pub struct SimClock(Arc<Kernel>);

struct Kernel {
    /// The instant virtual time 0 stands for: `now()` is `origin + elapsed`.
    origin: Instant,
    /// Pace the clock to real time (a live view): a deadline is reached no earlier than
    /// its real instant.
    paced: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Virtual nanoseconds since `origin`.
    now: u64,
    running: Option<Seat>,
    runnable: VecDeque<Seat>,
    parked: BTreeMap<Seat, Parked>,
    /// `(deadline, seq, seat)` of every parked participant with a deadline.
    timers: BTreeSet<(u64, u64, Seat)>,
    /// Woken by their deadline rather than a notify; read when they run.
    timed_out: BTreeSet<Seat>,
    seq: u64,
    next_seat: Seat,
    threads: BTreeMap<Seat, Thread>,
    /// Participants reading a worker process's pipe without the baton.
    outside: BTreeMap<Seat, Outside>,
    left: BTreeSet<Seat>,
    /// Worker processes started.
    pids: u32,
    /// Paced clocks: the simulated time the participant just woken by the clock must wait
    /// for, in real time, before it goes on.
    pace_to: Option<u64>,
    /// Paced clocks: the simulated time things have visibly reached (what a woken
    /// participant was let go at).
    visible: u64,
    /// Paced clocks: real time = `origin + shift + simulated time` (ns; it grows while held).
    shift: i128,
    /// Paced clocks, while held: the time shown when the hold began.
    frozen: Option<u64>,
    /// Held (a live view paused the run): the clock does not move, though everything due at
    /// the current instant still runs.
    held: bool,
    /// Held, but allowed to move on to the next deadline once.
    step_once: bool,
    /// Simulated cores.
    cores: u64,
    /// CPU work left (ns, as of `now`) of each participant running CPU-bound code.
    cpu: BTreeMap<Seat, u64>,
    /// `(time, cores busy)` each time the number of busy cores changed (at most
    /// [`CORE_LOG_MAX`] entries).
    core_log: Vec<(u64, u32)>,
    /// CPU work a notify on the key cuts short ([`cpu_unless`]).
    cpu_keys: BTreeMap<Seat, Key>,
    /// The work left of CPU work cut short, until its participant runs.
    cpu_cut: BTreeMap<Seat, u64>,
    /// Notifies so far: a participant about to wait checks that none came since it looked.
    notes: u64,
}

/// Entries the busy-core log keeps at most (16 bytes each).
const CORE_LOG_MAX: usize = 1 << 20;

struct Parked {
    key: Key,
    seq: u64,
    deadline: Option<u64>,
}

#[derive(Clone, Copy, Default)]
struct Outside {
    /// The worker process owes this reader a frame.
    owed: bool,
    /// A frame came: the reader waits for the baton to handle it.
    arrived: bool,
}

/// Every simulated clock alive, so a thread outside a run (a viewer stopping it) can still
/// wake the participants waiting on what it changed.
static CLOCKS: Mutex<Vec<Weak<Kernel>>> = Mutex::new(Vec::new());
/// How many clocks `CLOCKS` held when it last changed: 0 lets real runs skip it.
static LIVE: AtomicUsize = AtomicUsize::new(0);

impl Drop for Kernel {
    fn drop(&mut self) {
        let mut clocks = CLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        clocks.retain(|k| k.strong_count() > 0);
        LIVE.store(clocks.len(), Ordering::Release);
    }
}

/// Notifies `key` on the caller's clock, or on a thread outside every run, on every clock.
fn notify_anywhere(key: Key, most: usize) {
    if with_current(|clock, _| clock.0.notify(key, most)).is_some() || LIVE.load(Ordering::Acquire) == 0 {
        return;
    }
    let clocks: Vec<Arc<Kernel>> =
        CLOCKS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(Weak::upgrade).collect();
    for kernel in clocks {
        kernel.notify(key, most);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<(SimClock, Seat)>> = const { RefCell::new(None) };
}

impl fmt::Debug for SimClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.lock();
        f.debug_struct("SimClock").field("now_ns", &s.now).field("running", &s.running).finish()
    }
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock::new()
    }
}

impl SimClock {
    /// A clock at 0 that jumps from deadline to deadline as fast as the run goes.
    pub fn new() -> SimClock {
        SimClock::with(false)
    }

    /// A clock that moves no faster than real time: the same deterministic run, watchable.
    pub fn paced() -> SimClock {
        SimClock::with(true)
    }

    /// A clock like [`SimClock::new`] whose CPU-bound work shares `cores` cores (at least 1)
    /// rather than the machine's.
    pub fn with_cores(cores: usize) -> SimClock {
        let clock = SimClock::new();
        clock.set_cores(cores);
        clock
    }

    /// Makes CPU-bound work share `cores` cores (at least 1) from now on.
    pub fn set_cores(&self, cores: usize) {
        self.0.lock().cores = cores.max(1) as u64;
    }

    /// Holds the clock (`true`): the run goes on until everything due now has happened, then
    /// waits; or lets it go on (`false`). A paced clock resumes its pace from where it was.
    pub fn hold(&self, held: bool) {
        let mut s = self.0.lock();
        if held && !s.held {
            s.held = true;
            s.frozen = Some(self.0.shown(&s));
        } else if !held && s.held {
            s.held = false;
            s.step_once = false;
            // Go on from what was shown: the pace restarts from here.
            let base = s.frozen.take().unwrap_or(0).max(s.visible);
            s.shift = self.0.real_ns() - i128::from(base);
            self.0.wake_running(&s);
            if s.running.is_none() {
                self.0.schedule(&mut s);
            }
        }
    }

    /// True while held.
    pub fn is_held(&self) -> bool {
        self.0.lock().held
    }

    /// True when no participant runs: all wait (for the clock, when it is held).
    pub fn is_idle(&self) -> bool {
        self.0.lock().running.is_none()
    }

    /// While held: moves the clock on to the next deadline (or end of CPU work) and lets
    /// everything due then happen.
    pub fn step(&self) {
        let mut s = self.0.lock();
        if s.held {
            s.step_once = true;
            self.0.wake_running(&s);
            if s.running.is_none() {
                self.0.schedule(&mut s);
            }
        }
    }

    /// How many simulated cores were busy, from when: `(time since the start, cores)` at each
    /// change (the first million changes).
    pub fn busy_cores(&self) -> Vec<(Duration, usize)> {
        self.0.lock().core_log.iter().map(|&(t, n)| (Duration::from_nanos(t), n as usize)).collect()
    }

    /// The simulated cores.
    pub fn cores(&self) -> usize {
        self.0.lock().cores as usize
    }

    fn with(paced: bool) -> SimClock {
        let state = State { cores: super::cpus() as u64, ..State::default() };
        let kernel = Arc::new(Kernel { origin: Instant::now(), paced, state: Mutex::new(state) });
        let mut clocks = CLOCKS.lock().unwrap_or_else(|e| e.into_inner());
        clocks.retain(|k| k.strong_count() > 0);
        clocks.push(Arc::downgrade(&kernel));
        LIVE.store(clocks.len(), Ordering::Release);
        SimClock(kernel)
    }

    /// The instant virtual time 0 stands for.
    pub fn origin(&self) -> Instant {
        self.0.origin
    }

    /// Virtual time since the clock started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.lock().now)
    }

    /// For a viewer drawing a paced clock smoothly: the real time it has run, not held
    /// (simulated time catches up with it at each deadline); simulated time otherwise.
    pub fn shown_elapsed(&self) -> Duration {
        let s = self.0.lock();
        if !self.0.paced {
            return Duration::from_nanos(s.now);
        }
        Duration::from_nanos(self.0.shown(&s))
    }

    /// Now, as an instant: `origin() + elapsed()`.
    pub fn now(&self) -> Instant {
        self.0.origin + self.elapsed()
    }

    /// Takes part from the calling thread, which must not be a participant yet: waits for its
    /// turn (at once, if the clock is idle). It stops taking part when the guard drops.
    pub fn join_here(&self) -> Participant {
        self.reserve().take()
    }

    /// Reserves a seat for a thread about to be started: call it before spawning, from a
    /// participant, so seats come in a fixed order. The new thread calls [`Reserved::take`]
    /// first thing; until then the scheduler may hand it the baton and wait for it.
    pub fn reserve(&self) -> Reserved {
        let mut s = self.0.lock();
        let seat = s.new_seat();
        s.runnable.push_back(seat);
        if s.running.is_none() {
            self.0.schedule(&mut s);
        }
        Reserved { clock: self.clone(), seat, outside: false, taken: false }
    }

    /// Reserves a seat for the reader of a worker process: it starts outside, reading.
    pub fn reserve_outside(&self) -> Reserved {
        let mut s = self.0.lock();
        let seat = s.new_seat();
        s.outside.insert(seat, Outside::default());
        Reserved { clock: self.clone(), seat, outside: true, taken: false }
    }

    /// Says whether the worker process read by `seat` owes it a frame (see the module doc).
    pub fn owe(&self, seat: Seat, owed: bool) {
        let mut s = self.0.lock();
        if let Some(outside) = s.outside.get_mut(&seat) {
            outside.owed = owed;
            if !owed && s.running.is_none() {
                self.0.schedule(&mut s);
            }
        }
    }

    /// The pid a simulated run shows for the next worker process started: 1001, 1002, ...
    /// in the order they start, the same from run to run.
    pub fn new_pid(&self) -> u32 {
        let mut s = self.0.lock();
        s.pids += 1;
        PARENT_PID + s.pids
    }

    /// Wakes every participant waiting on `key`, in the order they began to wait. Safe from
    /// any thread.
    pub fn notify_all(&self, key: Key) {
        self.0.notify(key, usize::MAX);
    }

    /// Wakes the participant that has waited longest on `key`. Safe from any thread.
    pub fn notify_one(&self, key: Key) {
        self.0.notify(key, 1);
    }
}

impl Kernel {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The kernel never panics under its lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, key: Key, most: usize) {
        let mut s = self.lock();
        self.notify_locked(&mut s, key, most);
    }

    fn notify_locked(&self, s: &mut State, key: Key, most: usize) {
        s.notes += 1;
        let mut woken: Vec<(u64, Seat)> =
            s.parked.iter().filter(|(_, p)| p.key == key).map(|(&seat, p)| (p.seq, seat)).collect();
        woken.sort_unstable();
        for &(_, seat) in woken.iter().take(most) {
            let parked = s.parked.remove(&seat).expect("a parked seat");
            if let Some(deadline) = parked.deadline {
                s.timers.remove(&(deadline, parked.seq, seat));
            }
            s.runnable.push_back(seat);
        }
        // CPU work that can be cut short: it stops where it got to.
        let cut: Vec<Seat> = s.cpu_keys.iter().filter(|(_, k)| **k == key).map(|(&seat, _)| seat).collect();
        for &seat in &cut {
            s.cpu_keys.remove(&seat);
            if let Some(left) = s.cpu.remove(&seat) {
                s.cpu_cut.insert(seat, left);
                s.runnable.push_back(seat);
            }
        }
        if !cut.is_empty() {
            s.log_cores();
        }
        if s.running.is_none() && !(woken.is_empty() && cut.is_empty()) {
            self.schedule(s);
        }
    }

    /// Hands the baton to the next participant, or leaves it free until one can run.
    fn schedule(&self, s: &mut State) {
        s.running = None;
        if let Some(next) = s.runnable.pop_front() {
            return self.give(s, next);
        }
        if s.outside.values().any(|o| o.owed && !o.arrived) {
            // A worker process owes an answer: nothing moves until it comes.
            return;
        }
        if let Some((&seat, _)) = s.outside.iter().find(|(_, o)| o.arrived) {
            s.outside.remove(&seat);
            return self.give(s, seat);
        }
        if s.held && !s.step_once {
            return;
        }
        if s.held && !self.paced {
            // The step is this one move; a paced clock's pacer takes it instead.
            s.step_once = false;
        }
        let timer = s.timers.first().copied();
        match (timer, s.cpu_done_at()) {
            (_, Some(done)) if timer.is_none_or(|(deadline, ..)| done <= deadline) => {
                self.advance(s, done);
                let finished: Vec<Seat> = s.cpu.iter().filter(|(_, left)| **left == 0).map(|(&seat, _)| seat).collect();
                for seat in finished {
                    s.cpu.remove(&seat);
                    s.runnable.push_back(seat);
                }
                s.log_cores();
                let next = s.runnable.pop_front().expect("the CPU work that ended");
                self.give(s, next);
            }
            (Some((deadline, seq, seat)), _) => {
                s.timers.remove(&(deadline, seq, seat));
                s.parked.remove(&seat);
                s.timed_out.insert(seat);
                self.advance(s, deadline);
                self.give(s, seat);
            }
            (None, _) => {}
        }
        // Otherwise everyone waits on something only a thread outside the run can bring
        // (a live view stopping it): the clock stands still.
    }

    /// Moves the clock on to `to`, and the CPU work with it.
    fn advance(&self, s: &mut State, to: u64) {
        if to <= s.now {
            return;
        }
        let done = s.cpu_progress(to - s.now);
        for left in s.cpu.values_mut() {
            *left = left.saturating_sub(done);
        }
        s.now = to;
        if self.paced {
            s.pace_to = Some(to);
        }
    }

    /// Real nanoseconds since the origin.
    fn real_ns(&self) -> i128 {
        self.origin.elapsed().as_nanos() as i128
    }

    /// Paced clocks: the time to show — the real time run, not counting holds, or what
    /// things have visibly reached if that is later.
    fn shown(&self, s: &State) -> u64 {
        let run = match s.frozen {
            Some(frozen) => i128::from(frozen),
            None => self.real_ns() - s.shift,
        };
        u64::try_from(run.max(0)).unwrap_or(u64::MAX).max(s.visible)
    }

    /// Nudges the running participant, which may be waiting for the pace.
    fn wake_running(&self, s: &State) {
        if let Some(thread) = s.running.and_then(|seat| s.threads.get(&seat)) {
            thread.unpark();
        }
    }

    /// Paced clocks: the participant woken by the clock waits until real time reaches
    /// simulated time `to` (holds not counted); while held, until it is let go or stepped.
    fn pace(&self, to: u64) {
        loop {
            let mut s = self.lock();
            let wait = if s.held {
                if s.step_once {
                    s.step_once = false;
                    None
                } else {
                    Some(Duration::from_millis(50))
                }
            } else {
                let left = i128::from(to) + s.shift - self.real_ns();
                (left > 0).then(|| Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX)))
            };
            match wait {
                None => {
                    s.visible = s.visible.max(to);
                    return;
                }
                Some(wait) => {
                    drop(s);
                    std::thread::park_timeout(wait.min(Duration::from_millis(50)));
                }
            }
        }
    }

    fn give(&self, s: &mut State, seat: Seat) {
        s.running = Some(seat);
        if let Some(thread) = s.threads.get(&seat) {
            thread.unpark();
        }
    }

    /// Blocks until `seat` holds the baton; true if a deadline woke it.
    fn wait_turn(&self, seat: Seat) -> bool {
        loop {
            let mut s = self.lock();
            if s.running == Some(seat) {
                let timed_out = s.timed_out.remove(&seat);
                let pace = s.pace_to.take();
                drop(s);
                if let Some(to) = pace {
                    self.pace(to);
                }
                return timed_out;
            }
            drop(s);
            std::thread::park();
        }
    }

    /// The running participant `seat` waits on `key` until notified or `deadline` — unless a
    /// notify came after it looked (`seen`, the count of notifies then): it looks again.
    fn park(&self, seat: Seat, key: Key, deadline: Option<u64>, seen: Option<u64>) -> bool {
        {
            let mut s = self.lock();
            debug_assert_eq!(s.running, Some(seat), "only the running participant blocks");
            if seen.is_some_and(|seen| seen != s.notes) {
                return false;
            }
            s.seq += 1;
            let seq = s.seq;
            s.parked.insert(seat, Parked { key, seq, deadline });
            if let Some(deadline) = deadline {
                s.timers.insert((deadline, seq, seat));
            }
            self.schedule(&mut s);
        }
        self.wait_turn(seat)
    }

    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
}

impl State {
    /// CPU work each CPU-bound participant gets done in `elapsed`: all of it with a core
    /// each, a share of the cores otherwise.
    fn cpu_progress(&self, elapsed: u64) -> u64 {
        let wanting = self.cpu.len() as u128;
        if wanting == 0 {
            return 0;
        }
        let cores = wanting.min(u128::from(self.cores));
        u64::try_from(u128::from(elapsed) * cores / wanting).unwrap_or(u64::MAX)
    }

    /// When the first CPU-bound participant's work ends, at the current sharing.
    fn cpu_done_at(&self) -> Option<u64> {
        let least = u128::from(*self.cpu.values().min()?);
        let wanting = self.cpu.len() as u128;
        let cores = wanting.min(u128::from(self.cores));
        let elapsed = (least * wanting).div_ceil(cores);
        Some(self.now.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX)))
    }

    fn log_cores(&mut self) {
        let busy = u32::try_from((self.cpu.len() as u64).min(self.cores)).unwrap_or(u32::MAX);
        let full = self.core_log.len() >= CORE_LOG_MAX;
        match self.core_log.last_mut() {
            Some(last) if last.1 == busy => {}
            Some(last) if last.0 == self.now => last.1 = busy,
            _ if !full => self.core_log.push((self.now, busy)),
            _ => {}
        }
    }

    fn new_seat(&mut self) -> Seat {
        self.next_seat += 1;
        self.next_seat
    }
}

/// A seat reserved for a thread not started yet. Dropping it untaken (the thread could not
/// start) gives the seat up.
#[must_use = "the new thread must take its seat"]
pub struct Reserved {
    clock: SimClock,
    seat: Seat,
    outside: bool,
    taken: bool,
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserved").field("seat", &self.seat).field("outside", &self.outside).finish()
    }
}

impl Reserved {
    /// The seat's number.
    pub fn seat(&self) -> Seat {
        self.seat
    }

    /// On the new thread: makes it a participant and, unless it is a reader starting
    /// outside, waits for its first turn.
    pub fn take(mut self) -> Participant {
        self.taken = true;
        let kernel = &self.clock.0;
        kernel.lock().threads.insert(self.seat, std::thread::current());
        CURRENT.with(|c| *c.borrow_mut() = Some((self.clock.clone(), self.seat)));
        if !self.outside {
            kernel.wait_turn(self.seat);
        }
        Participant { clock: self.clock.clone(), seat: self.seat }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.taken {
            let kernel = &self.clock.0;
            let mut s = kernel.lock();
            s.runnable.retain(|&seat| seat != self.seat);
            s.outside.remove(&self.seat);
            s.left.insert(self.seat);
            if s.running == Some(self.seat) {
                kernel.schedule(&mut s);
            }
        }
    }
}

/// The calling thread's part in a simulated run; dropping it leaves the run.
pub struct Participant {
    clock: SimClock,
    seat: Seat,
}

impl fmt::Debug for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Participant").field("seat", &self.seat).finish()
    }
}

impl Participant {
    /// The seat's number.
    pub fn seat(&self) -> Seat {
        self.seat
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
        let kernel = &self.clock.0;
        let mut s = kernel.lock();
        s.threads.remove(&self.seat);
        s.outside.remove(&self.seat);
        s.left.insert(self.seat);
        // Whoever waits for this one to leave runs before the clock moves on.
        kernel.notify_locked(&mut s, left_key(self.seat), usize::MAX);
        if s.running == Some(self.seat) || s.running.is_none() {
            kernel.schedule(&mut s);
        }
    }
}

fn left_key(seat: Seat) -> Key {
    usize::MAX - seat as usize
}

/// The simulated clock the calling thread takes part in, if any.
pub fn current() -> Option<SimClock> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(clock, _)| clock.clone()))
}

fn with_current<R>(f: impl FnOnce(&SimClock, Seat) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(clock, seat)| f(clock, *seat)))
}

/// Now: the simulated clock's on a participant, the real one elsewhere.
pub fn now() -> Instant {
    with_current(|clock, _| clock.now()).unwrap_or_else(super::tsc::now)
}

/// Sleeps `d`: in virtual time on a participant, in real time elsewhere.
pub fn sleep(d: Duration) {
    let slept = with_current(|clock, seat| {
        let until = clock.0.lock().now.saturating_add(nanos(d));
        clock.0.park(seat, ALARM, Some(until), None);
    });
    if slept.is_none() {
        std::thread::sleep(d);
    }
}

/// Runs CPU-bound work for `d` of CPU time: on a participant, on the simulated cores (it
/// takes longer when more work wants a core than there are cores); elsewhere, a real sleep
/// (the caller does its own arithmetic in real runs).
pub fn cpu(d: Duration) {
    cpu_unless(d, ALARM, || false);
}

/// As [`cpu`], but cut short when `key` is notified and `stop` then says so. True if the
/// work ran to its end.
pub fn cpu_unless(d: Duration, key: Key, mut stop: impl FnMut() -> bool) -> bool {
    let ran = with_current(|clock, seat| {
        let kernel = &clock.0;
        let mut left = nanos(d);
        loop {
            let seen = kernel.lock().notes;
            if stop() {
                return false;
            }
            if left == 0 {
                return true;
            }
            {
                let mut s = kernel.lock();
                if s.notes != seen {
                    continue;
                }
                s.cpu.insert(seat, left);
                if key != ALARM {
                    s.cpu_keys.insert(seat, key);
                }
                s.log_cores();
                kernel.schedule(&mut s);
            }
            kernel.wait_turn(seat);
            let mut s = kernel.lock();
            s.cpu_keys.remove(&seat);
            left = s.cpu_cut.remove(&seat).unwrap_or(0);
        }
    });
    ran.unwrap_or_else(|| {
        std::thread::sleep(d);
        true
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What [`wait`] gives back when the deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// On a participant, waits in virtual time until `poll` gives a value, polling again each
/// time `key` is notified, or until `deadline`. `None` when the calling thread is not a
/// participant: block for real instead.
pub fn wait<T>(
    key: Key,
    deadline: Option<Instant>,
    mut poll: impl FnMut() -> Option<T>,
) -> Option<Result<T, TimedOut>> {
    let (clock, seat) = CURRENT.with(|c| c.borrow().clone())?;
    let kernel = &clock.0;
    let deadline = deadline.map(|d| kernel.ns(d));
    loop {
        // Threads outside the run may change what `poll` reads and notify at any time: a
        // notify between the look and the wait makes `park` return at once.
        let seen = kernel.lock().notes;
        if let Some(value) = poll() {
            return Some(Ok(value));
        }
        if deadline.is_some_and(|d| d <= kernel.lock().now) {
            return Some(Err(TimedOut));
        }
        kernel.park(seat, key, deadline, Some(seen));
    }
}

/// Wakes the participant that has waited longest on `key`, in the caller's simulated run,
/// or from outside every run, in any (keys are addresses: they mean one thing everywhere).
pub fn notify_one(key: Key) {
    notify_anywhere(key, 1);
}

/// Wakes every participant waiting on `key`, as [`notify_one`].
pub fn notify_all(key: Key) {
    notify_anywhere(key, usize::MAX);
}

/// The key of a value: its address.
pub fn key<T: ?Sized>(of: &T) -> Key {
    std::ptr::from_ref(of).cast::<()>() as Key
}

/// On a participant, waits until participant `seat` has left the run. False when the caller
/// is not a participant.
pub fn wait_left(seat: Seat) -> bool {
    let Some(clock) = current() else { return false };
    let _ = wait(left_key(seat), None, || clock.0.lock().left.contains(&seat).then_some(()));
    true
}

/// A reader outside: a frame came; waits for the baton to handle it. No-op elsewhere.
pub fn arrive() {
    with_current(|clock, seat| {
        let kernel = &clock.0;
        {
            let mut s = kernel.lock();
            s.outside.entry(seat).or_default().arrived = true;
            if s.running.is_none() {
                kernel.schedule(&mut s);
            }
        }
        kernel.wait_turn(seat);
    });
}

/// A reader that handled its frame gives the baton back and goes back to reading outside.
/// `owed`: whether its worker process owes it another frame already. No-op elsewhere.
pub fn step_outside(owed: bool) {
    with_current(|clock, seat| {
        let kernel = &clock.0;
        let mut s = kernel.lock();
        s.outside.insert(seat, Outside { owed, arrived: false });
        if s.running == Some(seat) {
            kernel.schedule(&mut s);
        }
    });
}

/// The seat of the calling participant.
pub fn seat() -> Option<Seat> {
    with_current(|_, seat| seat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_participant(clock: &SimClock, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
        let seat = clock.reserve();
        std::thread::spawn(move || {
            let _me = seat.take();
            f();
        })
    }

    #[test]
    fn sleeps_take_virtual_time_and_wake_in_deadline_order() {
        let clock = SimClock::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let main = clock.join_here();
        let mut threads = Vec::new();
        for (name, ms) in [("slow", 300u64), ("fast", 100), ("mid", 200)] {
            let order = Arc::clone(&order);
            threads.push(spawn_participant(&clock, move || {
                sleep(Duration::from_millis(ms));
                order.lock().unwrap().push((name, now()));
            }));
        }
        let started = Instant::now();
        sleep(Duration::from_secs(3600));
        let t = clock.elapsed();
        drop(main);
        for t in threads {
            t.join().unwrap();
        }
        let order = order.lock().unwrap();
        let names: Vec<_> = order.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["fast", "mid", "slow"]);
        assert_eq!(order[0].1 - clock.origin(), Duration::from_millis(100));
        assert_eq!(t, Duration::from_secs(3600));
        // An hour of virtual time is not an hour of real time.
        assert!(started.elapsed() < Duration::from_secs(600));
    }

    #[test]
    fn a_notify_wakes_a_waiter_and_a_deadline_times_it_out() {
        let clock = SimClock::new();
        let main = clock.join_here();
        let mailbox = Arc::new(Mutex::new(None::<u32>));
        let key_of = key(&*mailbox);
        let got = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (mailbox, got) = (Arc::clone(&mailbox), Arc::clone(&got));
            spawn_participant(&clock, move || {
                let v = wait(key_of, None, || mailbox.lock().unwrap().take()).unwrap().unwrap();
                got.store(v as usize, Ordering::SeqCst);
                let deadline = now() + Duration::from_millis(50);
                assert_eq!(wait(key_of, Some(deadline), || mailbox.lock().unwrap().take()), Some(Err(TimedOut)));
                assert_eq!(now(), deadline);
            })
        };
        sleep(Duration::from_millis(10));
        *mailbox.lock().unwrap() = Some(7);
        notify_one(key_of);
        let seat = 2;
        assert!(wait_left(seat));
        assert_eq!(got.load(Ordering::SeqCst), 7);
        assert_eq!(clock.elapsed(), Duration::from_millis(60));
        drop(main);
        waiter.join().unwrap();
    }

    #[test]
    fn cpu_work_shares_the_cores() {
        let clock = SimClock::with_cores(2);
        let main = clock.join_here();
        let ends = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        // Four seconds of CPU work on two cores: two seconds, all ending together; a fifth,
        // short task shares the cores while it runs and ends first.
        for (i, ms) in [(0u32, 1000u64), (1, 1000), (2, 1000), (3, 1000), (4, 250)] {
            let ends = Arc::clone(&ends);
            threads.push(spawn_participant(&clock, move || {
                cpu(Duration::from_millis(ms));
                ends.lock().unwrap().push((i, now()));
            }));
        }
        sleep(Duration::from_secs(10));
        drop(main);
        for t in threads {
            t.join().unwrap();
        }
        let ends = ends.lock().unwrap();
        let at = |i: u32| ends.iter().find(|e| e.0 == i).unwrap().1 - clock.origin();
        // 5 tasks on 2 cores: each runs at 2/5 speed; the short one ends at 250 ms / 0.4.
        assert_eq!(at(4), Duration::from_millis(625));
        // The rest: 4.25 s of work on 2 cores.
        for i in 0..4 {
            assert_eq!(at(i), Duration::from_millis(2125));
        }
        assert_eq!(ends[0].0, 4, "the short task ends first");
    }

    #[test]
    fn a_held_clock_stands_still_and_steps_one_deadline_at_a_time() {
        let clock = SimClock::new();
        let main = clock.join_here();
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let sleeper = {
            let ticks = Arc::clone(&ticks);
            spawn_participant(&clock, move || {
                for _ in 0..3 {
                    sleep(Duration::from_millis(100));
                    ticks.lock().unwrap().push(now());
                }
            })
        };
        clock.hold(true);
        drop(main);
        let settle = || {
            while !clock.is_idle() {
                std::thread::yield_now();
            }
        };
        // From outside the run: once everything due now has run, nothing moves while held...
        settle();
        assert_eq!(clock.elapsed(), Duration::ZERO);
        // ...a step moves to the next deadline only...
        clock.step();
        while ticks.lock().unwrap().is_empty() {
            std::thread::yield_now();
        }
        settle();
        assert_eq!(clock.elapsed(), Duration::from_millis(100));
        assert_eq!(ticks.lock().unwrap().len(), 1);
        // ...and letting go runs the rest.
        clock.hold(false);
        sleeper.join().unwrap();
        assert_eq!(clock.elapsed(), Duration::from_millis(300));
    }

    #[test]
    fn off_a_participant_everything_is_real() {
        assert!(current().is_none());
        assert_eq!(wait(1, None, || Some(())), None);
        // The real clock of a run, which is the time-stamp counter's, not the OS's.
        let (before, at, after) = (crate::pool::tsc::now(), now(), crate::pool::tsc::now());
        assert!(before <= at && at <= after);
        notify_all(1);
        assert!(!wait_left(1));
    }
}
