//! The headless transcript: a run told as the teaching material's print-outs tell it — who
//! ran what on which worker and PID, what the main program received and in which order, the
//! exceptions it saw, the callbacks. Written line by line as events arrive; reads the
//! [`Model`] the events were folded into.

use std::io::{self, Write};

use super::event::{ResultOutcome, TraceEvent, TraceKind};
use super::model::Model;
use crate::pool::TaskId;
use crate::pool::{Outcome, Phase};

/// Event lines shown per step before the rest are counted and skipped (the event log has
/// them all).
pub const LINES_PER_STEP: usize = 60;

/// Results listed at the end; the rest are counted.
const RESULTS_LISTED: usize = 200;

/// Writes a run's transcript. Feed it every event after folding it into the model.
#[derive(Debug)]
pub struct Transcript {
    budget: usize,
    shown: usize,
    hidden: usize,
    submits: Option<Submits>,
    /// The first [`RESULTS_LISTED`] results, as listed at the end: (who, what). Taken as they
    /// arrive, since the model keeps only a window of results and tasks.
    results: Vec<(String, String)>,
    /// The caption of the step under way: a `note` step's text, already shown as its caption,
    /// is not shown again when the step runs.
    caption: Option<String>,
}

/// Consecutive submits, told in one line.
#[derive(Debug)]
struct Submits {
    t: u64,
    first: TaskId,
    /// The first one's name, taken when it was submitted (a long run of submits may push
    /// it out of the model's window).
    first_name: String,
    last: TaskId,
    /// When the last one was submitted: arrivals spread over time, a burst does not.
    last_t: u64,
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript::new(LINES_PER_STEP)
    }
}

/// `   1.234s`.
pub fn clock(t_us: u64) -> String {
    format!("{:>8.3}s", t_us as f64 / 1e6)
}

