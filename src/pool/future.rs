//! [`Future`]: the handle to a task's eventual outcome, as in `concurrent.futures.Future`.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::error::{TaskError, TaskResult};
use super::probe::{EventKind, Outcome, TaskId, Telemetry, WorkerId};
use super::relay::Relay;
use super::sync::{self, Condvar};

// The life of a future. PENDING -> RUNNING -> FINISHED, or PENDING -> CANCELLED.
// A terminal state is only ever stored together with the outcome, under the slot lock.
const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;
const CANCELLED: u8 = 3;

type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send + 'static>;

/// A `wait` / `as_completed` call watching a future: its channel, and the future's index there.
type Watcher = (Sender<usize>, usize);

/// The eventual outcome of a task submitted to a pool.
///
/// Cloning gives another handle to the same future. Every method is safe to call from any
/// thread, including from inside a done-callback.
///
/// # Examples
/// ```
/// use poolscope::pool::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::new(2);
/// let future = pool.submit(|| 6 * 7).unwrap();
/// assert_eq!(future.result(Some(Duration::from_secs(5))), Ok(42));
/// assert!(future.done());
/// assert!(!future.cancel(), "a finished future cannot be cancelled");
/// ```
pub struct Future<T> {
    pub(crate) inner: Arc<Inner<T, Erased>>,
}

/// What a future's allocation carries after its state: the task's closure, for tasks
/// submitted one by one (so a task costs one allocation, freed by whoever drops the last
/// handle — usually the submitter — rather than one per thread), or nothing.
pub(crate) type Erased = dyn std::any::Any + Send + Sync;

pub(crate) struct Inner<T, W: ?Sized> {
    id: TaskId,
    state: AtomicU8,
    slot: Mutex<Slot<T>>,
    telemetry: Option<Arc<Telemetry>>,
    pub(crate) work: W,
}

struct Slot<T> {
    outcome: Option<TaskResult<T>>,
    /// Callbacks, watchers and blocked callers, while there are any and the future is not
    /// done: boxed, so a done future (a named batch may hold a million) carries one empty
    /// pointer for them.
    waiting: Option<Box<Waiting<T>>>,
}

/// What runs or is told when a future is done.
struct Waiting<T> {
    callbacks: Vec<Callback<T>>,
    /// `wait` / `as_completed` calls watching this future: (their channel, our index there).
    watchers: Vec<Watcher>,
    /// What threads blocked in `result()` wait on, made by the first of them (most futures
    /// never have one); the finisher notifies it. Shared, so a sleeper keeps it while the
    /// finisher takes the rest away.
    finished: Option<Arc<Condvar>>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting { callbacks: Vec::new(), watchers: Vec::new(), finished: None }
    }
}

impl<T> Slot<T> {
    fn waiting(&mut self) -> &mut Waiting<T> {
        self.waiting.get_or_insert_default()
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future").field("task", &self.inner.id).field("state", &self.state_name()).finish()
    }
}

impl<T> Future<T> {
    pub(crate) fn new(id: TaskId, telemetry: Option<Arc<Telemetry>>) -> Future<T>
    where
        T: 'static,
    {
        Future { inner: Inner::new(id, telemetry, ()) }
    }

    /// A future that finished with `outcome` and was never queued: the same answers, events
    /// and callbacks as the future of a task that ended so, for a holder that kept only the
    /// outcome of one (a list of a million futures, see `scenario::future_list`).
    pub(crate) fn finished(id: TaskId, telemetry: Option<Arc<Telemetry>>, outcome: TaskResult<T>) -> Future<T>
    where
        T: 'static,
    {
        let inner = Inner::new(id, telemetry, ());
        inner.lock().outcome = Some(outcome);
        inner.state.store(FINISHED, Ordering::Release);
        Future { inner }
    }

    /// The task's id: its place in the pool's submission order, from 0.
    pub fn id(&self) -> TaskId {
        self.inner.id
    }

