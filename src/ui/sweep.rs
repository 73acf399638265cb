//! The sweep screen (`poolscope sweep` on a terminal): makespan and speed-up charted against
//! the pool size as each size's run ends, with the table below; once every size has run, the
//! speed-up chart adds the Universal Scalability Law fitted to the points (a model). Under open
//! arrivals a third chart, below those two, draws the p95 wait beside the M/M/c model's.
//!
//! ```text
//! Sweep · Pool sizing · thread pool · sizes 1..8 · REAL time · 5/8 done, running 6 workers
//! ┌ Makespan (s) by workers ─────────────┐┌ Speed-up (serial sum ÷ makespan) ───┐
//! │ 8.0┤•                                ││ 8┤                         ┄┄      │
//! │    │  •                              ││  │               ┄┄ •  •  •      │
//! │    │      •  •  •                    ││  │     ┄┄ •                       │
//! │    └──────────────── workers         ││  └──────────────── workers         │
//! └──────────────────────────────────────┘└──────────────────────────────────┘
//! ┌ Table ────────────────────────────────────────────────────────────────────┐
//! │workers     makespan   throughput     mean wait   utilisation   speed-up    │
//! │      1      8.000 s       1.25/s       3.500 s         100 %      1.00x    │
//! └───────────────────────────────────────────────────────────────────────────┘
//!  q  quit
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph, Wrap};

use super::Theme;
use crate::scenario::Sweep;
use crate::scenario::sweep::{FIT_MIN_SIZES, P95Wait};

/// What the sweep screen shows.
#[derive(Clone, Debug, Default)]
pub struct SweepScreen {
    /// The lesson's title.
    pub title: String,
    /// The pool, the sizes and the clock, in one line.
    pub setting: String,
    /// A line that must not be missed (the lesson resizes its own pool).
    pub note: Option<String>,
    /// Every size asked for, in order.
    pub sizes: Vec<usize>,
    /// The points measured so far.
    pub sweep: Sweep,
    /// The column heads and one line per point.
    pub table: Vec<String>,
    /// What the sweep says, once it is done.
    pub reading: Vec<String>,
    /// True once every size ran (or the sweep stopped).
    pub done: bool,
    /// Colours and glyphs.
    pub theme: Theme,
}

impl SweepScreen {
    fn fg(&self, color: Color) -> Style {
        self.theme.fg(color)
    }

    /// The points to chart: a size whose program failed has no time to show (its row says
    /// why).
    fn ran(&self) -> impl Iterator<Item = &crate::scenario::SweepPoint> {
        self.sweep.points.iter().filter(|p| !p.failed())
    }

    fn progress(&self) -> String {
        let done = self.sweep.points.len();
        match self.sizes.get(done) {
            _ if self.done => format!("{done}/{} done", self.sizes.len()),
            Some(1) => format!("{done}/{} done, running 1 worker…", self.sizes.len()),
            Some(next) => format!("{done}/{} done, running {next} workers…", self.sizes.len()),
            None => format!("{done}/{} done", self.sizes.len()),
        }
    }
}

