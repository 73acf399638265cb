//! [`Builder`]: configures a pool. The options every kind takes live here once; a kind's own
//! options are its `K` ([`super::thread::ThreadOptions`], [`super::coroutine::LoopOptions`],
//! [`super::process::ProcessOptions`]), each with its own `build`.

use std::fmt;
use std::sync::Arc;

use super::counters::SharedCounters;
use super::probe::Probe;
use super::queues::SharedQueues;

/// Configures a pool of the kind `K` says; see [`super::ThreadPoolBuilder`],
/// [`super::CoroutinePoolBuilder`] and [`super::ProcessPoolBuilder`].
pub struct Builder<K> {
    pub(crate) probe: Option<Arc<dyn Probe>>,
    pub(crate) queues: Option<Arc<SharedQueues>>,
    pub(crate) counters: Option<Arc<SharedCounters>>,
    pub(crate) workers: Option<usize>,
    pub(crate) eager: bool,
    pub(crate) kind: K,
}

/// A pool kind with a number of workers to choose (threads, processes; not the one loop).
pub trait HasWorkers {}

/// A pool kind whose tasks run in the process that builds it (threads, coroutines), and so
/// share its memory; a worker process has its own.
pub trait SharesMemory {}

impl<K: Default> Default for Builder<K> {
    fn default() -> Self {
        Builder { probe: None, queues: None, counters: None, workers: None, eager: false, kind: K::default() }
    }
}

impl<K> Builder<K> {
    /// Report events to `probe`.
    pub fn probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Share these named queues with the tasks (`queue_put` / `queue_get`).
    pub fn queues(mut self, queues: Arc<SharedQueues>) -> Self {
        self.queues = Some(queues);
        self
    }
}

impl<K: SharesMemory> Builder<K> {
    /// Share these named counters and locks with the tasks (`increment`), as the threads
    /// of a Python program share its globals. Default: a set of the pool's own.
    pub fn counters(mut self, counters: Arc<SharedCounters>) -> Self {
        self.counters = Some(counters);
        self
    }
}

impl<K: HasWorkers> Builder<K> {
    /// The number of workers (at least 1). Default: `min(32, cpus + 4)` threads, as
    /// `ThreadPoolExecutor`; one process per CPU, as `ProcessPoolExecutor`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Start every worker now. Default: lazily, one per submit that finds no idle worker,
    /// as `ThreadPoolExecutor` does.
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = eager;
        self
    }
}

impl<K: fmt::Debug> fmt::Debug for Builder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("eager", &self.eager)
            .field("probe", &self.probe.is_some())
            .field("kind", &self.kind)
            .finish()
    }
}
