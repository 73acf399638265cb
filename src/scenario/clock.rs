//! The run's clock: every time read and every wait of the runner goes through it, so a
//! simulated clock (`--virtual-time`, [`crate::pool::sim`]) replaces real time in one place.

use std::time::{Duration, Instant};

use crate::pool::sim::{self, SimClock};

/// Time since the run began — real, or a simulated clock's — with scenario durations
/// divided by `speed`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    speed: f64,
    simulated: bool,
}

impl Clock {
    /// A real clock starting now. `speed` > 0 divides every scenario duration.
    pub fn start(speed: f64) -> Clock {
        Clock { origin: sim::now(), speed, simulated: false }
    }

    /// The run's clock on simulated time `sim`, which starts at 0.
    pub fn simulated(sim: &SimClock, speed: f64) -> Clock {
        Clock { origin: sim.origin(), speed, simulated: true }
    }

    /// True on simulated time.
    pub fn is_simulated(&self) -> bool {
        self.simulated
    }

    /// Now: on simulated time, the simulated clock's (on the threads that take part in it).
    pub fn now(&self) -> Instant {
        sim::now()
    }

    /// Microseconds from the start of the run to `at` (0 for instants before it).
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_micros() as u64
    }

    /// Microseconds since the start of the run.
    pub fn elapsed_us(&self) -> u64 {
        self.micros(self.now())
    }

    /// The speed-up factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// A scenario duration in run time.
    pub fn scale(&self, d: Duration) -> Duration {
        super::model::scale(d, self.speed)
    }

    /// The instant a scenario-time `timeout` from now ends.
    pub fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout.map(|t| self.now() + self.scale(t))
    }

    /// What is left until `deadline`.
    pub fn left(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(self.now()))
    }

    /// Blocks the calling thread for a scenario-time duration.
    pub fn sleep(&self, d: Duration) {
        sim::sleep(self.scale(d));
    }
}
