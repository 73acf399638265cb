//! Tasks racing on a shared counter (`increment`): each reads the counter, waits, then writes
//! what it read plus one. Where the tasks share memory (threads, coroutines) an update is lost
//! whenever another task reads between a read and its write; a lock held across both loses
//! none. Each worker process counts on its own copy.
//!
//! The exact tests run on simulated time, where every instant is exact: they say what each
//! task read. The real-time tests assert only what no timing can change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use poolscope::pool::sim::{self, SimClock};
use poolscope::pool::{
    CoroutinePool, Future, ProcessPool, SharedCounters, TaskError, TaskSpec, TaskValue, ThreadPool, Work,
};
use poolscope::scenario::{PoolOverride, Run, RunOptions, TimeMode};
use poolscope::trace::TraceKind;

/// Only turns a hang into a failure; never reached by a passing test.
const DEADLOCK: Duration = Duration::from_secs(30);

fn increment(counter: &str, lock: Option<&str>, gap_ms: u64, label: String) -> TaskSpec {
    let work = Work::Increment { counter: counter.into(), lock: lock.map(str::to_string) };
    TaskSpec::new(work, Duration::from_millis(gap_ms), label)
}

fn increments(n: usize, lock: Option<&str>, gap_ms: u64) -> Vec<TaskSpec> {
    (0..n).map(|i| increment("counter", lock, gap_ms, format!("Add{i}"))).collect()
}

/// What a task read, from its value `read N, wrote M` (checking that it wrote N + 1).
fn read(value: &TaskValue) -> i64 {
    let output = value.output.as_deref().expect("an increment says what it read and wrote");
    let (seen, wrote) = output.strip_prefix("read ").and_then(|rest| rest.split_once(", wrote ")).expect(output);
    let (seen, wrote): (i64, i64) = (seen.parse().unwrap(), wrote.parse().unwrap());
    assert_eq!(wrote, seen + 1, "{output}");
    seen
}

fn reads(futures: &[Future<TaskValue>]) -> Vec<i64> {
    futures.iter().map(|f| read(&f.result(Some(DEADLOCK)).expect("the increment ran"))).collect()
}

