//! The process pool: real child processes with the `concurrent.futures` API.
//!
//! Tasks synchronise with the test through the pool's shared queues: a task doing
//! `queue_get("gate")` waits in its worker process until the test puts an item; sent as the
//! chunk `[noop, queue_get("gate")]`, the no-op's result tells the test the worker is there. No
//! test sleeps and hopes; every wait has a deadlock guard.
#![cfg(feature = "ui")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use poolscope::pool::error::{BROKEN_FUTURE, QUEUE_NOT_INHERITED};
use poolscope::pool::probe::{DownReason, Outcome};
use poolscope::pool::{
    ChannelProbe, Event, EventKind, MapOptions, OnWorkerDeath, PoolError, ProcessPool, ProcessPoolBuilder, ReturnWhen,
    SubmitError, TaskError, TaskSpec, Work, as_completed, wait,
};

const BIN: &str = env!("CARGO_BIN_EXE_poolscope");
/// Only turns a hang into a failure; never reached by a passing test.
const DEADLOCK: Duration = Duration::from_secs(30);

fn builder(workers: usize) -> ProcessPoolBuilder {
    ProcessPool::builder().workers(workers).worker_program(BIN)
}

fn noop(label: &str) -> TaskSpec {
    TaskSpec::new(Work::Noop, Duration::ZERO, label)
}

fn put(queue: &str, item: &str) -> TaskSpec {
    TaskSpec::new(Work::QueuePut { queue: queue.into(), item: item.into() }, Duration::ZERO, format!("put {item}"))
}

fn get(queue: &str) -> TaskSpec {
    TaskSpec::new(Work::QueueGet { queue: queue.into() }, Duration::ZERO, format!("get {queue}"))
}

/// Starts a task that waits in its worker for an item on the `gate` queue, and returns its
/// future once the worker is running it (the no-op before it in the same job has finished).
fn start_gated(pool: &ProcessPool, label: &str) -> poolscope::pool::Future<poolscope::pool::TaskValue> {
    let futures = pool.submit_tasks(vec![noop(label), get("gate")], 2).unwrap();
    futures[0].result(Some(DEADLOCK)).expect("the worker runs the job");
    futures[1].clone()
}

fn open_gate(pool: &ProcessPool, n: usize) {
    for _ in 0..n {
        pool.queues().put("gate", "go".into()).unwrap();
    }
}

fn events() -> (Arc<ChannelProbe>, Receiver<Event>) {
    ChannelProbe::unbounded()
}

/// Collects events until `done` holds for the events so far.
fn events_until(rx: &Receiver<Event>, seen: &mut Vec<EventKind>, done: impl Fn(&[EventKind]) -> bool) {
    while !done(seen) {
        seen.push(rx.recv_timeout(DEADLOCK).expect("the expected event never came: deadlock?").kind);
    }
}

#[test]
fn results_come_from_real_distinct_processes() {
    let pool = builder(2).eager(true).build().unwrap();
    assert_eq!(pool.pids().len(), 2);
    let futures: Vec<_> = (0..2).map(|_| start_gated(&pool, "g")).collect();
    open_gate(&pool, 2);
    let pids: BTreeSet<u32> = futures.iter().map(|f| f.result(Some(DEADLOCK)).unwrap().pid).collect();
    assert_eq!(pids.len(), 2, "two busy tasks ran in two processes");
    assert!(!pids.contains(&std::process::id()));
    let live: BTreeSet<u32> = pool.pids().into_iter().map(|(_, pid)| pid).collect();
    assert_eq!(pids, live);
}

#[test]
fn ten_tasks_on_four_workers_reuse_the_pids() {
    let pool = builder(4).build().unwrap();
    let specs: Vec<_> =
        (0..10).map(|i| TaskSpec::new(Work::Sleep, Duration::from_millis(2), format!("Process{i}"))).collect();
    let futures = pool.submit_tasks(specs, 1).unwrap();
    let values: Vec<_> = futures.iter().map(|f| f.result(Some(DEADLOCK)).unwrap()).collect();
    let pids: BTreeSet<u32> = values.iter().map(|v| v.pid).collect();
    assert!((1..=4).contains(&pids.len()), "{pids:?}");
    assert!(values.iter().all(|v| v.worker < 4));
    let v = &values[3];
    assert_eq!(v.describe("Process3"), format!("Process3 by worker {} (pid {})", v.worker, v.pid));
    assert!(format!("{pool:?}").contains("ProcessPool"));
}

