//! The single-producer, single-consumer rings a [`super::BufferProbe`] keeps its records in,
//! whose memory is kept, once both ends are gone, for the next ring of the same size.
//!
//! A ring's memory is handed out by the kernel a page at a time as it is first written, and
//! cleared first: a probe made for each run (as a lesson or the bench makes one) would pay
//! for that again every run, and its rings grow by doubling, so one thread touches up to
//! twice its bound. Spare memory is kept up to [`SPARE_BYTES`] for the whole process.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use super::record::Record;

/// A record's two words; the writer stores them before it publishes them by moving `tail`,
/// the reader loads them after it has seen `tail` move, so plain (relaxed) accesses do.
type Slots = Box<[[AtomicU64; 2]]>;

/// At most this much spare ring memory is kept for new rings (16 MB: a million records).
const SPARE_BYTES: usize = 16 << 20;

/// Rings' memory whose rings are gone, for new rings of the same size.
static SPARE: Mutex<Vec<Slots>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct Shared {
    slots: Slots,
    /// Records read: only the reader writes it.
    head: CachePadded<AtomicUsize>,
    /// Records written: only the writer writes it.
    tail: CachePadded<AtomicUsize>,
    /// The writer is gone: no record will follow.
    abandoned: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        let kept: usize = spare.iter().map(|s| s.len()).sum();
        if (kept + slots.len()) * size_of::<Record>() <= SPARE_BYTES {
            spare.push(slots);
        }
    }
}

/// A new ring of `size` records (at least one): its writing and its reading end.
pub(super) fn ring(size: usize) -> (Writer, Reader) {
    let size = size.max(1);
    let reused = {
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        spare.iter().position(|s| s.len() == size).map(|i| spare.swap_remove(i))
    };
    let slots = reused.unwrap_or_else(|| (0..size).map(|_| [AtomicU64::new(0), AtomicU64::new(0)]).collect());
    let shared = Arc::new(Shared {
        slots,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        abandoned: AtomicBool::new(false),
    });
    (Writer { shared: Arc::clone(&shared), tail: 0, at: 0, head: 0 }, Reader { shared, head: 0, at: 0 })
}

/// The writing end of a ring.
#[derive(Debug)]
pub(super) struct Writer {
    shared: Arc<Shared>,
    /// Records written.
    tail: usize,
    /// The slot the next record goes to.
    at: usize,
    /// Records read, as last seen.
    head: usize,
}

impl Writer {
    /// Records the ring holds.
    pub(super) fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// Whether the ring has no room, the reader's progress read afresh.
    pub(super) fn is_full(&mut self) -> bool {
        self.head = self.shared.head.load(Ordering::Acquire);
        self.tail - self.head == self.capacity()
    }

    /// Appends `record`; false when the ring is full.
    #[inline]
    pub(super) fn push(&mut self, record: Record) -> bool {
        let capacity = self.shared.slots.len();
        if self.tail - self.head == capacity && self.is_full() {
            return false;
        }
        // The slot is past `tail` and within `capacity` of `head`: the reader does not look
        // at it until `tail` moves past it.
        let [at, what] = &self.shared.slots[self.at];
        at.store(record.at as u64, Ordering::Relaxed);
        what.store(record.what, Ordering::Relaxed);
        self.at = if self.at + 1 == capacity { 0 } else { self.at + 1 };
        self.tail += 1;
        self.shared.tail.store(self.tail, Ordering::Release);
        true
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Release);
    }
}

/// The reading end of a ring.
#[derive(Debug)]
pub(super) struct Reader {
    shared: Arc<Shared>,
    /// Records read.
    head: usize,
    /// The slot of the next record to read.
    at: usize,
}

impl Reader {
    /// Whether the writer is gone and every record it wrote was read: the ring is done with.
    pub(super) fn is_done(&self) -> bool {
        self.shared.abandoned.load(Ordering::Acquire) && self.shared.tail.load(Ordering::Acquire) == self.head
    }

    /// How many records were written and not yet read.
    pub(super) fn unread(&self) -> usize {
        self.shared.tail.load(Ordering::Acquire) - self.head
    }

    /// The `k`-th unread record (below [`Reader::unread`]), oldest first.
    #[inline]
    pub(super) fn get(&self, k: usize) -> Record {
        let capacity = self.shared.slots.len();
        let i = self.at + k;
        let [at, what] = &self.shared.slots[if i >= capacity { i - capacity } else { i }];
        Record { at: at.load(Ordering::Relaxed) as i64, what: what.load(Ordering::Relaxed) }
    }

    /// How many of the unread records are older than `horizon`: they are in time order.
    pub(super) fn older_than(&self, horizon: i64) -> usize {
        let (mut low, mut high) = (0, self.unread());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.get(mid).at < horizon {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Hands the first `n` unread records' slots back to the writer.
    pub(super) fn consume(&mut self, n: usize) {
        let capacity = self.shared.slots.len();
        self.head += n;
        self.at = (self.at + n) % capacity;
        self.shared.head.store(self.head, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: i64) -> Record {
        Record { at: n, what: 0 }
    }

    #[test]
    fn records_go_round_in_order_and_a_full_ring_refuses() {
        let (mut writer, mut reader) = ring(3);
        assert!((0..3).all(|n| writer.push(record(n))));
        assert!(!writer.push(record(3)), "full");
        assert_eq!(reader.unread(), 3);
        reader.consume(2);
        assert!(writer.push(record(3)) && writer.push(record(4)));
        let ats: Vec<i64> = (0..reader.unread()).map(|k| reader.get(k).at).collect();
        assert_eq!(reader.older_than(4), 2);
        assert_eq!(ats, [2, 3, 4], "oldest first, round the end");
        reader.consume(3);
        assert!(!reader.is_done(), "its writer lives");
        drop(writer);
        assert!(reader.is_done());
    }

    #[test]
    fn a_gone_ring_s_memory_serves_the_next_of_its_size() {
        let size = 4099;
        let (writer, reader) = ring(size);
        let memory = writer.shared.slots.as_ptr();
        drop((writer, reader));
        let (writer, _reader) = ring(size);
        assert_eq!(writer.shared.slots.as_ptr(), memory);
    }
}
