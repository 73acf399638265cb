//! [`Summary`]: the numbers of a run — makespan, throughput, wait and run times, utilisation,
//! speed-up — computed from the [`Model`], for the headless table and the UI's stats panel.

use std::fmt;

use super::model::Model;

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
            utilisation: if alive > 0 { (busy as f64 / alive as f64).min(1.0) } else { 0.0 },
            serial_us,
            speedup: if makespan_us > 0 { serial_us as f64 / makespan_us as f64 } else { 0.0 },
            workers: model.lanes.len(),
            max_queue: model.max_queue_depth,
            time: TimeSplit::of(model, makespan_us),
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

impl fmt::Display for Summary {
    /// The summary table of a headless run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: [(&str, String, &str); 8] = [
            ("makespan", human_us(self.makespan_us as f64), "start of the run to its end"),
            (
                "tasks",
                format!("{} ({} ok, {} failed, {} never ran)", self.tasks, self.ok, self.failed, self.not_run),
                "",
            ),
            ("throughput", format!("{:.2} tasks/s", self.throughput), "tasks run / makespan"),
            ("mean wait", human_us(self.mean_wait_us), "in the queue: submit -> start"),
            ("mean run", human_us(self.mean_run_us), "on a worker: start -> finish"),
            ("utilisation", format!("{:.0} %", self.utilisation * 100.0), "busy time / alive time of the workers"),
            ("serial sum", human_us(self.serial_us as f64), "the tasks one by one on one free worker"),
            ("speed-up", format!("{:.2}x", self.speedup), "serial sum / makespan"),
        ];
        writeln!(
            f,
            "+--------------+------------------------------------+----------------------------------------------+"
        )?;
        writeln!(f, "| {:<12} | {:<34} | {:<44} |", "summary", "", "meaning")?;
        writeln!(
            f,
            "+--------------+------------------------------------+----------------------------------------------+"
        )?;
        for (name, value, meaning) in rows {
            writeln!(f, "| {name:<12} | {value:<34} | {meaning:<44} |")?;
        }
        writeln!(f, "| {:<12} | {:<34} | {:<44} |", "workers", self.workers, "workers that ever started")?;
        writeln!(f, "| {:<12} | {:<34} | {:<44} |", "max queue", self.max_queue, "most tasks waiting at once")?;
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
        let tasks_time = format!(
            "{:.0} % / {:.0} %",
            TimeSplit::percent(time.queued_us, time.queued_us.saturating_add(time.run_us)),
            TimeSplit::percent(time.run_us, time.queued_us.saturating_add(time.run_us))
        );
        split.push(("queued / run", tasks_time, "the tasks' time: in the queue / on a worker"));
        for (name, value, meaning) in split {
            writeln!(f, "| {name:<12} | {value:<34} | {meaning:<44} |")?;
        }
        write!(
            f,
            "+--------------+------------------------------------+----------------------------------------------+"
        )
    }
}
