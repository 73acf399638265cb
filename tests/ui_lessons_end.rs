//! Every built-in lesson legible at 80×24: each runs headless on virtual time (2 cores), its
//! events fold into the same [`View`] the live screen draws, and the last frame is snapshotted —
//! to be read as a learner would read it.
#![cfg(feature = "ui")]

use std::collections::HashMap;
use std::path::PathBuf;

use poolscope::scenario::{Run, RunOptions, TimeMode, builtin_names};
use poolscope::sys::CpuSample;
use poolscope::trace::{TraceEvent, TraceKind};
use poolscope::ui::{Lesson, Theme, UiState, View, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The lesson's events, its worker processes' pids renumbered from 1000 so the frames are
/// the same on every run.
fn run_virtual(name: &str) -> (poolscope::scenario::Scenario, Vec<TraceEvent>) {
    let scenario = poolscope::scenario::load(name).expect("a built-in lesson");
    let options = RunOptions {
        time: TimeMode::Virtual,
        cores: Some(2),
        worker_program: Some(PathBuf::from(env!("CARGO_BIN_EXE_poolscope"))),
        ..RunOptions::default()
    };
    let mut events = Run::start(&scenario, &options).expect("the run starts").collect_to_end();
    let mut pids: HashMap<u32, u32> = HashMap::new();
    for event in &mut events {
        if let TraceKind::WorkerUp { pid, .. } | TraceKind::WorkerDown { pid, .. } | TraceKind::Start { pid, .. } =
            &mut event.kind
        {
            let next = 1000 + pids.len() as u32;
            *pid = *pids.entry(*pid).or_insert(next);
        }
    }
    // Values and errors may name a pid too (`worker 0 (pid 4242) was killed`).
    let swap = |text: &mut Option<String>| {
        if let Some(text) = text {
            for (real, fake) in &pids {
                *text = text.replace(&format!("pid {real}"), &format!("pid {fake}"));
            }
        }
    };
    for event in &mut events {
        if let TraceKind::Finish { value, error, .. } | TraceKind::Result { value, error, .. } = &mut event.kind {
            swap(value);
            swap(error);
        }
    }
    (scenario, events)
}

fn end_frame(name: &str, index: usize, width: u16, height: u16) -> String {
    let (scenario, events) = run_virtual(name);
    let mut view = View::new(Lesson::of(&scenario));
    for event in &events {
        view.apply(event);
    }
    view.cpu(CpuSample { cores: vec![20.0, 60.0], processes: Vec::new(), stopped: Vec::new() });
    let total = builtin_names().count();
    let ui = UiState { theme: Theme::MONO, lesson: Some((index, total)), ..UiState::default() };
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(&view, &ui, f)).unwrap();
    format!("{}", terminal.backend())
}

#[test]
fn every_lesson_end_frame_at_80x24() {
    for (index, name) in builtin_names().enumerate() {
        let frame = end_frame(name, index, 80, 24);
        insta::assert_snapshot!(format!("end_80x24_{name}"), frame);
    }
}