#[test]
fn map_yields_in_input_order_and_a_chunk_runs_on_one_worker() {
    let pool = builder(3).build().unwrap();
    let specs: Vec<_> = (0..10u64)
        .map(|i| TaskSpec::new(Work::SumSquares { n: (10 - i) * 1000 }, Duration::ZERO, format!("s{i}")))
        .collect();
    let values: Vec<_> = pool
        .map_tasks(specs, MapOptions { chunksize: 3, timeout: Some(DEADLOCK) })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<String> =
        (0..10u64).map(|i| (0..(10 - i) * 1000).map(|k| u128::from(k * k)).sum::<u128>().to_string()).collect();
    let outputs: Vec<String> = values.iter().map(|v| v.output.clone().unwrap()).collect();
    assert_eq!(outputs, expected);
    for chunk in values.chunks(3) {
        assert!(chunk.iter().all(|v| v.pid == chunk[0].pid), "a chunk is one message to one worker");
    }
}

#[test]
fn as_completed_yields_in_completion_order() {
    let pool = builder(2).eager(true).build().unwrap();
    let slow = start_gated(&pool, "slow");
    let quick: Vec<_> = (0..3).map(|i| pool.submit_task(noop(&format!("q{i}"))).unwrap()).collect();
    let mut all = vec![slow.clone()];
    all.extend(quick.iter().cloned());
    let mut order = Vec::new();
    for future in as_completed(&all, Some(DEADLOCK)) {
        order.push(future.unwrap().id());
        if order.len() == 3 {
            open_gate(&pool, 1);
        }
    }
    assert_eq!(order.last(), Some(&slow.id()), "the gated task finishes last: {order:?}");
    assert_eq!(order.len(), 4);
}

#[test]
fn wait_first_completed_then_all_completed() {
    let pool = builder(2).eager(true).build().unwrap();
    let slow = start_gated(&pool, "slow");
    let quick = pool.submit_task(noop("quick")).unwrap();
    let futures = vec![slow.clone(), quick.clone()];
    let first = wait(&futures, Some(DEADLOCK), ReturnWhen::FirstCompleted);
    assert!(first.done.iter().any(|f| f.ptr_eq(&quick)));
    assert!(first.not_done.iter().any(|f| f.ptr_eq(&slow)));
    open_gate(&pool, 1);
    let all = wait(&futures, Some(DEADLOCK), ReturnWhen::AllCompleted);
    assert_eq!(all.done.len(), 2);
    assert!(all.not_done.is_empty());
}

