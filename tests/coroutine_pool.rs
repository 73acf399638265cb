//! The coroutine pool: one event-loop thread, many cooperative tasks. The ideas of CPython's
//! asyncio and `test_concurrent_futures` tests, checked through the order of probe events
//! (never through wall-clock timings) and synchronised with channels.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use poolscope::pool::probe::{DownReason, Outcome};
use poolscope::pool::{
    ChannelProbe, CoroutinePool, Event, EventKind, Executor, Future, MapIter, PoolKind, SharedQueues, SubmitError,
    TaskError, TaskId, TaskSpec, TaskValue, ThreadPool, Work, as_completed,
};

const LOOP_THREAD: &str = "poolscope-loop";

fn probed() -> (CoroutinePool, Receiver<Event>) {
    let (probe, events) = ChannelProbe::unbounded();
    (CoroutinePool::builder().probe(probe).build(), events)
}

fn sleep(ms: u64, label: &str) -> TaskSpec {
    TaskSpec::new(Work::Sleep, Duration::from_millis(ms), label)
}

fn get(queue: &str, label: &str) -> TaskSpec {
    TaskSpec::new(Work::QueueGet { queue: queue.into() }, Duration::ZERO, label)
}

/// Occupies the loop with a blocking closure until the returned sender is dropped, so that
/// everything submitted meanwhile waits in the queue and is admitted in one turn.
fn hold_loop(pool: &CoroutinePool) -> (Sender<()>, Future<()>) {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let (entered_tx, entered_rx) = crossbeam_channel::bounded(0);
    let held = pool
        .submit(move || {
            entered_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
        .unwrap();
    entered_rx.recv().unwrap();
    (release_tx, held)
}

/// Start and finish events of the given tasks, in the order they happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Start(TaskId),
    Finish(TaskId),
}

fn marks(events: &[Event], tasks: &[TaskId]) -> Vec<Mark> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Start { task, .. } if tasks.contains(&task) => Some(Mark::Start(task)),
            EventKind::Finish { task, .. } if tasks.contains(&task) => Some(Mark::Finish(task)),
            _ => None,
        })
        .collect()
}

fn ids<T>(futures: &[Future<T>]) -> Vec<TaskId> {
    futures.iter().map(Future::id).collect()
}

/// Waits for the `Start` event of `task`, keeping every event seen.
fn await_start(events: &Receiver<Event>, seen: &mut Vec<Event>, task: TaskId) {
    loop {
        let event = events.recv_timeout(Duration::from_secs(30)).expect("the task never started");
        let started = matches!(event.kind, EventKind::Start { task: t, .. } if t == task);
        seen.push(event);
        if started {
            return;
        }
    }
}

#[test]
fn a_hundred_sleeps_overlap_on_one_thread() {
    let (pool, events) = probed();
    let (release, held) = hold_loop(&pool);
    let specs = (0..100).map(|i| sleep(50, &format!("S{i}"))).collect();
    let futures = pool.submit_tasks(specs, 1).unwrap();
    drop(release);
    held.result(None).unwrap();
    for future in &futures {
        let value = future.result(None).unwrap();
        assert_eq!(value, TaskValue { worker: 0, pid: std::process::id(), output: None, thread: None });
    }
    pool.shutdown(true, false);
    let events: Vec<Event> = events.try_iter().collect();
    let marks = marks(&events, &ids(&futures));
    assert_eq!(marks.len(), 200);
    // Every task began (and suspended) before any ended: the serial sum is 5 s, the makespan
    // one sleep.
    let first_finish = marks.iter().position(|m| matches!(m, Mark::Finish(_))).unwrap();
    assert_eq!(first_finish, 100, "{marks:?}");
    // Up to 100 "running" at once on the one worker.
    let mut running = 0usize;
    let mut peak = 0;
    for mark in &marks {
        match mark {
            Mark::Start(_) => running += 1,
            Mark::Finish(_) => running -= 1,
        }
        peak = peak.max(running);
    }
    assert_eq!(peak, 100);
    for event in &events {
        if let EventKind::Start { worker, pid, .. } = event.kind {
            assert_eq!((worker, pid), (0, std::process::id()));
        }
    }
}

