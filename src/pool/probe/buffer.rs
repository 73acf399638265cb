//! [`BufferProbe`]: per-thread rings of compact records, merged in time order by a reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::record::{Compact, FINISH_OK, OTHER, Record, START, SUBMIT};
use super::ring::{Reader, Writer, ring};
use super::{Event, EventKind, Probe};

/// A [`Probe`] for a live view of a busy pool: each recording thread appends to a ring of
/// its own, and the reader collects them all at once ([`BufferProbe::drain_into`]), as a
/// viewer does once per frame.
///
/// Recording costs a thread-local lookup and a push into a single-producer ring: no lock
/// and no read-modify-write shared with another thread; a pool on real
/// time calls it directly and it stamps the event from the time-stamp counter. The three
/// events of a task whose submit, start and finish carry nothing but numbers (a closure's)
/// are kept as 16-byte records, four to a cache line; any other event waits in a channel of
/// the thread's own, in order, behind a record that marks its time. A
/// thread's ring starts small and is replaced by one twice its size when it fills before
/// the reader comes (the reader empties the old one first; the new one reaches it through a
/// channel, so a thread never waits for a collection in progress), so the memory a thread writes
/// to — which the kernel must hand over and clear — follows the backlog the reader leaves,
/// not the bound, and is reused once the ring has gone round. A ring's memory outlives it:
/// the next ring of its size, for this probe or a later one, writes to pages already there.
///
/// The reader merges the rings in time order and leaves in them events newer than the
/// moment it began collecting, so an event never comes out before one that caused it (a
/// task's `Submit` before its `Start`), even though they were recorded on different
/// threads. A ring grows to at most `capacity` records; when a thread's ring of that size
/// is full, its new events are dropped and counted ([`BufferProbe::dropped`]) — so a thread
/// holds fewer than twice `capacity` unread events, counting the older rings not yet read.
///
/// # Examples
/// ```
/// use poolscope::pool::ThreadPool;
/// use poolscope::pool::probe::BufferProbe;
///
/// let probe = BufferProbe::new(1 << 16);
/// let pool = ThreadPool::builder().workers(2).probe(probe.clone()).build();
/// pool.submit(|| 1).unwrap().result(None).unwrap();
/// drop(pool);
/// let mut events = Vec::new();
/// probe.drain_all_into(&mut events);
/// assert!(events.len() >= 3, "at least the task's submit, start and finish");
/// assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
/// ```
#[derive(Debug)]
pub struct BufferProbe {
    /// Identifies this probe in each thread's list of rings.
    key: Arc<()>,
    /// Times are kept as nanoseconds from here (negative before it).
    origin: Instant,
    /// Nanoseconds from `origin` to the instant the time-stamp counter counts from
    /// ([`crate::pool::tsc::since_calibration`]).
    counter_origin: i64,
    /// The reading ends of the recording threads' rings, a thread's older rings before its
    /// newer one. Only the reader locks it.
    rings: Mutex<Vec<ReadEnd>>,
    /// New rings on their way to the reader: a recording thread hands one over without
    /// waiting for the reader's lock, which a collection holds for as long as it merges.
    new_rings: (Sender<ReadEnd>, Receiver<ReadEnd>),
    /// This process's id: a start in it packs without its pid.
    pid: u32,
    capacity: usize,
    dropped: AtomicU64,
}

/// Where a collection hands its events.
trait Sink {
    /// An event of a packed record: it owns nothing.
    fn plain(&mut self, event: Event);
    /// An event from a side channel.
    fn owned(&mut self, event: Event);
}

/// A reader that takes the events.
struct ByValue<F>(F);

impl<F: FnMut(Event)> Sink for ByValue<F> {
    #[inline(always)]
    fn plain(&mut self, event: Event) {
        (self.0)(event);
    }

    fn owned(&mut self, event: Event) {
        (self.0)(event);
    }
}

