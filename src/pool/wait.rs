//! `as_completed` and `wait` over futures of any pool.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::error::TaskError;
use super::future::Future;
use super::sync::{self, Bell};

/// When [`wait`] returns (`FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done (or cancelled).
    FirstCompleted,
    /// As soon as any future raises; if none does, when all are done.
    FirstException,
    /// When all are done.
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: the futures done and not done, each in input order, without
/// duplicates.
#[derive(Debug)]
pub struct DoneAndNotDone<T> {
    /// Finished or cancelled.
    pub done: Vec<Future<T>>,
    /// Still pending or running.
    pub not_done: Vec<Future<T>>,
}

/// The futures without repeats, in input order. A batch may hold a million futures, so the
/// common case (no repeats) is proved with one sorted copy of their addresses rather than a
/// hash set, and the set is built only when there are repeats to drop.
fn distinct<T>(futures: &[Future<T>]) -> Vec<Future<T>> {
    let address = |f: &Future<T>| std::sync::Arc::as_ptr(&f.inner).cast::<()>() as usize;
    let mut addresses: Vec<usize> = futures.iter().map(address).collect();
    addresses.sort_unstable();
    let repeats = addresses.windows(2).any(|w| w[0] == w[1]);
    drop(addresses);
    if !repeats {
        return futures.to_vec();
    }
    let mut seen = std::collections::HashSet::with_capacity(futures.len());
    futures.iter().filter(|f| seen.insert(address(f))).cloned().collect()
}

/// Waits until `return_when` holds or `timeout` passes, as `concurrent.futures.wait`.
///
/// # Examples
/// ```
/// use poolscope::pool::{ThreadPool, ReturnWhen, wait};
///
/// let pool = ThreadPool::new(2);
/// let futures: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
/// let outcome = wait(&futures, None, ReturnWhen::AllCompleted);
/// assert_eq!(outcome.done.len(), 4);
/// assert!(outcome.not_done.is_empty());
/// ```
pub fn wait<T>(futures: &[Future<T>], timeout: Option<Duration>, return_when: ReturnWhen) -> DoneAndNotDone<T> {
    let futures = distinct(futures);
    let deadline = timeout.map(|t| sync::now() + t);
    let satisfied = |futures: &[Future<T>]| {
        let done = futures.iter().filter(|f| f.done()).count();
        match return_when {
            ReturnWhen::FirstCompleted => done > 0 || futures.is_empty(),
            ReturnWhen::FirstException => done == futures.len() || futures.iter().any(|f| f.done() && f.raised()),
            ReturnWhen::AllCompleted => done == futures.len(),
        }
    };
    if !satisfied(&futures) {
        let (tx, rx) = crossbeam_channel::unbounded();
        for (index, future) in futures.iter().enumerate() {
            future.watch(&tx, index);
        }
        while !satisfied(&futures) {
            match sync::recv(&rx, &WATCHERS, deadline) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        for future in &futures {
            future.unwatch(&tx);
        }
    }
    let (done, not_done) = futures.into_iter().partition(|f| f.done());
    DoneAndNotDone { done, not_done }
}

/// What waiters on futures' watcher channels wait on in a simulated run, and what a future
/// rings when it tells its watchers: one bell for them all (a run has one main program; a
/// spurious wake-up only polls again).
pub(crate) static WATCHERS: Bell = Bell::anywhere();

/// Yields the futures as they complete: those already done first, then each as it finishes.
/// Duplicates are yielded once. If `timeout` passes first, yields one
/// `Err(TaskError::Timeout)` and ends. As `concurrent.futures.as_completed`.
///
/// # Examples
/// ```
/// use poolscope::pool::{ThreadPool, as_completed};
///
/// let pool = ThreadPool::new(2);
/// let futures: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let finished: Vec<_> = as_completed(&futures, None).map(|f| f.unwrap().id()).collect();
/// assert_eq!(finished.len(), 3);
/// ```
pub fn as_completed<T>(futures: &[Future<T>], timeout: Option<Duration>) -> AsCompleted<T> {
    AsCompleted::new(futures, timeout)
}

/// The iterator of [`as_completed`].
#[derive(Debug)]
pub struct AsCompleted<T> {
    /// Indices into `pending` of futures already done when the call began, to yield first
    /// (in increasing order).
    finished: VecDeque<usize>,
    /// Every future not yielded yet, at its index among the distinct inputs.
    pending: Vec<Option<Future<T>>>,
    remaining: usize,
    rx: Receiver<usize>,
    /// Identifies our watchers, to remove them from futures we stop watching.
    tx: crossbeam_channel::Sender<usize>,
    deadline: Option<Instant>,
    ended: bool,
}

impl<T> AsCompleted<T> {
    pub(crate) fn new(futures: &[Future<T>], timeout: Option<Duration>) -> AsCompleted<T> {
        let pending: Vec<Option<Future<T>>> = distinct(futures).into_iter().map(Some).collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut finished = VecDeque::new();
        let mut remaining = 0;
        for (index, future) in pending.iter().flatten().enumerate() {
            if future.watch(&tx, index) {
                remaining += 1;
            } else {
                finished.push_back(index);
            }
        }
        AsCompleted { finished, pending, remaining, rx, tx, deadline: timeout.map(|t| sync::now() + t), ended: false }
    }

    /// Stops watching the futures not yielded (one done before the call began has no
    /// watcher of ours, and loses nothing).
    fn unwatch_pending(&self) {
        for future in self.pending.iter().flatten() {
            future.unwatch(&self.tx);
        }
    }

    /// The futures not yielded yet: those done when the call began, then the others in
    /// input order.
    pub fn not_yielded(&self) -> impl Iterator<Item = &Future<T>> {
        let finished = self.finished.iter().filter_map(|&index| self.pending[index].as_ref());
        // `finished` holds indices in increasing order.
        let others = self.pending.iter().enumerate().filter(|(index, _)| self.finished.binary_search(index).is_err());
        finished.chain(others.filter_map(|(_, future)| future.as_ref()))
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        if let Some(future) = self.finished.pop_front().and_then(|index| self.pending[index].take()) {
            return Some(Ok(future));
        }
        while self.remaining > 0 {
            match sync::recv(&self.rx, &WATCHERS, self.deadline) {
                Ok(index) => {
                    if let Some(future) = self.pending.get_mut(index).and_then(Option::take) {
                        self.remaining -= 1;
                        return Some(Ok(future));
                    }
                }
                Err(_) => {
                    self.ended = true;
                    self.unwatch_pending();
                    return Some(Err(TaskError::Timeout));
                }
            }
        }
        None
    }
}

impl<T> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        self.unwatch_pending();
    }
}
