//! The code panel: the lesson as the Python program it stands for, the running step
//! highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{Panel, UiState};
use super::view::View;

/// Draws the code panel; it follows the running step unless scrolled.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let block = Block::new().borders(Borders::TOP).title(Span::styled(" Python ", ui.title(Some(Panel::Code))));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let lesson = &view.lesson;
    let current = view.model.current_step().map(|s| s.index);
    let (hl_start, hl_end) = match current {
        Some(i) if i < lesson.step_lines.len() => {
            (lesson.step_lines[i], lesson.step_lines.get(i + 1).copied().unwrap_or(lesson.code.len()))
        }
        _ => (usize::MAX, usize::MAX),
    };
    let height = inner.height as usize;
    let follow = if hl_start == usize::MAX { 0 } else { hl_start.saturating_sub(height / 3) };
    let top = follow
        .saturating_add(ui.scroll_of(Panel::Code))
        .min(lesson.code.len().saturating_sub(height.min(lesson.code.len())));
    let highlight = ui.paint(
        Style::new().bg(Color::Yellow).fg(Color::Black).add_modifier(Modifier::BOLD),
        Style::new().add_modifier(Modifier::REVERSED),
    );
    let lines: Vec<Line> = lesson
        .code
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, text)| {
            if (hl_start..hl_end).contains(&i) {
                Line::from(vec![Span::styled("▶", highlight), Span::styled(text.clone(), highlight)])
            } else {
                Line::from(vec![Span::raw(" "), Span::styled(text.clone(), ui.fg(Color::Gray))])
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
