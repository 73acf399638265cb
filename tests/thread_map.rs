//! `map` and the `multiprocessing.Pool` vocabulary on a thread pool, after CPython's executor
//! tests for `map`: results in input order, chunksize, timeout, errors, `imap`,
//! `imap_unordered`, `apply`, `apply_async`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLOCK, Gate, within};
use poolscope::pool::{MapOptions, SubmitError, TaskError, ThreadPool};

fn pool(n: usize) -> ThreadPool {
    ThreadPool::builder().workers(n).eager(true).build()
}

#[test]
fn map_yields_in_input_order_even_when_the_first_item_finishes_last() {
    let pool = pool(2);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let results = pool
        .map(
            move |i: u32| {
                if i == 0 {
                    waiter.wait();
                } else {
                    done_tx.send(i).unwrap();
                }
                i * 10
            },
            0..5,
            MapOptions::default(),
        )
        .unwrap();
    gate.arrived();
    // Items 1..4 all finish while item 0 is held.
    let mut finished: Vec<u32> = (1..5).map(|_| done_rx.recv_timeout(DEADLOCK).unwrap()).collect();
    finished.sort_unstable();
    assert_eq!(finished, [1, 2, 3, 4]);
    gate.release(1);
    let results: Vec<_> = within("map", move || results.collect());
    assert_eq!(results, [Ok(0), Ok(10), Ok(20), Ok(30), Ok(40)]);
}

#[test]
fn map_submits_every_item_before_iteration_starts() {
    let pool = pool(2);
    let (tx, rx) = crossbeam_channel::unbounded();
    let results = pool.map(move |i: u32| tx.send(i).unwrap(), 0..6, MapOptions::default()).unwrap();
    let mut ran: Vec<u32> = (0..6).map(|_| rx.recv_timeout(DEADLOCK).unwrap()).collect();
    ran.sort_unstable();
    assert_eq!(ran, [0, 1, 2, 3, 4, 5], "every item ran without anyone iterating");
    assert_eq!(results.count(), 6);
}

#[test]
fn chunksize_hands_consecutive_items_to_one_worker() {
    let pool = pool(3);
    let results: Vec<(u32, String)> = pool
        .map(
            |i: u32| (i, std::thread::current().name().unwrap().to_string()),
            0..10,
            MapOptions { chunksize: 3, timeout: None },
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let order: Vec<u32> = results.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>(), "still in input order");
    for chunk in results.chunks(3) {
        assert!(chunk.iter().all(|(_, thread)| *thread == chunk[0].1), "a chunk ran on several workers: {chunk:?}");
    }
}

#[test]
fn items_of_a_held_chunk_wait_for_it_while_other_chunks_run() {
    let pool = pool(3);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let results = pool
        .map(
            move |i: u32| {
                started_tx.send(i).unwrap();
                if i == 0 {
                    waiter.wait();
                }
                i
            },
            0..10,
            MapOptions { chunksize: 3, timeout: None },
        )
        .unwrap();
    // Item 0 holds its worker; 1 and 2 are in its chunk, so they cannot start elsewhere.
    let mut started: Vec<u32> = (0..8).map(|_| started_rx.recv_timeout(DEADLOCK).unwrap()).collect();
    started.sort_unstable();
    assert_eq!(started, [0, 3, 4, 5, 6, 7, 8, 9]);
    gate.release(1);
    let results: Vec<u32> = within("map", move || results.map(Result::unwrap).collect());
    assert_eq!(results, (0..10).collect::<Vec<_>>());
}

#[test]
fn dropping_the_iterator_early_cancels_the_items_not_started() {
    let pool = pool(2);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&ran);
    let mut results = pool
        .map(
            move |i: u32| {
                record.lock().unwrap().push(i);
                match i {
                    0 => Ok(0),
                    1 => Err(format!("item {i} failed")),
                    _ => {
                        // Items 2 and 3 hold both workers, so 4 and 5 are still queued when
                        // the error is seen.
                        waiter.wait();
                        Ok(i)
                    }
                }
            },
            0..6,
            MapOptions::default(),
        )
        .unwrap();
    gate.arrived();
    gate.arrived();

    assert_eq!(results.next(), Some(Ok(Ok(0))));
    // The closure's own Result is the value; a panic is what fails an item.
    assert_eq!(results.next(), Some(Ok(Err("item 1 failed".to_string()))));
    drop(results);
    gate.release(2);
    pool.shutdown(true, false);
    let mut ran = ran.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, [0, 1, 2, 3], "dropping the iterator cancels what has not started");
}

#[test]
fn a_panicking_item_ends_the_iteration_and_cancels_the_items_not_started() {
    let pool = pool(2);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&ran);
    let mut results = pool
        .map(
            move |i: u32| {
                record.lock().unwrap().push(i);
                match i {
                    0 => 0,
                    1 => panic!("item 1 exploded"),
                    _ => {
                        waiter.wait();
                        i
                    }
                }
            },
            0..6,
            MapOptions::default(),
        )
        .unwrap();
    gate.arrived();
    gate.arrived();

    assert_eq!(results.next(), Some(Ok(0)));
    match results.next() {
        Some(Err(TaskError::Failed(msg))) => assert!(msg.contains("item 1 exploded"), "{msg}"),
        other => panic!("expected the panic of item 1, got {other:?}"),
    }
    assert_eq!(results.next(), None, "the iteration ends at the first error");
    gate.release(2);
    pool.shutdown(true, false);
    let mut ran = ran.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, [0, 1, 2, 3], "items 4 and 5 were cancelled, never run");
}

