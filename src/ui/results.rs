//! The results strip: what the main program received, in the order it received it — the
//! map-versus-as_completed lesson in one line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{Panel, UiState};
use super::view::View;
use crate::trace::ResultOutcome;

/// Draws the results panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let received = &view.model.received;
    let n = view.model.received_total;
    let long = format!(" Results, in the order received ({n}) ");
    let title =
        if long.chars().count() + 2 <= area.width as usize { long } else { format!(" Results, in order ({n}) ") };
    let title = Span::styled(title, ui.title(Some(Panel::Results)));
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    // Only the tail that can fit is laid out: at most a screenful of short items.
    let budget = inner.width as usize * inner.height as usize * (1 + ui.scroll_of(Panel::Results));
    // Each item: (the step it was received in, its text). A new step starts a new line, so
    // `map`'s order and `as_completed`'s order sit one above the other.
    let steps = &view.model.steps;
    let mut items: Vec<(Option<usize>, Span)> = Vec::new();
    let mut used = 0;
    for r in received.iter().rev() {
        let step = r.step;
        let label = r.task.and_then(|t| view.model.task(t)).map(|t| t.label.as_str());
        let text = match (r.outcome, label) {
            // A value that says more than the task's name (what a queue reader got) is shown.
            (ResultOutcome::Ok, Some(label)) => match r.text.split_once(" -> ") {
                Some((_, said)) => format!("{label}: {said}"),
                None => label.to_string(),
            },
            (ResultOutcome::Ok, None) => r.text.clone(),
            (outcome, Some(label)) => format!("{label}: {}", short(outcome, &r.text)),
            (outcome, None) => short(outcome, &r.text),
        };
        used += text.chars().count() + 3;
        items.push((
            step,
            Span::styled(text, ui.paint(Style::new().fg(UiState::outcome_color(r.outcome)), Style::new())),
        ));
        if used > budget {
            break;
        }
    }
    items.reverse();
    let mut lines: Vec<Line> = Vec::new();
    let mut line: Vec<Span> = Vec::new();
    let mut width = 0usize;
    let max = inner.width as usize;
    let mut current_step = None;
    let arrow = ui.theme.arrow();
    for (step, item) in items {
        if current_step != Some(step) {
            if !line.is_empty() {
                lines.push(Line::from(std::mem::take(&mut line)));
            }
            let op = step.and_then(|i| steps.iter().rfind(|s| s.index == i)).map_or("", |s| s.op.as_str());
            let head = format!("{op}: ");
            width = head.chars().count();
            line.push(Span::styled(head, ui.dim()));
            current_step = Some(step);
        }
        let w = item.content.chars().count();
        let fresh = line.len() == 1 && current_step.is_some() && width > 0 && line[0].content.ends_with(": ");
        let sep = if line.is_empty() || fresh { 0 } else { arrow.chars().count() + 2 };
        if !line.is_empty() && !fresh && width + sep + w > max {
            line.push(Span::styled(format!(" {arrow}"), ui.dim()));
            lines.push(Line::from(std::mem::take(&mut line)));
            width = 0;
        } else if sep > 0 {
            line.push(Span::styled(format!(" {arrow} "), ui.dim()));
            width += sep;
        }
        // An item longer than what is left of the line wraps at its words.
        let style = item.style;
        let mut pieces = wrap_words(&item.content, max.saturating_sub(width).max(1), max.max(1)).into_iter();
        if let Some(piece) = pieces.next() {
            width += piece.chars().count();
            line.push(Span::styled(piece, style));
        }
        for piece in pieces {
            lines.push(Line::from(std::mem::take(&mut line)));
            width = piece.chars().count();
            line.push(Span::styled(piece, style));
        }
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    if lines.is_empty() {
        let text = "nothing yet: the main program has not received a result";
        for piece in wrap_words(text, max, max) {
            lines.push(Line::from(Span::styled(piece, ui.dim())));
        }
    }
    let height = inner.height as usize;
    let end = lines.len().saturating_sub(ui.scroll_of(Panel::Results)).max(height.min(lines.len()));
    let start = end.saturating_sub(height);
    let shown: Vec<Line> = lines.drain(start..end).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

fn short(outcome: ResultOutcome, text: &str) -> String {
    let text: String = text.chars().take(160).collect();
    match outcome {
        ResultOutcome::Cancelled => "CancelledError".into(),
        ResultOutcome::Timeout if text.is_empty() => "TimeoutError".into(),
        _ => text,
    }
}

/// `text` in pieces at its spaces: the first at most `first` columns, the rest at most
/// `rest`; a word longer than a whole line is cut.
pub fn wrap_words(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    let mut room = first;
    for word in text.split(' ') {
        let w = word.chars().count();
        let used = piece.chars().count();
        if used == 0 && w <= room {
            piece.push_str(word);
        } else if used > 0 && used + 1 + w <= room {
            piece.push(' ');
            piece.push_str(word);
        } else {
            if used > 0 || room < rest {
                pieces.push(std::mem::take(&mut piece));
                room = rest;
            }
            let mut chars = word.chars().peekable();
            while chars.peek().is_some() {
                let chunk: String = chars.by_ref().take(room).collect();
                if chars.peek().is_some() {
                    pieces.push(chunk);
                } else {
                    piece = chunk;
                }
            }
        }
    }
    pieces.push(piece);
    pieces
}
