//! The pools: real workers with the API of Python's `concurrent.futures` and
//! `multiprocessing.Pool`, instrumented so every step can be watched.
//!
//! Nothing here depends on the terminal UI; the library stands on its own.
//!
//! - [`ThreadPool`]: N worker threads fed from one queue, with an optional simulated GIL.
//! - [`Future`]: `done`, `running`, `cancel`, `result(timeout)`, `add_done_callback`, ...
//! - [`as_completed`], [`wait()`], [`MapIter`]: the module-level functions and `map`.
//! - [`probe`]: the events a pool reports, for viewers and logs.
//! - [`task`]: task specs, work described as data (what scenarios and process workers run).

pub mod builder;
pub mod coroutine;
pub mod counters;
pub mod error;
pub mod executor;
mod front;
pub mod future;
pub mod gil;
mod job;
pub mod map;
pub mod probe;
pub mod process;
pub mod queues;
mod relay;
pub mod sim;
mod sync;
pub mod task;
pub mod thread;
mod tsc;
pub mod wait;

pub use coroutine::{CoroutinePool, CoroutinePoolBuilder};
pub use counters::SharedCounters;
pub use error::{PoolError, SubmitError, TaskError, TaskResult};
pub use executor::{Executor, PoolKind};
pub use front::Pool;
pub use future::{Future, panic_is_caught};
pub use map::{MapIter, MapOptions, Unordered};
pub use probe::{ChannelProbe, DownReason, Event, EventKind, GilChange, Outcome, Phase, Probe, TaskId, WorkerId};
pub use process::{OnWorkerDeath, ProcessPool, ProcessPoolBuilder, StartMethod};
pub use queues::SharedQueues;
pub use task::{TaskSpec, TaskValue, Work};
pub use thread::{InitializerFailure, ThreadPool, ThreadPoolBuilder, default_thread_workers};
pub use wait::{AsCompleted, DoneAndNotDone, ReturnWhen, as_completed, wait};

/// The number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
