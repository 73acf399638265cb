//! [`UiState`]: what the user chose — focus, scroll, pause, speed, overlays — kept apart from
//! the run's [`View`](super::View) so rendering reads both and changes neither.

use std::cell::RefCell;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use super::theme::Theme;
use crate::pool::TaskId;
use crate::trace::{ResultOutcome, TaskState};

/// A panel that takes the focus (tab) and scrolls (arrows, mouse wheel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// The worker lanes.
    Lanes,
    /// The futures grid.
    Futures,
    /// The results strip.
    Results,
    /// The Python program.
    Code,
    /// The event log.
    Log,
}

impl Panel {
    /// Tab order.
    pub const ALL: [Panel; 5] = [Panel::Lanes, Panel::Futures, Panel::Results, Panel::Code, Panel::Log];

    fn index(self) -> usize {
        Panel::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// Lanes and code scroll from the top (down shows more); futures, results and the log
    /// from the bottom.
    pub fn scrolls_down(self) -> bool {
        matches!(self, Panel::Lanes | Panel::Code)
    }

    /// The next panel in tab order.
    pub fn next(self) -> Panel {
        Panel::ALL[(self.index() + 1) % Panel::ALL.len()]
    }
}

/// The user's side of the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct UiState {
    /// The panel arrows scroll.
    pub focus: Panel,
    /// Scroll of each panel, in rows back from its default position.
    pub scroll: [usize; 5],
    /// The picture is frozen; the pool runs on and its events wait.
    pub paused: bool,
    /// Events waiting while paused.
    pub held: usize,
    /// Duration divisor of the running lesson (2 = twice as fast).
    pub speed: f64,
    /// The `?` overlay is open.
    pub help: bool,
    /// Colours and glyphs (`--theme`, `--ascii`, `NO_COLOR`).
    pub theme: Theme,
    /// A one-line message about the last action.
    pub flash: Option<String>,
    /// Position of the running lesson among the built-in ones (`n`/`p`), and their count.
    pub lesson: Option<(usize, usize)>,
    /// The highlighted row of the lesson picker.
    pub picked: usize,
    /// Rewound (while paused): the live clock the picture went back from (µs).
    pub rewound_from: Option<u64>,
    /// Two runs share the screen (`poolscope compare`): its own keys apply.
    pub comparing: bool,
    /// The lanes' time axis spans at least this (µs): two runs compared share one scale.
    pub axis_at_least_us: u64,
    /// Lane labels as wide as a process pool's (with PIDs), so two runs compared start their
    /// time axes in the same column.
    pub wide_lane_labels: bool,
    /// The picture shows the pool this far behind (held for captions, or resumed after a
    /// pause), when it is noticeably.
    pub behind: Option<std::time::Duration>,
    /// The picture holds at a step boundary while the caption is read.
    pub reading: bool,
    /// A recording: no keys to press, so no footer of keys and no "r again".
    pub recording: bool,
    /// The task the inspector shows, while it is open.
    pub inspected: Option<TaskId>,
    /// The text typed after `/`, while the search line is open.
    pub search: Option<String>,
    /// Where each task was drawn in the last frame (a futures cell, a lane's block), for a
    /// click to find it; later entries were drawn on top.
    pub hits: RefCell<Vec<(Panel, Rect, TaskId)>>,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            focus: Panel::Lanes,
            scroll: [0; 5],
            paused: false,
            held: 0,
            speed: 1.0,
            help: false,
            theme: Theme::DARK,
            flash: None,
            lesson: None,
            picked: 0,
            rewound_from: None,
            comparing: false,
            axis_at_least_us: 0,
            wide_lane_labels: false,
            behind: None,
            reading: false,
            recording: false,
            inspected: None,
            search: None,
            hits: RefCell::new(Vec::new()),
        }
    }
}

impl UiState {
    /// The task drawn at `(x, y)` in the last frame, if any.
    pub fn task_at(&self, x: u16, y: u16) -> Option<TaskId> {
        let hits = self.hits.borrow();
        hits.iter()
            .rev()
            .find(|(_, r, _)| x >= r.x && x < r.right() && y >= r.y && y < r.bottom())
            .map(|&(_, _, id)| id)
    }

    /// Notes that task `id` was drawn over `area` of `panel`.
    pub fn drew_task(&self, panel: Panel, area: Rect, id: TaskId) {
        self.hits.borrow_mut().push((panel, area, id));
    }

    /// The first task drawn in `panel` in the last frame.
    pub fn first_drawn(&self, panel: Panel) -> Option<TaskId> {
        self.hits.borrow().iter().find(|(p, ..)| *p == panel).map(|&(.., id)| id)
    }

    /// The scroll of `panel`.
    pub fn scroll_of(&self, panel: Panel) -> usize {
        self.scroll[panel.index()]
    }

    /// Scrolls the focused panel by `rows` (positive: back / down the list).
    pub fn scroll_by(&mut self, rows: isize) {
        let slot = &mut self.scroll[self.focus.index()];
        *slot = slot.saturating_add_signed(rows).min(1_000_000);
    }

    /// `color` in the theme's colours, or `fallback` without colours ([`Theme::paint`]).
    pub fn paint(&self, color: Style, fallback: Style) -> Style {
        self.theme.paint(color, fallback)
    }

    /// Foreground colour, or plain.
    pub fn fg(&self, c: Color) -> Style {
        self.theme.fg(c)
    }

    /// Titles of panels, the focused one stands out.
    pub fn title(&self, panel: Option<Panel>) -> Style {
        if panel.is_some() && panel == Some(self.focus) {
            self.paint(
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                Style::new().add_modifier(Modifier::REVERSED),
            )
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// Dim text (idle, hints).
    pub fn dim(&self) -> Style {
        self.theme.dim()
    }

    /// The colour of a task's state.
    pub fn state_color(state: TaskState) -> Color {
        match state {
            TaskState::Pending => Color::Gray,
            TaskState::Running => Color::Cyan,
            TaskState::Done => Color::Green,
            TaskState::Failed | TaskState::Abandoned => Color::Red,
            TaskState::Crashed => Color::Magenta,
            TaskState::Cancelled => Color::DarkGray,
        }
    }

    /// The colour of a received outcome.
    pub fn outcome_color(outcome: ResultOutcome) -> Color {
        match outcome {
            ResultOutcome::Ok => Color::Green,
            ResultOutcome::Error => Color::Red,
            ResultOutcome::Cancelled => Color::DarkGray,
            ResultOutcome::Timeout => Color::Yellow,
        }
    }
}

/// `●`-like glyph of a task state, distinct without colour.
pub fn state_glyph(state: TaskState) -> char {
    match state {
        TaskState::Pending => '·',
        TaskState::Running => '▶',
        TaskState::Done => '✓',
        // A future a broken or terminated pool failed without running it raises: failed.
        TaskState::Failed | TaskState::Abandoned => '✗',
        TaskState::Crashed => '☠',
        TaskState::Cancelled => '⊘',
    }
}

/// `1.2s`, `340ms`, `12µs`: short, for axes and stats.
pub fn short_us(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{}s", us / 1_000_000)
    } else if us >= 1_000_000 {
        let s = us as f64 / 1e6;
        if us % 1_000_000 == 0 { format!("{s:.0}s") } else { format!("{s:.1}s") }
    } else if us >= 1_000 {
        format!("{}ms", us / 1_000)
    } else if us > 0 {
        format!("{us}µs")
    } else {
        "0s".to_string()
    }
}
