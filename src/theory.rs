//! Queueing and scaling models to set beside a measured run: what theory predicts for the
//! load a pool saw, and which law its speed-ups follow.
//!
//! - [`mmc`]: the M/M/c queue (Poisson arrivals, exponential service, `c` workers, one
//!   unbounded queue) — the chance a task waits ([`erlang_c`]) and its mean wait.
//! - [`little_items`], [`little_time`], [`little_rate`]: Little's law, `L = λW`, which holds
//!   for any stable queue whatever its distributions.
//! - [`fit_amdahl`] and [`fit_usl`]: Amdahl's law and Gunther's Universal Scalability Law
//!   fitted to measured `(workers, speed-up)` points, with R².
//!
//! These are models: a lesson's tasks are rarely exponential and its arrivals rarely
//! Poisson, so a prediction is a yardstick for the measurement, not a second measurement.
//!
//! ```
//! use poolscope::theory::{fit_usl, mmc};
//!
//! // 10 erlangs of traffic (a call a minute, ten minutes each) on 11 agents.
//! let queue = mmc(1.0, 10.0, 11).unwrap();
//! assert!((queue.p_wait - 0.6821).abs() < 1e-4);
//! assert!((queue.mean_wait - 6.821).abs() < 1e-3); // minutes
//!
//! // Speed-ups that peak at 10 workers.
//! let points: Vec<(f64, f64)> =
//!     [1.0, 2.0, 4.0, 8.0, 16.0].iter().map(|&n| (n, n / (1.0 + 0.01 * n * (n - 1.0)))).collect();
//! let usl = fit_usl(&points).unwrap();
//! assert!(usl.sigma.abs() < 1e-9 && (usl.kappa - 0.01).abs() < 1e-9);
//! assert!((usl.peak_workers().unwrap() - 10.0).abs() < 1e-6);
//! ```

use std::fmt;

/// What an M/M/c queue settles to: the numbers of [`mmc`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Mmc {
    /// Offered load `A = λS`, in erlangs: how many workers the work keeps busy on average.
    pub offered_load: f64,
    /// Utilisation `ρ = λS / c` of each worker, below 1.
    pub utilisation: f64,
    /// The chance an arriving task finds every worker busy and waits (Erlang C).
    pub p_wait: f64,
    /// Mean time in the queue, `Wq = P(wait) / (cμ − λ)`, in the unit of the service time.
    pub mean_wait: f64,
    /// Mean time from arrival to the end of service, `W = Wq + S`.
    pub mean_response: f64,
    /// Mean number of tasks waiting, `Lq = λ·Wq` (Little's law).
    pub mean_queue: f64,
    /// Mean number of tasks waiting or in service, `L = λ·W`.
    pub mean_in_system: f64,
}

/// Why a queue has no steady state to predict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QueueError {
    /// No workers.
    NoServers,
    /// The arrival rate or the service time is negative, zero where it must not be, or not
    /// a number.
    InvalidRate,
    /// `ρ ≥ 1`: work arrives at least as fast as the workers can do it, so the queue grows
    /// without bound.
    Unstable {
        /// `λS / c`.
        utilisation: f64,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::NoServers => write!(f, "a queue needs at least one worker"),
            QueueError::InvalidRate => write!(f, "the arrival rate and the service time must be positive numbers"),
            QueueError::Unstable { utilisation } => {
                write!(f, "utilisation {:.0} % is not below 100 %: the queue grows without bound", utilisation * 100.0)
            }
        }
    }
}

impl std::error::Error for QueueError {}

/// Erlang B: the chance a task is turned away when `offered` erlangs meet `servers` workers
/// and no queue.
///
/// Computed by the recursion `B(0) = 1`, `B(k) = A·B(k−1) / (k + A·B(k−1))`, which stays in
/// `[0, 1]` at every step: no factorials or powers overflow, for any number of workers.
pub fn erlang_b(servers: usize, offered: f64) -> f64 {
    (1..=servers).fold(1.0, |b, k| {
        let ab = offered * b;
        ab / (k as f64 + ab)
    })
}

