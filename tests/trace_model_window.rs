//! The model stays bounded however many tasks run (SPEC §6), and its summary stays exact
//! (SPEC §3): a deterministic synthetic stream of more than a million tasks, folded, against
//! the figures computed from the stream itself.

use poolscope::trace::{
    DownReason, EngineChoice, LANE_PIDS_KEPT, LANE_RAN_WINDOW, Model, Outcome, PoolKind, RECEIVED_WINDOW,
    ResultOutcome, Summary, TASK_WINDOW, TaskState, TraceEvent, TraceKind,
};

const WORKERS: usize = 4;

/// What the stream says, counted as it is generated.
#[derive(Default, Debug)]
struct Expected {
    tasks: usize,
    ok: usize,
    failed: usize,
    not_run: usize,
    /// Of `not_run`, those a broken or terminated pool failed: failed futures, not cancelled.
    abandoned: usize,
    started: usize,
    wait_sum: u64,
    ran: usize,
    run_sum: u64,
    serial_sum: u64,
    received: usize,
    callbacks: usize,
    max_queue: usize,
}

/// Feeds events to a sink, each at its own time.
struct Stream<'a> {
    sink: &'a mut dyn FnMut(&TraceEvent),
    t: u64,
}

impl Stream<'_> {
    fn emit(&mut self, dt: u64, kind: TraceKind) {
        self.t += dt;
        (self.sink)(&TraceEvent { t: self.t, kind });
    }
}

/// A cheap deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `first` tasks submitted in one batch before any starts (so most fall out of the window
/// while still queued), then `rest` tasks one by one with a varied fate each. Returns what the
/// stream holds, and its makespan.
fn stream(first: u64, rest: u64, sink: &mut dyn FnMut(&TraceEvent)) -> (Expected, u64) {
    let mut s = Stream { sink, t: 0 };
    let mut e = Expected::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    s.emit(
        0,
        TraceKind::Run {
            virtual_time: false,
            cores: 2,
            scenario: "synthetic".into(),
            title: "synthetic".into(),
            pool: PoolKind::Thread,
            workers: WORKERS,
            seed: 1,
            speed: 1.0,
            gil: false,
            engine: EngineChoice::Poolscope,
        },
    );
    s.emit(1, TraceKind::Step { index: 0, op: "submit".into(), python: String::new(), note: None });
    for worker in 0..WORKERS {
        s.emit(1, TraceKind::WorkerUp { worker, pid: 1 });
    }
    // The batch: every submit first, then each runs in turn.
    let mut submitted_at = Vec::new();
    for task in 0..first {
        s.emit(1, TraceKind::Submit { task, label: format!("B{task}"), cost_us: Some(7), cpu: false });
        s.emit(0, TraceKind::Queue { depth: (task + 1) as usize });
        submitted_at.push(s.t);
    }
    e.tasks += first as usize;
    e.max_queue = first as usize;
    for task in 0..first {
        let worker = (task % WORKERS as u64) as usize;
        s.emit(2, TraceKind::Start { task, worker, pid: 1 });
        e.started += 1;
        e.wait_sum += s.t - submitted_at[task as usize];
        let start = s.t;
        s.emit(3, TraceKind::Finish { task, worker, outcome: Outcome::Ok, value: None, error: None });
        e.ok += 1;
        e.ran += 1;
        e.run_sum += s.t - start;
        e.serial_sum += 7.min(s.t - start);
    }
    drop(submitted_at);
    // One by one.
    for task in first..first + rest {
        let worker = (task % WORKERS as u64) as usize;
        let roll = rng.next();
        let cost = if roll % 3 == 0 { None } else { Some(roll % 1000) };
        s.emit(1, TraceKind::Submit { task, label: format!("T{task}"), cost_us: cost, cpu: false });
        e.tasks += 1;
        let submitted = s.t;
        match roll % 20 {
            // Cancelled while queued.
            0 => {
                s.emit(1, TraceKind::Cancel { task, ok: true });
                e.not_run += 1;
            }
            // Abandoned without running.
            1 => {
                s.emit(1, TraceKind::Abandon { task, error: None });
                e.not_run += 1;
                e.abandoned += 1;
            }
            fate => {
                s.emit(roll % 50, TraceKind::Start { task, worker, pid: 1 });
                e.started += 1;
                e.wait_sum += s.t - submitted;
                let start = s.t;
                let outcome = match fate {
                    2 => Outcome::Error,
                    3 => Outcome::Crashed,
                    _ => Outcome::Ok,
                };
                s.emit(roll % 997, TraceKind::Finish { task, worker, outcome, value: None, error: None });
                let run = s.t - start;
                e.ran += 1;
                e.run_sum += run;
                e.serial_sum += cost.map_or(run, |c| c.min(run));
                if outcome == Outcome::Ok {
                    e.ok += 1;
                } else {
                    e.failed += 1;
                }
                if fate == 4 {
                    s.emit(1, TraceKind::Callback { task, thread: "w".into(), error: None });
                    e.callbacks += 1;
                }
                if fate % 2 == 0 {
                    s.emit(
                        1,
                        TraceKind::Result {
                            task,
                            outcome: ResultOutcome::Ok,
                            value: Some("1".into()),
                            error: None,
                            exception: None,
                        },
                    );
                    e.received += 1;
                }
            }
        }
    }
    let end = s.t + 1;
    s.emit(1, TraceKind::End { makespan_us: end });
    (e, end)
}

