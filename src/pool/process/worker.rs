//! The child side: what a worker process runs once `worker_main_if_requested` finds it was
//! started as one.
//!
//! One thread reads frames from stdin, runs tasks, and writes one frame per result to
//! stdout, flushed at once: a task whose result the parent has not read has not finished, so
//! when a worker dies the parent knows exactly which task it was running and which were only
//! waiting (and may run elsewhere without running twice). A second thread watches the
//! parent: if the parent dies, the worker exits within [`PARENT_POLL`] even in the middle of
//! a CPU-bound task; an end of stdin (the parent closed the pipe, or died) ends it too.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, BufReader, BufWriter, StdinLock, StdoutLock, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::wire::{self, FromWorker, ToWorker};
use crate::pool::counters::SharedCounters;
use crate::pool::probe::{TaskId, WorkerId};
use crate::pool::task::{self, TaskEnv, TaskSpec, run_spec};

/// How often a worker checks that its parent is still alive.
pub(crate) const PARENT_POLL: Duration = Duration::from_millis(50);

/// Exit code of a worker whose initializer raised.
const INIT_FAILED: u8 = 3;
/// Exit code of a worker that could not understand its parent.
const PROTOCOL: u8 = 2;

/// The worker's connection to its parent.
struct Link {
    reader: BufReader<StdinLock<'static>>,
    writer: BufWriter<StdoutLock<'static>>,
    frame: Vec<u8>,
    out: Vec<u8>,
    /// Tasks received and not yet run, in order, each with whether it ends its job.
    local: VecDeque<(TaskId, TaskSpec, bool)>,
    /// The parent asked us to leave once `local` is empty.
    exit: bool,
}

enum Next {
    /// A task, and whether it is the last of its job.
    Task(TaskId, TaskSpec, bool),
    Exit,
}

impl Link {
    fn send(&mut self, msg: &FromWorker) -> io::Result<()> {
        self.out.clear();
        wire::encode_from_worker(&mut self.out, msg);
        self.writer.write_all(&self.out)?;
        self.writer.flush()
    }

    /// Reads one frame, waiting for it. `None` at the end of stdin.
    fn read(&mut self) -> io::Result<Option<ToWorker>> {
        if !wire::read_frame(&mut self.reader, &mut self.frame)? {
            return Ok(None);
        }
        wire::decode_to_worker(&self.frame).map(Some)
    }

    /// Files a frame that is not the reply being waited for.
    fn file(&mut self, msg: ToWorker) -> io::Result<()> {
        match msg {
            ToWorker::Job(tasks) => {
                let last = tasks.len().saturating_sub(1);
                self.local.extend(tasks.into_iter().enumerate().map(|(i, (id, spec))| (id, spec, i == last)));
            }
            ToWorker::Exit => self.exit = true,
            ToWorker::Hello { .. } | ToWorker::QueueReply(_) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "an unexpected frame from the parent"));
            }
        }
        Ok(())
    }

    /// The next task to run, waiting for one; `Exit` when asked to leave and nothing is left.
    fn next(&mut self) -> io::Result<Next> {
        loop {
            while wire::frame_buffered(&self.reader) {
                let msg = self.read()?.expect("a buffered frame");
                self.file(msg)?;
            }
            if let Some((task, spec, job_end)) = self.local.pop_front() {
                return Ok(Next::Task(task, spec, job_end));
            }
            if self.exit {
                return Ok(Next::Exit);
            }
            match self.read()? {
                Some(msg) => self.file(msg)?,
                None => parent_gone(),
            }
        }
    }

    /// Sends a queue request and waits for its reply, keeping any work that arrives meanwhile.
    /// Drops the rest of the current job: one of its tasks raised, and a job is one call
    /// (`_process_chunk` in CPython), which the exception ends. The parent knows it.
    fn skip_rest_of_job(&mut self) {
        while let Some((_, _, job_end)) = self.local.pop_front() {
            if job_end {
                return;
            }
        }
    }

    fn request(&mut self, msg: &FromWorker) -> Result<String, String> {
        let mut ask = || -> io::Result<Result<String, String>> {
            self.send(msg)?;
            loop {
                match self.read()? {
                    Some(ToWorker::QueueReply(reply)) => return Ok(reply),
                    Some(other) => self.file(other)?,
                    None => parent_gone(),
                }
            }
        };
        ask().unwrap_or_else(|e| protocol_failure(&e))
    }
}

/// The parent closed our stdin: it has gone or wants us gone, and nobody will read a result.
fn parent_gone() -> ! {
    std::process::exit(0)
}

