//! Open arrivals (`op = "arrive"`): tasks that come on their own, at random, as requests
//! reach a server — a Poisson process of a given rate. The gaps between arrivals are drawn
//! from the lesson's seed, so a run repeats them, and the exported program lists them.

use std::time::Duration;

use rand::Rng;

/// When an `arrive` step stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalLimit {
    /// After this many arrivals.
    Count(usize),
    /// Once the next arrival would come later than this, from the step's start.
    Duration(Duration),
}

/// The gaps before each arrival (the first from the step's start) of a Poisson process of
/// `rate` arrivals a second, until `limit`, in lesson time: each exponentially distributed
/// with mean `1 / rate`, drawn from `rng` and kept to the microsecond (what the exported
/// program writes, and what a run sleeps). At most `max` gaps.
pub fn gaps(rate: f64, limit: ArrivalLimit, max: usize, rng: &mut impl Rng) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut at = Duration::ZERO;
    loop {
        if let ArrivalLimit::Count(n) = limit
            && out.len() >= n
        {
            break;
        }
        if out.len() >= max {
            break;
        }
        let gap = exponential(rate, rng);
        at += gap;
        if let ArrivalLimit::Duration(within) = limit
            && at > within
        {
            break;
        }
        out.push(gap);
    }
    out
}

/// One exponential gap of mean `1 / rate`: `-ln(u) / rate` for `u` uniform in (0, 1], kept
/// to three significant digits and whole microseconds, so the program lists it short
/// (`0.0527`) and a run sleeps exactly what it lists.
fn exponential(rate: f64, rng: &mut impl Rng) -> Duration {
    let u: f64 = 1.0 - rng.random::<f64>();
    // A day at most, as any other duration of a lesson.
    let micros = (-u.ln() / rate * 1e6).min(86_400e6).round() as u64;
    let digits = micros.checked_ilog10().map_or(0, |d| d + 1);
    let unit = 10u64.pow(digits.saturating_sub(3));
    Duration::from_micros((micros + unit / 2) / unit * unit)
}

/// How many arrivals `rate` brings, on average, within `limit`.
pub fn expected(rate: f64, limit: ArrivalLimit) -> f64 {
    match limit {
        ArrivalLimit::Count(n) => n as f64,
        ArrivalLimit::Duration(d) => rate * d.as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn draw(seed: u64, rate: f64, limit: ArrivalLimit) -> Vec<Duration> {
        gaps(rate, limit, 1_000_000, &mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn the_same_seed_draws_the_same_arrivals_and_another_seed_others() {
        let a = draw(7, 20.0, ArrivalLimit::Count(50));
        assert_eq!(a.len(), 50);
        assert_eq!(a, draw(7, 20.0, ArrivalLimit::Count(50)));
        assert_ne!(a, draw(8, 20.0, ArrivalLimit::Count(50)));
        // A duration stops at the last arrival within it.
        let within = draw(7, 20.0, ArrivalLimit::Duration(Duration::from_secs(2)));
        let total: Duration = within.iter().sum();
        assert!(total <= Duration::from_secs(2), "{total:?}");
        let next = draw(7, 20.0, ArrivalLimit::Count(within.len() + 1));
        assert_eq!(next[..within.len()], within[..]);
        assert!(next.iter().sum::<Duration>() > Duration::from_secs(2));
    }

    #[test]
    fn over_many_arrivals_the_rate_is_the_one_asked_for() {
        // 100 000 gaps of mean 50 ms: the mean's standard error is 0.3 %, so 2 % is ~6 sigma.
        let rate = 20.0;
        let gaps = draw(42, rate, ArrivalLimit::Count(100_000));
        let mean = gaps.iter().map(Duration::as_secs_f64).sum::<f64>() / gaps.len() as f64;
        assert!((1.0 / mean - rate).abs() / rate < 0.02, "measured rate {}", 1.0 / mean);
        // Exponential, not uniform: the share of gaps longer than the mean is e^-1 (36.8 %).
        let longer = gaps.iter().filter(|g| g.as_secs_f64() > 1.0 / rate).count() as f64 / gaps.len() as f64;
        assert!((longer - (-1.0f64).exp()).abs() < 0.01, "{longer}");
        // Over a duration, the count is rate × duration, within a few of its sqrt.
        let counted = draw(42, rate, ArrivalLimit::Duration(Duration::from_secs(1000))).len() as f64;
        assert!((counted - 20_000.0).abs() < 5.0 * 20_000f64.sqrt(), "{counted}");
    }

    #[test]
    fn a_gap_keeps_three_significant_digits() {
        for gap in draw(3, 20.0, ArrivalLimit::Count(1000)) {
            let micros = gap.as_micros();
            let digits = micros.checked_ilog10().map_or(0, |d| d + 1);
            assert_eq!(micros % 10u128.pow(digits.saturating_sub(3)), 0, "{micros}");
        }
    }

    #[test]
    fn at_most_max_gaps() {
        let capped = gaps(1e6, ArrivalLimit::Duration(Duration::from_secs(3600)), 10, &mut StdRng::seed_from_u64(1));
        assert_eq!(capped.len(), 10);
    }
}
