//! Who holds the simulated GIL when: the pool reports it (`gil` events), the model keeps a
//! ledger of it, and the summary splits the workers' time by it — on simulated time, where
//! the threads-cpu-gil lesson is exact, and on real time, where only the order is known.

use std::time::Duration;

use poolscope::pool::{ChannelProbe, EventKind, GilChange, TaskSpec, ThreadPool, Work};
use poolscope::trace::{GilSpan, GilUse, Model, Summary, TraceEvent, TraceKind};

mod common;

/// Folds `events`, collecting every stretch of holding or waiting the ledger closed.
fn fold(events: &[TraceEvent]) -> (Model, Vec<GilSpan>) {
    let mut model = Model::new();
    let mut spans = Vec::new();
    for event in events {
        model.apply(event);
        if let TraceKind::Gil { .. } = event.kind {
            spans.extend(model.gil_ledger.closed.iter().copied());
        }
    }
    (model, spans)
}

#[test]
fn on_simulated_time_one_thread_holds_the_gil_at_a_time_for_all_the_cpu_work() {
    let events = common::lesson_events("threads-cpu-gil");
    let (model, spans) = fold(&events);
    assert!(model.gil_ledger.seen);
    assert_eq!(model.gil_ledger.holder, None, "released at the end");
    assert!(model.gil_ledger.waiting.is_empty(), "no one waits at the end");

    let mut held: Vec<&GilSpan> = spans.iter().filter(|s| s.what == GilUse::Holding).collect();
    held.sort_by_key(|s| s.start_us);
    for pair in held.windows(2) {
        assert!(pair[1].start_us >= pair[0].end_us, "two holders at once: {:?} and {:?}", pair[0], pair[1]);
    }
    // Handed over every 5 ms, never left free while work waits: the holds tile the run.
    for pair in held.windows(2) {
        assert_eq!(pair[1].start_us, pair[0].end_us, "the GIL was free while threads waited");
    }
    assert!(held.iter().all(|s| s.end_us - s.start_us <= 5_000), "no turn is longer than the switch interval");

    let cpu_work: u64 = events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Submit { cost_us: Some(cost), cpu: true, .. } => Some(*cost),
            _ => None,
        })
        .sum();
    assert_eq!(cpu_work, 2_000_000, "four tasks of 0.5 s");
    let total_held: u64 = held.iter().map(|s| s.end_us - s.start_us).sum();
    assert_eq!(total_held, cpu_work, "the GIL was held exactly as long as the CPU work takes");
    for worker in 0..4 {
        assert_eq!(model.gil_ledger.held_until(worker, model.now_us), 500_000, "worker {worker} held it for its task");
    }
    // Each worker's waits and holds together are its task's run time.
    for task in model.tasks.iter() {
        let worker = task.worker.unwrap();
        let gil_time =
            model.gil_ledger.held_until(worker, model.now_us) + model.gil_ledger.waited_until(worker, model.now_us);
        assert_eq!(gil_time, task.run_us().unwrap(), "{}: its run is holding or waiting", task.label);
    }
}

#[test]
fn the_summary_splits_the_workers_time_into_running_gil_wait_and_idle() {
    let (model, _) = fold(&common::lesson_events("threads-cpu-gil"));
    let summary = Summary::of(&model);
    let time = summary.time;
    assert!(time.gil_reported);
    assert_eq!(time.running_us + time.gil_wait_us + time.idle_us, time.alive_us);
    assert_eq!(time.running_us, 2_000_000, "running is holding the GIL: the CPU work");
    let wait = time.gil_wait_us as f64 / time.alive_us as f64;
    assert!((0.70..=0.75).contains(&wait), "three of four threads wait: {wait}");
    assert_eq!(time.queued_us, 0, "four workers for four tasks: none queued");
    let table = summary.to_string();
    assert!(table.contains("| GIL wait       | 75 %"), "{table}");
    assert!(time.workers_text().contains("GIL wait 75 %"), "{}", time.workers_text());

    // Without a GIL no wait is reported, and the split still adds up.
    let (model, _) = fold(&common::lesson_events("processes-cpu-bound"));
    let time = Summary::of(&model).time;
    assert!(!time.gil_reported && time.gil_wait_us == 0);
    assert_eq!(time.running_us + time.idle_us, time.alive_us);
    assert!(!Summary::of(&model).to_string().contains("GIL wait"));
}

#[test]
fn on_real_time_the_gil_changes_hands_in_the_order_it_is_reported() {
    let (probe, rx) = ChannelProbe::unbounded();
    let pool = ThreadPool::builder().workers(3).gil(Duration::from_millis(1)).probe(probe).build();
    let specs = (0..3).map(|i| TaskSpec::new(Work::Spin, Duration::from_millis(20), format!("spin{i}"))).collect();
    let futures = pool.submit_tasks(specs, 1).unwrap();
    for f in &futures {
        f.result(None).unwrap();
    }
    pool.shutdown(true, false);
    let mut holder = None;
    let (mut takes, mut releases) = (0, 0);
    for event in common::drain(&rx) {
        let EventKind::Gil { worker, change } = event.kind else { continue };
        match change {
            GilChange::Take => {
                takes += 1;
                // A take follows a release, or the holder yielded at a switch point.
                assert_ne!(holder, Some(worker), "taken twice by worker {worker}");
                holder = Some(worker);
            }
            GilChange::Release => {
                releases += 1;
                assert_eq!(holder, Some(worker), "released by worker {worker}, which does not hold it");
                holder = None;
            }
            GilChange::Wait => assert_ne!(holder, Some(worker), "the holder waits for what it holds"),
        }
    }
    assert_eq!(releases, 3, "each task releases it once, at the end of its work");
    assert!(takes >= 3, "each task took it");
    assert_eq!(holder, None);
}
