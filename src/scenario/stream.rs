//! A run's event stream between its writers (the feed, or CPython's event reader) and its
//! reader: [`TraceEvent`]s in order, unbounded, since the log must be complete.
//!
//! A reader that lags holds every event it has not taken yet, and on a shared machine a
//! million-task run can get hundreds of thousands ahead of it. A [`TraceEvent`] takes 96
//! bytes, sized for its largest kinds (a run's or a step's description); the stream keeps the
//! kinds every task sends — submit, queue, start, finish, callback, result — in 56, and boxes
//! the others. What the reader takes is the event that was sent.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::pool::{Outcome, TaskId};
use crate::trace::{ResultOutcome, TraceEvent, TraceKind};

/// The writing end of a run's event stream.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: Sender<Packed>,
}

/// The reading end of a run's event stream. Cloning gives another reader of the same
/// stream (each event goes to one of them).
#[derive(Clone, Debug)]
pub struct EventStream {
    rx: Receiver<Packed>,
}

/// A new stream's two ends.
pub fn event_stream() -> (EventSender, EventStream) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (EventSender { tx }, EventStream { rx })
}

impl EventSender {
    /// Sends `event`.
    ///
    /// # Errors
    /// The event, given back, when every reader is gone.
    pub fn send(&self, event: TraceEvent) -> Result<(), TraceEvent> {
        self.tx.send(Packed::from(event)).map_err(|e| e.into_inner().into())
    }
}

impl EventStream {
    /// The next event, waiting for it; `None` once the stream is empty and every writer gone.
    pub fn recv(&self) -> Option<TraceEvent> {
        self.rx.recv().ok().map(TraceEvent::from)
    }

    /// The next event, waiting at most `timeout` for it.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or [`RecvTimeoutError::Disconnected`] once the stream
    /// is empty and every writer gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<TraceEvent, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(TraceEvent::from)
    }

    /// The events as they come, until the stream is empty and every writer gone.
    pub fn iter(&self) -> Events<'_> {
        Events { stream: self }
    }

    /// The events waiting now, without waiting for more.
    pub fn try_iter(&self) -> impl Iterator<Item = TraceEvent> + '_ {
        std::iter::from_fn(|| self.rx.try_recv().ok().map(TraceEvent::from))
    }

    /// How many events wait to be taken.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True if no event waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// The iterator of [`EventStream::iter`].
#[derive(Debug)]
pub struct Events<'a> {
    stream: &'a EventStream,
}

impl Iterator for Events<'_> {
    type Item = TraceEvent;

    fn next(&mut self) -> Option<TraceEvent> {
        self.stream.recv()
    }
}

/// An event as it waits in the stream.
#[derive(Debug)]
struct Packed {
    t: u64,
    kind: PackedKind,
}

/// The kinds a task sends, without the room the largest kinds need; the others boxed.
#[derive(Debug)]
enum PackedKind {
    Submit {
        task: TaskId,
        label: String,
        cost_us: u64,
        costed: bool,
        cpu: bool,
    },
    Queue {
        depth: usize,
    },
    Start {
        task: TaskId,
        worker: u32,
        pid: u32,
    },
    /// A finish with no error.
    Finish {
        task: TaskId,
        worker: u32,
        outcome: Outcome,
        value: Option<String>,
    },
    /// A callback that did not raise.
    Callback {
        task: TaskId,
        thread: String,
    },
    /// A result with its value.
    Result {
        task: TaskId,
        value: String,
    },
    Other(Box<TraceKind>),
}

// What a lagging reader holds per event, besides the strings.
const _: () = assert!(std::mem::size_of::<Packed>() <= 56);

impl From<TraceEvent> for Packed {
    fn from(event: TraceEvent) -> Packed {
        let narrow = |worker: usize| u32::try_from(worker).ok();
        let kind = match event.kind {
            TraceKind::Submit { task, label, cost_us, cpu } => {
                PackedKind::Submit { task, label, cost_us: cost_us.unwrap_or(0), costed: cost_us.is_some(), cpu }
            }
            TraceKind::Queue { depth } => PackedKind::Queue { depth },
            TraceKind::Start { task, worker, pid } if narrow(worker).is_some() => {
                PackedKind::Start { task, worker: worker as u32, pid }
            }
            TraceKind::Finish { task, worker, outcome, value, error: None } if narrow(worker).is_some() => {
                PackedKind::Finish { task, worker: worker as u32, outcome, value }
            }
            TraceKind::Callback { task, thread, error: None } => PackedKind::Callback { task, thread },
            TraceKind::Result {
                task,
                outcome: ResultOutcome::Ok,
                value: Some(value),
                error: None,
                exception: None,
            } => PackedKind::Result { task, value },
            other => PackedKind::Other(Box::new(other)),
        };
        Packed { t: event.t, kind }
    }
}

impl From<Packed> for TraceEvent {
    fn from(packed: Packed) -> TraceEvent {
        let kind = match packed.kind {
            PackedKind::Submit { task, label, cost_us, costed, cpu } => {
                TraceKind::Submit { task, label, cost_us: costed.then_some(cost_us), cpu }
            }
            PackedKind::Queue { depth } => TraceKind::Queue { depth },
            PackedKind::Start { task, worker, pid } => TraceKind::Start { task, worker: worker as usize, pid },
            PackedKind::Finish { task, worker, outcome, value } => {
                TraceKind::Finish { task, worker: worker as usize, outcome, value, error: None }
            }
            PackedKind::Callback { task, thread } => TraceKind::Callback { task, thread, error: None },
            PackedKind::Result { task, value } => {
                TraceKind::Result { task, outcome: ResultOutcome::Ok, value: Some(value), error: None, exception: None }
            }
            PackedKind::Other(kind) => *kind,
        };
        TraceEvent { t: packed.t, kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_comes_out_as_it_went_in() {
        let kinds = vec![
            TraceKind::Submit { task: 1, label: "T1".into(), cost_us: Some(0), cpu: false },
            TraceKind::Submit { task: 2, label: "T2".into(), cost_us: None, cpu: true },
            TraceKind::Queue { depth: 3 },
            TraceKind::Start { task: 1, worker: 0, pid: 7 },
            TraceKind::Start { task: 1, worker: usize::MAX, pid: 7 },
            TraceKind::Finish { task: 1, worker: 1, outcome: Outcome::Ok, value: Some("v".into()), error: None },
            TraceKind::Finish { task: 1, worker: 1, outcome: Outcome::Error, value: None, error: Some("e".into()) },
            TraceKind::Callback { task: 1, thread: "poolscope-worker-0".into(), error: None },
            TraceKind::Callback { task: 1, thread: "main-program".into(), error: Some("boom".into()) },
            TraceKind::Result {
                task: 1,
                outcome: ResultOutcome::Ok,
                value: Some("T1 by worker 0".into()),
                error: None,
                exception: None,
            },
            TraceKind::Result {
                task: 1,
                outcome: ResultOutcome::Error,
                value: None,
                error: Some("no".into()),
                exception: Some("Exception".into()),
            },
            TraceKind::Note { text: "a note".into() },
            TraceKind::End { makespan_us: 9 },
        ];
        let (tx, stream) = event_stream();
        let sent: Vec<_> = kinds.into_iter().enumerate().map(|(t, kind)| TraceEvent { t: t as u64, kind }).collect();
        for event in &sent {
            tx.send(event.clone()).unwrap();
        }
        drop(tx);
        assert_eq!(stream.len(), sent.len());
        assert_eq!(stream.iter().collect::<Vec<_>>(), sent);
    }
}
