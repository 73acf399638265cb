//! The thread pool itself, after CPython's `test_thread_pool.py` and the pool features
//! poolscope adds: panics never kill workers, live resizing with stable worker ids, lazy and
//! eager start, the default size, the simulated GIL, and the probe's events.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::{Gate, drain, next_event};
use crossbeam_channel::Receiver;
use poolscope::pool::gil::Gil;
use poolscope::pool::probe::{DownReason, Outcome, Phase};
use poolscope::pool::task::spin_kernel;
use poolscope::pool::{
    ChannelProbe, Event, EventKind, Executor, TaskError, TaskSpec, ThreadPool, Work, WorkerId, default_thread_workers,
};

fn kinds(rx: &Receiver<Event>) -> Vec<EventKind> {
    drain(rx).into_iter().map(|e| e.kind).collect()
}

fn worker_ups(events: &[EventKind]) -> Vec<WorkerId> {
    events
        .iter()
        .filter_map(|k| if let EventKind::WorkerUp { worker, .. } = k { Some(*worker) } else { None })
        .collect()
}

/// (worker, reason) of every `WorkerDown`, sorted.
fn worker_downs(events: &[EventKind]) -> Vec<(WorkerId, &'static str)> {
    events
        .iter()
        .filter_map(|k| {
            if let EventKind::WorkerDown { worker, reason, .. } = k { Some((*worker, reason.as_str())) } else { None }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Waits for the `Start` of each of `tasks` (in whatever order they come) and returns the
/// workers that took them, in the order of `tasks`.
fn started_on(events: &Receiver<Event>, tasks: &[u64]) -> Vec<WorkerId> {
    let mut workers = vec![None; tasks.len()];
    while workers.iter().any(Option::is_none) {
        if let EventKind::Start { task, worker, .. } = next_event(events, |k| matches!(k, EventKind::Start { .. }))
            && let Some(i) = tasks.iter().position(|t| *t == task)
        {
            workers[i] = Some(worker);
        }
    }
    workers.into_iter().flatten().collect()
}

fn held(pool: &ThreadPool, gate: &Gate) -> poolscope::pool::Future<()> {
    let waiter = gate.waiter();
    pool.submit(move || waiter.wait()).unwrap()
}

// ---- panics ----

#[test]
fn a_panicking_task_fails_its_future_and_its_worker_lives_on() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(2).eager(true).probe(probe).build();
    for round in 0..10 {
        let bad = pool.submit(move || -> u32 { panic!("round {round} panicked") }).unwrap();
        let good = pool.submit(move || round).unwrap();
        assert!(matches!(bad.result(None), Err(TaskError::Failed(m)) if m.contains("panicked")));
        assert_eq!(good.result(None), Ok(round));
    }
    // The `crash` task spec panics on a thread pool; the next spec still runs on worker 0 or 1.
    let crash = pool.submit_task(TaskSpec::new(Work::Crash, Duration::ZERO, "crash")).unwrap();
    assert!(matches!(crash.result(None), Err(TaskError::Failed(_))));
    let after = pool.submit_task(TaskSpec::new(Work::Noop, Duration::ZERO, "after")).unwrap().result(None).unwrap();
    assert!(after.worker < 2, "{after}");
    assert_eq!(pool.live_workers(), 2);
    pool.shutdown(true, false);

    let events = kinds(&events);
    assert_eq!(worker_ups(&events), [0, 1], "no worker was replaced");
    assert_eq!(worker_downs(&events), [(0, "shutdown"), (1, "shutdown")]);
    let failed = events.iter().filter(|k| matches!(k, EventKind::Finish { outcome: Outcome::Error, .. })).count();
    assert_eq!(failed, 11);
    assert!(events.iter().all(|k| !matches!(k, EventKind::Start { worker, .. } if *worker > 1)));
}

// ---- resizing ----

#[test]
fn growing_starts_the_new_workers_at_once() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(2).eager(true).probe(probe).build();
    let gate = Gate::new();
    pool.set_workers(4);
    assert_eq!(pool.workers(), 4);
    assert_eq!(pool.live_workers(), 4);
    assert_eq!(worker_ups(&kinds(&events)), [0, 1, 2, 3]);

    // Four tasks run at the same time: all four workers serve.
    let futures: Vec<_> = (0..4).map(|_| held(&pool, &gate)).collect();
    for _ in 0..4 {
        gate.arrived();
    }
    assert_eq!(pool.active(), 4);
    gate.release(4);
    assert!(futures.iter().all(|f| f.result(None).is_ok()));
}

#[test]
fn shrinking_lets_running_tasks_finish_then_retires_the_extra_workers() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(2).eager(true).probe(probe).build();
    let gate = Gate::new();
    let a = held(&pool, &gate);
    let b = held(&pool, &gate);
    gate.arrived();
    gate.arrived();

    pool.set_workers(1);
    assert_eq!(pool.workers(), 1);
    assert!(a.running() && b.running(), "shrinking does not interrupt running tasks");
    gate.release(2);
    assert_eq!(a.result(None), Ok(()));
    assert_eq!(b.result(None), Ok(()));
    next_event(&events, |k| matches!(k, EventKind::WorkerDown { reason: DownReason::Retired, .. }));
    assert_eq!(pool.live_workers(), 1);
    assert_eq!(pool.submit(|| 9).unwrap().result(None), Ok(9), "the remaining worker still serves");

    pool.shutdown(true, false);
    let retired = worker_downs(&kinds(&events)).iter().filter(|(_, r)| *r == "retired").count();
    assert_eq!(retired, 0, "one worker retired (the event awaited above), and no other");
}

