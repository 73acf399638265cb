//! The worker lanes: one row per worker, time running left to right, each task a labelled
//! block. When a lane ran more tasks than it has cells, each cell shows how busy the worker was
//! in it (░▒▓█), read from the [`Timeline`](super::timeline::Timeline)'s buckets — so the cost
//! of a frame does not grow with the number of tasks.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use super::state::{Panel, UiState, short_us};
use super::timeline::LaneHistory;
use super::view::View;
use crate::pool::PoolKind;
use crate::trace::{GilUse, Lane, TaskRecord, TaskState};

const PALETTE: [Color; 6] =
    [Color::Blue, Color::Green, Color::Cyan, Color::Yellow, Color::LightBlue, Color::LightGreen];

/// Draws the lanes panel.
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let gil = if view.model.gil_ledger.seen { " ░ GIL wait ▒ turns" } else { "" };
    let initializer =
        if view.timeline.lanes.values().any(|lane| !lane.initializing.is_empty()) { " ~ initializer" } else { "" };
    let title = Line::from(vec![
        Span::styled(" Workers ", ui.title(Some(Panel::Lanes))),
        Span::styled(format!("time {} (· idle{initializer}{gil})", ui.theme.arrow()), ui.dim()),
    ]);
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    LanesWidget { view, ui }.render(inner, frame.buffer_mut());
}

/// The lanes without their frame (for widget tests).
#[derive(Debug)]
pub struct LanesWidget<'a> {
    /// What to draw.
    pub view: &'a View,
    /// How.
    pub ui: &'a UiState,
}

/// The span the axis shows: a round number at or above `now` (so it rescales in steps).
pub fn axis_span_us(now_us: u64) -> u64 {
    nice_ceil(now_us.max(1_000_000))
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `x`.
pub fn nice_ceil(x: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            let nice = unit.saturating_mul(m);
            if nice >= x {
                return nice;
            }
        }
        unit = unit.saturating_mul(10);
    }
}