#[test]
fn sleep_zero_yields_to_the_other_tasks() {
    // `await asyncio.sleep(0)`: the task gives the loop back even though it has no time to wait.
    let (pool, events) = probed();
    let (release, held) = hold_loop(&pool);
    let futures = pool.submit_tasks(vec![sleep(0, "A"), sleep(0, "B")], 1).unwrap();
    drop(release);
    held.result(None).unwrap();
    pool.shutdown(true, false);
    let events: Vec<Event> = events.try_iter().collect();
    let [a, b] = [futures[0].id(), futures[1].id()];
    assert_eq!(marks(&events, &[a, b]), [Mark::Start(a), Mark::Start(b), Mark::Finish(a), Mark::Finish(b)]);
}

#[test]
fn suspended_tasks_are_all_running_on_the_one_worker() {
    let (pool, events) = probed();
    let futures = pool.submit_tasks((0..3).map(|i| get("jobs", &format!("G{i}"))).collect(), 1).unwrap();
    let mut seen = Vec::new();
    for future in &futures {
        await_start(&events, &mut seen, future.id());
    }
    assert!(futures.iter().all(Future::running), "three tasks running on one thread");
    assert_eq!(pool.active(), 3);
    assert_eq!(pool.workers(), 1);
    for i in 0..3 {
        pool.queues().put("jobs", format!("item{i}")).unwrap();
    }
    let mut outputs: Vec<String> = futures.iter().map(|f| f.result(None).unwrap().output.unwrap()).collect();
    outputs.sort();
    assert_eq!(outputs, ["got \"item0\" from jobs", "got \"item1\" from jobs", "got \"item2\" from jobs"]);
}

#[test]
fn a_spin_stalls_every_other_task() {
    let (pool, events) = probed();
    let (release, held) = hold_loop(&pool);
    let specs = vec![
        sleep(0, "early sleeper"),
        TaskSpec::new(Work::Spin, Duration::from_millis(60), "blocking call"),
        sleep(0, "late sleeper"),
    ];
    let futures = pool.submit_tasks(specs, 1).unwrap();
    drop(release);
    held.result(None).unwrap();
    for future in &futures {
        future.result(None).unwrap();
    }
    pool.shutdown(true, false);
    let events: Vec<Event> = events.try_iter().collect();
    let [early, spin, late] = [futures[0].id(), futures[1].id(), futures[2].id()];
    let marks = marks(&events, &[early, spin, late]);
    // The spin runs from start to end with nothing in between: no other task starts, and the
    // early sleeper, due at once, ends only after it (then before the late one: timers wake
    // in deadline order).
    assert_eq!(
        marks,
        [
            Mark::Start(early),
            Mark::Start(spin),
            Mark::Finish(spin),
            Mark::Start(late),
            Mark::Finish(early),
            Mark::Finish(late)
        ]
    );
    let spin_start = events.iter().position(|e| matches!(e.kind, EventKind::Start { task, .. } if task == spin));
    let spin_end = events.iter().position(|e| matches!(e.kind, EventKind::Finish { task, .. } if task == spin));
    assert_eq!(spin_end.unwrap(), spin_start.unwrap() + 1, "nothing at all happens on the loop during the spin");
}

