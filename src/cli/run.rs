//! `poolscope run FILE|NAME --headless`: runs a lesson and prints its transcript and summary;
//! `--events FILE.jsonl` writes the event log (SPEC §5); `--trace FILE.json` a Chrome trace
//! (Perfetto, chrome://tracing).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use poolscope::pool::PoolKind;
use poolscope::scenario::cpython::{CpythonOptions, Program, check_distributed, check_python};
use poolscope::scenario::{self, Engine, PoolOverride, Run, RunOptions, python};
use poolscope::trace::{Model, Summary, TraceKind, Transcript, wrap};

use poolscope::ui::quiz::{Ask, QuizOptions};

use super::fail;
use super::sinks::Sinks;
use super::timing::Timing;

/// Where a run's picture and records go: the options `run` and `py` share.
#[derive(Clone, Debug, clap::Args)]
pub struct Outputs {
    /// Print a transcript and a summary instead of opening the live view.
    #[arg(long)]
    pub headless: bool,
    /// Write the event log (JSON Lines, docs/event-log.md) to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: Option<PathBuf>,
    /// Write a Chrome trace-event file (open it in ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Record the screen, drawn without a terminal: FILE.cast, an asciicast v2 file
    /// (plays in asciinema), a marker at each step; FILE.svg, one animated SVG (plays in a
    /// browser or a README), a chapter at each step; or FILE.gif, an animated GIF.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// The recording's terminal size, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "100x30", value_parser = parse_size)]
    pub size: (u16, u16),
}

impl Outputs {
    /// True if an output file is asked for.
    pub fn files(&self) -> bool {
        self.events.is_some() || self.trace.is_some() || self.record.is_some()
    }

    /// True if the live view is wanted (and may open, on a terminal).
    pub fn live(&self) -> bool {
        !self.headless && !self.files()
    }
}

/// Options of `poolscope run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A scenario file, or the name of a built-in lesson (see `poolscope list`).
    pub scenario: String,
    #[command(flatten)]
    pub out: Outputs,
    /// Change the lesson's pool: `kind=process`, `workers=8`, `gil=false`, ... (the keys of
    /// [pool]: kind, workers, gil, on_worker_death, start_method, eager; and a Dask pool's
    /// threads_per_worker, processes, scheduler=tcp://HOST:PORT).
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub pool: Option<PoolOverride>,
    /// Live: start paused; `s` runs the lesson to the next step boundary and holds there,
    /// `b` goes back a step.
    #[arg(long)]
    pub step: bool,
    /// Live: do not hold the picture at step boundaries for the captions' reading time.
    #[arg(long)]
    pub no_hold: bool,
    /// Live: before every step where a prediction makes sense (a map's order, a step's
    /// time, which tasks fail, which cancels succeed), ask for one, then score it against
    /// the run — not only at the lesson's own `predict` steps.
    #[arg(long, conflicts_with = "no_predict")]
    pub quiz: bool,
    /// Live: do not stop for the lesson's predictions (for a demo or a recording).
    #[arg(long)]
    pub no_predict: bool,
    /// Live: keep each question, the answer given and what the run did, in a JSON file (for
    /// a teacher); written as the lesson goes.
    #[arg(long, value_name = "FILE.json")]
    pub answers: Option<PathBuf>,
    /// Which pool runs the lesson: poolscope's own, or CPython's (the lesson's Python
    /// program under `python3`, traced live) [default: poolscope; cpython for a lesson on a
    /// Dask cluster, which only CPython reaches]
    #[arg(long, value_enum)]
    pub engine: Option<EngineName>,
    #[command(flatten)]
    pub timing: Timing,
    #[command(flatten)]
    pub look: super::look::Look,
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineName {
    /// poolscope's Rust pools.
    Poolscope,
    /// CPython's `concurrent.futures`, in `python3`.
    Cpython,
}

impl RunArgs {
    /// The engine that runs `scenario`: the one asked for, else poolscope's own — CPython's
    /// for a Dask pool, which poolscope's engine cannot run.
    pub fn engine_for(&self, scenario: &scenario::Scenario) -> EngineName {
        self.engine.unwrap_or(if scenario.pool.kind == PoolKind::Dask {
            EngineName::Cpython
        } else {
            EngineName::Poolscope
        })
    }