#[test]
fn resizing_keeps_worker_ids_and_reuses_freed_ids_lowest_first() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(4).eager(true).probe(probe).build();
    let gate = Gate::new();
    let first = held(&pool, &gate);
    let second = held(&pool, &gate);
    let busy: BTreeSet<WorkerId> = started_on(&events, &[first.id(), second.id()]).into_iter().collect();
    let idle: Vec<WorkerId> = (0..4).filter(|w| !busy.contains(w)).collect();
    assert_eq!(idle.len(), 2);

    // The idle workers leave; the busy ones cannot, and keep their ids.
    pool.set_workers(2);
    let mut retired = BTreeSet::new();
    for _ in 0..2 {
        if let EventKind::WorkerDown { worker, reason, .. } =
            next_event(&events, |k| matches!(k, EventKind::WorkerDown { .. }))
        {
            assert_eq!(reason, DownReason::Retired);
            retired.insert(worker);
        }
    }
    assert_eq!(retired.iter().copied().collect::<Vec<_>>(), idle);
    assert_eq!(pool.live_workers(), 2);

    pool.set_workers(3);
    assert_eq!(
        next_event(&events, |k| matches!(k, EventKind::WorkerUp { .. })),
        EventKind::WorkerUp { worker: idle[0], pid: std::process::id() },
        "the lowest freed id comes back first"
    );
    pool.set_workers(4);
    assert!(
        matches!(next_event(&events, |k| matches!(k, EventKind::WorkerUp { .. })), EventKind::WorkerUp { worker, .. } if worker == idle[1])
    );

    gate.release(2);
    first.result(None).unwrap();
    second.result(None).unwrap();
    let finished: BTreeSet<WorkerId> = (0..2)
        .filter_map(|_| match next_event(&events, |k| matches!(k, EventKind::Finish { .. })) {
            EventKind::Finish { worker, .. } => Some(worker),
            _ => None,
        })
        .collect();
    assert_eq!(finished, busy, "a task finishes on the worker id it started on");

    // Four workers, ids 0..4, serve at once.
    let futures: Vec<_> = (0..4).map(|_| held(&pool, &gate)).collect();
    let ids: Vec<u64> = futures.iter().map(|f| f.id()).collect();
    let lanes: BTreeSet<WorkerId> = started_on(&events, &ids).into_iter().collect();
    assert_eq!(lanes, BTreeSet::from([0, 1, 2, 3]));
    gate.release(4);
}