fn run(first: u64, rest: u64) -> (Model, Expected, u64) {
    let mut model = Model::new();
    let (e, end) = stream(first, rest, &mut |event| model.apply(event));
    (model, e, end)
}

fn check(model: &Model, e: &Expected, makespan: u64) {
    let summary = Summary::of(model);
    assert_eq!(summary.tasks, e.tasks);
    assert_eq!((summary.ok, summary.failed, summary.not_run), (e.ok, e.failed, e.not_run));
    assert_eq!(summary.makespan_us, makespan);
    assert_eq!(summary.mean_wait_us, e.wait_sum as f64 / e.started as f64);
    assert_eq!(summary.mean_run_us, e.run_sum as f64 / e.ran as f64);
    assert_eq!(summary.throughput, e.ran as f64 / (makespan as f64 / 1e6));
    assert_eq!(summary.serial_us, e.serial_sum);
    assert_eq!(summary.max_queue, e.max_queue);
    assert_eq!(summary.workers, WORKERS);
    assert_eq!(model.totals.in_state(TaskState::Pending) + model.totals.in_state(TaskState::Running), 0);
    assert_eq!(model.received_total, e.received);
    assert_eq!(model.callbacks, e.callbacks);
    let ran: usize = model.lanes.values().map(|l| l.ran_total).sum();
    assert_eq!(ran, e.started);
}

#[test]
fn a_million_tasks_keep_a_bounded_window_and_exact_totals() {
    let (model, e, makespan) = run(120_000, 1_000_000);
    assert!(e.tasks >= 1_000_000);
    assert!(model.tasks.len() <= TASK_WINDOW, "{} records kept", model.tasks.len());
    assert!(model.received.len() <= RECEIVED_WINDOW);
    assert!(model.lanes.values().all(|l| l.ran.len() <= LANE_RAN_WINDOW));
    check(&model, &e, makespan);
    // The window holds the newest tasks; older ones are gone.
    let last = (e.tasks - 1) as u64;
    assert_eq!(model.task(last).map(|t| t.label.as_str()), Some(format!("T{last}").as_str()));
    assert!(model.task(0).is_none());
    assert_eq!(model.task_name(0), "#0");
    assert_eq!(model.submitted(), e.tasks);
    // Every wait and run time is in the percentiles' histograms, in bounded memory.
    assert_eq!(model.totals.wait_latency.count(), e.started as u64);
    assert_eq!(model.totals.run_latency.count(), e.ran as u64);
}

