//! Per-core CPU: a bar per core when there are few, a heat strip (one cell per core) when
//! there are many. On simulated time, the simulated cores the model's tasks keep busy.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Widget};

use super::state::UiState;
use super::view::View;

/// Draws the CPU panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    if view.model.virtual_time {
        render_simulated(view, ui, frame, area);
        return;
    }
    let cores = &view.cpu.cores;
    let mean = if cores.is_empty() { 0.0 } else { cores.iter().sum::<f32>() / cores.len() as f32 };
    let title = Span::styled(format!(" CPU {} cores · {mean:.0}% ", cores.len()), ui.title(None));
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    CpuWidget { cores, ui }.render(inner, frame.buffer_mut());
}

/// How many of the simulated cores are busy now, from the model: the CPU-bound tasks running,
/// as many as the cores allow — one on a GIL thread pool (the thread holding the GIL) or on
/// an event loop.
pub fn simulated_busy(model: &crate::trace::Model) -> usize {
    let ledger = &model.gil_ledger;
    if ledger.seen {
        return usize::from(ledger.holder.is_some());
    }
    let running = model.totals.running_cpu;
    model.cpu_ceiling().map_or(running, |ceiling| running.min(ceiling))
}

/// On simulated time no task spins a real core: the panel shows the simulated cores the
/// model says are busy, filled from the first.
fn render_simulated(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let model = &view.model;
    let total = model.cores.max(1);
    let busy = simulated_busy(model).min(total);
    let why = if model.gil_ledger.seen && model.totals.running_cpu > 1 { " (GIL)" } else { "" };
    let long = format!(" CPU · SIM: {busy} of {total} cores busy{why} ");
    let title = if long.chars().count() + 2 <= area.width as usize {
        long
    } else {
        format!(" CPU SIM {busy}/{total} busy{why} ")
    };
    let block = Block::new().borders(Borders::TOP).title(Span::styled(title, ui.title(None)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cores: Vec<f32> = (0..total).map(|i| if i < busy { 100.0 } else { 0.0 }).collect();
    CpuWidget { cores: &cores, ui }.render(inner, frame.buffer_mut());
}

/// The per-core picture without its frame.
#[derive(Debug)]
pub struct CpuWidget<'a> {
    /// Usage per core, 0..=100.
    pub cores: &'a [f32],
    /// Colours.
    pub ui: &'a UiState,
}

fn heat(ui: &UiState, pct: f32) -> Style {
    let color = if pct >= 85.0 {
        Color::Red
    } else if pct >= 50.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    ui.fg(color)
}

impl Widget for CpuWidget<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let CpuWidget { cores, ui } = self;
        if area.width == 0 || area.height == 0 {
            return;
        }
        if cores.is_empty() {
            buf.set_stringn(area.x, area.y, "measuring…", area.width as usize, ui.dim());
            return;
        }
        let columns = (cores.len()).div_ceil(area.height as usize).max(1);
        let col_w = area.width as usize / columns;
        if col_w >= 12 {
            // Bars: "3 ▕█████     ▏ 54%".
            for (i, pct) in cores.iter().enumerate() {
                let (col, row) = (i / area.height as usize, i % area.height as usize);
                let x = area.x + (col * col_w) as u16;
                let y = area.y + row as u16;
                let bar_w = col_w.saturating_sub(10);
                let filled = ((pct / 100.0) * bar_w as f32).round() as usize;
                let bar: String = "█".repeat(filled.min(bar_w)) + &" ".repeat(bar_w - filled.min(bar_w));
                buf.set_stringn(x, y, format!("{i:>2}▕"), 3, ui.dim());
                buf.set_stringn(x + 3, y, bar, bar_w, heat(ui, *pct));
                buf.set_stringn(x + 3 + bar_w as u16, y, format!("▏{pct:>3.0}%"), 6, Style::new());
            }
        } else {
            // A heat strip: one cell per core, shaded by use.
            const SHADES: [char; 5] = ['·', '░', '▒', '▓', '█'];
            for (i, pct) in cores.iter().enumerate() {
                let x = area.x + (i % area.width as usize) as u16;
                let y = area.y + (i / area.width as usize) as u16;
                if y >= area.y + area.height {
                    break;
                }
                let shade = SHADES[((pct / 100.0 * 4.0).round() as usize).min(4)];
                buf[(x, y)].set_char(shade).set_style(heat(ui, *pct));
            }
        }
    }
}
