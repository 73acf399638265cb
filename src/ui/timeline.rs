//! [`Timeline`]: what the screen needs beyond the [`Model`] — busy time per worker per time
//! bucket, the queue depth over time, futures counted by state, running sums for the stats and
//! the latest events for the log. A pure fold over [`TraceEvent`]s like the model, and bounded:
//! a fixed number of buckets whose width doubles (pairs merged) as the run grows, so a million
//! tasks cost the same memory as ten.

use std::collections::{BTreeMap, VecDeque};

use crate::pool::WorkerId;
use crate::trace::{GilUse, Model, TaskState, TraceEvent, TraceKind};

/// Buckets per history; the width of a bucket doubles when the run outgrows them.
pub const BUCKETS: usize = 512;
/// Width of a bucket at the start of a run (µs).
pub const FIRST_BUCKET_US: u64 = 1_000;
/// Events kept for the event log.
pub const LOG_EVENTS: usize = 500;

/// One worker's history, bucketed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneHistory {
    /// Time spent running tasks, per bucket (µs).
    pub busy: Vec<u64>,
    /// Tasks that ended in the bucket.
    pub ended: Vec<u32>,
    /// Of those, tasks that failed or crashed.
    pub bad: Vec<u32>,
    /// When the worker came up, and went down (`None`: still up). At most 64 kept.
    pub alive: Vec<(u64, Option<u64>)>,
    /// When it began the pool's initializer, and ended it (`None`: runs it still). At most
    /// 64 kept.
    pub initializing: Vec<(u64, Option<u64>)>,
    /// Time it held the simulated GIL, per bucket (µs); all zero when the run reports no GIL.
    pub gil_held: Vec<u64>,
    /// Time it waited for the GIL, per bucket (µs).
    pub gil_waited: Vec<u64>,
}

/// How many futures are in each state now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FutureCounts {
    /// Queued.
    pub pending: usize,
    /// On a worker.
    pub running: usize,
    /// Returned a value.
    pub done: usize,
    /// Raised, their worker died, or a broken / terminated pool failed them without running
    /// them (their `result()` raises `BrokenProcessPool`: failed, not cancelled).
    pub failed: usize,
    /// Cancelled by `cancel()` or `shutdown(cancel_futures=True)`.
    pub cancelled: usize,
}

impl FutureCounts {
    fn slot(&mut self, state: TaskState) -> &mut usize {
        match state {
            TaskState::Pending => &mut self.pending,
            TaskState::Running => &mut self.running,
            TaskState::Done => &mut self.done,
            TaskState::Failed | TaskState::Crashed | TaskState::Abandoned => &mut self.failed,
            TaskState::Cancelled => &mut self.cancelled,
        }
    }

    /// Every future.
    pub fn total(&self) -> usize {
        self.pending + self.running + self.done + self.failed + self.cancelled
    }
}

/// The bucketed history of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Width of one bucket (µs).
    pub bucket_us: u64,
    /// Per worker.
    pub lanes: BTreeMap<WorkerId, LaneHistory>,
    /// Deepest queue seen in each bucket.
    pub queue: Vec<u32>,
    /// Futures by state.
    pub counts: FutureCounts,
    /// Tasks started, and their queue waits added up (µs).
    pub started: u64,
    /// Sum of queue waits (µs).
    pub wait_sum_us: u64,
    /// Tasks that ended on a worker.
    pub ran: u64,
    /// Sum of their run times (µs).
    pub run_sum_us: u64,
    /// The same tasks one after another on one free worker: their nominal costs where
    /// known, else their run times.
    pub serial_sum_us: u64,
    /// The part of `serial_sum_us` that is CPU-bound work: at most one core's worth per core
    /// of elapsed time.
    pub serial_cpu_us: u64,
    /// Finished tasks whose nominal cost was not known in advance.
    pub uncosted: u64,
    /// The latest events, oldest first.
    pub log: VecDeque<TraceEvent>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            bucket_us: FIRST_BUCKET_US,
            lanes: BTreeMap::new(),
            queue: vec![0; BUCKETS],
            counts: FutureCounts::default(),
            started: 0,
            wait_sum_us: 0,
            ran: 0,
            run_sum_us: 0,
            serial_sum_us: 0,
            serial_cpu_us: 0,
            uncosted: 0,
            log: VecDeque::with_capacity(LOG_EVENTS),
        }
    }
}

impl Timeline {
    /// The time the buckets cover now (µs).
    pub fn span_us(&self) -> u64 {
        self.bucket_us.saturating_mul(BUCKETS as u64)
    }

