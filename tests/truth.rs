//! What the screen says must be true (CPython is the reference): every built-in lesson, run on
//! virtual time and folded event by event into the same [`View`] the live UI draws, never
//! shows a warning whose condition does not hold, a speed-up before a task ended or one the
//! CPUs could not give, or futures counted in the wrong state. Results are grouped by the step
//! that received them, whatever the clock.
#![cfg(feature = "ui")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use poolscope::scenario::{Run, RunOptions, Scenario, TimeMode, builtin_names};
use poolscope::trace::{EngineChoice, Outcome, PoolKind, TraceEvent, TraceKind};
use poolscope::ui::stats::Stats;
use poolscope::ui::warnings::{self, ARRIVALS_MEASURED, IDLE_WHILE_WAITING_US, Warning};
use poolscope::ui::{Lesson, Theme, UiState, View};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The simulated machine's cores: few, like the machines the issue was seen on.
const CORES: usize = 2;

fn run_virtual(name: &str) -> (Scenario, Vec<TraceEvent>) {
    let scenario = poolscope::scenario::load(name).expect("a built-in lesson");
    let options = RunOptions {
        time: TimeMode::Virtual,
        cores: Some(CORES),
        worker_program: Some(PathBuf::from(env!("CARGO_BIN_EXE_poolscope"))),
        ..RunOptions::default()
    };
    let events = Run::start(&scenario, &options).expect("the run starts").collect_to_end();
    (scenario, events)
}

/// The lines of the Results panel drawn for `view`.
fn results_lines(view: &View) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(100, 8)).unwrap();
    let ui = UiState { theme: Theme::MONO, ..UiState::default() };
    terminal.draw(|f| poolscope::ui::results::render(view, &ui, f, f.area())).unwrap();
    let buffer = terminal.backend().buffer().clone();
    (0..buffer.area.height)
        .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>())
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn map_ordering_on_virtual_time_groups_results_by_the_step_that_received_them() {
    let (scenario, events) = run_virtual("map-ordering");
    let mut view = View::new(Lesson::of(&scenario));
    for event in &events {
        view.apply(event);
    }
    let lines = results_lines(&view);
    let text = lines.join("\n");
    assert!(lines.iter().any(|l| l == "map: Page0 → Page1 → Page2 → Page3"), "map's order, in its own line:\n{text}");
    assert!(
        lines.iter().any(|l| l == "as_completed: Page1 → Page2 → Page3 → Page0"),
        "as_completed's order, in its own line:\n{text}"
    );
    assert!(!text.contains("shutdown:"), "shutdown received nothing:\n{text}");
    // The model itself: each result belongs to the step whose op received it.
    let ops: Vec<&str> = view
        .model
        .received
        .iter()
        .map(|r| view.model.steps.iter().find(|s| Some(s.index) == r.step).map_or("?", |s| s.op.as_str()))
        .collect();
    assert_eq!(ops, ["map", "map", "map", "map", "as_completed", "as_completed", "as_completed", "as_completed"]);
}

/// What the event stream says, worked out here again, apart from the model: the conditions
/// the warnings claim, and the numbers the stats and the futures grid show.
#[derive(Default)]
struct Truth {
    pool: String,
    gil: bool,
    cores: usize,
    size: usize,
    /// Task → CPU-bound.
    cpu: HashMap<u64, bool>,
    /// Task → the step that submitted it.
    step_of: HashMap<u64, usize>,
    cost: HashMap<u64, Option<u64>>,
    running: HashSet<u64>,
    started_at: HashMap<u64, u64>,
    finished_ok: HashSet<u64>,
    ended: HashSet<u64>,
    received: HashSet<u64>,
    cancelled: usize,
    failed: usize,
    /// Worker → idle since (alive, nothing running), while it is.
    idle: BTreeMap<usize, Option<u64>>,
    on_worker: HashMap<usize, usize>,
    depth: usize,
    rising: bool,
    queued_since: Option<u64>,
    step: Option<(usize, String)>,
    /// When the current step began.
    step_at: u64,
    finishes: usize,
    /// The run times of the finished tasks, added up.
    ran_us: u64,
    serial_us: u64,
    serial_cpu_us: u64,
    /// Finished tasks without a nominal cost (their run time stands in for it).
    uncosted: usize,
    /// More CPU-bound tasks ran at once than the CPUs let progress.
    contended: bool,
}

