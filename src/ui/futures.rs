//! The futures grid: one glyph per future in submission order, and the count in each state.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{Panel, UiState, state_glyph};
use super::view::View;
use crate::trace::TaskState;

/// Draws the futures panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let c = view.timeline.counts;
    let block = Block::new()
        .borders(Borders::TOP)
        .title(Span::styled(format!(" Futures ({}) ", c.total()), ui.title(Some(Panel::Futures))));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let count = |state: TaskState, n: usize, name: &str| {
        Span::styled(format!("{}{n} {name} ", state_glyph(state)), ui.fg(UiState::state_color(state)))
    };
    let mut lines = vec![Line::from(vec![
        count(TaskState::Pending, c.pending, "pending"),
        count(TaskState::Running, c.running, "running"),
        count(TaskState::Done, c.done, "done"),
        count(TaskState::Failed, c.failed, "failed"),
        count(TaskState::Cancelled, c.cancelled, "cancelled"),
    ])];
    let header_rows = (Line::from(lines[0].spans.clone()).width() as u16).div_ceil(inner.width.max(1)) as usize;
    let rows = (inner.height as usize).saturating_sub(header_rows);
    let per_row = (inner.width as usize / 2).max(1);
    let tasks = &view.model.tasks;
    let total_rows = tasks.len().div_ceil(per_row);
    // Default: the rows ending with the newest future; scrolling goes back.
    let last_row = total_rows.saturating_sub(ui.scroll_of(Panel::Futures)).max(rows.min(total_rows));
    let first_row = last_row.saturating_sub(rows);
    for (y, r) in (first_row..last_row).enumerate() {
        let row_y = inner.y + (header_rows + y) as u16;
        let spans: Vec<Span> = tasks
            .iter()
            .skip(r * per_row)
            .take(per_row)
            .enumerate()
            .map(|(x, t)| {
                if row_y < inner.bottom() {
                    ui.drew_task(Panel::Futures, Rect::new(inner.x + 2 * x as u16, row_y, 2, 1), t.id);
                }
                let mut style = ui.paint(Style::new().fg(UiState::state_color(t.state)), Style::new());
                if ui.inspected == Some(t.id) {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                Span::styled(format!("{} ", state_glyph(t.state)), style)
            })
            .collect();
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}
