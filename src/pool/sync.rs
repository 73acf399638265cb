//! The one place pool code meets time and blocking: every wait, wake-up, sleep and "now"
//! goes through here, which serves a real run and a simulated one ([`super::sim`]) alike.

use std::time::Instant;

use super::sim;

/// Now: the simulated clock's time on a thread of a simulated run, else the real time.
pub fn now() -> Instant {
    sim::now()
}
