//! Errors of the executor API.

use std::fmt;

/// Why a future holds no value: the Rust spelling of the exceptions `Future.result()` raises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// The task raised: it returned an error or panicked. The message is what it said.
    Failed(String),
    /// The future was cancelled before it started (`CancelledError`).
    Cancelled,
    /// The wait gave up before the future finished (`TimeoutError`). The task itself goes on.
    Timeout,
    /// The worker process running the task died, or the pool broke or was terminated
    /// before the task could finish (`BrokenProcessPool`). The message is the exception's.
    WorkerDied(String),
    /// The pool was shut down, terminated or broken before the task could run.
    PoolShutdown,
    /// A thread pool broke before the task could run: a worker thread's initializer raised
    /// (`BrokenThreadPool`). The message is the exception's.
    BrokenThreadPool(String),
    /// The task could not be sent to a worker process: Python pickles a task's arguments, and
    /// a plain `multiprocessing.Queue` refuses to be pickled (`RuntimeError`, message
    /// [`QUEUE_NOT_INHERITED`]). It never ran.
    NotSent(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(msg) => write!(f, "task failed: {msg}"),
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Timeout => f.write_str("timed out waiting for the task"),
            TaskError::WorkerDied(why) => f.write_str(why),
            TaskError::PoolShutdown => f.write_str("the pool shut down before the task ran"),
            TaskError::BrokenThreadPool(why) | TaskError::NotSent(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TaskError {}

impl TaskError {
    /// The name of the Python exception a `concurrent.futures` program would see.
    pub fn python_name(&self) -> &'static str {
        match self {
            TaskError::Failed(_) => "Exception",
            TaskError::Cancelled => "CancelledError",
            TaskError::Timeout => "TimeoutError",
            TaskError::WorkerDied(_) => "BrokenProcessPool",
            TaskError::PoolShutdown => "RuntimeError",
            TaskError::BrokenThreadPool(_) => "BrokenThreadPool",
            TaskError::NotSent(_) => "RuntimeError",
        }
    }
}

/// The message of the `BrokenProcessPool` a `ProcessPoolExecutor`'s futures fail with when a
/// worker process dies: every future not finished gets it.
pub const BROKEN_FUTURE: &str =
    "A process in the process pool was terminated abruptly while the future was running or pending.";

/// The message of the `BrokenProcessPool` a broken `ProcessPoolExecutor` refuses submits with.
pub const BROKEN_POOL: &str = "A child process terminated abruptly, the process pool is not usable anymore";

/// The message of the `BrokenThreadPool` a `ThreadPoolExecutor` whose initializer raised
/// fails its queued futures with, and refuses submits with.
pub const BROKEN_THREAD_POOL: &str = "A thread initializer failed, the thread pool is not usable anymore";

/// What pickling a plain `multiprocessing.Queue` raises (`RuntimeError`): the error of a task
/// handed such a queue on a process pool.
pub const QUEUE_NOT_INHERITED: &str = "Queue objects should only be shared between processes through inheritance";

/// A submission the pool refused. The job is handed back so nothing is lost.
#[derive(Clone, PartialEq, Eq)]
pub enum SubmitError<J> {
    /// `shutdown()` or `close()` was called: "cannot schedule new futures after shutdown".
    Shutdown(J),
    /// A process worker died and the pool broke (`BrokenProcessPool`).
    Broken(J),
    /// A worker thread's initializer raised and the thread pool broke (`BrokenThreadPool`).
    BrokenThreadPool(J),
}

impl<J> SubmitError<J> {
    /// Takes the refused job back.
    pub fn into_inner(self) -> J {
        match self {
            SubmitError::Shutdown(job) | SubmitError::Broken(job) | SubmitError::BrokenThreadPool(job) => job,
        }
    }
}

impl<J> fmt::Debug for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Shutdown(_) => f.write_str("Shutdown(..)"),
            SubmitError::Broken(_) => f.write_str("Broken(..)"),
            SubmitError::BrokenThreadPool(_) => f.write_str("BrokenThreadPool(..)"),
        }
    }
}

impl<J> fmt::Display for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Shutdown(_) => f.write_str("cannot schedule new futures after shutdown"),
            SubmitError::Broken(_) => f.write_str(BROKEN_POOL),
            SubmitError::BrokenThreadPool(_) => f.write_str(BROKEN_THREAD_POOL),
        }
    }
}

impl<J> std::error::Error for SubmitError<J> {}

/// The result of a finished task.
pub type TaskResult<T> = Result<T, TaskError>;

/// A pool operation that makes no sense in the pool's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// `join()` before `close()` or `terminate()` (Python: `ValueError: Pool is still running`).
    StillRunning,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::StillRunning => f.write_str("pool is still running: call close() or terminate() first"),
        }
    }
}

impl std::error::Error for PoolError {}