#[test]
fn below_the_window_every_record_is_kept_and_the_summary_is_the_records() {
    let (model, e, makespan) = run(300, 3_000);
    assert_eq!(model.tasks.len(), e.tasks);
    assert_eq!(model.received.len(), e.received);
    check(&model, &e, makespan);
    // The figures as computed from the records themselves.
    let summary = Summary::of(&model);
    let waits: Vec<u64> = model.tasks.iter().filter_map(|t| t.wait_us()).collect();
    let runs: Vec<u64> = model.tasks.iter().filter_map(|t| t.run_us()).collect();
    assert_eq!(summary.mean_wait_us, waits.iter().sum::<u64>() as f64 / waits.len() as f64);
    assert_eq!(summary.mean_run_us, runs.iter().sum::<u64>() as f64 / runs.len() as f64);
    assert_eq!(summary.serial_us, model.tasks.iter().filter_map(|t| t.serial_us()).sum::<u64>());
    let ok = model.tasks.iter().filter(|t| t.state == TaskState::Done).count();
    assert_eq!(summary.ok, ok);
    // The percentiles as the records give them by nearest rank, to 3 significant digits.
    for (p, mut times) in [(summary.wait_percentiles, waits), (summary.run_percentiles, runs)] {
        times.sort_unstable();
        let rank = |q: f64| times[((q * times.len() as f64).ceil() as usize).max(1) - 1] as f64;
        for (got, q) in [(p.p50_us, 0.50), (p.p95_us, 0.95), (p.p99_us, 0.99)] {
            assert!((got as f64 - rank(q)).abs() <= rank(q) * 1e-3, "p{q}: {got} µs, the records say {}", rank(q));
        }
    }
}

/// The UI's own tallies (the futures counts, the stats' means) stay exact past the window too:
/// they follow tasks that fell out of it while queued.
#[cfg(feature = "ui")]
#[test]
fn the_ui_tallies_stay_exact_past_the_window() {
    let lesson = poolscope::ui::Lesson::of(&poolscope::scenario::load("pool-basics").unwrap());
    let mut view = poolscope::ui::View::new(lesson);
    let (e, _) = stream(120_000, 20_000, &mut |event| view.apply(event));
    let (c, t, totals) = (&view.timeline.counts, &view.timeline, &view.model.totals);
    assert_eq!(c.total(), e.tasks);
    assert_eq!(
        (c.pending, c.running, c.done, c.failed, c.cancelled),
        (0, 0, e.ok, e.failed + e.abandoned, e.not_run - e.abandoned)
    );
    assert_eq!((t.started, t.wait_sum_us), (e.started as u64, e.wait_sum));
    assert_eq!((t.ran, t.run_sum_us, t.serial_sum_us), (e.ran as u64, e.run_sum, e.serial_sum));
    assert_eq!((totals.started, totals.wait_sum_us, totals.ran), (e.started, e.wait_sum, e.ran));
}

#[test]
fn a_worker_respawned_after_every_task_keeps_its_recent_pids() {
    let mut model = Model::new();
    for pid in 1..=100_000u32 {
        let t = u64::from(pid) * 2;
        model.apply(&TraceEvent { t, kind: TraceKind::WorkerUp { worker: 0, pid } });
        model.apply(&TraceEvent {
            t: t + 1,
            kind: TraceKind::WorkerDown { worker: 0, pid, reason: DownReason::Retired, cause: None },
        });
    }
    let lane = &model.lanes[&0];
    assert_eq!(lane.pids.len(), LANE_PIDS_KEPT);
    assert_eq!((lane.pid, lane.pids.last()), (100_000, Some(&100_000)));
    assert_eq!(lane.alive_us, 100_000);
}
