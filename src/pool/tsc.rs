//! The real clock of a run: [`now`] reads the CPU's time-stamp counter ([`quanta`]) where it
//! is invariant, and the OS's monotonic clock elsewhere.
//!
//! A pool stamps three events per task, so the clock is on its hot path: reading the
//! counter costs about 10 ns here where `Instant::now()` (a `clock_gettime` call) costs
//! about 25 ns — for a tiny task, the difference between a probe that halves throughput
//! and one that does not. The counter is calibrated against the monotonic clock once per
//! process (under a millisecond), on first use; the two may drift apart by some
//! microseconds a second, so everything that compares with a stamp — deadlines, horizons,
//! a run's clock — reads this one ([`super::sync::now`] does in a real run).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Tsc {
    clock: quanta::Clock,
    /// The counter's reading at `at`.
    raw: u64,
    at: Instant,
}

static TSC: OnceLock<Tsc> = OnceLock::new();

#[inline(always)]
fn tsc() -> &'static Tsc {
    match TSC.get() {
        Some(tsc) => tsc,
        None => calibrate(),
    }
}

#[cold]
#[inline(never)]
fn calibrate() -> &'static Tsc {
    TSC.get_or_init(|| {
        let clock = quanta::Clock::new();
        let raw = clock.raw();
        Tsc { clock, raw, at: Instant::now() }
    })
}

/// Now, in real time.
pub fn now() -> Instant {
    let tsc = tsc();
    tsc.at + Duration::from_nanos(since_calibration())
}

/// Now, as nanoseconds after [`calibrated_at`]: [`now`] without building an `Instant`, for a
/// probe that keeps times as numbers. `calibrated_at() + since_calibration()` is exactly
/// what [`now`] returns.
#[inline]
pub fn since_calibration() -> u64 {
    let tsc = tsc();
    tsc.clock.delta_as_nanos(tsc.raw, tsc.clock.raw())
}

/// The instant the counter was calibrated at, from which [`since_calibration`] counts.
pub fn calibrated_at() -> Instant {
    tsc().at
}

/// Calibrates the clock now, off the hot path, if it was not yet.
pub fn warm_up() {
    tsc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_pace_with_the_monotonic_clock_and_never_goes_back() {
        // Each reading of ours is bracketed by two of the OS's, so a preemption between
        // them widens the bracket instead of failing the test.
        let (a, ours0, b) = (Instant::now(), now(), Instant::now());
        let mut last = ours0;
        for _ in 0..100_000 {
            let t = now();
            assert!(t >= last);
            last = t;
        }
        std::thread::sleep(Duration::from_millis(20));
        let (c, ours1, d) = (Instant::now(), now(), Instant::now());
        let ours = ours1 - ours0;
        // The calibration may be off by some parts per million: 50 µs is far more.
        let slack = Duration::from_micros(50);
        assert!(
            ours + slack >= c - b && ours <= (d - a) + slack,
            "ours {ours:?}, the OS's between {:?} and {:?}",
            c - b,
            d - a
        );
    }
}
