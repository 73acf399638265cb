//! The 16-byte record a [`super::BufferProbe`] keeps an event as, and the events of a
//! closure's task as numbers ([`Compact`]), packed into one without an [`EventKind`].

use std::time::Instant;

use super::{Event, EventKind, Outcome, TaskId};

/// An event as a ring keeps it: 16 bytes, four to a cache line.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    /// Nanoseconds from the probe's origin.
    pub(super) at: i64,
    /// The hot kinds with nothing but numbers in them packed as `kind | worker | task`
    /// ([`KIND_SHIFT`], [`WORKER_SHIFT`]); [`OTHER`] for anything else, which waits in the
    /// thread's side channel, in the same order.
    pub(super) what: u64,
}

pub(super) const KIND_SHIFT: u32 = 61;
pub(super) const WORKER_SHIFT: u32 = 48;
pub(super) const TASK_MASK: u64 = (1 << WORKER_SHIFT) - 1;
pub(super) const WORKER_MASK: u64 = (1 << (KIND_SHIFT - WORKER_SHIFT)) - 1;
/// The next event of the thread's side channel.
pub(super) const OTHER: u64 = 0;
/// A submit without label, cost or CPU-bound work (a closure's).
pub(super) const SUBMIT: u64 = 1;
/// A start by a worker of the probe's own process.
pub(super) const START: u64 = 2;
/// A finish without a value or an error to show; one kind per outcome.
pub(super) const FINISH_OK: u64 = 3;
pub(super) const FINISH_ERROR: u64 = 4;
pub(super) const FINISH_CRASHED: u64 = 5;

impl Record {
    /// `kind` packed, or handed back when it does not fit.
    #[inline]
    pub(super) fn pack(at: i64, kind: EventKind, pid: u32) -> Result<Record, EventKind> {
        let packed = |code: u64, worker: usize, task: TaskId| Record::packed(at, code, worker, task);
        let record = match &kind {
            EventKind::Submit { task, label: None, cost: None, cpu: false } => packed(SUBMIT, 0, *task),
            EventKind::Start { task, worker, pid: p } if *p == pid => packed(START, *worker, *task),
            EventKind::Finish { task, worker, outcome, value: None, error: None } => {
                let kind = match outcome {
                    Outcome::Ok => FINISH_OK,
                    Outcome::Error => FINISH_ERROR,
                    Outcome::Crashed => FINISH_CRASHED,
                };
                packed(kind, *worker, *task)
            }
            _ => None,
        };
        record.ok_or(kind)
    }

    /// A record of kind `code`, when `worker` and `task` fit.
    #[inline(always)]
    pub(super) fn packed(at: i64, code: u64, worker: usize, task: TaskId) -> Option<Record> {
        (task <= TASK_MASK && worker as u64 <= WORKER_MASK)
            .then_some(Record { at, what: code << KIND_SHIFT | (worker as u64) << WORKER_SHIFT | task })
    }

    /// Hands `take` the event a packed record holds, stamped `at`, built where `take` gets
    /// it; false for [`OTHER`], whose event is in the side channel. The event owns nothing:
    /// no label, value or error.
    #[inline(always)]
    pub(super) fn unpack_into(self, pid: u32, at: Instant, take: &mut impl FnMut(Event)) -> bool {
        let task = self.what & TASK_MASK;
        let worker = ((self.what >> WORKER_SHIFT) & WORKER_MASK) as usize;
        let finish = |outcome| EventKind::Finish { task, worker, outcome, value: None, error: None };
        match self.what >> KIND_SHIFT {
            SUBMIT => take(Event { at, kind: EventKind::Submit { task, label: None, cost: None, cpu: false } }),
            START => take(Event { at, kind: EventKind::Start { task, worker, pid } }),
            FINISH_OK => take(Event { at, kind: finish(Outcome::Ok) }),
            FINISH_ERROR => take(Event { at, kind: finish(Outcome::Error) }),
            FINISH_CRASHED => take(Event { at, kind: finish(Outcome::Crashed) }),
            _ => return false,
        }
        true
    }
}

/// One of the three events a closure's task costs, as numbers: what the pool hands a
/// [`BufferProbe`] on its hot path, packed into a record without an [`EventKind`] in between.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Compact {
    /// A submit without label, cost or CPU-bound work.
    Submit { task: TaskId },
    /// A start.
    Start { task: TaskId, worker: usize, pid: u32 },
    /// A finish with nothing to show: it returned, and its value is not described.
    FinishOk { task: TaskId, worker: usize },
}

impl Compact {
    /// The event it stands for.
    pub(super) fn kind(self) -> EventKind {
        match self {
            Compact::Submit { task } => EventKind::Submit { task, label: None, cost: None, cpu: false },
            Compact::Start { task, worker, pid } => EventKind::Start { task, worker, pid },
            Compact::FinishOk { task, worker } => {
                EventKind::Finish { task, worker, outcome: Outcome::Ok, value: None, error: None }
            }
        }
    }
}
