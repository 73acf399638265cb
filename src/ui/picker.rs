//! The lesson picker: every built-in lesson with its title, the highlighted one's summary.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::state::UiState;
use super::view::Lesson;

/// Draws the picker over the whole `area`.
pub fn render(lessons: &[Lesson], ui: &UiState, frame: &mut Frame, area: Rect) {
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled("poolscope", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" — see concurrency: real thread, process and coroutine pools, live"),
            ]),
            Line::styled("Pick a lesson:", ui.dim()),
        ]),
        head,
    );
    // The summary is wrapped whole; the list gives way (it scrolls) down to four rows.
    let selected = ui.picked.min(lessons.len().saturating_sub(1));
    let summary_rows = lessons.get(selected).map_or(0, |l| wrapped_rows(&l.summary, body.width as usize));
    let detail_h = (summary_rows as u16 + 1).min(body.height.saturating_sub(4));
    let list_h = (lessons.len() as u16 + 1).min(body.height.saturating_sub(detail_h));
    let [list, detail] = Layout::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(body);
    let rows = list.height as usize;
    let top = selected.saturating_sub(rows.saturating_sub(1));
    let highlight =
        ui.paint(Style::new().bg(Color::Cyan).fg(Color::Black), Style::new().add_modifier(Modifier::REVERSED));
    let lines: Vec<Line> = lessons
        .iter()
        .enumerate()
        .skip(top)
        .take(rows)
        .map(|(i, l)| {
            // A title too long for the line ends at a word, with `…`, not mid-word.
            let head = format!("{:>2}. {:<21} ", i + 1, l.name);
            let room = usize::from(area.width).saturating_sub(head.chars().count() + 1);
            let text = format!("{head}{}", super::header::fit_words(&l.title, room));
            if i == selected { Line::styled(format!("▶{text}"), highlight) } else { Line::raw(format!(" {text}")) }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    if let Some(lesson) = lessons.get(selected) {
        let block = Block::new()
            .borders(Borders::TOP)
            .title(Span::styled(format!(" {} · {} pool ", lesson.name, lesson.kind), ui.title(None)));
        frame.render_widget(Paragraph::new(lesson.summary.as_str()).wrap(Wrap { trim: true }).block(block), detail);
    }
    frame.render_widget(Paragraph::new(Line::styled(" ↑↓ choose   enter run   q quit", ui.dim())), foot);
    ui.theme.finish(frame.buffer_mut());
}

/// The rows `text` takes wrapped at its words to `width` columns.
fn wrapped_rows(text: &str, width: usize) -> usize {
    text.split('\n').map(|p| super::results::wrap_words(p.trim(), width.max(1), width.max(1)).len()).sum()
}