#[test]
fn a_timeout_yields_one_timeout_error_ends_the_iteration_and_cancels_the_rest() {
    let pool = pool(1);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&ran);
    let mut results = pool
        .map(
            move |i: u32| {
                record.lock().unwrap().push(i);
                if i == 0 {
                    waiter.wait();
                }
                i
            },
            0..4,
            MapOptions { chunksize: 1, timeout: Some(Duration::from_millis(20)) },
        )
        .unwrap();
    gate.arrived();
    assert_eq!(results.next(), Some(Err(TaskError::Timeout)));
    assert_eq!(results.next(), None);
    gate.release(1);
    pool.shutdown(true, false);
    assert_eq!(*ran.lock().unwrap(), [0], "items not started when the timeout hit never run");
}

#[test]
fn a_timeout_does_not_fire_when_everything_is_ready() {
    let pool = pool(2);
    let results: Vec<_> =
        pool.map(|i: u32| i + 1, 0..4, MapOptions { chunksize: 2, timeout: Some(DEADLOCK) }).unwrap().collect();
    assert_eq!(results, [Ok(1), Ok(2), Ok(3), Ok(4)]);
}

#[test]
fn map_of_nothing_yields_nothing() {
    let pool = pool(1);
    assert_eq!(pool.map(|i: u32| i, Vec::new(), MapOptions::default()).unwrap().count(), 0);
}

#[test]
fn imap_is_ordered_and_imap_unordered_yields_in_completion_order() {
    let pool = pool(2);
    let gate = Gate::new();
    let waiter = gate.waiter();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let ordered = {
        let (waiter, done_tx) = (waiter.clone(), done_tx.clone());
        pool.imap(
            move |i: u32| {
                if i == 0 {
                    waiter.wait();
                } else {
                    done_tx.send(i).unwrap();
                }
                i
            },
            0..4,
            1,
        )
        .unwrap()
    };
    gate.arrived();
    for _ in 1..4 {
        done_rx.recv_timeout(DEADLOCK).unwrap();
    }
    gate.release(1);
    assert_eq!(within("imap", move || ordered.collect::<Vec<_>>()), [Ok(0), Ok(1), Ok(2), Ok(3)]);

    let unordered = pool
        .imap_unordered(
            move |i: u32| {
                if i == 0 {
                    waiter.wait();
                } else {
                    done_tx.send(i).unwrap();
                }
                i
            },
            0..4,
            1,
        )
        .unwrap();
    gate.arrived();
    for _ in 1..4 {
        done_rx.recv_timeout(DEADLOCK).unwrap();
    }
    gate.release(1);
    // One worker ran 1, 2, 3 in queue order while the other held 0.
    assert_eq!(within("imap_unordered", move || unordered.collect::<Vec<_>>()), [Ok(1), Ok(2), Ok(3), Ok(0)]);
}

#[test]
fn imap_unordered_reports_a_panicking_item_as_its_error() {
    let pool = pool(2);
    let mut results: Vec<_> = pool
        .imap_unordered(
            |i: u32| {
                assert!(i != 2, "two is bad");
                i
            },
            0..4,
            2,
        )
        .unwrap()
        .collect();
    assert_eq!(results.len(), 4);
    results.sort_by_key(|r| r.as_ref().map_or(u32::MAX, |v| *v));
    assert_eq!(results[..3], [Ok(0), Ok(1), Ok(3)]);
    assert!(matches!(&results[3], Err(TaskError::Failed(msg)) if msg.contains("two is bad")), "{results:?}");
}

#[test]
fn apply_waits_for_the_result_and_apply_async_returns_a_future() {
    let pool = pool(2);
    assert_eq!(pool.apply(|| 6 * 7), Ok(42));
    assert!(
        matches!(pool.apply(|| -> u32 { panic!("apply boom") }), Err(TaskError::Failed(m)) if m.contains("apply boom"))
    );

    let gate = Gate::new();
    let waiter = gate.waiter();
    let future = pool
        .apply_async(move || {
            waiter.wait();
            "later"
        })
        .unwrap();
    gate.arrived();
    assert!(!future.done(), "apply_async does not wait");
    gate.release(1);
    assert_eq!(future.result(None), Ok("later"));
}

#[test]
fn the_pool_vocabulary_refuses_work_after_close() {
    let pool = pool(1);
    pool.close();
    assert_eq!(pool.apply(|| 1), Err(TaskError::PoolShutdown));
    match pool.apply_async(|| 2) {
        Err(SubmitError::Shutdown(job)) => assert_eq!(job(), 2, "the job is handed back"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match pool.map(|i: u32| i, vec![7, 8], MapOptions::default()) {
        Err(SubmitError::Shutdown(items)) => assert_eq!(items, [7, 8], "the items are handed back"),
        Err(other) => panic!("expected Shutdown, got {other:?}"),
        Ok(_) => panic!("map after close must be refused"),
    }
    assert!(matches!(pool.imap(|i: u32| i, vec![1], 1), Err(SubmitError::Shutdown(items)) if items == [1]));
    assert!(matches!(pool.imap_unordered(|i: u32| i, vec![1], 1), Err(SubmitError::Shutdown(items)) if items == [1]));
    pool.join().unwrap();
}
