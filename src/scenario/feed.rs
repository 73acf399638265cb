//! The run's single event stream: the pool's probe events and the runner's own, turned into
//! [`TraceEvent`]s on one clock, in one order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::clock::Clock;
use super::stream::{EventSender, EventStream, event_stream};
use crate::pool::{Event, EventKind, Probe, TaskId};
use crate::trace::{TraceEvent, TraceKind};

/// Where every event of a run goes. It is the pool's probe, and the runner emits through it.
///
/// Events are stamped and sent under one lock, so the order of the stream is the order of
/// the timestamps, and `t` never decreases — whatever thread an event comes from. Queue
/// events are derived here, by counting the stream itself: a submit adds a waiting task; a
/// start, a successful cancel or an abandon takes one away. (The `queued` counts the pool
/// events carry are read on different threads and may reach this lock out of order; the
/// stream's own order is causal, so counting it is exact.)
#[derive(Debug)]
pub struct Feed {
    clock: Clock,
    state: Mutex<FeedState>,
}

#[derive(Debug)]
struct FeedState {
    /// `None` once the run's `end` was sent: nothing may follow it.
    tx: Option<EventSender>,
    last_t: u64,
    /// Tasks submitted and not yet started, cancelled or abandoned: the queue.
    waiting: Waiting,
}

/// The set of waiting tasks. A pool numbers its tasks 0, 1, 2, ..., so a bit per task id
/// holds it — a million tasks in 125 kB, each change a shift and a mask under the feed's
/// lock rather than a hash; an id far past the others (none comes from a pool) goes to a set.
#[derive(Debug, Default)]
struct Waiting {
    bits: Vec<u64>,
    far: HashSet<TaskId>,
    len: usize,
}

impl Waiting {
    /// Ids below this many (64 Mi, 8 MB of bits) are kept as bits.
    const DENSE: TaskId = 1 << 26;

    /// Adds `task`; true if it was not there.
    fn insert(&mut self, task: TaskId) -> bool {
        let added = if task < Self::DENSE {
            let (word, bit) = ((task / 64) as usize, 1u64 << (task % 64));
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            let added = self.bits[word] & bit == 0;
            self.bits[word] |= bit;
            added
        } else {
            self.far.insert(task)
        };
        self.len += usize::from(added);
        added
    }

    /// Removes `task`; true if it was there.
    fn remove(&mut self, task: TaskId) -> bool {
        let removed = if task < Self::DENSE {
            let (word, bit) = ((task / 64) as usize, 1u64 << (task % 64));
            let removed = self.bits.get(word).is_some_and(|w| w & bit != 0);
            if removed {
                self.bits[word] &= !bit;
            }
            removed
        } else {
            self.far.remove(&task)
        };
        self.len -= usize::from(removed);
        removed
    }
}

/// How an event changes the queue.
#[derive(Clone, Copy)]
enum QueueChange {
    None,
    Joins(TaskId),
    Leaves(TaskId),
}

impl Feed {
    /// A feed on `clock`, and the stream it fills (unbounded: the log must be complete).
    pub fn new(clock: Clock) -> (Arc<Feed>, EventStream) {
        let (tx, rx) = event_stream();
        (
            Arc::new(Feed {
                clock,
                state: Mutex::new(FeedState { tx: Some(tx), last_t: 0, waiting: Waiting::default() }),
            }),
            rx,
        )
    }

    /// The run's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Emits a runner event, now.
    pub fn emit(&self, kind: TraceKind) {
        self.send(self.clock.now(), kind, QueueChange::None);
    }

    /// Emits the run's last event and closes the stream.
    pub fn end(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let t = self.clock.elapsed_us().max(state.last_t);
        if let Some(tx) = state.tx.take() {
            let _ = tx.send(TraceEvent { t, kind: TraceKind::End { makespan_us: t } });
        }
        state.last_t = t;
    }

    fn send(&self, at: Instant, kind: TraceKind, change: QueueChange) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let t = self.clock.micros(at).max(state.last_t);
        state.last_t = t;
        let Some(tx) = &state.tx else { return };
        let _ = tx.send(TraceEvent { t, kind });
        let changed = match change {
            QueueChange::None => false,
            QueueChange::Joins(task) => state.waiting.insert(task),
            QueueChange::Leaves(task) => state.waiting.remove(task),
        };
        if changed && let Some(tx) = &state.tx {
            let _ = tx.send(TraceEvent { t, kind: TraceKind::Queue { depth: state.waiting.len } });
        }
    }
}

impl Probe for Feed {
    fn record(&self, event: Event) {
        let (kind, change) = match event.kind {
            EventKind::WorkerUp { worker, pid } => (TraceKind::WorkerUp { worker, pid }, QueueChange::None),
            EventKind::WorkerDown { worker, pid, reason, cause } => {
                (TraceKind::WorkerDown { worker, pid, reason, cause }, QueueChange::None)
            }
            EventKind::ThreadName { worker, name } => {
                (TraceKind::ThreadName { worker, name: name.to_string() }, QueueChange::None)
            }
            EventKind::Initializing { worker } => (TraceKind::Initializing { worker }, QueueChange::None),
            EventKind::Initialized { worker, error } => (TraceKind::Initialized { worker, error }, QueueChange::None),
            EventKind::Submit { task, label, cost, cpu } => {
                let label = label.map_or_else(|| format!("task{task}"), |l| l.to_string());
                // Real µs, like every time in the stream (the spec was already scaled).
                let cost_us = cost.map(|c| u64::try_from(c.as_micros()).unwrap_or(u64::MAX));
                (TraceKind::Submit { task, label, cost_us, cpu }, QueueChange::Joins(task))
            }
            EventKind::Start { task, worker, pid } => {
                (TraceKind::Start { task, worker, pid }, QueueChange::Leaves(task))
            }
            EventKind::Finish { task, worker, outcome, value, error } => {
                (TraceKind::Finish { task, worker, outcome, value, error }, QueueChange::None)
            }
            EventKind::Cancel { task, ok } => {
                (TraceKind::Cancel { task, ok }, if ok { QueueChange::Leaves(task) } else { QueueChange::None })
            }
            EventKind::Abandon { task, error } => (TraceKind::Abandon { task, error }, QueueChange::Leaves(task)),
            EventKind::Callback { task, thread, panicked } => {
                (TraceKind::Callback { task, thread, error: panicked }, QueueChange::None)
            }
            EventKind::Shutdown { wait, phase } => (TraceKind::Shutdown { wait, phase }, QueueChange::None),
            EventKind::Gil { worker, change } => (TraceKind::Gil { worker, change }, QueueChange::None),
        };
        self.send(event.at, kind, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_counts_each_task_once_near_and_far() {
        let mut waiting = Waiting::default();
        for task in [0, 63, 64, 1000, Waiting::DENSE, u64::MAX] {
            assert!(waiting.insert(task));
            assert!(!waiting.insert(task), "twice");
        }
        assert_eq!(waiting.len, 6);
        assert!(!waiting.remove(5), "never there");
        assert!(!waiting.remove(1 << 40), "never there, far");
        for task in [63, u64::MAX, 0] {
            assert!(waiting.remove(task));
            assert!(!waiting.remove(task), "gone");
        }
        assert_eq!(waiting.len, 3);
    }
}
