//! The models beside a sweep's measurements: under open arrivals, the p95 wait against the
//! M/M/c model's (Erlang C); and Amdahl's law and the USL fitted to the speed-ups.

use poolscope::scenario::Sweep;
use poolscope::scenario::sweep::{FIT_MIN_R_SQUARED, FIT_MIN_SIZES, P95Wait};
use poolscope::trace::percentile_us;

use super::sweep::workers;

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
