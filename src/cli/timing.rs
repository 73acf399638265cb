//! The options every command that runs a lesson shares: seed, speed and which clock.

use poolscope::scenario::{Engine, RunOptions, TimeMode};

/// `--seed`, `--speed`, `--virtual-time`, `--cores`.
#[derive(Debug, clap::Args)]
pub struct Timing {
    /// Seed for ranged durations (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Divide every duration by this: 20 runs a lesson twenty times faster.
    #[arg(long, default_value_t = 1.0)]
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

    /// The message for a `--speed` that is not a positive number.
    pub fn bad_speed(&self) -> Option<String> {
        (!(self.speed.is_finite() && self.speed > 0.0))
            .then(|| format!("--speed {} is not a positive number", self.speed))
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
