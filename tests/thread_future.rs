//! The future state machine of a thread pool, after CPython's `test_future.py`:
//! pending / running / finished / cancelled, `result` and `exception` with timeouts,
//! `cancel` only while pending, and done-callbacks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{DEADLOCK, Gate, drain};
use poolscope::pool::{ChannelProbe, EventKind, TaskError, ThreadPool};

const SHORT: Duration = Duration::from_millis(10);

fn one_worker() -> ThreadPool {
    ThreadPool::builder().workers(1).eager(true).build()
}

#[test]
fn a_future_goes_pending_then_running_then_finished() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let first = pool
        .submit(move || {
            waiter.wait();
            7
        })
        .unwrap();
    let second = pool.submit(|| 8).unwrap();
    gate.arrived();

    assert!(first.running());
    assert!(!first.done());
    assert!(!first.cancelled());
    assert_eq!(first.state_name(), "running");
    assert_eq!(first.try_result(), None);

    // The only worker is busy, so the second waits in the queue.
    assert!(!second.running());
    assert!(!second.done());
    assert!(!second.cancelled());
    assert_eq!(second.state_name(), "pending");

    gate.release(1);
    assert_eq!(first.result(None), Ok(7));
    assert!(first.done());
    assert!(!first.running());
    assert_eq!(first.state_name(), "finished");
    assert_eq!(second.result(None), Ok(8));
    assert_eq!(second.state_name(), "finished");
    assert_eq!(second.try_result(), Some(Ok(8)));
}

#[test]
fn future_ids_follow_submission_order() {
    let pool = ThreadPool::new(2);
    let ids: Vec<u64> = (0..5).map(|i| pool.submit(move || i).unwrap().id()).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
}

#[test]
fn cancel_succeeds_only_while_pending() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let running = pool
        .submit(move || {
            waiter.wait();
            "ran"
        })
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let pending = pool.submit(move || flag.store(true, Ordering::SeqCst)).unwrap();
    gate.arrived();

    assert!(!running.cancel(), "a running future cannot be cancelled");
    assert!(running.running());
    assert!(!running.cancelled());

    assert!(pending.cancel(), "a pending future can be cancelled");
    assert!(pending.cancelled());
    assert!(pending.done());
    assert!(!pending.running());
    assert_eq!(pending.state_name(), "cancelled");
    assert!(pending.cancel(), "cancelling a cancelled future again still says it is cancelled");

    gate.release(1);
    assert_eq!(running.result(None), Ok("ran"));
    assert!(!running.cancel(), "a finished future cannot be cancelled");
    assert!(!running.cancelled());
    assert_eq!(pending.result(None), Err(TaskError::Cancelled));

    pool.shutdown(true, false);
    assert!(!ran.load(Ordering::SeqCst), "a cancelled task never runs");
}

#[test]
fn result_and_exception_time_out_while_the_task_runs_and_the_task_goes_on() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let running = pool
        .submit(move || {
            waiter.wait();
            1
        })
        .unwrap();
    let pending = pool.submit(|| 2).unwrap();
    gate.arrived();

    assert_eq!(running.result(Some(SHORT)), Err(TaskError::Timeout));
    assert_eq!(running.exception(Some(SHORT)), Err(TaskError::Timeout));
    assert_eq!(pending.result(Some(Duration::ZERO)), Err(TaskError::Timeout));
    assert_eq!(pending.exception(Some(SHORT)), Err(TaskError::Timeout));
    assert!(!running.done() && !pending.done(), "a timed-out wait does not touch the task");

    gate.release(1);
    assert_eq!(running.result(None), Ok(1));
    assert_eq!(pending.result(None), Ok(2));
    // Once finished, a zero timeout is enough.
    assert_eq!(running.result(Some(Duration::ZERO)), Ok(1));
    assert_eq!(running.exception(Some(Duration::ZERO)), Ok(None));
}

