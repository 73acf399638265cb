//! [`Queueing`]: the queueing laws for a run so far, from the [`Model`] and
//! [`crate::theory`] — Little's law measured both ways, the load `ρ`, and the M/M/c (Erlang C)
//! predicted wait beside the measured one, with [`Caveat`]s where the model's assumptions do
//! not hold.

use std::fmt;

use super::model::Model;
use crate::pool::PoolKind;
use crate::theory::{self, QueueError};

/// Below this coefficient of variation the gaps between submits are too regular to be
/// Poisson arrivals (whose gaps have a CV of 1), above [`BURSTY_CV`] too bursty.
pub const REGULAR_CV: f64 = 0.5;
/// See [`REGULAR_CV`].
pub const BURSTY_CV: f64 = 2.0;
/// Submits that all came within this share of the run came in a batch, not over time.
pub const BATCH_SHARE: f64 = 0.1;

/// When tasks were submitted, folded one submit at a time in constant memory: the count,
/// the first and last times, and the running mean and variance of the gaps between them
/// (Welford's method).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Arrivals {
    /// Submits counted.
    pub count: u64,
    /// The first submit (µs).
    pub first_us: u64,
    /// The latest submit (µs).
    pub last_us: u64,
    gap_mean: f64,
    gap_m2: f64,
}

impl Arrivals {
    /// Counts a submit at `t`.
    pub fn submit(&mut self, t: u64) {
        if self.count == 0 {
            self.first_us = t;
        } else {
            // This is gap number `count` (one fewer gaps than submits).
            let gap = t.saturating_sub(self.last_us) as f64;
            let delta = gap - self.gap_mean;
            self.gap_mean += delta / self.count as f64;
            self.gap_m2 += delta * (gap - self.gap_mean);
        }
        self.count += 1;
        self.last_us = self.last_us.max(t);
    }

    /// The mean gap between submits (µs); `None` before the second.
    pub fn mean_gap_us(&self) -> Option<f64> {
        (self.count >= 2).then_some(self.gap_mean)
    }

    /// The coefficient of variation of the gaps between submits (standard deviation over
    /// mean): 1 for Poisson arrivals, 0 for a metronome. `None` with fewer than two gaps or
    /// when they are all 0 (every submit at one instant).
    pub fn gap_cv(&self) -> Option<f64> {
        let gaps = self.count.saturating_sub(1);
        (gaps >= 2 && self.gap_mean > 0.0).then(|| (self.gap_m2.max(0.0) / gaps as f64).sqrt() / self.gap_mean)
    }

    /// First submit to the latest (µs).
    pub fn span_us(&self) -> u64 {
        self.last_us.saturating_sub(self.first_us)
    }
}

/// Why the M/M/c model does not describe a run: the assumptions it makes that the run broke.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caveat {
    /// A thread pool under a GIL ran CPU-bound tasks at once: they took turns, so the workers
    /// were not servers working in parallel.
    Gil,
    /// More CPU-bound tasks ran at once than there are CPUs for them (`cpus`: the cores, or
    /// one event loop): they slowed each other down.
    SharedCpus {
        /// The CPUs they shared.
        cpus: usize,
    },
    /// Every submit came within `span_share` of the run (at most [`BATCH_SHARE`]): a batch,
    /// not arrivals over time.
    Batch {
        /// First submit to last, over the elapsed time.
        span_share: f64,
    },
    /// The gaps between submits have this coefficient of variation, far from Poisson's 1.
    Arrivals {
        /// Standard deviation over mean of the gaps.
        cv: f64,
    },
    /// A coroutine pool runs its tasks at once on one event loop, as many as come: not `c`
    /// workers each serving one task.
    EventLoop,
    /// `ρ ≥ 1`: no steady state.
    Unstable {
        /// `λS / c`.
        load: f64,
    },
}

