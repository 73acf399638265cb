//! The run's clock: every time read and every wait of the runner goes through it, so a
//! simulated clock (`--virtual-time`) can replace real time in one place.

use std::time::{Duration, Instant};

/// Real time since the run began, with scenario durations divided by `speed`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    speed: f64,
}

impl Clock {
    /// A clock starting now. `speed` > 0 divides every scenario duration.
    pub fn start(speed: f64) -> Clock {
        Clock { origin: Instant::now(), speed }
    }

    /// Now.
    pub fn now(&self) -> Instant {
        Instant::now()
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
        std::thread::sleep(self.scale(d));
    }
}