#[test]
fn callbacks_run_in_the_parent_in_order() {
    let pool = builder(1).build().unwrap();
    let future = pool.submit_task(TaskSpec::new(Work::Sleep, Duration::from_millis(1), "cb")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for n in 0..3 {
        let seen = Arc::clone(&seen);
        future.add_done_callback(move |f| {
            let value = f.result(None).unwrap();
            seen.lock().unwrap().push((n, std::process::id(), value.pid));
        });
    }
    future.result(Some(DEADLOCK)).unwrap();
    pool.shutdown(true, false);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(seen.iter().all(|&(_, ran_in, worker_pid)| ran_in == std::process::id() && worker_pid != ran_in));
}

#[test]
fn callbacks_from_every_worker_run_on_the_pools_one_results_thread() {
    let pool = builder(3).build().unwrap();
    let threads = Arc::new(Mutex::new(Vec::new()));
    // Each task waits at the gate, so every callback is added before its task is done.
    let futures: Vec<_> = (0..3).map(|_| pool.submit_task(get("gate")).unwrap()).collect();
    for future in &futures {
        let threads = Arc::clone(&threads);
        future.add_done_callback(move |f| {
            let worker = f.result(None).unwrap().worker;
            let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
            threads.lock().unwrap().push((worker, thread));
        });
    }
    open_gate(&pool, 3);
    pool.shutdown(true, false);
    let threads = threads.lock().unwrap();
    let workers: BTreeSet<_> = threads.iter().map(|(worker, _)| *worker).collect();
    let names: BTreeSet<&str> = threads.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(workers.len(), 3, "one task per worker: {threads:?}");
    assert_eq!(names, BTreeSet::from(["poolscope-results"]), "ran before shutdown(wait=True) returned, on one thread");
}

#[test]
fn a_callback_may_shut_the_pool_down() {
    let pool = Arc::new(builder(2).build().unwrap());
    let (tx, rx) = crossbeam_channel::bounded(1);
    let first = pool.submit_task(noop("first")).unwrap();
    let weak = Arc::downgrade(&pool);
    first.add_done_callback(move |_| {
        if let Some(pool) = weak.upgrade() {
            pool.shutdown(true, false);
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(DEADLOCK).expect("the callback returned");
    assert!(matches!(pool.submit_task(noop("late")), Err(SubmitError::Shutdown(_))));
}

#[test]
fn a_pending_task_cancels_a_running_one_does_not_nor_one_in_the_call_queue() {
    let pool = builder(1).eager(true).build().unwrap();
    let running = start_gated(&pool, "running");
    // As ProcessPoolExecutor: the call queue holds workers + 1 = 2 tasks, marked running
    // though no worker has them yet.
    let called: Vec<_> = (0..2).map(|i| pool.submit_task(noop(&format!("called{i}"))).unwrap()).collect();
    let pending = pool.submit_task(noop("pending")).unwrap();
    assert!(running.running());
    assert!(!running.cancel());
    for future in &called {
        assert!(future.running(), "in the call queue: running");
        assert!(!future.cancel());
    }
    assert!(!pending.running());
    assert!(pending.cancel());
    assert!(pending.cancelled());
    open_gate(&pool, 1);
    assert!(running.result(Some(DEADLOCK)).is_ok());
    for future in &called {
        assert!(future.result(Some(DEADLOCK)).is_ok());
    }
    assert_eq!(pending.result(Some(DEADLOCK)), Err(TaskError::Cancelled));
}

#[test]
fn a_burst_of_submits_fills_the_call_queue_once() {
    let pool = builder(2).eager(true).build().unwrap();
    // One submit call for four tasks: the call queue takes workers + 1 = 3, two workers
    // take two of them, and the fourth stays pending: CPython's [False, False, False, True].
    let futures = pool.submit_tasks((0..4).map(|_| get("gate")).collect(), 1).unwrap();
    let cancelled: Vec<bool> = futures.iter().map(|f| f.cancel()).collect();
    assert_eq!(cancelled, [false, false, false, true]);
    open_gate(&pool, 3);
    for future in &futures[..3] {
        assert!(future.result(Some(DEADLOCK)).is_ok());
    }
}

#[test]
fn shutdown_with_wait_runs_queued_work_and_hands_back_later_submits() {
    let pool = builder(1).build().unwrap();
    let futures = pool.submit_tasks((0..5).map(|i| noop(&format!("n{i}"))).collect(), 1).unwrap();
    pool.shutdown(true, false);
    assert!(futures.iter().all(|f| f.result(Some(Duration::ZERO)).is_ok()));
    assert!(pool.pids().is_empty(), "every worker exited");
    match pool.submit_task(noop("late")) {
        Err(SubmitError::Shutdown(spec)) => assert_eq!(spec, noop("late")),
        other => panic!("expected the spec back, got {other:?}"),
    }
    assert!(pool.join().is_ok());
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_is_not_in_the_call_queue() {
    let (probe, rx) = events();
    let pool = builder(1).eager(true).probe(probe).build().unwrap();
    let running = start_gated(&pool, "running");
    let queued: Vec<_> = (0..4).map(|i| pool.submit_task(noop(&format!("q{i}"))).unwrap()).collect();
    pool.shutdown(false, true);
    // The pool's results thread cancels them, as CPython's management thread does: wait.
    for future in &queued[2..] {
        assert_eq!(future.result(Some(DEADLOCK)), Err(TaskError::Cancelled));
    }
    let cancelled: Vec<bool> = queued.iter().map(|f| f.cancelled()).collect();
    assert_eq!(cancelled, [false, false, true, true], "the call queue's two run, as in CPython");
    open_gate(&pool, 1);
    assert!(running.result(Some(DEADLOCK)).is_ok());
    assert!(queued[..2].iter().all(|f| f.result(Some(DEADLOCK)).is_ok()));
    pool.join().unwrap();
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().any(|k| matches!(k, EventKind::WorkerDown { reason: DownReason::Shutdown, .. })));
}

#[test]
fn join_before_close_is_an_error() {
    let pool = builder(1).build().unwrap();
    assert_eq!(pool.join(), Err(PoolError::StillRunning));
    pool.close();
    assert_eq!(pool.join(), Ok(()));
}

#[test]
fn terminate_kills_the_workers_and_fails_their_tasks() {
    let (probe, rx) = events();
    let pool = builder(1).eager(true).probe(probe).build().unwrap();
    let pid = pool.pids()[0].1;
    let running = start_gated(&pool, "running");
    let queued = pool.submit_task(noop("queued")).unwrap();
    pool.terminate();
    let outcome = running.result(Some(DEADLOCK));
    assert!(matches!(outcome, Err(TaskError::WorkerDied(_))), "{outcome:?}");
    assert_eq!(queued.result(Some(DEADLOCK)), Err(TaskError::PoolShutdown));
    pool.join().unwrap();
    assert!(pool.pids().is_empty());
    assert!(!alive(pid));
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::WorkerDown { worker: 0, pid, reason: DownReason::Terminated, cause: None }));
    assert!(matches!(pool.submit_task(noop("late")), Err(SubmitError::Shutdown(_))));
}

#[test]
fn resize_grows_at_once_shrinks_after_running_tasks_and_reuses_ids() {
    let (probe, rx) = events();
    let pool = builder(1).eager(true).probe(probe).build().unwrap();
    pool.set_workers(3);
    assert_eq!(pool.workers(), 3);
    assert_eq!(pool.pids().iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 2]);
    // Workers 0 and 1 are busy: shrinking to 1 retires the idle worker 2 at once, then
    // the busy worker with the highest id after its task.
    let busy: Vec<_> = (0..2).map(|i| start_gated(&pool, &format!("busy{i}"))).collect();
    assert_eq!(pool.active(), 2);
    pool.set_workers(1);
    assert_eq!(pool.workers(), 1);
    let mut seen = Vec::new();
    let retired = |seen: &[EventKind]| -> Vec<usize> {
        seen.iter()
            .filter_map(|k| match k {
                EventKind::WorkerDown { worker, reason: DownReason::Retired, .. } => Some(*worker),
                _ => None,
            })
            .collect()
    };
    events_until(&rx, &mut seen, |s| retired(s).len() == 1);
    assert_eq!(retired(&seen), [2], "the idle worker leaves first");
    assert!(busy.iter().all(|b| !b.done()), "running tasks are not interrupted");
    open_gate(&pool, 2);
    for b in &busy {
        b.result(Some(DEADLOCK)).unwrap();
    }
    events_until(&rx, &mut seen, |s| retired(s).len() == 2);
    assert_eq!(retired(&seen), [2, 1]);
    assert_eq!(pool.pids().iter().map(|p| p.0).collect::<Vec<_>>(), [0]);
    pool.set_workers(2);
    assert_eq!(pool.pids().iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1], "freed ids are reused lowest first");
}

