//! A lesson's threads carry the names CPython gives them, so what poolscope shows is what the
//! lesson's Python program prints: `ThreadPoolExecutor-0_N` for an executor's workers,
//! `Thread-N (worker)` and `Thread-M (_handle_results)` for a `multiprocessing.pool.ThreadPool`,
//! `MainThread` for the main program, a worker process and an event loop, and the process
//! pools' callback threads (`Thread-1`, `Thread-3 (_handle_results)`). Run on simulated time.

use std::collections::BTreeSet;

use poolscope::scenario::{PoolOverride, Run, RunOptions, TimeMode};
use poolscope::trace::TraceKind;

/// The threads the lesson's callbacks ran on, and what each task's value said ran it (its
/// text between `by ` and ` (pid`), on the lesson's own pool or with `pool` applied.
fn threads_seen(lesson: &str, pool: Option<&str>) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut lesson = poolscope::scenario::load(lesson).unwrap();
    if let Some(pool) = pool {
        lesson = pool.parse::<PoolOverride>().unwrap().apply(&lesson).unwrap();
    }
    let options = RunOptions {
        time: TimeMode::Virtual,
        worker_program: Some(env!("CARGO_BIN_EXE_poolscope").into()),
        ..RunOptions::default()
    };
    let (mut callbacks, mut ran_by) = (BTreeSet::new(), BTreeSet::new());
    for event in Run::start(&lesson, &options).unwrap().collect_to_end() {
        match event.kind {
            TraceKind::Callback { thread, .. } => {
                callbacks.insert(thread);
            }
            TraceKind::Finish { value: Some(value), .. } => {
                let (_, after) = value.split_once(" by ").expect(&value);
                let (thread, _) = after.split_once(" (pid ").expect(&value);
                ran_by.insert(thread.to_string());
            }
            _ => {}
        }
    }
    (callbacks, ran_by)
}

/// A `multiprocessing.pool.ThreadPool` of three workers whose results have callbacks.
const THREAD_POOL_CALLBACKS: &str = "tests/conformance/pool-thread-callbacks.toml";

fn set<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.into_iter().map(String::from).collect()
}

#[test]
fn an_executors_threads_are_named_as_cpython_names_them() {
    let (callbacks, ran_by) = threads_seen("callbacks", None);
    let workers = set(["ThreadPoolExecutor-0_0", "ThreadPoolExecutor-0_1", "ThreadPoolExecutor-0_2"]);
    assert_eq!(ran_by, workers);
    // On the worker that finished each task, then on the main program's thread.
    let mut expected = workers;
    expected.insert("MainThread".into());
    assert_eq!(callbacks, expected);
}

#[test]
fn a_thread_pools_callbacks_run_on_its_result_handler_thread() {
    // Three workers: Thread-1..3 (worker), then the worker, task and result handlers.
    let (callbacks, ran_by) = threads_seen(THREAD_POOL_CALLBACKS, None);
    let workers: BTreeSet<String> = (1..=3).map(|n| format!("Thread-{n} (worker)")).collect();
    assert!(ran_by.is_subset(&workers) && !ran_by.is_empty(), "{ran_by:?}");
    assert_eq!(callbacks, set(["Thread-6 (_handle_results)"]));
}

#[test]
fn a_process_pool_runs_tasks_on_each_workers_main_thread_and_callbacks_on_one_thread() {
    let (callbacks, ran_by) = threads_seen("callbacks", Some("kind=process"));
    assert_eq!(ran_by, set(["MainThread"]));
    assert_eq!(callbacks, set(["Thread-1", "MainThread"]));
    let (callbacks, _) = threads_seen(THREAD_POOL_CALLBACKS, Some("kind=process"));
    assert_eq!(callbacks, set(["Thread-3 (_handle_results)"]));
}

#[test]
fn an_event_loop_runs_on_the_main_thread() {
    let (_, ran_by) = threads_seen("coroutines", None);
    assert_eq!(ran_by, set(["MainThread"]));
}
