//! The options every command that runs a lesson shares: seed, speed and which clock.

use poolscope::scenario::{Engine, RunOptions, TimeMode};

/// `--seed`, `--speed`, `--virtual-time`, `--cores`.
#[derive(Debug, clap::Args)]
pub struct Timing {
    /// Seed for ranged durations (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Divide every duration by this: 20 runs a lesson twenty times faster (from 0.001 to
    /// 1000000).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Run on a simulated clock: tasks take exactly their durations in virtual time, so the
    /// same lesson and seed give the same event log and recording, byte for byte, and a
    /// headless run or recording of a 60 s lesson takes a moment. Live, the simulated clock
    /// keeps pace with real time.
    #[arg(long)]
    pub virtual_time: bool,
    /// With --virtual-time: the simulated machine's cores, which CPU-bound tasks share and
    /// `workers = "cpus"` means (default: this machine's). Fix it to get the same bytes on
    /// any machine.
    #[arg(long, value_name = "N", requires = "virtual_time", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub cores: Option<u16>,
}

impl Timing {
    /// The run options: simulated time as fast as it goes, or kept to real time when `live`.
    pub fn options(&self, live: bool) -> RunOptions {
        let time = match (self.virtual_time, live) {
            (false, _) => TimeMode::Real,
            (true, false) => TimeMode::Virtual,
            (true, true) => TimeMode::VirtualPaced,
        };
        RunOptions {
            seed: self.seed,
            speed: self.speed,
            worker_program: None,
            time,
            cores: self.cores.map(usize::from),
            engine: Engine::Poolscope,
        }
    }

    /// The cores the run's machine has: `--cores`, else this machine's.
    pub fn cores(&self) -> usize {
        self.cores.map_or_else(poolscope::pool::cpus, usize::from)
    }

    /// `SIM` or `REAL`, for headers.
    pub fn clock_name(&self) -> &'static str {
        if self.virtual_time { "SIM" } else { "REAL" }
    }
}

/// The slowest and the fastest `--speed`: beyond them a lesson's durations stop being
/// durations (years, or below the clock's resolution).
const SPEEDS: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

/// `--speed`: a number from 0.001 to 1000000.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    let speed: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if SPEEDS.contains(&speed) {
        Ok(speed)
    } else {
        Err(format!("{text} is not a number from {} to {}", SPEEDS.start(), SPEEDS.end()))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_speed;

    #[test]
    fn a_speed_is_a_number_in_range() {
        assert_eq!(parse_speed("20"), Ok(20.0));
        assert_eq!(parse_speed("0.5"), Ok(0.5));
        for bad in ["1e-300", "1e300", "0", "-1", "NaN", "inf", "fast"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
