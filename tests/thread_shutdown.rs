//! Shutting a thread pool down, after CPython's `test_shutdown.py` and the
//! `multiprocessing.Pool` close / join / terminate: waiting or not, `cancel_futures`, submit
//! after shutdown, `Drop` while busy.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Gate, drain, within};
use crossbeam_channel::{Receiver, Sender};
use poolscope::pool::probe::Phase;
use poolscope::pool::{Event, EventKind, Future, PoolError, Probe, SubmitError, TaskError, TaskSpec, ThreadPool, Work};

/// A probe that keeps every event and runs `on_shutdown` once a shutdown has begun and
/// `cancels` tasks were cancelled since: lets a held task go only once the pool is already
/// shutting down (so a `shutdown(wait)` or a `Drop` that returns early would be caught) and,
/// with `cancel_futures`, once the queue was cancelled (so the freed worker cannot take a
/// queued task first).
struct ShutdownTap {
    events: Sender<Event>,
    on_shutdown: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Cancels still to see after the shutdown began; `None` before it began.
    cancels_left: Mutex<Option<usize>>,
    cancels: usize,
}

impl Probe for ShutdownTap {
    fn record(&self, event: Event) {
        // Forward the event before reacting to it, so the shutdown's begin is in the stream
        // ahead of anything the reaction lets happen.
        let mut left = self.cancels_left.lock().unwrap();
        match event.kind {
            EventKind::Shutdown { phase: Phase::Begin, .. } if left.is_none() => *left = Some(self.cancels),
            EventKind::Cancel { ok: true, .. } if left.is_some_and(|n| n > 0) => *left = left.map(|n| n - 1),
            _ => {}
        }
        let _ = self.events.send(event);
        if *left == Some(0)
            && let Some(f) = self.on_shutdown.lock().unwrap().take()
        {
            f();
        }
    }
}

/// A one-worker pool whose only worker is held by a task at a gate, with `queued` more tasks
/// behind it, each counting itself into `ran`. The gate opens when shutdown begins (and, for
/// [`busy_cancelled`], once the queued tasks were cancelled).
struct Busy {
    pool: ThreadPool,
    held: Future<usize>,
    queued: Vec<Future<usize>>,
    ran: Arc<AtomicUsize>,
    events: Receiver<Event>,
}

fn busy(queued: usize) -> Busy {
    busy_until(queued, 0)
}

/// As [`busy`], for a shutdown with `cancel_futures`: the gate opens once every queued task
/// was cancelled.
fn busy_cancelled(queued: usize) -> Busy {
    busy_until(queued, queued)
}

fn busy_until(queued: usize, cancels: usize) -> Busy {
    let gate = Arc::new(Gate::new());
    let (tx, events) = crossbeam_channel::unbounded();
    let opener = Arc::clone(&gate);
    let tap = ShutdownTap {
        events: tx,
        on_shutdown: Mutex::new(Some(Box::new(move || opener.release(1)))),
        cancels_left: Mutex::new(None),
        cancels,
    };
    let pool = ThreadPool::builder().workers(1).eager(true).probe(Arc::new(tap)).build();
    let ran = Arc::new(AtomicUsize::new(0));
    let waiter = gate.waiter();
    let count = Arc::clone(&ran);
    let held = pool
        .submit(move || {
            waiter.wait();
            count.fetch_add(1, Ordering::SeqCst);
            100
        })
        .unwrap();
    let queued = (0..queued)
        .map(|i| {
            let count = Arc::clone(&ran);
            pool.submit(move || {
                count.fetch_add(1, Ordering::SeqCst);
                i
            })
            .unwrap()
        })
        .collect();
    gate.arrived();
    Busy { pool, held, queued, ran, events }
}

/// Index of the first event matching `pred`.
fn position(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().position(|e| pred(&e.kind)).expect("event missing")
}

#[test]
fn shutdown_with_wait_runs_the_queued_work_and_returns_after_the_workers_exit() {
    let Busy { pool, held, queued, ran, events } = busy(3);
    let pool = within("shutdown(wait=true)", move || {
        pool.shutdown(true, false);
        pool
    });
    assert_eq!(ran.load(Ordering::SeqCst), 4, "running and queued tasks all ran before shutdown returned");
    assert_eq!(held.try_result(), Some(Ok(100)));
    for (i, f) in queued.iter().enumerate() {
        assert_eq!(f.try_result(), Some(Ok(i)));
    }
    assert_eq!(pool.live_workers(), 0);

    let events = drain(&events);
    let end = position(&events, |k| matches!(k, EventKind::Shutdown { wait: true, phase: Phase::End }));
    let down = position(&events, |k| matches!(k, EventKind::WorkerDown { .. }));
    let last_finish = events.iter().rposition(|e| matches!(e.kind, EventKind::Finish { .. })).unwrap();
    assert!(last_finish < down && down < end, "{events:#?}");
}

#[test]
fn shutdown_without_wait_returns_at_once_and_the_queued_work_still_runs() {
    let pool = ThreadPool::builder().workers(1).eager(true).build();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let held = pool.submit(move || waiter.wait()).unwrap();
    let queued = pool.submit(|| 7).unwrap();
    gate.arrived();

    let pool = within("shutdown(wait=false)", move || {
        pool.shutdown(false, false);
        pool
    });
    assert!(held.running(), "shutdown without wait leaves the running task alone");
    assert!(!queued.done() && !queued.cancelled(), "and does not cancel queued work");
    assert!(matches!(pool.submit(|| 0), Err(SubmitError::Shutdown(_))));

    gate.release(1);
    assert_eq!(queued.result(None), Ok(7));
    assert_eq!(held.result(None), Ok(()));
    pool.join().unwrap();
    assert_eq!(pool.live_workers(), 0);
}

