//! The semantics of concurrent.futures, checked on event logs of real runs. No timing
//! assertions: each property holds whatever the scheduler does.

use std::collections::{BTreeSet, HashMap};

use poolscope::scenario::{Run, RunOptions, parse};
use poolscope::trace::{DownReason, Outcome, ResultOutcome, TraceEvent, TraceKind};

fn run(toml: &str) -> Vec<TraceEvent> {
    let scenario = parse(toml, "test.toml", "test").unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        speed: 10.0,
        worker_program: Some(env!("CARGO_BIN_EXE_poolscope").into()),
        ..RunOptions::default()
    };
    Run::start(&scenario, &options).expect("starts").collect_to_end()
}

/// Index of each event in the log, by (kind, task).
fn position(events: &[TraceEvent], ev: &str, task: u64) -> Option<usize> {
    events.iter().position(|e| e.kind.name() == ev && e.kind.task() == Some(task))
}

/// Results of step `index`, in the order received.
fn results_in_step(events: &[TraceEvent], index: usize) -> Vec<(u64, ResultOutcome)> {
    let mut step = None;
    let mut out = Vec::new();
    for e in events {
        match &e.kind {
            TraceKind::Step { index: i, .. } => step = Some(*i),
            TraceKind::Result { task, outcome, .. } if step == Some(index) => out.push((*task, *outcome)),
            _ => {}
        }
    }
    out
}

const HEAD: &str = "title = \"t\"\nseed = 1\n";

#[test]
fn map_yields_in_input_order() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 4\n[tasks.job]\nwork = \"sleep\"\nduration = [\"300ms\", \"10ms\", \"20ms\", \"0ms\"]\n\
         [[step]]\nop = \"map\"\ntask = \"job\"\ncount = 8\n"
    ));
    let got: Vec<u64> = results_in_step(&events, 0).iter().map(|r| r.0).collect();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    for task in 0..8 {
        assert!(position(&events, "finish", task) < position(&events, "result", task), "result after finish");
    }
}

#[test]
fn as_completed_yields_in_finish_order() {
    // One event-loop thread finishes tasks one at a time, so finish order is well defined.
    let events = run(&format!(
        "{HEAD}[pool]\nkind = \"coroutine\"\n[tasks.job]\nwork = \"sleep\"\nduration = [\"300ms\", \"100ms\", \"200ms\", \"0ms\"]\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 4\n[[step]]\nop = \"as_completed\"\n"
    ));
    let finished: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Finish { task, .. } => Some(task),
            _ => None,
        })
        .collect();
    let received: Vec<u64> = results_in_step(&events, 1).iter().map(|r| r.0).collect();
    assert_eq!(received, finished);
}

#[test]
fn sync_submit_runs_one_task_at_a_time() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 4\n[tasks.job]\nwork = \"sleep\"\nduration = \"20ms\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 5\nsync = true\n"
    ));
    for task in 0..4 {
        let result = position(&events, "result", task).expect("result");
        let next_submit = position(&events, "submit", task + 1).expect("submit");
        assert!(result < next_submit, "task {} is submitted only after task {task}'s result", task + 1);
    }
}

#[test]
fn cancel_succeeds_only_on_pending_futures() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 1\neager = true\n[tasks.job]\nwork = \"sleep\"\nduration = \"200ms\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 4\n[[step]]\nop = \"sleep\"\nduration = \"50ms\"\n\
         [[step]]\nop = \"cancel\"\n[[step]]\nop = \"results\"\n"
    ));
    let mut cancelled = 0;
    for e in &events {
        if let TraceKind::Cancel { task, ok } = e.kind {
            let at = position(&events, "cancel", task).unwrap();
            let started = position(&events, "start", task);
            if ok {
                cancelled += 1;
                assert_eq!(started, None, "a cancelled task never starts");
                assert_eq!(results_for(&events, task), vec![ResultOutcome::Cancelled]);
            } else {
                assert!(started.is_some_and(|s| s < at), "cancel fails only once the task started");
            }
        }
    }
    let started = (0..4).filter(|&t| position(&events, "start", t).is_some()).count();
    assert_eq!(cancelled + started, 4, "every task either ran or was cancelled, never both");
}

fn results_for(events: &[TraceEvent], task: u64) -> Vec<ResultOutcome> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Result { task: t, outcome, .. } if t == task => Some(outcome),
            _ => None,
        })
        .collect()
}

