//! The CPython engine (SPEC §7): a run whose pool is CPython's own. The program — a lesson's
//! generated Python, or a user's script — runs under `python3` with the probe
//! (`poolscope_probe.py`, embedded here, with `poolscope_dask.py` for Dask's executor)
//! wrapping `concurrent.futures`; every process of the
//! run sends its events as datagrams to one socket, and `translate` turns them into the
//! run's event stream, ending with `end` once `python3` has exited.
//!
//! The probe and the socket live in a private folder (mode 0700), removed when the run ends.
//! `python3` leads its own process group, so stopping a run kills every worker it started.

mod translate;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::model::OpName;
use super::stream::EventSender;

use crate::pool::PoolKind;
use crate::trace::TraceEvent;
pub use translate::{MadePool, StepText};
use translate::{RunInfo, Translator};

/// The instrumentation, written next to the program at run time.
const PROBE: &str = include_str!("poolscope_probe.py");

/// Its part for Dask's executor (`Client.get_executor()`), which the probe imports.
const PROBE_DASK: &str = include_str!("poolscope_dask.py");

/// The oldest CPython the probe supports.
pub const OLDEST: (u32, u32) = (3, 8);

/// What a CPython run runs.
#[derive(Clone, Debug)]
pub enum Program {
    /// A lesson's generated program: its lines, and the first line (from 0) of each step,
    /// the closing shutdown last.
    Lesson {
        /// The program, one entry per line.
        code: Vec<String>,
        /// For step *i*, the first line of its code.
        step_lines: Vec<usize>,
    },
    /// A user's script and its arguments.
    Script {
        /// The `.py` file.
        path: PathBuf,
        /// Its `sys.argv[1:]`.
        args: Vec<String>,
    },
}

/// Where the program's own stdout and stderr go.
#[derive(Clone, Debug, Default)]
#[must_use]
pub enum Output {
    /// Straight to poolscope's (a headless run: they pass through).
    #[default]
    Inherit,
    /// Into these files (the live view: shown after it closes, not over it).
    Capture {
        /// Gets the program's stdout.
        stdout: Arc<File>,
        /// Gets its stderr.
        stderr: Arc<File>,
    },
}

impl Output {
    /// Captured into files `stdout` and `stderr` in a folder of their own, for a live view
    /// (which the program's output would garble); [`Output::show_kept`] prints them after.
    ///
    /// # Errors
    /// The folder or the files cannot be made.
    pub fn kept() -> io::Result<(PrivateDir, Output)> {
        let dir = PrivateDir::new()?;
        let stdout = Arc::new(File::create(dir.path().join("stdout"))?);
        let stderr = Arc::new(File::create(dir.path().join("stderr"))?);
        Ok((dir, Output::Capture { stdout, stderr }))
    }

    /// Prints what a program wrote into `dir` ([`Output::kept`]): its stdout to ours, its
    /// stderr to ours.
    pub fn show_kept(dir: &PrivateDir) {
        use std::io::Write;
        let _ = io::stdout().write_all(&std::fs::read(dir.path().join("stdout")).unwrap_or_default());
        let _ = io::stderr().write_all(&std::fs::read(dir.path().join("stderr")).unwrap_or_default());
    }
}

/// How to run on CPython.
#[derive(Clone, Debug)]
pub struct CpythonOptions {
    /// What to run.
    pub program: Program,
    /// Where its output goes.
    pub output: Output,
    /// The interpreter (default `python3`, looked up on `PATH`).
    pub python: PathBuf,
    /// The exit status of the last run's `python3` (its code, or 128 + the signal), set
    /// before that run's `end` event is sent.
    pub exit: Arc<Mutex<Option<i32>>>,
    /// Give the program's pools this size (a script's: `poolscope sweep SCRIPT.py`).
    pub sizing: Option<Sizing>,
    /// With `sizing`, the pools the last run's program made, in order, and the size each
    /// got; set with `exit`.
    pub made: Arc<Mutex<Vec<MadePool>>>,
}

/// The pools a run's program made, once it has exited.
type SharedPools = Arc<Mutex<Vec<MadePool>>>;

