//! The UI drawn into buffers: widgets against expected lines, whole screens as insta
//! snapshots at fixed points of hand-written event feeds, and every size from 1×1 up without a
//! panic.
#![cfg(feature = "ui")]

use poolscope::scenario;
use poolscope::sys::CpuSample;
use poolscope::trace::{EngineChoice, Outcome, PoolKind, ResultOutcome, TraceEvent, TraceKind};
use poolscope::ui::cpu::CpuWidget;
use poolscope::ui::lanes::LanesWidget;
use poolscope::ui::{Lesson, Palette, Panel, Theme, UiState, View, picker, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

/// The lessons the screens are drawn for, frozen here so a change to a built-in lesson's text
/// does not change these snapshots.
fn lesson(name: &str) -> scenario::Scenario {
    let text = match name {
        "map-ordering" => include_str!("ui_lessons/map-ordering.toml"),
        "pool-basics" => include_str!("ui_lessons/pool-basics.toml"),
        "unbounded-queue" => include_str!("ui_lessons/unbounded-queue.toml"),
        other => panic!("no frozen lesson {other}"),
    };
    scenario::parse(text, &format!("tests/ui_lessons/{name}.toml"), name).unwrap()
}

fn ev(t: u64, kind: TraceKind) -> TraceEvent {
    TraceEvent { t, kind }
}

fn step(index: usize, lesson: &scenario::Scenario) -> TraceKind {
    let s = &lesson.steps[index];
    TraceKind::Step { index, op: s.op.name().into(), python: s.python.clone(), note: s.note.clone() }
}

fn finish(task: u64, worker: usize, label: &str) -> TraceKind {
    TraceKind::Finish { task, worker, outcome: Outcome::Ok, value: Some(label.into()), error: None }
}

fn result(task: u64, label: &str) -> TraceKind {
    TraceKind::Result { task, outcome: ResultOutcome::Ok, value: Some(label.into()), error: None, exception: None }
}

/// map-ordering: 4 threads; Page0 takes 2 s, the others 0.5 s; map hands Page0 out first.
fn map_ordering() -> (scenario::Scenario, Vec<TraceEvent>) {
    let s = lesson("map-ordering");
    let mut e = vec![
        ev(
            0,
            TraceKind::Run {
                virtual_time: false,
                cores: 2,
                scenario: "map-ordering".into(),
                title: s.title.clone(),
                pool: PoolKind::Thread,
                workers: 4,
                seed: 4,
                speed: 1.0,
                gil: false,
                engine: EngineChoice::Poolscope,
            },
        ),
        ev(10, step(0, &s)),
    ];
    for i in 0..4u64 {
        e.push(ev(20 + i, TraceKind::Submit { task: i, label: format!("Page{i}"), cost_us: None, cpu: false }));
        e.push(ev(20 + i, TraceKind::Queue { depth: 1 }));
        e.push(ev(30 + i, TraceKind::WorkerUp { worker: i as usize, pid: 4242 }));
        e.push(ev(40 + i, TraceKind::Start { task: i, worker: i as usize, pid: 4242 }));
        e.push(ev(40 + i, TraceKind::Queue { depth: 0 }));
    }
    for i in 1..4u64 {
        e.push(ev(500_000 + i, finish(i, i as usize, &format!("Page{i}"))));
    }
    e.push(ev(2_000_050, finish(0, 0, "Page0")));
    for i in 0..4u64 {
        e.push(ev(2_000_100 + i, result(i, &format!("Page{i}"))));
    }
    e.push(ev(2_000_200, step(1, &s)));
    for i in 4..8u64 {
        e.push(ev(
            2_000_210 + i,
            TraceKind::Submit { task: i, label: format!("Page{}", i - 4), cost_us: None, cpu: false },
        ));
        e.push(ev(2_000_220 + i, TraceKind::Start { task: i, worker: (i - 4) as usize, pid: 4242 }));
    }
    e.push(ev(2_000_300, step(2, &s)));
    for i in 5..8u64 {
        e.push(ev(2_500_300 + i, finish(i, (i - 4) as usize, &format!("Page{}", i - 4))));
        e.push(ev(2_500_310 + i, result(i, &format!("Page{}", i - 4))));
    }
    e.push(ev(4_000_300, finish(4, 0, "Page0")));
    e.push(ev(4_000_310, result(4, "Page0")));
    e.push(ev(4_000_400, TraceKind::Shutdown { wait: true, phase: poolscope::trace::Phase::Begin }));
    e.push(ev(4_000_500, TraceKind::End { makespan_us: 4_000_500 }));
    (s, e)
}

/// pool-basics: 10 one-second tasks on 4 worker processes; one task failing for variety.
fn pool_basics() -> (scenario::Scenario, Vec<TraceEvent>) {
    let s = lesson("pool-basics");
    let mut e = vec![
        ev(
            0,
            TraceKind::Run {
                virtual_time: false,
                cores: 2,
                scenario: "pool-basics".into(),
                title: s.title.clone(),
                pool: PoolKind::Process,
                workers: 4,
                seed: 1,
                speed: 1.0,
                gil: false,
                engine: EngineChoice::Poolscope,
            },
        ),
        ev(5, step(0, &s)),
    ];
    for i in 0..10u64 {
        e.push(ev(10 + i, TraceKind::Submit { task: i, label: format!("Process{i}"), cost_us: None, cpu: false }));
        e.push(ev(10 + i, TraceKind::Queue { depth: (i + 1).saturating_sub(4).min(6) as usize }));
    }
    for w in 0..4usize {
        e.push(ev(20_000 + w as u64, TraceKind::WorkerUp { worker: w, pid: 9000 + w as u32 }));
    }
    e.push(ev(20_100, step(1, &s)));
    let mut t = 30_000;
    let mut next = 0u64;
    let mut depth = 10usize;
    for round in 0..3u64 {
        for w in 0..4usize {
            if next == 10 {
                break;
            }
            depth -= 1;
            e.push(ev(t + w as u64, TraceKind::Start { task: next, worker: w, pid: 9000 + w as u32 }));
            e.push(ev(t + w as u64, TraceKind::Queue { depth: depth.saturating_sub(0).min(6) }));
            if round < 2 {
                let outcome = if next == 5 { Outcome::Error } else { Outcome::Ok };
                let error = (next == 5).then(|| "boom".to_string());
                e.push(ev(
                    t + 1_000_000 + w as u64,
                    TraceKind::Finish { task: next, worker: w, outcome, value: None, error },
                ));
                e.push(ev(
                    t + 1_000_100 + w as u64,
                    TraceKind::Callback { task: next, thread: "MainThread".into(), error: None },
                ));
            }
            next += 1;
        }
        t += 1_000_200;
    }
    for i in 0..4u64 {
        e.push(ev(2_100_000 + i, result(i, &format!("Process{i}"))));
    }
    e.sort_by_key(|e| e.t);
    (s, e)
}

fn view_at(lesson: &(scenario::Scenario, Vec<TraceEvent>), until_us: u64) -> View {
    let mut view = View::new(Lesson::of(&lesson.0));
    for event in lesson.1.iter().filter(|e| e.t <= until_us) {
        view.apply(event);
    }
    view.tick(until_us);
    view.cpu(CpuSample {
        cores: vec![35.0, 80.0, 10.0, 95.0],
        processes: vec![(9000, 1.0), (9001, 0.5)],
        stopped: Vec::new(),
    });
    view
}

fn screen(view: &View, ui: &UiState, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(view, ui, f)).unwrap();
    terminal
}