/// A reader that looks at the events.
struct ByRef<F>(F);

impl<F: FnMut(&Event)> Sink for ByRef<F> {
    #[inline(always)]
    fn plain(&mut self, event: Event) {
        // A packed record's event holds no string and no `Arc` (`Record::unpack_into`), so
        // not dropping it leaks nothing — and spares a call to `EventKind`'s drop glue, which
        // is too large to inline, for every event.
        (self.0)(&std::mem::ManuallyDrop::new(event));
    }

    fn owned(&mut self, event: Event) {
        (self.0)(&event);
    }
}

/// A recording thread's ring for one probe, and the side channel of its events that do not
/// pack into a record (one for all the thread's rings, read in their order).
struct ThreadRing {
    /// The probe's key.
    key: Weak<()>,
    ring: Writer,
    side: Sender<EventKind>,
    read_side: Receiver<EventKind>,
}

type Rings = Vec<ThreadRing>;

/// A ring's reading end, and its thread's side channel.
type ReadEnd = (Reader, Receiver<EventKind>);

/// The records of one ring a collection takes, oldest first: the `next` of its first `end`
/// unread records, which is `head`.
struct Due<'a> {
    /// Where its ring is in the probe's list.
    index: usize,
    ring: &'a Reader,
    side: &'a Receiver<EventKind>,
    next: usize,
    end: usize,
    head: Record,
}