/// Erlang C: the chance a task waits when `offered` erlangs (`λS`) meet `servers` workers
/// and one unbounded queue, or `None` when the queue is unstable (`offered ≥ servers`), there
/// are no workers or `offered` is negative or not a number.
///
/// From Erlang B: `C = c·B / (c − A·(1 − B))`.
///
/// ```
/// // Two erlangs on three workers: 4/9 wait.
/// let c = poolscope::theory::erlang_c(3, 2.0).unwrap();
/// assert!((c - 4.0 / 9.0).abs() < 1e-12);
/// assert_eq!(poolscope::theory::erlang_c(3, 3.0), None);
/// ```
pub fn erlang_c(servers: usize, offered: f64) -> Option<f64> {
    let c = servers as f64;
    if servers == 0 || offered.is_nan() || offered < 0.0 || offered >= c {
        return None;
    }
    let b = erlang_b(servers, offered);
    Some((c * b / (c - offered * (1.0 - b))).clamp(0.0, 1.0))
}

/// The M/M/c queue with `arrival_rate` tasks per unit time, a mean `service_time` in the
/// same unit and `servers` workers.
///
/// # Errors
/// [`QueueError::Unstable`] when `λS ≥ c`; [`QueueError::NoServers`] or
/// [`QueueError::InvalidRate`] for inputs no queue has.
pub fn mmc(arrival_rate: f64, service_time: f64, servers: usize) -> Result<Mmc, QueueError> {
    if servers == 0 {
        return Err(QueueError::NoServers);
    }
    let valid = |x: f64| x.is_finite() && x >= 0.0;
    if !valid(arrival_rate) || !valid(service_time) || service_time == 0.0 {
        return Err(QueueError::InvalidRate);
    }
    let offered = arrival_rate * service_time;
    let c = servers as f64;
    let utilisation = offered / c;
    let p_wait = erlang_c(servers, offered).ok_or(QueueError::Unstable { utilisation })?;
    // cμ − λ, in tasks per unit time.
    let mean_wait = p_wait / (c / service_time - arrival_rate);
    let mean_response = mean_wait + service_time;
    Ok(Mmc {
        offered_load: offered,
        utilisation,
        p_wait,
        mean_wait,
        mean_response,
        mean_queue: little_items(arrival_rate, mean_wait),
        mean_in_system: little_items(arrival_rate, mean_response),
    })
}

/// The `q`-quantile of the wait in an M/M/c queue (`q` in `0..1`, e.g. 0.95): the time that a
/// share `q` of the tasks wait at most. A task waits with chance `C` (Erlang C), and then for
/// an exponential time of rate `cμ − λ`, so `P(W > t) = C·e^{−(cμ−λ)t}`, and the quantile is 0
/// when `C ≤ 1 − q`, else `ln(C / (1 − q)) / (cμ − λ)`.
///
/// ```
/// // Two erlangs on three workers (λ = 2, S = 1): C = 4/9, cμ − λ = 1.
/// let p95 = poolscope::theory::mmc_wait_quantile(2.0, 1.0, 3, 0.95).unwrap();
/// assert!((p95 - (4.0f64 / 9.0 / 0.05).ln()).abs() < 1e-12);
/// // Fewer than half wait: the median wait is 0.
/// assert_eq!(poolscope::theory::mmc_wait_quantile(2.0, 1.0, 3, 0.5).unwrap(), 0.0);
/// ```
///
/// # Errors
/// As [`mmc`]; and [`QueueError::InvalidRate`] when `q` is not in `0..1`.
pub fn mmc_wait_quantile(arrival_rate: f64, service_time: f64, servers: usize, q: f64) -> Result<f64, QueueError> {
    if !(0.0..1.0).contains(&q) {
        return Err(QueueError::InvalidRate);
    }
    let queue = mmc(arrival_rate, service_time, servers)?;
    let tail = 1.0 - q;
    if queue.p_wait <= tail {
        return Ok(0.0);
    }
    let drain = servers as f64 / service_time - arrival_rate;
    Ok((queue.p_wait / tail).ln() / drain)
}

/// Little's law for the number present: `L = λW`, from the arrival rate and the mean time
/// each item stays.
pub fn little_items(arrival_rate: f64, mean_time: f64) -> f64 {
    arrival_rate * mean_time
}

