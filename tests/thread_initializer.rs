//! A thread pool's `initializer` and `thread_name_prefix`, after CPython's
//! `test_concurrent_futures/test_init.py` and `test_thread_pool.py`: each worker thread runs
//! the initializer once before its first task, threads are named `PREFIX_N`, and an
//! initializer that raises breaks a `ThreadPoolExecutor` (`BrokenThreadPool`) or strands a
//! `multiprocessing.pool.ThreadPool`.

mod common;

use std::time::Duration;

use common::drain;
use poolscope::pool::error::BROKEN_THREAD_POOL;
use poolscope::pool::sim::SimClock;
use poolscope::pool::{
    ChannelProbe, EventKind, InitializerFailure, SubmitError, TaskError, TaskSpec, ThreadPool, Work, WorkerId,
};

fn spec(work: Work, label: &str) -> TaskSpec {
    TaskSpec::new(work, Duration::ZERO, label)
}

fn setup() -> TaskSpec {
    spec(Work::Noop, "session")
}

fn failing() -> TaskSpec {
    spec(Work::Fail { message: "no config".into() }, "connect")
}

#[test]
fn each_worker_runs_the_initializer_once_before_its_first_task_and_keeps_what_it_set_up() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder()
        .workers(2)
        .eager(true)
        .probe(probe)
        .initializer(setup(), InitializerFailure::Break)
        .build();
    let futures: Vec<_> = (0..6).map(|i| pool.submit_task(spec(Work::Noop, &format!("Job{i}"))).unwrap()).collect();
    for future in &futures {
        let value = future.result(None).unwrap();
        // The setup is the worker's own: the one that ran the task set it up.
        assert_eq!(value.output.as_deref(), Some(format!("with session of worker {}", value.worker).as_str()));
    }
    pool.shutdown(true, false);
    let mut initializing: Vec<WorkerId> = Vec::new();
    let mut initialized: Vec<WorkerId> = Vec::new();
    for event in drain(&events) {
        match event.kind {
            EventKind::Initializing { worker } => initializing.push(worker),
            EventKind::Initialized { worker, error } => {
                assert_eq!(error, None);
                assert!(initializing.contains(&worker), "worker {worker} ended an initializer it never began");
                initialized.push(worker);
            }
            EventKind::Start { worker, .. } => {
                assert!(initialized.contains(&worker), "worker {worker} started a task before its initializer ran");
            }
            _ => {}
        }
    }
    initializing.sort_unstable();
    initialized.sort_unstable();
    assert_eq!(initializing, [0, 1], "each worker says when its initializer begins");
    assert_eq!(initialized, [0, 1], "once per worker, however many tasks it ran");
}

/// On simulated time a new thread runs nothing until the submitting thread gives up its
/// turn, as when a lesson's clock is paused on a caption: the worker is already reported in
/// its initializer then, so its lane is never drawn idle while a task waits for it.
#[test]
fn a_new_worker_is_reported_in_its_initializer_before_its_thread_runs_a_step() {
    let sim = SimClock::new();
    let main = sim.join_here();
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(1).probe(probe).initializer(setup(), InitializerFailure::Break).build();
    let future = pool.submit_task(spec(Work::Noop, "Job")).unwrap();
    let before_its_first_step: Vec<EventKind> = drain(&events).into_iter().map(|e| e.kind).collect();
    assert!(
        before_its_first_step.iter().any(|kind| matches!(kind, EventKind::WorkerUp { worker: 0, .. })),
        "the submit started worker 0: {before_its_first_step:?}"
    );
    assert!(
        before_its_first_step.iter().any(|kind| matches!(kind, EventKind::Initializing { worker: 0 })),
        "worker 0 is in its initializer from the start: {before_its_first_step:?}"
    );
    assert!(
        !before_its_first_step.iter().any(|kind| matches!(kind, EventKind::Initialized { .. })),
        "and has not run it yet: {before_its_first_step:?}"
    );
    future.result(None).unwrap();
    pool.shutdown(true, false);
    drop(main);
}

#[test]
fn a_thread_name_prefix_names_worker_n_prefix_n_and_its_values_say_so() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(2).eager(true).probe(probe).thread_name_prefix("fetcher").build();
    let name = pool.submit(|| std::thread::current().name().map(str::to_string)).unwrap().result(None).unwrap();
    assert!(matches!(name.as_deref(), Some("fetcher_0" | "fetcher_1")), "{name:?}");
    let value = pool.submit_task(spec(Work::Noop, "Job0")).unwrap().result(None).unwrap();
    assert_eq!(value.thread.as_deref(), Some(format!("fetcher_{}", value.worker).as_str()));
    assert_eq!(value.describe("Job0"), format!("Job0 by fetcher_{} (pid {})", value.worker, std::process::id()));
    pool.shutdown(true, false);
    let mut named: Vec<(WorkerId, String)> = drain(&events)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ThreadName { worker, name } => Some((worker, name.to_string())),
            _ => None,
        })
        .collect();
    named.sort();
    assert_eq!(named, [(0, "fetcher_0".to_string()), (1, "fetcher_1".to_string())]);
}