/// Wraps `text` to `width` columns, each line prefixed by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(indent);
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl Transcript {
    /// A transcript showing at most `budget` event lines per step.
    pub fn new(budget: usize) -> Transcript {
        Transcript { budget, shown: 0, hidden: 0, submits: None, results: Vec::new(), caption: None }
    }

    /// Writes what `event` (already folded into `model`) means.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn event(&mut self, model: &Model, event: &TraceEvent, out: &mut dyn Write) -> io::Result<()> {
        // Shown in lesson time: at `--speed F` everything happened F times faster.
        let t = (event.t as f64 * model.speed.max(f64::MIN_POSITIVE)) as u64;
        if let TraceKind::Submit { task, .. } = &event.kind {
            match &mut self.submits {
                Some(run) if run.last + 1 == *task => {
                    run.last = *task;
                    run.last_t = t;
                }
                _ => {
                    self.flush_submits(model, out)?;
                    let first_name = model.task_name(*task);
                    self.submits = Some(Submits { t, first: *task, first_name, last: *task, last_t: t });
                }
            }
            return Ok(());
        }
        // The GIL's hand-offs (every 5 ms) are drawn and summed up, not listed; nor is a Dask
        // worker's CPU, read twice a second.
        if matches!(event.kind, TraceKind::Queue { .. } | TraceKind::Gil { .. } | TraceKind::WorkerCpu { .. }) {
            return Ok(());
        }
        if matches!(event.kind, TraceKind::Result { .. } | TraceKind::Raise { .. } | TraceKind::Print { .. })
            && self.results.len() < RESULTS_LISTED
            && let Some(received) = model.received.back()
        {
            let who = match (received.task, &event.kind) {
                (Some(id), _) => model.task_name(id),
                (None, TraceKind::Print { .. }) => "(printed)".to_string(),
                (None, _) => "(exception)".to_string(),
            };
            self.results.push((who, received.text.clone()));
        }
        self.flush_submits(model, out)?;
        // Past the step's budget a line is only counted: its text is never built (a run of a
        // million tasks would spend most of its headless time formatting lines no one sees).
        if self.shown >= self.budget {
            let lines = match &event.kind {
                TraceKind::Run { .. } | TraceKind::Step { .. } | TraceKind::Note { .. } | TraceKind::End { .. } => 0,
                TraceKind::Poll { futures } => 1 + futures.len(),
                _ => 1,
            };
            if lines > 0 {
                self.hidden += lines;
                return Ok(());
            }
        }
        let name = |id: TaskId| model.task_name(id);
        let text = match &event.kind {
            TraceKind::Run { pool, workers, seed, speed, gil, .. } => {
                let gil = if *gil { " with a simulated GIL" } else { "" };
                let speed = if *speed == 1.0 {
                    String::new()
                } else {
                    format!(
                        "\nspeed {speed}x: every duration was divided by {speed}; the times below are lesson time (real time x {speed})"
                    )
                };
                return writeln!(out, "pool: {pool}{gil}, {workers} workers, seed {seed}{speed}");
            }
            TraceKind::Step { index, op, python, note } => {
                self.end_step(out)?;
                writeln!(out)?;
                writeln!(out, "── step {} · {op} {}", index + 1, "─".repeat(60usize.saturating_sub(op.len())))?;
                for line in python.lines() {
                    writeln!(out, "   │ {line}")?;
                }
                if let Some(note) = note {
                    write!(out, "{}", wrap(note, 88, "   ▸ "))?;
                }
                self.caption.clone_from(note);
                return Ok(());
            }
            TraceKind::WorkerUp { worker, pid } => format!("worker {worker} starts (pid {pid})"),
            TraceKind::WorkerDown { worker, pid, reason, cause: None } => {
                format!("worker {worker} exits (pid {pid}): {reason}")
            }
            TraceKind::WorkerDown { worker, pid, reason, cause: Some(cause) } => {
                format!("worker {worker} exits (pid {pid}): {reason} — {cause}")
            }
            TraceKind::ThreadName { worker, name } => format!("worker {worker} is the thread {name:?}"),
            TraceKind::Initializing { worker } => format!("worker {worker} runs the pool's initializer"),
            TraceKind::Initialized { worker, error: None } => format!("worker {worker} ran the pool's initializer"),
            TraceKind::Initialized { worker, error: Some(error) } => {
                format!("worker {worker}: the pool's initializer raised {error:?} (\"Exception in initializer\")")
            }
            TraceKind::Submit { .. }
            | TraceKind::Queue { .. }
            | TraceKind::Gil { .. }
            | TraceKind::WorkerCpu { .. } => {
                unreachable!("handled above")
            }
            TraceKind::Start { task, worker, pid } => {
                format!("worker {worker} (pid {pid}) starts {}", name(*task))
            }
            TraceKind::Finish { task, worker, outcome, value, error } => {
                let took = model
                    .task(*task)
                    .and_then(|r| r.run_us())
                    .map_or(String::new(), |us| format!(" after {}", short((us as f64 * model.speed) as u64)));
                match outcome {
                    Outcome::Ok => match value {
                        Some(value) => format!("worker {worker} finished {}{took}, returning {value}", name(*task)),
                        None => format!("worker {worker} finished {}{took}", name(*task)),
                    },
                    Outcome::Error => format!(
                        "worker {worker}: {} raised {:?}{took} — the worker survives and takes the next task",
                        name(*task),
                        error.clone().unwrap_or_default()
                    ),
                    Outcome::Crashed => {
                        format!("worker {worker} DIED running {}: {}", name(*task), error.clone().unwrap_or_default())
                    }
                }
            }
            TraceKind::Cancel { task, ok } => {
                if *ok {
                    format!("cancel({}) -> True: it was still waiting in the queue, it will never run", name(*task))
                } else {
                    let state = match model.task(*task).map(|r| r.state) {
                        Some(super::TaskState::Running) => "it is already running",
                        _ => "it already finished",
                    };
                    format!("cancel({}) -> False: {state}", name(*task))
                }
            }
            TraceKind::Abandon { task, error: None } => {
                format!("{} dropped without running: the pool stopped", name(*task))
            }
            TraceKind::Abandon { task, error: Some(error) } => {
                format!("{} never reaches a worker process: {error}", name(*task))
            }
            TraceKind::Callback { task, thread, error } => match error {
                None => format!("callback for {} ran on thread {thread:?}", name(*task)),
                Some(error) => format!(
                    "callback for {} ran on thread {thread:?} and raised {error:?} (reported; the pool goes on)",
                    name(*task)
                ),
            },
            TraceKind::Result { task, outcome, value, error, exception } => match outcome {
                ResultOutcome::Ok => format!("main program <- {}: {}", name(*task), value.clone().unwrap_or_default()),
                ResultOutcome::Timeout => format!(
                    "main program <- {}: TimeoutError (it stopped waiting; the task itself goes on)",
                    name(*task)
                ),
                ResultOutcome::Cancelled => format!("main program <- {}: CancelledError", name(*task)),
                ResultOutcome::Error => format!(
                    "main program <- {}: {}: {}",
                    name(*task),
                    exception.clone().unwrap_or_else(|| "Exception".into()),
                    error.clone().unwrap_or_default()
                ),
            },
            TraceKind::Print { text } => format!("main program prints: {text}"),
            TraceKind::Shutdown { wait, phase } => {
                let wait = if *wait { "True" } else { "False" };
                match phase {
                    Phase::Begin => format!("shutdown(wait={wait}) called: no new work accepted"),
                    Phase::End => format!("shutdown(wait={wait}) returned"),
                }
            }
            TraceKind::Raise { exception, message } => format!("main program sees {exception}: {message}"),
            TraceKind::Poll { futures } => {
                self.line(out, t, "poll: done() / running() / cancelled() of each future:")?;
                for f in futures {
                    let (done, running, cancelled) = match f.state.as_str() {
                        "pending" => (false, false, false),
                        "running" => (false, true, false),
                        "cancelled" => (true, false, true),
                        _ => (true, false, false),
                    };
                    let text = format!(
                        "    {:<24} {:<9} done={} running={} cancelled={}",
                        name(f.task),
                        f.state,
                        py(done),
                        py(running),
                        py(cancelled)
                    );
                    self.line(out, t, &text)?;
                }
                return Ok(());
            }
            TraceKind::Waited { done, not_done } => {
                let list = |ids: &[TaskId]| ids.iter().map(|id| format!("#{id}")).collect::<Vec<_>>().join(", ");
                format!("wait returned: done = {{{}}}, not_done = {{{}}}", list(done), list(not_done))
            }
            TraceKind::Resize { workers, .. } => format!("pool resized to {workers} workers"),
            TraceKind::Note { text } if self.caption.as_ref() == Some(text) => return Ok(()),
            TraceKind::Note { text } => {
                self.flush_submits(model, out)?;
                write!(out, "{}", wrap(text, 88, "   ▸ "))?;
                return Ok(());
            }
            TraceKind::End { makespan_us } => {
                self.end_step(out)?;
                writeln!(out)?;
                return writeln!(
                    out,
                    "── end of the run after {} ──",
                    short((*makespan_us as f64 * model.speed) as u64)
                );
            }
        };
        self.line(out, t, &text)
    }

    /// Writes the closing part: every result in the order the main program received it.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn finish(&mut self, model: &Model, out: &mut dyn Write) -> io::Result<()> {
        self.flush_submits(model, out)?;
        self.end_step(out)?;
        writeln!(out)?;
        writeln!(out, "What the main program received, in order:")?;
        if model.received_total == 0 {
            writeln!(out, "   (nothing: it never asked for a result)")?;
        }
        for (i, (who, what)) in self.results.iter().enumerate() {
            writeln!(out, "   {:>3}. {:<24} {what}", i + 1, who)?;
        }
        if model.received_total > RESULTS_LISTED {
            writeln!(out, "   ... and {} more", model.received_total - RESULTS_LISTED)?;
        }
        if model.callbacks > 0 {
            writeln!(out)?;
            writeln!(out, "Done-callbacks: {} ran.", model.callbacks)?;
        }
        Ok(())
    }

    fn line(&mut self, out: &mut dyn Write, t: u64, text: &str) -> io::Result<()> {
        if self.shown >= self.budget {
            self.hidden += 1;
            return Ok(());
        }
        self.shown += 1;
        writeln!(out, "{} │ {text}", clock(t))
    }

    fn end_step(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.hidden > 0 {
            writeln!(
                out,
                "          │ ... {} more lines in this step (the --events log has every event)",
                self.hidden
            )?;
        }
        self.shown = 0;
        self.hidden = 0;
        Ok(())
    }

    fn flush_submits(&mut self, model: &Model, out: &mut dyn Write) -> io::Result<()> {
        let Some(run) = self.submits.take() else { return Ok(()) };
        let text = if run.first == run.last {
            format!("submitted {} to the queue", run.first_name)
        } else {
            // Submits a millisecond apart or more came one by one (arrivals): say until when.
            let until = if run.last_t >= run.t + 1_000 {
                format!(", the last at {}", clock(run.last_t).trim())
            } else {
                String::new()
            };
            format!(
                "submitted {} .. {} to the queue ({} tasks{until})",
                run.first_name,
                model.task_name(run.last),
                run.last - run.first + 1
            )
        };
        self.line(out, run.t, &text)
    }
}

fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn short(us: u64) -> String {
    super::summary::human_us(us as f64).replace(' ', "")
}
