//! The stats: elapsed, throughput, mean wait and run and their percentiles, utilisation,
//! speed-up, and where there is room the queueing laws (Little's law, the load ρ, the M/M/c
//! model's wait and its caveats) — from running sums and histograms, so a frame does not walk
//! every task.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::state::{UiState, short_us};
use super::view::View;
use crate::trace::{Caveat, Percentiles, Queueing, TimeSplit};

/// The numbers the panel shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Time since the run began (µs).
    pub elapsed_us: u64,
    /// Tasks that ended on a worker.
    pub ran: u64,
    /// Tasks submitted.
    pub submitted: usize,
    /// Tasks ended per second.
    pub throughput: f64,
    /// Mean queue wait (µs).
    pub mean_wait_us: u64,
    /// Mean run time (µs).
    pub mean_run_us: u64,
    /// Percentiles of the queue waits.
    pub wait: Percentiles,
    /// Percentiles of the run times.
    pub run: Percentiles,
    /// Little's law, the load and the M/M/c model so far.
    pub queueing: Queueing,
    /// Busy over alive time of the workers, 0..=1.
    pub utilisation: f64,
    /// Where the time went: the workers' (running, GIL wait, idle) and the tasks'.
    pub time: TimeSplit,
    /// The finished tasks' serial time (one after another on one free worker) over the
    /// elapsed time; `None` until a task ended, when there is nothing to measure yet. Work in
    /// progress does not count: a guess from it overstates (four threads that have run for
    /// 0.9 s are not a 4× speed-up if they share one GIL).
    pub speedup: Option<f64>,
    /// The CPU-bound part of it is above what the pool's CPUs can give (the cores, or one
    /// under a GIL or on one event loop): the tasks ran faster than their nominal cost, so
    /// the figure says more than it should, and the panel says so.
    pub above_ceiling: Option<usize>,
    /// True when tasks may have slowed each other down (a GIL, saturated cores): the
    /// ratio above is then how much they overlapped, not a speed-up over one worker.
    pub shared: bool,
}

impl Stats {
    /// The stats of `view` now.
    pub fn of(view: &View) -> Stats {
        let t = &view.timeline;
        let now = view.now_us;
        let model = &view.model;
        let busy: u64 = model.lanes.values().map(|l| l.busy_until(now)).sum();
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(now)).sum();
        let secs = now as f64 / 1e6;
        // With nominal costs the ratio is a true speed-up; run times stretched by a GIL or
        // busy cores only measure overlap (and may pass the core count: say so, not "speed-up").
        let shared = (model.gil || model.cpu_contended || view.cpu_contended) && t.uncosted > 0;
        Stats {
            elapsed_us: now,
            ran: t.ran,
            submitted: model.submitted(),
            throughput: if secs > 0.0 { t.ran as f64 / secs } else { 0.0 },
            mean_wait_us: t.wait_sum_us.checked_div(t.started).unwrap_or(0),
            mean_run_us: t.run_sum_us.checked_div(t.ran).unwrap_or(0),
            wait: model.totals.wait_latency.percentiles(),
            run: model.totals.run_latency.percentiles(),
            queueing: Queueing::of(model, now),
            utilisation: if alive > 0 { (busy as f64 / alive as f64).min(1.0) } else { 0.0 },
            time: TimeSplit::of(model, now),
            speedup: (t.ran > 0 && now > 0).then(|| t.serial_sum_us as f64 / now as f64),
            above_ceiling: model
                .cpu_ceiling()
                .filter(|&c| now > 0 && t.serial_cpu_us as f64 / now as f64 > c as f64 && !shared),
            shared,
        }
    }
}

impl Stats {
    /// The speed-up as the panel shows it: `—` before a task ended, and a note when it is
    /// above what the CPUs allow.
    pub fn speedup_text(&self, wide: bool) -> String {
        let Some(speedup) = self.speedup else {
            return if wide { "— (no task has ended yet)".into() } else { "—".into() };
        };
        match (self.above_ceiling, wide) {
            (Some(cpus), true) => {
                format!(
                    "{speedup:.2}× — over {cpus} CPU{}: tasks ran faster than their cost",
                    if cpus == 1 { "" } else { "s" }
                )
            }
            (Some(cpus), false) => format!("{speedup:.2}× (> {cpus} CPU)"),
            (None, true) if self.shared => format!("{speedup:.2}× (tasks shared CPUs)"),
            (None, true) => format!("{speedup:.2}× vs one worker"),
            (None, false) => format!("{speedup:.2}×"),
        }
    }
}