impl Widget for LanesWidget<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let LanesWidget { view, ui } = self;
        if area.width < 4 || area.height == 0 {
            return;
        }
        let model = &view.model;
        if model.lanes.is_empty() {
            let text =
                if model.events == 0 { "starting…" } else { "no worker yet: workers start on the first submit" };
            buf.set_stringn(area.x, area.y, text, area.width as usize, ui.dim());
            return;
        }
        let process = model.pool == Some(PoolKind::Process);
        // A named thread (`fetcher_0`) shows its whole name, up to the width a process lane has.
        let named = model.lanes.values().filter_map(|l| l.thread.as_deref()).map(|n| n.chars().count() + 1).max();
        // A Dask lane is HOST:PID·SLOT and its process's CPU.
        let dask = model.pool == Some(PoolKind::Dask);
        let named = named.map_or(0, |w| if dask { (w + 5).min(24) } else { w.min(16) } as u16);
        let label_w: u16 = if process || ui.wide_lane_labels { 16 } else { 9 }.max(named);
        let label_w = label_w.min(area.width / 3);
        let plot_x = area.x + label_w;
        let plot_w = area.width - label_w;
        let rows = area.height.saturating_sub(1) as usize; // last row: the axis
        let span = axis_span_us(view.now_us.max(ui.axis_at_least_us));
        let cell_us = (span as f64 / plot_w as f64).max(1.0);
        // One row per worker, more when its tasks overlap (coroutines share one thread).
        let exact_max = 2 * plot_w as usize;
        let lanes: Vec<(&Lane, Vec<Vec<&TaskRecord>>)> =
            model.lanes.values().map(|lane| (lane, stack(view, lane, exact_max))).collect();
        let all_rows: Vec<(usize, usize)> = lanes
            .iter()
            .enumerate()
            .flat_map(|(i, (_, slots))| (0..slots.len().max(1)).map(move |slot| (i, slot)))
            .collect();
        let hidden = all_rows.len().saturating_sub(rows);
        let first = ui.scroll_of(Panel::Lanes).min(hidden);
        let shown = if hidden > 0 { rows.saturating_sub(1) } else { rows };
        let mut keyed: Vec<&TaskRecord> = Vec::new();
        for (row, &(i, slot)) in all_rows.iter().skip(first).take(shown).enumerate() {
            let (lane, slots) = &lanes[i];
            let y = area.y + row as u16;
            if slot == 0 {
                let label = lane_label(view, lane, process);
                let style = if lane.up_since.is_some() || model.ended() { Style::new() } else { ui.dim() };
                buf.set_stringn(area.x, y, label, label_w.saturating_sub(1) as usize, style);
            } else {
                buf.set_stringn(area.x, y, "  ┆", label_w.saturating_sub(1) as usize, ui.dim());
            }
            let plot = Rect::new(plot_x, y, plot_w, 1);
            let history = view.timeline.lanes.get(&lane.worker);
            if slot == 0 {
                draw_idle(history, view.now_us, cell_us, plot, ui, buf);
                draw_initializing(history, view.now_us, cell_us, plot, ui, buf);
            }
            let gil = view.model.gil_ledger.seen.then_some(GilCells { view, worker: lane.worker, history });
            match slots.get(slot) {
                Some(tasks) => {
                    for task in tasks {
                        if draw_task(task, view.now_us, cell_us, plot, ui, gil.as_ref(), buf) {
                            keyed.push(task);
                        }
                    }
                }
                None => draw_heat(view, lane, history, cell_us, plot, ui, buf),
            }
        }
        if hidden > 0 && rows > 0 {
            let y = area.y + shown as u16;
            let below = all_rows.len() - first - shown;
            let text = format!("… {} workers; {first} rows above, {below} below (tab, ↑↓ to scroll)", lanes.len());
            buf.set_stringn(area.x, y, text, area.width as usize, ui.dim());
        }
        if area.height >= 2 {
            // The axis sits right under the last lane drawn.
            let drawn = if hidden > 0 { rows } else { shown.min(all_rows.len()) };
            let y = area.y + (drawn as u16).min(area.height - 1);
            draw_axis(span, cell_us, Rect::new(plot_x, y, plot_w, 1), ui, buf);
            let now = format!("now {}", short_us(view.now_us));
            buf.set_stringn(area.x, y, now, label_w as usize, ui.dim());
            draw_key(&keyed, Rect::new(area.x, y + 1, area.width, area.bottom().saturating_sub(y + 1)), ui, buf);
        }
    }
}

/// Most rows one worker gets; tasks overlapping more than this share the last one.
const MAX_STACK: usize = 8;

/// The tasks of `lane` in rows where none overlap (first free row, in start order); empty
/// when the lane ran too many tasks to draw one by one.
fn stack<'a>(view: &'a View, lane: &Lane, exact_max: usize) -> Vec<Vec<&'a TaskRecord>> {
    if lane.ran_total > exact_max {
        return Vec::new();
    }
    let mut rows: Vec<Vec<&TaskRecord>> = Vec::new();
    let mut ends: Vec<u64> = Vec::new();
    for task in lane.ran.iter().filter_map(|t| view.model.task(*t)) {
        let Some(start) = task.started_us else { continue };
        let end = task.ended_us.unwrap_or(u64::MAX);
        let row = match ends.iter().position(|e| *e <= start) {
            Some(row) => row,
            None if rows.len() < MAX_STACK => {
                rows.push(Vec::new());
                ends.push(0);
                rows.len() - 1
            }
            None => rows.len() - 1,
        };
        rows[row].push(task);
        ends[row] = end;
    }
    if rows.is_empty() {
        rows.push(Vec::new());
    }
    rows
}