#[test]
fn exactly_one_callback_per_future_after_it_finishes() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 3\n[tasks.job]\nwork = \"sleep\"\nduration = [\"30ms\", \"0ms\", \"10ms\"]\n\
         [tasks.bad]\nwork = \"fail\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 6\ncallback = true\n\
         [[step]]\nop = \"submit\"\ntask = \"bad\"\ncount = 2\ncallback = true\n"
    ));
    let mut callbacks: HashMap<u64, usize> = HashMap::new();
    for e in &events {
        if let TraceKind::Callback { task, .. } = e.kind {
            *callbacks.entry(task).or_default() += 1;
            assert!(position(&events, "finish", task).unwrap() < position(&events, "callback", task).unwrap());
        }
    }
    assert_eq!(callbacks.len(), 8);
    assert!(callbacks.values().all(|&n| n == 1));
}

#[test]
fn a_failing_task_leaves_its_worker_running_later_tasks() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 1\n[tasks.bad]\nwork = \"fail\"\nmessage = \"boom\"\n[tasks.job]\nwork = \"noop\"\n\
         [[step]]\nop = \"submit\"\ntask = \"bad\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 3\n[[step]]\nop = \"results\"\n"
    ));
    let finishes: Vec<(u64, usize, Outcome)> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Finish { task, worker, outcome, .. } => Some((task, worker, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(finishes[0], (0, 0, Outcome::Error));
    assert!(finishes[1..].iter().all(|&(_, w, o)| w == 0 && o == Outcome::Ok));
    assert_eq!(finishes.len(), 4);
    let downs_before_end = events
        .iter()
        .filter(|e| matches!(&e.kind, TraceKind::WorkerDown { reason, .. } if *reason != DownReason::Shutdown))
        .count();
    assert_eq!(downs_before_end, 0, "the worker never died");
    assert_eq!(results_for(&events, 0), vec![ResultOutcome::Error]);
}

#[test]
fn a_refused_submit_raises_and_the_lesson_goes_on() {
    let events = run(&format!(
        "{HEAD}[tasks.job]\nwork = \"noop\"\n[[step]]\nop = \"shutdown\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\n\
         [[step]]\nop = \"note\"\ntext = \"still here\"\n"
    ));
    assert!(
        events.iter().any(|e| matches!(&e.kind, TraceKind::Raise { exception, .. } if exception == "RuntimeError"))
    );
    assert!(events.iter().any(|e| matches!(&e.kind, TraceKind::Note { text } if text == "still here")));
}

#[test]
fn an_as_completed_that_times_out_raises_one_timeout_error_as_python_does() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 1\n[tasks.job]\nwork = \"sleep\"\nduration = \"2s\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 3\n[[step]]\nop = \"as_completed\"\ntimeout = \"10ms\"\n"
    ));
    assert!(results_in_step(&events, 1).iter().all(|r| r.1 != ResultOutcome::Timeout), "no result per future");
    let raised: Vec<&TraceKind> =
        events.iter().map(|e| &e.kind).filter(|k| matches!(k, TraceKind::Raise { .. })).collect();
    assert_eq!(
        raised,
        [&TraceKind::Raise { exception: "TimeoutError".into(), message: "3 (of 3) futures unfinished".into() }],
        "a sleep is never shorter than asked: no task is done after 10 ms"
    );
}

#[test]
fn queue_lines_follow_the_depth() {
    let events = run(&format!(
        "{HEAD}[pool]\nworkers = 1\n[tasks.job]\nwork = \"noop\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 20\n"
    ));
    let depths: Vec<usize> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Queue { depth } => Some(depth),
            _ => None,
        })
        .collect();
    assert!(!depths.is_empty());
    assert!(depths.windows(2).all(|w| w[0] != w[1]), "a queue line only when the depth changes");
    assert_eq!(depths.last(), Some(&0), "drained at the end");
}

#[test]
fn a_crashed_process_worker_breaks_the_pool() {
    let events = run(&format!(
        "{HEAD}[pool]\nkind = \"process\"\nworkers = 1\non_worker_death = \"break\"\n[tasks.crash]\nwork = \"crash\"\n\
         [tasks.job]\nwork = \"noop\"\n[[step]]\nop = \"submit\"\ntask = \"crash\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\n\
         [[step]]\nop = \"results\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\n"
    ));
    assert!(events.iter().any(|e| matches!(e.kind, TraceKind::Finish { task: 0, outcome: Outcome::Crashed, .. })));
    assert!(
        events.iter().any(|e| matches!(&e.kind, TraceKind::WorkerDown { reason, .. } if *reason == DownReason::Died))
    );
    for task in 0..3 {
        assert_eq!(results_for(&events, task), vec![ResultOutcome::Error], "task {task} fails with the pool");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, TraceKind::Raise { exception, .. } if exception == "BrokenProcessPool"))
    );
}

