//! [`GilLedger`]: who held the simulated GIL when, folded from a run's `gil` events — what
//! the lanes draw (the holder bright, the waiters dim) and what the stats split a worker's
//! time by (holding, waiting for the GIL, idle).
//!
//! The events come from the lock itself ([`crate::pool::gil`]), so the ledger records what
//! happened, in real time as on simulated time. A run without them (no GIL, or CPython's
//! real GIL, which poolscope cannot see) leaves the ledger empty: [`GilLedger::seen`] is
//! false and nothing is drawn for it.

use std::collections::BTreeMap;

use crate::pool::{GilChange, WorkerId};

/// What a worker is doing with the GIL at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilUse {
    /// It holds the GIL: its thread runs Python code.
    Holding,
    /// It wants the GIL and waits for it.
    Waiting,
}

/// A stretch of time one worker spent holding or waiting for the GIL (µs, `start..end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GilSpan {
    /// The worker.
    pub worker: WorkerId,
    /// Holding or waiting.
    pub what: GilUse,
    /// When it began.
    pub start_us: u64,
    /// When it ended.
    pub end_us: u64,
}

/// The GIL's history, in running totals (bounded whatever the run's length).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GilLedger {
    /// True once a `gil` event was seen: the run reports its GIL.
    pub seen: bool,
    /// The worker holding the GIL now, and since when.
    pub holder: Option<(WorkerId, u64)>,
    /// Workers waiting for it now, and since when.
    pub waiting: BTreeMap<WorkerId, u64>,
    /// Time each worker held it, over stretches that ended (µs).
    pub held_us: BTreeMap<WorkerId, u64>,
    /// Time each worker waited for it, over stretches that ended (µs).
    pub waited_us: BTreeMap<WorkerId, u64>,
    /// Hand-offs seen (takes).
    pub takes: u64,
    /// The stretches the latest event ended, for readers that keep a history (the UI's
    /// timeline buckets).
    pub closed: Vec<GilSpan>,
}

impl GilLedger {
    /// Folds one `gil` event at `t` in.
    pub fn apply(&mut self, t: u64, worker: WorkerId, change: GilChange) {
        self.seen = true;
        self.closed.clear();
        match change {
            GilChange::Wait => {
                if self.holder.is_some_and(|(w, _)| w == worker) {
                    self.end_hold(t);
                }
                self.waiting.entry(worker).or_insert(t);
            }
            GilChange::Take => {
                self.takes += 1;
                match self.holder {
                    Some((w, _)) if w == worker => return,
                    Some((previous, _)) => {
                        // It held the GIL and did not release it: it yielded at the switch
                        // interval and is back in the queue.
                        self.end_hold(t);
                        self.waiting.entry(previous).or_insert(t);
                    }
                    None => {}
                }
                self.end_wait(worker, t);
                self.holder = Some((worker, t));
            }
            GilChange::Release => {
                if self.holder.is_some_and(|(w, _)| w == worker) {
                    self.end_hold(t);
                }
                self.end_wait(worker, t);
            }
        }
    }

    fn end_hold(&mut self, t: u64) {
        if let Some((worker, since)) = self.holder.take() {
            *self.held_us.entry(worker).or_default() += t.saturating_sub(since);
            self.closed.push(GilSpan { worker, what: GilUse::Holding, start_us: since, end_us: t });
        }
    }

    fn end_wait(&mut self, worker: WorkerId, t: u64) {
        if let Some(since) = self.waiting.remove(&worker) {
            *self.waited_us.entry(worker).or_default() += t.saturating_sub(since);
            self.closed.push(GilSpan { worker, what: GilUse::Waiting, start_us: since, end_us: t });
        }
    }

    /// What `worker` is doing with the GIL now, if anything.
    pub fn use_of(&self, worker: WorkerId) -> Option<GilUse> {
        if self.holder.is_some_and(|(w, _)| w == worker) {
            Some(GilUse::Holding)
        } else if self.waiting.contains_key(&worker) {
            Some(GilUse::Waiting)
        } else {
            None
        }
    }

    /// Since when `worker` has been doing what [`GilLedger::use_of`] says.
    pub fn since(&self, worker: WorkerId) -> Option<u64> {
        match self.holder {
            Some((w, since)) if w == worker => Some(since),
            _ => self.waiting.get(&worker).copied(),
        }
    }

    /// Time `worker` held the GIL up to `now`.
    pub fn held_until(&self, worker: WorkerId, now: u64) -> u64 {
        let open = match self.holder {
            Some((w, since)) if w == worker => now.saturating_sub(since),
            _ => 0,
        };
        self.held_us.get(&worker).copied().unwrap_or(0) + open
    }

    /// Time `worker` waited for the GIL up to `now`.
    pub fn waited_until(&self, worker: WorkerId, now: u64) -> u64 {
        let open = self.waiting.get(&worker).map_or(0, |since| now.saturating_sub(*since));
        self.waited_us.get(&worker).copied().unwrap_or(0) + open
    }

    /// Time any worker held the GIL up to `now`.
    pub fn total_held_until(&self, now: u64) -> u64 {
        self.held_us.values().sum::<u64>() + self.holder.map_or(0, |(_, since)| now.saturating_sub(since))
    }

    /// Time workers waited for the GIL up to `now`, added up over the workers.
    pub fn total_waited_until(&self, now: u64) -> u64 {
        self.waited_us.values().sum::<u64>()
            + self.waiting.values().map(|since| now.saturating_sub(*since)).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_ends_the_previous_holders_turn_and_queues_it_again() {
        let mut gil = GilLedger::default();
        gil.apply(0, 0, GilChange::Take);
        gil.apply(1, 1, GilChange::Wait);
        gil.apply(5, 1, GilChange::Take);
        assert_eq!(gil.use_of(0), Some(GilUse::Waiting));
        assert_eq!(gil.use_of(1), Some(GilUse::Holding));
        assert_eq!(gil.closed.len(), 2, "0's hold and 1's wait ended");
        gil.apply(10, 0, GilChange::Take);
        gil.apply(12, 0, GilChange::Release);
        assert_eq!(gil.use_of(0), None);
        assert_eq!(gil.use_of(1), Some(GilUse::Waiting), "1 yielded at 10 and waits");
        gil.apply(12, 1, GilChange::Take);
        gil.apply(15, 1, GilChange::Release);
        assert_eq!((gil.held_until(0, 20), gil.waited_until(0, 20)), (5 + 2, 5));
        assert_eq!((gil.held_until(1, 20), gil.waited_until(1, 20)), (5 + 3, 4 + 2));
        assert_eq!(gil.total_held_until(20), 15, "one holder at a time: 0..15 held throughout");
        assert_eq!(gil.holder, None);
    }
}