/// The size a program's pools get, whatever it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// Workers (`max_workers`, `processes`).
    pub workers: usize,
    /// Only the program's pool with this index (from 0, in the order it makes them);
    /// `None` for every pool.
    pub pool_index: Option<usize>,
}

impl CpythonOptions {
    /// Runs `program` with `python3`, its output passed through.
    pub fn new(program: Program) -> CpythonOptions {
        CpythonOptions {
            program,
            output: Output::Inherit,
            python: PathBuf::from("python3"),
            exit: Arc::default(),
            sizing: None,
            made: Arc::default(),
        }
    }
}

/// Why a CPython run could not start.
#[derive(Debug)]
pub enum CpythonError {
    /// The interpreter could not be run.
    Missing(PathBuf, io::Error),
    /// It is older than [`OLDEST`] (or did not say its version).
    TooOld(PathBuf, String),
    /// The program's pool is Dask's, and `python3` cannot import `distributed`.
    NoDistributed(PathBuf),
    /// The private folder, the socket or the process could not be made.
    Io(io::Error),
}

impl fmt::Display for CpythonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = OLDEST;
        match self {
            CpythonError::Missing(python, e) => write!(
                f,
                "the CPython engine needs Python {major}.{minor} or newer: could not run `{}` (looked for it on PATH): {e}",
                python.display()
            ),
            CpythonError::TooOld(python, version) => write!(
                f,
                "the CPython engine needs Python {major}.{minor} or newer: `{}` is Python {version}",
                python.display()
            ),
            CpythonError::NoDistributed(python) => write!(
                f,
                "a Dask pool needs Dask's `distributed` package, which `{}` cannot import; install it with: {} -m pip install distributed",
                python.display(),
                python.display()
            ),
            CpythonError::Io(e) => write!(f, "could not start python3: {e}"),
        }
    }
}

impl std::error::Error for CpythonError {}

/// Asks `python` its version; an error unless it is [`OLDEST`] or newer.
///
/// # Errors
/// The interpreter cannot be run, or is too old.
pub fn check_python(python: &Path) -> Result<(u32, u32), CpythonError> {
    let output = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| CpythonError::Missing(python.to_path_buf(), e))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let version = text.split_once('.').and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match version {
        Some(version) if output.status.success() && version >= OLDEST => Ok(version),
        _ => Err(CpythonError::TooOld(
            python.to_path_buf(),
            if text.is_empty() { "of unknown version".into() } else { text },
        )),
    }
}

