//! `as_completed` over thread-pool futures, after CPython's `test_as_completed.py`:
//! completion order, already-done futures first, timeout, duplicates.

mod common;

use std::time::Duration;

use common::{Gate, within};
use poolscope::pool::{Future, TaskError, ThreadPool, as_completed};

const SHORT: Duration = Duration::from_millis(20);

/// A pool of `n` started workers and `n` tasks, task `i` held at gate `i` until released.
fn held_tasks(n: usize) -> (ThreadPool, Vec<Future<usize>>, Vec<Gate>) {
    let pool = ThreadPool::builder().workers(n).eager(true).build();
    let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
    let futures = (0..n)
        .map(|i| {
            let waiter = gates[i].waiter();
            pool.submit(move || {
                waiter.wait();
                i
            })
            .unwrap()
        })
        .collect();
    for gate in &gates {
        gate.arrived();
    }
    (pool, futures, gates)
}

fn value(item: Option<Result<Future<usize>, TaskError>>) -> usize {
    item.expect("the iterator ended early").expect("no timeout was set").result(None).unwrap()
}

#[test]
fn futures_are_yielded_in_the_order_they_complete_not_the_order_given() {
    let (_pool, futures, gates) = held_tasks(3);
    let mut completed = as_completed(&futures, None);
    for i in [2, 0, 1] {
        gates[i].release(1);
        assert_eq!(value(completed.next()), i);
    }
    assert!(completed.next().is_none());
}

#[test]
fn futures_already_done_come_first() {
    let (_pool, futures, gates) = held_tasks(2);
    gates[1].release(1);
    assert_eq!(futures[1].result(None), Ok(1));

    // Given first, the still-running future 0 comes after the finished one.
    let mut completed = as_completed(&futures, None);
    assert_eq!(value(completed.next()), 1);
    gates[0].release(1);
    assert_eq!(value(completed.next()), 0);
    assert!(completed.next().is_none());
}

#[test]
fn all_done_yields_everything_even_with_a_zero_timeout() {
    let pool = ThreadPool::new(2);
    let futures: Vec<_> = (0..4usize).map(|i| pool.submit(move || i).unwrap()).collect();
    for f in &futures {
        f.result(None).unwrap();
    }
    let mut values: Vec<usize> = as_completed(&futures, Some(Duration::ZERO)).map(|f| value(Some(f))).collect();
    values.sort_unstable();
    assert_eq!(values, [0, 1, 2, 3]);
}

#[test]
fn a_timeout_yields_the_finished_futures_then_one_timeout_error_then_ends() {
    let (_pool, futures, gates) = held_tasks(3);
    gates[1].release(1);
    futures[1].result(None).unwrap();

    let mut completed = as_completed(&futures, Some(SHORT));
    assert_eq!(value(completed.next()), 1);
    assert_eq!(completed.next().map(|r| r.map(|f| f.id())), Some(Err(TaskError::Timeout)));
    let left: Vec<u64> = completed.not_yielded().map(Future::id).collect();
    assert_eq!(left, [futures[0].id(), futures[2].id()], "the ones it gave up on");
    assert!(completed.next().is_none(), "the iteration ends after the timeout");

    // The tasks themselves go on.
    assert!(!futures[0].done() && !futures[2].done());
    gates[0].release(1);
    gates[2].release(1);
    assert_eq!(futures[0].result(None), Ok(0));
    assert_eq!(futures[2].result(None), Ok(2));
}

#[test]
fn not_yielded_lists_the_done_futures_first_then_the_others_in_input_order() {
    let (_pool, futures, gates) = held_tasks(4);
    for i in [3, 1] {
        gates[i].release(1);
        assert_eq!(futures[i].result(None), Ok(i));
    }
    let given =
        vec![futures[0].clone(), futures[1].clone(), futures[2].clone(), futures[1].clone(), futures[3].clone()];
    let mut completed = as_completed(&given, None);
    let ids =
        |completed: &poolscope::pool::AsCompleted<usize>| completed.not_yielded().map(Future::id).collect::<Vec<_>>();
    assert_eq!(ids(&completed), [1, 3, 0, 2]);
    assert_eq!(value(completed.next()), 1);
    assert_eq!(ids(&completed), [3, 0, 2]);
    gates[2].release(1);
    assert_eq!(value(completed.next()), 3);
    assert_eq!(value(completed.next()), 2);
    assert_eq!(ids(&completed), [0]);
    gates[0].release(1);
    assert_eq!(value(completed.next()), 0);
    assert!(completed.next().is_none());
    assert!(ids(&completed).is_empty());
}

#[test]
fn duplicates_are_yielded_once() {
    let (_pool, futures, gates) = held_tasks(2);
    let given =
        vec![futures[0].clone(), futures[0].clone(), futures[1].clone(), futures[0].clone(), futures[1].clone()];
    let completed = as_completed(&given, None);
    gates[0].release(1);
    gates[1].release(1);
    let mut values: Vec<usize> = within("as_completed", move || completed.map(|f| value(Some(f))).collect());
    values.sort_unstable();
    assert_eq!(values, [0, 1]);
}

#[test]
fn a_cancelled_future_counts_as_completed() {
    let pool = ThreadPool::builder().workers(1).eager(true).build();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let running = pool
        .submit(move || {
            waiter.wait();
            0usize
        })
        .unwrap();
    let pending = pool.submit(|| 1usize).unwrap();
    gate.arrived();

    let mut completed = as_completed(&[running.clone(), pending.clone()], None);
    // Cancelled while as_completed is already watching it.
    assert!(pending.cancel());
    let first = completed.next().unwrap().unwrap();
    assert!(first.ptr_eq(&pending));
    assert!(first.cancelled());
    gate.release(1);
    assert!(completed.next().unwrap().unwrap().ptr_eq(&running));
    assert!(completed.next().is_none());
}

#[test]
fn no_futures_yield_nothing() {
    let none: Vec<Future<()>> = Vec::new();
    assert!(as_completed(&none, None).next().is_none());
    assert!(as_completed(&none, Some(Duration::ZERO)).next().is_none());
}
