//! The task inspector: everything known about one task — when it was submitted, started and
//! ended, its wait and run, the worker, process and thread that ran it, how it ended, which
//! threads ran its callbacks, and the line of the program that submitted it. Opened with
//! `enter` on the futures grid, a click on a task (a lane's block or a futures cell), or a
//! search with `/`; it reads the model on screen, so it works paused and rewound.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::state::{UiState, short_us, state_glyph};
use super::view::View;
use crate::pool::TaskId;
use crate::trace::{Model, TaskRecord, TaskState};

/// The first task at or after `from` (wrapping round) whose label contains `text`, ignoring
/// case; `None` when none on record does.
pub fn find(model: &Model, text: &str, from: TaskId) -> Option<TaskId> {
    let text = text.to_lowercase();
    let n = model.tasks.len();
    let start = usize::try_from(from.saturating_sub(model.first_task)).unwrap_or(0).min(n);
    (0..n)
        .map(|k| &model.tasks[(start + k) % n])
        .find(|t| t.label.to_lowercase().contains(&text) || format!("#{}", t.id) == text)
        .map(|t| t.id)
}

/// The task `by` places after `id` among those on record (clamped to the first and last).
pub fn step(model: &Model, id: TaskId, by: i64) -> Option<TaskId> {
    let first = model.tasks.front()?.id;
    let last = model.tasks.back()?.id;
    let next = i128::from(id) + i128::from(by);
    Some(TaskId::try_from(next.clamp(i128::from(first), i128::from(last))).unwrap_or(first))
}

/// Draws the inspector for `id` over the middle of `area`.
pub fn render(view: &View, ui: &UiState, id: TaskId, frame: &mut Frame, area: Rect) {
    let width = area.width.min(76);
    let lines = match view.model.task(id) {
        Some(task) => describe(view, ui, task),
        None => vec![Line::from(format!("task #{id} is no longer on record (only the latest tasks are kept)"))],
    };
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let title = match view.model.task(id) {
        Some(task) => format!(" #{} {} ", task.id, task.label),
        None => format!(" #{id} "),
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(title, Style::new().add_modifier(Modifier::BOLD)))
        .title_bottom(Span::styled(" ←/→ previous/next task · / search · esc close ", ui.dim()));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), rect);
}

fn describe<'a>(view: &View, ui: &UiState, task: &'a TaskRecord) -> Vec<Line<'a>> {
    let row = |name: &'static str, value: String| {
        Line::from(vec![Span::styled(format!("{name:<14}"), ui.dim()), Span::raw(value)])
    };
    let at = |us: Option<u64>| us.map_or_else(|| "—".to_string(), instant);
    let took = |us: Option<u64>| us.map_or_else(|| "—".to_string(), short_us);
    let mut lines = vec![
        row("state", format!("{} {}", state_glyph(task.state), state_name(task.state))),
        row("submitted", instant(task.submitted_us)),
        row("started", at(task.started_us)),
        row("ended", at(task.ended_us)),
        row("wait / run", format!("{} / {}", took(task.wait_us()), took(task.run_us()))),
    ];
    if let Some(worker) = task.worker {
        let pid = task.pid.map(|p| format!(", pid {p}")).unwrap_or_default();
        let thread = task.value.as_deref().and_then(thread_of).map(|t| format!(", thread {t}")).unwrap_or_default();
        lines.push(row("worker", format!("w{worker}{pid}{thread}")));
    }
    if let Some(value) = &task.value {
        lines.push(row("returned", value.clone()));
    }
    if let Some(error) = &task.error {
        lines.push(row("raised", error.clone()));
    }
    if let Some(received) = task.received {
        lines.push(row("received", format!("{received:?}").to_lowercase()));
    }
    if !task.callback_threads.is_empty() {
        lines.push(row("callbacks", format!("ran on {}", task.callback_threads.join(", "))));
    }
    if let Some(line) = task.step.and_then(|step| submitted_by(view, step)) {
        lines.push(row("submitted by", line));
    }
    lines
}

/// The program's line that step `step` begins with, numbered as the code panel numbers it.
fn submitted_by(view: &View, step: usize) -> Option<String> {
    let n = *view.lesson.step_lines.get(step)?;
    let code = view.lesson.code.get(n)?;
    Some(format!("line {}: {}", n + 1, code.trim()))
}

/// The thread a task's value names (`LABEL by THREAD (pid P)`), unless it names a worker.
fn thread_of(value: &str) -> Option<&str> {
    let (_, after) = value.split_once(" by ")?;
    let (thread, _) = after.split_once(" (pid ")?;
    (!thread.starts_with("worker ")).then_some(thread)
}

fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "pending: in the queue",
        TaskState::Running => "running",
        TaskState::Done => "done: returned a value",
        TaskState::Failed => "failed: raised",
        TaskState::Crashed => "crashed: its worker process died under it",
        TaskState::Cancelled => "cancelled before it started",
        TaskState::Abandoned => "never ran: the pool was terminated or broke",
    }
}

/// A moment of the run, in seconds from its start.
fn instant(us: u64) -> String {
    format!("{:.3}s", us as f64 / 1e6)
}