#[test]
fn exception_tells_success_failure_and_cancellation_apart() {
    let pool = one_worker();
    let ok = pool.submit(|| 5).unwrap();
    let raised = pool.submit_fallible(|| Err::<u32, _>("boom")).unwrap();
    let panicked = pool.submit(|| -> u32 { panic!("kaboom") }).unwrap();

    assert_eq!(ok.exception(None), Ok(None));
    assert_eq!(ok.result(None), Ok(5));

    assert_eq!(raised.exception(None), Ok(Some(TaskError::Failed("boom".into()))));
    assert_eq!(raised.result(None), Err(TaskError::Failed("boom".into())));

    match panicked.result(None) {
        Err(TaskError::Failed(msg)) => assert!(msg.contains("kaboom"), "{msg}"),
        other => panic!("a panicking task must fail its future, got {other:?}"),
    }
    assert!(matches!(panicked.exception(None), Ok(Some(TaskError::Failed(_)))));
    assert!(panicked.done() && !panicked.cancelled());

    let gate = Gate::new();
    let waiter = gate.waiter();
    let _blocker = pool.submit(move || waiter.wait()).unwrap();
    let cancelled = pool.submit(|| 6).unwrap();
    assert!(cancelled.cancel());
    assert_eq!(cancelled.exception(None), Err(TaskError::Cancelled));
    assert_eq!(cancelled.result(Some(Duration::ZERO)), Err(TaskError::Cancelled));
    gate.release(1);
}

#[test]
fn every_thread_waiting_on_result_gets_the_value() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let future = pool
        .submit(move || {
            waiter.wait();
            String::from("shared")
        })
        .unwrap();
    gate.arrived();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let future = future.clone();
            std::thread::spawn(move || future.result(Some(DEADLOCK)))
        })
        .collect();
    gate.release(1);
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Ok(String::from("shared")));
    }
}

#[test]
fn callbacks_run_once_each_in_the_order_added_on_the_completing_worker() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let future = pool
        .submit(move || {
            waiter.wait();
            42
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    for n in 1..=3 {
        let tx = tx.clone();
        future.add_done_callback(move |f| {
            let thread = std::thread::current().name().unwrap_or("").to_string();
            tx.send((n, thread, f.done(), f.try_result())).unwrap();
        });
    }
    drop(tx);
    gate.release(1);

    for expected in 1..=3 {
        let (n, thread, done, result) = rx.recv_timeout(DEADLOCK).unwrap();
        assert_eq!(n, expected, "callbacks run in the order they were added");
        assert!(thread.contains("-worker-"), "ran on {thread:?}, not on the worker");
        assert!(done, "a callback sees its future done");
        assert_eq!(result, Some(Ok(42)));
    }
    pool.shutdown(true, false);
    assert!(rx.try_recv().is_err(), "each callback runs exactly once");
}

#[test]
fn a_callback_added_after_completion_runs_at_once_in_the_callers_thread() {
    let pool = one_worker();
    let ok = pool.submit(|| 1).unwrap();
    let failed = pool.submit_fallible(|| Err::<i32, _>("no")).unwrap();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let _blocker = pool.submit(move || waiter.wait()).unwrap();
    let cancelled = pool.submit(|| 3).unwrap();
    assert!(cancelled.cancel());
    assert_eq!(ok.result(None), Ok(1));
    assert!(failed.result(None).is_err());

    let me = std::thread::current().id();
    for future in [&ok, &failed, &cancelled] {
        let (tx, rx) = crossbeam_channel::unbounded();
        future.add_done_callback(move |f| tx.send((std::thread::current().id(), f.try_result())).unwrap());
        // Synchronous: it has already run when add_done_callback returns.
        let (thread, result) = rx.try_recv().expect("the callback ran before add_done_callback returned");
        assert_eq!(thread, me);
        assert_eq!(result, future.try_result());
    }
    gate.release(1);
}

#[test]
fn cancelling_runs_the_callbacks_in_the_cancelling_thread() {
    let pool = one_worker();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let _blocker = pool.submit(move || waiter.wait()).unwrap();
    let pending = pool.submit(|| 1).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    pending.add_done_callback(move |f| tx.send((std::thread::current().id(), f.cancelled())).unwrap());
    assert!(rx.try_recv().is_err(), "not run before the future is done");

    assert!(pending.cancel());
    assert_eq!(rx.try_recv(), Ok((std::thread::current().id(), true)));
    assert!(pending.cancel());
    assert!(rx.try_recv().is_err(), "a second cancel does not run the callback again");
    gate.release(1);
}

#[test]
fn a_panicking_callback_is_reported_and_the_other_callbacks_and_the_worker_carry_on() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(1).eager(true).probe(probe).build();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let future = pool
        .submit(move || {
            waiter.wait();
            1
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let tx1 = tx.clone();
    future.add_done_callback(move |_| tx1.send("first").unwrap());
    future.add_done_callback(|_| panic!("callback boom"));
    future.add_done_callback(move |_| tx.send("third").unwrap());
    gate.release(1);
    assert_eq!(future.result(None), Ok(1));
    assert_eq!(rx.recv_timeout(DEADLOCK), Ok("first"));
    assert_eq!(rx.recv_timeout(DEADLOCK), Ok("third"));

    // Added after completion, a panicking callback does not panic the caller either.
    future.add_done_callback(|_| panic!("late boom"));

    // The worker survived: it runs the next task.
    assert_eq!(pool.submit(|| 2).unwrap().result(None), Ok(2));
    pool.shutdown(true, false);

    let me = std::thread::current().name().unwrap_or("unnamed").to_string();
    let callbacks: Vec<(String, Option<String>)> = drain(&events)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Callback { task: 0, thread, panicked } => Some((thread, panicked)),
            _ => None,
        })
        .collect();
    assert_eq!(callbacks.len(), 4, "{callbacks:?}");
    // The late callback (main thread) may be reported before the worker reports the third.
    let (on_worker, on_caller): (Vec<_>, Vec<_>) = callbacks.into_iter().partition(|(t, _)| t.contains("-worker-"));
    let panics: Vec<Option<&str>> = on_worker.iter().map(|(_, p)| p.as_deref()).collect();
    assert!(matches!(panics[..], [None, Some(m), None] if m.contains("callback boom")), "{on_worker:?}");
    assert_eq!(on_caller.len(), 1, "a late callback runs in the caller's thread: {on_caller:?}");
    assert_eq!(on_caller[0].0, me);
    assert!(on_caller[0].1.as_deref().is_some_and(|m| m.contains("late boom")), "{on_caller:?}");
}