#[test]
fn a_pool_never_shrinks_below_one_worker() {
    let pool = ThreadPool::builder().workers(2).eager(true).build();
    pool.set_workers(0);
    assert_eq!(pool.workers(), 1);
    assert_eq!(pool.submit(|| 1).unwrap().result(None), Ok(1));
    assert_eq!(ThreadPool::new(0).workers(), 1);
}

// ---- sizing and start ----

#[test]
fn the_default_size_is_min_32_cpus_plus_4() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(default_thread_workers(), 32.min(cpus + 4));
    assert_eq!(ThreadPool::builder().build().workers(), 32.min(cpus + 4));
    let eager = ThreadPool::builder().eager(true).build();
    assert_eq!(eager.live_workers(), 32.min(cpus + 4));
}

#[test]
fn an_eager_pool_starts_every_worker_before_any_submit() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(3).eager(true).probe(probe).build();
    assert_eq!(pool.live_workers(), 3);
    assert_eq!(worker_ups(&kinds(&events)), [0, 1, 2]);
}

#[test]
fn a_lazy_pool_adds_a_worker_per_submit_while_none_is_idle_up_to_its_size() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(3).probe(probe).build();
    assert_eq!(pool.live_workers(), 0, "no worker before the first submit");
    let gate = Gate::new();
    let mut futures = Vec::new();
    for n in 1..=3 {
        futures.push(held(&pool, &gate));
        gate.arrived();
        assert_eq!(pool.live_workers(), n);
    }
    futures.push(held(&pool, &gate));
    assert_eq!(pool.live_workers(), 3, "never more than the pool's size");
    gate.release(4);
    assert!(futures.iter().all(|f| f.result(None).is_ok()));
    assert_eq!(worker_ups(&kinds(&events)), [0, 1, 2]);
}

#[test]
fn a_lazy_pool_reuses_an_idle_worker_instead_of_starting_one() {
    // As CPython's test_idle_thread_reuse. The worker marks itself idle just after the
    // future completes, so a submit may rarely slip in first and start a worker; a pool that
    // never reused idle workers would start all 32.
    let pool = ThreadPool::new(32);
    for i in 0..100 {
        assert_eq!(pool.submit(move || i).unwrap().result(None), Ok(i));
    }
    assert!(pool.live_workers() <= 8, "{} workers for tasks run one at a time", pool.live_workers());
}

// ---- the GIL ----

#[test]
fn cpu_slices_under_the_gil_never_overlap() {
    let threads = 3;
    let gil = Arc::new(Gil::new(Duration::ZERO));
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (gil, inside, overlaps, finished, barrier) =
                (gil.clone(), inside.clone(), overlaps.clone(), finished.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut guard = gil.acquire();
                let mut switches = 0;
                // Work until handed over 5 times, or until everyone else is done (then no one
                // is left to hand over to).
                while switches < 5 && finished.load(Ordering::SeqCst) < threads - 1 {
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    std::hint::black_box(spin_kernel(1_000, 7));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    if guard.switch_point() {
                        switches += 1;
                    }
                }
                finished.fetch_add(1, Ordering::SeqCst);
                drop(guard);
                switches
            })
        })
        .collect();
    let switches: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two threads ran CPU slices at the same time");
    assert!(switches >= 5, "the GIL was handed over {switches} times");
}

#[test]
fn the_gil_is_handed_to_a_waiting_thread_at_a_switch_point() {
    let gil = Arc::new(Gil::new(Duration::ZERO));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (held_tx, held_rx) = crossbeam_channel::bounded(1);
    let holder = {
        let (gil, log) = (gil.clone(), log.clone());
        std::thread::spawn(move || {
            let mut guard = gil.acquire();
            log.lock().unwrap().push("holder runs");
            held_tx.send(()).unwrap();
            // No one to hand over to until the waiter arrives: a switch point is a no-op.
            while !guard.switch_point() {}
            log.lock().unwrap().push("holder runs again");
        })
    };
    held_rx.recv().unwrap();
    let waiter = {
        let (gil, log) = (gil.clone(), log.clone());
        std::thread::spawn(move || {
            let _guard = gil.acquire();
            log.lock().unwrap().push("waiter runs");
        })
    };
    holder.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(*log.lock().unwrap(), ["holder runs", "waiter runs", "holder runs again"]);
}

