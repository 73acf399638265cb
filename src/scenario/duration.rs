//! Durations as scenarios write them: `"500ms"`, `"1.5s"`, a seeded range `"1s..3s"`, or a
//! list `["3s", "1s", "2s"]` whose element `i mod len` goes to task `i` of a step.

use std::time::Duration;

use rand::Rng;

/// How long the tasks of a template take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationSpec {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly drawn from `lo..=hi` with the run's seeded generator.
    Range(Duration, Duration),
    /// Task `i` of a step takes element `i mod len` (never empty).
    List(Vec<Duration>),
}

impl Default for DurationSpec {
    fn default() -> Self {
        DurationSpec::Fixed(Duration::ZERO)
    }
}

impl DurationSpec {
    /// The duration of task `i` of a step.
    pub fn pick(&self, i: usize, rng: &mut impl Rng) -> Duration {
        match self {
            DurationSpec::Fixed(d) => *d,
            DurationSpec::Range(lo, hi) => {
                let (lo, hi) = (lo.as_micros() as u64, hi.as_micros() as u64);
                Duration::from_micros(rng.random_range(lo..=hi))
            }
            DurationSpec::List(list) => list[i % list.len()],
        }
    }
}

/// Parses one duration: a number (integer or decimal) and a unit `us`, `µs`, `ms`, `s` or `m`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let expected = format!("expected {ONE_DURATION}");
    if number.is_empty() {
        return Err(format!("bad duration {text:?}: {expected}"));
    }
    let value: f64 = number.parse().map_err(|_| format!("bad duration {text:?}: {expected}"))?;
    let seconds_per_unit = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "" => return Err(format!("bad duration {text:?}: the unit is missing; {expected}")),
        other => return Err(format!("bad duration {text:?}: unknown unit {other:?}; {expected}")),
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > 24.0 * 3600.0 {
        return Err(format!("bad duration {text:?}: longer than a day; expected at most \"1440m\""));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What one duration looks like, for error messages.
const ONE_DURATION: &str = "a duration like \"500ms\", \"1.5s\", \"2m\" (units: us, ms, s, m)";

/// Every form a task's duration may take, for error messages.
const EVERY_FORM: &str = "a duration like \"500ms\", \"1.5s\", \"2m\" (units: us, ms, s, m), \
     a range like \"1s..3s\", or a list like [\"3s\", \"1s\"]";

/// Parses a fixed duration or a range `lo..hi`.
///
/// # Errors
/// A message saying what was expected (every form: fixed, range, list); a reversed range is
/// an error.
pub fn parse_spec(text: &str) -> Result<DurationSpec, String> {
    let every_form = |e: String| e.replace(ONE_DURATION, EVERY_FORM);
    match text.split_once("..") {
        Some((lo, hi)) => {
            let (lo_d, hi_d) = (parse_duration(lo).map_err(every_form)?, parse_duration(hi).map_err(every_form)?);
            if lo_d > hi_d {
                return Err(format!(
                    "reversed range {text:?}: {} is longer than {}; expected low..high",
                    lo.trim(),
                    hi.trim()
                ));
            }
            Ok(DurationSpec::Range(lo_d, hi_d))
        }
        None => parse_duration(text).map(DurationSpec::Fixed).map_err(every_form),
    }
}

/// Seconds as Python writes them: `1`, `0.5`, `0.025`.
pub fn python_seconds(d: Duration) -> String {
    let s = format!("{:.6}", d.as_secs_f64());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".to_string() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_ranges_and_rejects_nonsense() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("5").unwrap_err().contains("unit is missing"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").is_err());
        assert!(parse_spec("3s..1s").unwrap_err().contains("reversed range"));
        let bad = parse_spec("5 parsecs").unwrap_err();
        assert!(bad.contains("\"1s..3s\"") && bad.contains("[\"3s\", \"1s\"]"), "{bad}");
        assert!(parse_spec("1s..3x").unwrap_err().contains("a range like"));
        assert_eq!(parse_spec("1s..3s"), Ok(DurationSpec::Range(Duration::from_secs(1), Duration::from_secs(3))));
        assert_eq!(python_seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(python_seconds(Duration::from_secs(2)), "2");
    }
}