#[test]
fn the_initializer_runs_once_in_each_new_worker_before_any_task() {
    let pool = builder(2).eager(true).initializer(put("init", "ready")).build().unwrap();
    assert_eq!(pool.queues().get("init"), Ok("ready".into()));
    assert_eq!(pool.queues().get("init"), Ok("ready".into()));
    pool.submit_task(noop("after")).unwrap().result(Some(DEADLOCK)).unwrap();
    assert!(pool.queues().is_empty("init"));
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let failing = TaskSpec::new(Work::Fail { message: "no config".into() }, Duration::ZERO, "init");
    let (probe, rx) = events();
    let pool = builder(1).probe(probe).initializer(failing).on_worker_death(OnWorkerDeath::Respawn).build().unwrap();
    let future = pool.submit_task(noop("t")).unwrap();
    // As CPython 3.11: the generic BrokenProcessPool message; the cause is kept on the pool.
    assert_eq!(future.result(Some(DEADLOCK)), Err(TaskError::WorkerDied(BROKEN_FUTURE.into())));
    assert!(pool.broken().is_some_and(|why| why.contains("no config")), "{:?}", pool.broken());
    assert!(matches!(pool.submit_task(noop("late")), Err(SubmitError::Broken(_))));
    pool.shutdown(true, false);
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    let t = &tally(&kinds)[&future.id()];
    assert_eq!((t.starts, t.finishes.len(), t.abandons), (0, 0, 1), "never begun: {kinds:?}");
    let said = kinds.iter().find_map(|k| match k {
        EventKind::WorkerDown { reason: DownReason::Died, cause, .. } => cause.clone(),
        _ => None,
    });
    assert_eq!(said.as_deref(), Some("it ran init, which raised no config"), "the exit says why");
}