#[test]
fn a_gil_pool_runs_cpu_bound_specs_to_completion() {
    let pool = ThreadPool::builder().workers(2).gil(Duration::from_millis(1)).build();
    assert!(pool.has_gil());
    assert!(!ThreadPool::new(1).has_gil());
    let n = 10_000u64;
    let specs = vec![
        TaskSpec::new(Work::Spin, Duration::from_millis(5), "spin-a"),
        TaskSpec::new(Work::Spin, Duration::from_millis(5), "spin-b"),
        TaskSpec::new(Work::SumSquares { n }, Duration::ZERO, "squares"),
    ];
    let futures = pool.submit_tasks(specs, 1).unwrap();
    let values: Vec<_> = futures.iter().map(|f| f.result(None).unwrap()).collect();
    assert_eq!(values.iter().map(|v| v.output.is_some()).collect::<Vec<_>>(), [false, false, true]);
    let expected: u128 = (0..u128::from(n)).map(|i| i * i).sum();
    assert_eq!(values[2].output.as_deref(), Some(expected.to_string().as_str()));
}

// ---- the probe ----

#[test]
fn the_probe_reports_each_step_of_a_task_and_of_the_pool() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(1).probe(probe).build();
    let gate = Gate::new();
    let first = held(&pool, &gate);
    gate.arrived();
    let cancelled = pool.submit(|| ()).unwrap();
    assert!(cancelled.cancel());
    assert!(!first.cancel());
    let last = pool.submit(|| ()).unwrap();
    last.add_done_callback(|_| {});
    gate.release(1);
    last.result(None).unwrap();
    pool.shutdown(true, false);

    let all = drain(&events);
    for pair in all.windows(2) {
        if !matches!(pair[1].kind, EventKind::Callback { .. }) && !matches!(pair[0].kind, EventKind::Callback { .. }) {
            assert!(pair[0].at <= pair[1].at, "timestamps go back: {pair:?}");
        }
    }
    let mut kinds: Vec<EventKind> = all.into_iter().map(|e| e.kind).collect();
    let callback = kinds.iter().position(|k| matches!(k, EventKind::Callback { .. })).expect("no callback event");
    // The callback runs on the worker, concurrently with the main thread's shutdown call.
    assert_eq!(
        kinds.remove(callback),
        EventKind::Callback { task: 2, thread: "poolscope-worker-0".into(), panicked: None }
    );
    let pid = std::process::id();
    assert_eq!(
        kinds,
        [
            EventKind::Submit { task: 0, label: None, cost: None, cpu: false },
            EventKind::WorkerUp { worker: 0, pid },
            EventKind::Start { task: 0, worker: 0, pid },
            EventKind::Submit { task: 1, label: None, cost: None, cpu: false },
            EventKind::Cancel { task: 1, ok: true },
            EventKind::Cancel { task: 0, ok: false },
            EventKind::Submit { task: 2, label: None, cost: None, cpu: false },
            EventKind::Finish { task: 0, worker: 0, outcome: Outcome::Ok, value: None, error: None },
            EventKind::Start { task: 2, worker: 0, pid },
            EventKind::Finish { task: 2, worker: 0, outcome: Outcome::Ok, value: None, error: None },
            EventKind::Shutdown { wait: true, phase: Phase::Begin },
            EventKind::WorkerDown { worker: 0, pid, reason: DownReason::Shutdown, cause: None },
            EventKind::Shutdown { wait: true, phase: Phase::End },
        ]
    );
    let down = kinds.iter().position(|k| matches!(k, EventKind::WorkerDown { .. })).unwrap();
    assert!(callback <= down, "the callback ran before its worker left");
}

