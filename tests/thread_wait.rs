//! `wait` over thread-pool futures, after CPython's `test_wait.py`: each `ReturnWhen`,
//! timeouts, futures already done, duplicates.

mod common;

use std::time::Duration;

use common::{Gate, within};
use poolscope::pool::{DoneAndNotDone, Future, ReturnWhen, TaskError, ThreadPool, wait};

const SHORT: Duration = Duration::from_millis(20);

fn ids<T>(futures: &[Future<T>]) -> Vec<u64> {
    futures.iter().map(Future::id).collect()
}

/// Sorted ids of (done, not_done).
fn split<T>(outcome: &DoneAndNotDone<T>) -> (Vec<u64>, Vec<u64>) {
    let (mut done, mut not_done) = (ids(&outcome.done), ids(&outcome.not_done));
    done.sort_unstable();
    not_done.sort_unstable();
    (done, not_done)
}

/// A task held at `gate` that then returns `value`.
fn held(pool: &ThreadPool, gate: &Gate, value: u32) -> Future<u32> {
    let waiter = gate.waiter();
    pool.submit(move || {
        waiter.wait();
        value
    })
    .unwrap()
}

/// A task held at `gate` that then raises `message`.
fn held_failure(pool: &ThreadPool, gate: &Gate, message: &'static str) -> Future<u32> {
    let waiter = gate.waiter();
    pool.submit_fallible(move || {
        waiter.wait();
        Err(message)
    })
    .unwrap()
}

#[test]
fn first_completed_returns_when_one_finishes() {
    let pool = ThreadPool::builder().workers(3).eager(true).build();
    let (slow, quick, slower) = (Gate::new(), Gate::new(), Gate::new());
    let futures = [held(&pool, &slow, 0), held(&pool, &quick, 1), held(&pool, &slower, 2)];
    quick.release(1);
    let given = futures.to_vec();
    let outcome = within("wait(FirstCompleted)", move || wait(&given, None, ReturnWhen::FirstCompleted));
    assert_eq!(split(&outcome), (vec![1], vec![0, 2]));
    slow.release(1);
    slower.release(1);
}

#[test]
fn first_completed_returns_at_once_when_one_is_already_done_or_cancelled() {
    let pool = ThreadPool::builder().workers(1).eager(true).build();
    let gate = Gate::new();
    let running = held(&pool, &gate, 0);
    let pending = pool.submit(|| 1).unwrap();
    gate.arrived();

    // None done: it gives up at the timeout with nothing done.
    let outcome = wait(&[running.clone(), pending.clone()], Some(SHORT), ReturnWhen::FirstCompleted);
    assert_eq!(split(&outcome), (vec![], vec![0, 1]));

    assert!(pending.cancel());
    let given = [running.clone(), pending.clone()];
    let outcome = within("wait(FirstCompleted)", move || wait(&given, None, ReturnWhen::FirstCompleted));
    assert_eq!(split(&outcome), (vec![1], vec![0]), "a cancelled future is completed");
    gate.release(1);
}

#[test]
fn first_exception_returns_when_one_raises() {
    let pool = ThreadPool::builder().workers(3).eager(true).build();
    let ok = pool.submit(|| 0).unwrap();
    assert_eq!(ok.result(None), Ok(0));
    let (raise, hold) = (Gate::new(), Gate::new());
    let raising = held_failure(&pool, &raise, "boom");
    let held_back = held(&pool, &hold, 2);
    raise.release(1);

    let given = [ok.clone(), raising.clone(), held_back.clone()];
    let outcome = within("wait(FirstException)", move || wait(&given, None, ReturnWhen::FirstException));
    assert_eq!(split(&outcome), (vec![ok.id(), raising.id()], vec![held_back.id()]));
    assert_eq!(raising.exception(None), Ok(Some(TaskError::Failed("boom".into()))));
    hold.release(1);
}

#[test]
fn first_exception_returns_at_once_when_one_has_already_raised() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let failed = pool.submit(|| -> u32 { panic!("already failed") }).unwrap();
    assert!(failed.exception(None).unwrap().is_some());
    let gate = Gate::new();
    let running = held(&pool, &gate, 1);
    let given = [running.clone(), failed.clone()];
    let outcome = within("wait(FirstException)", move || wait(&given, None, ReturnWhen::FirstException));
    assert_eq!(split(&outcome), (vec![failed.id()], vec![running.id()]));
    gate.release(1);
}

#[test]
fn first_exception_without_any_exception_waits_for_all() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let (first, second) = (Gate::new(), Gate::new());
    let futures = [held(&pool, &first, 0), held(&pool, &second, 1)];
    first.release(1);
    futures[0].result(None).unwrap();

    // One done without raising is not enough.
    let outcome = wait(&futures, Some(SHORT), ReturnWhen::FirstException);
    assert_eq!(split(&outcome), (vec![0], vec![1]));

    second.release(1);
    let given = futures.to_vec();
    let outcome = within("wait(FirstException)", move || wait(&given, None, ReturnWhen::FirstException));
    assert_eq!(split(&outcome), (vec![0, 1], vec![]));
}

#[test]
fn all_completed_waits_for_successes_failures_and_cancellations() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let gate = Gate::new();
    let blocker = held(&pool, &gate, 0);
    let failing = held_failure(&pool, &gate, "fails");
    gate.arrived();
    gate.arrived();
    let cancelled = pool.submit(|| 3).unwrap();
    assert!(cancelled.cancel());
    let ok = pool.submit(|| 4).unwrap();

    gate.release(2);
    let given = [blocker.clone(), failing.clone(), cancelled.clone(), ok.clone()];
    let outcome = within("wait(AllCompleted)", move || wait(&given, None, ReturnWhen::AllCompleted));
    assert_eq!(split(&outcome), (vec![0, 1, 2, 3], vec![]));
    assert!(outcome.done.iter().all(Future::done));
    assert_eq!(ok.result(None), Ok(4));
}

#[test]
fn a_timeout_returns_what_is_done_and_leaves_the_rest_running() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let quick = pool.submit(|| 0).unwrap();
    quick.result(None).unwrap();
    let gate = Gate::new();
    let slow = held(&pool, &gate, 1);
    gate.arrived();

    let outcome = wait(&[quick.clone(), slow.clone()], Some(SHORT), ReturnWhen::AllCompleted);
    assert_eq!(split(&outcome), (vec![0], vec![1]));
    assert!(slow.running(), "the timeout does not touch the task");
    gate.release(1);
    assert_eq!(slow.result(None), Ok(1));
}

#[test]
fn duplicates_are_counted_once_and_both_lists_keep_input_order() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let done = pool.submit(|| 0).unwrap();
    done.result(None).unwrap();
    let gate = Gate::new();
    let running = held(&pool, &gate, 1);
    let other_done = pool.submit(|| 2).unwrap();
    other_done.result(None).unwrap();

    let given = [other_done.clone(), running.clone(), done.clone(), running.clone(), other_done.clone(), done.clone()];
    let outcome = wait(&given, Some(Duration::ZERO), ReturnWhen::AllCompleted);
    assert_eq!(ids(&outcome.done), [other_done.id(), done.id()]);
    assert_eq!(ids(&outcome.not_done), [running.id()]);
    gate.release(1);
}

#[test]
fn waiting_on_nothing_returns_at_once() {
    for how in [ReturnWhen::FirstCompleted, ReturnWhen::FirstException, ReturnWhen::AllCompleted] {
        let outcome = within("wait(nothing)", move || wait::<()>(&[], None, how));
        assert!(outcome.done.is_empty() && outcome.not_done.is_empty());
    }
}