#[test]
fn a_task_taking_a_plain_queue_cannot_be_sent_and_fails_without_running() {
    let (probe, rx) = events();
    let queues = Arc::new(poolscope::pool::SharedQueues::default());
    queues.mark_plain("q");
    let pool = builder(1).probe(probe).queues(Arc::clone(&queues)).build().unwrap();
    let unsent = pool.submit_task(put("q", "x")).unwrap();
    let error = TaskError::NotSent(QUEUE_NOT_INHERITED.into());
    assert_eq!(unsent.result(Some(DEADLOCK)), Err(error.clone()));
    assert_eq!(error.python_name(), "RuntimeError");
    // A chunk that takes one fails whole, as CPython pickles a chunk at once.
    let chunk = pool.submit_tasks(vec![noop("a"), get("q")], 2).unwrap();
    for future in &chunk {
        assert!(matches!(future.result(Some(DEADLOCK)), Err(TaskError::NotSent(_))));
    }
    // The pool is not broken: a task on a Manager's queue, or none, still runs.
    assert!(pool.submit_task(put("managed", "y")).unwrap().result(Some(DEADLOCK)).is_ok());
    assert!(queues.is_empty("q"), "nothing reached the plain queue");
    pool.shutdown(true, false);
    let seen: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    let unsent_ids = [unsent.id(), chunk[0].id(), chunk[1].id()];
    for id in unsent_ids {
        assert!(seen.contains(&EventKind::Abandon { task: id, error: Some(QUEUE_NOT_INHERITED.into()) }), "{seen:?}");
        assert!(!seen.iter().any(|k| matches!(k, EventKind::Start { task, .. } if *task == id)));
    }
}

#[test]
fn a_failing_task_leaves_its_worker_alive() {
    let pool = builder(1).build().unwrap();
    let failed = pool.submit_task(TaskSpec::new(Work::Fail { message: "boom".into() }, Duration::ZERO, "f")).unwrap();
    assert_eq!(failed.result(Some(DEADLOCK)), Err(TaskError::Failed("boom".into())));
    let pid = pool.pids()[0].1;
    assert_eq!(pool.submit_task(noop("next")).unwrap().result(Some(DEADLOCK)).unwrap().pid, pid);
}

/// Per task: how many times it started, finished (and how), or was abandoned.
#[derive(Default, Debug)]
struct Tally {
    starts: usize,
    finishes: Vec<Outcome>,
    abandons: usize,
}

fn tally(kinds: &[EventKind]) -> BTreeMap<u64, Tally> {
    let mut tallies: BTreeMap<u64, Tally> = BTreeMap::new();
    for kind in kinds {
        match kind {
            EventKind::Start { task, .. } => tallies.entry(*task).or_default().starts += 1,
            EventKind::Finish { task, outcome, .. } => tallies.entry(*task).or_default().finishes.push(*outcome),
            EventKind::Abandon { task, .. } => tallies.entry(*task).or_default().abandons += 1,
            _ => {}
        }
    }
    tallies
}

