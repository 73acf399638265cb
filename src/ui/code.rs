//! The code panel: the lesson as the whole Python program it stands for, the running step
//! highlighted and kept in view; long lines wrap (at a space where one is near) rather than
//! being cut.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{Panel, UiState};
use super::view::View;

/// One row on screen: the program line it belongs to, and its text.
#[derive(Debug, PartialEq, Eq)]
struct Row<'a> {
    line: usize,
    text: &'a str,
    /// Continues the row above: indented under its line's code.
    continued: usize,
}

/// Cuts each line into rows of at most `width` characters; a continuation row is indented to
/// its line's code (plus two) when that leaves room.
fn rows(code: &[String], width: usize) -> Vec<Row<'_>> {
    let width = width.max(1);
    let mut out = Vec::with_capacity(code.len());
    for (line, text) in code.iter().enumerate() {
        let lead = text.len() - text.trim_start().len() + 2;
        let mut rest = text.as_str();
        let mut continued = 0;
        loop {
            let room = width.saturating_sub(continued).max(1);
            let mut cut = rest.char_indices().nth(room).map_or(rest.len(), |(at, _)| at);
            // Break after a space when a word would be split and the row stays half full.
            if cut < rest.len()
                && !rest[cut..].starts_with(' ')
                && let Some(space) = rest[..cut].rfind(' ')
                && rest[..space].chars().count() >= room / 2
            {
                cut = space + 1;
            }
            out.push(Row { line, text: &rest[..cut], continued });
            rest = &rest[cut..];
            if rest.is_empty() {
                break;
            }
            continued = if lead + 10 <= width { lead } else { 0 };
        }
    }
    out
}

/// Draws the code panel; it follows the running step unless scrolled.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let lesson = &view.lesson;
    let title = match lesson.illustration {
        Some(_) => " Python · an illustration: a step's code is the lesson's own ",
        None => " Python ",
    };
    let block = Block::new().borders(Borders::TOP).title(Span::styled(title, ui.title(Some(Panel::Code))));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 2 {
        return;
    }
    let current = view.model.current_step().map(|s| s.index);
    let (hl_start, hl_end) = match current {
        Some(i) if i < lesson.step_lines.len() => {
            (lesson.step_lines[i], lesson.step_lines.get(i + 1).copied().unwrap_or(lesson.code.len()))
        }
        _ => (usize::MAX, usize::MAX),
    };
    let rows = rows(&lesson.code, usize::from(inner.width) - 1);
    let height = usize::from(inner.height);
    let first = rows.iter().position(|r| r.line == hl_start);
    let follow = match first {
        None => 0,
        Some(first) => {
            // The step's first row a third of the way down; its last row in view if it fits.
            let end = rows.iter().rposition(|r| (hl_start..hl_end).contains(&r.line)).unwrap_or(first) + 1;
            let top = first.saturating_sub(height / 3);
            if end - first <= height && end > top + height { end - height } else { top }
        }
    };
    let top = follow.saturating_add(ui.scroll_of(Panel::Code)).min(rows.len().saturating_sub(height));
    let highlight = ui.paint(
        Style::new().bg(Color::Yellow).fg(Color::Black).add_modifier(Modifier::BOLD),
        Style::new().add_modifier(Modifier::REVERSED),
    );
    let lines: Vec<Line> = rows
        .iter()
        .skip(top)
        .take(height)
        .map(|row| {
            let text = format!("{}{}", " ".repeat(row.continued), row.text);
            match ((hl_start..hl_end).contains(&row.line), row.continued > 0 || row.text.is_empty()) {
                (true, false) => Line::from(vec![Span::styled("▶", highlight), Span::styled(text, highlight)]),
                (true, true) => Line::from(vec![Span::styled(" ", highlight), Span::styled(text, highlight)]),
                (false, _) => Line::from(vec![Span::raw(" "), Span::styled(text, ui.fg(Color::Gray))]),
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_under_their_code_and_nothing_is_cut() {
        let code = vec!["    print(result)".to_string(), "    # a note that is much longer than the panel".to_string()];
        let rows = rows(&code, 20);
        let texts: Vec<(usize, &str, usize)> = rows.iter().map(|r| (r.line, r.text, r.continued)).collect();
        assert_eq!(
            texts,
            vec![
                (0, "    print(result)", 0),
                (1, "    # a note that is", 0),
                (1, " much longer ", 6),
                (1, "than the panel", 6),
            ]
        );
        let joined: String = rows.iter().filter(|r| r.line == 1).map(|r| r.text).collect();
        assert_eq!(joined, code[1]);
    }
}
