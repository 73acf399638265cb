//! Any event stream — out of order, unknown tasks and workers, huge gaps — folds into the view
//! and draws at any size without a panic.
#![cfg(feature = "ui")]

use poolscope::scenario;
use poolscope::trace::{DownReason, Outcome, ResultOutcome, TraceEvent, TraceKind};
use poolscope::ui::{Lesson, Palette, Theme, UiState, View, render};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn kind(selector: u8, task: u64, worker: usize) -> TraceKind {
    match selector % 10 {
        0 => TraceKind::Submit { task, label: format!("T{task}"), cost_us: None, cpu: false },
        1 => TraceKind::Start { task, worker, pid: 100 + worker as u32 },
        2 => TraceKind::Finish { task, worker, outcome: Outcome::Ok, value: None, error: None },
        3 => TraceKind::Finish { task, worker, outcome: Outcome::Crashed, value: None, error: Some("x".into()) },
        4 => TraceKind::WorkerUp { worker, pid: 100 + worker as u32 },
        5 => TraceKind::WorkerDown { worker, pid: 100 + worker as u32, reason: DownReason::Died, cause: None },
        6 => TraceKind::Queue { depth: task as usize },
        7 => TraceKind::Result { task, outcome: ResultOutcome::Timeout, value: None, error: None, exception: None },
        8 => TraceKind::Cancel { task, ok: true },
        _ => TraceKind::Callback { task, thread: "main".into(), error: None },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_stream_any_size(
        events in proptest::collection::vec((0u64..5_000_000, any::<u8>(), 0u64..40, 0usize..6), 0..300),
        width in 1u16..180,
        height in 1u16..60,
        look in 0usize..6,
        scroll in 0usize..50,
    ) {
        let lesson = Lesson::of(&scenario::load("as-completed").unwrap());
        let mut view = View::new(lesson);
        let mut t = 0;
        for (dt, selector, task, worker) in events {
            t += dt;
            view.apply(&TraceEvent { t, kind: kind(selector, task, worker) });
        }
        view.tick(t + 1_000_000);
        let palette = [Palette::Dark, Palette::Light, Palette::Mono][look % 3];
        let ui = UiState { theme: Theme { palette, ascii: look >= 3 }, scroll: [scroll; 5], ..UiState::default() };
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render(&view, &ui, f)).unwrap();
    }
}
