//! `as_completed` and `wait` over futures of any pool.

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

/// For each future, whether it is the first handle to its future in the list (a repeat is
/// not). A batch may hold a million futures, so the common case (no repeats) is proved with
/// one sorted copy of their addresses rather than a hash set, which is built only when there
/// are repeats to find.
fn first_handles<T>(futures: &[Future<T>]) -> Vec<bool> {
    let address = |f: &Future<T>| std::sync::Arc::as_ptr(&f.inner).cast::<()>() as usize;
    let mut addresses: Vec<usize> = futures.iter().map(address).collect();
    addresses.sort_unstable();
    let repeats = addresses.windows(2).any(|w| w[0] == w[1]);
    drop(addresses);
    if !repeats {
        return vec![true; futures.len()];
    }
    let mut seen = std::collections::HashSet::with_capacity(futures.len());
    futures.iter().map(|f| seen.insert(address(f))).collect()
}

/// The futures without repeats, in input order.
fn distinct<T>(futures: &[Future<T>]) -> Vec<Future<T>> {
    futures.iter().zip(first_handles(futures)).filter(|(_, first)| *first).map(|(f, _)| f.clone()).collect()
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
    /// The futures it was given (with their repeats, when handed over by
    /// [`AsCompleted::owning`]), in input order.
    futures: Vec<Future<T>>,
    /// For each of `futures`, whether it is still to be yielded: false once yielded, and
    /// for a repeat of an earlier one.
    left: Vec<bool>,
    /// For each of `futures`, whether it was already done when the call began: those are
    /// yielded first, in input order, from `first_unyielded` on (a flag, not a list of
    /// indices: most of a million futures may be done by then).
    done_at_call: Vec<bool>,
    /// Where the next future done at the call is looked for.
    first_unyielded: usize,
    /// Futures watched and not yielded yet.
    remaining: usize,
    rx: Receiver<usize>,
    /// Identifies our watchers, to remove them from futures we stop watching.
    tx: crossbeam_channel::Sender<usize>,
    deadline: Option<Instant>,
    ended: bool,
}

impl<T> AsCompleted<T> {
    pub(crate) fn new(futures: &[Future<T>], timeout: Option<Duration>) -> AsCompleted<T> {
        AsCompleted::owning(distinct(futures), timeout)
    }

    /// As [`as_completed`], over futures handed over rather than copied; a repeat keeps its
    /// place (and index) but is yielded once.
    pub(crate) fn owning(futures: Vec<Future<T>>, timeout: Option<Duration>) -> AsCompleted<T> {
        let left = first_handles(&futures);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut done_at_call = vec![false; futures.len()];
        let mut remaining = 0;
        for (index, future) in futures.iter().enumerate().filter(|&(index, _)| left[index]) {
            if future.watch(&tx, index) {
                remaining += 1;
            } else {
                done_at_call[index] = true;
            }
        }
        let deadline = timeout.map(|t| sync::now() + t);
        AsCompleted { futures, left, done_at_call, first_unyielded: 0, remaining, rx, tx, deadline, ended: false }
    }

    /// Stops watching the futures not yielded (one done before the call began has no
    /// watcher of ours, and loses nothing).
    fn unwatch_pending(&self) {
        for (future, _) in self.futures.iter().zip(&self.left).filter(|(_, left)| **left) {
            future.unwatch(&self.tx);
        }
    }

    /// Yields `futures[index]` unless it was yielded already or repeats an earlier one.
    fn take(&mut self, index: usize) -> Option<Future<T>> {
        let left = self.left.get_mut(index)?;
        std::mem::replace(left, false).then(|| self.futures[index].clone())
    }

    /// Yields `futures[index]` now if it was done when the call began and is not yielded yet,
    /// for a caller that yields what was done at the call in an order of its own (a list
    /// that keeps some of its finished futures outside the iterator, see
    /// `scenario::future_list`); [`Iterator::next`] then skips it.
    pub(crate) fn take_done_at_call(&mut self, index: usize) -> Option<Future<T>> {
        if *self.done_at_call.get(index)? { self.take(index) } else { None }
    }

    /// The futures not yielded yet: those done when the call began, then the others in
    /// input order.
    pub fn not_yielded(&self) -> impl Iterator<Item = &Future<T>> {
        let left = |index: &usize| self.left[*index];
        let finished = (self.first_unyielded..self.futures.len()).filter(|&index| self.done_at_call[index]);
        let others = (0..self.futures.len()).filter(|&index| !self.done_at_call[index]);
        finished.filter(left).chain(others.filter(left)).map(|index| &self.futures[index])
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        while self.first_unyielded < self.futures.len() {
            let index = self.first_unyielded;
            self.first_unyielded += 1;
            if self.done_at_call[index]
                && let Some(future) = self.take(index)
            {
                return Some(Ok(future));
            }
        }
        while self.remaining > 0 {
            match sync::recv(&self.rx, &WATCHERS, self.deadline) {
                Ok(index) => {
                    if let Some(future) = self.take(index) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::ThreadPool;

    #[test]
    fn owning_yields_each_future_once() {
        let pool = ThreadPool::new(2);
        let futures: Vec<Future<u32>> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
        let given =
            vec![futures[2].clone(), futures[0].clone(), futures[2].clone(), futures[1].clone(), futures[3].clone()];
        let mut completed = AsCompleted::owning(given, None);
        let mut yielded: Vec<_> = completed.by_ref().map(|f| f.unwrap().id()).collect();
        yielded.sort_unstable();
        assert_eq!(yielded, [0, 1, 2, 3], "the repeat of task 2 is yielded once");
        assert_eq!(completed.not_yielded().count(), 0);
    }
}
