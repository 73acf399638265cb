//! [`FutureList`]: the futures a lesson's program keeps in a list — a named batch
//! (`into = "jobs"`), or every future it submitted — in their order.
//!
//! A list may hold a million futures (SPEC §6), and a future takes about a hundred bytes.
//! Most of them finish long before the program looks at them again, with a plain value: who
//! ran them, and nothing else. The list keeps such a future as its id, worker and pid (16
//! bytes) and lets the future go; a step that asks for it gets a handle made again from
//! those numbers ([`Future::finished`]), which answers, reports and runs callbacks as the
//! first handle would — a finished future never changes. A pool that names its threads as
//! Python does gives each worker one name, which the list keeps once per worker. Futures not
//! finished yet, and those that ended otherwise (raised, cancelled, or with an output), are
//! kept as they are.
//!
//! A list holds each future once: every step that fills one submits new futures.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::pool::probe::Telemetry;
use crate::pool::{AsCompleted, Future, TaskError, TaskId, TaskValue};

/// Futures kept as futures before the first look for finished ones. A look then waits until
/// twice as many are kept as it left, so each future is looked at a few times at most.
const SWEEP_AT_LEAST: usize = 1024;

/// `Entry::worker` of a future kept as a future, in [`FutureList::held`].
const HELD: u32 = u32::MAX;

/// A list of futures of one run, in the order the program added them.
#[derive(Default)]
pub(crate) struct FutureList {
    /// One per future, in list order.
    entries: Vec<Entry>,
    /// The futures kept as futures, with their index in `entries`, in list order.
    held: Vec<(usize, Future<TaskValue>)>,
    /// `held.len()` after the last sweep.
    held_after_sweep: usize,
    /// The thread each worker ran its tasks on, by worker, as the values of the futures kept
    /// as numbers name it.
    threads: Vec<Thread>,
    /// Where the list's futures report their events: the run's pool's telemetry, taken from
    /// the first future (a future that reports elsewhere is kept as it is).
    telemetry: Option<Arc<Telemetry>>,
}

/// A future of the list: a finished one's value (`worker`, `pid`), or [`HELD`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: TaskId,
    worker: u32,
    pid: u32,
}

/// The thread a worker's tasks ran on, as their values name it.
#[derive(Clone, Debug, Default)]
enum Thread {
    /// None of its futures is kept as numbers yet.
    #[default]
    Unseen,
    /// Its values name no thread.
    Unnamed,
    /// Its values name this one.
    Named(Arc<str>),
}

impl Thread {
    /// Whether a value of this worker that names `thread` can be kept as numbers — it names
    /// the thread the worker's other values name — and remembers it if it is the first.
    fn admits(&mut self, thread: &Option<Arc<str>>) -> bool {
        match (&*self, thread) {
            (Thread::Unseen, None) => *self = Thread::Unnamed,
            (Thread::Unseen, Some(name)) => *self = Thread::Named(Arc::clone(name)),
            (Thread::Unnamed, None) => {}
            (Thread::Named(kept), Some(name)) if kept == name => {}
            _ => return false,
        }
        true
    }

    fn name(&self) -> Option<Arc<str>> {
        match self {
            Thread::Named(name) => Some(Arc::clone(name)),
            Thread::Unseen | Thread::Unnamed => None,
        }
    }
}

/// A finished future of a worker numbered this or higher (no pool numbers its workers so
/// far) is kept as a future: the list keeps a thread for each worker below it.
const WORKER_LIMIT: usize = 1 << 16;

/// The empty list, for a name nothing was added to.
pub(crate) const EMPTY: &FutureList = &FutureList::new();

impl fmt::Debug for FutureList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureList").field("len", &self.entries.len()).field("held", &self.held.len()).finish()
    }
}

impl FutureList {
    /// An empty list.
    pub(crate) const fn new() -> FutureList {
        FutureList { entries: Vec::new(), held: Vec::new(), held_after_sweep: 0, threads: Vec::new(), telemetry: None }
    }