fn lane_label(view: &View, lane: &Lane, process: bool) -> String {
    let name = match &lane.thread {
        _ if view.model.pool == Some(PoolKind::Coroutine) => "loop".to_string(),
        Some(thread) => thread.clone(),
        None => format!("w{}", lane.worker),
    };
    // Who holds the GIL now: one holder at a time, the others wait.
    let name = match view.model.gil_ledger.use_of(lane.worker) {
        Some(GilUse::Holding) => format!("{name} GIL"),
        Some(GilUse::Waiting) => format!("{name} wait"),
        None => name,
    };
    if view.model.pool == Some(PoolKind::Dask) {
        // The worker's process: its CPU, read here on this machine, or as Dask read it where
        // poolscope cannot see the process.
        let cpu = lane.remote_cpu.or_else(|| view.process_cpu.get(&lane.pid).copied());
        return cpu.map_or(name.clone(), |c| format!("{name} {c:>3.0}%"));
    }
    if process {
        // A stopped process (SIGSTOP) runs nothing: its lane is stuck, whatever it holds.
        let state = if lane.up_since.is_some() && view.stopped.contains(&lane.pid) {
            " STOP".to_string()
        } else {
            view.process_cpu.get(&lane.pid).map_or(String::new(), |c| format!(" {c:>3.0}%"))
        };
        format!("{name} {}{state}", lane.pid)
    } else {
        name
    }
}

fn cell_range(start: u64, end: u64, cell_us: f64, width: u16) -> (u16, u16) {
    let c0 = ((start as f64 / cell_us) as u64).min(width as u64) as u16;
    // Both ends round down, so a task that starts as the previous one ends does not overwrite
    // its last cell.
    let c1 = ((end as f64 / cell_us) as u64).min(width as u64) as u16;
    (c0, c1.max(c0 + 1).min(width))
}

fn draw_idle(history: Option<&LaneHistory>, now: u64, cell_us: f64, plot: Rect, ui: &UiState, buf: &mut Buffer) {
    let Some(history) = history else { return };
    for (up, down) in &history.alive {
        let (c0, c1) = cell_range(*up, down.unwrap_or(now), cell_us, plot.width);
        for c in c0..c1 {
            buf[(plot.x + c, plot.y)].set_char('·').set_style(ui.dim());
        }
    }
}

/// Draws the time a worker ran the pool's initializer: `~`, and the word where it fits — it
/// is not idle then, though it runs no task.
fn draw_initializing(
    history: Option<&LaneHistory>,
    now: u64,
    cell_us: f64,
    plot: Rect,
    ui: &UiState,
    buf: &mut Buffer,
) {
    let Some(history) = history else { return };
    for (begun, ended) in &history.initializing {
        let (c0, c1) = cell_range(*begun, ended.unwrap_or(now), cell_us, plot.width);
        let width = usize::from(c1.saturating_sub(c0));
        if width == 0 {
            continue;
        }
        let text: String = match ["initializer", "init"].into_iter().find(|word| word.len() + 4 <= width) {
            Some(word) => format!("~ {word} ").chars().chain(std::iter::repeat('~')).take(width).collect(),
            None => "~".repeat(width),
        };
        buf.set_stringn(plot.x + c0, plot.y, text, width, ui.fg(Color::Yellow));
    }
}