#[test]
fn a_crash_under_break_fails_every_pending_task_and_refuses_submits() {
    let (probe, rx) = events();
    let pool = builder(1).eager(true).probe(probe).build().unwrap();
    let crash = pool.submit_task(TaskSpec::new(Work::Crash, Duration::ZERO, "crash")).unwrap();
    let pending: Vec<_> = (0..4).map(|i| pool.submit_task(noop(&format!("p{i}"))).unwrap()).collect();
    // CPython's messages, word for word; the cause is kept on the pool.
    let broken = Err(TaskError::WorkerDied(BROKEN_FUTURE.into()));
    assert_eq!(crash.result(Some(DEADLOCK)), broken);
    for future in &pending {
        assert_eq!(future.result(Some(DEADLOCK)), broken);
    }
    assert!(pool.broken().is_some_and(|why| why.contains("SIGABRT")), "{:?}", pool.broken());
    let refused = pool.submit_task(noop("late")).unwrap_err();
    assert!(matches!(refused, SubmitError::Broken(_)));
    assert_eq!(refused.to_string(), "A child process terminated abruptly, the process pool is not usable anymore");
    pool.shutdown(true, false);
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().any(|k| matches!(k, EventKind::WorkerDown { reason: DownReason::Died, .. })));
    let tallies = tally(&kinds);
    assert_eq!(tallies[&crash.id()].finishes, [Outcome::Crashed]);
    for future in &pending {
        let t = &tallies[&future.id()];
        assert_eq!((t.starts, t.finishes.len(), t.abandons), (0, 0, 1), "{t:?}");
    }
}

#[test]
fn a_crash_under_break_fails_the_tasks_other_workers_run_and_stops_them() {
    let (probe, rx) = events();
    let pool = builder(2).eager(true).probe(probe).build().unwrap();
    let pids = pool.pids();
    let other = start_gated(&pool, "other");
    let crash = pool.submit_task(TaskSpec::new(Work::Crash, Duration::ZERO, "crash")).unwrap();
    let broken = Err(TaskError::WorkerDied(BROKEN_FUTURE.into()));
    assert_eq!(crash.result(Some(DEADLOCK)), broken);
    assert_eq!(other.result(Some(DEADLOCK)), broken, "as ProcessPoolExecutor: running futures fail too");
    pool.shutdown(true, false);
    for (_, pid) in pids {
        assert!(!alive(pid), "worker {pid} outlived its broken pool");
    }
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().any(|k| matches!(k, EventKind::WorkerDown { reason: DownReason::Died, .. })));
    assert!(kinds.iter().any(|k| matches!(k, EventKind::WorkerDown { reason: DownReason::Terminated, .. })));
    assert_eq!(tally(&kinds)[&other.id()].finishes, [Outcome::Crashed]);
}

