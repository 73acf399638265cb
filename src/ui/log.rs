//! The event log: the latest events of the run, newest at the bottom.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{Panel, UiState, short_us};
use super::view::View;
use crate::trace::{Model, TraceEvent, TraceKind};

/// Draws the log panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let log = &view.timeline.log;
    // The GIL's hand-offs (one every 5 ms) are drawn in the lanes, not listed here; nor are
    // Dask's readings of a worker's CPU, shown on its lanes.
    let unlisted = match (view.model.gil_ledger.seen, view.model.lanes.values().any(|l| l.remote_cpu.is_some())) {
        (true, _) => ", GIL hand-offs not listed",
        (false, true) => ", CPU readings not listed",
        (false, false) => "",
    };
    let title = format!(" Events ({}{unlisted}) ", view.model.events);
    let block = Block::new().borders(Borders::TOP).title(Span::styled(title, ui.title(Some(Panel::Log))));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let end = log.len().saturating_sub(ui.scroll_of(Panel::Log)).max(height.min(log.len()));
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = log
        .range(start..end)
        .map(|e| {
            Line::from(vec![
                Span::styled(format!("{:>6} ", short_us(e.t)), ui.dim()),
                Span::styled(describe(&view.model, e), ui.fg(color(&e.kind))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn color(kind: &TraceKind) -> Color {
    match kind {
        TraceKind::Step { .. } | TraceKind::Note { .. } => Color::Yellow,
        TraceKind::Finish { .. } | TraceKind::Result { .. } | TraceKind::Print { .. } => Color::Green,
        TraceKind::Raise { .. } | TraceKind::Abandon { .. } => Color::Red,
        TraceKind::WorkerUp { .. } | TraceKind::WorkerDown { .. } | TraceKind::Resize { .. } => Color::Cyan,
        _ => Color::Gray,
    }
}

/// One line about an event, in the words of the lesson.
pub fn describe(model: &Model, event: &TraceEvent) -> String {
    let name = |t: &u64| model.task_name(*t);
    match &event.kind {
        TraceKind::Run { pool, workers, .. } => format!("run: {pool} pool, {workers} workers"),
        TraceKind::Step { index, python, .. } => format!("step {}: {}", index + 1, python.lines().next().unwrap_or("")),
        TraceKind::WorkerUp { worker, pid } => format!("worker {worker} up (pid {pid})"),
        TraceKind::WorkerDown { worker, reason, cause: None, .. } => format!("worker {worker} down: {reason}"),
        TraceKind::WorkerDown { worker, reason, cause: Some(cause), .. } => {
            format!("worker {worker} down: {reason} — {cause}")
        }
        TraceKind::ThreadName { worker, name } => format!("worker {worker} is thread {name}"),
        TraceKind::Initializing { worker } => format!("worker {worker} runs the initializer"),
        TraceKind::Initialized { worker, error: None } => format!("worker {worker} initialized"),
        TraceKind::Initialized { worker, error: Some(e) } => format!("worker {worker}'s initializer raised: {e}"),
        TraceKind::Submit { task, .. } => format!("submit {}", name(task)),
        TraceKind::Start { task, worker, .. } => format!("{} starts on worker {worker}", name(task)),
        TraceKind::Finish { task, outcome, error, .. } => match error {
            Some(e) => format!("{} ends {outcome:?}: {e}", name(task)),
            None => format!("{} ends {outcome:?}", name(task)),
        },
        TraceKind::Cancel { task, ok } => format!("cancel {} → {ok}", name(task)),
        TraceKind::Abandon { task, error: None } => format!("{} abandoned", name(task)),
        TraceKind::Abandon { task, error: Some(e) } => format!("{} not sent: {e}", name(task)),
        TraceKind::Callback { task, thread, .. } => format!("callback of {} on {thread}", name(task)),
        TraceKind::Result { task, outcome, .. } => format!("main got {} ({outcome:?})", name(task)),
        TraceKind::Queue { depth } => format!("queue depth {depth}"),
        TraceKind::Shutdown { wait, phase } => format!("shutdown(wait={wait}) {phase:?}"),
        TraceKind::Raise { exception, message } => format!("raise {exception}: {message}"),
        TraceKind::Poll { futures } => format!("poll {} futures", futures.len()),
        TraceKind::Waited { done, not_done } => format!("wait → {} done, {} not done", done.len(), not_done.len()),
        TraceKind::Resize { workers, .. } => format!("resize to {workers} workers"),
        TraceKind::Note { text } => text.clone(),
        TraceKind::Print { text } => format!("main prints {text}"),
        TraceKind::Gil { worker, change } => format!("worker {worker}: GIL {change:?}"),
        TraceKind::WorkerCpu { worker, cpu } => format!("worker {worker}: CPU {cpu:.0}% (Dask's reading)"),
        TraceKind::End { makespan_us } => format!("end after {}", short_us(*makespan_us)),
    }
}
