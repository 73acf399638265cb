//! The terminal UI (SPEC §3): a live picture of a lesson's pool.
//!
//! Data flows one way: the run's events, the CPU sampler, the keyboard and a ticker send into
//! the [`app`] loop, which folds them into a [`View`] (a pure fold) and a [`UiState`], and
//! draws with [`render`], which reads both and changes neither.

pub mod app;
pub mod bench;
pub mod caption;
pub mod code;
pub mod compare;
pub mod cpu;
pub mod footer;
pub mod futures;
pub mod gif;
pub mod header;
pub mod input;
pub mod inspector;
pub mod lanes;
pub mod log;
pub mod picker;
pub mod queue;
pub mod quiz;
pub mod quiz_view;
pub mod record;
pub mod results;
pub mod session;
pub mod state;
pub mod stats;
pub mod svg;
pub mod sweep;
pub mod terminal;
pub mod theme;
pub mod timeline;
pub mod view;
pub mod warnings;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

pub use state::{Panel, UiState};
pub use theme::{Palette, Theme};
pub use timeline::Timeline;
pub use view::{Lesson, View};

/// Draws the lesson screen.
///
/// ```text
/// ▶ live  1/17 Pool basics … · process pool, 4 workers · REAL 2.1s          header
/// Step 1/3 › Ten submits return at once: each gives back a future …         caption
/// ⚠ Idle workers while tasks wait: …                     (warnings, while true)
/// ─ Workers  time → ──────────────────────────┬─ Python ──────────────────
/// w0 4242 12% [Process0==][Process4=]··       │  with ProcessPoolExecutor(…
/// w1 4243  9% [Process1==][Process5>          │▶     futures += [pool.sub…
/// w2 …                                        ├─ Stats ───────────────────
/// now 2.1s |0s      |1s      |2s              │ tasks       6/10 ran
///                                             ├─ CPU 2 cores · 40% ───────
///                                             │  0▕████    ▏ 45%
/// ─ Queue now 2 ──────┬─ Futures (10) ────────┬─ Results, in order received ─
/// ▁▃▅▇▅▃              │ ·2 ▶4 ✓4 ✗0 ⊘0        │ Process0 → Process1 → …
/// ─ Events (only on tall terminals) ──────────────────────────────────────
///  1.0s  Process0 ends Ok
///  space pause  . step  +/- workers  [/] speed  r restart  n/p lesson …     footer
/// ```
///
/// Below 40×12 only the header, the lanes and the footer are drawn; nothing panics at any
/// size.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame) {
    ui.hits.borrow_mut().clear();
    render_in(view, ui, frame, frame.area(), true);
    if let Some(id) = ui.inspected {
        inspector::render(view, ui, id, frame, frame.area());
    }
    if let Some(text) = &ui.search {
        footer::render_search(ui, text, frame, frame.area());
    }
    if ui.help {
        footer::render_help(ui, view.model.virtual_time, frame, frame.area());
    }
    ui.theme.finish(frame.buffer_mut());
}

/// Draws the lesson screen into `area`, with the footer of keys or without it (a comparison
/// draws two lesson screens and one footer).
pub fn render_in(view: &View, ui: &UiState, frame: &mut Frame, area: Rect, with_footer: bool) {
    let foot_h = u16::from(with_footer);
    if area.width < 40 || area.height < 12 {
        // Room for no panel but the lanes: the stats in one line under them.
        let stats_h = u16::from(area.height >= 6);
        let [head, body, stats_area, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(stats_h),
            Constraint::Length(foot_h),
        ])
        .areas(area);
        header::render(view, ui, frame, head);
        lanes::render(view, ui, frame, body);
        frame.render_widget(ratatui::widgets::Paragraph::new(stats::one_line(view, ui)), stats_area);
        if with_footer && ui.recording {
            footer::render_title(view, ui, frame, foot);
        } else if with_footer {
            footer::render(ui, frame, foot);
        }
    } else {
        let events_h = if area.height >= 30 { ((area.height - 24) / 2 + 4).min(14) } else { 0 };
        let bottom_h = 5 + (area.height.saturating_sub(24) / 6).min(4);
        let caption_h = if area.width >= 120 { 2 } else { 3 };
        let warns = warnings::of(view);
        let warn_rows: usize = warns.iter().map(|w| (w.chars().count() + 2).div_ceil(area.width as usize)).sum();
        let warn_h = warn_rows.min(if area.height >= 30 { 4 } else { 2 }) as u16;
        let [head, caption_area, warn_area, main, bottom, events, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(caption_h),
            Constraint::Length(warn_h),
            Constraint::Min(4),
            Constraint::Length(bottom_h),
            Constraint::Length(events_h),
            Constraint::Length(foot_h),
        ])
        .areas(area);
        header::render(view, ui, frame, head);
        caption::render(view, ui, frame, caption_area);
        warnings::render(&warns, ui, frame, warn_area);
        let right_w = (area.width * 2 / 5).clamp(30, 64);
        let [lanes_area, right] = Layout::horizontal([Constraint::Min(10), Constraint::Length(right_w)]).areas(main);
        lanes::render(view, ui, frame, lanes_area);
        render_side(view, ui, frame, right);
        let [queue_area, futures_area, results_area] =
            Layout::horizontal([Constraint::Percentage(28), Constraint::Percentage(30), Constraint::Min(10)])
                .areas(bottom);
        queue::render(view, ui, frame, queue_area);
        futures::render(view, ui, frame, gap(futures_area));
        if events.height == 0 && ui.focus == Panel::Log {
            // No room for the log on a short terminal: it takes the results' place while focused.
            log::render(view, ui, frame, gap(results_area));
        } else {
            results::render(view, ui, frame, gap(results_area));
        }
        if events.height > 0 {
            log::render(view, ui, frame, events);
        }
        if with_footer && ui.recording {
            footer::render_title(view, ui, frame, foot);
        } else if with_footer {
            footer::render(ui, frame, foot);
        }
    }
}

/// The right column: code, stats, CPU.
fn render_side(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let area = gap(area);
    let cores = view.cpu.cores.len().max(1) as u16;
    let cpu_h = if cores <= 16 { (cores.div_ceil(2) + 1).min(5) } else { 1 + cores.div_ceil(area.width.max(1)).min(4) };
    // Half of what the CPU leaves: room for the queueing laws on tall screens, while the
    // code keeps as much.
    let stats_h = (area.height.saturating_sub(cpu_h) / 2).clamp(6, 12);
    let [code_area, stats_area, cpu_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(stats_h), Constraint::Length(cpu_h)]).areas(area);
    code::render(view, ui, frame, code_area);
    stats::render(view, ui, frame, stats_area);
    cpu::render(view, ui, frame, cpu_area);
}

/// Colours are allowed: `NO_COLOR` is unset or empty (no-color.org).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `area` without its first column: a gutter between side-by-side panels.
fn gap(area: Rect) -> Rect {
    if area.width > 1 { Rect { x: area.x + 1, width: area.width - 1, ..area } } else { area }
}
