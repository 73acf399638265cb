//! The files a run writes — `--events`, `--trace`, `--record` — as a list of
//! sinks, each fed every event and finished when the run ends.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use poolscope::scenario::{Run, Scenario};
use poolscope::sys::{CpuSample, spawn_sampler};
use poolscope::trace::{ChromeTrace, JsonlWriter, TraceEvent};
use poolscope::ui::Theme;
use poolscope::ui::record::{CastRecorder, RecordFormat};

use super::fail;
use super::run::Outputs;

/// Every output file a run was asked for.
///
/// Files are opened in the order event log, trace, recording: one that cannot be opened
/// stops the run before the next is created. Events go to the trace, the recording, then the
/// event log; at the end the event log is finished first and the trace last. A file that
/// fails to be written is dropped and the others go on: they end complete.
pub struct Sinks {
    files: Vec<OutputFile>,
    /// Why each file that failed did, in the order they failed.
    failed: Vec<String>,
}

impl Sinks {
    /// Creates the files `out` asks for; on failure says why and gives the exit code (1 a
    /// file that cannot be created, 2 a recording format not known).
    pub fn open(out: &Outputs, scenario: &Scenario, speed: f64, theme: Theme) -> Result<Sinks, ExitCode> {
        let events = match out.events.as_deref() {
            None => None,
            Some(path) => Some(OutputFile::open(EVENT_LOG, path, |file| Ok(JsonlWriter::new(file)))?),
        };
        let trace = match out.trace.as_deref() {
            None => None,
            Some(path) => Some(OutputFile::open(TRACE, path, |file| Ok(TraceFile::new(file)))?),
        };
        let recording = match out.record.as_deref() {
            None => None,
            Some(path) => {
                let lesson = poolscope::ui::Lesson::of(scenario);
                let format = RecordFormat::of(path).map_err(|e| fail(2, &e))?;
                Some(OutputFile::open(RECORDING, path, |file| {
                    CastRecorder::new_as(format, BufWriter::new(file), lesson, out.size, speed, theme)
                })?)
            }
        };
        Ok(Sinks { files: [trace, recording, events].into_iter().flatten().collect(), failed: Vec::new() })
    }

    /// True when no file is being written (none was asked for, or every one failed).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The run has started (a trace of a run on the real clock starts sampling the CPU).
    pub fn start(&mut self, run: &Run) {
        for file in &mut self.files {
            file.sink.start(run);
        }
    }

    /// Hands `event` to every sink; one that cannot write it is dropped, and why is kept.
    pub fn event(&mut self, event: &TraceEvent) {
        let failed = &mut self.failed;
        self.files.retain_mut(|file| match file.sink.event(event) {
            Ok(()) => true,
            Err(e) => {
                failed.push(file.cannot_write(&e));
                false
            }
        });
    }

    /// Completes every file, last sink first.
    ///
    /// # Errors
    /// Why each file that could not be written failed, in the order they failed.
    pub fn finish(self, run: &Run) -> Result<(), Vec<String>> {
        let mut failed = self.failed;
        for OutputFile { what, path, sink } in self.files.into_iter().rev() {
            if let Err(e) = sink.finish(run) {
                failed.push(cannot_write(what, &path, &e));
            }
        }
        if failed.is_empty() { Ok(()) } else { Err(failed) }
    }
}

// Each file as its errors name it.
const EVENT_LOG: &str = "the event log";
const TRACE: &str = "the trace";
const RECORDING: &str = "the recording";

/// Where a run's events go: a file written as the run goes, or at its end.
trait Sink {
    /// The run has started.
    fn start(&mut self, _run: &Run) {}

    /// One event, in time order.
    fn event(&mut self, event: &TraceEvent) -> io::Result<()>;

    /// The run has ended: complete the file.
    fn finish(self: Box<Self>, run: &Run) -> io::Result<()>;
}

/// One sink and the file it writes.
struct OutputFile {
    what: &'static str,
    path: PathBuf,
    sink: Box<dyn Sink>,
}