#[test]
fn a_crashed_process_worker_is_respawned() {
    let events = run(&format!(
        "{HEAD}[pool]\nkind = \"process\"\nworkers = 1\napi = \"multiprocessing\"\non_worker_death = \"respawn\"\n[tasks.crash]\nwork = \"crash\"\n\
         [tasks.job]\nwork = \"noop\"\n[[step]]\nop = \"submit\"\ntask = \"crash\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\n\
         [[step]]\nop = \"results\"\n"
    ));
    // The program speaks multiprocessing.Pool, which loses the dead worker's task: its
    // result never arrives, and get(timeout) raises TimeoutError.
    assert_eq!(results_for(&events, 0), vec![ResultOutcome::Timeout]);
    assert_eq!(results_for(&events, 1), vec![ResultOutcome::Ok]);
    assert_eq!(results_for(&events, 2), vec![ResultOutcome::Ok]);
    let pids: Vec<u32> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::WorkerUp { worker: 0, pid } => Some(pid),
            _ => None,
        })
        .collect();
    assert!(pids.len() >= 2 && pids[0] != pids[1], "lane 0 gets a new process: {pids:?}");
}

#[test]
fn a_reused_into_name_appends_to_its_batch() {
    // `jobs += [...]` twice: the later `results of jobs` sees all five futures, in order.
    let toml = format!(
        "{HEAD}[pool]\nworkers = 2\n[tasks.job]\nwork = \"noop\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\ninto = \"jobs\"\n\
         [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 3\ninto = \"jobs\"\n\
         [[step]]\nop = \"results\"\nof = \"jobs\"\n"
    );
    let scenario = parse(&toml, "test.toml", "test").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.steps[1].python, "jobs += [pool.submit(job, i) for i in range(3)]");
    let events = run(&toml);
    let received: Vec<u64> = results_in_step(&events, 2).iter().map(|r| r.0).collect();
    assert_eq!(received, vec![0, 1, 2, 3, 4]);
}

#[test]
fn a_sync_submit_into_a_batch_says_so_in_its_python() {
    let scenario = parse(
        &format!(
            "{HEAD}[tasks.job]\nwork = \"noop\"\n\
             [[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\nsync = true\ninto = \"jobs\"\n"
        ),
        "test.toml",
        "test",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scenario.steps[0].python,
        "for i in range(2):\n    f = pool.submit(job, i)\n    jobs.append(f)\n    print(f.result())"
    );
}

#[test]
fn a_thread_pool_executor_map_ignores_chunksize_and_a_process_one_hands_a_chunk_out_together() {
    // ThreadPoolExecutor.map: items 0 and 1 start on two workers, chunksize or not.
    let threads = run(&format!(
        "{HEAD}[pool]\nworkers = 2\neager = true\n[tasks.job]\nwork = \"sleep\"\nduration = \"1s\"\n\
         [[step]]\nop = \"map\"\ntask = \"job\"\ncount = 2\nchunksize = 2\n"
    ));
    let workers: BTreeSet<usize> = threads
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Start { worker, .. } => Some(worker),
            _ => None,
        })
        .collect();
    assert_eq!(workers.len(), 2, "one item per worker: {threads:#?}");
    // ProcessPoolExecutor.map: a chunk's results reach the program at one instant.
    let processes = run(&format!(
        "{HEAD}[pool]\nkind = \"process\"\nworkers = 1\n[tasks.job]\nwork = \"sleep\"\nduration = [\"10ms\", \"500ms\"]\n\
         [[step]]\nop = \"map\"\ntask = \"job\"\ncount = 2\nchunksize = 2\n"
    ));
    let position = |pred: &dyn Fn(&TraceKind) -> bool| processes.iter().position(|e| pred(&e.kind)).unwrap();
    let first_result = position(&|k| matches!(k, TraceKind::Result { task: 0, .. }));
    let last_finish = position(&|k| matches!(k, TraceKind::Finish { task: 1, .. }));
    assert!(last_finish < first_result, "item 0's result waits for the chunk's last item: {processes:#?}");
}