#[test]
fn cancel_futures_cancels_what_has_not_started_and_lets_the_running_task_finish() {
    let pool = ThreadPool::builder().workers(1).eager(true).build();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let held = pool
        .submit(move || {
            waiter.wait();
            "finished"
        })
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, callbacks) = crossbeam_channel::unbounded();
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let ran = Arc::clone(&ran);
            let f = pool.submit(move || ran.fetch_add(1, Ordering::SeqCst)).unwrap();
            let tx = tx.clone();
            f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
            f
        })
        .collect();
    gate.arrived();

    pool.shutdown(false, true);
    for f in &queued {
        assert!(f.cancelled());
        assert_eq!(f.result(None), Err(TaskError::Cancelled));
    }
    assert_eq!(callbacks.try_iter().collect::<Vec<_>>(), [true, true, true], "their callbacks ran");
    assert!(held.running());
    gate.release(1);
    assert_eq!(held.result(None), Ok("finished"));
    pool.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0, "cancelled tasks never ran");
}

#[test]
fn cancel_futures_with_wait_returns_after_the_running_task() {
    let Busy { pool, held, queued, ran, .. } = busy_cancelled(3);
    within("shutdown(wait=true, cancel_futures=true)", move || pool.shutdown(true, true));
    assert_eq!(held.try_result(), Some(Ok(100)));
    assert!(queued.iter().all(Future::cancelled));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn submit_after_shutdown_is_refused_and_hands_the_work_back() {
    let pool = ThreadPool::new(2);
    assert_eq!(pool.submit(|| 1).unwrap().result(None), Ok(1));
    pool.shutdown(true, false);

    let err = pool.submit(|| String::from("mine")).unwrap_err();
    assert_eq!(err.to_string(), "cannot schedule new futures after shutdown");
    match err {
        SubmitError::Shutdown(job) => assert_eq!(job(), "mine"),
        SubmitError::Broken(_) | SubmitError::BrokenThreadPool(_) => panic!("a shut-down pool is not broken"),
    }
    assert!(matches!(pool.submit_fallible(|| Ok::<_, String>(2)), Err(SubmitError::Shutdown(_))));
    let spec = TaskSpec::new(Work::Noop, Default::default(), "late");
    match pool.submit_task(spec.clone()) {
        Err(SubmitError::Shutdown(back)) => assert_eq!(back, spec),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Shutting down again is harmless.
    pool.shutdown(true, false);
    pool.shutdown(false, true);
}

#[test]
fn dropping_a_busy_pool_waits_for_running_and_queued_work() {
    let Busy { pool, held, queued, ran, events } = busy(2);
    within("drop(pool)", move || drop(pool));
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(held.try_result(), Some(Ok(100)));
    assert_eq!(queued.iter().map(Future::try_result).collect::<Vec<_>>(), [Some(Ok(0)), Some(Ok(1))]);

    let events = drain(&events);
    let begin = position(&events, |k| matches!(k, EventKind::Shutdown { wait: true, phase: Phase::Begin }));
    let end = position(&events, |k| matches!(k, EventKind::Shutdown { wait: true, phase: Phase::End }));
    let first_finish = position(&events, |k| matches!(k, EventKind::Finish { .. }));
    let last_finish = events.iter().rposition(|e| matches!(e.kind, EventKind::Finish { .. })).unwrap();
    assert!(begin < first_finish && last_finish < end, "Drop returned before the work was done: {events:#?}");
}

#[test]
fn close_then_join_runs_the_queued_work() {
    let Busy { pool, held, queued, ran, .. } = busy(2);
    pool.close();
    assert!(matches!(pool.submit(|| 0), Err(SubmitError::Shutdown(_))));
    // close() emitted the shutdown event that released the held task.
    let pool = within("join", move || {
        pool.join().unwrap();
        pool
    });
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(held.try_result(), Some(Ok(100)));
    assert!(queued.iter().all(|f| f.try_result().is_some_and(|r| r.is_ok())));
    assert_eq!(pool.live_workers(), 0);
}

#[test]
fn join_before_close_is_an_error_and_the_pool_goes_on() {
    let pool = ThreadPool::new(1);
    assert_eq!(pool.join(), Err(PoolError::StillRunning));
    assert_eq!(pool.submit(|| 3).unwrap().result(None), Ok(3));
    pool.close();
    assert_eq!(pool.join(), Ok(()));
}

#[test]
fn terminate_fails_the_queued_work_and_lets_the_running_task_end() {
    let pool = ThreadPool::builder().workers(1).eager(true).build();
    let gate = Gate::new();
    let waiter = gate.waiter();
    let held = pool
        .submit(move || {
            waiter.wait();
            5
        })
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.submit(move || ran.fetch_add(1, Ordering::SeqCst)).unwrap()
        })
        .collect();
    gate.arrived();

    pool.terminate();
    for f in &queued {
        assert!(f.done(), "terminate fails unstarted tasks at once");
        assert_eq!(f.result(Some(Default::default())), Err(TaskError::PoolShutdown));
    }
    assert!(matches!(pool.submit(|| 0), Err(SubmitError::Shutdown(_))));
    assert!(held.running(), "a thread cannot be killed: the running task goes on");

    gate.release(1);
    let pool = within("join after terminate", move || {
        pool.join().unwrap();
        pool
    });
    assert_eq!(held.result(None), Ok(5), "the running task's result is still delivered");
    assert_eq!(pool.live_workers(), 0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}