/// p50 / p95 / p99 in at most `room` columns if it can: `1ms/20ms/1.5s`, or with the unit
/// once when they share it, `1/20/35ms` — to 3 significant digits, or as the panel's other
/// times (`1.8s`, `960ms`) where that is too wide.
fn percentiles(p: Percentiles, room: usize) -> String {
    let three = join([p.p50_us, p.p95_us, p.p99_us].map(compact));
    if three.chars().count() <= room { three } else { join([p.p50_us, p.p95_us, p.p99_us].map(short_us)) }
}

fn join(texts: [String; 3]) -> String {
    let split = |t: &str| {
        let at = t.find(|c: char| c.is_alphabetic()).unwrap_or(t.len());
        (t[..at].to_string(), t[at..].to_string())
    };
    let [a, b, c] = texts.clone().map(|t| split(&t));
    if a.1 == b.1 && b.1 == c.1 { format!("{}/{}/{}{}", a.0, b.0, c.0, c.1) } else { texts.join("/") }
}

/// A percentile to the 3 significant digits it has, without trailing zeros: `1.99s`, `2s`,
/// `600ms` (for 599.8 ms, a 600 ms task in the histogram), `12.5ms`, `40µs`.
fn compact(us: u64) -> String {
    if us < 1000 {
        return if us == 0 { "0s".into() } else { format!("{us}µs") };
    }
    let unit = 10f64.powi((us as f64).log10().floor() as i32 - 2);
    let rounded = (us as f64 / unit).round() * unit;
    let (value, name) = if rounded >= 1e6 { (rounded / 1e6, "s") } else { (rounded / 1e3, "ms") };
    let decimals = (2 - value.log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{name}")
}

/// The panel's rows, in the order shown, each with its rank: when the panel is short, the
/// rows of the best ranks (lowest) stay.
fn rows(s: &Stats, wide: bool, room: usize) -> Vec<(u8, &'static str, String)> {
    let q = &s.queueing;
    let mut rows = vec![
        (13, "elapsed", short_us(s.elapsed_us)),
        (
            2,
            "tasks",
            if wide {
                format!("{} ran / {} submitted", s.ran, s.submitted)
            } else {
                format!("{}/{} ran · {:.1}/s", s.ran, s.submitted, s.throughput)
            },
        ),
        (12, "throughput", format!("{:.1} tasks/s", s.throughput)),
        (10, "mean wait", short_us(s.mean_wait_us)),
        (3, "wait p50/95/99", percentiles(s.wait, room)),
        (11, "mean run", short_us(s.mean_run_us)),
        (4, "run p50/95/99", percentiles(s.run, room)),
        (
            5,
            "utilisation",
            match (wide, s.time.gil_reported) {
                // The time lost to the GIL goes beside the utilisation.
                (_, true) => format!(
                    "{:.0}% · GIL wait {:.0}%",
                    s.utilisation * 100.0,
                    TimeSplit::percent(s.time.gil_wait_us, s.time.alive_us)
                ),
                (true, false) => format!("{:.0}% of worker time busy", s.utilisation * 100.0),
                (false, false) => format!("{:.0}%", s.utilisation * 100.0),
            },
        ),
        (1, if s.shared { "overlap" } else { "speed-up" }, s.speedup_text(wide)),
        (
            6,
            "load ρ",
            if wide {
                format!("{:.2} = λ·S/c (λ {:.1}/s, c {})", q.load, q.offered_rate(), q.workers)
            } else {
                format!("{:.2} = λ·S/c", q.load)
            },
        ),
        (
            7,
            "M/M/c wait",
            match q.mmc_wait_us {
                Some(us) if wide => {
                    format!("{} model · {} measured", short_us(us as u64), short_us(s.mean_wait_us))
                }
                Some(us) => format!("{}, real {}", short_us(us as u64), short_us(s.mean_wait_us)),
                None if q.caveats.contains(&Caveat::EventLoop) => "— (not c workers)".into(),
                None if q.load >= 1.0 => "— (ρ ≥ 1: no steady state)".into(),
                None => "—".into(),
            },
        ),
        (
            9,
            "L vs λ·W",
            if wide {
                format!("{:.2} waiting vs {:.2} (Little)", q.mean_waiting, q.little_waiting)
            } else {
                format!("{:.2} vs {:.2}", q.mean_waiting, q.little_waiting)
            },
        ),
    ];
    // Where the time went, last, when there is room.
    rows.push((20, "workers", s.time.workers_text()));
    rows.push((21, "tasks' time", s.time.tasks_text()));
    // The caveats under the model's line, the first ranked next to it.
    let at = rows.iter().position(|r| r.1 == "M/M/c wait").map_or(rows.len(), |i| i + 1);
    for (i, caveat) in q.caveats.iter().enumerate() {
        let rank = if i == 0 { 8 } else { 14 + i as u8 };
        rows.insert(at + i, (rank, "⚠", caveat.short()));
    }
    rows
}

/// Draws the stats panel.
///
/// ```text
/// ─ Stats ──────────────────────────────────
/// tasks       6/10 ran · 3.2/s             (short panels keep the best-ranked rows)
/// wait p50/95/99  0s/1s/1s
/// run p50/95/99   1s/1s/1s
/// utilisation 100%
/// speed-up    2.00×
/// load ρ      0.95 = λ·S/c                  (with room: the queueing laws)
/// M/M/c wait  120ms, real 300ms
/// ⚠ batch submit, not arrivals
/// ```
pub fn render(view: &View, ui: &UiState, frame: &mut Frame, area: Rect) {
    let s = Stats::of(view);
    let block = Block::new().borders(Borders::TOP).title(Span::styled(" Stats ", ui.title(None)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let wide = inner.width >= 44;
    // Beside the percentiles' 15-column names.
    let mut rows = rows(&s, wide, usize::from(inner.width).saturating_sub(15));
    let room = inner.height as usize;
    if rows.len() > room {
        let mut ranks: Vec<u8> = rows.iter().map(|r| r.0).collect();
        ranks.sort_unstable();
        let cut = ranks.get(room.saturating_sub(1)).copied().unwrap_or(0);
        rows.retain(|r| r.0 <= cut);
        rows.truncate(room);
    }
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(_, name, value)| {
            if name == "⚠" {
                return Line::from(Span::styled(format!("⚠ {value}"), ui.dim()));
            }
            // The percentiles' long names line up at 15, the others at 12.
            let width = if name.chars().count() >= 12 { 15 } else { 12 };
            Line::from(vec![Span::styled(format!("{name:<width$}"), ui.dim()), Span::styled(value, Style::new())])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The stats in one line, for screens with no room for the panel:
/// `speed-up 2.00× · 8/8 ran · 3.2/s · busy 90%`.
pub fn one_line(view: &View, ui: &UiState) -> Line<'static> {
    let s = Stats::of(view);
    let name = if s.shared { "overlap " } else { "speed-up " };
    Line::from(vec![
        Span::styled(name, ui.dim()),
        Span::styled(s.speedup_text(false), Style::new().add_modifier(ratatui::style::Modifier::BOLD)),
        Span::styled(
            format!(" · {}/{} ran · {:.1}/s · busy {:.0}%", s.ran, s.submitted, s.throughput, s.utilisation * 100.0),
            ui.dim(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_read_to_three_digits_with_the_unit_once_when_shared() {
        assert_eq!(compact(599_808), "600ms");
        assert_eq!(compact(1_990_656), "1.99s");
        assert_eq!(compact(12_480), "12.5ms");
        assert_eq!(compact(40), "40µs");
        assert_eq!(compact(0), "0s");
        let p = |a, b, c| Percentiles { p50_us: a, p95_us: b, p99_us: c };
        assert_eq!(percentiles(p(1_000_192, 2_000_384, 2_000_384), 16), "1/2/2s");
        assert_eq!(percentiles(p(500_000, 2_000_384, 2_000_384), 16), "500ms/2s/2s");
        assert_eq!(percentiles(p(0, 0, 0), 16), "0/0/0s");
        // Too wide for the room at 3 digits: as the panel's other times.
        assert_eq!(percentiles(p(960_400, 1_861_000, 1_940_000), 30), "960ms/1.86s/1.94s");
        assert_eq!(percentiles(p(960_400, 1_861_000, 1_940_000), 16), "960ms/1.9s/1.9s");
    }
}
