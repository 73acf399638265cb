//! The interface every pool shares, so the scenario runner and the UI drive a thread,
//! process or coroutine pool the same way.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{PoolError, SubmitError};
use super::future::Future;
use super::queues::SharedQueues;
use super::task::{TaskSpec, TaskValue};

/// The kinds of pool. Serialised as in scenario files and the event log: `thread`,
/// `process`, `coroutine`, `dask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    /// Worker threads in this process.
    Thread,
    /// Worker processes.
    Process,
    /// One thread running cooperative tasks.
    Coroutine,
    /// A Dask cluster's worker threads, reached through `Client.get_executor()`: CPython's
    /// engine only (poolscope has no Dask pool of its own).
    Dask,
}

impl PoolKind {
    /// `"thread"`, `"process"`, `"coroutine"` or `"dask"`.
    pub fn named(name: &str) -> Option<PoolKind> {
        match name {
            "thread" => Some(PoolKind::Thread),
            "process" => Some(PoolKind::Process),
            "coroutine" => Some(PoolKind::Coroutine),
            "dask" => Some(PoolKind::Dask),
            _ => None,
        }
    }

    /// `thread`, `process`, `coroutine` or `dask`, as in scenario files and the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolKind::Thread => "thread",
            PoolKind::Process => "process",
            PoolKind::Coroutine => "coroutine",
            PoolKind::Dask => "dask",
        }
    }
}

impl fmt::Display for PoolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pool that runs [`TaskSpec`]s: what a scenario drives. `map`, `as_completed` and `wait`
/// work on the futures it returns ([`crate::pool::MapIter`], [`crate::pool::as_completed`],
/// [`crate::pool::wait()`]).
pub trait Executor: Send + Sync + fmt::Debug {
    /// Which kind of pool this is.
    fn kind(&self) -> PoolKind;

    /// True for a thread pool simulating the GIL.
    fn has_gil(&self) -> bool {
        false
    }

    /// Schedules specs in chunks of `chunksize` consecutive specs, each chunk run by one
    /// worker; one future per spec, in order.
    ///
    /// # Errors
    /// The specs handed back if the pool takes no new work (shut down, or broken).
    fn submit_tasks(
        &self,
        specs: Vec<TaskSpec>,
        chunksize: usize,
    ) -> Result<Vec<Future<TaskValue>>, SubmitError<Vec<TaskSpec>>>;

    /// Schedules one spec.
    ///
    /// # Errors
    /// The spec handed back if the pool takes no new work.
    fn submit_spec(&self, spec: TaskSpec) -> Result<Future<TaskValue>, SubmitError<TaskSpec>> {
        match self.submit_tasks(vec![spec], 1) {
            Ok(mut futures) => Ok(futures.remove(0)),
            Err(SubmitError::Shutdown(mut specs)) => Err(SubmitError::Shutdown(specs.remove(0))),
            Err(SubmitError::Broken(mut specs)) => Err(SubmitError::Broken(specs.remove(0))),
            Err(SubmitError::BrokenThreadPool(mut specs)) => Err(SubmitError::BrokenThreadPool(specs.remove(0))),
        }
    }

    /// Grows or shrinks the pool while it runs.
    fn set_workers(&self, n: usize);

    /// The pool's size.
    fn workers(&self) -> usize;

    /// `Executor.shutdown(wait, cancel_futures)`.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// `Pool.terminate()`.
    fn terminate(&self);

    /// `Pool.join()`.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] before `close` / `shutdown` / `terminate`.
    fn join(&self) -> Result<(), PoolError>;

    /// The named queues its tasks share.
    fn queues(&self) -> &Arc<SharedQueues>;
}
