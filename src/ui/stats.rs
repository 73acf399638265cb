//! The stats: elapsed, throughput, mean wait and run, utilisation, speed-up — from running
//! sums, so a frame does not walk every task.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{UiState, short_us};
use super::view::View;

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
    /// Run time of all tasks over elapsed time.
    pub speedup: f64,
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
        let running: u64 = model
            .lanes
            .values()
            .filter_map(|l| l.current.and_then(|c| model.task_times(c)).and_then(|r| r.started_us))
            .map(|s| now.saturating_sub(s))
            .sum();
        let busy: u64 = model.lanes.values().map(|l| l.busy_until(now)).sum();
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(now)).sum();
        let secs = now as f64 / 1e6;
        Stats {
            elapsed_us: now,
            ran: t.ran,
            submitted: model.submitted(),
            throughput: if secs > 0.0 { t.ran as f64 / secs } else { 0.0 },
            mean_wait_us: t.wait_sum_us.checked_div(t.started).unwrap_or(0),
            mean_run_us: t.run_sum_us.checked_div(t.ran).unwrap_or(0),
            utilisation: if alive > 0 { (busy as f64 / alive as f64).min(1.0) } else { 0.0 },
            speedup: if now > 0 { (t.serial_sum_us + running) as f64 / now as f64 } else { 0.0 },
            // With nominal costs the ratio is a true speed-up; run times stretched by a GIL
            // or busy cores only measure overlap.
            shared: (model.gil || view.cpu_contended) && t.uncosted > 0,
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
            row("tasks", format!("{} ended / {} submitted", s.ran, s.submitted)),
            row("throughput", format!("{:.1} tasks/s", s.throughput)),
            row("mean wait", short_us(s.mean_wait_us)),
            row("mean run", short_us(s.mean_run_us)),
            row("utilisation", format!("{:.0}% of worker time busy", s.utilisation * 100.0)),
            if s.shared {
                row("overlap", format!("{:.2}× (tasks shared CPUs)", s.speedup))
            } else {
                row("speed-up", format!("{:.2}× vs one worker", s.speedup))
            },
        ]
    } else {
        vec![
            row("tasks", format!("{}/{} ended", s.ran, s.submitted)),
            row("throughput", format!("{:.1}/s", s.throughput)),
            row("wait / run", format!("{} / {}", short_us(s.mean_wait_us), short_us(s.mean_run_us))),
            row("utilisation", format!("{:.0}%", s.utilisation * 100.0)),
            row(if s.shared { "overlap" } else { "speed-up" }, format!("{:.2}×", s.speedup)),
        ]
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