thread_local! {
    /// This thread's rings, one per live `BufferProbe` it recorded to (almost always one).
    static RINGS: std::cell::RefCell<Rings> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records a thread's first ring holds (32 kB).
const FIRST_RING: usize = 1024;

impl BufferProbe {
    /// A probe whose rings grow to `capacity` events per recording thread.
    pub fn new(capacity: usize) -> Arc<BufferProbe> {
        // From the clock the pools stamp with and a collection's horizon is read from: the
        // OS's monotonic clock may run some microseconds ahead of it, and an origin read from
        // that would put an event recorded at once after a collection begun at once.
        let origin = crate::pool::tsc::now();
        let counter_origin = match crate::pool::tsc::calibrated_at() {
            at if at >= origin => i64::try_from((at - origin).as_nanos()).unwrap_or(i64::MAX),
            at => -i64::try_from((origin - at).as_nanos()).unwrap_or(i64::MAX),
        };
        Arc::new(BufferProbe {
            key: Arc::new(()),
            origin,
            counter_origin,
            pid: std::process::id(),
            rings: Mutex::default(),
            new_rings: crossbeam_channel::unbounded(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
        })
    }

    /// Appends to `out`, oldest first, every event recorded before this call began, except
    /// those already taken.
    pub fn drain_into(&self, out: &mut Vec<Event>) {
        self.collect(&mut ByValue(|event| out.push(event)), Some(self.horizon()));
    }

    /// Shows `take` each event recorded before this call began, oldest first, except those
    /// already taken — as [`BufferProbe::drain_into`], without a buffer in between, for a
    /// reader that folds the events one by one. The events are lent, not given: a task's
    /// submit, start and finish are built where `take` sees them and need no dropping after.
    pub fn drain(&self, take: impl FnMut(&Event)) {
        self.collect(&mut ByRef(take), Some(self.horizon()));
    }

    /// Appends every event recorded so far, once no thread records any more.
    pub fn drain_all_into(&self, out: &mut Vec<Event>) {
        self.collect(&mut ByValue(|event| out.push(event)), None);
    }

    /// A collection's horizon: now, by the clock the pools stamp their events with.
    fn horizon(&self) -> i64 {
        self.nanos(crate::pool::sync::now())
    }

    /// How many events were dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn nanos(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.origin) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => -i64::try_from(self.origin.duration_since(at).as_nanos()).unwrap_or(i64::MAX),
        }
    }

    #[inline]
    fn instant(&self, nanos: i64) -> Instant {
        let offset = Duration::from_nanos(nanos.unsigned_abs());
        if nanos >= 0 { self.origin + offset } else { self.origin - offset }
    }

    fn collect(&self, sink: &mut impl Sink, horizon: Option<i64>) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        // The rings made since the last collection, in the order they were made.
        rings.extend(self.new_rings.1.try_iter());
        // A ring whose thread has gone (or moved to a bigger ring) and which is read to the
        // end is done with.
        rings.retain(|(ring, _)| !ring.is_done());
        // Each ring is in time order: take from each the records older than the horizon (a
        // record pushed after the horizon was read may still carry an older stamp, but
        // nothing it caused can), then merge those runs. The reader only reads the rings'
        // slots, so it never writes to the lines the recording threads write next.
        // Rings with nothing to take are left out: the merge looks at every run for each
        // switch between them.
        let mut runs: Vec<Due<'_>> = rings
            .iter()
            .enumerate()
            .filter_map(|(index, (ring, side))| {
                let end = horizon.map_or_else(|| ring.unread(), |horizon| ring.older_than(horizon));
                (end > 0).then(|| Due { index, ring, side, next: 0, end, head: ring.get(0) })
            })
            .collect();
        loop {
            // The run with the earliest head, and the head that would come after its own;
            // ties go to the earlier ring (a thread's older ring comes first).
            let (mut i, mut earliest) = (usize::MAX, i64::MAX);
            let (mut j, mut next) = (usize::MAX, i64::MAX);
            for (k, run) in runs.iter().enumerate() {
                if run.next == run.end {
                    continue;
                }
                let at = run.head.at;
                if i == usize::MAX || at < earliest {
                    (j, next) = (i, earliest);
                    (i, earliest) = (k, at);
                } else if j == usize::MAX || at < next {
                    (j, next) = (k, at);
                }
            }
            if i == usize::MAX {
                break;
            }
            // Takes from that run for as long as it stays ahead of the others.
            let run = &mut runs[i];
            loop {
                let record = run.head;
                run.next += 1;
                // The side channel's event was sent before its record was pushed.
                let at = self.instant(record.at);
                if !record.unpack_into(self.pid, at, &mut |event| sink.plain(event)) {
                    if let Ok(kind) = run.side.try_recv() {
                        sink.owned(Event { at, kind });
                    }
                }
                if run.next == run.end {
                    break;
                }
                run.head = run.ring.get(run.next);
                let at = run.head.at;
                if !(j == usize::MAX || at < next || (at == next && i < j)) {
                    break;
                }
            }
        }
        let taken: Vec<(usize, usize)> = runs.iter().map(|run| (run.index, run.next)).collect();
        drop(runs);
        for (index, n) in taken {
            rings[index].0.consume(n);
        }
    }

    /// This thread's first event to this probe: forgets the rings of probes that are gone,
    /// makes one for this probe.
    fn register(&self, rings: &mut Rings) -> usize {
        rings.retain(|ring| ring.key.strong_count() > 0);
        let (side, read_side) = crossbeam_channel::unbounded();
        let ring = self.new_ring(FIRST_RING, read_side.clone());
        rings.push(ThreadRing { key: Arc::downgrade(&self.key), ring, side, read_side });
        rings.len() - 1
    }

    fn new_ring(&self, size: usize, side: Receiver<EventKind>) -> Writer {
        let (writer, reader) = ring(size.min(self.capacity));
        // Never fails: the probe holds the receiving end.
        let _ = self.new_rings.0.send((reader, side));
        writer
    }

    /// `ring` is full: replaces it with one twice its size — unless it is as large as the
    /// bound. Returns whether there is room now. The old ring's reading end stays with the
    /// reader, ahead of the new one, until it is read to the end.
    #[cold]
    fn grow(&self, ring: &mut ThreadRing) -> bool {
        let size = ring.ring.capacity();
        if size >= self.capacity {
            return false;
        }
        ring.ring = self.new_ring(size * 2, ring.read_side.clone());
        true
    }
}

