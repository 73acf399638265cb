//! Warnings in plain language, shown while they are true: each names what is happening and
//! why it matters, in one line. Read from the view with cheap checks (no walk over every task).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::state::UiState;
use super::view::View;
use crate::trace::TaskState;

/// Tasks of a `map` step looked at, at most, for head-of-line blocking.
const MAP_SCAN: usize = 4_096;

/// The warnings that hold now, most important first.
pub fn of(view: &View) -> Vec<&'static str> {
    let model = &view.model;
    let mut out = Vec::new();
    if model.ended() {
        return out;
    }
    let running = view.timeline.counts.running;
    let live = model.lanes.values().filter(|l| l.up_since.is_some()).count();
    let idle = model.lanes.values().filter(|l| l.up_since.is_some() && l.current.is_none()).count();
    let cores = view.cpu.cores.len();
    let busy_cpu = cores > 0 && view.cpu.cores.iter().sum::<f32>() / cores as f32 > 85.0;
    if model.gil && running >= 2 {
        out.push("GIL: only one thread runs Python code at a time — these threads take turns, so CPU-bound work gets no faster.");
    }
    if model.pool == "coroutine" && running >= 2 && busy_cpu {
        out.push("The event loop may be blocked: a coroutine that computes never awaits, so every other coroutine waits for it.");
    }
    if cores > 0 && running > cores && busy_cpu && !model.gil && model.pool != "coroutine" {
        out.push("Oversubscribed: more tasks running than CPU cores — they share the cores, and each CPU-bound task runs slower.");
    }
    if model.queue_depth > 0 && idle > 0 && live > 0 && model.queue_depth >= idle {
        // A hand-off takes microseconds; a picture that shows both for a whole frame means it.
        out.push("Idle workers while tasks wait: the workers have not taken the queued tasks yet.");
    }
    if model.queue_depth > 4 * model.pool_size.max(1) && model.queue_depth == model.max_queue_depth {
        out.push("The queue keeps growing: tasks arrive faster than the workers finish them.");
    }
    if let Some(step) = model.current_step()
        && step.op == "map"
        && head_of_line(view, step.index)
    {
        out.push("Head-of-line blocking: map hands out results in input order, so finished results wait for an earlier slow task.");
    }
    out
}

/// True if, among the tasks of step `index`, one still runs while a later one is done and not
/// yet received.
fn head_of_line(view: &View, index: usize) -> bool {
    let tasks = &view.model.tasks;
    let mut later_done = false;
    for task in tasks.iter().rev().take(MAP_SCAN).take_while(|t| t.step == Some(index)) {
        match task.state {
            TaskState::Done if task.received.is_none() => later_done = true,
            TaskState::Running | TaskState::Pending if later_done => return true,
            _ => {}
        }
    }
    false
}

/// Draws the warnings, one a line.
pub fn render(warnings: &[&str], ui: &UiState, frame: &mut Frame, area: Rect) {
    let style = ui.paint(
        Style::new().fg(Color::LightRed).add_modifier(Modifier::BOLD),
        Style::new().add_modifier(Modifier::BOLD),
    );
    let lines: Vec<Line> = warnings.iter().map(|w| Line::styled(format!("⚠ {w}"), style)).collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
