//! [`Latency`]: the distribution of a run's queue waits or run times, in bounded memory, for
//! their percentiles.
//!
//! The model keeps only a window of task records, and a run may have a million tasks, so the
//! times go into an HDR histogram (the `hdrhistogram` crate): every value is kept to
//! [`SIGNIFICANT_DIGITS`] significant digits (within 0.1 %), whatever its size, in a few
//! tens of kilobytes.

use hdrhistogram::Histogram;

/// The precision of a percentile: 3 significant digits, so a percentile is within 0.1 % of
/// the time of the task it names (within 0.05 % as [`Latency::at`] reads it).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The 50th, 95th and 99th percentiles of some times (µs), by nearest rank: `p95` is the
/// smallest time that 95 % of the tasks took at most. All 0 before any task is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    /// The median.
    pub p50_us: u64,
    /// 95 % took at most this.
    pub p95_us: u64,
    /// 99 % took at most this.
    pub p99_us: u64,
}

impl Percentiles {
    /// Every percentile times `factor` (a run at `--speed F` shown in lesson time).
    pub fn scaled(self, factor: f64) -> Percentiles {
        let up = |us: u64| (us as f64 * factor) as u64;
        Percentiles { p50_us: up(self.p50_us), p95_us: up(self.p95_us), p99_us: up(self.p99_us) }
    }
}

/// Times in µs, counted in an HDR histogram.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency { histogram: Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision") }
    }
}

impl PartialEq for Latency {
    /// The same times counted, however far each histogram has grown.
    fn eq(&self, other: &Latency) -> bool {
        let recorded = |h: &Histogram<u64>| {
            h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>()
        };
        self.histogram.len() == other.histogram.len() && recorded(&self.histogram) == recorded(&other.histogram)
    }
}

impl Eq for Latency {}

impl Latency {
    /// Counts one time.
    pub fn record(&mut self, us: u64) {
        // The histogram grows to fit; only a time past its largest trackable value (near
        // u64::MAX / 2, from a corrupt log) is clamped.
        if self.histogram.record(us).is_err() {
            self.histogram.saturating_record(us);
        }
    }

    /// Takes back one `record(us)`: only for a task whose time an odd event changed, so the
    /// cost of a scratch histogram does not matter.
    pub fn unrecord(&mut self, us: u64) {
        let mut one = Histogram::new_from(&self.histogram);
        if one.record(us).is_err() {
            one.saturating_record(us);
        }
        // Fails only if `us` was never counted; then there is nothing to take back.
        let _ = self.histogram.subtract(&one);
    }

    /// How many times are counted.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The time at `quantile` (0..=1) by nearest rank, within the precision: the middle of
    /// the histogram's bucket that holds it (so within 0.05 %: a 2 s task reads 2.000 s, not
    /// the bucket's top, 2.001 s). 0 when empty.
    pub fn at(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.median_equivalent(self.histogram.value_at_quantile(quantile))
    }

    /// The median, 95th and 99th percentiles.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles { p50_us: self.at(0.50), p95_us: self.at(0.95), p99_us: self.at(0.99) }
    }

    /// The coefficient of variation (standard deviation over mean) of the times; `None` with
    /// fewer than two or a mean of 0.
    pub fn cv(&self) -> Option<f64> {
        let mean = self.histogram.mean();
        (self.histogram.len() >= 2 && mean > 0.0).then(|| self.histogram.stdev() / mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_times_by_nearest_rank() {
        let mut latency = Latency::default();
        // 1..=1000 ms: p50 is 500 ms, p95 950 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            latency.record(ms * 1000);
        }
        let p = latency.percentiles();
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 1e-3;
        assert!(close(p.p50_us, 500_000), "{p:?}");
        assert!(close(p.p95_us, 950_000), "{p:?}");
        assert!(close(p.p99_us, 990_000), "{p:?}");
        assert_eq!(latency.count(), 1000);
    }

    #[test]
    fn unrecord_takes_a_time_back() {
        let mut latency = Latency::default();
        latency.record(10);
        latency.record(5_000_000);
        latency.unrecord(5_000_000);
        assert_eq!(latency.count(), 1);
        assert_eq!(latency.percentiles(), Percentiles { p50_us: 10, p95_us: 10, p99_us: 10 });
        assert_eq!(latency, {
            let mut one = Latency::default();
            one.record(10);
            one
        });
    }

    #[test]
    fn empty_is_zero_and_cv_needs_two() {
        let mut latency = Latency::default();
        assert_eq!(latency.percentiles(), Percentiles::default());
        latency.record(100);
        assert_eq!(latency.cv(), None);
        latency.record(100);
        assert_eq!(latency.cv(), Some(0.0));
    }
}