impl Truth {
    fn apply(&mut self, e: &TraceEvent) {
        let t = e.t;
        match &e.kind {
            TraceKind::Run { pool, gil, cores, workers, .. } => {
                (self.pool, self.gil, self.cores, self.size) = (pool.to_string(), *gil, *cores, *workers);
            }
            TraceKind::Step { index, op, .. } => {
                self.step = Some((*index, op.clone()));
                self.step_at = t;
            }
            TraceKind::Submit { task, cost_us, cpu, .. } => {
                self.cpu.insert(*task, *cpu);
                self.cost.insert(*task, *cost_us);
                if let Some((index, _)) = &self.step {
                    self.step_of.insert(*task, *index);
                }
            }
            TraceKind::WorkerUp { worker, .. } => {
                self.idle.insert(*worker, Some(t));
                self.on_worker.insert(*worker, 0);
            }
            TraceKind::WorkerDown { worker, .. } => {
                self.idle.remove(worker);
                self.on_worker.remove(worker);
            }
            TraceKind::Start { task, worker, .. } => {
                self.running.insert(*task);
                self.started_at.insert(*task, t);
                self.contended |= self.running_cpu() > self.cpu_ceiling();
                *self.on_worker.entry(*worker).or_default() += 1;
                if let Some(idle) = self.idle.get_mut(worker) {
                    *idle = None;
                }
            }
            TraceKind::Finish { task, worker, outcome, .. } => {
                self.running.remove(task);
                self.ended.insert(*task);
                self.finishes += 1;
                self.ran_us += t - self.started_at[task];
                if *outcome == Outcome::Ok {
                    self.finished_ok.insert(*task);
                } else {
                    self.failed += 1;
                }
                // Its nominal cost, but never more than it ran (a killed task did only part).
                let serial = match self.cost.get(task) {
                    Some(Some(cost)) => (*cost).min(t - self.started_at[task]),
                    _ => {
                        self.uncosted += 1;
                        t - self.started_at[task]
                    }
                };
                self.serial_us += serial;
                if self.cpu[task] {
                    self.serial_cpu_us += serial;
                }
                if let Some(n) = self.on_worker.get_mut(worker) {
                    *n = n.saturating_sub(1);
                    if *n == 0
                        && let Some(idle) = self.idle.get_mut(worker)
                    {
                        *idle = Some(t);
                    }
                }
            }
            TraceKind::Cancel { task, ok: true } if !self.running.contains(task) && !self.ended.contains(task) => {
                self.ended.insert(*task);
                self.cancelled += 1;
            }
            TraceKind::Abandon { task, .. } => {
                self.ended.insert(*task);
                self.failed += 1;
            }
            TraceKind::Result { task, .. } => {
                self.received.insert(*task);
            }
            TraceKind::Queue { depth } => {
                self.rising = *depth > self.depth;
                self.queued_since = if *depth == 0 { None } else { self.queued_since.or(Some(t)) };
                self.depth = *depth;
            }
            TraceKind::Resize { workers, .. } => self.size = *workers,
            _ => {}
        }
    }

    fn running_cpu(&self) -> usize {
        self.running.iter().filter(|t| self.cpu[t]).count()
    }

    /// Whether `warning`'s condition holds at `now`.
    fn holds(&self, warning: Warning, now: u64) -> bool {
        let thread_gil = self.gil && self.pool == "thread";
        match warning {
            // The OS's word on a worker process, read by the live view's CPU sampler: nothing
            // in an event log says it, and no sample is taken here.
            Warning::Stopped => false,
            Warning::Gil => thread_gil && self.running_cpu() >= 2,
            Warning::BlockedLoop => self.pool == "coroutine" && self.running_cpu() >= 1 && self.running.len() >= 2,
            Warning::Oversubscribed => !thread_gil && self.pool != "coroutine" && self.running_cpu() > self.cores,
            Warning::IdleWhileWaiting => {
                let idle = self.idle.values().flatten().min();
                match (idle, self.queued_since) {
                    (Some(idle), Some(queued)) => now - (*idle).max(queued) >= IDLE_WHILE_WAITING_US,
                    _ => false,
                }
            }
            Warning::QueueGrowing => {
                let submitting = self.step.as_ref().is_some_and(|(_, op)| {
                    ["submit", "map", "arrive", "imap", "imap_unordered"].contains(&op.as_str())
                });
                submitting && self.rising && self.depth > 4 * self.size.max(1)
            }
            Warning::Overloaded => {
                let Some((index, op)) = &self.step else { return false };
                let arrived = self.step_of.values().filter(|s| *s == index).count();
                let (seconds, run) = ((now - self.step_at) as f64 / 1e6, self.ran_us as f64 / 1e6);
                op == "arrive"
                    && self.depth > 0
                    && self.finishes > 0
                    && arrived >= ARRIVALS_MEASURED
                    && arrived as f64 / seconds * (run / self.finishes as f64) / self.size.max(1) as f64 > 1.0
            }
            Warning::HeadOfLine => {
                let Some((index, op)) = &self.step else { return false };
                let mut tasks: Vec<u64> = self.step_of.iter().filter(|(_, s)| *s == index).map(|(t, _)| *t).collect();
                tasks.sort();
                op == "map"
                    && tasks.iter().enumerate().any(|(i, a)| {
                        !self.ended.contains(a)
                            && tasks[i + 1..].iter().any(|b| self.finished_ok.contains(b) && !self.received.contains(b))
                    })
            }
        }
    }

    /// How many CPU-bound tasks can progress at once.
    fn cpu_ceiling(&self) -> usize {
        if (self.gil && self.pool == "thread") || self.pool == "coroutine" { 1 } else { self.cores }
    }
}