impl BufferProbe {
    /// Now, as this probe keeps times: nanoseconds from its origin, read from the time-stamp
    /// counter as [`crate::pool::tsc::now`] would be.
    #[inline(always)]
    fn stamp(&self) -> i64 {
        self.counter_origin.saturating_add(crate::pool::tsc::since_calibration() as i64)
    }

    /// Records `kind` as happening now, in real time.
    #[inline]
    pub(crate) fn record_now(&self, kind: EventKind) {
        self.push(self.stamp(), kind);
    }

    /// Records a task's submit, start or finish as happening now, in real time: the pool's
    /// hot path.
    #[inline(always)]
    pub(crate) fn record_compact(&self, event: Compact) {
        let at = self.stamp();
        let (code, worker, task) = match event {
            Compact::Submit { task } => (SUBMIT, 0, task),
            Compact::Start { task, worker, pid } if pid == self.pid => (START, worker, task),
            Compact::FinishOk { task, worker } => (FINISH_OK, worker, task),
            Compact::Start { .. } => return self.push_slow(at, Err(event.kind())),
        };
        match Record::packed(at, code, worker, task) {
            Some(record) => self.push_record(at, record),
            None => self.push_slow(at, Err(event.kind())),
        }
    }

    #[inline]
    fn push(&self, at: i64, kind: EventKind) {
        match Record::pack(at, kind, self.pid) {
            Ok(record) => self.push_record(at, record),
            packed => self.push_slow(at, packed),
        }
    }