impl Caveat {
    /// In a few words, for the live panel.
    pub fn short(&self) -> String {
        match self {
            Caveat::Gil => "GIL: CPU-bound threads take turns".into(),
            Caveat::SharedCpus { cpus } => format!("CPU-bound tasks shared {cpus} CPU{}", plural(*cpus)),
            Caveat::Batch { .. } => "submitted in a batch, not arriving".into(),
            Caveat::Arrivals { cv } => format!("submit gaps CV {cv:.2}, not Poisson"),
            Caveat::EventLoop => "event loop: not c workers".into(),
            Caveat::Unstable { .. } => "ρ ≥ 1: queue grows without bound".into(),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl fmt::Display for Caveat {
    /// In plain words, for the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caveat::Gil => write!(
                f,
                "a GIL thread pool ran CPU-bound tasks: its threads took turns on one CPU, so its workers \
                 were not servers working in parallel"
            ),
            Caveat::SharedCpus { cpus } => write!(
                f,
                "more CPU-bound tasks ran at once than {cpus} CPU{} can run: they slowed each other down, \
                 so the workers were not independent servers",
                plural(*cpus)
            ),
            Caveat::Batch { span_share } => write!(
                f,
                "the tasks were submitted in a batch (all within {:.0} % of the run), not arriving over \
                 time: the queue is a backlog draining, not a steady state",
                span_share * 100.0
            ),
            Caveat::Arrivals { cv } => write!(
                f,
                "the gaps between submits have a coefficient of variation of {cv:.2} (Poisson arrivals \
                 have 1): arrivals too {} for the model",
                if *cv < 1.0 { "regular" } else { "bursty" }
            ),
            Caveat::EventLoop => write!(
                f,
                "a coroutine pool runs every task it is given at once on one event loop, so it is not c \
                 workers each serving one task; the model does not apply"
            ),
            Caveat::Unstable { load } => write!(
                f,
                "ρ = {load:.2} is not below 1: work came in at least as fast as the workers could do it, so \
                 there is no steady state; arriving at that rate for good, the queue would grow without bound"
            ),
        }
    }
}

/// The queueing laws for a run so far.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Queueing {
    /// λ: tasks submitted per second since the pool's start.
    pub arrival_rate: f64,
    /// `L`, measured: the time-average number of tasks waiting (submitted, not started).
    pub mean_waiting: f64,
    /// `λ·W`: the arrival rate times the mean measured wait. Little's law says it equals `L`
    /// once every task that came has started.
    pub little_waiting: f64,
    /// `c`: the workers alive on average since the pool's start, rounded (the pool's size when
    /// it did not change); the pool's size before any worker came up.
    pub workers: usize,
    /// `ρ = λS / c`, `S` the mean run time, `λ` the [`offered_rate`](Self::offered_rate).
    pub load: f64,
    /// The mean wait (µs) of an M/M/c queue with this λ, S and c (Erlang C); `None` when it
    /// has no steady state (`ρ ≥ 1`) or nothing ran yet.
    pub mmc_wait_us: Option<f64>,
    /// The chance a task waits in that M/M/c queue.
    pub mmc_p_wait: Option<f64>,
    /// The coefficient of variation of the gaps between submits (Poisson: 1).
    pub arrival_cv: Option<f64>,
    /// λ while the tasks came: the submits after the first per second of the time from the
    /// first to the last (an `arrive` step's rate, measured); `None` for fewer than two
    /// submits or submits at one instant.
    pub open_arrival_rate: Option<f64>,
    /// The model's assumptions this run broke.
    pub caveats: Vec<Caveat>,
}

