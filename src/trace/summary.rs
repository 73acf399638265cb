//! [`Summary`]: the numbers of a run — makespan, throughput, wait and run times and their
//! percentiles, utilisation, speed-up, and the queueing laws ([`Queueing`]) — computed from the
//! [`Model`], for the headless table, `--json` and the UI's stats panel.

use std::fmt;

use super::latency::{Percentiles, SIGNIFICANT_DIGITS};
use super::model::Model;
use super::queueing::{Caveat, Queueing};
use super::transcript::wrap;

/// The numbers of a run (so far).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Start of the run to its end (or to now).
    pub makespan_us: u64,
    /// Tasks submitted.
    pub tasks: usize,
    /// Tasks that returned a value.
    pub ok: usize,
    /// Tasks that raised or crashed.
    pub failed: usize,
    /// Tasks cancelled or abandoned before running.
    pub not_run: usize,
    /// Tasks that ran to an end, per second of makespan.
    pub throughput: f64,
    /// Mean submit-to-start time of the tasks that started.
    pub mean_wait_us: f64,
    /// Mean start-to-end time of the tasks that ended on a worker.
    pub mean_run_us: f64,
    /// Percentiles of the queue waits, to [`SIGNIFICANT_DIGITS`] significant digits.
    pub wait_percentiles: Percentiles,
    /// Percentiles of the run times, to [`SIGNIFICANT_DIGITS`] significant digits.
    pub run_percentiles: Percentiles,
    /// Busy time over alive time of the workers, 0..=1.
    pub utilisation: f64,
    /// The run times added up: how long one worker would take.
    pub serial_us: u64,
    /// `serial_us / makespan_us`.
    pub speedup: f64,
    /// Workers that ever ran.
    #[serde(rename = "workers_started")]
    pub workers: usize,
    /// Deepest queue.
    pub max_queue: usize,
    /// Where the time went: the workers' and the tasks'.
    pub time: TimeSplit,
    /// Little's law, the load and the M/M/c model for the run.
    pub queueing: Queueing,
}

/// Where the time of a run went (µs, added up over the workers, or over the tasks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TimeSplit {
    /// The workers' time alive.
    pub alive_us: u64,
    /// Of it, running a task: holding the GIL or on a core (or in a task's sleep, which
    /// needs neither).
    pub running_us: u64,
    /// Of it, in a task but waiting for the GIL.
    pub gil_wait_us: u64,
    /// Of it, alive with nothing to run.
    pub idle_us: u64,
    /// True when the run reported its GIL (poolscope's thread pool with `gil = true`): only
    /// then is `gil_wait_us` measured. CPython's real GIL is not seen.
    pub gil_reported: bool,
    /// The tasks' queue waits added up (submit to start).
    pub queued_us: u64,
    /// Their run times added up (start to end).
    pub run_us: u64,
}

impl TimeSplit {
    /// The split of `model`'s time up to `now` (µs).
    pub fn of(model: &Model, now: u64) -> TimeSplit {
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(now)).sum();
        let busy: u64 = model.lanes.values().map(|l| l.busy_until(now)).sum::<u64>().min(alive);
        let gil_wait = model.gil_ledger.total_waited_until(now).min(busy);
        TimeSplit {
            alive_us: alive,
            running_us: busy - gil_wait,
            gil_wait_us: gil_wait,
            idle_us: alive - busy,
            gil_reported: model.gil_ledger.seen,
            queued_us: model.totals.wait_sum_us,
            run_us: model.totals.run_sum_us,
        }
    }

    /// `part` as a whole percentage of `whole` (0 when `whole` is 0).
    pub fn percent(part: u64, whole: u64) -> f64 {
        if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
    }

    /// The workers' split in words: `running 25 % · GIL wait 75 % · idle 0 %` (no GIL part
    /// when the run reported none).
    pub fn workers_text(&self) -> String {
        let pct = |part| Self::percent(part, self.alive_us);
        if self.gil_reported {
            format!(
                "running {:.0} % · GIL wait {:.0} % · idle {:.0} %",
                pct(self.running_us),
                pct(self.gil_wait_us),
                pct(self.idle_us)
            )
        } else {
            format!("running {:.0} % · idle {:.0} %", pct(self.running_us), pct(self.idle_us))
        }
    }

    /// The tasks' split in words: `queued 40 % · running 60 %`.
    pub fn tasks_text(&self) -> String {
        let whole = self.queued_us.saturating_add(self.run_us);
        format!(
            "queued {:.0} % · running {:.0} %",
            Self::percent(self.queued_us, whole),
            Self::percent(self.run_us, whole)
        )
    }
}

