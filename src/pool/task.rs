//! Task specs: work described as data, so it can cross a process boundary and be scripted.
//!
//! SPEC §1.3: `sleep` (I/O-bound), `spin` (CPU-bound, real arithmetic calibrated to a
//! duration), `sum_squares`, `fail`, `crash`, `queue_put` / `queue_get` on a named queue
//! hosted by the parent, and `increment`: `x = x + 1` on a shared counter, read and written
//! apart.

use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::counters::SharedCounters;
use super::probe::WorkerId;

/// What a task does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Returns at once (after `duration`, if any): the tiny task of throughput benchmarks.
    Noop,
    /// I/O-bound: waits `duration` without using the CPU (and without the GIL).
    Sleep,
    /// CPU-bound: a fixed amount of real arithmetic that takes `duration` on one free core.
    Spin,
    /// CPU-bound: the sum of `i * i` for `i` in `0..n`, the classic example.
    SumSquares {
        /// How many squares.
        n: u64,
    },
    /// Raises `message` after `duration`.
    Fail {
        /// The exception's message.
        message: String,
    },
    /// After `duration`, the worker process aborts (process pool) or the task panics (threads,
    /// coroutines).
    Crash,
    /// Puts `item` on the shared queue `queue` (after `duration`).
    QueuePut {
        /// The queue's name.
        queue: String,
        /// What to put.
        item: String,
    },
    /// Takes the next item from the shared queue `queue`, waiting for one (after `duration`).
    QueueGet {
        /// The queue's name.
        queue: String,
    },
    /// `counter = counter + 1` in two steps: reads the shared counter, waits `duration` (where
    /// another task may read the same value), then writes what it read plus one. With
    /// `lock`, it holds that lock from before the read to after the write, so no other task
    /// holding it comes between them.
    Increment {
        /// The counter's name.
        counter: String,
        /// The lock held around the read and the write, if any.
        lock: Option<String>,
    },
}

impl Work {
    /// The name used in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Work::Noop => "noop",
            Work::Sleep => "sleep",
            Work::Spin => "spin",
            Work::SumSquares { .. } => "sum_squares",
            Work::Fail { .. } => "fail",
            Work::Crash => "crash",
            Work::QueuePut { .. } => "queue_put",
            Work::QueueGet { .. } => "queue_get",
            Work::Increment { .. } => "increment",
        }
    }

    /// True for work that holds the CPU (and so the GIL, on a GIL thread pool).
    pub fn is_cpu_bound(&self) -> bool {
        matches!(self, Work::Spin | Work::SumSquares { .. })
    }
}

/// One task: its work, how long it takes, and the label people see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// What it does.
    pub work: Work,
    /// How long: the wait of `sleep`, the CPU time of `spin`, the delay before `fail`,
    /// `crash`, `queue_put` and `queue_get` act, the gap between `increment`'s read and write.
    pub duration: Duration,
    /// Its name on screen, e.g. `Process3`.
    pub label: String,
}

impl TaskSpec {
    /// A task doing `work` for `duration`, labelled `label`.
    pub fn new(work: Work, duration: Duration, label: impl Into<String>) -> TaskSpec {
        TaskSpec { work, duration, label: label.into() }
    }

    /// What the task takes alone, on a free worker and a free core: the yardstick of
    /// speed-up. Under a GIL or on busy cores a CPU-bound task's wall time stretches, so its
    /// run time would overstate the serial cost. `None` when it is not known in advance
    /// (`sum_squares`, or a `queue_get` that waits for an item).
    pub fn nominal_cost(&self) -> Option<Duration> {
        match self.work {
            Work::SumSquares { .. } | Work::QueueGet { .. } => None,
            _ => Some(self.duration),
        }
    }
}

/// What a task returns: who ran it, and its output if it computes one. Not its label: a
/// future's value may be held a million times over (a named batch), and whoever submitted
/// the spec knows the label already — by the future's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskValue {
    /// The worker (lane) that ran it.
    pub worker: WorkerId,
    /// The process that ran it.
    pub pid: u32,
    /// What it computed (`sum_squares`), took (`queue_get`) or read and wrote (`increment`),
    /// and what the worker's initializer set up, if the pool has one (`with SETUP`).
    pub output: Option<String>,
    /// The name of the thread that ran it, when its pool names its threads as Python does
    /// (a thread pool given a [`thread_name_prefix`](crate::pool::ThreadPoolBuilder::thread_name_prefix)).
    #[serde(skip)]
    pub thread: Option<Arc<str>>,
}

