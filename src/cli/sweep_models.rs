//! The models beside a sweep's measurements: under open arrivals, the p95 wait against the
//! M/M/c model's (Erlang C); and Amdahl's law and the USL fitted to the speed-ups.

use poolscope::scenario::Sweep;
use poolscope::scenario::sweep::{FIT_MIN_R_SQUARED, FIT_MIN_SIZES};
use poolscope::theory;
use poolscope::trace::percentile_us;

use super::sweep::workers;

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

/// Under open arrivals (at every size the tasks came over time, not in a batch, with gaps
/// about as varied as a Poisson process's), each size's p95
/// wait beside the M/M/c model's for the arrival rate measured while they came, the mean run
/// time measured at that size, and the size; empty for a lesson that submits in batches.
pub fn p95_waits(sweep: &Sweep) -> Vec<P95Wait> {
    if sweep.points.is_empty() || !sweep.points.iter().all(|p| p.summary.queueing.poisson_rate().is_some()) {
        return Vec::new();
    }
    sweep
        .points
        .iter()
        .map(|p| {
            let s = &p.summary;
            let rate = s.queueing.poisson_rate().unwrap_or(0.0);
            let service = s.mean_run_us / 1e6;
            let model = theory::mmc_wait_quantile(rate, service, p.workers, 0.95).ok();
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

/// The p95 wait by size, measured (bars) beside the model's, labelled as a model.
pub fn p95_chart(waits: &[P95Wait]) -> Vec<String> {
    let longest = waits.iter().map(|w| w.measured_us).max().unwrap_or(0).max(1);
    let mut lines = vec![
        "p95 wait by pool size (█ measured) beside the M/M/c model's (Erlang C, a model: Poisson".to_string(),
        "arrivals and exponential run times, at the λ and S measured at each size)".to_string(),
    ];
    for w in waits {
        let width = (40 * w.measured_us).div_ceil(longest) as usize;
        let model = match w.model_us {
            Some(us) => format!("model {}", percentile_us(us.round() as u64)),
            None => format!("model: none, ρ {:.3} ≥ 1", w.load),
        };
        let bar = format!("{} {}", "█".repeat(width), percentile_us(w.measured_us));
        lines.push(format!("{:>7} {bar:<50} {model}", w.workers));
    }
    if waits.iter().all(|w| w.fixed_runs) {
        lines.push("The run times hardly vary, where the model assumes them exponential: it over-states".into());
        lines.push("the wait (with fixed run times, M/D/c, the mean wait is about half).".into());
    }
    lines
}

/// Amdahl's law and the USL fitted to the speed-ups, labelled as models, with the USL's best
/// size beside the measured knee — or why they say nothing here.
pub fn models(sweep: &Sweep) -> Vec<String> {
    let Some(scaling) = sweep.scaling() else { return Vec::new() };
    if scaling.speedups.len() < FIT_MIN_SIZES {
        return vec![format!("Models: not fitted: {}.", scaling.meaningless().unwrap_or_default())];
    }
    let mut lines = vec![format!(
        "Models fitted to the speed-ups over {}{} (theory beside the measurement):",
        workers(scaling.baseline),
        if scaling.baseline == 1 { String::new() } else { format!(", taken as {}× one", scaling.baseline) }
    )];
    if let Some(amdahl) = scaling.amdahl {
        let ceiling = if amdahl.serial_fraction > 0.0 {
            format!(" (no size beats {:.1}×)", amdahl.ceiling())
        } else {
            " (no serial part)".to_string()
        };
        lines.push(format!(
            "  Amdahl's law: serial fraction {:.3}{ceiling}, {}",
            amdahl.serial_fraction,
            r_squared(amdahl.r_squared)
        ));
    }
    if let Some(usl) = scaling.usl {
        lines.push(format!(
            "  Universal Scalability Law: contention σ {:.3}, coherency κ {:.4}, {}",
            usl.sigma,
            usl.kappa,
            r_squared(usl.r_squared)
        ));
        let largest = scaling.speedups.iter().map(|p| p.0).max().unwrap_or(0);
        let best = match usl.peak_workers() {
            // Judged on the size shown: 4.02 is "4 workers", which a sweep to 4 tried.
            Some(peak) if peak.round() > largest as f64 => format!("{peak:.0} workers (beyond the sizes tried)"),
            Some(peak) if peak.round() <= 1.0 => "1 worker".to_string(),
            Some(peak) => format!("{peak:.0} workers"),
            None if usl.sigma >= 1.0 => "none (σ = 1: more workers never help)".to_string(),
            None => "none (κ = 0: the speed-up levels off, never falls)".to_string(),
        };
        let knee = sweep.knee().map(|k| format!(" · measured knee: {}", workers(k.workers))).unwrap_or_default();
        lines.push(format!("  USL's best size √((1−σ)/κ): {best}{knee}"));
    }
    if let Some(why) = scaling.meaningless() {
        lines.push(format!("  These fits mean little: {why}."));
    }
    lines
}

/// `R² 0.987`, flagged when the law does not fit.
fn r_squared(r2: Option<f64>) -> String {
    match r2 {
        Some(r) if r < FIT_MIN_R_SQUARED => format!("R² {r:.3}, a poor fit"),
        Some(r) => format!("R² {r:.3}"),
        None => "R² undefined".to_string(),
    }
}
