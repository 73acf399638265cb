//! Numbers for `poolscope bench`: how long a frame takes to draw, and how much CPU the UI
//! uses while a lesson is paused (SPEC §6: the UI must not disturb what it shows).

use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use super::view::{Lesson, View};
use super::{UiState, app, render};
use crate::pool::PoolKind;
use crate::scenario;
use crate::sys::CpuSample;
use crate::trace::{EngineChoice, Outcome, TraceEvent, TraceKind};

/// The events of a busy run: 16 workers taking 30–150 ms tasks from a queue for 20 s, one
/// task in 50 failing.
pub fn busy_run(workers: usize, seconds: u64) -> Vec<TraceEvent> {
    let mut events = vec![TraceEvent {
        t: 0,
        kind: TraceKind::Run {
            virtual_time: false,
            cores: 16,
            scenario: "bench".into(),
            title: "A busy pool".into(),
            pool: PoolKind::Thread,
            workers,
            seed: 0,
            speed: 1.0,
            gil: false,
            engine: EngineChoice::Poolscope,
        },
    }];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let end = seconds * 1_000_000;
    let mut task = 0u64;
    for worker in 0..workers {
        events.push(TraceEvent { t: 0, kind: TraceKind::WorkerUp { worker, pid: 4242 } });
        let mut t = 100 + worker as u64 * 500;
        while t < end {
            let run = 30_000 + next() % 120_000;
            events.push(TraceEvent {
                t,
                kind: TraceKind::Submit { task, label: format!("Job{task}"), cost_us: None, cpu: false },
            });
            events.push(TraceEvent { t: t + 5, kind: TraceKind::Start { task, worker, pid: 4242 } });
            let outcome = if next() % 50 == 0 { Outcome::Error } else { Outcome::Ok };
            events.push(TraceEvent {
                t: t + run,
                kind: TraceKind::Finish { task, worker, outcome, value: None, error: None },
            });
            task += 1;
            t += run + 100 + next() % 2_000;
        }
    }
    // Task ids must be submitted in order: renumber by submit time.
    events.sort_by_key(|e| e.t);
    let mut ids = std::collections::HashMap::new();
    for e in &mut events {
        let id = match &mut e.kind {
            TraceKind::Submit { task, .. } | TraceKind::Start { task, .. } | TraceKind::Finish { task, .. } => task,
            _ => continue,
        };
        let n = ids.len() as u64;
        *id = *ids.entry(*id).or_insert(n);
    }
    events
}

/// Median time (µs) to draw a full 200×60 frame of a busy 16-worker run — the whole screen
/// rendered into ratatui's buffer and the diff written by crossterm into a sink — as the run
/// advances one frame's worth (33 ms) between frames.
pub fn frame_us() -> f64 {
    let lesson = scenario::load("pool-basics").map(|s| Lesson::of(&s)).unwrap_or_else(|_| Lesson {
        name: "bench".into(),
        title: "A busy pool".into(),
        summary: String::new(),
        kind: PoolKind::Thread,
        code: vec!["pool.submit(job, i)".into()],
        step_lines: vec![0],
        illustration: None,
    });
    let events = busy_run(16, 20);
    let mut view = View::new(lesson);
    view.cpu(CpuSample {
        cores: (0..16).map(|i| (i * 7 % 100) as f32).collect(),
        processes: Vec::new(),
        stopped: Vec::new(),
    });
    let ui = UiState::default();
    let viewport = Viewport::Fixed(Rect::new(0, 0, 200, 60));
    let Ok(mut terminal) = Terminal::with_options(CrosstermBackend::new(std::io::sink()), TerminalOptions { viewport })
    else {
        return f64::NAN;
    };
    let mut feed = events.iter().peekable();
    let mut now = 5_000_000;
    let mut times = Vec::with_capacity(300);
    for frame in 0..330 {
        while let Some(e) = feed.next_if(|e| e.t <= now) {
            view.apply(e);
        }
        view.tick(now);
        let started = Instant::now();
        let _ = terminal.draw(|f| render(&view, &ui, f));
        if frame >= 30 {
            times.push(started.elapsed());
        }
        now += 33_333;
    }
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

/// CPU of the UI process (percent of one core) while a lesson is paused, over 3 s.
pub fn idle_cpu_pct() -> f64 {
    app::paused_cpu_pct("map-ordering", Duration::from_secs(3)).unwrap_or(f64::NAN)
}

/// The minute-long run that [`simulated_recording`] records.
const MINUTE_LESSON: &str = include_str!("../../benches/minute-lesson.toml");

/// What recording a minute-long lesson on simulated time costs: the median wall time (ms) of
/// `rounds` recordings (the run, its event stream and every frame of a 120×40 cast, written
/// to a sink), and the simulated length of the lesson (s).
///
/// # Errors
/// The run could not start (a worker process failed to start, ...).
pub fn simulated_recording(rounds: usize) -> std::io::Result<(f64, f64)> {
    let scenario = scenario::parse(MINUTE_LESSON, "benches/minute-lesson.toml", "minute-lesson")
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let options = scenario::RunOptions { time: scenario::TimeMode::Virtual, ..scenario::RunOptions::default() };
    let (mut walls, mut length) = (Vec::new(), 0.0);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let run = scenario::Run::start(&scenario, &options).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut recorder =
            super::record::CastRecorder::new(std::io::sink(), Lesson::of(&scenario), 120, 40, 1.0, super::Theme::DARK)?;
        for event in run.collect_to_end() {
            recorder.event(&event)?;
            if let TraceKind::End { makespan_us } = event.kind {
                length = makespan_us as f64 / 1e6;
            }
        }
        recorder.finish()?;
        walls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    walls.sort_by(f64::total_cmp);
    Ok((walls[walls.len() / 2], length))
}