#[test]
fn without_a_prefix_values_name_the_worker_and_no_thread_name_is_reported() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(1).probe(probe).build();
    let value = pool.submit_task(spec(Work::Noop, "Job0")).unwrap().result(None).unwrap();
    assert_eq!(value.thread, None);
    assert_eq!(value.describe("Job0"), format!("Job0 by worker 0 (pid {})", std::process::id()));
    pool.shutdown(true, false);
    assert!(!drain(&events).iter().any(|e| matches!(e.kind, EventKind::ThreadName { .. })));
}

#[test]
fn an_initializer_that_raises_breaks_the_pool_like_thread_pool_executor() {
    for _ in 0..200 {
        let (probe, events) = ChannelProbe::unbounded();
        let pool =
            ThreadPool::builder().workers(2).probe(probe).initializer(failing(), InitializerFailure::Break).build();
        // The first submit starts worker 0, whose initializer raises; the tasks queued by then
        // never run.
        let waiting: Vec<_> = (0..3).map(|i| pool.submit_task(spec(Work::Noop, &format!("Job{i}")))).collect();
        for future in waiting.into_iter().flatten() {
            assert_eq!(future.result(None), Err(TaskError::BrokenThreadPool(BROKEN_THREAD_POOL.into())));
        }
        match pool.submit_task(spec(Work::Noop, "late")) {
            Err(refused @ SubmitError::BrokenThreadPool(_)) => assert_eq!(refused.to_string(), BROKEN_THREAD_POOL),
            other => panic!("a broken pool refuses work: {other:?}"),
        }
        pool.shutdown(true, false);
        let events = drain(&events);
        assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Start { .. })), "no task ever starts");
        assert!(events.iter().any(|e| matches!(
            &e.kind,
            EventKind::Initialized { error: Some(error), .. } if error == "no config"
        )));
        assert!(
            events.iter().any(|e| matches!(e.kind, EventKind::WorkerDown { reason, .. } if reason.as_str() == "died"))
        );
    }
}

#[test]
fn an_initializer_that_panics_breaks_the_pool_too() {
    let pool =
        ThreadPool::builder().workers(1).initializer(spec(Work::Crash, "connect"), InitializerFailure::Break).build();
    let future = pool.submit_task(spec(Work::Noop, "Job0")).unwrap();
    assert!(matches!(future.result(None), Err(TaskError::BrokenThreadPool(_))));
    assert!(matches!(pool.submit_task(spec(Work::Noop, "late")), Err(SubmitError::BrokenThreadPool(_))));
}

#[test]
fn a_shut_down_pool_whose_initializer_raises_still_lets_every_worker_leave() {
    for _ in 0..200 {
        let pool = ThreadPool::builder().workers(3).initializer(failing(), InitializerFailure::Break).build();
        let futures: Vec<_> =
            (0..3).filter_map(|i| pool.submit_task(spec(Work::Noop, &format!("J{i}"))).ok()).collect();
        // Shutting down while the workers may still be in their initializer: the wake-ups it
        // queues must reach them although a failing worker empties the queue.
        pool.shutdown(true, false);
        for future in futures {
            assert!(matches!(future.result(None), Err(TaskError::BrokenThreadPool(_))));
        }
    }
}

#[test]
fn a_thread_pool_whose_every_initializer_raises_takes_work_but_never_runs_it_like_multiprocessing() {
    for _ in 0..200 {
        let (probe, events) = ChannelProbe::unbounded();
        let pool = ThreadPool::builder()
            .workers(2)
            .eager(true)
            .probe(probe)
            .results_thread()
            .initializer(failing(), InitializerFailure::WorkerExits)
            .build();
        let early = pool.submit_task(spec(Work::Noop, "early")).unwrap();
        assert!(matches!(early.result(None), Err(TaskError::BrokenThreadPool(_))));
        // No worker is left: a later submit is taken, and fails at once.
        let late = pool.submit_task(spec(Work::Noop, "late")).expect("multiprocessing's pool refuses nothing");
        assert!(matches!(late.result(None), Err(TaskError::BrokenThreadPool(_))));
        pool.shutdown(true, false);
        let events = drain(&events);
        assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Start { .. })));
        let died = events.iter().filter(|e| matches!(e.kind, EventKind::WorkerDown { .. })).count();
        assert_eq!(died, 2, "each worker dies in its initializer; none replaces it");
    }
}