#[test]
fn a_crash_under_respawn_loses_no_task_and_runs_none_twice() {
    let (probe, rx) = events();
    let pool = builder(2).eager(true).probe(probe).on_worker_death(OnWorkerDeath::Respawn).build().unwrap();
    let before: BTreeMap<_, _> = pool.pids().into_iter().collect();
    // One chunk: the crash, then tasks the dead worker had received but not started.
    let mut chunk = vec![TaskSpec::new(Work::Crash, Duration::ZERO, "crash")];
    chunk.extend((0..5).map(|i| put("ran", &format!("c{i}"))));
    let chunked = pool.submit_tasks(chunk, 6).unwrap();
    let others = pool.submit_tasks((0..20).map(|i| put("ran", &format!("o{i}"))).collect(), 1).unwrap();
    assert!(matches!(chunked[0].result(Some(DEADLOCK)), Err(TaskError::WorkerDied(_))));
    for future in chunked[1..].iter().chain(&others) {
        future.result(Some(DEADLOCK)).unwrap();
    }
    let mut ran: Vec<String> = (0..pool.queues().len("ran")).map(|_| pool.queues().get("ran").unwrap()).collect();
    ran.sort();
    let mut expected: Vec<String> = (0..5).map(|i| format!("c{i}")).chain((0..20).map(|i| format!("o{i}"))).collect();
    expected.sort();
    assert_eq!(ran, expected, "every task ran exactly once");
    let after: BTreeMap<_, _> = pool.pids().into_iter().collect();
    assert_eq!(after.len(), 2);
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "the same lanes");
    assert_ne!(before, after, "one lane has a new process");
    assert!(pool.broken().is_none());
    pool.shutdown(true, false);
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    let ups = kinds.iter().filter(|k| matches!(k, EventKind::WorkerUp { .. })).count();
    assert_eq!(ups, 3, "two workers, one respawn");
    for (task, t) in tally(&kinds) {
        assert_eq!((t.starts, t.finishes.len(), t.abandons), (1, 1, 0), "task {task}: {t:?}");
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; it only waits for its (new) parent to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn kill9(pid: u32) {
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill(1) runs");
    assert!(status.success());
}

#[test]
fn a_worker_killed_from_outside_is_reported_and_respawned() {
    let (probe, rx) = events();
    let pool = builder(1).eager(true).probe(probe).on_worker_death(OnWorkerDeath::Respawn).build().unwrap();
    let running = start_gated(&pool, "victim");
    let behind = pool.submit_task(noop("behind")).unwrap();
    let pid = pool.pids()[0].1;
    kill9(pid);
    match running.result(Some(DEADLOCK)) {
        Err(TaskError::WorkerDied(why)) => assert!(why.contains("SIGKILL"), "{why}"),
        other => panic!("{other:?}"),
    }
    let value = behind.result(Some(DEADLOCK)).unwrap();
    assert_ne!(value.pid, pid);
    assert_eq!(value.worker, 0);
    let mut seen = Vec::new();
    events_until(&rx, &mut seen, |s| {
        s.iter().filter(|k| matches!(k, EventKind::WorkerUp { worker: 0, .. })).count() == 2
    });
    assert!(seen.contains(&EventKind::WorkerDown { worker: 0, pid, reason: DownReason::Died, cause: None }));
    assert!(seen.contains(&EventKind::WorkerUp { worker: 0, pid: value.pid }));
}

#[test]
fn a_writer_and_a_reader_share_a_queue_across_processes() {
    let pool = builder(2).eager(true).build().unwrap();
    let readers = pool.submit_tasks(vec![get("letters"), get("letters"), get("letters")], 3).unwrap();
    let writer = pool.submit_tasks(vec![put("letters", "a"), put("letters", "b"), put("letters", "c")], 3).unwrap();
    let got: Vec<String> = readers.iter().map(|f| f.result(Some(DEADLOCK)).unwrap().output.unwrap()).collect();
    assert_eq!(got, [r#"got "a" from letters"#, r#"got "b" from letters"#, r#"got "c" from letters"#]);
    let writer_pid = writer[0].result(Some(DEADLOCK)).unwrap().pid;
    assert_ne!(writer_pid, readers[0].result(None).unwrap().pid);
}

#[test]
fn a_missing_worker_program_is_an_error_at_build() {
    let err = ProcessPool::builder().worker_program("/nonexistent/poolscope").build().unwrap_err();
    assert!(err.to_string().contains("/nonexistent/poolscope"), "{err}");
}

#[test]
fn a_program_that_is_not_a_worker_breaks_the_pool_instead_of_respawning_for_ever() {
    let pool = ProcessPool::builder()
        .workers(1)
        .worker_program("/bin/true")
        .on_worker_death(OnWorkerDeath::Respawn)
        .build()
        .unwrap();
    let future = pool.submit_task(noop("t")).unwrap();
    assert!(matches!(future.result(Some(DEADLOCK)), Err(TaskError::WorkerDied(_))));
    assert!(pool.broken().is_some());
}

/// A pool of one fake worker, `tests/fixtures/workers/{name}.sh`: a shell script that
/// answers the handshake and then misbehaves.
fn fake_worker_pool(name: &str) -> (ProcessPool, Receiver<Event>) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/workers/{name}.sh"));
    let (probe, rx) = events();
    let pool = ProcessPool::builder().workers(1).worker_program(script).probe(probe).build().unwrap();
    (pool, rx)
}

/// The task fails as in CPython (`BrokenProcessPool`), the worker is down, and the pool says
/// why it broke.
fn assert_death_reported(pool: &ProcessPool, rx: &Receiver<Event>, why: &str) {
    let future = pool.submit_task(noop("t")).unwrap();
    assert!(matches!(future.result(Some(DEADLOCK)), Err(TaskError::WorkerDied(_))));
    let broken = pool.broken().expect("a worker that died breaks the pool");
    assert!(broken.contains(why) && broken.contains("worker 0 (pid "), "{broken}");
    let mut seen = Vec::new();
    events_until(rx, &mut seen, |s| s.iter().any(|k| matches!(k, EventKind::WorkerDown { .. })));
    assert!(seen.iter().any(|k| matches!(k, EventKind::WorkerDown { worker: 0, reason: DownReason::Died, .. })));
    assert!(matches!(pool.submit_task(noop("after")), Err(SubmitError::Broken(..))));
}

#[test]
fn a_worker_writing_garbage_is_reported_as_breaking_the_protocol() {
    let (pool, rx) = fake_worker_pool("garbage");
    assert_death_reported(&pool, &rx, "broke the protocol (poolscope worker protocol: a frame of");
}

#[test]
fn a_worker_killed_in_the_middle_of_a_message_is_reported_so() {
    let (pool, rx) = fake_worker_pool("dies-mid-message");
    assert_death_reported(&pool, &rx, "was killed by signal 9 (SIGKILL) in the middle of a message");
}

const ORPHAN_PARENT: &str = "POOLSCOPE_TEST_ORPHAN_PARENT";

/// The parent process of `workers_exit_when_their_parent_is_killed`: that test re-runs
/// itself with [`ORPHAN_PARENT`] set to be it. Starts two workers on long CPU-bound tasks,
/// prints their pids, and waits to be killed.
fn orphan_parent() -> ! {
    let (probe, rx) = events();
    let pool = builder(2).eager(true).probe(probe).build().unwrap();
    let spin = TaskSpec::new(Work::Spin, Duration::from_secs(60), "spin");
    let _futures = pool.submit_tasks(vec![spin.clone(), spin], 1).unwrap();
    let mut seen = Vec::new();
    events_until(&rx, &mut seen, |s| s.iter().filter(|k| matches!(k, EventKind::Start { .. })).count() == 2);
    let pids: Vec<String> = pool.pids().iter().map(|p| p.1.to_string()).collect();
    println!("WORKERS {}", pids.join(" "));
    loop {
        std::thread::park();
    }
}

#[test]
fn workers_exit_when_their_parent_is_killed() {
    if std::env::var_os(ORPHAN_PARENT).is_some() {
        orphan_parent();
    }
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "workers_exit_when_their_parent_is_killed", "--nocapture", "--test-threads", "1"])
        .env(ORPHAN_PARENT, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(parent.stdout.take().unwrap());
    let pids: Vec<u32> = stdout
        .lines()
        .map(Result::unwrap)
        .find_map(|line| line.split_once("WORKERS ").map(|(_, p)| p.split(' ').map(|p| p.parse().unwrap()).collect()))
        .expect("the parent reports its workers");
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&pid| alive(pid)));
    parent.kill().unwrap(); // SIGKILL: no destructor, no Drop, nothing runs in the parent
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut left: Vec<u32> = pids.clone();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&pid| alive(pid));
        std::thread::yield_now();
    }
    for &pid in &left {
        kill9(pid); // do not leave spinning orphans behind a failed test
    }
    assert!(left.is_empty(), "workers {left:?} outlived their parent by a second");
}

