//! Jobs: what sits in a pool's queue — one task, or a chunk of `map` items run back to back.

use std::sync::{Arc, Mutex};

use super::error::{TaskError, TaskResult};
use super::future::{Erased, Future, Inner};
use super::probe::{TaskId, Telemetry};
use super::relay::Relay;
use super::task::{TaskEnv, TaskSpec, TaskValue, run_spec};

/// How to dispose of a job that will never run.
#[derive(Clone, Debug)]
pub enum Unrun {
    /// `cancel()` its futures (shutdown with `cancel_futures`).
    Cancel,
    /// Fail its futures with this error (terminate, broken pool).
    Abandon(TaskError),
}

/// A unit of queued work.
pub trait Job: Send {
    /// Runs every task of the job on `worker`, completing each future there or, given a
    /// results thread, on it.
    fn run(self: Box<Self>, worker: &dyn TaskEnv, relay: Option<&Relay>);
    /// Disposes of the job without running it.
    fn unrun(self: Box<Self>, how: Unrun);
}

fn dispose<T>(future: &Future<T>, how: &Unrun) {
    match how {
        Unrun::Cancel => {
            future.cancel();
        }
        Unrun::Abandon(error) => {
            future.abandon(error.clone());
        }
    }
}

/// A task submitted on its own: its closure lives in its future's allocation.
pub trait Single: Send + Sync {
    /// Runs the task on `worker`, completing its future there or, given a results thread, on it.
    fn run(self: Arc<Self>, worker: &dyn TaskEnv, relay: Option<&Relay>);
    /// Disposes of the task without running it.
    fn unrun(self: Arc<Self>, how: Unrun);
}

/// The closure of a [`Single`] task, taken out once by the worker that runs it.
pub(crate) struct Closure<T, F> {
    work: Mutex<Option<F>>,
    describe: fn(&T) -> Option<String>,
}

/// A future holding the closure that computes it, and the queue's handle to the same.
pub(crate) fn single<T, F>(
    id: TaskId,
    telemetry: Option<Arc<Telemetry>>,
    work: F,
    describe: fn(&T) -> Option<String>,
) -> (Future<T>, Arc<dyn Single>)
where
    T: Send + 'static,
    F: FnOnce(&dyn TaskEnv) -> TaskResult<T> + Send + 'static,
{
    let inner = Inner::new(id, telemetry, Closure { work: Mutex::new(Some(work)), describe });
    let job: Arc<dyn Single> = inner.clone();
    (Future { inner }, job)
}

impl<T, F> Single for Inner<T, Closure<T, F>>
where
    T: Send + 'static,
    F: FnOnce(&dyn TaskEnv) -> TaskResult<T> + Send + 'static,
{
    fn run(self: Arc<Self>, worker: &dyn TaskEnv, relay: Option<&Relay>) {
        let work = self.work.work.lock().unwrap_or_else(|e| e.into_inner()).take();
        let describe = self.work.describe;
        let future = Future { inner: self as Arc<Inner<T, Erased>> };
        if let Some(work) = work {
            future.run(worker.worker(), worker.pid(), || work(worker), describe, relay);
        }
    }

    fn unrun(self: Arc<Self>, how: Unrun) {
        let future = Future { inner: self as Arc<Inner<T, Erased>> };
        dispose(&future, &how);
    }
}

/// Consecutive `map` items that one worker runs back to back (`chunksize`), each with its own
/// future so results still come out one by one.
pub(crate) struct Chunk<I, R, F> {
    pub(crate) function: Arc<F>,
    pub(crate) items: Vec<(Future<R>, I)>,
}

impl<I, R, F> Job for Chunk<I, R, F>
where
    I: Send + 'static,
    R: Send + 'static,
    F: Fn(I) -> R + Send + Sync + 'static,
{
    fn run(self: Box<Self>, worker: &dyn TaskEnv, relay: Option<&Relay>) {
        for (future, item) in self.items {
            future.run(worker.worker(), worker.pid(), || Ok((self.function)(item)), |_| None, relay);
        }
    }

    fn unrun(self: Box<Self>, how: Unrun) {
        for (future, _) in &self.items {
            dispose(future, &how);
        }
    }
}

/// Task specs run back to back by one worker (a chunk of one for `submit`).
pub(crate) struct Specs {
    pub(crate) tasks: Vec<(Future<TaskValue>, TaskSpec)>,
}

impl Job for Specs {
    fn run(self: Box<Self>, worker: &dyn TaskEnv, relay: Option<&Relay>) {
        for (future, spec) in self.tasks {
            future.run(
                worker.worker(),
                worker.pid(),
                || run_spec(&spec, worker).map_err(TaskError::Failed),
                |value| Some(value.describe(&spec.label)),
                relay,
            );
        }
    }

    fn unrun(self: Box<Self>, how: Unrun) {
        for (future, _) in &self.tasks {
            dispose(future, &how);
        }
    }
}