#[test]
fn the_probe_reports_failures_labels_and_abandoned_tasks() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(1).eager(true).probe(probe).build();
    let failing = pool.submit_fallible(|| Err::<(), _>("bad input")).unwrap();
    assert!(failing.result(None).is_err());
    let gate = Gate::new();
    let _held = held(&pool, &gate);
    gate.arrived();
    let spec = pool.submit_task(TaskSpec::new(Work::Noop, Duration::ZERO, "Process7")).unwrap();
    pool.terminate();
    assert_eq!(spec.result(None).unwrap_err(), TaskError::PoolShutdown);
    gate.release(1);
    pool.join().unwrap();

    let events = kinds(&events);
    assert!(events.contains(&EventKind::Finish {
        task: 0,
        worker: 0,
        outcome: Outcome::Error,
        value: None,
        error: Some("bad input".into())
    }));
    assert!(events.contains(&EventKind::Submit {
        task: 2,
        label: Some("Process7".into()),
        cost: Some(Duration::ZERO),
        cpu: false
    }));
    assert!(events.contains(&EventKind::Abandon { task: 2, error: None }));
    assert_eq!(worker_downs(&events), [(0, "terminated")]);
}

#[test]
fn a_bounded_probe_nobody_reads_drops_and_counts_instead_of_blocking() {
    let (probe, events) = ChannelProbe::bounded(4);
    let pool = ThreadPool::builder().workers(1).eager(true).probe(probe.clone()).build();
    let futures: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(None), Ok(i));
    }
    // One WorkerUp, then submit + start + finish per task; four fit in the channel.
    assert_eq!(probe.dropped(), 1 + 3 * 50 - 4);
    pool.shutdown(true, false);
    assert_eq!(probe.dropped(), 1 + 3 * 50 + 3 - 4);
    let kept = kinds(&events);
    assert_eq!(kept.len(), 4);
    assert_eq!(kept[0], EventKind::WorkerUp { worker: 0, pid: std::process::id() });
    assert_eq!(kept[1], EventKind::Submit { task: 0, label: None, cost: None, cpu: false });
}

#[test]
fn a_probe_whose_reader_is_gone_does_not_disturb_the_pool() {
    let (probe, events) = ChannelProbe::bounded(1);
    drop(events);
    let pool = ThreadPool::builder().workers(2).probe(probe).build();
    let total: u64 = pool.map(|i: u64| i, 0..100, Default::default()).unwrap().map(Result::unwrap).sum();
    assert_eq!(total, 4950);
}

#[test]
fn with_a_results_thread_every_callback_runs_on_it_not_on_the_worker() {
    // As multiprocessing.pool.ThreadPool's result handler.
    let pool = ThreadPool::builder().workers(3).name("mp").results_thread().build();
    let barrier = Arc::new(Barrier::new(4));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let futures: Vec<_> = (0..3)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait();
                (i, std::thread::current().name().unwrap_or("").to_string())
            })
            .unwrap()
        })
        .collect();
    for future in &futures {
        let ran = Arc::clone(&ran);
        future.add_done_callback(move |f| {
            let (_, worker) = f.result(None).unwrap();
            ran.lock().unwrap().push((worker, std::thread::current().name().unwrap_or("").to_string()));
        });
    }
    // Every callback is added before any task can end.
    barrier.wait();
    pool.shutdown(true, false);
    let ran = ran.lock().unwrap();
    let workers: BTreeSet<&str> = ran.iter().map(|(w, _)| w.as_str()).collect();
    let callbacks: BTreeSet<&str> = ran.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(ran.len(), 3, "all ran before shutdown(wait=True) returned");
    assert_eq!(workers.len(), 3, "{ran:?}");
    assert_eq!(callbacks, BTreeSet::from(["mp-results"]));
}

#[test]
fn a_plain_queue_is_an_ordinary_queue_to_threads() {
    let queues = Arc::new(poolscope::pool::SharedQueues::default());
    queues.mark_plain("q");
    let pool = ThreadPool::builder().workers(1).queues(Arc::clone(&queues)).build();
    let put = TaskSpec::new(Work::QueuePut { queue: "q".into(), item: "x".into() }, Duration::ZERO, "put");
    pool.submit_task(put).unwrap().result(None).unwrap();
    assert_eq!(queues.get("q"), Ok("x".into()));
}