impl Queueing {
    /// The laws for `model` from the pool's start (its first worker up or task submitted:
    /// [`Model::pool_span_us`]) to `now_us`.
    pub fn of(model: &Model, now_us: u64) -> Queueing {
        let totals = &model.totals;
        let span_us = model.pool_span_us(now_us);
        let secs = span_us as f64 / 1e6;
        let arrival_rate = if secs > 0.0 { model.submitted() as f64 / secs } else { 0.0 };
        let mean = |sum: u64, n: usize| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        let wait_s = mean(totals.wait_sum_us, totals.started) / 1e6;
        let run_s = mean(totals.run_sum_us, totals.ran) / 1e6;
        let alive: u64 = model.lanes.values().map(|l| l.alive_until(now_us)).sum();
        let workers = if alive > 0 && span_us > 0 {
            ((alive as f64 / span_us as f64).round() as usize).max(1)
        } else {
            model.pool_size
        };
        let event_loop = model.pool == Some(PoolKind::Coroutine);
        let mut caveats = Vec::new();
        if event_loop {
            caveats.push(Caveat::EventLoop);
        }
        if model.cpu_contended && !event_loop {
            if model.gil && model.pool == Some(PoolKind::Thread) {
                caveats.push(Caveat::Gil);
            } else if let Some(cpus) = model.cpu_ceiling() {
                caveats.push(Caveat::SharedCpus { cpus });
            }
        }
        let arrivals = &model.arrivals;
        let span_share = if span_us > 0 { arrivals.span_us() as f64 / span_us as f64 } else { 0.0 };
        let arrival_cv = arrivals.gap_cv();
        if arrivals.count >= 2 && span_share <= BATCH_SHARE {
            caveats.push(Caveat::Batch { span_share });
        } else if let Some(cv) = arrival_cv.filter(|cv| !(REGULAR_CV..=BURSTY_CV).contains(cv)) {
            caveats.push(Caveat::Arrivals { cv });
        }
        let open_arrival_rate = (arrivals.count >= 2 && arrivals.span_us() > 0)
            .then(|| (arrivals.count - 1) as f64 / (arrivals.span_us() as f64 / 1e6));
        // Tasks arriving as a Poisson process load the pool at the rate they came, not at
        // that rate spread over the time the queue then took to drain.
        let offered_rate = open_arrival_rate.filter(|_| poisson(&caveats)).unwrap_or(arrival_rate);
        let load = if workers > 0 { offered_rate * run_s / workers as f64 } else { 0.0 };
        let model_queue = (totals.ran > 0 && !event_loop).then(|| theory::mmc(offered_rate, run_s, workers));
        if let Some(Err(QueueError::Unstable { utilisation })) = model_queue {
            caveats.push(Caveat::Unstable { load: utilisation });
        }
        let queue = model_queue.and_then(Result::ok);
        Queueing {
            arrival_rate,
            mean_waiting: model.mean_waiting(now_us),
            little_waiting: theory::little_items(arrival_rate, wait_s),
            workers,
            load,
            mmc_wait_us: queue.map(|q| q.mean_wait * 1e6),
            mmc_p_wait: queue.map(|q| q.p_wait),
            arrival_cv,
            open_arrival_rate,
            caveats,
        }
    }

    /// The rate while the tasks came, when they came as a Poisson process (spread over time,
    /// gaps about as varied as Poisson's): the λ of the load and the model.
    pub fn poisson_rate(&self) -> Option<f64> {
        self.open_arrival_rate.filter(|_| poisson(&self.caveats))
    }

    /// The λ of the load and the M/M/c model: the [`poisson_rate`](Self::poisson_rate) when
    /// there is one, else `arrival_rate`.
    pub fn offered_rate(&self) -> f64 {
        self.poisson_rate().unwrap_or(self.arrival_rate)
    }

    /// The same in lesson time: a run at `--speed F` took `1/F` of the lesson's durations.
    /// Counts and ratios stay; rates divide by `F` and times multiply by it.
    pub fn in_lesson_time(&self, speed: f64) -> Queueing {
        Queueing {
            arrival_rate: self.arrival_rate / speed,
            open_arrival_rate: self.open_arrival_rate.map(|rate| rate / speed),
            mmc_wait_us: self.mmc_wait_us.map(|us| us * speed),
            ..self.clone()
        }
    }
}

/// No caveat says the submits were a batch or far from Poisson.
fn poisson(caveats: &[Caveat]) -> bool {
    !caveats.iter().any(|c| matches!(c, Caveat::Batch { .. } | Caveat::Arrivals { .. }))
}
