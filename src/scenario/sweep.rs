//! Sizing a pool: one scenario run at several worker counts ([`measure_unless`] each), and the
//! reading an engineer wants from it ([`Sweep::knee`]: the smallest pool nearly as fast as the
//! fastest), and the scaling laws fitted to its speed-ups ([`Sweep::scaling`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use super::model::Scenario;
use super::pool_override::PoolOverride;
use super::runner::{Run, RunError, RunOptions};
use crate::theory::{AmdahlFit, UslFit, fit_amdahl, fit_usl};
use crate::trace::{Model, Summary, TraceEvent, TraceKind};

/// Runs `scenario` to its end, showing `seen` each event, and gives its numbers in lesson
/// time (a run at `--speed F` is reported as the lesson would take at speed 1) — or, once
/// `stop` is set, aborts the run (terminates its pool) and gives `None` without waiting for
/// its main program.
///
/// # Errors
/// The run could not start.
pub fn measure_unless(
    scenario: &Scenario,
    options: &RunOptions,
    stop: &AtomicBool,
    mut seen: impl FnMut(&TraceEvent),
) -> Result<Option<Summary>, RunError> {
    let run = Run::start(scenario, options)?;
    let mut model = Model::new();
    while !stop.load(Ordering::Relaxed) {
        match run.events().recv_timeout(Duration::from_millis(50)) {
            Ok(event) => {
                model.apply(&event);
                seen(&event);
                if matches!(event.kind, TraceKind::End { .. }) {
                    run.join();
                    return Ok(Some(Summary::of(&model).in_lesson_time(model.speed)));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The run's stream ended without its `end` (its main program died): what it did.
            Err(RecvTimeoutError::Disconnected) => return Ok(Some(Summary::of(&model).in_lesson_time(model.speed))),
        }
    }
    run.abort();
    Ok(None)
}

/// One size of a sweep and what the run at that size did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SweepPoint {
    /// The pool's size.
    pub workers: usize,
    /// The run's numbers, in lesson time (its `workers` is how many ever started).
    #[serde(flatten)]
    pub summary: Summary,
    /// A script's run: how its program ended and where its output is; `None` for a lesson.
    #[serde(flatten)]
    pub program: Option<ProgramRun>,
}

/// How a script's program ended at one size of a sweep, and where its output was kept.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProgramRun {
    /// `python3`'s exit status: 0 when the program ran to its end, 128 + N when signal N
    /// ended it.
    pub exit_status: i32,
    /// When it failed, the last line its stderr shows (a traceback's exception).
    pub error: Option<String>,
    /// The file with its stdout.
    pub stdout: std::path::PathBuf,
    /// The file with its stderr.
    pub stderr: std::path::PathBuf,
    /// The pools it made, in order, and the size each got.
    pub pools: Vec<crate::scenario::cpython::MadePool>,
}

/// The points of a sweep so far, in the order they ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sweep {
    /// One per size.
    pub points: Vec<SweepPoint>,
}

/// How close to the fastest makespan counts as "as fast", for [`Sweep::knee`].
pub const KNEE_WITHIN: f64 = 0.10;

impl Sweep {
    /// Runs `scenario` at each of `sizes`, in order, calling `each` after every run (to print
    /// or draw it); stops early when `each` returns false, or mid-run once `stop` is set.
    ///
    /// # Errors
    /// A run could not start; the points measured before it are lost with it only if the
    /// caller did not keep them from `each`.
    pub fn run(
        scenario: &Scenario,
        sizes: &[usize],
        options: &RunOptions,
        stop: &AtomicBool,
        each: impl FnMut(&Sweep) -> bool,
    ) -> Result<Sweep, SweepError> {
        let measure = |workers: usize, stop: &AtomicBool| {
            let sized = PoolOverride::workers(workers).apply(scenario).map_err(SweepError::Override)?;
            let summary = measure_unless(&sized, options, stop, |_| {}).map_err(SweepError::Run)?;
            Ok(summary.map(|summary| SweepPoint { workers, summary, program: None }))
        };
        Sweep::run_with(sizes, stop, each, measure)
    }

