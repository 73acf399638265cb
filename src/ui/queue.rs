//! The queue: its depth over time (a sparkline, one column per time cell, the deepest moment
//! of each) and now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Sparkline};

use super::lanes::axis_span_us;
use super::state::UiState;
use super::view::View;

/// Draws the queue panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let model = &view.model;
    let title = Line::from(vec![
        Span::styled(" Queue ", ui.title(None)),
        Span::styled(format!("now {}", model.queue_depth), ui.fg(Color::Yellow)),
        Span::styled(format!(" · max {} ", model.max_queue_depth), ui.dim()),
    ]);
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let data = depth_columns(view, inner.width);
    frame.render_widget(
        Sparkline::default().data(&data).max(model.max_queue_depth.max(1) as u64).style(ui.fg(Color::Yellow)),
        inner,
    );
}

/// The deepest queue in each of `width` columns spanning the lanes' time axis.
pub fn depth_columns(view: &View, width: u16) -> Vec<u64> {
    let timeline = &view.timeline;
    let span = axis_span_us(view.now_us) as f64;
    let cell = span / width.max(1) as f64;
    let bucket = timeline.bucket_us as f64;
    let mut out = Vec::with_capacity(width as usize);
    for c in 0..width {
        let t0 = c as f64 * cell;
        if t0 > view.now_us as f64 {
            break;
        }
        let b0 = ((t0 / bucket) as usize).min(timeline.queue.len());
        let b1 = (((t0 + cell) / bucket).ceil() as usize).clamp(b0 + 1, timeline.queue.len().max(b0 + 1));
        let max =
            timeline.queue.get(b0..b1.min(timeline.queue.len())).and_then(|s| s.iter().max()).copied().unwrap_or(0);
        out.push(u64::from(max));
    }
    out
}