    /// How the live view behaves.
    pub fn live(&self) -> super::ui::Live {
        let ask = match (self.quiz, self.no_predict) {
            (true, _) => Ask::EveryStep,
            (_, true) => Ask::Never,
            _ => Ask::Predicts,
        };
        super::ui::Live {
            holds: !self.no_hold,
            step: self.step,
            theme: self.look.theme(),
            quiz: QuizOptions { ask, answers: self.answers.clone() },
        }
    }
}

/// The run options for `args`: on CPython, the lesson's program; `None` (after saying why,
/// exit 2) for options the engine refuses.
pub fn options_for(args: &RunArgs, scenario: &scenario::Scenario, live: bool) -> Result<RunOptions, ExitCode> {
    let mut options = args.timing.options(live);
    let engine = args.engine_for(scenario);
    if scenario.pool.kind == PoolKind::Dask {
        if engine != EngineName::Cpython {
            let message = "kind = \"dask\" runs the lesson's program on a Dask cluster, which only the CPython engine reaches; drop --engine poolscope (a Dask lesson runs on CPython by default), or try --pool kind=thread";
            return Err(fail(2, message));
        }
        // Before a live view opens: without distributed, say how to install it.
        let python = std::path::Path::new("python3");
        if let Err(e) = check_python(python).and_then(|_| check_distributed(python)) {
            return Err(fail(1, &e.to_string()));
        }
    }
    if engine == EngineName::Cpython {
        if args.timing.virtual_time {
            return Err(fail(2, "--virtual-time does not apply to --engine cpython: CPython's pools run in real time"));
        }
        if args.timing.speed != 1.0 {
            return Err(fail(2, "--speed does not apply to --engine cpython: the program's durations are its own"));
        }
        let lesson = poolscope::ui::Lesson::of(scenario);
        options.engine =
            Engine::Cpython(CpythonOptions::new(Program::Lesson { code: lesson.code, step_lines: lesson.step_lines }));
    }
    Ok(options)
}

/// Runs `poolscope run`. Exit codes: 0 done, 1 runtime failure (an unwritable output, a pool
/// that cannot start), 2 bad input.
pub fn main(args: &RunArgs) -> ExitCode {
    if args.quiz || args.answers.is_some() {
        let flag = if args.quiz { "--quiz" } else { "--answers" };
        let why = if args.out.live() { "stdout is not a terminal" } else { "the run is headless" };
        return fail(
            2,
            &format!(
                "{flag} asks the learner in the live view, and {why}; run it in a terminal without --headless, --events, --trace or --record"
            ),
        );
    }
    let scenario = match super::load_lesson(&args.scenario, args.pool.as_ref()) {
        Ok(scenario) => scenario,
        Err(e) => return fail(2, &e),
    };
    let options = match options_for(args, &scenario, false) {
        Ok(options) => options,
        Err(code) => return code,
    };
    play(args, &scenario, options)
}