    /// Folds one event in. `model` is the model *after* it applied the event, and `before` the
    /// state of the event's task before that (if the event names a task).
    pub fn apply(&mut self, event: &TraceEvent, model: &Model, before: Option<TaskState>) {
        let t = event.t;
        self.cover(t);
        if let TraceKind::WorkerCpu { .. } = event.kind {
            return; // shown on the lane's name, not listed: a reading twice a second
        }
        if let TraceKind::Gil { .. } = event.kind {
            // Hand-offs come every switch interval: drawn in the lanes, not listed in the log.
            let bucket_us = self.bucket_us;
            for span in &model.gil_ledger.closed {
                let lane = self.lane(span.worker);
                let history = match span.what {
                    GilUse::Holding => &mut lane.gil_held,
                    GilUse::Waiting => &mut lane.gil_waited,
                };
                add_busy(history, bucket_us, span.start_us, span.end_us);
            }
            return;
        }
        if self.log.len() == LOG_EVENTS {
            self.log.pop_front();
        }
        self.log.push_back(event.clone());
        if let Some(task) = event.kind.task() {
            let after = model.task_times(task).map(|r| r.state);
            if before != after {
                if let Some(b) = before {
                    let slot = self.counts.slot(b);
                    *slot = slot.saturating_sub(1);
                }
                if let Some(a) = after {
                    *self.counts.slot(a) += 1;
                }
            }
        }
        match &event.kind {
            TraceKind::WorkerUp { worker, .. } => {
                open_span(&mut self.lane(*worker).alive, t);
            }
            TraceKind::WorkerDown { worker, .. } => {
                let lane = self.lane(*worker);
                close_span(&mut lane.alive, t);
                close_span(&mut lane.initializing, t);
            }
            TraceKind::Initializing { worker } => open_span(&mut self.lane(*worker).initializing, t),
            TraceKind::Initialized { worker, .. } => close_span(&mut self.lane(*worker).initializing, t),
            TraceKind::Start { task, .. } => {
                if let Some(wait) = model.task_times(*task).and_then(|r| r.wait_us()) {
                    self.started += 1;
                    self.wait_sum_us = self.wait_sum_us.saturating_add(wait);
                }
            }
            TraceKind::Finish { task, worker, .. } => {
                let Some(record) = model.task_times(*task) else { return };
                let (Some(start), Some(end)) = (record.started_us, record.ended_us) else { return };
                self.ran += 1;
                // Saturating, as the model's totals: only a corrupt log's times come near u64::MAX.
                self.run_sum_us = self.run_sum_us.saturating_add(end.saturating_sub(start));
                let serial = record.serial_us().unwrap_or(0);
                self.serial_sum_us = self.serial_sum_us.saturating_add(serial);
                if record.cpu {
                    self.serial_cpu_us = self.serial_cpu_us.saturating_add(serial);
                }
                self.uncosted += u64::from(record.cost_us.is_none());
                let bad = matches!(record.state, TaskState::Failed | TaskState::Crashed);
                let bucket_us = self.bucket_us;
                let lane = self.lane(*worker);
                add_busy(&mut lane.busy, bucket_us, start, end);
                let b = bucket(bucket_us, end);
                lane.ended[b] = lane.ended[b].saturating_add(1);
                if bad {
                    lane.bad[b] = lane.bad[b].saturating_add(1);
                }
            }
            TraceKind::Queue { depth } => {
                let b = bucket(self.bucket_us, t);
                let depth = u32::try_from(*depth).unwrap_or(u32::MAX);
                self.queue[b] = self.queue[b].max(depth);
            }
            _ => {}
        }
    }

    fn lane(&mut self, worker: WorkerId) -> &mut LaneHistory {
        self.lanes.entry(worker).or_insert_with(|| LaneHistory {
            busy: vec![0; BUCKETS],
            ended: vec![0; BUCKETS],
            bad: vec![0; BUCKETS],
            alive: Vec::new(),
            initializing: Vec::new(),
            gil_held: vec![0; BUCKETS],
            gil_waited: vec![0; BUCKETS],
        })
    }

    /// Doubles the bucket width until `t` falls inside the buckets.
    fn cover(&mut self, t: u64) {
        // The span stops at u64::MAX µs: an event there (only in a corrupt log) lands in the
        // last bucket.
        while t >= self.span_us() && self.span_us() < u64::MAX {
            self.bucket_us = self.bucket_us.saturating_mul(2);
            merge_pairs(&mut self.queue, u32::max);
            for lane in self.lanes.values_mut() {
                merge_pairs(&mut lane.busy, u64::saturating_add);
                merge_pairs(&mut lane.ended, u32::saturating_add);
                merge_pairs(&mut lane.bad, u32::saturating_add);
                merge_pairs(&mut lane.gil_held, u64::saturating_add);
                merge_pairs(&mut lane.gil_waited, u64::saturating_add);
            }
        }
    }
}

/// How many spans a lane keeps of each kind (its lives, its initializers): the oldest go first.
const SPANS_KEPT: usize = 64;

/// Opens a span at `t` (`None`: not ended yet), keeping at most [`SPANS_KEPT`].
fn open_span(spans: &mut Vec<(u64, Option<u64>)>, t: u64) {
    if spans.len() == SPANS_KEPT {
        spans.remove(0);
    }
    spans.push((t, None));
}

/// Ends the open span, if there is one, at `t`.
fn close_span(spans: &mut [(u64, Option<u64>)], t: u64) {
    if let Some((_, end @ None)) = spans.last_mut() {
        *end = Some(t);
    }
}

fn bucket(bucket_us: u64, t: u64) -> usize {
    usize::try_from(t / bucket_us).unwrap_or(usize::MAX).min(BUCKETS - 1)
}

fn add_busy(busy: &mut [u64], bucket_us: u64, start: u64, end: u64) {
    let mut t = start;
    while t < end {
        let b = bucket(bucket_us, t);
        let bucket_end = (b as u64 + 1) * bucket_us;
        let until = if b == BUCKETS - 1 { end } else { end.min(bucket_end) };
        busy[b] = busy[b].saturating_add(until - t);
        t = until;
    }
}

fn merge_pairs<T: Copy + Default>(v: &mut [T], merge: impl Fn(T, T) -> T) {
    let n = v.len();
    for i in 0..n / 2 {
        v[i] = merge(v[2 * i], v[2 * i + 1]);
    }
    for x in &mut v[n / 2..] {
        *x = T::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_merge_as_the_run_grows() {
        let mut busy = vec![0u64; BUCKETS];
        add_busy(&mut busy, 1000, 500, 2500);
        assert_eq!(&busy[..3], &[500, 1000, 500]);
        merge_pairs(&mut busy, |a, b| a + b);
        assert_eq!(&busy[..2], &[1500, 500]);
        assert_eq!(busy.iter().sum::<u64>(), 2000);
    }
}
