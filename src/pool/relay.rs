//! A pool's results thread: one thread of the parent on which the pool completes futures, so
//! their done-callbacks all run there, in the order the pool handed the completions over.
//!
//! `ProcessPoolExecutor` completes every future on its management thread, and
//! `multiprocessing.Pool` runs every callback on its result-handler thread: one thread, so a
//! slow callback holds up the results behind it. A [`Relay`] is that thread.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender};

use super::sync::{self, Bell, Clock, PoolThread};

/// Work handed to the results thread: the completions of one batch of results.
type Batch = Box<dyn FnOnce() + Send>;

/// A results thread, started with the pool and stopped once the pool's workers are gone.
pub struct Relay {
    /// `None` once stopped: what comes later runs on the caller's thread.
    tx: Mutex<Option<Sender<Batch>>>,
    thread: Mutex<Option<PoolThread>>,
    /// Rung on each send, for a simulated run (it must not move: it lives in an `Arc`).
    bell: Arc<Bell>,
}

impl Relay {
    /// Starts the thread, named `name`; on `clock` it is a participant of a simulated run.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub(crate) fn start(clock: &Clock, name: &str) -> io::Result<Relay> {
        let (tx, rx) = crossbeam_channel::unbounded::<Batch>();
        let bell = Arc::new(Bell::new(clock));
        let thread = clock.spawn(name.to_string(), {
            let bell = Arc::clone(&bell);
            move || serve(&rx, &bell)
        })?;
        Ok(Relay { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), bell })
    }

    /// Runs `batch` on the results thread, after everything handed over before it; on the
    /// caller's thread once the relay is stopped.
    pub(crate) fn run(&self, batch: impl FnOnce() + Send + 'static) {
        let batch: Batch = Box::new(batch);
        // The receiver lives until the sender is dropped, so a send fails only once stopped.
        let sent = match self.tx.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            Some(tx) => tx.send(batch).map_err(|refused| refused.0),
            None => Err(batch),
        };
        match sent {
            Ok(()) => self.bell.ring_one(),
            Err(batch) => batch(),
        }
    }

    /// Stops the thread once it has run everything handed over, and waits for it — unless
    /// the caller is the thread itself (a callback that shuts the pool down), which then
    /// stops after the callback returns.
    pub(crate) fn stop(&self) {
        drop(self.tx.lock().unwrap_or_else(PoisonError::into_inner).take());
        self.bell.ring_one();
        let thread = {
            let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
            if thread.as_ref().is_some_and(|t| t.id() == std::thread::current().id()) {
                return;
            }
            thread.take()
        };
        if let Some(thread) = thread {
            thread.join();
        }
    }
}

/// The thread's loop: runs each batch in turn until the relay is stopped and drained.
fn serve(rx: &Receiver<Batch>, bell: &Bell) {
    while let Ok(batch) = sync::recv(rx, bell, None) {
        batch();
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}