/// Draws the sweep screen; nothing panics at any size.
pub fn render(screen: &SweepScreen, frame: &mut Frame) {
    let area = frame.area();
    let note_h = match &screen.note {
        // Word wrap loses a little of each line: estimate with some room to spare.
        Some(note) => (note.chars().count() as u16).div_ceil(area.width.saturating_sub(8).max(1)).min(3),
        None => 0,
    };
    // The charts come first: the table takes what it needs up to half of what is left, and
    // shows its latest rows when that is not all of them.
    let wanted = screen.table.len() as u16 + screen.reading.len() as u16 + 2;
    let left = area.height.saturating_sub(2 + note_h);
    let table_h = wanted.min(left / 2).max(left.min(6));
    let [head, note, charts, table, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(note_h),
        Constraint::Min(0),
        Constraint::Length(table_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let title = Line::from(vec![
        Span::styled(format!("Sweep {} · ", screen.progress()), bold),
        // The title last: a narrow screen cuts it, not the setting.
        Span::raw(format!("{} · {}", screen.setting, screen.title)),
    ]);
    frame.render_widget(Paragraph::new(title), head);
    if let Some(text) = &screen.note {
        let text = Paragraph::new(Line::styled(text.clone(), screen.fg(Color::Yellow))).wrap(Wrap { trim: true });
        frame.render_widget(text, note);
    }
    // Under open arrivals, the p95 wait beside the M/M/c model's, under the other two.
    let waits = screen.sweep.p95_waits();
    let (charts, waits_area) = if waits.is_empty() {
        (charts, None)
    } else {
        let [top, bottom] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
        (top, Some(bottom))
    };
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    render_makespan(screen, frame, left);
    render_speedup(screen, frame, right);
    if let Some(area) = waits_area {
        render_p95_waits(screen, &waits, frame, area);
    }
    render_table(screen, frame, table);
    let keys = if screen.done { " q  quit" } else { " q  stop the sweep and quit" };
    frame.render_widget(Paragraph::new(Line::styled(keys, screen.theme.dim())), foot);
    screen.theme.finish(frame.buffer_mut());
}

/// The column heads, as many of the latest rows as fit, and the reading (wrapped).
fn render_table(screen: &SweepScreen, frame: &mut Frame, area: Rect) {
    // A program's times are its own, real ones; a lesson's are in lesson time (at speed 1).
    let program = screen.sweep.points.iter().any(|p| p.program.is_some());
    let block = Block::bordered().title(if program { " Table " } else { " Table, in lesson time " });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width.saturating_sub(4).max(1) as usize;
    let reading_h: usize = screen.reading.iter().map(|l| l.chars().count().div_ceil(width)).sum();
    let reading_h = reading_h.min(inner.height as usize / 2) as u16;
    let [table_area, reading_area] = Layout::vertical([Constraint::Min(0), Constraint::Length(reading_h)]).areas(inner);
    let (head, rows) = screen.table.split_first().map_or((None, &[][..]), |(h, r)| (Some(h), r));
    let room = (table_area.height as usize).saturating_sub(usize::from(head.is_some()));
    let hidden = rows.len().saturating_sub(room);
    let mut lines: Vec<Line> = head.map(|h| Line::raw(h.clone())).into_iter().collect();
    if hidden > 0 && room >= 2 {
        // The latest sizes stay in view; the first ones give way, and say so.
        lines.push(Line::styled(format!("  … {} smaller sizes above", hidden + 1), screen.theme.dim()));
        lines.extend(rows.iter().skip(hidden + 1).map(|l| Line::raw(l.clone())));
    } else {
        lines.extend(rows.iter().skip(hidden).map(|l| Line::raw(l.clone())));
    }
    frame.render_widget(Paragraph::new(lines), table_area);
    let reading: Vec<Line> = screen.reading.iter().map(|l| Line::styled(l.clone(), screen.fg(Color::Cyan))).collect();
    frame.render_widget(Paragraph::new(reading).wrap(Wrap { trim: true }), reading_area);
}

/// A legend may take up to half a chart's width and height.
const LEGEND_FITS: (Constraint, Constraint) = (Constraint::Ratio(1, 2), Constraint::Ratio(1, 2));

/// The x axis: workers, from the smallest size to the largest.
fn workers_axis(screen: &SweepScreen) -> Axis<'static> {
    let lo = screen.sizes.iter().copied().min().unwrap_or(1) as f64;
    let hi = (screen.sizes.iter().copied().max().unwrap_or(1) as f64).max(lo + 1.0);
    Axis::default().title("workers").bounds([lo, hi]).labels(if (lo + hi) % 2.0 == 0.0 {
        vec![format!("{lo}"), format!("{}", (lo + hi) / 2.0), format!("{hi}")]
    } else {
        vec![format!("{lo}"), format!("{hi}")]
    })
}

fn render_makespan(screen: &SweepScreen, frame: &mut Frame, area: Rect) {
    let points: Vec<(f64, f64)> =
        screen.ran().map(|p| (p.workers as f64, p.summary.makespan_us as f64 / 1e6)).collect();
    let knee: Vec<(f64, f64)> = match screen.done.then(|| screen.sweep.knee()).flatten() {
        Some(p) => vec![(p.workers as f64, p.summary.makespan_us as f64 / 1e6)],
        None => Vec::new(),
    };
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut datasets = vec![line(screen, "makespan", Color::Yellow, &points), measured(screen, Color::Yellow, &points)];
    if !knee.is_empty() {
        datasets.push(line(screen, "knee", Color::Green, &knee).marker(Marker::Block).graph_type(GraphType::Scatter));
    }
    let title = " Makespan (s) by workers · lower is faster ";
    frame.render_widget(chart(screen, title, datasets, LegendPosition::TopRight, top, area), area);
}

fn render_speedup(screen: &SweepScreen, frame: &mut Frame, area: Rect) {
    let points: Vec<(f64, f64)> = screen.ran().map(|p| (p.workers as f64, p.summary.speedup)).collect();
    let lo = screen.sizes.iter().copied().min().unwrap_or(1) as f64;
    let hi = screen.sizes.iter().copied().max().unwrap_or(1) as f64;
    let ideal = [(lo, lo), (hi, hi)];
    let (usl, fits) = if screen.done { usl_curve(&screen.sweep, lo, hi) } else { (Vec::new(), false) };
    let top = points.iter().chain(&usl).map(|p| p.1).fold(hi, f64::max).max(1.0) * 1.05;
    let mut datasets = vec![line(screen, "ideal: ×workers", Color::DarkGray, &ideal)];
    if !usl.is_empty() {
        let name = if fits { "USL fit (model)" } else { "USL fit (model, poor)" };
        datasets.push(line(screen, name, Color::Magenta, &usl));
    }
    datasets.push(line(screen, "speed-up", Color::Cyan, &points));
    datasets.push(measured(screen, Color::Cyan, &points));
    let title = if legend_fits(area) {
        " Speed-up (serial sum ÷ makespan) by workers "
    } else {
        // No room for a legend: the title names the diagonal.
        " Speed-up by workers (diagonal: ideal) "
    };
    frame.render_widget(chart(screen, title, datasets, LegendPosition::TopLeft, top, area), area);
}

/// Under open arrivals: each size's p95 wait, measured (a line through the points), and the
/// M/M/c model's for the arrival rate and run time measured at that size (a plain line; none
/// where ρ ≥ 1 and the model has no steady state). The waits span decades — seconds where
/// the pool is too small, milliseconds past the knee — so the axis is logarithmic; a wait of
/// 0 sits on its floor.
fn render_p95_waits(screen: &SweepScreen, waits: &[P95Wait], frame: &mut Frame, area: Rect) {
    let secs = |us: f64| us / 1e6;
    let all = waits.iter().flat_map(|w| [Some(w.measured_us as f64), w.model_us]).flatten().map(secs);
    let (lo, hi) = decades(all);
    let log = |s: f64| if s > 0.0 { s.log10().max(lo as f64) } else { lo as f64 };
    let points: Vec<(f64, f64)> = waits.iter().map(|w| (w.workers as f64, log(secs(w.measured_us as f64)))).collect();
    let model: Vec<(f64, f64)> =
        waits.iter().filter_map(|w| Some((w.workers as f64, log(secs(w.model_us?))))).collect();
    let datasets = vec![
        line(screen, "M/M/c model's p95 (Erlang C, a model)", Color::Magenta, &model),
        line(screen, "measured p95", Color::Yellow, &points),
        measured(screen, Color::Yellow, &points),
    ];
    let title = if legend_fits(area) {
        " p95 wait by workers (log scale), beside the M/M/c model's "
    } else {
        // No room for a legend: the title tells the lines apart.
        " p95 wait by workers (log scale) · • measured · plain line: the M/M/c model (Erlang C) "
    };
    let labels: Vec<String> = (lo..=hi).map(decade_label).collect();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(title))
        .legend_position(legend_fits(area).then_some(LegendPosition::TopRight))
        .hidden_legend_constraints(LEGEND_FITS)
        .x_axis(workers_axis(screen))
        .y_axis(Axis::default().bounds([lo as f64, hi as f64]).labels(labels));
    frame.render_widget(chart, area);
}