impl TaskValue {
    /// The value as the event log and a program's print-out show it: `LABEL by worker W
    /// (pid P)` (or `LABEL by THREAD (pid P)` for a named thread), then ` -> OUTPUT` if there
    /// is one.
    pub fn describe(&self, label: &str) -> String {
        format!("{label} by {self}")
    }
}

/// `worker W (pid P)` (or `THREAD (pid P)` for a named thread), then ` -> OUTPUT` if there
/// is one.
impl fmt::Display for TaskValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.thread {
            Some(thread) => write!(f, "{thread} (pid {})", self.pid)?,
            None => write!(f, "worker {} (pid {})", self.worker, self.pid)?,
        }
        if let Some(output) = &self.output {
            write!(f, " -> {output}")?;
        }
        Ok(())
    }
}

/// What a pool gives a task spec to run on: the worker's identity, its clock, its CPU (with
/// or without a GIL), the shared queues and the counters of its process.
pub trait TaskEnv {
    /// The worker running the task.
    fn worker(&self) -> WorkerId;
    /// The process running the task.
    fn pid(&self) -> u32;
    /// Waits without using the CPU.
    fn sleep(&self, duration: Duration);
    /// Runs `work` as CPU-bound code: on a GIL pool, while holding the GIL, with the switch
    /// point called between slices. `work` returns true when it is finished.
    fn cpu(&self, work: &mut dyn FnMut() -> bool);
    /// Puts an item on a shared queue.
    fn queue_put(&self, queue: &str, item: String) -> Result<(), String>;
    /// Takes an item from a shared queue, waiting for one.
    fn queue_get(&self, queue: &str) -> Result<String, String>;
    /// The counters and locks of the process running the task: a thread pool's own (which
    /// the main program reads), or a worker process's.
    fn counters(&self) -> &SharedCounters;
    /// Crashes the worker: aborts a worker process; panics elsewhere.
    fn crash(&self) -> !;
    /// The name of the worker's thread, when its pool names threads as Python does.
    fn thread(&self) -> Option<&Arc<str>> {
        None
    }
    /// What the pool's initializer set up on this worker (`LABEL of WORKER`), which every
    /// task reports (`with SETUP`); `None` without an initializer.
    fn setup(&self) -> Option<&str> {
        None
    }
    /// True in a simulated run (`--virtual-time`): CPU-bound work then takes virtual time
    /// through [`TaskEnv::cpu_time`] instead of doing its arithmetic for real.
    fn simulated(&self) -> bool {
        false
    }
    /// Simulated runs: holds a simulated core (and the GIL, on a GIL pool) for `duration`
    /// of CPU time (see [`crate::pool::sim::cpu`]).
    fn cpu_time(&self, duration: Duration) {
        crate::pool::sync::cpu(duration);
    }
}

/// What one square of `sum_squares` costs in a simulated run: about what it costs for real.
pub const SIMULATED_SQUARE: Duration = Duration::from_nanos(2);

/// The virtual time a task takes in a simulated run before its last act (returning, raising,
/// crashing, or taking its item from a queue).
pub fn simulated_cost(spec: &TaskSpec) -> Duration {
    match spec.work {
        Work::SumSquares { n } => SIMULATED_SQUARE.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => spec.duration,
    }
}

fn sum_squares(n: u64) -> u128 {
    (0..n).fold(0u128, |sum, i| sum.wrapping_add(u128::from(black_box(i)) * u128::from(i)))
}

/// Runs a task spec. `Err` is the message the task raised. A worker whose initializer set
/// something up ([`TaskEnv::setup`]) adds it to the output: `with SETUP`.
pub fn run_spec(spec: &TaskSpec, env: &dyn TaskEnv) -> Result<TaskValue, String> {
    let mut value = run_work(spec, env)?;
    if let Some(setup) = env.setup() {
        value.output = Some(match value.output {
            Some(output) => format!("{output}, with {setup}"),
            None => format!("with {setup}"),
        });
    }
    Ok(value)
}