/// Draws one task's block; true if its label did not fit (the key then names it). On a run
/// that reports its GIL, each cell of the block shows how much of its time the worker held
/// the GIL: bright while it holds it, hatched while it waits ([`GilCells`]).
fn draw_task(
    task: &TaskRecord,
    now: u64,
    cell_us: f64,
    plot: Rect,
    ui: &UiState,
    gil: Option<&GilCells<'_>>,
    buf: &mut Buffer,
) -> bool {
    let Some(start) = task.started_us else { return false };
    let end = task.ended_us.unwrap_or(now);
    let (c0, c1) = cell_range(start, end, cell_us, plot.width);
    if c0 >= plot.width {
        return false;
    }
    // A click on the block inspects the task.
    ui.drew_task(Panel::Lanes, Rect::new(plot.x + c0, plot.y, c1.saturating_sub(c0).max(1), 1), task.id);
    let (fill, mark) = match task.state {
        TaskState::Failed => ('x', "✗"),
        TaskState::Crashed => ('!', "☠"),
        TaskState::Running => ('>', ""),
        _ => ('=', ""),
    };
    let style = if ui.theme.colored() {
        let bg = match task.state {
            TaskState::Failed => Color::Red,
            TaskState::Crashed => Color::Magenta,
            TaskState::Running => Color::Cyan,
            _ => PALETTE[(task.id % PALETTE.len() as u64) as usize],
        };
        Style::new().bg(bg).fg(Color::Black)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    };
    let width = (c1 - c0) as usize;
    let mut text: Vec<char> = if ui.theme.colored() { vec![' '; width] } else { vec![fill; width] };
    // Plain blocks are bracketed; coloured ones keep their last cell blank, so two labels
    // never run together.
    let (from, room) = match (ui.theme.colored(), width) {
        (false, 3..) => (1, width - 2),
        (true, 2..) => (0, width - 1),
        _ => (0, 0),
    };
    // Cell by cell: a control character in a label (a scenario's `\n`, an escape sequence)
    // would reach the terminal as it is, so it is drawn as U+FFFD.
    let full: Vec<char> =
        format!("{mark}{}", task.label).chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    // A label that does not fit gives way to the task's id, read in the lanes' key.
    let short: Vec<char> = format!("{mark}#{}", task.id).chars().collect();
    let (label, shortened) = if full.len() <= room {
        (full, false)
    } else if short.len() <= room {
        (short, true)
    } else {
        (Vec::new(), false)
    };
    for (i, ch) in label.iter().enumerate() {
        text[from + i] = *ch;
    }
    if !ui.theme.colored() && width >= 2 {
        text[0] = '[';
        text[width - 1] = if task.state == TaskState::Running { '>' } else { ']' };
    }
    if task.callbacks > 0 {
        text[width - 1] = '•';
    }
    for (i, ch) in text.into_iter().enumerate() {
        let c = c0 + i as u16;
        let share = gil.and_then(|g| g.held_share(c as f64 * cell_us, (c + 1) as f64 * cell_us));
        let (ch, style) = match share {
            Some(share) if share < HOLDING => {
                let bracket = !ui.theme.colored() && width >= 2 && (i == 0 || i + 1 == width);
                let is_fill = (ch == ' ' || ch == fill) && !bracket;
                let ch = if is_fill { gil_glyph(share, ui.theme.ascii) } else { ch };
                let color = match task.state {
                    TaskState::Running => Color::Cyan,
                    _ => PALETTE[(task.id % PALETTE.len() as u64) as usize],
                };
                // Waiting: the task's colour on no background (plain, not bold, without colours).
                (ch, ui.fg(color))
            }
            _ => (ch, style),
        };
        buf[(plot.x + c, plot.y)].set_char(ch).set_style(style);
    }
    shortened
}

/// A cell whose worker held the GIL for at least this share of its GIL time is drawn as
/// holding it.
const HOLDING: f64 = 0.875;

/// The glyph of a block's cell by the share of its GIL time the worker held it: `░` waiting
/// throughout, `▒` `▓` taking turns (a cell covers several switch intervals), `-` `~` `+`
/// in ASCII.
fn gil_glyph(share: f64, ascii: bool) -> char {
    let level = if share <= 1.0 - HOLDING {
        0
    } else if share < 0.5 {
        1
    } else {
        2
    };
    if ascii { ['-', '~', '+'][level] } else { ['░', '▒', '▓'][level] }
}

/// What one lane's cells tell about the GIL: time held and waited, from the timeline's
/// buckets plus the stretch going on now.
struct GilCells<'a> {
    view: &'a View,
    worker: crate::pool::WorkerId,
    history: Option<&'a LaneHistory>,
}

impl GilCells<'_> {
    /// The share of the GIL time of `t0..t1` (µs) the worker held it; `None` when it
    /// neither held nor waited for it then (a task that does not need it).
    fn held_share(&self, t0: f64, t1: f64) -> Option<f64> {
        let bucket_us = self.view.timeline.bucket_us as f64;
        let (mut held, mut waited) = (0.0, 0.0);
        if let Some(history) = self.history {
            let b0 = ((t0 / bucket_us) as usize).min(history.gil_held.len());
            let b1 = ((t1 / bucket_us).ceil() as usize).clamp(b0, history.gil_held.len());
            held += history.gil_held[b0..b1].iter().sum::<u64>() as f64;
            waited += history.gil_waited[b0..b1].iter().sum::<u64>() as f64;
        }
        let ledger = &self.view.model.gil_ledger;
        if let (Some(now_use), Some(since)) = (ledger.use_of(self.worker), ledger.since(self.worker)) {
            let now = self.view.now_us as f64;
            let open = (now.min(t1) - (since as f64).max(t0)).max(0.0);
            match now_use {
                GilUse::Holding => held += open,
                GilUse::Waiting => waited += open,
            }
        }
        (held + waited > 0.0).then(|| held / (held + waited))
    }
}

