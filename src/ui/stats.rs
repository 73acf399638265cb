//! The stats: elapsed, throughput, mean wait and run, utilisation, speed-up — from running
//! sums, so a frame does not walk every task.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{UiState, short_us};
use super::view::View;
use crate::trace::TimeSplit;

/// The numbers the panel shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Time since the run began (µs).
    pub elapsed_us: u64,
    /// Tasks that ended on a worker.
    pub ran: u64,
    /// Tasks submitted.
    pub submitted: usize,
    /// Tasks ended per second.
    pub throughput: f64,
    /// Mean queue wait (µs).
    pub mean_wait_us: u64,
    /// Mean run time (µs).
    pub mean_run_us: u64,
    /// Busy over alive time of the workers, 0..=1.
    pub utilisation: f64,
    /// The finished tasks' serial time (one after another on one free worker) over the
    /// elapsed time; `None` until a task ended, when there is nothing to measure yet. Work in
    /// progress does not count: a guess from it overstates (four threads that have run for
    /// 0.9 s are not a 4× speed-up if they share one GIL).
    pub speedup: Option<f64>,
    /// The CPU-bound part of it is above what the pool's CPUs can give (the cores, or one
    /// under a GIL or on one event loop): the tasks ran faster than their nominal cost, so
    /// the figure says more than it should, and the panel says so.
    pub above_ceiling: Option<usize>,
    /// True when tasks may have slowed each other down (a GIL, saturated cores): the
    /// ratio above is then how much they overlapped, not a speed-up over one worker.
    pub shared: bool,
}

impl Stats {
    /// The stats of `view` now.
    pub fn of(view: &View) -> Stats {
        let t = &view.timeline;
        let now = view.now_us;
        let model = &view.model;
        let busy: u64 = model.lanes.values().map(|l| l.busy_until(now)).sum();
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(now)).sum();
        let secs = now as f64 / 1e6;
        // With nominal costs the ratio is a true speed-up; run times stretched by a GIL or
        // busy cores only measure overlap (and may pass the core count: say so, not "speed-up").
        let shared = (model.gil || model.cpu_contended || view.cpu_contended) && t.uncosted > 0;
        Stats {
            elapsed_us: now,
            ran: t.ran,
            submitted: model.submitted(),
            throughput: if secs > 0.0 { t.ran as f64 / secs } else { 0.0 },
            mean_wait_us: t.wait_sum_us.checked_div(t.started).unwrap_or(0),
            mean_run_us: t.run_sum_us.checked_div(t.ran).unwrap_or(0),
            utilisation: if alive > 0 { (busy as f64 / alive as f64).min(1.0) } else { 0.0 },
            speedup: (t.ran > 0 && now > 0).then(|| t.serial_sum_us as f64 / now as f64),
            above_ceiling: model
                .cpu_ceiling()
                .filter(|&c| now > 0 && t.serial_cpu_us as f64 / now as f64 > c as f64 && !shared),
            shared,
        }
    }
}

impl Stats {
    /// The speed-up as the panel shows it: `—` before a task ended, and a note when it is
    /// above what the CPUs allow.
    pub fn speedup_text(&self, wide: bool) -> String {
        let Some(speedup) = self.speedup else {
            return if wide { "— (no task has ended yet)".into() } else { "—".into() };
        };
        match (self.above_ceiling, wide) {
            (Some(cpus), true) => {
                format!(
                    "{speedup:.2}× — over {cpus} CPU{}: tasks ran faster than their cost",
                    if cpus == 1 { "" } else { "s" }
                )
            }
            (Some(cpus), false) => format!("{speedup:.2}× (> {cpus} CPU)"),
            (None, true) if self.shared => format!("{speedup:.2}× (tasks shared CPUs)"),
            (None, true) => format!("{speedup:.2}× vs one worker"),
            (None, false) => format!("{speedup:.2}×"),
        }
    }
}

/// Draws the stats panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let s = Stats::of(view);
    let block = Block::new().borders(Borders::TOP).title(Span::styled(" Stats ", ui.title(None)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let row = |name: &str, value: String| {
        Line::from(vec![Span::styled(format!("{name:<12}"), ui.dim()), Span::styled(value, Style::new())])
    };
    let lines = if inner.height >= 7 {
        vec![
            row("elapsed", short_us(s.elapsed_us)),
            row("tasks", format!("{} ran / {} submitted", s.ran, s.submitted)),
            row("throughput", format!("{:.1} tasks/s", s.throughput)),
            row("mean wait", short_us(s.mean_wait_us)),
            row("mean run", short_us(s.mean_run_us)),
            row("utilisation", format!("{:.0}% of worker time busy", s.utilisation * 100.0)),
            row(if s.shared { "overlap" } else { "speed-up" }, s.speedup_text(true)),
        ]
    } else {
        vec![
            row("tasks", format!("{}/{} ran", s.ran, s.submitted)),
            row("throughput", format!("{:.1}/s", s.throughput)),
            row("wait / run", format!("{} / {}", short_us(s.mean_wait_us), short_us(s.mean_run_us))),
            row("utilisation", format!("{:.0}%", s.utilisation * 100.0)),
            row(if s.shared { "overlap" } else { "speed-up" }, s.speedup_text(false)),
        ]
    };
    let mut lines = lines;
    // Where the time went, when there is room for it below the rest.
    let time = TimeSplit::of(&view.model, view.now_us);
    let split = [row("workers", time.workers_text()), row("tasks' time", time.tasks_text())];
    let room = (inner.height as usize).saturating_sub(lines.len());
    if room == 0 && time.gil_reported {
        // No room for the split: the time lost to the GIL goes beside the utilisation.
        let utilisation =
            lines.iter_mut().find(|l| l.spans.first().is_some_and(|s| s.content.starts_with("utilisation")));
        if let Some(line) = utilisation {
            let wait = TimeSplit::percent(time.gil_wait_us, time.alive_us);
            line.spans.push(Span::styled(format!(" · GIL wait {wait:.0}%"), Style::new()));
        }
    }
    lines.extend(split.into_iter().take(room));
    if lines.len() > inner.height as usize {
        // Cut short, the speed-up (the number the lesson is about) goes first.
        let key = lines.pop().expect("rows");
        lines.insert(0, key);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The stats in one line, for screens with no room for the panel:
/// `speed-up 2.00× · 8/8 ran · 3.2/s · busy 90%`.
pub fn one_line(view: &View, ui: &UiState) -> Line<'static> {
    let s = Stats::of(view);
    let name = if s.shared { "overlap " } else { "speed-up " };
    Line::from(vec![
        Span::styled(name, ui.dim()),
        Span::styled(s.speedup_text(false), Style::new().add_modifier(ratatui::style::Modifier::BOLD)),
        Span::styled(
            format!(" · {}/{} ran · {:.1}/s · busy {:.0}%", s.ran, s.submitted, s.throughput, s.utilisation * 100.0),
            ui.dim(),
        ),
    ])
}