    /// As [`Sweep::run`], each size measured by `measure` (`None`: stopped mid-run).
    ///
    /// # Errors
    /// What `measure` gives.
    pub fn run_with(
        sizes: &[usize],
        stop: &AtomicBool,
        mut each: impl FnMut(&Sweep) -> bool,
        mut measure: impl FnMut(usize, &AtomicBool) -> Result<Option<SweepPoint>, SweepError>,
    ) -> Result<Sweep, SweepError> {
        let mut sweep = Sweep::default();
        for &workers in sizes {
            let Some(point) = measure(workers, stop)? else { break };
            sweep.points.push(point);
            if !each(&sweep) {
                break;
            }
        }
        Ok(sweep)
    }

    /// The sizes whose program failed (a script's sweep): left out of the reading.
    pub fn failed(&self) -> Vec<usize> {
        self.points.iter().filter(|p| p.failed()).map(|p| p.workers).collect()
    }

    /// The points that ran the most tasks: a size whose pool broke (or whose tasks were
    /// cancelled) did less work, and its time says nothing about its speed; nor does that of
    /// a size whose program failed.
    pub fn complete(&self) -> impl Iterator<Item = &SweepPoint> {
        let ran = || self.points.iter().filter(|p| !p.failed());
        let most = ran().map(SweepPoint::ran).max().unwrap_or(0);
        ran().filter(move |p| p.ran() == most)
    }

    /// The sizes left out of [`Sweep::complete`] for running fewer tasks (not those that
    /// failed: see [`Sweep::failed`]).
    pub fn incomplete(&self) -> Vec<usize> {
        let ran = || self.points.iter().filter(|p| !p.failed());
        let most = ran().map(SweepPoint::ran).max().unwrap_or(0);
        ran().filter(|p| p.ran() < most).map(|p| p.workers).collect()
    }

    /// Of the complete points, the one with the shortest makespan.
    pub fn fastest(&self) -> Option<&SweepPoint> {
        self.complete().min_by_key(|p| (p.summary.makespan_us, p.workers))
    }

    /// Of the complete points, the smallest pool whose makespan is within [`KNEE_WITHIN`] of
    /// the fastest: beyond it, more workers buy little.
    pub fn knee(&self) -> Option<&SweepPoint> {
        let best = self.fastest()?.summary.makespan_us as f64;
        self.complete().filter(|p| p.summary.makespan_us as f64 <= best * (1.0 + KNEE_WITHIN)).min_by_key(|p| p.workers)
    }
}

/// Fewer complete sizes than this and a fitted law says nothing: two points fit any curve
/// with one parameter, and the USL has two.
pub const FIT_MIN_SIZES: usize = 3;

/// Below this R², a fitted law does not describe the speed-ups.
pub const FIT_MIN_R_SQUARED: f64 = 0.9;

/// Amdahl's law and the Universal Scalability Law fitted to a sweep's speed-ups: models of
/// how the lesson scales, beside what it measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scaling {
    /// The size the speed-ups are measured from (the smallest complete one): the speed-up at
    /// `n` is `baseline · makespan(baseline) / makespan(n)`, so it is `n` when `baseline`
    /// workers were exactly `baseline` times one.
    pub baseline: usize,
    /// `(workers, speed-up)` of each complete size, in the order they ran.
    pub speedups: Vec<(usize, f64)>,
    /// Amdahl's law, or `None` when only the baseline ran.
    pub amdahl: Option<AmdahlFit>,
    /// The USL, or `None` when only the baseline ran.
    pub usl: Option<UslFit>,
}

impl Scaling {
    /// Why the fits say nothing about this sweep, if they do not: too few sizes, or a law
    /// that does not fit.
    pub fn meaningless(&self) -> Option<String> {
        let sizes = self.speedups.len();
        if sizes < FIT_MIN_SIZES {
            return Some(format!(
                "{} too few to fit a law ({FIT_MIN_SIZES} needed)",
                if sizes == 1 { "1 size is".to_string() } else { format!("{sizes} sizes are") }
            ));
        }
        let r2 = [self.amdahl.and_then(|f| f.r_squared), self.usl.and_then(|f| f.r_squared)];
        match r2 {
            [None, None] => Some("the speed-ups do not vary, so there is nothing for a law to explain".to_string()),
            _ if r2.iter().flatten().all(|&r| r < FIT_MIN_R_SQUARED) => Some(format!(
                "neither law describes these speed-ups (R² below {FIT_MIN_R_SQUARED}); a hard limit such as the \
                 cores or the number of tasks shapes them instead"
            )),
            _ => None,
        }
    }
}