fn plain() -> UiState {
    UiState { theme: Theme::MONO, ..UiState::default() }
}

#[test]
fn snapshot_map_ordering_80x24_mid_run() {
    let view = view_at(&map_ordering(), 2_600_000);
    insta::assert_snapshot!(screen(&view, &plain(), 80, 24).backend());
}

#[test]
fn snapshot_map_ordering_160x48_end() {
    let view = view_at(&map_ordering(), 5_000_000);
    insta::assert_snapshot!(screen(&view, &plain(), 160, 48).backend());
}

#[test]
fn snapshot_pool_basics_80x24_paused() {
    let view = view_at(&pool_basics(), 2_500_000);
    let ui = UiState { paused: true, held: 7, lesson: Some((0, 17)), ..plain() };
    insta::assert_snapshot!(screen(&view, &ui, 80, 24).backend());
}

#[test]
fn snapshot_pool_basics_160x48_help() {
    let view = view_at(&pool_basics(), 1_500_000);
    let ui = UiState { help: true, ..plain() };
    insta::assert_snapshot!(screen(&view, &ui, 160, 48).backend());
}

#[test]
fn snapshot_picker_80x24() {
    let lessons: Vec<Lesson> = ["pool-basics", "map-ordering"].iter().map(|n| Lesson::of(&lesson(n))).collect();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let ui = UiState { picked: 1, ..plain() };
    terminal.draw(|f| picker::render(&lessons, &ui, f, f.area())).unwrap();
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn every_size_from_1x1_draws_without_panic() {
    let lesson = pool_basics();
    let views = [View::new(Lesson::of(&lesson.0)), view_at(&lesson, 1_500_000), view_at(&map_ordering(), 9_000_000)];
    let lessons: Vec<Lesson> = vec![Lesson::of(&lesson.0)];
    let mut backend_terminal = Terminal::new(TestBackend::new(1, 1)).unwrap();
    for width in (1..=130).step_by(3).chain([200]) {
        for height in (1..=50).step_by(2).chain([60]) {
            backend_terminal.backend_mut().resize(width, height);
            backend_terminal.resize(Rect::new(0, 0, width, height)).unwrap();
            for (i, view) in views.iter().enumerate() {
                let ui = UiState {
                    help: i == 1,
                    theme: if i == 2 { Theme::MONO } else { Theme::DARK },
                    paused: i == 2,
                    ..UiState::default()
                };
                backend_terminal.draw(|f| render(view, &ui, f)).unwrap();
            }
            backend_terminal.draw(|f| picker::render(&lessons, &plain(), f, f.area())).unwrap();
        }
    }
}

#[test]
fn lanes_widget_draws_labelled_blocks_and_idle_gaps() {
    let view = view_at(&map_ordering(), 1_000_000);
    let mut buf = Buffer::empty(Rect::new(0, 0, 40, 5));
    LanesWidget { view: &view, ui: &plain() }.render(buf.area, &mut buf);
    // 1 s axis over 31 cells: Page0 runs throughout, Pages 1-3 end at 0.5 s then idle.
    assert_eq!(
        buf,
        Buffer::with_lines([
            "w0       [Page0>>>>>>>>>>>>>>>>>>>>>>>>>",
            "w1       [Page1========]················",
            "w2       [Page2========]················",
            "w3       [Page3========]················",
            "now 1s   |0s            |500ms          ",
        ])
        .tap_styles(&buf)
    );
}

#[test]
fn cpu_widget_bars_for_few_cores_heat_strip_for_many() {
    let ui = plain();
    let mut buf = Buffer::empty(Rect::new(0, 0, 20, 2));
    CpuWidget { cores: &[50.0, 100.0], ui: &ui }.render(buf.area, &mut buf);
    assert_eq!(buf, Buffer::with_lines([" 0▕█████     ▏ 50%  ", " 1▕██████████▏100%  "]).tap_styles(&buf));
    let many: Vec<f32> = (0..64).map(|i| (i * 100 / 63) as f32).collect();
    let mut buf = Buffer::empty(Rect::new(0, 0, 32, 2));
    CpuWidget { cores: &many, ui: &ui }.render(buf.area, &mut buf);
    let text: String = buf.content().iter().map(|c| c.symbol()).collect();
    assert!(text.starts_with("·········░"), "{text}");
    assert!(text.ends_with("▓████████"), "{text}");
}

#[test]
fn a_million_tiny_tasks_keep_the_timeline_bounded() {
    let mut view = View::new(Lesson::of(&lesson("pool-basics")));
    view.apply(&ev(0, TraceKind::WorkerUp { worker: 0, pid: 1 }));
    for i in 0..200_000u64 {
        let t = i * 50;
        view.apply(&ev(t, TraceKind::Submit { task: i, label: "t".into(), cost_us: None, cpu: false }));
        view.apply(&ev(t + 1, TraceKind::Start { task: i, worker: 0, pid: 1 }));
        view.apply(&ev(t + 40, finish(i, 0, "t")));
    }
    let lane = &view.timeline.lanes[&0];
    assert_eq!(lane.busy.len(), poolscope::ui::timeline::BUCKETS);
    let busy: u64 = lane.busy.iter().sum();
    assert_eq!(busy, 200_000 * 39);
    assert_eq!(view.timeline.counts.done, 200_000);
    let terminal = screen(&view, &plain(), 100, 30);
    let text = format!("{}", terminal.backend());
    assert!(text.contains('▓') || text.contains('█'), "{text}");
}

/// Compare text only: styles are checked by the snapshot tests' eyes, not here.
trait TapStyles {
    fn tap_styles(self, like: &Buffer) -> Buffer;
}

impl TapStyles for Buffer {
    fn tap_styles(mut self, like: &Buffer) -> Buffer {
        for (cell, other) in self.content.iter_mut().zip(like.content.iter()) {
            cell.set_style(other.style());
        }
        self
    }
}

#[test]
fn snapshot_map_ordering_80x24_head_of_line_warning() {
    let view = view_at(&map_ordering(), 1_000_000);
    let screen = screen(&view, &plain(), 80, 24);
    insta::assert_snapshot!(screen.backend());
    assert!(format!("{}", screen.backend()).contains("⚠ Head-of-line blocking"));
}

#[test]
fn snapshot_unbounded_queue_80x24_overloaded_warning() {
    // Its events from a run on virtual time: the arrivals are the seed's, every run.
    let s = lesson("unbounded-queue");
    let options = scenario::RunOptions { time: scenario::TimeMode::Virtual, cores: Some(2), ..Default::default() };
    let events = scenario::Run::start(&s, &options).unwrap().collect_to_end();
    let view = view_at(&(s, events), 2_000_000);
    let screen = screen(&view, &plain(), 80, 24);
    insta::assert_snapshot!(screen.backend());
    assert!(format!("{}", screen.backend()).contains("⚠ Overloaded: tasks arrive faster"));
}

#[test]
fn no_color_draws_without_a_single_colour() {
    use ratatui::style::Color;
    let view = view_at(&pool_basics(), 2_500_000);
    let ui = UiState { help: true, ..plain() };
    let terminal = screen(&view, &ui, 120, 40);
    for cell in terminal.backend().buffer().content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    // Without colour, task outcomes still differ: the failed task is marked in the lanes.
    assert!(format!("{}", terminal.backend()).contains("[✗Proc"));
}

#[test]
fn a_busy_lane_drawn_long_after_its_last_event_does_not_panic() {
    // The clock runs on past the timeline's buckets (no event for a long while).
    let mut view = View::new(Lesson::of(&lesson("pool-basics")));
    view.apply(&ev(0, TraceKind::WorkerUp { worker: 0, pid: 1 }));
    for i in 0..2_000u64 {
        view.apply(&ev(i * 10, TraceKind::Submit { task: i, label: "t".into(), cost_us: None, cpu: false }));
        view.apply(&ev(i * 10 + 1, TraceKind::Start { task: i, worker: 0, pid: 1 }));
        view.apply(&ev(i * 10 + 5, finish(i, 0, "t")));
    }
    view.tick(3_600_000_000);
    for width in [40, 100, 200] {
        screen(&view, &plain(), width, 30);
    }
}

/// Every cell of a screen holds ASCII.
fn assert_ascii(terminal: &Terminal<TestBackend>, what: &str) {
    for (i, cell) in terminal.backend().buffer().content().iter().enumerate() {
        assert!(cell.symbol().is_ascii(), "{what}: cell {i} is {:?}:\n{}", cell.symbol(), terminal.backend());
    }
}

#[test]
fn snapshot_pool_basics_80x24_ascii() {
    let view = view_at(&pool_basics(), 2_500_000);
    let ui = UiState { theme: Theme::DARK.with_ascii(true), lesson: Some((0, 17)), ..UiState::default() };
    let terminal = screen(&view, &ui, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    assert_ascii(&terminal, "pool-basics 80x24");
}

#[test]
fn ascii_holds_on_every_screen_and_theme() {
    let lessons: Vec<Lesson> = ["pool-basics", "map-ordering"].iter().map(|n| Lesson::of(&lesson(n))).collect();
    for palette in [Palette::Dark, Palette::Light, Palette::Mono] {
        let theme = Theme { palette, ascii: true };
        for (view, help) in [(view_at(&pool_basics(), 2_500_000), true), (view_at(&map_ordering(), 1_000_000), false)] {
            for (w, h) in [(80, 24), (160, 48), (39, 11)] {
                let ui = UiState { theme, help, ..UiState::default() };
                assert_ascii(&screen(&view, &ui, w, h), &format!("{palette:?} {w}x{h}"));
            }
        }
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let ui = UiState { theme, help: true, ..UiState::default() };
        terminal.draw(|f| picker::render(&lessons, &ui, f, f.area())).unwrap();
        assert_ascii(&terminal, "picker");
    }
}

#[test]
fn light_theme_draws_no_pale_text_on_the_terminal_background() {
    use ratatui::style::Color;
    let pale = [Color::Yellow, Color::LightYellow, Color::LightCyan, Color::White, Color::DarkGray, Color::Gray];
    let pale_cells = |theme: Theme| {
        let mut count = 0;
        for view in [view_at(&pool_basics(), 2_500_000), view_at(&map_ordering(), 1_000_000)] {
            for help in [false, true] {
                let ui = UiState { theme, help, ..UiState::default() };
                let terminal = screen(&view, &ui, 120, 40);
                let buffer = terminal.backend().buffer();
                count += buffer.content().iter().filter(|c| c.bg == Color::Reset && pale.contains(&c.fg)).count();
            }
        }
        count
    };
    // The dark theme's yellow captions and gray hints are what the light theme must avoid.
    assert!(pale_cells(Theme::DARK) > 0);
    assert_eq!(pale_cells(Theme::LIGHT), 0);
}

#[test]
fn a_stopped_worker_process_marks_its_lane_stuck() {
    let mut view = view_at(&pool_basics(), 1_500_000);
    view.cpu(CpuSample { cores: vec![50.0; 4], processes: vec![(9000, 0.0), (9001, 99.0)], stopped: vec![9000] });
    assert!(poolscope::ui::warnings::active(&view).contains(&poolscope::ui::warnings::Warning::Stopped));
    let text = format!("{}", screen(&view, &plain(), 160, 48).backend());
    assert!(text.contains("w0 9000 STOP"), "{text}");
    assert!(text.contains("w1 9001  99%"), "{text}");
    assert!(text.contains("its lane is stuck"), "{text}");
    view.cpu(CpuSample { cores: vec![50.0; 4], processes: vec![(9000, 0.0)], stopped: Vec::new() });
    assert!(!format!("{}", screen(&view, &plain(), 160, 48).backend()).contains("STOP"), "continued: no longer");
}

#[test]
fn every_futures_cell_drawn_is_found_by_a_click_on_it_and_the_inspector_shows_its_task() {
    let view = view_at(&pool_basics(), 5_000_000);
    let ui = plain();
    let terminal = screen(&view, &ui, 80, 24);
    let cells: Vec<_> = ui.hits.borrow().iter().filter(|(p, ..)| *p == Panel::Futures).copied().collect();
    assert_eq!(cells.len(), 10, "one cell per future");
    for (_, rect, id) in cells {
        assert_eq!(ui.task_at(rect.x, rect.y), Some(id));
        // The cell shows that future's state.
        let glyph = poolscope::ui::state::state_glyph(view.model.task(id).unwrap().state);
        assert_eq!(terminal.backend().buffer()[(rect.x, rect.y)].symbol(), glyph.to_string());
    }
    assert_eq!(ui.task_at(0, 0), None, "the header is no task");
    // The inspector on task 4: its times, worker and the line that submitted it.
    let ui = UiState { inspected: Some(4), ..plain() };
    let text = format!("{:?}", screen(&view, &ui, 80, 24).backend());
    for expected in ["#4 Process4", "started", "worker        w", "submitted by  line"] {
        assert!(text.contains(expected), "{expected:?} is not on screen:\n{text}");
    }
}

#[test]
fn a_click_on_a_lanes_block_finds_the_task_drawn_there() {
    let view = view_at(&pool_basics(), 5_000_000);
    let ui = plain();
    let terminal = screen(&view, &ui, 120, 40);
    let blocks: Vec<_> = ui.hits.borrow().iter().filter(|(p, ..)| *p == Panel::Lanes).copied().collect();
    assert!(!blocks.is_empty(), "no block drawn");
    for (_, rect, id) in blocks {
        let task = view.model.task(id).unwrap();
        // The block is on its worker's row, which starts with the lane's name.
        let row: String = (0..8).map(|x| terminal.backend().buffer()[(x, rect.y)].symbol().to_string()).collect();
        assert!(row.starts_with(&format!("w{}", task.worker.unwrap())), "{row:?} for {}", task.label);
        // A click anywhere on it finds it (a later block drawn over a shared cell wins).
        assert!(ui.task_at(rect.x + rect.width - 1, rect.y).is_some_and(|hit| hit >= id));
        assert!(ui.task_at(rect.x, rect.y).is_some());
    }
}

#[test]
fn a_run_on_cpython_says_so_even_where_its_title_must_give_way() {
    // map-ordering's events as CPython's engine reports them, at widths where the title and
    // the tail cannot both fit: the pool's description goes, CPYTHON stays, the title is cut
    // at a word.
    let (scenario, mut events) = map_ordering();
    if let TraceKind::Run { engine, .. } = &mut events[0].kind {
        *engine = EngineChoice::Cpython;
    }
    let view = view_at(&(scenario, events), 5_000_000);
    for width in [60, 80, 100, 160] {
        let terminal = screen(&view, &plain(), width, 24);
        let buffer = terminal.backend().buffer();
        let header: String = (0..width).map(|x| buffer[(x, 0)].symbol().to_string()).collect();
        assert!(header.contains("CPYTHON"), "{width} columns: {header:?}");
    }
}

#[test]
fn a_worker_running_its_initializer_is_drawn_busy_with_it_not_idle() {
    // pool-basics' frozen text, with its workers running an initializer for half a second
    // before they take the queued tasks: as initializer-thread-names shows.
    let (s, mut e) = pool_basics();
    e.retain(|e| e.t < 20_100);
    for w in 0..4usize {
        e.push(ev(20_010 + w as u64, TraceKind::Initializing { worker: w }));
        e.push(ev(520_000 + w as u64, TraceKind::Initialized { worker: w, error: None }));
        e.push(ev(520_010 + w as u64, TraceKind::Start { task: w as u64, worker: w, pid: 9000 + w as u32 }));
    }
    e.sort_by_key(|e| e.t);
    let lesson = (s, e);
    let warnings = |view: &View| poolscope::ui::warnings::active(view);
    let idle = poolscope::ui::warnings::Warning::IdleWhileWaiting;

    let view = view_at(&lesson, 400_000);
    let text = format!("{}", screen(&view, &plain(), 160, 48).backend());
    assert!(text.contains("~ initializer ~"), "{text}");
    assert!(!warnings(&view).contains(&idle), "tasks wait while the workers initialize: none is idle");

    let view = view_at(&lesson, 1_000_000);
    let text = format!("{}", screen(&view, &plain(), 160, 48).backend());
    assert!(text.contains("~ initializer ~") && text.contains("Process0"), "{text}");
}