#[test]
fn four_threads_lose_six_of_eight_increments_without_the_lock() {
    let clock = SimClock::new();
    let main = clock.join_here();
    let counters = Arc::new(SharedCounters::default());
    let pool = ThreadPool::builder().workers(4).counters(Arc::clone(&counters)).build();
    let futures = pool.submit_tasks(increments(8, None, 100), 1).unwrap();
    // Each group of four read before any of them wrote.
    assert_eq!(reads(&futures), [0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(counters.get("counter"), 2);
    pool.shutdown(true, false);
    drop(main);
}

#[test]
fn four_threads_lose_nothing_with_the_lock_held_from_read_to_write() {
    let clock = SimClock::new();
    let main = clock.join_here();
    let counters = Arc::new(SharedCounters::default());
    let pool = ThreadPool::builder().workers(4).counters(Arc::clone(&counters)).build();
    let futures = pool.submit_tasks(increments(8, Some("lock"), 100), 1).unwrap();
    let mut seen = reads(&futures);
    seen.sort_unstable();
    assert_eq!(seen, (0..8).collect::<Vec<_>>(), "each read what the one before it wrote");
    assert_eq!(counters.get("counter"), 8);
    assert_eq!(clock.elapsed(), Duration::from_millis(800), "one at a time: the lock serialises them");
    pool.shutdown(true, false);
    drop(main);
}

#[test]
fn real_threads_with_the_lock_lose_no_update() {
    // Sixteen increments on four threads, a short wait between each read and its write: the
    // threads overlap for real, and only the lock keeps every update.
    let counters = Arc::new(SharedCounters::default());
    let pool = ThreadPool::builder().workers(4).counters(Arc::clone(&counters)).build();
    let futures = pool.submit_tasks(increments(16, Some("lock"), 2), 1).unwrap();
    let mut seen = reads(&futures);
    seen.sort_unstable();
    assert_eq!(seen, (0..16).collect::<Vec<_>>());
    assert_eq!(counters.get("counter"), 16);
}

#[test]
fn coroutines_switch_at_the_wait_so_every_one_reads_zero() {
    let clock = SimClock::new();
    let main = clock.join_here();
    let counters = Arc::new(SharedCounters::default());
    let pool = CoroutinePool::builder().counters(Arc::clone(&counters)).build();
    let futures = pool.submit_tasks(increments(8, None, 100), 1).unwrap();
    assert_eq!(reads(&futures), [0; 8]);
    assert_eq!(counters.get("counter"), 1);
    pool.shutdown(true, false);
    drop(main);
}

#[test]
fn an_asyncio_lock_serves_its_waiters_first_come_first_served() {
    let clock = SimClock::new();
    let main = clock.join_here();
    let counters = Arc::new(SharedCounters::default());
    let pool = CoroutinePool::builder().counters(Arc::clone(&counters)).build();
    let futures = pool.submit_tasks(increments(4, Some("lock"), 100), 1).unwrap();
    // One more asks for the lock while the second holds it: it waits behind the other two.
    sim::sleep(Duration::from_millis(150));
    let late = pool.submit_task(increment("counter", Some("lock"), 100, "Late".into())).unwrap();
    assert_eq!(reads(&futures), [0, 1, 2, 3], "in the order they asked");
    assert_eq!(read(&late.result(Some(DEADLOCK)).unwrap()), 4);
    assert_eq!(clock.elapsed(), Duration::from_millis(500));
    assert_eq!(counters.get("counter"), 5);
    pool.shutdown(true, false);
    drop(main);
}

#[test]
fn terminate_ends_the_coroutines_waiting_for_a_lock() {
    let clock = SimClock::new();
    let main = clock.join_here();
    let pool = CoroutinePool::new();
    let futures = pool.submit_tasks(increments(3, Some("lock"), 1000), 1).unwrap();
    sim::sleep(Duration::from_millis(100));
    assert!(futures.iter().all(Future::running), "one holds the lock, two wait for it: all started");
    pool.terminate();
    for future in &futures {
        let outcome = future.result(Some(DEADLOCK));
        assert!(matches!(outcome, Err(TaskError::WorkerDied(_))), "{outcome:?}");
    }
    assert!(clock.elapsed() < Duration::from_secs(1), "none waited for the lock to come free");
    drop(main);
}

#[test]
fn each_worker_process_counts_on_its_own_copy() {
    let pool = ProcessPool::builder().workers(2).eager(true).worker_program(env!("CARGO_BIN_EXE_poolscope")).build();
    let pool = pool.unwrap();
    let futures = pool.submit_tasks(increments(8, None, 0), 1).unwrap();
    let mut by_process: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for future in &futures {
        let value = future.result(Some(DEADLOCK)).unwrap();
        by_process.entry(value.pid).or_default().push(read(&value));
    }
    // A worker runs its tasks one after the other, each reading what the one before it in
    // that process wrote; nothing another process wrote.
    for (pid, seen) in &by_process {
        assert_eq!(*seen, (0..seen.len() as i64).collect::<Vec<_>>(), "pid {pid}");
    }
    assert_eq!(by_process.values().map(Vec::len).sum::<usize>(), 8);
}

/// What the main program printed in a run of the `shared-counter` lesson (on simulated time),
/// on its own pool or on another kind.
fn printed_by_the_lesson(kind: &str) -> Vec<String> {
    let lesson = poolscope::scenario::load("shared-counter").unwrap();
    let lesson = kind.parse::<PoolOverride>().unwrap().apply(&lesson).unwrap();
    let options = RunOptions {
        time: TimeMode::Virtual,
        worker_program: Some(env!("CARGO_BIN_EXE_poolscope").into()),
        ..RunOptions::default()
    };
    let events = Run::start(&lesson, &options).unwrap().collect_to_end();
    let printed = events.into_iter().filter_map(|e| match e.kind {
        TraceKind::Print { text } => Some(text),
        _ => None,
    });
    printed.collect()
}

#[test]
fn the_lesson_prints_what_each_kind_of_pool_leaves_in_the_programs_counters() {
    // Four threads: each group of four reads the same value; the lock loses nothing.
    assert_eq!(printed_by_the_lesson("kind=thread"), ["counter = 2", "safe_counter = 8"]);
    // One event loop: all eight read before the first write; asyncio.Lock loses nothing.
    assert_eq!(printed_by_the_lesson("kind=coroutine"), ["counter = 1", "safe_counter = 8"]);
    // Each worker process writes its own copy: the main program's stays 0.
    assert_eq!(printed_by_the_lesson("kind=process"), ["counter = 0", "safe_counter = 0"]);
}