    /// Where the future reports its events (`None`: nowhere).
    pub(crate) fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.inner.telemetry.as_ref()
    }

    /// `read` of the outcome of a future that finished (not cancelled); `None` if it has not,
    /// or if it was cancelled.
    pub(crate) fn read_finished<R>(&self, read: impl FnOnce(&TaskResult<T>) -> Option<R>) -> Option<R> {
        if self.inner.state.load(Ordering::Acquire) != FINISHED {
            return None;
        }
        self.inner.lock().outcome.as_ref().and_then(read)
    }

    /// `pending`, `running`, `finished` or `cancelled`.
    pub fn state_name(&self) -> &'static str {
        match self.inner.state.load(Ordering::Acquire) {
            PENDING => "pending",
            RUNNING => "running",
            FINISHED => "finished",
            _ => "cancelled",
        }
    }

    /// True once the task finished (with a value or an error) or was cancelled.
    pub fn done(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) >= FINISHED
    }

    /// True while a worker is running the task.
    pub fn running(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == RUNNING
    }

    /// True if the future was cancelled.
    pub fn cancelled(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == CANCELLED
    }

    /// Cancels the task if it has not started. Returns true if the future is (now) cancelled,
    /// false if it is running or finished — as `Future.cancel()`.
    pub fn cancel(&self) -> bool {
        let mut slot = self.inner.lock();
        // One atomic step, so a worker starting the task at this moment either wins (the
        // cancel fails) or loses (the task never runs).
        let (ok, newly) =
            match self.inner.state.compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    slot.outcome = Some(Err(TaskError::Cancelled));
                    (true, true)
                }
                Err(actual) => (actual == CANCELLED, false),
            };
        let fired = if newly { Some(self.inner.take_on_finish(slot)) } else { None };
        if let Some(telemetry) = &self.inner.telemetry {
            telemetry.emit(EventKind::Cancel { task: self.inner.id, ok });
        }
        if let Some(waiting) = fired {
            self.fire(waiting);
        }
        ok
    }

    /// Waits for the outcome: the value, or why there is none. `None` waits for ever.
    ///
    /// # Errors
    /// The task's own error ([`TaskError::Failed`], [`TaskError::WorkerDied`],
    /// [`TaskError::PoolShutdown`]), [`TaskError::Cancelled`], or [`TaskError::Timeout`] when
    /// `timeout` passes first (the task goes on).
    pub fn result(&self, timeout: Option<Duration>) -> TaskResult<T>
    where
        T: Clone,
    {
        let slot = self.wait_finished(timeout)?;
        slot.outcome.clone().expect("a finished future holds its outcome")
    }

    /// Waits for the task, then returns its error, or `None` if it succeeded.
    ///
    /// # Errors
    /// [`TaskError::Cancelled`] if it was cancelled, [`TaskError::Timeout`] if `timeout` passes.
    pub fn exception(&self, timeout: Option<Duration>) -> Result<Option<TaskError>, TaskError> {
        let slot = self.wait_finished(timeout)?;
        match slot.outcome.as_ref().expect("a finished future holds its outcome") {
            Ok(_) => Ok(None),
            Err(TaskError::Cancelled) => Err(TaskError::Cancelled),
            Err(e) => Ok(Some(e.clone())),
        }
    }

    /// The outcome if the future is done, without waiting.
    pub fn try_result(&self) -> Option<TaskResult<T>>
    where
        T: Clone,
    {
        self.inner.lock().outcome.clone()
    }

    /// Adds a callback that runs once the future is done, with the future as argument.
    ///
    /// Callbacks run once each, in the order they were added, on the thread that completes the
    /// future (a worker, or the thread that cancels it). Added to a future that is already
    /// done, the callback runs at once on the caller's thread. A panicking callback is caught
    /// and reported (a `Callback` event with `panicked`, or stderr without a probe); the
    /// pool and the other callbacks carry on.
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(&Future<T>) + Send + 'static,
    {
        let mut slot = self.inner.lock();
        if slot.outcome.is_none() {
            let callbacks = &mut slot.waiting().callbacks;
            if callbacks.capacity() == 0 {
                // Room for one, not the four a first push makes: most futures get one
                // callback, and a queue may hold a hundred thousand of them.
                callbacks.reserve_exact(1);
            }
            callbacks.push(Box::new(callback));
            return;
        }
        drop(slot);
        self.run_callback(Box::new(callback));
    }

    /// True if both handles point to the same future.
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// True if the task finished by raising (not by being cancelled).
    pub(crate) fn raised(&self) -> bool {
        matches!(self.inner.lock().outcome, Some(Err(ref e)) if *e != TaskError::Cancelled)
    }

    /// Waits for the outcome and takes it out. Only for futures nobody else can see
    /// (`map`'s own), since it leaves the future without an outcome.
    pub(crate) fn take(&self, timeout: Option<Duration>) -> TaskResult<T> {
        let mut slot = self.wait_finished(timeout)?;
        slot.outcome.take().unwrap_or(Err(TaskError::Cancelled))
    }

    /// Asks to be told (`tx.send(index)`) when the future is done. Returns false, and registers
    /// nothing, if it already is.
    pub(crate) fn watch(&self, tx: &Sender<usize>, index: usize) -> bool {
        let mut slot = self.inner.lock();
        if slot.outcome.is_some() {
            return false;
        }
        let watchers = &mut slot.waiting().watchers;
        if watchers.capacity() == 0 {
            // Room for one, as for callbacks: `as_completed` over a million may watch the
            // hundred thousand still queued.
            watchers.reserve_exact(1);
        }
        watchers.push((tx.clone(), index));
        true
    }

    /// Forgets the watcher registered with `tx` (a `wait` / `as_completed` that returned
    /// or was dropped before this future finished), so a long-lived future does not keep one
    /// per call, as CPython's `f._waiters.remove(waiter)`.
    pub(crate) fn unwatch(&self, tx: &Sender<usize>) {
        if let Some(waiting) = &mut self.inner.lock().waiting {
            waiting.watchers.retain(|(watcher, _)| !watcher.same_channel(tx));
        }
    }

    fn wait_finished(&self, timeout: Option<Duration>) -> Result<MutexGuard<'_, Slot<T>>, TaskError> {
        let deadline = timeout.map(|t| sync::now() + t);
        let mut slot = self.inner.lock();
        if slot.outcome.is_some() {
            return Ok(slot);
        }
        let condvar = Arc::clone(slot.waiting().finished.get_or_insert_default());
        let finished = |slot: &mut Slot<T>| slot.outcome.is_some().then_some(());
        let (slot, waited) = condvar.wait_until(&self.inner.slot, slot, deadline, finished);
        waited.map(|()| slot).map_err(|sync::TimedOut| TaskError::Timeout)
    }

    fn fire(&self, waiting: Option<Box<Waiting<T>>>) {
        let Waiting { callbacks, watchers, finished: _ } = waiting.map(|w| *w).unwrap_or_default();
        let watched = !watchers.is_empty();
        for (tx, index) in watchers {
            // A watcher that gave up (timed out) has dropped its receiver: nothing to tell.
            let _ = tx.send(index);
        }
        if watched {
            super::wait::WATCHERS.ring_all();
        }
        for callback in callbacks {
            self.run_callback(callback);
        }
    }

    fn run_callback(&self, callback: Callback<T>) {
        let panicked = catching(|| callback(self)).err().map(|p| panic_message(&*p));
        match &self.inner.telemetry {
            Some(telemetry) => telemetry.emit(EventKind::Callback {
                task: self.inner.id,
                thread: std::thread::current().name().unwrap_or("unnamed").to_string(),
                panicked,
            }),
            None => {
                if let Some(msg) = panicked {
                    eprintln!("poolscope: exception calling callback for task {}: {msg}", self.inner.id);
                }
            }
        }
    }

    /// Marks the task running if it is still pending (`set_running_or_notify_cancel`).
    /// Returns false if it was cancelled or abandoned: the worker must skip it.
    pub(crate) fn begin(&self) -> bool {
        self.inner.state.compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Stores the outcome of a task that ran, wakes waiters, runs callbacks.
    pub(crate) fn finish(&self, outcome: TaskResult<T>) {
        let mut slot = self.inner.lock();
        if slot.outcome.is_some() {
            // Only a task that `begin()` let through gets here, so this cannot happen; if it
            // ever did, keeping the first outcome beats killing the worker.
            return;
        }
        slot.outcome = Some(outcome);
        self.inner.state.store(FINISHED, Ordering::Release);
        let waiting = self.inner.take_on_finish(slot);
        self.fire(waiting);
    }

    /// Fails a task that never ran (pool terminated or broken). Returns false if it had
    /// already started or ended.
    pub(crate) fn abandon(&self, error: TaskError) -> bool {
        let mut slot = self.inner.lock();
        if self.inner.state.compare_exchange(PENDING, FINISHED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return false;
        }
        slot.outcome = Some(Err(error));
        let waiting = self.inner.take_on_finish(slot);
        if let Some(telemetry) = &self.inner.telemetry {
            telemetry.emit(EventKind::Abandon { task: self.inner.id, error: None });
        }
        self.fire(waiting);
        true
    }

    /// Runs a task for a worker: marks it running (or skips it if it was cancelled), reports
    /// start and finish, turns a panic into [`TaskError::Failed`], completes the future —
    /// on the pool's results thread when it has one. `describe` renders the value for the
    /// event log. Returns false if the task was skipped.
    pub(crate) fn run(
        &self,
        worker: WorkerId,
        pid: u32,
        work: impl FnOnce() -> TaskResult<T>,
        describe: impl FnOnce(&T) -> Option<String>,
        relay: Option<&Relay>,
    ) -> bool
    where
        T: Send + 'static,
    {
        if !self.begin() {
            return false;
        }
        if let Some(telemetry) = &self.inner.telemetry {
            telemetry.started(self.inner.id, worker, pid);
        }
        let outcome = match catching(work) {
            Ok(outcome) => outcome,
            Err(payload) => Err(TaskError::Failed(format!("panicked: {}", panic_message(&*payload)))),
        };
        if let Some(telemetry) = &self.inner.telemetry {
            telemetry.finished(self.inner.id, worker, &outcome, describe);
        }
        match relay {
            Some(relay) => {
                let future = self.clone();
                relay.run(move || future.finish(outcome));
            }
            None => self.finish(outcome),
        }
        true
    }
}