/// The powers of ten (of seconds) around the positive `values`: from the one at or below the
/// smallest to the one at or above the largest, at least one decade apart.
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (min, max) = values.filter(|v| *v > 0.0).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if max <= 0.0 {
        return (-3, 0);
    }
    let lo = (min.log10().floor() as i32).clamp(-6, 3);
    let hi = (max.log10().ceil() as i32).clamp(-6, 4);
    (lo.min(hi - 1), hi.max(lo + 1))
}

/// `1 ms`, `10 s`: 10 to the power `e`, in seconds.
fn decade_label(e: i32) -> String {
    match e {
        ..=-7 => format!("1e{e} s"),
        -6..=-4 => format!("{} µs", 10i64.pow((e + 6) as u32)),
        -3..=-1 => format!("{} ms", 10i64.pow((e + 3) as u32)),
        _ => format!("{} s", 10i64.pow(e as u32)),
    }
}

/// The Universal Scalability Law fitted to the sweep, from `lo` to `hi` workers, on the
/// chart's scale, and whether it fits (the reading says why not); empty with fewer than
/// [`FIT_MIN_SIZES`] complete sizes.
///
/// The fit is of the speed-ups over the smallest complete size `b`; the chart's are the serial
/// sum over each makespan, so the curve is scaled by the chart's speed-up at `b` over `b`.
fn usl_curve(sweep: &Sweep, lo: f64, hi: f64) -> (Vec<(f64, f64)>, bool) {
    let Some(scaling) = sweep.scaling().filter(|s| s.speedups.len() >= FIT_MIN_SIZES) else {
        return (Vec::new(), false);
    };
    let (Some(usl), Some(base)) = (scaling.usl, sweep.complete().find(|p| p.workers == scaling.baseline)) else {
        return (Vec::new(), false);
    };
    let scale = base.summary.speedup / scaling.baseline as f64;
    const SAMPLES: usize = 48;
    let curve = (0..=SAMPLES)
        .map(|i| lo + (hi - lo) * i as f64 / SAMPLES as f64)
        .map(|n| (n, usl.speedup(n) * scale))
        .collect();
    (curve, scaling.meaningless().is_none())
}