impl Summary {
    /// Computes the summary of `model`.
    pub fn of(model: &Model) -> Summary {
        let makespan_us = model.makespan_us.unwrap_or(model.now_us);
        // Running totals: the model keeps only a window of task records.
        let totals = &model.totals;
        let mean = |sum: u64, n: usize| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        // One worker alone would take each task's nominal cost (not its stretched run time
        // under a GIL or on busy cores).
        let serial_us = totals.serial_sum_us;
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(makespan_us)).sum();
        let busy: u64 = model.lanes.values().map(|l| l.busy_until(makespan_us)).sum();
        let secs = makespan_us as f64 / 1e6;
        Summary {
            makespan_us,
            tasks: model.submitted(),
            ok: totals.done,
            failed: totals.failed + totals.crashed,
            not_run: totals.cancelled + totals.abandoned,
            throughput: if secs > 0.0 { totals.ran as f64 / secs } else { 0.0 },
            mean_wait_us: mean(totals.wait_sum_us, totals.started),
            mean_run_us: mean(totals.run_sum_us, totals.ran),
            wait_percentiles: totals.wait_latency.percentiles(),
            run_percentiles: totals.run_latency.percentiles(),
            utilisation: if alive > 0 { (busy as f64 / alive as f64).min(1.0) } else { 0.0 },
            serial_us,
            speedup: if makespan_us > 0 { serial_us as f64 / makespan_us as f64 } else { 0.0 },
            workers: model.lanes.len(),
            max_queue: model.max_queue_depth,
            time: TimeSplit::of(model, makespan_us),
            queueing: Queueing::of(model, makespan_us),
        }
    }
}

impl Summary {
    /// Tasks that ran to an end on a worker, returning or raising.
    pub fn ran(&self) -> usize {
        self.ok + self.failed
    }

    /// The same numbers in lesson time: a run at `--speed F` took `1/F` of the lesson's
    /// durations, so its times are multiplied by `F` and its rates divided by `F`.
    pub fn in_lesson_time(&self, speed: f64) -> Summary {
        let up = |us: u64| (us as f64 * speed) as u64;
        Summary {
            makespan_us: up(self.makespan_us),
            throughput: self.throughput / speed,
            mean_wait_us: self.mean_wait_us * speed,
            mean_run_us: self.mean_run_us * speed,
            wait_percentiles: self.wait_percentiles.scaled(speed),
            run_percentiles: self.run_percentiles.scaled(speed),
            queueing: self.queueing.in_lesson_time(speed),
            time: TimeSplit {
                alive_us: up(self.time.alive_us),
                running_us: up(self.time.running_us),
                gil_wait_us: up(self.time.gil_wait_us),
                idle_us: up(self.time.idle_us),
                queued_us: up(self.time.queued_us),
                run_us: up(self.time.run_us),
                ..self.time
            },
            serial_us: up(self.serial_us),
            ..self.clone()
        }
    }
}

/// `1.234 s`, `12.3 ms`, `45 µs`.
pub fn human_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.3} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// A percentile to the 3 significant digits it has: `3.00 s`, `12.5 ms`, `480 µs`.
pub fn percentile_us(us: u64) -> String {
    let us = us as f64;
    let (value, unit) = if us >= 999_500.0 {
        (us / 1e6, "s")
    } else if us >= 999.5 {
        (us / 1e3, "ms")
    } else {
        return format!("{us:.0} µs");
    };
    let decimals = if value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// `1.00 ms / 2.00 ms / 3.00 ms`: p50 / p95 / p99.
pub fn percentiles_text(p: Percentiles) -> String {
    format!("{} / {} / {}", percentile_us(p.p50_us), percentile_us(p.p95_us), percentile_us(p.p99_us))
}

const RULE: &str = "+----------------+------------------------------------+------------------------------------------+";

impl fmt::Display for Summary {
    /// The summary table of a headless run, then the queueing laws and the notes on them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = format!("{SIGNIFICANT_DIGITS} significant digits");
        let rows: Vec<(&str, String, String)> = vec![
            ("makespan", human_us(self.makespan_us as f64), "start of the run to its end".into()),
            (
                "tasks",
                format!("{} ({} ok, {} failed, {} never ran)", self.tasks, self.ok, self.failed, self.not_run),
                String::new(),
            ),
            ("throughput", format!("{:.2} tasks/s", self.throughput), "tasks run / makespan".into()),
            ("mean wait", human_us(self.mean_wait_us), "in the queue: submit -> start".into()),
            ("wait p50/95/99", percentiles_text(self.wait_percentiles), format!("wait percentiles, {digits}")),
            ("mean run", human_us(self.mean_run_us), "on a worker: start -> finish".into()),
            ("run p50/95/99", percentiles_text(self.run_percentiles), format!("run percentiles, {digits}")),
            (
                "utilisation",
                format!("{:.0} %", self.utilisation * 100.0),
                "busy time / alive time of the workers".into(),
            ),
            ("serial sum", human_us(self.serial_us as f64), "the tasks one by one on one free worker".into()),
            ("speed-up", format!("{:.2}x", self.speedup), "serial sum / makespan".into()),
            ("workers", self.workers.to_string(), "workers that ever started".into()),
            ("max queue", self.max_queue.to_string(), "most tasks waiting at once".into()),
        ];
        writeln!(f, "{RULE}")?;
        writeln!(f, "| {:<14} | {:<34} | {:<40} |", "summary", "", "meaning")?;
        writeln!(f, "{RULE}")?;
        for (name, value, meaning) in rows {
            writeln!(f, "| {name:<14} | {value:<34} | {meaning:<40} |")?;
        }
        for (name, value, meaning) in self.time_rows() {
            writeln!(f, "| {name:<14} | {value:<34} | {meaning:<40} |")?;
        }
        writeln!(f, "{RULE}")?;
        write!(f, "{}", self.queueing_rows())?;
        write!(f, "{RULE}")
    }
}

