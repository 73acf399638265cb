//! The GIL drawn: the lanes show the thread holding it apart from those waiting for it, with
//! or without colours, and on simulated time the CPU panel shows the simulated cores busy.
#![cfg(feature = "ui")]

use poolscope::scenario;
use poolscope::trace::{EngineChoice, GilChange, PoolKind, TraceEvent, TraceKind};
use poolscope::ui::cpu::simulated_busy;
use poolscope::ui::lanes::LanesWidget;
use poolscope::ui::{Lesson, Theme, UiState, View, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::widgets::Widget;

mod common;

const LESSON: &str = "tests/ui_lessons/threads-cpu-gil.toml";

fn ev(t: u64, kind: TraceKind) -> TraceEvent {
    TraceEvent { t, kind }
}

fn gil(t: u64, worker: usize, change: GilChange) -> TraceEvent {
    ev(t, TraceKind::Gil { worker, change })
}

fn mono() -> UiState {
    UiState { theme: Theme::MONO, ..UiState::default() }
}

/// Two CPU-bound tasks on two threads that share a GIL, handed over every 250 ms (a long
/// switch interval, so each cell of the lanes is all holding or all waiting).
fn two_threads_taking_turns(until_us: u64) -> View {
    let lesson = scenario::parse(&std::fs::read_to_string(LESSON).unwrap(), LESSON, "threads-cpu-gil").unwrap();
    let mut view = View::new(Lesson::of(&lesson));
    let mut events = vec![ev(
        0,
        TraceKind::Run {
            scenario: "threads-cpu-gil".into(),
            title: lesson.title.clone(),
            pool: PoolKind::Thread,
            workers: 2,
            seed: 7,
            speed: 1.0,
            gil: true,
            virtual_time: true,
            cores: 2,
            engine: EngineChoice::Poolscope,
        },
    )];
    for task in 0..2u64 {
        let worker = task as usize;
        let label = format!("Crunch{task}");
        events.push(ev(0, TraceKind::Submit { task, label, cost_us: Some(500_000), cpu: true }));
        events.push(ev(0, TraceKind::WorkerUp { worker, pid: 1000 }));
        events.push(ev(0, TraceKind::Start { task, worker, pid: 1000 }));
    }
    events.extend([
        gil(0, 0, GilChange::Take),
        gil(0, 1, GilChange::Wait),
        gil(250_000, 1, GilChange::Take),
        gil(500_000, 0, GilChange::Take),
    ]);
    for event in events.iter().filter(|e| e.t <= until_us) {
        view.apply(event);
    }
    view.tick(until_us);
    view
}

#[test]
fn without_colours_the_holder_is_bold_and_a_waiter_hatched() {
    let view = two_threads_taking_turns(600_000);
    let ui = mono();
    let mut buf = Buffer::empty(Rect::new(0, 0, 29, 3));
    LanesWidget { view: &view, ui: &ui }.render(buf.area, &mut buf);
    let rows: Vec<String> =
        (0..3).map(|y| (0..29).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>()).collect();
    // 1 s over 20 cells, 50 ms each, 12 of them run so far: worker 0 holds 0-250 ms and
    // from 500 ms, worker 1 holds 250-500 ms; each waits while the other holds (the label
    // covers the first 250 ms).
    assert_eq!(
        rows,
        ["w0 GIL   [Crunch0░░>>        ", "w1 wait  [Crunch1>>░>        ", "now 600ms|0s       |500ms    ",]
    );
    // The block's cells: bold while holding, plain while waiting.
    let bold = |x: u16, y: u16| buf[(x, y)].modifier.contains(Modifier::BOLD);
    assert!(bold(9, 0) && !bold(9, 1), "worker 0 held the GIL first, worker 1 waited");
    assert!(!bold(17, 0) && bold(19, 0) && bold(20, 0), "worker 0 waited 400-500 ms and holds it now");
    assert!(bold(17, 1) && !bold(19, 1) && !bold(20, 1), "worker 1 held it until 500 ms and waits since");
}

#[test]
fn snapshot_threads_cpu_gil_80x24_mid_run_no_color() {
    let lesson = scenario::parse(&std::fs::read_to_string(LESSON).unwrap(), LESSON, "threads-cpu-gil").unwrap();
    let mut view = View::new(Lesson::of(&lesson));
    // Mid-run, 1.0025 s in: worker 0's turn (every 20 ms, for 5 ms, since 0).
    let now = 1_002_500;
    for event in common::lesson_events(LESSON).iter().filter(|e| e.t <= now) {
        view.apply(event);
    }
    view.tick(now);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| render(&view, &mono(), f)).unwrap();
    let holders = view.model.lanes.keys().filter(|w| view.model.gil_ledger.holder.is_some_and(|(h, _)| h == **w));
    assert_eq!(holders.count(), 1, "one holder at a time");
    assert_eq!(simulated_busy(&view.model), 1, "the GIL keeps one simulated core busy");
    insta::assert_snapshot!("threads_cpu_gil_80x24_mid_run_no_color", terminal.backend());
}

#[test]
fn on_simulated_time_the_cpu_panel_shows_the_busy_simulated_cores() {
    let view = two_threads_taking_turns(600_000);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| render(&view, &mono(), f)).unwrap();
    let screen: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
    assert!(screen.contains("CPU · SIM: 1 of 2 cores busy (GIL)"), "{screen}");
    assert!(!screen.contains("not measured"));
    // Without a GIL, as many as the running CPU-bound tasks, up to the cores.
    let mut model = view.model.clone();
    model.gil = false;
    model.gil_ledger = Default::default();
    assert_eq!(simulated_busy(&model), 2);
    model.cores = 1;
    assert_eq!(simulated_busy(&model), 1);
}

#[test]
fn in_colour_the_holder_is_a_bright_block_and_a_waiter_a_hatched_outline() {
    let view = two_threads_taking_turns(600_000);
    let ui = UiState { theme: Theme::DARK, ..UiState::default() };
    let mut buf = Buffer::empty(Rect::new(0, 0, 29, 3));
    LanesWidget { view: &view, ui: &ui }.render(buf.area, &mut buf);
    let filled = |x: u16, y: u16| buf[(x, y)].bg != ratatui::style::Color::Reset;
    // Worker 0 held the GIL 0-250 ms (cells 0-4) and from 500 ms (cells 10-11).
    assert!(filled(9, 0) && !filled(9, 1), "worker 0 holds, worker 1 waits at the start");
    assert!(!filled(17, 0) && filled(17, 1), "worker 1's turn, 400-450 ms");
    assert!(filled(19, 0) && !filled(19, 1), "worker 0's turn again");
    assert_eq!(buf[(17, 0)].symbol(), "░", "a waiting cell is hatched");
    assert_eq!(buf[(19, 1)].symbol(), "░");
}