/// What the spec's work computes, without the worker's setup.
fn run_work(spec: &TaskSpec, env: &dyn TaskEnv) -> Result<TaskValue, String> {
    let value = |output| TaskValue { worker: env.worker(), pid: env.pid(), output, thread: env.thread().cloned() };
    match &spec.work {
        Work::Noop => {
            if !spec.duration.is_zero() {
                env.sleep(spec.duration);
            }
            Ok(value(None))
        }
        Work::Sleep => {
            env.sleep(spec.duration);
            Ok(value(None))
        }
        Work::Spin if env.simulated() => {
            env.cpu_time(spec.duration);
            Ok(value(None))
        }
        Work::SumSquares { n } if env.simulated() => {
            let sum = sum_squares(*n);
            env.cpu_time(simulated_cost(spec));
            Ok(value(Some(sum.to_string())))
        }
        Work::Spin => {
            let mut left = spin_iterations(spec.duration);
            let mut acc = 0u64;
            env.cpu(&mut || {
                let slice = left.min(SLICE_ITERATIONS);
                acc = acc.wrapping_add(spin_kernel(slice, acc));
                left -= slice;
                left == 0
            });
            black_box(acc);
            Ok(value(None))
        }
        Work::SumSquares { n } => {
            let n = *n;
            let (mut i, mut sum) = (0u64, 0u128);
            env.cpu(&mut || {
                let end = n.min(i.saturating_add(SLICE_ITERATIONS));
                while i < end {
                    sum = sum.wrapping_add(u128::from(black_box(i)) * u128::from(i));
                    i += 1;
                }
                i >= n
            });
            Ok(value(Some(sum.to_string())))
        }
        Work::Fail { message } => {
            env.sleep(spec.duration);
            Err(message.clone())
        }
        Work::Crash => {
            env.sleep(spec.duration);
            env.crash()
        }
        Work::QueuePut { queue, item } => {
            env.sleep(spec.duration);
            env.queue_put(queue, item.clone())?;
            Ok(value(Some(format!("put {item:?} on {queue}"))))
        }
        Work::QueueGet { queue } => {
            env.sleep(spec.duration);
            let item = env.queue_get(queue)?;
            Ok(value(Some(format!("got {item:?} from {queue}"))))
        }
        Work::Increment { counter, lock } => {
            let counters = env.counters();
            let held = lock.as_deref().map(|lock| counters.lock(lock));
            let seen = counters.get(counter);
            // The switch can fall here: another task reads the same value.
            env.sleep(spec.duration);
            let wrote = seen.wrapping_add(1);
            counters.set(counter, wrote);
            drop(held);
            Ok(value(Some(increment_output(seen, wrote))))
        }
    }
}

/// What an `increment` returns: `read 0, wrote 1`.
pub fn increment_output(seen: i64, wrote: i64) -> String {
    format!("read {seen}, wrote {wrote}")
}

/// Iterations of the spin kernel between GIL switch points (tens of microseconds).
const SLICE_ITERATIONS: u64 = 20_000;

/// Real arithmetic that the optimiser cannot remove: an xorshift chain.
pub fn spin_kernel(iterations: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    x
}

static SPIN_RATE: AtomicU64 = AtomicU64::new(0);
static CALIBRATED: OnceLock<u64> = OnceLock::new();

/// Spin-kernel iterations per millisecond on one free core, measured once per process
/// (or set by the parent in worker processes, so every worker does the same work).
pub fn spin_rate_per_ms() -> u64 {
    let set = SPIN_RATE.load(Ordering::Relaxed);
    if set != 0 {
        return set;
    }
    *CALIBRATED.get_or_init(|| {
        // Best of several short runs: the least disturbed one is closest to a free core.
        let probe = 200_000u64;
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            black_box(spin_kernel(probe, 7));
            best = best.min(started.elapsed());
        }
        let per_ms = probe as f64 / (best.as_secs_f64() * 1000.0);
        (per_ms as u64).max(1)
    })
}

/// Makes this process use `per_ms` instead of measuring its own rate.
pub fn set_spin_rate_per_ms(per_ms: u64) {
    SPIN_RATE.store(per_ms, Ordering::Relaxed);
}

/// Iterations of the spin kernel that take `duration` on one free core.
pub fn spin_iterations(duration: Duration) -> u64 {
    (spin_rate_per_ms() as f64 * duration.as_secs_f64() * 1000.0) as u64
}