/// A named line through `data`.
fn line<'a>(screen: &SweepScreen, name: &'a str, color: Color, data: &'a [(f64, f64)]) -> Dataset<'a> {
    // Braille draws a fine line; in ASCII, a point a cell.
    let marker = if screen.theme.ascii { Marker::Dot } else { Marker::Braille };
    Dataset::default().name(name).marker(marker).graph_type(GraphType::Line).style(screen.fg(color)).data(data)
}

/// The measured points themselves, marked on their line (unnamed: not in the legend).
fn measured<'a>(screen: &SweepScreen, color: Color, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default().marker(Marker::Dot).graph_type(GraphType::Scatter).style(screen.fg(color)).data(data)
}

/// On a small chart the legend would sit on the curve: it is left out.
fn legend_fits(area: Rect) -> bool {
    area.width >= 56 && area.height >= 16
}

/// The y axis from 0 to a round number at or above `top`, ticked every round step (about
/// one tick per four rows, at most five).
fn y_axis(top: f64, rows: u16) -> Axis<'static> {
    let (top, labels) = y_ticks(top, rows);
    Axis::default().bounds([0.0, top]).labels(labels)
}

/// The axis' top and its tick labels: 0, then every 1, 2 or 5 × 10ⁿ up to the top.
fn y_ticks(top: f64, rows: u16) -> (f64, Vec<String>) {
    let ticks = f64::from((rows / 4).clamp(1, 4));
    let raw = (top / ticks).max(1e-9);
    let unit = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * unit).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * unit);
    let n = (top / step - 1e-9).ceil().max(1.0) as usize;
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    let labels = (0..=n).map(|i| format!("{:.*}", decimals, i as f64 * step)).collect();
    (n as f64 * step, labels)
}