impl Sweep {
    /// The speed-ups of the complete sizes and the laws fitted to them; `None` before a
    /// complete size has run.
    pub fn scaling(&self) -> Option<Scaling> {
        let base = self.complete().filter(|p| p.summary.makespan_us > 0).min_by_key(|p| p.workers)?;
        let base_time = base.workers as f64 * base.summary.makespan_us as f64;
        let speedups: Vec<(usize, f64)> = self
            .complete()
            .filter(|p| p.summary.makespan_us > 0)
            .map(|p| (p.workers, base_time / p.summary.makespan_us as f64))
            .collect();
        let points: Vec<(f64, f64)> = speedups.iter().map(|&(n, s)| (n as f64, s)).collect();
        Some(Scaling { baseline: base.workers, amdahl: fit_amdahl(&points), usl: fit_usl(&points), speedups })
    }
}

impl SweepPoint {
    /// Tasks that ran to an end on a worker, returning or raising.
    pub fn ran(&self) -> usize {
        self.summary.ran()
    }

    /// A script's program that exited with an error at this size.
    pub fn failed(&self) -> bool {
        self.program.as_ref().is_some_and(|p| p.exit_status != 0)
    }
}

/// One size's p95 wait, measured and as the M/M/c model (Erlang C) predicts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct P95Wait {
    /// The pool's size.
    pub workers: usize,
    /// The measured p95 of the queue wait (µs).
    pub measured_us: u64,
    /// `ρ = λ·S / c` for the arrival rate while the tasks came, the mean run time and the size.
    pub load: f64,
    /// The model's p95 wait (µs); `None` at `ρ ≥ 1`, where the queue has no steady state.
    pub model_us: Option<f64>,
    /// The run times hardly varied (p99 within 10 % of p50), unlike the model's exponential.
    pub fixed_runs: bool,
}

impl Sweep {
    /// Under open arrivals (at every size the tasks came over time, not in a batch, with gaps
    /// about as varied as a Poisson process's), each size's p95 wait beside the M/M/c model's
    /// for the arrival rate measured while they came, the mean run time measured at that size,
    /// and the size; empty for a lesson that submits in batches. Sizes whose program failed
    /// are left out.
    pub fn p95_waits(&self) -> Vec<P95Wait> {
        let ran: Vec<&SweepPoint> = self.points.iter().filter(|p| !p.failed()).collect();
        if ran.is_empty() || !ran.iter().all(|p| p.summary.queueing.poisson_rate().is_some()) {
            return Vec::new();
        }
        ran.into_iter()
            .map(|p| {
                let s = &p.summary;
                let rate = s.queueing.poisson_rate().unwrap_or(0.0);
                let service = s.mean_run_us / 1e6;
                let model = crate::theory::mmc_wait_quantile(rate, service, p.workers, 0.95).ok();
                P95Wait {
                    workers: p.workers,
                    measured_us: s.wait_percentiles.p95_us,
                    load: rate * service / p.workers as f64,
                    model_us: model.map(|secs| secs * 1e6),
                    fixed_runs: (s.run_percentiles.p99_us as f64) <= 1.1 * s.run_percentiles.p50_us as f64,
                }
            })
            .collect()
    }
}

/// Why a sweep stopped.
#[derive(Debug)]
pub enum SweepError {
    /// A size does not fit the scenario (a coroutine pool has one worker and cannot be
    /// swept).
    Override(String),
    /// A run could not start.
    Run(RunError),
    /// A script cannot be swept: it made no pool, or not the one asked for.
    Script(String),
    /// The program's output could not be kept.
    Output(std::io::Error),
}

