//! Named queues shared by every task of a pool — the `Manager().Queue()` of the lessons.
//! The parent process hosts them; thread and coroutine tasks use them directly, process
//! workers through requests over their pipe. A queue marked [`SharedQueues::mark_plain`] is
//! a plain `multiprocessing.Queue()` handed to each task as an argument instead, which a
//! process pool cannot send.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, select};

use super::sync::Bell;

/// One named queue: both ends, cloned out to whoever puts or gets.
type Queue = (Sender<String>, Receiver<String>);

/// Told of every put and of the close; returns false once it is no longer wanted.
type Waker = Box<dyn Fn() -> bool + Send + Sync>;

/// A set of named unbounded queues, created on first use.
pub struct SharedQueues {
    queues: Mutex<HashMap<String, Queue>>,
    /// Dropped by [`SharedQueues::close`] to wake every blocked `get`.
    closing: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
    /// Rung by every put and by `close`, for a `get` waiting in a simulated run.
    bell: Bell,
    /// Counts puts and the close: a waiter that saw no item reads it first, and retries once
    /// it moved.
    changes: AtomicU64,
    /// Called after every put and the close: an event loop whose tasks wait for items
    /// without blocking its thread.
    wakers: Mutex<Vec<Waker>>,
    /// The queues that are plain `multiprocessing.Queue`s passed as task arguments.
    plain: Mutex<HashSet<String>>,
}

impl fmt::Debug for SharedQueues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = f.debug_map();
        for (name, (_, rx)) in queues.iter() {
            map.entry(name, &rx.len());
        }
        map.finish()
    }
}

impl Default for SharedQueues {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        SharedQueues {
            queues: Mutex::default(),
            closing: Mutex::new(Some(tx)),
            closed: rx,
            bell: Bell::anywhere(),
            changes: AtomicU64::new(0),
            wakers: Mutex::default(),
            plain: Mutex::default(),
        }
    }
}

impl SharedQueues {
    fn queue(&self, name: &str) -> Queue {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(name.to_string()).or_insert_with(crossbeam_channel::unbounded).clone()
    }

    /// Marks queue `name` as a plain `multiprocessing.Queue()` that each task is handed as an
    /// argument, not a `Manager().Queue()` reached by name. Threads and coroutines use it as
    /// any other; a process pool cannot send a task that takes it, since Python pickles a
    /// task's arguments and such a queue may only reach a process by inheritance: the task
    /// fails with [`TaskError::NotSent`](crate::pool::TaskError::NotSent) without running.
    pub fn mark_plain(&self, name: &str) {
        self.plain.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string());
    }

    /// True if `spec` takes a queue marked [`SharedQueues::mark_plain`].
    pub fn takes_plain(&self, spec: &crate::pool::TaskSpec) -> bool {
        let queue = match &spec.work {
            crate::pool::Work::QueuePut { queue, .. } | crate::pool::Work::QueueGet { queue } => queue,
            _ => return false,
        };
        let plain = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        !plain.is_empty() && plain.contains(queue)
    }

    /// Puts an item on queue `name`.
    ///
    /// # Errors
    /// When the queues were closed.
    pub fn put(&self, name: &str, item: String) -> Result<(), String> {
        if self.is_closed() {
            return Err(format!("queue {name:?} is closed"));
        }
        let (tx, _) = self.queue(name);
        tx.send(item).map_err(|_| format!("queue {name:?} is closed"))?;
        self.changed();
        Ok(())
    }

    /// How many puts (and closes) there have been: read it before looking for an item, and
    /// an item put after the look moves it.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Calls `waker` after every put and after the close, until it returns false.
    pub(crate) fn on_change(&self, waker: Waker) {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).push(waker);
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.bell.ring_all();
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).retain(|wake| wake());
    }

    /// Takes the next item from queue `name`, waiting until there is one.
    ///
    /// # Errors
    /// When the queues are closed while waiting.
    pub fn get(&self, name: &str) -> Result<String, String> {
        let poll = || self.try_get(name).transpose();
        let block = || {
            let (_, rx) = self.queue(name);
            Ok(select! {
                recv(rx) -> item => item.map_err(|_| format!("queue {name:?} is closed")),
                recv(self.closed) -> _ => Err(format!("queue {name:?} was closed while waiting")),
            })
        };
        self.bell.wait(None, poll, block).unwrap_or_else(|_| unreachable!("no deadline"))
    }

    /// Takes the next item from queue `name` if there is one, without waiting: `Ok(None)`
    /// when it is empty. What a coroutine does, since it must not block its event loop; it
    /// looks again once an item is put.
    ///
    /// # Errors
    /// When the queue is empty and the queues were closed (no item will ever come).
    pub fn try_get(&self, name: &str) -> Result<Option<String>, String> {
        let (_, rx) = self.queue(name);
        match rx.try_recv() {
            Ok(item) => Ok(Some(item)),
            Err(_) if self.is_closed() => Err(format!("queue {name:?} was closed while waiting")),
            Err(_) => Ok(None),
        }
    }

    /// Items waiting on queue `name`.
    pub fn len(&self, name: &str) -> usize {
        self.queue(name).1.len()
    }

    /// True if queue `name` holds nothing.
    pub fn is_empty(&self, name: &str) -> bool {
        self.len(name) == 0
    }

    /// Wakes every waiting `get` with an error and refuses new items (pool terminated).
    pub fn close(&self) {
        self.closing.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.changed();
    }

    fn is_closed(&self) -> bool {
        self.closing.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}