#[test]
fn a_panicking_callback_without_a_probe_is_not_fatal() {
    let pool = one_worker();
    let future = pool.submit(|| 1).unwrap();
    assert_eq!(future.result(None), Ok(1));
    let (tx, rx) = crossbeam_channel::unbounded();
    future.add_done_callback(|_| panic!("unobserved boom"));
    future.add_done_callback(move |_| tx.send(()).unwrap());
    assert!(rx.try_recv().is_ok(), "the callback after the panicking one ran");
    assert_eq!(pool.submit(|| 2).unwrap().result(None), Ok(2));
}

/// A stress test of the race between `cancel()` and a worker starting the task: whichever
/// wins, a cancel that returned true means the task never ran and the future holds
/// `Cancelled`, and no worker is harmed.
#[test]
fn a_task_whose_cancel_succeeded_never_runs() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let mut cancelled = Vec::new();
    for i in 0..100_000u32 {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let future = pool
            .submit(move || {
                flag.store(true, Ordering::SeqCst);
                i
            })
            .unwrap();
        // Vary the gap so the cancel lands before, during and after the worker's start.
        for _ in 0..(i % 64) {
            std::hint::spin_loop();
        }
        if future.cancel() {
            cancelled.push((future, ran));
        }
    }
    assert_eq!(pool.submit(|| 1).unwrap().result(Some(Duration::from_secs(30))), Ok(1), "the workers are alive");
    pool.shutdown(true, false);
    for (future, ran) in &cancelled {
        assert!(!ran.load(Ordering::SeqCst), "task {} ran although cancel() returned true", future.id());
        assert_eq!(future.result(Some(Duration::ZERO)), Err(TaskError::Cancelled));
        assert!(future.cancelled());
    }
}