#[test]
fn the_pool_reports_its_worker_pids_in_events() {
    let (probe, rx) = events();
    let pool = builder(2).probe(probe).build().unwrap();
    let futures = pool.submit_tasks((0..6).map(|i| noop(&format!("n{i}"))).collect(), 2).unwrap();
    let values: Vec<_> = futures.iter().map(|f| f.result(Some(DEADLOCK)).unwrap()).collect();
    pool.shutdown(true, false);
    let kinds: Vec<EventKind> = rx.try_iter().map(|e| e.kind).collect();
    let mut up: HashMap<usize, u32> = HashMap::new();
    for kind in &kinds {
        if let EventKind::WorkerUp { worker, pid } = kind {
            up.insert(*worker, *pid);
        }
    }
    for kind in &kinds {
        if let EventKind::Start { worker, pid, .. } = kind {
            assert_eq!(up[worker], *pid);
        }
    }
    for value in &values {
        assert_eq!(up[&value.worker], value.pid);
    }
    // Per worker, tasks start and finish one at a time: a lane never shows two at once.
    let mut running: HashMap<usize, u64> = HashMap::new();
    for kind in &kinds {
        match kind {
            EventKind::Start { task, worker, .. } => assert!(running.insert(*worker, *task).is_none(), "{kinds:?}"),
            EventKind::Finish { task, worker, .. } => assert_eq!(running.remove(worker), Some(*task)),
            _ => {}
        }
    }
}
