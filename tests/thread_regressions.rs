//! Races found in review, pinned down: a shrink followed by a shutdown, and two threads
//! shutting down at once.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use poolscope::pool::probe::Phase;
use poolscope::pool::{ChannelProbe, EventKind, ThreadPool};

const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

/// A shrink leaves a retire request in the queue. Work submitted after it, then a shutdown,
/// must still all run: the request must not be read as "shut down, nothing left".
#[test]
fn work_queued_after_a_shrink_still_runs_through_a_shutdown() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    let (started_tx, started) = unbounded();
    let (release_tx, release) = bounded::<()>(0);
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (started_tx, release) = (started_tx.clone(), release.clone());
            pool.submit(move || {
                started_tx.send(()).unwrap();
                let _ = release.recv();
            })
            .unwrap()
        })
        .collect();
    started.recv().unwrap();
    started.recv().unwrap();
    pool.set_workers(1);
    let queued: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown(false, false);
    drop(release_tx); // both busy tasks return
    for future in &busy {
        future.result(PATIENCE).unwrap();
    }
    for (i, future) in queued.iter().enumerate() {
        assert_eq!(future.result(PATIENCE), Ok(i), "task {i}, queued after the shrink, ran");
    }
    pool.shutdown(true, false);
}

/// `shutdown(wait=True)` called while another thread is already in it also waits for the
/// running task, as in CPython.
#[test]
fn a_second_shutdown_with_wait_also_waits() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = Arc::new(ThreadPool::builder().workers(1).probe(probe).build());
    let (started_tx, started) = bounded(1);
    let (release_tx, release) = bounded::<()>(0);
    let task = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
            1
        })
        .unwrap();
    started.recv().unwrap();
    let first = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || pool.shutdown(true, false))
    };
    // Release the task only once both shutdowns have begun.
    let releaser = std::thread::spawn(move || {
        let mut begun = 0;
        for event in events.iter() {
            if matches!(event.kind, EventKind::Shutdown { phase: Phase::Begin, .. }) {
                begun += 1;
                if begun == 2 {
                    break;
                }
            }
        }
        drop(release_tx);
    });
    pool.shutdown(true, false);
    assert_eq!(task.state_name(), "finished", "the second shutdown(wait=True) returned while the task ran");
    first.join().unwrap();
    releaser.join().unwrap();
}