fn draw_heat(
    view: &View,
    lane: &Lane,
    history: Option<&LaneHistory>,
    cell_us: f64,
    plot: Rect,
    ui: &UiState,
    buf: &mut Buffer,
) {
    const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];
    let Some(history) = history else { return };
    let bucket_us = view.timeline.bucket_us as f64;
    let running = lane.current.and_then(|t| view.model.task_times(t)).and_then(|t| t.started_us);
    for c in 0..plot.width {
        let t0 = c as f64 * cell_us;
        let t1 = t0 + cell_us;
        if t0 > view.now_us as f64 {
            break;
        }
        let b0 = (t0 / bucket_us) as usize;
        if b0 >= history.busy.len() {
            break;
        }
        let b1 = ((t1 / bucket_us).ceil() as usize).clamp(b0 + 1, history.busy.len());
        let covered = (b1 - b0) as f64 * bucket_us;
        let mut busy: f64 = history.busy[b0..b1].iter().sum::<u64>() as f64;
        if let Some(s) = running {
            let s = s as f64;
            let lo = s.max(b0 as f64 * bucket_us);
            let hi = (view.now_us as f64).min(b1 as f64 * bucket_us);
            busy += (hi - lo).max(0.0);
        }
        let share = (busy / covered).clamp(0.0, 1.0);
        let bad: u32 = history.bad[b0..b1].iter().sum();
        let glyph = if share == 0.0 { SHADES[0] } else { SHADES[1 + ((share * 3.999) as usize).min(3)] };
        let style = if bad > 0 { ui.fg(Color::Red) } else { ui.fg(Color::Green) };
        let cell = &mut buf[(plot.x + c, plot.y)];
        if glyph != ' ' {
            cell.set_char(if bad > 0 && !ui.theme.colored() { 'x' } else { glyph }).set_style(style);
        }
    }
}

fn draw_axis(span: u64, cell_us: f64, row: Rect, ui: &UiState, buf: &mut Buffer) {
    if row.width == 0 {
        return;
    }
    let ticks = (row.width / 10).max(1) as u64;
    let step = nice_ceil((span / ticks).max(1));
    let mut next_free = 0u16;
    let mut t = 0;
    while t <= span {
        let c = (t as f64 / cell_us) as u16;
        if c >= row.width {
            break;
        }
        if c >= next_free {
            let label = format!("|{}", short_us(t));
            let room = (row.width - c) as usize;
            buf.set_stringn(row.x + c, row.y, &label, room, ui.dim());
            next_free = c + label.chars().count() as u16 + 1;
        }
        t += step;
    }
}

/// The key to the ids shown instead of labels, under the axis: `#7 Download7 · #8 …`, as
/// many rows as there are; what does not fit ends in `…`.
fn draw_key(keyed: &[&TaskRecord], area: Rect, ui: &UiState, buf: &mut Buffer) {
    if keyed.is_empty() || area.height == 0 || area.width < 8 {
        return;
    }
    let mut ids: Vec<(u64, &str)> = keyed.iter().map(|t| (t.id, t.label.as_str())).collect();
    ids.sort_unstable();
    ids.dedup();
    let width = area.width as usize;
    let mut rows: Vec<String> = vec![String::from("key:")];
    for (id, label) in ids {
        let item = format!(" #{id} {label}");
        let last = rows.last_mut().expect("one row at least");
        if last.chars().count() + item.chars().count() <= width {
            last.push_str(&item);
        } else {
            rows.push(format!("    {}", item.trim_start()));
        }
    }
    let shown = (area.height as usize).min(rows.len());
    if rows.len() > shown {
        let row = &mut rows[shown - 1];
        let cut: String = row.chars().take(width.saturating_sub(2)).collect();
        *row = format!("{cut} …");
    }
    for (i, row) in rows.iter().take(shown).enumerate() {
        buf.set_stringn(area.x, area.y + i as u16, row, width, ui.dim());
    }
}
