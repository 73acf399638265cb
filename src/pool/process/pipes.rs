//! The two threads that talk to each worker process: a writer that sends what the pool
//! queued for it, and a reader that hands its results to the pool and reports its end.

use std::io::{self, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, ExitStatus};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;

use super::dispatch::Supervisor;
use super::wire::{self, FromWorker};
use crate::pool::probe::WorkerId;
use crate::pool::sync;

/// The writer thread: sends what the pool queued for the worker, as few writes as it can.
pub(super) fn write(mut stdin: ChildStdin, rx: &Receiver<Vec<u8>>) {
    let mut batch = Vec::new();
    while let Ok(frame) = rx.recv() {
        let written = if rx.is_empty() {
            stdin.write_all(&frame)
        } else {
            batch.clear();
            batch.extend_from_slice(&frame);
            while let Ok(more) = rx.try_recv() {
                batch.extend_from_slice(&more);
            }
            stdin.write_all(&batch)
        };
        if written.is_err() {
            // The worker is gone; its reader reports it.
            return;
        }
    }
}

/// The reader thread: hands results to the pool (which completes their futures on its results
/// thread), then reports the worker's end.
///
/// In a real run it hands over every frame already buffered in one batch. In a simulated run
/// it reads outside the run and handles each frame in its turn, one at a time, at the
/// virtual time the worker would have sent it (see [`crate::pool::sim`]).
pub(super) fn read(supervisor: &Arc<Supervisor>, id: WorkerId, pid: u32, stdout: ChildStdout, child: &Mutex<Child>) {
    let batches = !supervisor.clock.is_simulated();
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut frame = Vec::new();
    let mut batch = Vec::new();
    let mut next = |reader: &mut BufReader<ChildStdout>| next_message(reader, &mut frame);
    let failure = loop {
        let first = next(&mut reader);
        sync::arrive();
        let live = supervisor.catch_up(id, pid);
        match first {
            Ok(Some(msg)) if live => batch.push(msg),
            // Terminated: the worker was killed before it would have sent this.
            Ok(Some(_)) => {}
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        let mut failure = None;
        while batches && failure.is_none() && wire::frame_buffered(&reader) {
            match next(&mut reader) {
                Ok(Some(msg)) => batch.push(msg),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        if !batch.is_empty()
            && let Err(e) = supervisor.handle(id, pid, &mut batch)
        {
            break Some(Broke::Protocol(e));
        }
        if failure.is_some() {
            break failure;
        }
        sync::step_outside(|| supervisor.owes(id, pid));
    };
    reap(supervisor, id, pid, child, failure);
}

/// Why a worker's stdout stopped before a clean end.
enum Broke {
    /// It ended inside a frame: the worker died (or closed it) in the middle of a message.
    CutShort,
    /// It carried something that is not a message, or not one the pool expected then.
    Protocol(String),
}

/// The worker's next message; `None` at a clean end of its stdout.
fn next_message(reader: &mut BufReader<ChildStdout>, frame: &mut Vec<u8>) -> Result<Option<FromWorker>, Broke> {
    match wire::read_frame(reader, frame) {
        Ok(true) => wire::decode_from_worker(frame).map(Some).map_err(|e| Broke::Protocol(e.to_string())),
        Ok(false) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Broke::CutShort),
        Err(e) => Err(Broke::Protocol(e.to_string())),
    }
}

/// Waits for the worker process to end (killing it if it broke the protocol) and reports it.
fn reap(supervisor: &Arc<Supervisor>, id: WorkerId, pid: u32, child: &Mutex<Child>, failure: Option<Broke>) {
    let status = {
        let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(failure, Some(Broke::Protocol(_))) {
            let _ = child.kill();
        }
        child.wait()
    };
    let cause = match failure {
        Some(Broke::Protocol(why)) => format!("broke the protocol ({why})"),
        Some(Broke::CutShort) => format!("{} in the middle of a message", describe(status)),
        None => describe(status),
    };
    supervisor.exited(id, pid, cause);
}

/// How a worker process ended, in words.
fn describe(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
            (None, None) => format!("ended ({status})"),
        },
        Err(e) => format!("ended, status unknown ({e})"),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "a signal",
    }
}