/// True if `python` can import Dask's `distributed` (which a Dask pool needs, and nothing
/// else in poolscope).
pub fn has_distributed(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import distributed"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// An error unless `python` can import `distributed`.
///
/// # Errors
/// It cannot.
pub fn check_distributed(python: &Path) -> Result<(), CpythonError> {
    match has_distributed(python) {
        true => Ok(()),
        false => Err(CpythonError::NoDistributed(python.to_path_buf())),
    }
}

/// A folder only this user can enter (mode 0700), removed with everything in it on drop.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Makes a fresh one under the system's temporary folder.
    ///
    /// # Errors
    /// It cannot be made.
    pub fn new() -> io::Result<PrivateDir> {
        let base = std::env::temp_dir();
        let mut last = None;
        for attempt in 0..100u32 {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!("poolscope-{}-{nanos:x}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free name for a temporary folder")))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What the `run` event says that the program does not.
#[derive(Clone, Debug)]
pub struct Describe {
    /// The run's name.
    pub scenario: String,
    /// Its title.
    pub title: String,
    /// A lesson's pool (kind, workers, gil); `None` for a script, whose first pool says.
    pub pool: Option<(PoolKind, usize, bool)>,
    /// The lesson's seed.
    pub seed: u64,
    /// The lesson's steps, the closing shutdown last; empty for a script.
    pub steps: Vec<StepText>,
    /// A lesson's task templates: the function's name → its label (`fetch` → `Page{i}`),
    /// so that CPython's tasks carry the lesson's labels; empty for a script.
    pub labels: std::collections::HashMap<String, String>,
}

/// A running `python3`: the thread that reads its events, and its process group.
#[derive(Debug)]
pub struct CpythonRun {
    origin: Instant,
    group: u32,
    reader: Option<JoinHandle<()>>,
}

impl CpythonRun {
    /// Starts `python3` on the program; its events go to `tx`, the last one `end`.
    ///
    /// # Errors
    /// No usable `python3`, or the folder, socket or process could not be made.
    pub fn start(options: &CpythonOptions, describe: Describe, tx: EventSender) -> Result<CpythonRun, CpythonError> {
        check_python(&options.python)?;
        let dir = PrivateDir::new().map_err(CpythonError::Io)?;
        std::fs::write(dir.path().join("poolscope_probe.py"), PROBE).map_err(CpythonError::Io)?;
        std::fs::write(dir.path().join("poolscope_dask.py"), PROBE_DASK).map_err(CpythonError::Io)?;
        let socket_path = dir.path().join("events.sock");
        let socket = UnixDatagram::bind(&socket_path).map_err(CpythonError::Io)?;
        socket.set_read_timeout(Some(Duration::from_millis(20))).map_err(CpythonError::Io)?;
        let (script, args, step_lines) = match &options.program {
            Program::Lesson { code, step_lines } => {
                let path = dir.path().join(format!("{}.py", safe_name(&describe.scenario)));
                std::fs::write(&path, code.join("\n") + "\n").map_err(CpythonError::Io)?;
                let lines: Vec<String> = step_lines.iter().map(usize::to_string).collect();
                (path, Vec::new(), lines.join(","))
            }
            Program::Script { path, args } => (path.clone(), args.clone(), String::new()),
        };
        let python_path = match std::env::var_os("PYTHONPATH") {
            Some(rest) if !rest.is_empty() => {
                let mut joined = dir.path().as_os_str().to_owned();
                joined.push(":");
                joined.push(rest);
                joined
            }
            _ => dir.path().as_os_str().to_owned(),
        };
        let mut command = Command::new(&options.python);
        command
            .arg("-c")
            .arg("import poolscope_probe; poolscope_probe.main()")
            .arg(&script)
            .args(&args)
            .env("PYTHONPATH", python_path)
            .env("POOLSCOPE_SOCKET", &socket_path)
            .env("POOLSCOPE_STEP_LINES", step_lines)
            .env("POOLSCOPE_PRINT_STEPS", print_steps(&describe.steps))
            .env_remove("POOLSCOPE_MAIN_PID")
            .env_remove("POOLSCOPE_WORKERS")
            .env_remove("POOLSCOPE_POOL_INDEX")
            .process_group(0);
        if let Some(sizing) = options.sizing {
            command.env("POOLSCOPE_WORKERS", sizing.workers.to_string());
            if let Some(index) = sizing.pool_index {
                command.env("POOLSCOPE_POOL_INDEX", index.to_string());
            }
        }
        match &options.output {
            Output::Inherit => {
                // Printed as it happens, in step with the transcript.
                command.env("PYTHONUNBUFFERED", "1");
            }
            Output::Capture { stdout, stderr } => {
                command
                    .stdin(Stdio::null())
                    .stdout(stdout.try_clone().map_err(CpythonError::Io)?)
                    .stderr(stderr.try_clone().map_err(CpythonError::Io)?);
            }
        }
        // The run's zero, on the clock Python's time.monotonic_ns() reads.
        let origin = Instant::now();
        let t0 = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let t0_ns = (t0.tv_sec as u128 * 1_000_000_000 + t0.tv_nsec as u128).to_string();
        command.env("POOLSCOPE_T0_NS", t0_ns);
        let child = command.spawn().map_err(|e| CpythonError::Missing(options.python.clone(), e))?;
        let group = child.id();
        let info = RunInfo {
            scenario: describe.scenario,
            title: describe.title,
            pool: describe.pool,
            seed: describe.seed,
            cores: crate::pool::cpus(),
            labels: describe.labels,
        };
        let translator = Translator::new(info, describe.steps);
        let exit = (Arc::clone(&options.exit), Arc::clone(&options.made));
        let reader = std::thread::Builder::new()
            .name("cpython-events".into())
            .spawn(move || read(socket, child, translator, tx, origin, exit, dir))
            .map_err(CpythonError::Io)?;
        Ok(CpythonRun { origin, group, reader: Some(reader) })
    }

    /// Microseconds from the start of the run to `at`.
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_micros() as u64
    }

    /// Kills `python3` and every process it started (its process group); the stream still
    /// ends with `end`.
    pub fn abort(&self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.group as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }

    /// The process group `python3` leads, with every worker process it started.
    pub fn group(&self) -> u32 {
        self.group
    }

    /// Waits until the run has ended and its folder is gone.
    pub fn join(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The steps whose prints the probe reports (`print_counter`: the main program prints a
/// value it read itself), as `POOLSCOPE_PRINT_STEPS` lists them.
fn print_steps(steps: &[StepText]) -> String {
    let printing = steps.iter().enumerate().filter(|(_, s)| s.op == OpName::PrintCounter.as_str());
    printing.map(|(index, _)| index.to_string()).collect::<Vec<_>>().join(",")
}

/// A file name from a lesson's name.
fn safe_name(name: &str) -> String {
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if name.is_empty() { "lesson".into() } else { name }
}

/// The reader thread: datagrams in, events out, until `python3` has exited and the socket
/// is empty. Then the exit status and the pools it made, `end`, and the folder removed.
fn read(
    socket: UnixDatagram,
    mut child: Child,
    mut translator: Translator,
    tx: EventSender,
    origin: Instant,
    (exit, made): (Arc<Mutex<Option<i32>>>, SharedPools),
    dir: PrivateDir,
) {
    let mut buf = vec![0u8; 1 << 16];
    let mut exited = None;
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                translator.datagram(&buf[..n]);
                for event in translator.drain() {
                    let _ = tx.send(event);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if exited.is_some() {
                    break;
                }
                // Quiet for a moment: has the program exited? Once it has, what it sent is
                // all in the socket; read it to the end without waiting.
                match child.try_wait() {
                    Ok(Some(status)) => {
                        exited = Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
                        let _ = socket.set_nonblocking(true);
                    }
                    Ok(None) => {}
                    Err(_) => {
                        exited = Some(1);
                        let _ = socket.set_nonblocking(true);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = child.kill();
                exited = Some(child.wait().ok().and_then(|s| s.code()).unwrap_or(1));
                break;
            }
        }
    }
    *made.lock().unwrap_or_else(|e| e.into_inner()) = translator.made();
    *exit.lock().unwrap_or_else(|e| e.into_inner()) = exited;
    drop(dir);
    translator.end(origin.elapsed().as_micros() as u64);
    for event in translator.drain() {
        let _ = tx.send(event);
    }
}

/// The events of a run whose probe sent `datagrams`, as the reader thread sends them on,
/// ended once they are all in: a lesson's run (a process pool of 2, three steps, a task
/// template `fetch` labelled `Page{i}`) or, with `lesson` false, a script's.
///
/// For the fuzzer and its corpus test: whatever the datagrams, events, never a panic.
#[doc(hidden)]
pub fn translate_datagrams<'a>(datagrams: impl IntoIterator<Item = &'a [u8]>, lesson: bool) -> Vec<TraceEvent> {
    let info = RunInfo {
        scenario: "fuzz".into(),
        title: "Fuzz".into(),
        pool: lesson.then_some((crate::pool::PoolKind::Process, 2, false)),
        seed: 0,
        cores: 2,
        labels: [("fetch".to_string(), "Page{i}".to_string())].into_iter().collect(),
    };
    let steps = match lesson {
        true => ["submit", "as_completed", "shutdown"]
            .into_iter()
            .map(|op| StepText { op: op.into(), python: format!("# {op}"), note: None })
            .collect(),
        false => Vec::new(),
    };
    let mut translator = Translator::new(info, steps);
    let mut events = Vec::new();
    for datagram in datagrams {
        translator.datagram(datagram);
        events.extend(translator.drain());
    }
    translator.end(0);
    events.extend(translator.drain());
    events
}
