//! The footer (the main keys) and the `?` help overlay (all of them, and what pausing means
//! for a live pool).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::state::UiState;

/// Most useful first: a narrow terminal cuts the end of the line.
const KEYS: &[(&str, &str)] = &[
    ("space", "pause"),
    ("+/-", "workers"),
    ("?", "help"),
    ("q", "quit"),
    ("s/b", "next/back step"),
    (".", "event"),
    ("[/]", "speed"),
    ("r", "restart"),
    ("n/p", "lesson"),
    ("tab", "focus"),
];

/// Draws the footer line.
pub fn render(ui: &UiState, frame: &mut Frame, area: Rect) {
    let key = ui.paint(Style::new().fg(Color::Black).bg(Color::Gray), Style::new().add_modifier(Modifier::REVERSED));
    let mut spans = Vec::new();
    let roomy = area.width >= 110;
    for (k, what) in KEYS {
        if roomy {
            spans.push(Span::styled(format!(" {k} "), key));
            spans.push(Span::raw(format!(" {what} ")));
        } else {
            spans.push(Span::styled(*k, key));
            spans.push(Span::raw(format!(" {what} ")));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A recording's footer: no keys to press, the lesson and its step instead.
pub fn render_title(view: &super::View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let steps = view.lesson.step_lines.len();
    let step = match view.model.current_step() {
        Some(step) => format!("Step {}/{}", (step.index + 1).min(steps), steps),
        None => "Before the first step".to_string(),
    };
    let line = Line::from(vec![
        Span::styled(
            " poolscope ",
            ui.paint(Style::new().fg(Color::Black).bg(Color::Gray), Style::new().add_modifier(Modifier::REVERSED)),
        ),
        Span::styled(format!(" {} ", view.lesson.title), Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(format!("· {step}"), ui.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// The help text.
pub const HELP: &[(&str, &str)] = &[
    ("space", "pause / resume the picture (it goes on from where it stopped)"),
    ("s / b", "run to the next step and hold there / go back a step (step mode: run --step)"),
    (".", "while paused: show one more event"),
    ("Home / End", "rewind to the start / catch up with the pool (live)"),
    ("← / →", "while paused: rewind / replay what was recorded (space: back to live)"),
    ("+ / -", "add / remove a worker, live (running tasks finish first)"),
    ("[ / ]", "restart the lesson slower / faster (durations ÷ speed)"),
    ("r", "restart the lesson"),
    ("n / p", "next / previous lesson"),
    ("esc", "back to the lesson list"),
    ("tab", "focus the next panel (its title lights up); a short terminal shows the event log while it has the focus"),
    ("↑ ↓ PgUp PgDn", "scroll the focused panel; mouse wheel too"),
    ("/ , enter", "inspect a task: / finds one by label, enter on the futures grid, or click a future"),
    ("a question", "↑ ↓ choose, space pick up / change, type the seconds; enter answers, esc skips"),
    ("?", "this help"),
    ("q, ctrl-c", "quit (the pool is stopped, no process is left)"),
];

/// Draws the help overlay in the middle of `area`; `simulated` when the lesson runs on
/// simulated time (pausing then stops the run itself).
pub fn render_help(ui: &UiState, simulated: bool, frame: &mut Frame, area: Rect) {
    let width = area.width.min(72);
    let height = area.height.min(HELP.len() as u16 + 12);
    let rect = Rect::new(area.x + (area.width - width) / 2, area.y + (area.height - height) / 2, width, height);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!("{k:>14}  "), ui.fg(Color::Yellow)), Span::raw(*what)]))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        if simulated {
            "SIM time: pausing (and a caption held for reading) stops the run itself: its clock stands still; \
             `.` moves the clock to the next moment something happens."
        } else {
            "The pool is real and runs in real time: pausing (and a caption held for reading) freezes the \
             picture, not the pool. Its events wait and are shown at their own pace when you resume, behind \
             the pool (the header says how far); End catches up."
        },
        ui.dim(),
    ));
    lines.push(Line::styled(
        "From the shell: `poolscope sweep NAME` runs a lesson at each pool size; `poolscope compare NAME --a \
         kind=thread --b kind=process` shows two pools side by side.",
        ui.dim(),
    ));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(" Keys — ? or esc to close ")),
        rect,
    );
    ui.theme.finish(frame.buffer_mut());
}

/// Draws the search line (`/`) over the last row of `area`.
pub fn render_search(ui: &UiState, text: &str, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let row = Rect { y: area.bottom() - 1, height: 1, ..area };
    let line = Line::from(vec![
        Span::styled("/", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("{text}▏")),
        Span::styled("  enter: inspect the first task whose label has it · esc: cancel", ui.dim()),
    ]);
    frame.render_widget(ratatui::widgets::Clear, row);
    frame.render_widget(Paragraph::new(line), row);
}
