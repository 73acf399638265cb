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
    /// When `clock` reads the time-stamp counter: nanoseconds per 2^[`SCALE_SHIFT`] ticks,
    /// by `clock`'s calibration, so the hot path reads the counter itself, inline, instead
    /// of calling into `quanta` twice (neither call is inlined across crates).
    scale: Option<u64>,
}

/// [`Tsc::scale`] is per this power of two of ticks: 2^40 ticks are minutes at GHz rates, so
/// the scale keeps `quanta`'s precision, and a delta of up to 2^64 ticks times it fits in
/// 128 bits.
const SCALE_SHIFT: u32 = 40;

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
        let scale = counter_scale(&clock);
        Tsc { clock, raw, at: Instant::now(), scale }
    })
}

/// `clock`'s scale from ticks to nanoseconds, when what it reads is this CPU's time-stamp
/// counter: its raw reading falls between two reads of the counter (`quanta` falls back to
/// the OS's clock, counting nanoseconds from boot, where the counter is not invariant).
#[cfg(target_arch = "x86_64")]
fn counter_scale(clock: &quanta::Clock) -> Option<u64> {
    let reads_counter = (0..3).any(|_| {
        let before = read_counter();
        let raw = clock.raw();
        (before..=read_counter()).contains(&raw)
    });
    reads_counter.then(|| clock.delta_as_nanos(1, 1 + (1 << SCALE_SHIFT)))
}

#[cfg(not(target_arch = "x86_64"))]
fn counter_scale(_: &quanta::Clock) -> Option<u64> {
    None
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn read_counter() -> u64 {
    // SAFETY: `rdtsc` exists on every x86-64 CPU and only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Now, in real time.
pub fn now() -> Instant {
    let tsc = tsc();
    tsc.at + Duration::from_nanos(since_calibration())
}

/// Now, as nanoseconds after [`calibrated_at`]: [`now`] without building an `Instant`, for a
/// probe that keeps times as numbers. `calibrated_at() + since_calibration()` is exactly
/// what [`now`] returns.
#[inline(always)]
pub fn since_calibration() -> u64 {
    let tsc = tsc();
    #[cfg(target_arch = "x86_64")]
    if let Some(scale) = tsc.scale {
        // As `quanta` does: a reading not after the calibration's (another core's counter
        // a little behind) counts as none.
        let ticks = read_counter().saturating_sub(tsc.raw);
        return ((u128::from(ticks) * u128::from(scale)) >> SCALE_SHIFT) as u64;
    }
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
    fn the_inline_counter_read_converts_as_quanta_does() {
        let tsc = tsc();
        let Some(scale) = tsc.scale else { return };
        for ticks in [1u64, 999, 1 << 20, 3_000_000_017, 1 << 40, 7 << 45] {
            let ours = ((u128::from(ticks) * u128::from(scale)) >> SCALE_SHIFT) as u64;
            let theirs = tsc.clock.delta_as_nanos(tsc.raw, tsc.raw + ticks);
            // Rounded twice instead of once: a nanosecond apart at most, per 2^40 ticks.
            assert!(ours.abs_diff(theirs) <= 1 + (ticks >> SCALE_SHIFT), "{ticks} ticks: {ours} against {theirs}");
        }
    }

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