    /// How many futures the list holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds `future` at the end.
    pub(crate) fn push(&mut self, future: Future<TaskValue>) {
        if self.entries.is_empty() {
            self.telemetry = future.telemetry().cloned();
        }
        self.entries.push(Entry { id: future.id(), worker: HELD, pid: 0 });
        self.held.push((self.entries.len() - 1, future));
        if self.held.len() >= SWEEP_AT_LEAST.max(2 * self.held_after_sweep) {
            self.sweep();
        }
    }

    /// Makes room for `additional` more futures at once (a step that submits a million grows
    /// the list once rather than doubling it, each doubling a copy).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Adds `futures` at the end, in their order.
    pub(crate) fn extend(&mut self, futures: impl IntoIterator<Item = Future<TaskValue>>) {
        let futures = futures.into_iter();
        self.reserve(futures.size_hint().0);
        for future in futures {
            self.push(future);
        }
    }

    /// A handle to each future, in list order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Future<TaskValue>> + '_ {
        let mut held = self.held.iter();
        self.entries.iter().map(move |entry| match entry.worker {
            HELD => held.next().expect("a held entry has its future").1.clone(),
            _ => self.remade(entry),
        })
    }

    /// `concurrent.futures.as_completed` over the list: the futures done at the call first,
    /// in list order, then the others as they finish; after `timeout`, one
    /// [`TaskError::Timeout`].
    pub(crate) fn as_completed(&self, timeout: Option<Duration>) -> ListCompleted<'_> {
        let held = self.held.iter().map(|(_, future)| future.clone()).collect();
        ListCompleted { list: self, held: AsCompleted::owning(held, timeout), next: 0, next_held: 0 }
    }

    /// Lets go of the futures that finished with a plain value, keeping their numbers.
    fn sweep(&mut self) {
        let (entries, threads, telemetry) = (&mut self.entries, &mut self.threads, &self.telemetry);
        self.held.retain(|(index, future)| {
            let ours = match (future.telemetry(), telemetry) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            };
            let plain = future.read_finished(|outcome| match outcome {
                Ok(TaskValue { worker, pid, output: None, thread }) if ours && *worker < WORKER_LIMIT => {
                    if threads.len() <= *worker {
                        threads.resize(*worker + 1, Thread::Unseen);
                    }
                    threads[*worker].admits(thread).then_some((*worker as u32, *pid))
                }
                _ => None,
            });
            match plain {
                Some((worker, pid)) => {
                    entries[*index] = Entry { worker, pid, ..entries[*index] };
                    false
                }
                None => true,
            }
        });
        self.held_after_sweep = self.held.len();
    }

    /// A handle to the finished future `entry` keeps the numbers of.
    fn remade(&self, entry: &Entry) -> Future<TaskValue> {
        let worker = entry.worker as usize;
        let thread = self.threads.get(worker).and_then(Thread::name);
        let value = TaskValue { worker, pid: entry.pid, output: None, thread };
        Future::finished(entry.id, self.telemetry.clone(), Ok(value))
    }
}

/// The iterator of [`FutureList::as_completed`].
#[derive(Debug)]
pub(crate) struct ListCompleted<'a> {
    list: &'a FutureList,
    /// `as_completed` over the list's held futures (its indices are theirs in `held`).
    held: AsCompleted<TaskValue>,
    /// The next entry to look at while yielding those done at the call.
    next: usize,
    /// The index in `held` of the next held entry.
    next_held: usize,
}

impl ListCompleted<'_> {
    /// How many futures are not yielded yet.
    pub(crate) fn not_yielded(&self) -> usize {
        let finished = self.list.entries[self.next..].iter().filter(|entry| entry.worker != HELD).count();
        finished + self.held.not_yielded().count()
    }
}