impl std::fmt::Display for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepError::Override(e) => write!(f, "{e}"),
            SweepError::Run(e) => write!(f, "{e}"),
            SweepError::Script(e) => write!(f, "{e}"),
            SweepError::Output(e) => write!(f, "cannot keep the program's output: {e}"),
        }
    }
}

impl std::error::Error for SweepError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(workers: usize, makespan_ms: u64) -> SweepPoint {
        let summary = Summary { makespan_us: makespan_ms * 1000, ok: 4, workers, ..Summary::default() };
        SweepPoint { workers, summary, program: None }
    }

    #[test]
    fn the_knee_is_the_smallest_pool_nearly_as_fast_as_the_fastest() {
        let sweep = Sweep { points: vec![point(1, 800), point(2, 400), point(4, 210), point(8, 200), point(16, 205)] };
        assert_eq!(sweep.fastest().map(|p| p.workers), Some(8));
        assert_eq!(sweep.knee().map(|p| p.workers), Some(4), "210 ms is within 10 % of 200 ms");
        let flat = Sweep { points: vec![point(1, 100), point(2, 100)] };
        assert_eq!(flat.knee().map(|p| p.workers), Some(1));
        assert_eq!(Sweep::default().knee(), None);
    }

    #[test]
    fn the_laws_fit_the_speed_ups_over_the_smallest_size() {
        // 10 % serial: 1 / (0.1 + 0.9/n) of 1 000 ms.
        let amdahl = |n: u64| (1000.0 * (0.1 + 0.9 / n as f64)).round() as u64;
        let sweep = Sweep { points: [1, 2, 4, 8].iter().map(|&n| point(n as usize, amdahl(n))).collect() };
        let scaling = sweep.scaling().unwrap();
        assert_eq!(scaling.baseline, 1);
        assert_eq!(scaling.speedups[1], (2, 1000.0 / 550.0));
        assert!((scaling.amdahl.unwrap().serial_fraction - 0.1).abs() < 1e-3, "{scaling:?}");
        assert!(scaling.usl.unwrap().kappa < 1e-3, "{scaling:?}");
        assert_eq!(scaling.meaningless(), None);
        // Without the 1: the smallest size is taken as scaling perfectly.
        let from_two = Sweep { points: sweep.points[1..].to_vec() }.scaling().unwrap();
        assert_eq!((from_two.baseline, from_two.speedups[0]), (2, (2, 2.0)));
        let two = Sweep { points: sweep.points[..2].to_vec() }.scaling().unwrap();
        assert_eq!(two.meaningless().as_deref(), Some("2 sizes are too few to fit a law (3 needed)"));
        let flat = Sweep { points: vec![point(1, 100), point(2, 100), point(3, 100)] }.scaling().unwrap();
        assert!(flat.meaningless().unwrap().contains("do not vary"));
        assert_eq!(Sweep::default().scaling(), None);
    }

    #[test]
    fn a_size_that_ran_fewer_tasks_is_not_the_fastest() {
        let mut broke = point(1, 300);
        broke.summary.ok = 1;
        let sweep = Sweep { points: vec![broke, point(2, 2000), point(4, 1000)] };
        assert_eq!(sweep.fastest().map(|p| p.workers), Some(4));
        assert_eq!(sweep.knee().map(|p| p.workers), Some(4));
        assert_eq!(sweep.incomplete(), [1]);
    }

    #[test]
    fn a_size_whose_program_failed_is_left_out_of_the_reading() {
        let mut failed = point(2, 100);
        failed.program = Some(ProgramRun {
            exit_status: 1,
            error: Some("RuntimeError: boom".into()),
            stdout: "workers-2.stdout".into(),
            stderr: "workers-2.stderr".into(),
            pools: Vec::new(),
        });
        let sweep = Sweep { points: vec![point(1, 800), failed, point(4, 300)] };
        assert_eq!(sweep.failed(), [2]);
        assert_eq!(sweep.fastest().map(|p| p.workers), Some(4), "the failed size's short time does not count");
        assert!(sweep.incomplete().is_empty(), "failed, not incomplete");
        assert_eq!(sweep.scaling().unwrap().speedups.len(), 2);
    }
}
