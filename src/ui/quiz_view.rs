//! Drawing predict mode: the question over the picture, the verdict with the step's note as
//! the explanation, and the score once the lesson has ended.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::quiz::{Draft, Prompt, Quiz};
use super::state::UiState;
use super::view::View;
use crate::scenario::predict::Predict;

/// Draws the open prompt, or after the end the score.
pub fn render(quiz: &Quiz, view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let ended = view.model.ended();
    match &quiz.prompt {
        Some(Prompt::Ask { question, draft, cursor }) => {
            let tasks = functions(view, &quiz.asked[*question].question.templates);
            ask(quiz, (*question, &tasks), draft, *cursor, ui, frame, area);
        }
        Some(Prompt::Verdict { question }) => verdict(quiz, *question, ended, ui, frame, area),
        None if ended && quiz.any_scored() => score(quiz, ui, frame, area),
        None => {}
    }
}

fn question_text(kind: Predict) -> &'static str {
    match kind {
        Predict::Order => "In what order will the results reach the main program?",
        Predict::Makespan => "How many seconds will this step take?",
        Predict::Outcomes => "Which tasks will succeed, fail, or never run?",
        Predict::Cancelled => "Which cancel() calls will succeed (return True)?",
    }
}

fn keys_text(draft: &Draft) -> &'static str {
    match draft {
        Draft::Order { grabbed: false, .. } => " ↑/↓ choose · space pick up · enter answer · esc skip ",
        Draft::Order { grabbed: true, .. } => " ↑/↓ move it · space put down · enter answer · esc skip ",
        Draft::Makespan(_) => " type the seconds · enter answer · esc skip ",
        Draft::Outcomes(_) => " ↑/↓ choose · space change · enter answer · esc skip ",
        Draft::Cancelled(_) => " ↑/↓ choose · space True/False · enter answer · esc skip ",
    }
}

/// The lesson's functions for `templates` (`def job(i):` and its body), as the code panel
/// shows them.
fn functions(view: &View, templates: &[String]) -> Vec<String> {
    let code = &view.lesson.code;
    let mut lines = Vec::new();
    for name in templates {
        let head = format!("def {name}(");
        let Some(start) = code.iter().position(|l| l.trim_start().starts_with(&head)) else { continue };
        let indent = code[start].len() - code[start].trim_start().len();
        lines.push(code[start].trim_start().to_string());
        for line in
            code[start + 1..].iter().take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        {
            if !line.trim().is_empty() {
                lines.push(line[indent.min(line.len())..].to_string());
            }
        }
    }
    lines
}

fn ask(
    quiz: &Quiz,
    (k, tasks): (usize, &[String]),
    draft: &Draft,
    cursor: usize,
    ui: &UiState,
    frame: &mut Frame,
    area: Rect,
) {
    let asked = &quiz.asked[k];
    let q = &asked.question;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::from(Span::styled(question_text(q.kind), bold)), Line::default()];
    for code in tasks.iter().take(8) {
        lines.push(Line::from(Span::styled(format!("  {code}"), ui.dim())));
    }
    if !tasks.is_empty() {
        lines.push(Line::default());
    }
    for code in q.python.lines().take(6) {
        lines.push(Line::from(Span::raw(format!("  {code}"))));
    }
    lines.push(Line::default());
    let row = |i: usize, text: String| {
        let marker = if i == cursor { "▸ " } else { "  " };
        let style = if i == cursor { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
        Line::from(vec![Span::raw(marker), Span::styled(text, style)])
    };
    match draft {
        Draft::Order { labels, grabbed } => {
            for (i, label) in labels.iter().enumerate() {
                let held = if *grabbed && i == cursor { "  ⇅" } else { "" };
                lines.push(row(i, format!("{}. {label}{held}", i + 1)));
            }
        }
        Draft::Makespan(text) => {
            lines.push(Line::from(vec![Span::raw("  "), Span::styled(format!("{text}▏"), bold), Span::raw(" s")]));
        }
        Draft::Outcomes(fates) => {
            for (i, (label, fate)) in q.labels.iter().zip(fates).enumerate() {
                lines.push(row(i, format!("{label:<14} {}", fate.as_str())));
            }
        }
        Draft::Cancelled(marks) => {
            for (i, (label, ok)) in q.labels.iter().zip(marks).enumerate() {
                let said = if *ok { "True  (cancelled)" } else { "False (too late)" };
                lines.push(row(i, format!("{label:<14} {said}")));
            }
        }
    }
    let title = format!(" Predict · step {} ", q.step + 1);
    boxed(lines, title, keys_text(draft), ui, frame, area);
}

fn verdict(quiz: &Quiz, k: usize, ended: bool, ui: &UiState, frame: &mut Frame, area: Rect) {
    let asked = &quiz.asked[k];
    let Some(verdict) = &asked.verdict else { return };
    let (word, color) = if verdict.right { ("Right!", Color::Green) } else { ("Not quite.", Color::Yellow) };
    let mut lines = vec![
        Line::from(Span::styled(word, ui.paint(Style::new().fg(color), Style::new()).add_modifier(Modifier::BOLD))),
        Line::from(verdict.detail.clone()),
    ];
    if let Some(note) = &asked.note {
        lines.push(Line::default());
        lines.push(Line::from(vec![Span::styled("Why: ", ui.dim()), Span::raw(note.clone())]));
    }
    let (right, scored) = quiz.score();
    lines.push(Line::default());
    let last = quiz.asked.iter().all(|a| a.verdict.is_some() || (a.asked && a.answer.is_none()));
    let so_far = if ended || last { "Score" } else { "Score so far" };
    lines.push(Line::from(Span::styled(format!("{so_far}: {right} of {scored} right"), ui.dim())));
    let title = format!(" Step {} · {} ", asked.question.step + 1, asked.question.kind.as_str());
    boxed(lines, title, " enter goes on ", ui, frame, area);
}

fn score(quiz: &Quiz, ui: &UiState, frame: &mut Frame, area: Rect) {
    let (right, scored) = quiz.score();
    let text = format!(" Predictions: {right} of {scored} right ");
    let width = (text.chars().count() as u16).min(area.width);
    if area.height < 3 || width == 0 {
        return;
    }
    let rect = Rect { x: area.x + area.width - width, y: area.y + 1, width, height: 1 };
    let style = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(Span::styled(text, style)), rect);
    let _ = ui;
}

/// A box low on the left of `area`, over the queue and the events, so that the lanes and the
/// program stay in sight; in the middle when the screen is narrow.
fn boxed(lines: Vec<Line<'static>>, title: String, keys: &'static str, ui: &UiState, frame: &mut Frame, area: Rect) {
    let width = area.width.min(72);
    if width < 10 || area.height < 5 {
        return;
    }
    let inner = width.saturating_sub(2).max(1) as usize;
    // Wrapped lines: each takes its width over the box's (words wrap a little early).
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner.saturating_sub(6).max(1))).sum();
    let height = (rows as u16 + 2).min(area.height);
    let x = if area.width >= 100 { area.x + 1 } else { area.x + (area.width - width) / 2 };
    // Above the footer's line, or in the middle when it would cover the lanes' top.
    let low = area.y + area.height.saturating_sub(height + 1);
    let y = if low >= area.y + area.height / 3 { low } else { area.y + (area.height - height) / 2 };
    let rect = Rect { x, y, width, height };
    let block = Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(title, Style::new().add_modifier(Modifier::BOLD)))
        .title_bottom(Span::styled(keys, ui.dim()));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), rect);
}