impl Iterator for ListCompleted<'_> {
    type Item = Result<Future<TaskValue>, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(entry) = self.list.entries.get(self.next) {
            self.next += 1;
            if entry.worker != HELD {
                return Some(Ok(self.list.remade(entry)));
            }
            self.next_held += 1;
            if let Some(future) = self.held.take_done_at_call(self.next_held - 1) {
                return Some(Ok(future));
            }
        }
        self.held.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{TaskSpec, ThreadPool, Work};

    fn spec(work: Work) -> TaskSpec {
        TaskSpec::new(work, Duration::ZERO, "t")
    }

    #[test]
    fn finished_futures_answer_alike_whether_kept_or_remade() {
        let pool = ThreadPool::new(2);
        let fail = Work::Fail { message: "no".into() };
        let futures: Vec<_> = (0..3000)
            .map(|i| pool.submit_task(spec(if i % 1000 == 7 { fail.clone() } else { Work::Noop })).unwrap())
            .collect();
        for future in &futures {
            let _ = future.result(None);
        }
        let mut list = FutureList::new();
        list.extend(futures.iter().cloned());
        assert!(list.held.len() < futures.len(), "a sweep let the plain ones go");
        let held = |future: &Future<TaskValue>| list.held.iter().any(|(_, kept)| kept.ptr_eq(future));
        assert!(futures.iter().filter(|future| future.raised()).all(held), "the raised ones stay");
        let listed: Vec<_> = list.iter().collect();
        assert_eq!(listed.len(), futures.len());
        for (listed, future) in listed.iter().zip(&futures) {
            assert_eq!(listed.id(), future.id());
            assert_eq!(listed.state_name(), future.state_name());
            assert_eq!(listed.result(None), future.result(None));
            assert!(!listed.cancel());
        }
    }

    #[test]
    fn futures_of_threads_named_as_python_names_them_are_let_go_and_keep_their_thread() {
        let pool = ThreadPool::builder().workers(2).python_thread_names().build();
        let futures: Vec<_> = (0..3000).map(|_| pool.submit_task(spec(Work::Noop)).unwrap()).collect();
        for future in &futures {
            future.result(None).unwrap();
        }
        let mut list = FutureList::new();
        list.extend(futures.iter().cloned());
        assert!(list.held.len() < 1024, "the sweeps let go of the finished ones: {} held", list.held.len());
        for (listed, future) in list.iter().zip(&futures) {
            let (listed, first) = (listed.result(None).unwrap(), future.result(None).unwrap());
            assert!(first.thread.as_deref().is_some_and(|t| t.starts_with("ThreadPoolExecutor-0_")));
            assert_eq!((listed.worker, listed.pid, &listed.thread), (first.worker, first.pid, &first.thread));
        }
    }

    #[test]
    fn a_value_naming_another_thread_than_its_worker_s_others_keeps_its_future() {
        let mut thread = Thread::Unseen;
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        assert!(thread.admits(&Some(Arc::clone(&a))));
        assert!(thread.admits(&Some(Arc::from("a"))), "the same name, another allocation");
        assert!(!thread.admits(&Some(b)));
        assert!(!thread.admits(&None));
        assert_eq!(thread.name(), Some(a));
        let mut unnamed = Thread::Unseen;
        assert!(unnamed.admits(&None) && !unnamed.admits(&Some(Arc::from("a"))));
        assert_eq!(unnamed.name(), None);
    }

    #[test]
    fn as_completed_yields_each_once_the_done_ones_first_in_list_order() {
        let pool = ThreadPool::new(1);
        let done: Vec<_> = (0..2000).map(|_| pool.submit_task(spec(Work::Noop)).unwrap()).collect();
        for future in &done {
            future.result(None).unwrap();
        }
        let gate = Arc::new(std::sync::Barrier::new(2));
        let opened = Arc::clone(&gate);
        let blocker = pool
            .submit(move || {
                opened.wait();
            })
            .unwrap();
        let queued = pool.submit_task(spec(Work::Noop)).unwrap();
        let mut list = FutureList::new();
        list.extend(done[..1000].iter().cloned());
        list.push(queued.clone());
        list.extend(done[1000..].iter().cloned());
        let mut completed = list.as_completed(None);
        let first: Vec<_> = completed.by_ref().take(done.len()).map(|f| f.unwrap().id()).collect();
        assert_eq!(first, done.iter().map(Future::id).collect::<Vec<_>>());
        assert_eq!(completed.not_yielded(), 1);
        gate.wait();
        blocker.result(None).unwrap();
        assert_eq!(completed.next().map(|f| f.unwrap().id()), Some(queued.id()));
        assert!(completed.next().is_none());
    }
}
