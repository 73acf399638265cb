//! The main program's `arrive` step: open arrivals, one submit after each drawn gap.

use super::super::arrival::{ArrivalLimit, gaps};
use super::super::model::MAX_COUNT;
use super::MainProgram;

impl MainProgram {
    /// Draws every gap of the step first, then each task's duration as it is submitted —
    /// the order the exported program draws them in, so both hold the same values.
    pub(super) fn arrive(&mut self, task: &str, rate: f64, limit: ArrivalLimit, into: Option<&str>) {
        let gaps = gaps(rate, limit, MAX_COUNT, &mut self.rng);
        let mut batch = into.map(|into| self.batches.remove(into).unwrap_or_default());
        for (i, gap) in gaps.into_iter().enumerate() {
            self.clock.sleep(gap);
            let spec = self.tasks[task].instantiate(i, &mut self.rng, self.clock.speed());
            let future = match self.pool.submit_spec(spec) {
                Ok(future) => future,
                Err(refused) => {
                    self.refused(&refused);
                    break;
                }
            };
            self.labels.note(future.id(), task, i);
            if self.keep_all {
                self.all.push(future.clone());
            }
            if let Some(batch) = &mut batch {
                batch.push(future);
            }
        }
        if let Some((into, batch)) = into.zip(batch) {
            self.batches.insert(into.to_string(), batch);
        }
    }
}