/// Little's law for the time: `W = L / λ` (infinite when nothing arrives).
pub fn little_time(mean_items: f64, arrival_rate: f64) -> f64 {
    mean_items / arrival_rate
}

/// Little's law for the rate: `λ = L / W` (infinite when items stay no time).
pub fn little_rate(mean_items: f64, mean_time: f64) -> f64 {
    mean_items / mean_time
}

/// Amdahl's law fitted to speed-ups: `S(n) = 1 / (s + (1 − s)/n)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct AmdahlFit {
    /// The serial fraction `s`, in `[0, 1]`: the share of the work that more workers do not
    /// shorten.
    pub serial_fraction: f64,
    /// R² of the fitted speed-ups against the measured ones; `None` when the measured ones do
    /// not vary (one point, or all alike), so there is nothing to explain.
    pub r_squared: Option<f64>,
    /// How many points were fitted.
    pub points: usize,
}

impl AmdahlFit {
    /// The speed-up the fitted law gives `n` workers.
    pub fn speedup(&self, n: f64) -> f64 {
        amdahl(self.serial_fraction, n)
    }

    /// The speed-up no number of workers exceeds, `1/s` (infinite when `s = 0`).
    pub fn ceiling(&self) -> f64 {
        1.0 / self.serial_fraction
    }
}

fn amdahl(s: f64, n: f64) -> f64 {
    n / (1.0 + s * (n - 1.0))
}

/// Fits Amdahl's law to `(workers, speed-up)` points by least squares on the speed-ups,
/// the serial fraction kept in `[0, 1]`.
///
/// `None` when no point has a size other than 1 (every serial fraction fits those), or a
/// point's size or speed-up is not a positive number.
///
/// ```
/// use poolscope::theory::fit_amdahl;
/// // A tenth of the work is serial: 8 workers give 1 / (0.1 + 0.9/8) = 4.7×.
/// let points: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0].iter().map(|&n| (n, 1.0 / (0.1 + 0.9 / n))).collect();
/// let fit = fit_amdahl(&points).unwrap();
/// assert!((fit.serial_fraction - 0.1).abs() < 1e-6);
/// assert!(fit.r_squared.unwrap() > 0.999_999);
/// ```
pub fn fit_amdahl(points: &[(f64, f64)]) -> Option<AmdahlFit> {
    if !valid_points(points) || points.iter().all(|&(n, _)| n == 1.0) {
        return None;
    }
    let cost = |s: f64| points.iter().map(|&(n, y)| (y - amdahl(s, n)).powi(2)).sum::<f64>();
    // A coarse scan finds the basin (the cost need not be unimodal on all of [0, 1]), then a
    // golden-section search narrows it to machine precision.
    const STEPS: usize = 1000;
    let best = (0..=STEPS).min_by(|&a, &b| cost(a as f64 / STEPS as f64).total_cmp(&cost(b as f64 / STEPS as f64)))?;
    let step = 1.0 / STEPS as f64;
    let (mut lo, mut hi) = (((best as f64 - 1.0) * step).max(0.0), ((best as f64 + 1.0) * step).min(1.0));
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let (a, b) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        if cost(a) <= cost(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    let mid = (lo + hi) / 2.0;
    // The ends of [0, 1] are candidates too, first so that they win ties: the bracket's midpoint
    // never quite reaches them.
    let serial_fraction = [0.0, 1.0, mid].into_iter().min_by(|&a, &b| cost(a).total_cmp(&cost(b)))?;
    Some(AmdahlFit {
        serial_fraction,
        r_squared: r_squared(points, |n| amdahl(serial_fraction, n)),
        points: points.len(),
    })
}

/// The Universal Scalability Law fitted to speed-ups:
/// `S(n) = n / (1 + σ(n − 1) + κ·n(n − 1))`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct UslFit {
    /// σ, contention: the share of the work serialised on a shared resource (Amdahl's
    /// serial fraction when κ is 0).
    pub sigma: f64,
    /// κ, coherency: the cost of every pair of workers keeping each other consistent, which
    /// makes speed-up fall past a peak.
    pub kappa: f64,
    /// R² of the fitted speed-ups against the measured ones; `None` when the measured ones do
    /// not vary.
    pub r_squared: Option<f64>,
    /// How many points were fitted.
    pub points: usize,
}