impl OutputFile {
    /// Creates `path` and makes the sink writing it; on failure says why (exit 1).
    fn open<S: Sink + 'static>(
        what: &'static str,
        path: &Path,
        sink: impl FnOnce(File) -> io::Result<S>,
    ) -> Result<OutputFile, ExitCode> {
        match File::create(path).and_then(sink) {
            Ok(sink) => Ok(OutputFile { what, path: path.to_path_buf(), sink: Box::new(sink) }),
            Err(e) => Err(fail(1, &cannot_write(what, path, &e))),
        }
    }

    fn cannot_write(&self, e: &io::Error) -> String {
        cannot_write(self.what, &self.path, e)
    }
}

fn cannot_write(what: &str, path: &Path, e: &io::Error) -> String {
    format!("cannot write {what} {}: {e}", path.display())
}

/// `--events`: JSON Lines, written as events come.
impl Sink for JsonlWriter<File> {
    fn event(&mut self, event: &TraceEvent) -> io::Result<()> {
        self.write(event)
    }

    fn finish(self: Box<Self>, _run: &Run) -> io::Result<()> {
        JsonlWriter::finish(*self).map(drop)
    }
}

/// `--record`: the screen drawn as a cast, an SVG or a GIF.
impl Sink for CastRecorder<BufWriter<File>> {
    fn event(&mut self, event: &TraceEvent) -> io::Result<()> {
        CastRecorder::event(self, event)
    }

    fn finish(self: Box<Self>, _run: &Run) -> io::Result<()> {
        CastRecorder::finish(*self).map(drop)
    }
}

/// `--trace`: a Chrome trace, written whole at the end with a track of the CPU.
struct TraceFile {
    file: File,
    chrome: ChromeTrace,
    /// The machine's CPU, on the real clock.
    cpu: Option<CpuTrack>,
}

impl TraceFile {
    fn new(file: File) -> TraceFile {
        TraceFile { file, chrome: ChromeTrace::new(), cpu: None }
    }
}

impl Sink for TraceFile {
    fn start(&mut self, run: &Run) {
        if run.sim().is_none() {
            self.cpu = Some(CpuTrack::start());
        }
    }

    fn event(&mut self, event: &TraceEvent) -> io::Result<()> {
        self.chrome.apply(event);
        Ok(())
    }

    fn finish(self: Box<Self>, run: &Run) -> io::Result<()> {
        let TraceFile { file, mut chrome, cpu } = *self;
        match (run.sim(), cpu) {
            (Some(sim), _) => {
                chrome.simulated_cpu(0, 0, sim.cores());
                for (at, busy) in sim.busy_cores() {
                    chrome.simulated_cpu(at.as_micros() as u64, busy, sim.cores());
                }
            }
            (None, Some(cpu)) => {
                for (at, sample) in cpu.finish() {
                    chrome.cpu(run.micros(at), &sample.cores);
                }
            }
            (None, None) => {}
        }
        chrome.write(&mut BufWriter::new(file))
    }
}

/// The machine's CPU while a run is traced: per-core samples from the sampler thread.
struct CpuTrack {
    samples: Arc<Mutex<Vec<(Instant, CpuSample)>>>,
    stop: Arc<AtomicBool>,
}

impl CpuTrack {
    fn start() -> CpuTrack {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (into, stopped) = (Arc::clone(&samples), Arc::clone(&stop));
        let started = spawn_sampler(Arc::default(), move |sample| {
            into.lock().unwrap_or_else(|e| e.into_inner()).push((Instant::now(), sample));
            !stopped.load(Ordering::Relaxed)
        });
        if let Err(e) = started {
            let _ = writeln!(io::stderr(), "poolscope: no CPU track in the trace: {e}");
        }
        CpuTrack { samples, stop }
    }

    /// Stops sampling and gives what was sampled.
    fn finish(self) -> Vec<(Instant, CpuSample)> {
        self.stop.store(true, Ordering::Relaxed);
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