#[test]
fn map_yields_in_input_order_and_as_completed_in_completion_order() {
    let pool = CoroutinePool::new();
    let specs = (0..3).map(|i| get(&format!("q{i}"), &format!("R{i}"))).collect();
    let futures = pool.submit_tasks(specs, 1).unwrap();
    let mut completed = as_completed(&futures, None);
    // Completion order is chosen by the test: the item for task 2 comes first, then 0, then 1.
    let mut completion_order = Vec::new();
    for i in [2, 0, 1] {
        pool.queues().put(&format!("q{i}"), format!("x{i}")).unwrap();
        let future = completed.next().unwrap().unwrap();
        completion_order.push(future.result(None).unwrap().output.unwrap());
    }
    assert!(completed.next().is_none());
    let got = |i: usize| format!("got \"x{i}\" from q{i}");
    assert_eq!(completion_order, [got(2), got(0), got(1)]);
    let in_order: Vec<String> = MapIter::new(futures, None).map(|r| r.unwrap().output.unwrap()).collect();
    assert_eq!(in_order, [got(0), got(1), got(2)]);

    // map over closures, with chunks.
    let squares: Vec<u64> = pool.imap(|i: u64| i * i, 0..10, 3).unwrap().map(Result::unwrap).collect();
    assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
}

#[test]
fn a_chunk_runs_its_specs_one_after_the_other() {
    let (pool, events) = probed();
    let futures = pool.submit_tasks((0..4).map(|i| sleep(1, &format!("C{i}"))).collect(), 2).unwrap();
    for future in &futures {
        future.result(None).unwrap();
    }
    pool.shutdown(true, false);
    let events: Vec<Event> = events.try_iter().collect();
    let marks = marks(&events, &ids(&futures));
    let position = |m: Mark| marks.iter().position(|&x| x == m).unwrap();
    let id = |i: usize| futures[i].id();
    assert!(position(Mark::Finish(id(0))) < position(Mark::Start(id(1))));
    assert!(position(Mark::Finish(id(2))) < position(Mark::Start(id(3))));
    // The two chunks overlap.
    assert!(position(Mark::Start(id(2))) < position(Mark::Finish(id(0))));
}

#[test]
fn cancel_only_while_pending() {
    let (pool, events) = probed();
    let (release, held) = hold_loop(&pool);
    let pending = pool.submit_task(sleep(1, "pending")).unwrap();
    assert_eq!(pending.state_name(), "pending");
    assert!(pending.cancel());
    assert!(pending.cancelled() && pending.done());
    assert!(pending.cancel(), "cancelling again still says cancelled");
    drop(release);
    held.result(None).unwrap();
    assert_eq!(pending.result(None), Err(TaskError::Cancelled));

    let running = pool.submit_task(get("q", "running")).unwrap();
    let mut seen = Vec::new();
    await_start(&events, &mut seen, running.id());
    assert!(running.running());
    assert!(!running.cancel(), "a running task cannot be cancelled");
    pool.queues().put("q", "x".into()).unwrap();
    assert!(running.result(None).is_ok());
    assert!(!running.cancel(), "nor a finished one");
    pool.shutdown(true, false);

    seen.extend(events.try_iter());
    let cancels: Vec<(TaskId, bool)> = seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Cancel { task, ok, .. } => Some((task, ok)),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, [(pending.id(), true), (pending.id(), true), (running.id(), false), (running.id(), false)]);
    assert!(!seen.iter().any(|e| matches!(e.kind, EventKind::Start { task, .. } if task == pending.id())));
}