impl UslFit {
    /// The speed-up the fitted law gives `n` workers.
    pub fn speedup(&self, n: f64) -> f64 {
        usl(self.sigma, self.kappa, n)
    }

    /// The size at which the fitted speed-up peaks, `√((1 − σ)/κ)`; `None` when κ is 0
    /// (speed-up only levels off) or σ ≥ 1 (it never rises).
    pub fn peak_workers(&self) -> Option<f64> {
        (self.kappa > 0.0 && self.sigma < 1.0).then(|| ((1.0 - self.sigma) / self.kappa).sqrt())
    }
}

fn usl(sigma: f64, kappa: f64, n: f64) -> f64 {
    n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// Fits the Universal Scalability Law to `(workers, speed-up)` points.
///
/// The law is linear in σ and κ after the usual transformation
/// `n/S − 1 = σ(n − 1) + κ·n(n − 1)`: a least-squares regression through the origin, with σ
/// and κ kept non-negative (when the free solution has one below 0, the better of the two
/// one-parameter fits is taken). R² is computed on the speed-ups, not on the transformed
/// values.
///
/// `None` when no point has a size other than 1, or a point's size or speed-up is not a
/// positive number.
pub fn fit_usl(points: &[(f64, f64)]) -> Option<UslFit> {
    if !valid_points(points) || points.iter().all(|&(n, _)| n == 1.0) {
        return None;
    }
    // Regressors x1 = n − 1, x2 = n(n − 1); response y = n/S − 1.
    let rows: Vec<(f64, f64, f64)> = points.iter().map(|&(n, s)| (n - 1.0, n * (n - 1.0), n / s - 1.0)).collect();
    let sum = |f: &dyn Fn(&(f64, f64, f64)) -> f64| rows.iter().map(f).sum::<f64>();
    let (s11, s12, s22) = (sum(&|r| r.0 * r.0), sum(&|r| r.0 * r.1), sum(&|r| r.1 * r.1));
    let (s1y, s2y) = (sum(&|r| r.0 * r.2), sum(&|r| r.1 * r.2));
    let residual = |sigma: f64, kappa: f64| sum(&|r| (r.2 - sigma * r.0 - kappa * r.1).powi(2));
    let det = s11 * s22 - s12 * s12;
    // Relative to the terms: sizes 1 and one other make x1 and x2 proportional.
    let free = (det.abs() > 1e-12 * s11 * s22)
        .then(|| ((s1y * s22 - s2y * s12) / det, (s2y * s11 - s1y * s12) / det))
        .filter(|&(sigma, kappa)| sigma >= 0.0 && kappa >= 0.0);
    let (sigma, kappa) = free.unwrap_or_else(|| {
        // One parameter at 0, the other by regression through the origin, kept at or above 0.
        let sigma_only = ((s1y / s11).max(0.0), 0.0);
        let kappa_only = (0.0, (s2y / s22).max(0.0));
        if residual(kappa_only.0, kappa_only.1) < residual(sigma_only.0, sigma_only.1) {
            kappa_only
        } else {
            sigma_only
        }
    });
    Some(UslFit { sigma, kappa, r_squared: r_squared(points, |n| usl(sigma, kappa, n)), points: points.len() })
}

fn valid_points(points: &[(f64, f64)]) -> bool {
    !points.is_empty() && points.iter().all(|&(n, s)| n.is_finite() && n >= 1.0 && s.is_finite() && s > 0.0)
}

/// `1 − SS_res / SS_tot` of `model` against the points' speed-ups; `None` when they do not
/// vary (SS_tot = 0).
fn r_squared(points: &[(f64, f64)], model: impl Fn(f64) -> f64) -> Option<f64> {
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let total: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let residual: f64 = points.iter().map(|&(n, s)| (s - model(n)).powi(2)).sum();
    // Variation at rounding level is no variation.
    (total > 1e-18 * mean * mean).then(|| 1.0 - residual / total)
}

#[cfg(test)]
mod tests;