#[test]
fn no_warning_or_stat_contradicts_any_lesson_at_any_moment() {
    let mut seen: HashMap<String, HashSet<Warning>> = HashMap::new();
    for name in builtin_names() {
        let (scenario, events) = run_virtual(name);
        let mut view = View::new(Lesson::of(&scenario));
        let mut truth = Truth::default();
        for event in &events {
            view.apply(event);
            truth.apply(event);
            let now = view.now_us;
            let at = format!("{name} at {now} µs, after {event:?}");
            for warning in warnings::active(&view) {
                assert!(truth.holds(warning, now), "{at}: {warning:?} is shown, but its condition does not hold");
                seen.entry(name.to_string()).or_default().insert(warning);
            }
            let stats = Stats::of(&view);
            match stats.speedup {
                None => assert_eq!(truth.finishes, 0, "{at}: tasks ended, and the speed-up is not shown"),
                Some(speedup) => {
                    assert!(truth.finishes > 0, "{at}: a speed-up of {speedup} before any task ended");
                    let expected = truth.serial_us as f64 / now as f64;
                    assert!(
                        (speedup - expected).abs() < 1e-9,
                        "{at}: speed-up {speedup}, finished work says {expected}"
                    );
                }
            }
            // Run times stretched by sharing CPUs measure overlap, not speed-up: so labelled.
            let shared = (truth.gil || truth.contended) && truth.uncosted > 0;
            assert_eq!(stats.shared, shared, "{at}: the figure is labelled overlap exactly when tasks shared CPUs");
            let cpu_ratio = if now > 0 { truth.serial_cpu_us as f64 / now as f64 } else { 0.0 };
            assert!(
                shared || cpu_ratio <= truth.cpu_ceiling() as f64 + 1e-9,
                "{at}: a speed-up from CPU-bound work of {cpu_ratio}× on {} CPUs",
                truth.cpu_ceiling()
            );
            assert_eq!(stats.above_ceiling, None, "{at}: on virtual time no task can beat its cost");
            let counts = view.timeline.counts;
            assert_eq!(counts.cancelled, truth.cancelled, "{at}: futures counted as cancelled");
            assert_eq!(counts.failed, truth.failed, "{at}: futures counted as failed");
        }
    }
    let seen_in = |name: &str| seen.get(name).cloned().unwrap_or_default();
    // The checks above must have had something to check, and the lessons their warnings.
    assert!(seen_in("threads-cpu-gil").contains(&Warning::Gil), "the GIL lesson warns of the GIL");
    assert!(seen_in("map-ordering").contains(&Warning::HeadOfLine), "map-ordering shows head-of-line blocking");
    assert!(!seen_in("threads-io-bound").contains(&Warning::Gil), "waiting threads do not wait for the GIL");
    assert!(seen_in("unbounded-queue").contains(&Warning::Overloaded), "ρ = 1.5 is overload");
    assert!(seen_in("unbounded-queue").contains(&Warning::QueueGrowing), "and its queue grows");
    assert!(!seen_in("hockey-stick").contains(&Warning::Overloaded), "ρ = 0.8 is not");
}

#[test]
fn worker_crash_counts_the_broken_pools_futures_as_failed_not_cancelled() {
    let (scenario, events) = run_virtual("worker-crash");
    let mut view = View::new(Lesson::of(&scenario));
    for event in &events {
        view.apply(event);
    }
    let counts = view.timeline.counts;
    let errors = events
        .iter()
        .filter(|e| matches!(e.kind, TraceKind::Result { outcome: poolscope::trace::ResultOutcome::Error, .. }))
        .count();
    assert_eq!(counts.cancelled, 0, "nothing was cancelled: {counts:?}");
    assert_eq!(counts.failed, errors, "every future whose result() raised is failed: {counts:?}");
}

#[test]
fn the_header_shows_the_live_size_and_marks_the_code_as_the_lessons() {
    let scenario = poolscope::scenario::load("pool-basics").unwrap();
    let run = |t, workers| TraceEvent {
        t,
        kind: TraceKind::Run {
            scenario: "pool-basics".into(),
            title: scenario.title.clone(),
            pool: PoolKind::Thread,
            workers,
            seed: 1,
            speed: 1.0,
            gil: false,
            engine: EngineChoice::Poolscope,
            virtual_time: true,
            cores: CORES,
        },
    };
    let header = |events: &[TraceEvent]| {
        let mut view = View::new(Lesson::of(&scenario));
        for e in events {
            view.apply(e);
        }
        let mut terminal = Terminal::new(TestBackend::new(200, 1)).unwrap();
        let ui = UiState { theme: Theme::MONO, ..UiState::default() };
        terminal.draw(|f| poolscope::ui::header::render(&view, &ui, f, f.area())).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..buffer.area.width).map(|x| buffer[(x, 0)].symbol().to_string()).collect::<String>()
    };
    let resize = |t, workers, live| TraceEvent { t, kind: TraceKind::Resize { workers, live } };
    let live = header(&[run(0, 4), resize(10, 6, true)]);
    assert!(live.contains("6 workers (the lesson's code is for 4)"), "{live}");
    let by_step = header(&[run(0, 4), resize(10, 2, false)]);
    assert!(by_step.contains("2 workers ·") && !by_step.contains("lesson's code"), "{by_step}");
}