fn protocol_failure(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        parent_gone();
    }
    eprintln!("poolscope worker {}: {error}", std::process::id());
    std::process::exit(i32::from(PROTOCOL))
}

/// What a task sees in a worker process: real sleeps, a whole core with no GIL, the
/// parent's queues through requests over the pipe, and counters of its own.
struct ProcessEnv {
    worker: WorkerId,
    pid: u32,
    link: RefCell<Link>,
    /// This process's own: as a Python worker process has its own copy of the program's
    /// globals, what its tasks write never reaches the parent or another worker.
    counters: SharedCounters,
    /// In a simulated run the parent keeps the time: sleeps and CPU time take none here.
    simulated: bool,
}

impl TaskEnv for ProcessEnv {
    fn worker(&self) -> WorkerId {
        self.worker
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn sleep(&self, duration: Duration) {
        if !self.simulated {
            std::thread::sleep(duration);
        }
    }

    fn cpu(&self, work: &mut dyn FnMut() -> bool) {
        while !work() {}
    }

    fn simulated(&self) -> bool {
        self.simulated
    }

    fn cpu_time(&self, _: Duration) {}

    fn queue_put(&self, queue: &str, item: String) -> Result<(), String> {
        let msg = FromWorker::QueuePut { queue: queue.to_string(), item };
        self.link.borrow_mut().request(&msg).map(drop)
    }

    fn queue_get(&self, queue: &str) -> Result<String, String> {
        self.link.borrow_mut().request(&FromWorker::QueueGet { queue: queue.to_string() })
    }

    fn counters(&self) -> &SharedCounters {
        &self.counters
    }

    fn crash(&self) -> ! {
        std::process::abort()
    }
}

/// Exits when the parent dies: the worker is then re-parented, so its parent id changes.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    let spawned = std::thread::Builder::new().name("poolscope-parent-watch".into()).spawn(move || {
        loop {
            std::thread::sleep(PARENT_POLL);
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        }
    });
    if spawned.is_err() {
        // Without a watcher the worker could outlive its parent: refuse to work at all.
        eprintln!("poolscope worker: cannot start the parent watcher");
        std::process::exit(i32::from(PROTOCOL));
    }
}

/// Runs the worker until the parent says `Exit` or goes away.
pub(super) fn main() -> ExitCode {
    watch_parent();
    let mut link = Link {
        reader: BufReader::with_capacity(64 * 1024, io::stdin().lock()),
        writer: BufWriter::with_capacity(16 * 1024, io::stdout().lock()),
        frame: Vec::new(),
        out: Vec::new(),
        local: VecDeque::new(),
        exit: false,
    };
    let (worker, initializer) = match link.read() {
        Ok(Some(ToWorker::Hello { version, worker, spin_rate, initializer })) if version == wire::VERSION => {
            task::set_spin_rate_per_ms(spin_rate);
            (worker, initializer)
        }
        Ok(Some(ToWorker::Hello { version, .. })) => {
            eprintln!(
                "poolscope worker: the parent speaks protocol version {version}, this program version {}",
                wire::VERSION
            );
            return ExitCode::from(PROTOCOL);
        }
        Ok(None) => return ExitCode::SUCCESS,
        Ok(Some(_)) | Err(_) => {
            eprintln!("poolscope worker: {} is set, but stdin does not carry a pool's handshake", super::WORKER_ENV);
            return ExitCode::from(PROTOCOL);
        }
    };
    let pid = std::process::id();
    let simulated = std::env::var_os(super::SIMULATED_ENV).is_some();
    let env = ProcessEnv { worker, pid, link: RefCell::new(link), counters: SharedCounters::default(), simulated };
    if let Some(spec) = initializer
        && let Err(msg) = run_spec(&spec, &env)
    {
        let _ = env.link.borrow_mut().send(&FromWorker::InitFailed(msg));
        return ExitCode::from(INIT_FAILED);
    }
    if let Err(e) = env.link.borrow_mut().send(&FromWorker::Ready { version: wire::VERSION, pid }) {
        protocol_failure(&e);
    }
    loop {
        let next = env.link.borrow_mut().next();
        match next {
            Ok(Next::Task(task, spec, job_end)) => {
                let outcome = run_spec(&spec, &env).map(|value| value.output);
                let raised = outcome.is_err();
                let mut link = env.link.borrow_mut();
                if let Err(e) = link.send(&FromWorker::Done { task, outcome }) {
                    protocol_failure(&e);
                }
                if raised && !job_end {
                    link.skip_rest_of_job();
                }
            }
            Ok(Next::Exit) => return ExitCode::SUCCESS,
            Err(e) => protocol_failure(&e),
        }
    }
}
