//! What each fuzz target checks, one function per target: the fuzzer calls them on its
//! inputs, and `tests/fuzz_corpus.rs` replays the committed corpora through them on stable
//! Rust. Each returns normally or panics; a panic is a bug found.

use std::sync::OnceLock;

use poolscope::scenario;
use poolscope::trace::{LANE_PIDS_KEPT, LANE_RAN_WINDOW, RECEIVED_WINDOW, TASK_WINDOW, TaskState, TraceEvent};
use poolscope::trace::{Summary, TraceKind, Transcript};
use poolscope::ui::{Lesson, UiState, View, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// What `poolscope check` does with a file: any bytes are a scenario or located errors.
pub fn scenario(data: &[u8]) {
    // `check` reads the file as UTF-8 first; anything else is an I/O error, not the parser's.
    let Ok(text) = std::str::from_utf8(data) else { return };
    match scenario::parse(text, "fuzz.toml", "fuzz") {
        Ok(scenario) => {
            // What `check` prints, and the lesson every view of it draws.
            let _ = format!("{:?}, {} pool, {} steps", scenario.title, scenario.pool.kind, scenario.steps.len());
            let lesson = Lesson::of(&scenario);
            assert_eq!(lesson.step_lines.len(), scenario.steps.len() + 1, "a first line per step and the shutdown");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error without a message");
            let lines = text.lines().count().max(1);
            for error in &errors.0 {
                assert_eq!(error.file, "fuzz.toml");
                assert!(error.line >= 1 && error.line <= lines + 1, "line {} of {lines}: {error}", error.line);
                assert!(error.column >= 1, "{error}");
                assert!(!error.message.is_empty(), "{error}");
            }
        }
    }
}

/// A worker's stdout full of garbage: frames, errors, never a panic.
pub fn wire(data: &[u8]) {
    let _ = poolscope::pool::process::decode_stream(data);
}

/// Bytes as an event log (JSON Lines), each line that is an event folded into the view the
/// live UI draws, the headless transcript and summary; the model's invariants hold after
/// every event, and the view draws.
pub fn event_log(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let events = text.lines().filter_map(|line| poolscope::trace::parse_jsonl(line).ok()).flatten();
    fold(events, 100, 30);
}

/// Bytes as the datagrams the CPython probe sends, one a line: garbage is skipped, and the
/// events made of the rest keep their promises (time never goes back, `run` first, `end`
/// last) and fold like any run's.
pub fn cpython_events(data: &[u8]) {
    let (lesson, data) = match data.split_first() {
        Some((first, rest)) => (first & 1 == 1, rest),
        None => (false, data),
    };
    let events = poolscope::scenario::cpython::translate_datagrams(data.split(|b| *b == b'\n'), lesson);
    assert!(matches!(events.first().map(|e| &e.kind), Some(TraceKind::Run { .. })), "{events:?}");
    assert!(matches!(events.last().map(|e| &e.kind), Some(TraceKind::End { .. })), "{events:?}");
    assert!(events.windows(2).all(|w| w[0].t <= w[1].t), "time went back: {events:?}");
    let mut up = std::collections::BTreeSet::new();
    for event in &events {
        match &event.kind {
            TraceKind::WorkerUp { worker, .. } => assert!(up.insert(*worker), "lane {worker} up twice: {events:?}"),
            TraceKind::WorkerDown { worker, .. } => {
                assert!(up.remove(worker), "lane {worker} down, not up: {events:?}")
            }
            TraceKind::WorkerCpu { worker, cpu } => {
                assert!(up.contains(worker), "a CPU reading for lane {worker}, not up: {events:?}");
                assert!(cpu.is_finite() && *cpu >= 0.0, "a CPU reading of {cpu}: {events:?}");
            }
            _ => {}
        }
    }
    assert!(up.is_empty(), "lanes {up:?} still up after the end");
    fold(events.into_iter(), 80, 24);
}

fn lesson() -> &'static Lesson {
    static LESSON: OnceLock<Lesson> = OnceLock::new();
    LESSON.get_or_init(|| Lesson::of(&scenario::load("map-ordering").expect("a built-in lesson")))
}

/// Folds `events` into a view and the headless transcript, checking the model after each;
/// then draws the view at `width`×`height`.
fn fold(events: impl Iterator<Item = TraceEvent>, width: u16, height: u16) {
    let mut view = View::new(lesson().clone());
    let mut transcript = Transcript::default();
    let mut latest = 0;
    let mut applied = 0;
    for event in events {
        latest = latest.max(event.t);
        applied += 1;
        view.apply(&event);
        let _ = transcript.event(&view.model, &event, &mut std::io::sink());
        check(&view, latest, applied);
    }
    let _ = transcript.finish(&view.model, &mut std::io::sink());
    let _ = Summary::of(&view.model).to_string();
    view.tick(view.now_us.saturating_add(1_000_000));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| render(&view, &UiState::default(), f)).expect("a test terminal draws");
}

/// What the model promises, whatever it was fed.
fn check(view: &View, latest: u64, applied: u64) {
    let model = &view.model;
    assert_eq!(model.events, applied);
    assert_eq!(model.now_us, latest, "the clock is the latest event's time");
    // An ended run's clock stops at its end, whatever comes after.
    match model.makespan_us {
        Some(end) => assert_eq!(view.now_us, end),
        None => assert!(view.now_us >= model.now_us),
    }
    let totals = &model.totals;
    let states = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Done,
        TaskState::Failed,
        TaskState::Crashed,
        TaskState::Cancelled,
        TaskState::Abandoned,
    ];
    let counted: usize = states.iter().map(|s| totals.in_state(*s)).sum();
    assert_eq!(counted, model.submitted(), "every task submitted is in one state: {totals:?}");
    assert!(totals.running_cpu <= totals.running, "{totals:?}");
    assert!(totals.started <= model.submitted() && totals.ran <= model.submitted(), "{totals:?}");
    assert!(model.tasks.len() <= TASK_WINDOW);
    for (i, task) in model.tasks.iter().enumerate() {
        assert_eq!(task.id, model.first_task + i as u64, "tasks are by id");
    }
    assert!(model.received.len() <= RECEIVED_WINDOW && model.received.len() <= model.received_total);
    assert!(model.queue_depth <= model.max_queue_depth);
    assert_eq!(model.queue_since.is_some(), model.queue_depth > 0);
    for lane in model.lanes.values() {
        assert!(lane.pids.len() <= LANE_PIDS_KEPT);
        assert!(lane.ran.len() <= LANE_RAN_WINDOW && lane.ran.len() <= lane.ran_total);
        assert_eq!(lane.busy_since.is_some(), lane.running > 0, "{lane:?}");
    }
    assert!(view.timeline.counts.total() <= model.submitted(), "{:?}", view.timeline.counts);
}