/// The `Finish` event for an outcome.
pub(crate) fn finish_event<T>(
    task: TaskId,
    worker: WorkerId,
    outcome: &TaskResult<T>,
    describe: impl FnOnce(&T) -> Option<String>,
) -> EventKind {
    match outcome {
        Ok(value) => EventKind::Finish { task, worker, outcome: Outcome::Ok, value: describe(value), error: None },
        Err(e) => EventKind::Finish {
            task,
            worker,
            outcome: if matches!(e, TaskError::WorkerDied(_)) { Outcome::Crashed } else { Outcome::Error },
            value: None,
            error: Some(match e {
                TaskError::Failed(msg) => msg.clone(),
                other => other.to_string(),
            }),
        },
    }
}

impl<T, W> Inner<T, W> {
    /// A pending future's state with `work` in the same allocation.
    pub(crate) fn new(id: TaskId, telemetry: Option<Arc<Telemetry>>, work: W) -> Arc<Inner<T, W>> {
        Arc::new(Inner {
            id,
            state: AtomicU8::new(PENDING),
            slot: Mutex::new(Slot { outcome: None, waiting: None }),
            telemetry,
            work,
        })
    }
}

impl<T, W: ?Sized> Inner<T, W> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic never happens while the lock is held (callbacks run outside it), but a
        // poisoned lock still holds consistent data: recover rather than spread the panic.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes what must run once the outcome is stored, and wakes sleepers; releases the lock.
    fn take_on_finish(&self, mut slot: MutexGuard<'_, Slot<T>>) -> Option<Box<Waiting<T>>> {
        let waiting = slot.waiting.take();
        drop(slot);
        if let Some(finished) = waiting.as_ref().and_then(|w| w.finished.as_ref()) {
            finished.notify_all();
        }
        waiting
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

thread_local! {
    /// How deep this thread is in tasks and callbacks whose panics the pool catches.
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True on a thread running a task or a done-callback whose panic the pool catches and
/// reports as the task's error (a crashing task on a thread pool panics on purpose), or a
/// scenario's main program, whose panic the runner reports: a panic hook can stay quiet, and
/// a terminal UI can stay on screen.
pub fn panic_is_caught() -> bool {
    CATCHING.with(|c| c.get() > 0)
}

/// Runs `f`, catching its panic; [`panic_is_caught`] is true meanwhile.
pub(crate) fn catching<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    outcome
}