#[test]
fn callbacks_run_once_in_order_on_the_loop_thread() {
    let (pool, events) = probed();
    let (tx, rx) = crossbeam_channel::unbounded();
    let future = pool.submit_task(sleep(5, "called back")).unwrap();
    for n in 0..2 {
        let tx = tx.clone();
        future.add_done_callback(move |f| {
            let name = std::thread::current().name().map(str::to_string);
            tx.send((n, name, f.done())).unwrap();
        });
    }
    future.add_done_callback(|_| panic!("a broken callback"));
    future.result(None).unwrap();
    let mut calls: Vec<_> = rx.iter().take(2).collect();
    assert_eq!(calls, [(0, Some(LOOP_THREAD.to_string()), true), (1, Some(LOOP_THREAD.to_string()), true)]);

    // Added after completion: runs at once, on the caller's thread.
    let tx2 = tx.clone();
    future.add_done_callback(move |_| tx2.send((2, std::thread::current().name().map(str::to_string), true)).unwrap());
    calls = rx.try_iter().collect();
    assert_eq!(calls, [(2, std::thread::current().name().map(str::to_string), true)]);

    // The panicking callback was reported, and the loop carries on.
    assert_eq!(pool.submit(|| 1).unwrap().result(None), Ok(1));
    pool.shutdown(true, false);
    assert!(rx.try_recv().is_err(), "each callback ran once");
    let callbacks: Vec<(String, bool)> = events
        .try_iter()
        .filter_map(|e| match e.kind {
            EventKind::Callback { thread, panicked, .. } => Some((thread, panicked.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(callbacks.len(), 4);
    // The loop's three, in order (the caller's one may be reported while the loop still runs
    // the third).
    let on_loop: Vec<bool> = callbacks.iter().filter(|c| c.0 == LOOP_THREAD).map(|c| c.1).collect();
    assert_eq!(on_loop, [false, false, true]);
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_has_not_started() {
    let (pool, events) = probed();
    let (release, held) = hold_loop(&pool);
    let futures = pool.submit_tasks((0..5).map(|i| sleep(1, &format!("P{i}"))).collect(), 1).unwrap();
    pool.shutdown(false, true);
    assert!(futures.iter().all(Future::cancelled), "cancelled before shutdown returns");
    drop(release);
    pool.join().unwrap();
    assert_eq!(held.result(None), Ok(()), "the running task was not cancelled");
    let events: Vec<Event> = events.try_iter().collect();
    let cancelled = events.iter().filter(|e| matches!(e.kind, EventKind::Cancel { ok: true, .. })).count();
    assert_eq!(cancelled, 5);
    assert!(
        events.iter().any(|e| matches!(e.kind, EventKind::WorkerDown { worker: 0, reason: DownReason::Shutdown, .. }))
    );
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Start { task, .. } if task != held.id())));
}

#[test]
fn shutdown_with_wait_lets_suspended_tasks_finish() {
    let pool = CoroutinePool::new();
    let futures = pool.submit_tasks((0..10).map(|i| sleep(10, &format!("W{i}"))).collect(), 1).unwrap();
    pool.shutdown(true, false);
    assert!(futures.iter().all(|f| f.try_result().is_some_and(|r| r.is_ok())));
    assert_eq!(pool.active(), 0);
}

#[test]
fn drop_waits_for_the_tasks() {
    let pool = CoroutinePool::new();
    let futures = pool.submit_tasks((0..10).map(|i| sleep(10, &format!("D{i}"))).collect(), 1).unwrap();
    drop(pool);
    assert!(futures.iter().all(|f| f.try_result().is_some_and(|r| r.is_ok())));
}

#[test]
fn a_submit_after_shutdown_is_handed_back() {
    let pool = CoroutinePool::new();
    assert!(pool.join().is_err(), "join before close");
    pool.close();
    let spec = sleep(1, "late");
    match pool.submit_task(spec.clone()) {
        Err(SubmitError::Shutdown(back)) => assert_eq!(back, spec),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let refused = pool.submit_tasks(vec![spec.clone(), spec.clone()], 1).unwrap_err();
    assert_eq!(refused.into_inner(), [spec.clone(), spec]);
    assert!(matches!(pool.submit(|| 1), Err(SubmitError::Shutdown(_))));
    assert_eq!(pool.apply(|| 1), Err(TaskError::PoolShutdown));
    pool.join().unwrap();
    pool.shutdown(true, true);
}

#[test]
fn a_writer_and_a_reader_share_a_queue_on_one_loop() {
    let queues = Arc::new(SharedQueues::default());
    let (probe, events) = ChannelProbe::unbounded();
    let pool = CoroutinePool::builder().probe(probe).queues(Arc::clone(&queues)).build();
    let pair = || {
        vec![
            get("mailbox", "reader"),
            TaskSpec::new(
                Work::QueuePut { queue: "mailbox".into(), item: "hello".into() },
                Duration::from_millis(5),
                "writer",
            ),
        ]
    };
    let futures = pool.submit_tasks(pair(), 1).unwrap();
    let reader = futures[0].result(None).unwrap();
    let writer = futures[1].result(None).unwrap();
    pool.shutdown(true, false);
    assert_eq!(reader.output.as_deref(), Some("got \"hello\" from mailbox"));
    assert_eq!(writer.output.as_deref(), Some("put \"hello\" on mailbox"));
    assert!(queues.is_empty("mailbox"));
    let events: Vec<Event> = events.try_iter().collect();
    let [r, w] = [futures[0].id(), futures[1].id()];
    assert_eq!(marks(&events, &[r, w]), [Mark::Start(r), Mark::Start(w), Mark::Finish(w), Mark::Finish(r)]);

    // The same values as a thread pool's (bar the worker).
    let threads = ThreadPool::new(2);
    let on_threads = threads.submit_tasks(pair(), 1).unwrap();
    let thread_reader = on_threads[0].result(None).unwrap();
    assert_eq!(thread_reader.output, reader.output);
    let thread_writer = on_threads[1].result(None).unwrap();
    assert_eq!(thread_writer.output, writer.output);
}

#[test]
fn a_failing_task_is_an_error_and_the_loop_survives() {
    let (pool, events) = probed();
    let fail = pool
        .submit_task(TaskSpec::new(Work::Fail { message: "boom".into() }, Duration::from_millis(1), "fails"))
        .unwrap();
    assert_eq!(fail.result(None), Err(TaskError::Failed("boom".into())));
    assert_eq!(fail.exception(None), Ok(Some(TaskError::Failed("boom".into()))));
    let crash = pool.submit_task(TaskSpec::new(Work::Crash, Duration::ZERO, "crashes")).unwrap();
    assert!(matches!(crash.result(None), Err(TaskError::Failed(_))));
    let panics = pool.submit(|| -> u32 { panic!("closure panic") }).unwrap();
    assert!(matches!(panics.result(None), Err(TaskError::Failed(msg)) if msg.contains("closure panic")));
    let fallible = pool.submit_fallible(|| Err::<u32, _>("nope")).unwrap();
    assert_eq!(fallible.result(None), Err(TaskError::Failed("nope".into())));
    let after = pool.submit_task(sleep(1, "after")).unwrap().result(None).unwrap();
    assert_eq!((after.worker, after.pid), (0, std::process::id()));
    let sums = pool.submit_task(TaskSpec::new(Work::SumSquares { n: 1000 }, Duration::ZERO, "sum")).unwrap();
    let threads = ThreadPool::new(1);
    let on_thread = threads.submit_task(TaskSpec::new(Work::SumSquares { n: 1000 }, Duration::ZERO, "sum")).unwrap();
    assert_eq!(sums.result(None).unwrap().output, on_thread.result(None).unwrap().output);
    pool.shutdown(true, false);

    let events: Vec<Event> = events.try_iter().collect();
    let outcome = |id| {
        events.iter().find_map(|e| match &e.kind {
            EventKind::Finish { task, outcome, error, .. } if *task == id => Some((*outcome, error.clone())),
            _ => None,
        })
    };
    assert_eq!(outcome(fail.id()), Some((Outcome::Error, Some("boom".into()))));
    assert_eq!(outcome(crash.id()).map(|o| o.0), Some(Outcome::Error));
    let ups = events.iter().filter(|e| matches!(e.kind, EventKind::WorkerUp { .. })).count();
    assert_eq!(ups, 1, "one loop for the pool's whole life");
}

#[test]
fn terminate_kills_suspended_tasks_and_abandons_pending_ones() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = CoroutinePool::builder().probe(probe).limit(1).build();
    let suspended = pool.submit_task(get("never", "suspended")).unwrap();
    let pending = pool.submit_task(get("never", "pending")).unwrap();
    let mut seen = Vec::new();
    await_start(&events, &mut seen, suspended.id());
    assert_eq!(pending.state_name(), "pending", "the limit of 1 holds it back");
    pool.terminate();
    assert_eq!(pending.result(None), Err(TaskError::PoolShutdown));
    assert!(matches!(suspended.result(None), Err(TaskError::WorkerDied(_))));
    pool.join().unwrap();
    seen.extend(events.try_iter());
    assert!(seen.iter().any(|e| matches!(e.kind, EventKind::WorkerDown { reason: DownReason::Terminated, .. })));
    assert!(seen.iter().any(|e| matches!(e.kind, EventKind::Abandon { task, .. } if task == pending.id())));
    assert!(seen.iter().any(
        |e| matches!(e.kind, EventKind::Finish { task, outcome: Outcome::Crashed, .. } if task == suspended.id())
    ));
}

#[test]
fn a_limit_bounds_the_tasks_alive_on_the_loop() {
    let (probe, events) = ChannelProbe::unbounded();
    let pool = CoroutinePool::builder().probe(probe).limit(2).build();
    assert_eq!(pool.limit(), Some(2));
    let futures = pool.submit_tasks((0..4).map(|i| get("work", &format!("L{i}"))).collect(), 1).unwrap();
    let mut seen = Vec::new();
    await_start(&events, &mut seen, futures[0].id());
    await_start(&events, &mut seen, futures[1].id());
    assert_eq!(pool.active(), 2);
    assert!(!futures[2].running() && !futures[3].running());
    assert_eq!(pool.queued(), 2);
    pool.set_limit(4);
    await_start(&events, &mut seen, futures[2].id());
    await_start(&events, &mut seen, futures[3].id());
    for i in 0..4 {
        pool.queues().put("work", i.to_string()).unwrap();
    }
    assert!(futures.iter().all(|f| f.result(None).is_ok()));
    pool.set_workers(8);
    assert_eq!(pool.workers(), 1, "a coroutine pool has one worker, its loop");
}

#[test]
fn it_is_an_executor() {
    let pool: Box<dyn Executor> = Box::new(CoroutinePool::new());
    assert_eq!(pool.kind(), PoolKind::Coroutine);
    assert!(!pool.has_gil());
    assert_eq!(pool.workers(), 1);
    let value = pool.submit_spec(sleep(1, "via trait")).unwrap().result(None).unwrap();
    assert_eq!(value.describe("via trait"), format!("via trait by worker 0 (pid {})", std::process::id()));
    pool.shutdown(true, false);
    pool.join().unwrap();
    assert!(format!("{:?}", CoroutinePool::new()).contains("CoroutinePool"));
}

#[test]
fn a_waiting_get_takes_an_item_put_from_outside_the_loop_the_moment_it_is_put() {
    // On simulated time every instant is exact: a getter that polled would take the item at
    // one of its poll instants; one that is woken by the put takes it when it is put.
    let clock = poolscope::pool::sim::SimClock::new();
    let main = clock.join_here();
    let queues = Arc::new(SharedQueues::default());
    let (probe, events) = ChannelProbe::unbounded();
    let coroutines = CoroutinePool::builder().probe(probe).queues(Arc::clone(&queues)).build();
    let threads = ThreadPool::builder().workers(1).queues(Arc::clone(&queues)).build();
    let reader = coroutines.submit_task(get("mail", "reader")).unwrap();
    let put = Work::QueuePut { queue: "mail".into(), item: "hello".into() };
    let writer = threads.submit_task(TaskSpec::new(put, Duration::from_micros(2500), "writer")).unwrap();
    assert!(writer.result(None).is_ok());
    let value = reader.result(None).unwrap();
    assert_eq!(value.output.as_deref(), Some("got \"hello\" from mail"));
    coroutines.shutdown(true, false);
    threads.shutdown(true, false);
    drop(main);
    let finished = events
        .try_iter()
        .find(|e| matches!(e.kind, EventKind::Finish { task, .. } if task == reader.id()))
        .expect("the reader finished");
    assert_eq!(finished.at - clock.origin(), Duration::from_micros(2500), "taken when it was put");
}
