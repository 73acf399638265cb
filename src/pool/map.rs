//! `map`'s iterators: results in input order ([`MapIter`]) or in completion order
//! ([`Unordered`], `imap_unordered`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::error::{TaskError, TaskResult};
use super::future::Future;
use super::wait::AsCompleted;

/// Options of `map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapOptions {
    /// Items per job: a worker takes this many consecutive items at once (default 1).
    pub chunksize: usize,
    /// Give up waiting this long after the `map` call (default: never).
    pub timeout: Option<Duration>,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions { chunksize: 1, timeout: None }
    }
}

/// The results of `map`, in input order. A slow first item holds back every later result,
/// even finished ones: that is the lesson of `map` versus `as_completed`.
///
/// The first error (or the timeout) is yielded, then the iteration ends and the items that
/// have not started are cancelled — as Python's `map` generator does when it raises.
/// Dropping the iterator early cancels them too.
#[derive(Debug)]
pub struct MapIter<T> {
    futures: VecDeque<Future<T>>,
    deadline: Option<Instant>,
}

impl<T> MapIter<T> {
    /// Iterates over `futures`' results in their order, giving up at `timeout` from now.
    pub fn new(futures: Vec<Future<T>>, timeout: Option<Duration>) -> MapIter<T> {
        MapIter::until(futures, timeout.map(|t| super::sync::now() + t))
    }

    /// Iterates over `futures`' results in their order, giving up at `deadline`. `map`
    /// takes the deadline before it consumes its items, as Python's does.
    pub fn until(futures: Vec<Future<T>>, deadline: Option<Instant>) -> MapIter<T> {
        MapIter { futures: futures.into(), deadline }
    }

    fn cancel_rest(&mut self) {
        for future in self.futures.drain(..) {
            future.cancel();
        }
    }
}

impl<T> Iterator for MapIter<T> {
    type Item = TaskResult<T>;

    fn next(&mut self) -> Option<TaskResult<T>> {
        let future = self.futures.pop_front()?;
        let timeout = self.deadline.map(|d| d.saturating_duration_since(super::sync::now()));
        let outcome = future.take(timeout);
        if let Err(error) = &outcome {
            if *error == TaskError::Timeout {
                // The timed-out item is still out there: it is cancelled with the rest if it
                // has not started.
                future.cancel();
            }
            self.cancel_rest();
        }
        Some(outcome)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.futures.len()))
    }
}

impl<T> Drop for MapIter<T> {
    fn drop(&mut self) {
        self.cancel_rest();
    }
}

/// The results of `imap_unordered`, in completion order.
#[derive(Debug)]
pub struct Unordered<T> {
    completed: AsCompleted<T>,
}

impl<T> Unordered<T> {
    pub(crate) fn new(futures: Vec<Future<T>>) -> Unordered<T> {
        Unordered { completed: AsCompleted::new(&futures, None) }
    }
}

impl<T> Iterator for Unordered<T> {
    type Item = TaskResult<T>;

    fn next(&mut self) -> Option<TaskResult<T>> {
        Some(match self.completed.next()? {
            Ok(future) => future.take(None),
            Err(error) => Err(error),
        })
    }
}