    /// Pushes a packed record.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn push_record(&self, at: i64, record: Record) {
        // The fast path, small enough to inline: the thread's ring for the probe it recorded
        // to last comes first (it is almost always the only one), with room.
        let key = Arc::as_ptr(&self.key);
        // The closure only hands out where the thread's rings are, so that `with` — and the
        // thread-local's accessor, which it calls through a pointer unless it is inlined —
        // stays small enough to inline on the hot path; a closure that pushed was not.
        let rings = RINGS.with(std::ptr::from_ref);
        // SAFETY: a thread's thread-local lives until the thread ends, after this call; and
        // `with` panics rather than hand out one that is being destroyed.
        let rings = unsafe { &*rings };
        let pushed = match rings.borrow_mut().first_mut() {
            Some(ring) if std::ptr::eq(ring.key.as_ptr(), key) => ring.ring.push(record),
            _ => false,
        };
        if !pushed {
            self.push_slow(at, Ok(record));
        }
    }

    /// Pushes what the fast path could not: an event that does not pack, this thread's
    /// first event, an event of a thread recording to several probes, a full ring.
    #[cold]
    #[inline(never)]
    fn push_slow(&self, at: i64, packed: Result<Record, EventKind>) {
        let key = Arc::as_ptr(&self.key);
        let pushed = RINGS.with(|rings| {
            let mut rings = rings.borrow_mut();
            let i = match rings.iter().position(|r| std::ptr::eq(r.key.as_ptr(), key)) {
                Some(i) => i,
                None => self.register(&mut rings),
            };
            rings.swap(0, i);
            let ring = &mut rings[0];
            if ring.ring.is_full() && !self.grow(ring) {
                return false;
            }
            let record = packed.unwrap_or_else(|kind| {
                let _ = ring.side.send(kind);
                Record { at, what: OTHER }
            });
            // Only this thread fills the ring, and it had room.
            ring.ring.push(record)
        });
        if !pushed {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Probe for BufferProbe {
    fn record(&self, event: Event) {
        self.push(self.nanos(event.at), event.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::probe::{Outcome, TaskId};

    fn event(probe: &BufferProbe, nanos: i64, task: TaskId) -> Event {
        Event { at: probe.instant(nanos), kind: EventKind::Submit { task, label: None, cost: None, cpu: false } }
    }

    #[test]
    fn events_from_threads_come_out_merged_in_time_order() {
        let probe = BufferProbe::new(1 << 12);
        let (a, b) = (Arc::clone(&probe), Arc::clone(&probe));
        std::thread::spawn(move || [1, 4, 5].into_iter().for_each(|n| a.record(event(&a, n, n as TaskId))))
            .join()
            .unwrap();
        std::thread::spawn(move || [2, 3, 6].into_iter().for_each(|n| b.record(event(&b, n, n as TaskId))))
            .join()
            .unwrap();
        let mut out = Vec::new();
        probe.drain_all_into(&mut out);
        let tasks: Vec<_> = out
            .iter()
            .map(|e| match e.kind {
                EventKind::Submit { task, .. } => task,
                _ => 99,
            })
            .collect();
        assert_eq!(tasks, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_full_ring_grows_to_the_bound_then_drops_and_counts() {
        let probe = BufferProbe::new(3000);
        for n in 0..6100 {
            probe.record(event(&probe, n, n as TaskId));
        }
        let held = 1024 + 2048 + 3000;
        assert_eq!(probe.dropped(), 6100 - held, "rings of 1024, 2048 and 3000 records, then drops");
        let mut out = Vec::new();
        probe.drain_all_into(&mut out);
        assert_eq!(out.len() as u64, held);
        assert!(out.windows(2).all(|w| w[0].at < w[1].at), "the old ring's events come before the new one's");
    }

    #[test]
    fn a_thread_makes_and_grows_its_ring_while_the_reader_holds_its_lock() {
        // A collection holds the reader's lock while it merges; a recording thread that needs
        // a ring meanwhile (its first event, or a full ring) must not wait for it.
        let probe = BufferProbe::new(1 << 13);
        let held = probe.rings.lock().unwrap();
        let (done, finished) = crossbeam_channel::bounded(1);
        let recorder = Arc::clone(&probe);
        let thread = std::thread::spawn(move || {
            // 1024 + 2048 + 1928: a first ring, then two bigger ones.
            for n in 0..5000 {
                recorder.record(event(&recorder, n, n as TaskId));
            }
            let _ = done.send(());
        });
        let recorded = finished.recv_timeout(Duration::from_secs(60));
        drop(held);
        thread.join().unwrap();
        assert!(recorded.is_ok(), "the recording thread waited for the reader's lock");
        let mut out = Vec::new();
        probe.drain_all_into(&mut out);
        assert_eq!(out.len(), 5000);
        assert!(out.windows(2).all(|w| w[0].at < w[1].at), "the rings come out oldest first");
    }

    #[test]
    fn events_after_the_horizon_wait_for_the_next_collection() {
        let probe = BufferProbe::new(64);
        probe.record(event(&probe, -5, 0));
        probe.record(Event { at: Instant::now() + Duration::from_secs(3600), ..event(&probe, 0, 1) });
        let mut out = Vec::new();
        probe.drain_into(&mut out);
        assert_eq!(out.len(), 1, "only the event before the collection began");
        assert_eq!(out[0].at, probe.instant(-5), "times before the origin survive");
        probe.drain_all_into(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn compact_events_come_out_as_the_events_they_stand_for() {
        let probe = BufferProbe::new(64);
        let events = [
            Compact::Submit { task: 3 },
            Compact::Start { task: 3, worker: 1, pid: probe.pid },
            Compact::Start { task: 4, worker: 0, pid: probe.pid.wrapping_add(1) },
            Compact::FinishOk { task: 3, worker: 1 },
            Compact::Submit { task: TaskId::MAX },
            Compact::FinishOk { task: 5, worker: usize::MAX },
        ];
        for event in events {
            probe.record_compact(event);
        }
        let mut out = Vec::new();
        probe.drain_all_into(&mut out);
        assert_eq!(out.into_iter().map(|e| e.kind).collect::<Vec<_>>(), events.map(Compact::kind));
    }

    #[test]
    fn a_reader_that_looks_sees_what_a_reader_that_takes_gets() {
        // The same mix recorded to two probes: packed records lent without being dropped,
        // side-channel events (a label, a value) lent and then dropped, in the same order.
        let record = |probe: &BufferProbe| {
            probe.record_compact(Compact::Submit { task: 1 });
            probe.record_now(EventKind::Submit { task: 2, label: Some("b".into()), cost: None, cpu: false });
            probe.record_compact(Compact::Start { task: 1, worker: 0, pid: probe.pid });
            probe.record_compact(Compact::FinishOk { task: 1, worker: 0 });
            probe.record_now(EventKind::Finish {
                task: 2,
                worker: 1,
                outcome: Outcome::Ok,
                value: Some("42".into()),
                error: None,
            });
        };
        let (lent, taken) = (BufferProbe::new(64), BufferProbe::new(64));
        record(&lent);
        record(&taken);
        let mut seen = Vec::new();
        lent.drain(|event| seen.push(event.kind.clone()));
        let mut got = Vec::new();
        taken.drain_into(&mut got);
        assert_eq!(seen.len(), 5);
        assert_eq!(seen, got.into_iter().map(|e| e.kind).collect::<Vec<_>>());
        lent.drain(|_| panic!("every event was seen once"));
    }

    #[test]
    fn every_kind_survives_the_ring() {
        let probe = BufferProbe::new(64);
        let kinds = [
            EventKind::Submit { task: 0, label: Some("a".into()), cost: Some(Duration::from_millis(1)), cpu: true },
            EventKind::Start { task: 0, worker: 1, pid: 7 },
            EventKind::Start { task: 0, worker: usize::MAX, pid: 7 },
            EventKind::Finish { task: 0, worker: 1, outcome: Outcome::Error, value: None, error: Some("e".into()) },
            EventKind::Finish { task: 1, worker: 2, outcome: Outcome::Ok, value: None, error: None },
            EventKind::Cancel { task: 2, ok: true },
        ];
        for (n, kind) in kinds.iter().enumerate() {
            probe.record(Event { at: probe.instant(n as i64), kind: kind.clone() });
        }
        let mut out = Vec::new();
        probe.drain_all_into(&mut out);
        assert_eq!(out.into_iter().map(|e| e.kind).collect::<Vec<_>>(), kinds);
    }
}

/// How fast a collection merges: `cargo test --release --lib merge_speed -- --ignored --nocapture`
/// prints the nanoseconds per event of the worst case, three threads' records taking turns.
#[cfg(test)]
mod drain_speed {
    use super::*;
    use crate::pool::probe::Outcome;

    #[test]
    #[ignore]
    fn merge_speed() {
        let probe = BufferProbe::new(1 << 20);
        let n = 200_000i64;
        let mut best = f64::MAX;
        for _ in 0..15 {
            let threads: Vec<_> = (0..3)
                .map(|t| {
                    let p = Arc::clone(&probe);
                    std::thread::spawn(move || {
                        for i in 0..n {
                            let at = p.instant(i * 30 + t * 10);
                            let kind = match t {
                                0 => EventKind::Submit { task: i as u64, label: None, cost: None, cpu: false },
                                _ if i % 2 == 0 => EventKind::Start { task: i as u64, worker: t as usize, pid: p.pid },
                                _ => EventKind::Finish {
                                    task: i as u64,
                                    worker: t as usize,
                                    outcome: Outcome::Ok,
                                    value: None,
                                    error: None,
                                },
                            };
                            p.record(Event { at, kind });
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let started = Instant::now();
            let mut seen = 0u64;
            probe.collect(&mut ByRef(|_: &Event| seen += 1), None);
            let ns = started.elapsed().as_nanos() as f64 / seen as f64;
            assert_eq!(seen, 3 * n as u64);
            best = best.min(ns);
        }
        println!("merge: {best:.1} ns per event (best of 15)");
    }
}