impl Summary {
    /// Where the time went: the workers' (running, waiting for the GIL when the run reported
    /// it, idle) and the tasks' (queued, running).
    fn time_rows(&self) -> Vec<(&'static str, String, &'static str)> {
        let time = &self.time;
        let share = |part| format!("{:.0} %", TimeSplit::percent(part, time.alive_us));
        let mut split = Vec::new();
        if time.gil_reported {
            split.push(("worker run", share(time.running_us), "in a task, holding the GIL (or in I/O)"));
            split.push(("GIL wait", share(time.gil_wait_us), "workers in a task, waiting for the GIL"));
        } else {
            split.push(("worker run", share(time.running_us), "workers running a task"));
        }
        split.push(("worker idle", share(time.idle_us), "workers alive with nothing to run"));
        let whole = time.queued_us.saturating_add(time.run_us);
        let tasks_time = format!(
            "{:.0} % / {:.0} %",
            TimeSplit::percent(time.queued_us, whole),
            TimeSplit::percent(time.run_us, whole)
        );
        split.push(("queued / run", tasks_time, "the tasks' time: queued / on a worker"));
        split
    }

    /// The queueing part of the table: Little's law, the load, the M/M/c model and its
    /// caveats.
    fn queueing_rows(&self) -> String {
        let q = &self.queueing;
        let model = match q.mmc_wait_us {
            Some(us) => format!("{} (measured {})", human_us(us), human_us(self.mean_wait_us)),
            None if q.caveats.contains(&Caveat::EventLoop) => "none: not c workers".into(),
            None if q.load >= 1.0 => "none: ρ ≥ 1, no steady state".into(),
            None => "none: no task ran".into(),
        };
        let rows: [(&str, String, String); 4] = [
            ("arrivals λ", format!("{:.2} tasks/s", q.arrival_rate), "tasks submitted / the pool's lifetime".into()),
            (
                "waiting L",
                format!("{:.2} (λ·W = {:.2})", q.mean_waiting, q.little_waiting),
                "mean tasks waiting; Little: L = λ·W".into(),
            ),
            (
                "load ρ",
                match q.poisson_rate() {
                    Some(rate) => format!("{:.2} (λ {rate:.2}/s while they came)", q.load),
                    None => format!("{:.2}", q.load),
                },
                format!("λ·S / c: S mean run, c = {} worker{}", q.workers, if q.workers == 1 { "" } else { "s" }),
            ),
            ("M/M/c wait", model, "Erlang C model's mean wait for λ, S, c".into()),
        ];
        let mut out = String::new();
        out.push_str(&format!("| {:<14} | {:<34} | {:<40} |\n", "queueing", "", "a model: see the caveats"));
        out.push_str(RULE);
        out.push('\n');
        for (name, value, meaning) in rows {
            out.push_str(&format!("| {name:<14} | {value:<34} | {meaning:<40} |\n"));
        }
        for caveat in &q.caveats {
            let text = format!("M/M/c model: {caveat}");
            for (i, line) in wrap(&text, 77, "").lines().enumerate() {
                let name = if i == 0 { "caveat" } else { "" };
                out.push_str(&format!("| {name:<14} | {line:<77} |\n"));
            }
        }
        out
    }
}
