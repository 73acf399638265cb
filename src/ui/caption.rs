//! The caption: what the current step does and why, in the lesson's words.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::state::UiState;
use super::view::View;

/// Draws the caption (wrapped; the end is cut when it does not fit).
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let steps = view.lesson.step_lines.len();
    let (head, text) = match view.model.current_step() {
        None => ("Lesson".to_string(), view.lesson.summary.clone()),
        Some(step) => {
            let text = super::session::caption_of(step.note.as_deref(), &step.op);
            (format!("Step {}/{}", (step.index + 1).min(steps), steps), text)
        }
    };
    let mut spans = vec![Span::styled(
        format!("{head} › "),
        ui.paint(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    )];
    if let Some(flash) = &ui.flash {
        spans.insert(0, Span::styled(format!("[{flash}] "), ui.fg(Color::LightMagenta)));
    }
    spans.push(Span::raw(text));
    frame.render_widget(Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }), area);
}