/// Runs `scenario` with `options` as `args` asks (transcript, event log, trace, recording).
/// On CPython the exit code is 1 when `python3` failed (its traceback is on stderr).
pub fn play(args: &RunArgs, scenario: &scenario::Scenario, options: RunOptions) -> ExitCode {
    let scenario = scenario.clone();
    let files = args.out.files();
    // The transcript goes to stdout when asked for (--headless), or in place of a live view
    // that cannot open; output files alone are written quietly.
    let print_transcript = args.out.headless || !files;
    if !args.out.headless {
        // The command line sends `run` here without --headless only when the live view
        // cannot open (no terminal) or an output file is asked for.
        let why = if files {
            "writing the output files without a live view (--headless also prints the transcript)"
        } else {
            "stdout is not a terminal; running headless"
        };
        let _ = writeln!(io::stderr(), "poolscope: {why}");
    }
    let mut sinks = match Sinks::open(&args.out, &scenario, args.timing.speed, args.look.theme()) {
        Ok(sinks) => sinks,
        Err(code) => return code,
    };
    let stdout = io::stdout();
    let mut out: Box<dyn Write> =
        if print_transcript { Box::new(io::LineWriter::new(stdout.lock())) } else { Box::new(io::sink()) };
    let written = match &options.engine {
        Engine::Cpython(CpythonOptions { program: Program::Script { path, args }, .. }) => {
            writeln!(out, "━━ python3 {} {} ━━ (CPython's own pools, traced)", path.display(), args.join(" "))
                .and_then(|()| writeln!(out))
        }
        _ => header(&scenario, args.pool.as_ref(), &mut out),
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe && sinks.is_empty() => return ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => out = Box::new(io::sink()),
        Err(e) => return fail(1, &format!("cannot write the transcript to stdout: {e}")),
        Ok(()) => {}
    }
    let exit = match &options.engine {
        Engine::Cpython(cpython) => Some(Arc::clone(&cpython.exit)),
        Engine::Poolscope => None,
    };
    let run = match Run::start(&scenario, &options) {
        Ok(run) => run,
        Err(e) => return fail(1, &e.to_string()),
    };
    if let Some(group) = run.cpython_group() {
        stop_on_signal(group);
    }
    sinks.start(&run);
    let mut model = Model::new();
    let mut transcript = Transcript::default();
    for event in run.events().iter() {
        model.apply(&event);
        sinks.event(&event);
        if let Err(e) = transcript.event(&model, &event, &mut out) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return abort(run, &format!("cannot write the transcript to stdout: {e}"));
            }
            // The reader stopped reading (`| head -1`): no failure. The files asked for are
            // still completed; with none, there is nothing left to do.
            if sinks.is_empty() {
                return abort_quietly(run);
            }
            out = Box::new(io::sink());
        }
        if matches!(event.kind, TraceKind::End { .. }) {
            break;
        }
    }
    let failed = sinks.finish(&run).err().unwrap_or_default();
    let closing = transcript
        .finish(&model, &mut out)
        .and_then(|()| writeln!(out))
        .and_then(|()| writeln!(out, "{}", Summary::of(&model).in_lesson_time(model.speed)))
        .and_then(|()| out.flush());
    match closing {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return abort(run, &format!("cannot write the transcript to stdout: {e}")),
        Ok(()) => {}
    }
    run.join();
    if let Some((last, before)) = failed.split_last() {
        for message in before {
            let _ = writeln!(io::stderr(), "poolscope: {message}");
        }
        return fail(1, last);
    }
    match exit.and_then(|exit| *exit.lock().unwrap_or_else(|e| e.into_inner())) {
        Some(code) if code != 0 => fail(1, &format!("python3 exited with status {code}")),
        _ => ExitCode::SUCCESS,
    }
}

fn header(scenario: &scenario::Scenario, pool: Option<&PoolOverride>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "━━ {} ━━", scenario.title)?;
    if !scenario.summary.is_empty() {
        write!(out, "{}", wrap(&scenario.summary, 92, ""))?;
    }
    if let Some(pool) = pool {
        writeln!(
            out,
            "(--pool {pool}: the pool below is changed from the lesson's; the text above is about its own.)"
        )?;
    }
    writeln!(out)?;
    writeln!(out, "The program, in Python:")?;
    for line in python::preamble(scenario).lines() {
        writeln!(out, "   │ {line}")?;
    }
    writeln!(out, "   │     ... the steps below, one by one ...")?;
    writeln!(out)
}

/// `WIDTHxHEIGHT`, each from 1 to 1000.
pub(super) fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let expected = || format!("{text:?} is not a size: expected WIDTHxHEIGHT, e.g. 100x30");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(expected)?;
    let (w, h): (u16, u16) = (w.trim().parse().map_err(|_| expected())?, h.trim().parse().map_err(|_| expected())?);
    if !(1..=1000).contains(&w) || !(1..=1000).contains(&h) {
        return Err(format!("{text:?}: width and height must be between 1 and 1000"));
    }
    Ok((w, h))
}

/// Stops a run whose output broke, and exits 1 without waiting for its tasks: a running task
/// may be long, and the process ends anyway.
fn abort(run: Run, message: &str) -> ExitCode {
    run.abort();
    std::mem::forget(run);
    fail(1, message)
}

/// Stops a run nobody reads any more, as [`abort`], and exits 0.
fn abort_quietly(run: Run) -> ExitCode {
    run.abort();
    std::mem::forget(run);
    ExitCode::SUCCESS
}

/// On SIGINT, SIGTERM or SIGHUP, kills `python3`'s process group (it leads its own, so the
/// signal does not reach it): no worker, Dask's or multiprocessing's, outlives poolscope. The
/// run then ends as a killed program's does, with `end`.
fn stop_on_signal(group: u32) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        if signals.forever().next().is_some()
            && let Some(group) = rustix::process::Pid::from_raw(group as i32)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    });
}