/// A chart against the workers, from 0 to `top`.
fn chart<'a>(
    screen: &SweepScreen,
    title: &'a str,
    datasets: Vec<Dataset<'a>>,
    legend: LegendPosition,
    top: f64,
    area: Rect,
) -> Chart<'a> {
    Chart::new(datasets)
        .block(Block::bordered().title(title))
        .legend_position(legend_fits(area).then_some(legend))
        .hidden_legend_constraints(LEGEND_FITS)
        .x_axis(workers_axis(screen))
        .y_axis(y_axis(top, area.height.saturating_sub(4)))
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::scenario::SweepPoint;
    use crate::trace::Summary;

    fn point(workers: usize, makespan_us: u64) -> SweepPoint {
        let speedup = 8e6 / makespan_us as f64;
        let summary = Summary { makespan_us, tasks: 8, ok: 8, speedup, workers, ..Summary::default() };
        SweepPoint { workers, summary, program: None }
    }

    fn screen(done: bool) -> SweepScreen {
        SweepScreen {
            title: "Pool sizing".into(),
            setting: "thread pool · sizes 1..4 · SIM time".into(),
            note: Some("Note: the lesson resizes its pool at step 3".into()),
            sizes: vec![1, 2, 3, 4],
            sweep: Sweep { points: vec![point(1, 8_000_000), point(2, 4_000_000)] },
            table: vec!["workers  makespan".into(), "      1   8.000 s".into(), "      2   4.000 s".into()],
            reading: if done { vec!["Fastest: 2 workers, 4.000 s.".into()] } else { Vec::new() },
            done,
            theme: Theme::MONO,
        }
    }

    #[test]
    fn shows_progress_charts_and_table_and_survives_any_size() {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal.draw(|f| render(&screen(false), f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("Sweep 2/4 done, running 3 workers"), "{text}");
        assert!(text.contains("Note: the lesson resizes its pool at step 3"), "its own line: {text}");
        assert!(text.contains("Makespan (s) by workers"));
        assert!(text.contains("Speed-up"));
        // Each measured point is marked, and the y axis has ticks between 0 and the top.
        assert!(text.contains('•'), "{text}");
        assert_eq!(y_ticks(8.8, 8), (10.0, vec!["0".into(), "5".into(), "10".into()]));
        assert_eq!(y_ticks(8.8, 16), (10.0, vec!["0".into(), "5".into(), "10".into()]));
        assert_eq!(y_ticks(7.5, 16).1, ["0", "2", "4", "6", "8"]);
        assert_eq!(y_ticks(0.33, 12).1, ["0.0", "0.2", "0.4"]);
        assert!(text.contains("8.000 s"));
        terminal.draw(|f| render(&screen(true), f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("Fastest: 2 workers"), "{text}");
        let mut many = screen(true);
        many.table = std::iter::once("workers".to_string()).chain((1..=16).map(|n| format!("row {n}"))).collect();
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal.draw(|f| render(&many, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(
            text.contains("row 16") && text.contains("Fastest: 2 workers"),
            "the latest rows and the reading: {text}"
        );
        assert!(text.contains("smaller sizes above"), "{text}");
        for (w, h) in [(1, 1), (10, 3), (40, 12), (80, 24), (120, 40), (200, 60)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| render(&screen(true), f)).unwrap();
            if std::env::var_os("SHOW_SWEEP").is_some() {
                eprintln!("{}", terminal.backend());
            }
        }
    }

    #[test]
    fn a_done_sweep_draws_the_fitted_law_beside_the_points() {
        let mut done = screen(true);
        // 10 % serial: 1 / (0.1 + 0.9/n) of 8 s.
        done.sweep.points = (1..=4).map(|n| point(n, (8e6 * (0.1 + 0.9 / n as f64)) as u64)).collect();
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal.draw(|f| render(&done, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("USL fit (model)"), "{}", terminal.backend());
        let (curve, fits) = usl_curve(&done.sweep, 1.0, 4.0);
        assert!(fits);
        assert_eq!(curve.first().map(|p| p.0), Some(1.0));
        assert!((curve.last().unwrap().1 - 1.0 / (0.1 + 0.9 / 4.0)).abs() < 0.01, "{curve:?}");
        // Running, or two sizes: no model yet.
        terminal.draw(|f| render(&SweepScreen { done: false, ..done.clone() }, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(!text.contains("USL fit"), "{text}");
        assert!(usl_curve(&screen(true).sweep, 1.0, 4.0).0.is_empty());
    }

    #[test]
    fn ascii_charts_plot_points_as_stars() {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let ascii = SweepScreen { theme: Theme::DARK.with_ascii(true), ..screen(true) };
        terminal.draw(|f| render(&ascii, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{}", terminal.backend());
        assert!(text.contains('*') && text.contains("+-"), "{}", terminal.backend());
    }

    #[test]
    fn under_open_arrivals_the_p95_wait_is_charted_beside_the_model_on_a_log_scale() {
        let mut open = screen(true);
        // 20 tasks a second of 150 ms each: ρ = 3 / c, so the model has a p95 from 4 workers.
        open.sweep.points = (1..=6)
            .map(|n| {
                let mut p = point(n, 4_000_000);
                p.summary.queueing.open_arrival_rate = Some(20.0);
                p.summary.mean_run_us = 150_000.0;
                p.summary.wait_percentiles.p95_us = 4_000_000 / (n as u64).pow(3);
                p
            })
            .collect();
        open.sizes = (1..=6).collect();
        let waits = open.sweep.p95_waits();
        assert_eq!(waits.iter().filter(|w| w.model_us.is_some()).count(), 3, "{waits:?}");
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal.draw(|f| render(&open, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("p95 wait by workers (log scale)"), "{}", terminal.backend());
        assert!(text.contains("M/M/c model"), "{}", terminal.backend());
        assert!(text.contains("1 s") && text.contains("10 ms"), "decades on the axis: {}", terminal.backend());
        // Batches: no such chart.
        terminal.draw(|f| render(&screen(true), f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(!text.contains("p95 wait"), "{text}");
        for (w, h) in [(1, 1), (20, 6), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| render(&open, f)).unwrap();
        }
        assert_eq!(decades([0.009, 8.4].into_iter()), (-3, 1));
        assert_eq!(decades(std::iter::empty()), (-3, 0));
        assert_eq!(decades([0.5].into_iter()), (-1, 0), "at least one decade");
        let labels: Vec<String> = (-6..=1).map(decade_label).collect();
        assert_eq!(labels, ["1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s"]);
    }
}
