//! `poolscope compare FILE --a 'kind=thread' --b 'kind=process'`: one lesson on two pools,
//! same seed. On a terminal both run live on one screen, A above B; `--headless` (or a pipe)
//! runs A, then B, each alone on the machine, and prints their numbers side by side.
//!
//! A side given `engine=cpython` runs on CPython's own pools: the lesson's Python program
//! under `python3`, its output captured rather than printed over the view or the table.
//! CPython runs in real time, so such a comparison refuses `--virtual-time` and `--speed`.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use poolscope::pool::PoolKind;
use poolscope::scenario::cpython::{self, CpythonOptions, Output, PrivateDir, Program};
use poolscope::scenario::{
    self, Engine, EngineChoice, RunOptions, Scenario, SideOverride, WorkerCount, measure_unless,
};
use poolscope::trace::{Summary, TraceEvent, human_us, percentile_us};
use poolscope::ui::compare::{self, Side};
use poolscope::ui::record::{CastRecorder, RecordFormat};
use poolscope::ui::view::Lesson;

use super::fail;
use super::timing::Timing;

/// Options of `poolscope compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A scenario file, the name of a built-in lesson (see `poolscope list`), or your own
    /// Python program (SCRIPT.py): it runs under python3 once per side, its pools given the
    /// side's workers=N (--a workers=2 --b workers=8; a side not given runs it as written).
    pub scenario: String,
    /// Run A's pool: the lesson's [pool] changed by `key=value` pairs (kind, workers, gil,
    /// on_worker_death, start_method, eager, and a Dask pool's threads_per_worker, processes,
    /// scheduler), and which engine runs it: engine=poolscope|cpython (CPython's
    /// own pools, running the lesson's program under python3, in real time) [default: as the
    /// lesson says, on poolscope]
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub a: Option<SideOverride>,
    /// Run B's pool, as for --a.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub b: Option<SideOverride>,
    /// Print the two runs' numbers side by side instead of showing them live.
    #[arg(long)]
    pub headless: bool,
    /// Print both runs' numbers as one JSON object `{"a": …, "b": …}`.
    #[arg(long)]
    pub json: bool,
    /// Record the comparison, A above B, as an asciicast v2 file (no terminal needed; runs
    /// headless). A ran, then B, each alone; the recording shows them on one clock.
    #[arg(long, value_name = "FILE.cast")]
    pub record: Option<PathBuf>,
    /// The recording's terminal size, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "120x48", value_parser = super::run::parse_size)]
    pub size: (u16, u16),
    /// SCRIPT.py only: size just the program's pool N, counting from 0 in the order the
    /// program makes its pools [default: every pool]
    #[arg(long, value_name = "N")]
    pub pool_index: Option<usize>,
    /// SCRIPT.py only: keep the program's output here: a.stdout, a.stderr, b.stdout,
    /// b.stderr [default: a new folder under the system's temporary folder, named at the end]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// SCRIPT.py only: the program's arguments (its sys.argv[1:]), after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub script_args: Vec<String>,
    #[command(flatten)]
    pub timing: Timing,
    #[command(flatten)]
    pub look: super::look::Look,
}

/// Runs `poolscope compare`. Exit codes: 0 done, 1 a run or the terminal failed, 2 bad input.
pub fn main(args: &CompareArgs) -> ExitCode {
    if args.a.is_none() && args.b.is_none() {
        let example = match poolscope::scenario::script::is_script(&args.scenario) {
            true => "--a workers=2 --b workers=8",
            false => "--a kind=thread --b kind=process",
        };
        return fail(2, &format!("nothing to compare: give --a and/or --b, e.g. {example}"));
    }
    if poolscope::scenario::script::is_script(&args.scenario) {
        return super::compare_script::main(args);
    }
    let refused = super::sweep_script::lesson_refuses(
        &args.scenario,
        args.pool_index,
        args.output_dir.as_ref(),
        &args.script_args,
    );
    if let Some(code) = refused {
        return code;
    }
    let lesson = match scenario::load(&args.scenario) {
        Ok(lesson) => lesson,
        Err(e) => return fail(2, &e.to_string()),
    };
    let mut sides = Vec::new();
    for (name, over) in [("a", &args.a), ("b", &args.b)] {
        let over = over.clone().unwrap_or_default();
        match over.pool.apply(&lesson) {
            Ok(scenario) => sides.push((label(name, &over, &lesson), scenario, over.engine())),
            Err(e) => return fail(2, &format!("--{name} {over}: {e}")),
        }
    }
    if let Some((label, _, _)) = sides.iter().find(|(_, _, engine)| *engine == EngineChoice::Cpython) {
        if args.timing.virtual_time {
            return fail(2, &format!("--virtual-time does not apply to {label}: the CPython engine runs in real time"));
        }
        if args.timing.speed != 1.0 {
            return fail(
                2,
                &format!(
                    "--speed does not apply to {label}: the CPython engine runs in real time, the program's \
                     durations are its own"
                ),
            );
        }
        if let Err(e) = cpython::check_python(std::path::Path::new("python3")) {
            return fail(2, &format!("{label}: {e}"));
        }
    }
    // Each side's engine; a CPython side's program output goes to a private folder.
    let mut engines = Vec::new();
    for (label, scenario, engine) in &mut sides {
        if let Some(seed) = args.timing.seed {
            // The program's durations are drawn from the lesson's seed when it is written.
            scenario.seed = seed;
        }
        match engine_for(*engine, scenario) {
            Ok(engine) => engines.push(engine),
            Err(e) => return fail(1, &format!("{label}: {e}")),
        }
    }
    let [(a_label, a, _), (b_label, b, _)] = <[_; 2]>::try_from(sides).expect("two sides");
    let [a_engine, b_engine] = <[_; 2]>::try_from(engines).expect("two engines");
    if !args.headless && !args.json && args.record.is_none() && super::tty() {
        let options = args.timing.options(true);
        let sides =
            [Side::new(&a_label, a).on(a_engine.engine.clone()), Side::new(&b_label, b).on(b_engine.engine.clone())];
        let outcome = compare::run(sides, options, args.look.theme());
        // After the view: what a program that failed said (its output was not shown over it).
        for (label, engine) in [(&a_label, &a_engine), (&b_label, &b_engine)] {
            if let Some(failure) = engine.failure(true) {
                let _ = writeln!(io::stderr(), "poolscope: {label}: {failure}");
            }
        }
        return match outcome {
            Ok(()) => super::quit_code(),
            Err(e) => fail(1, &format!("the comparison failed: {e}")),
        };
    }
    let options = args.timing.options(false);
    let cores = args.timing.cores();
    // The recording's file first: a path that cannot be written fails before the runs.
    let format = match args.record.as_deref().map(RecordFormat::of).transpose() {
        Ok(format) => format.unwrap_or(RecordFormat::Cast),
        Err(e) => return fail(2, &e),
    };
    let cast = match &args.record {
        None => None,
        Some(path) => match File::create(path) {
            Ok(file) => Some((path, io::BufWriter::new(file))),
            Err(e) => return fail(1, &format!("cannot write the recording {}: {e}", path.display())),
        },
    };
    // A, then B: each alone on the machine, folded as it runs; its events kept only to record.
    let mut summaries = Vec::new();
    let mut recorded = Vec::new();
    for (scenario, (label, engine)) in [&a, &b].into_iter().zip([(&a_label, &a_engine), (&b_label, &b_engine)]) {
        let options = RunOptions { engine: engine.engine.clone(), ..options.clone() };
        let mut events = Vec::new();
        let keep = |event: &TraceEvent| {
            if cast.is_some() {
                events.push(event.clone());
            }
        };
        match measure_unless(scenario, &options, &AtomicBool::new(false), keep) {
            Ok(summary) => summaries.push(summary.unwrap_or_default()),
            Err(e) => return fail(1, &format!("{label}: {e}")),
        }
        if let Some(failure) = engine.failure(false) {
            return fail(1, &format!("{label}: {failure}"));
        }
        recorded.push(events);
    }
    if let Some((path, file)) = cast
        && let Err(e) = record(file, format, args, [(&a_label, &a, &recorded[0]), (&b_label, &b, &recorded[1])])
    {
        return fail(1, &format!("cannot write the recording {}: {e}", path.display()));
    }
    let (ran_a, ran_b) = (summaries[0].ran(), summaries[1].ran());
    let like_for_like = (ran_a, summaries[0].tasks) == (ran_b, summaries[1].tasks);
    let mut out = io::stdout().lock();
    let written = if args.json {
        let json = serde_json::json!({
            "a": { "pool": pool_of(&a, cores, a_engine.choice), "engine": a_engine.choice.as_str(), "summary": &summaries[0] },
            "b": { "pool": pool_of(&b, cores, b_engine.choice), "engine": b_engine.choice.as_str(), "summary": &summaries[1] },
        });
        writeln!(out, "{json}")
    } else {
        let mut head = format!(
            "━━ Compare: {} ━━\n{a_label}: {}\n{b_label}: {}\nSame seed; A ran, then B, each alone on the machine; {} \
             time{}.\n",
            lesson.title,
            pool_of(&a, cores, a_engine.choice),
            pool_of(&b, cores, b_engine.choice),
            args.timing.clock_name(),
            if args.timing.speed == 1.0 {
                String::new()
            } else {
                format!(
                    "; speed ×{}, times in lesson time (fixed costs such as starting processes grow with it)",
                    args.timing.speed
                )
            }
        );
        if let Some(note) = super::sweep::resize_note(&lesson) {
            head.push_str(&note);
            head.push('\n');
        }
        if !like_for_like {
            head.push_str(&format!(
                "A ran {ran_a} of {} tasks and B {ran_b} of {}: their times are not a like-for-like comparison.\n",
                summaries[0].tasks, summaries[1].tasks
            ));
        }
        write!(out, "{head}\n{}", table(&summaries[0], &summaries[1], like_for_like))
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("cannot write to stdout: {e}")),
    }
}

/// A side's engine, and on CPython where its program's output went and how `python3` exited.
#[derive(Debug)]
struct SideEngine {
    choice: EngineChoice,
    engine: Engine,
    /// The program's stdout and stderr, kept until the comparison ends.
    output: Option<PrivateDir>,
    exit: Option<Arc<Mutex<Option<i32>>>>,
}

impl SideEngine {
    /// What went wrong in the side's `python3`, if it exited with an error of its own (a
    /// status above 128 is a signal: `after_quit`, the comparison's own stop), with the last
    /// lines of its stderr.
    fn failure(&self, after_quit: bool) -> Option<String> {
        let status = (*self.exit.as_ref()?.lock().unwrap_or_else(|e| e.into_inner()))?;
        if status == 0 || (after_quit && status > 128) {
            return None;
        }
        let stderr = self
            .output
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.path().join("stderr")).ok())
            .unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Some(if tail.is_empty() {
            format!("python3 exited with status {status}")
        } else {
            format!("python3 exited with status {status}:\n{}", tail.join("\n"))
        })
    }
}

/// The engine for a side running `scenario`: on CPython, the scenario's program with its
/// output captured.
fn engine_for(choice: EngineChoice, scenario: &Scenario) -> io::Result<SideEngine> {
    if choice == EngineChoice::Poolscope {
        return Ok(SideEngine { choice, engine: Engine::Poolscope, output: None, exit: None });
    }
    let lesson = Lesson::of(scenario);
    let mut options = CpythonOptions::new(Program::Lesson { code: lesson.code, step_lines: lesson.step_lines });
    let dir = PrivateDir::new()?;
    let file = |name: &str| File::create(dir.path().join(name)).map(Arc::new);
    options.output = Output::Capture { stdout: file("stdout")?, stderr: file("stderr")? };
    let exit = Arc::clone(&options.exit);
    Ok(SideEngine { choice, engine: Engine::Cpython(options), output: Some(dir), exit: Some(exit) })
}

/// Draws the two runs, A above B, into an asciicast or an SVG: their events merged on one
/// clock.
fn record(
    file: io::BufWriter<File>,
    format: RecordFormat,
    args: &CompareArgs,
    sides: [(&String, &Scenario, &Vec<TraceEvent>); 2],
) -> io::Result<()> {
    let labels = sides.map(|(label, scenario, _)| (label.clone(), Lesson::of(scenario)));
    let mut recorder = CastRecorder::comparing(file, labels, args.size, args.timing.speed, args.look.theme())?;
    recorder.set_format(format, args.size)?;
    let [(_, _, a), (_, _, b)] = sides;
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        // The earlier event next; at the same moment, A's first.
        let side = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => usize::from(y.t < x.t),
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (None, None) => break,
        };
        let event = if side == 0 { a.next() } else { b.next() }.expect("peeked");
        recorder.event_of(side, event)?;
    }
    recorder.finish()?.flush()
}

/// `A · kind=thread`, or `A · as written` when the side changes nothing. When the kind
/// changes, the lesson's captions still speak of its own: say so.
fn label(name: &str, over: &SideOverride, lesson: &Scenario) -> String {
    let name = name.to_uppercase();
    match over.pool.kind {
        _ if *over == SideOverride::default() => format!("{name} · as written"),
        Some(kind) if kind != lesson.pool.kind => {
            format!("{name} · {over} (the lesson's text is about a {} pool)", lesson.pool.kind)
        }
        _ => format!("{name} · {over}"),
    }
}

/// `thread pool, 4 workers + GIL`, as the scenario will run it on `cores` cores; on CPython,
/// `thread pool, 4 workers, CPython's own (python3)`.
fn pool_of(scenario: &Scenario, cores: usize, engine: EngineChoice) -> String {
    let pool = &scenario.pool;
    let workers = match (pool.kind, pool.workers) {
        (PoolKind::Coroutine, _) => "1 loop thread".to_string(),
        (_, WorkerCount::Fixed(1)) => "1 worker".to_string(),
        (_, WorkerCount::Fixed(n)) => format!("{n} workers"),
        (_, count) => format!("{} workers ({})", count.resolve_for(cores), count.python()),
    };
    if engine == EngineChoice::Cpython {
        return format!("{} pool, {workers}, CPython's own (python3)", pool.kind);
    }
    let gil = match pool.kind {
        PoolKind::Thread if pool.gil => " + GIL",
        PoolKind::Thread => ", no GIL",
        _ => "",
    };
    format!("{} pool, {workers}{gil}", pool.kind)
}

/// The two summaries side by side, with how B compares — when both ran the same tasks.
pub(super) fn table(a: &Summary, b: &Summary, like_for_like: bool) -> String {
    let ratio = |a: f64, b: f64, lower_is_better: bool| -> String {
        if !like_for_like {
            return String::new();
        }
        match (a > 0.0, b > 0.0) {
            (false, false) => return "same".to_string(),
            (true, false) => return format!("B has none{}", if lower_is_better { ": better" } else { "" }),
            (false, true) => return format!("A has none{}", if lower_is_better { ": worse" } else { "" }),
            (true, true) => {}
        }
        let r = if lower_is_better { a / b } else { b / a };
        if (r - 1.0).abs() < 0.01 {
            "same".to_string()
        } else if r > 1.0 {
            format!("{r:.2}× better")
        } else {
            format!("{:.2}× worse", 1.0 / r)
        }
    };
    // Percentiles of times, to 3 significant digits: lower is better.
    let percentile = |name, a: u64, b: u64| (name, percentile_us(a), percentile_us(b), ratio(a as f64, b as f64, true));
    let rows = [
        (
            "makespan",
            human_us(a.makespan_us as f64),
            human_us(b.makespan_us as f64),
            ratio(a.makespan_us as f64, b.makespan_us as f64, true),
        ),
        (
            "throughput",
            format!("{:.2}/s", a.throughput),
            format!("{:.2}/s", b.throughput),
            ratio(a.throughput, b.throughput, false),
        ),
        ("mean wait", human_us(a.mean_wait_us), human_us(b.mean_wait_us), ratio(a.mean_wait_us, b.mean_wait_us, true)),
        percentile("wait p50", a.wait_percentiles.p50_us, b.wait_percentiles.p50_us),
        percentile("wait p95", a.wait_percentiles.p95_us, b.wait_percentiles.p95_us),
        percentile("wait p99", a.wait_percentiles.p99_us, b.wait_percentiles.p99_us),
        ("mean run", human_us(a.mean_run_us), human_us(b.mean_run_us), ratio(a.mean_run_us, b.mean_run_us, true)),
        percentile("run p50", a.run_percentiles.p50_us, b.run_percentiles.p50_us),
        percentile("run p95", a.run_percentiles.p95_us, b.run_percentiles.p95_us),
        percentile("run p99", a.run_percentiles.p99_us, b.run_percentiles.p99_us),
        (
            "utilisation",
            format!("{:.0} %", a.utilisation * 100.0),
            format!("{:.0} %", b.utilisation * 100.0),
            String::new(),
        ),
        ("speed-up", format!("{:.2}x", a.speedup), format!("{:.2}x", b.speedup), ratio(a.speedup, b.speedup, false)),
        ("tasks ok", a.ok.to_string(), b.ok.to_string(), String::new()),
        ("failed", a.failed.to_string(), b.failed.to_string(), String::new()),
        ("never ran", a.not_run.to_string(), b.not_run.to_string(), String::new()),
        ("workers used", a.workers.to_string(), b.workers.to_string(), String::new()),
    ];
    let versus = if like_for_like { "B against A" } else { "(not compared: different work)" };
    let mut out = format!("{:<13} {:>12} {:>12}   {}\n", "", "A", "B", versus);
    for (name, a, b, versus) in rows {
        out.push_str(&format!("{name:<13} {a:>12} {b:>12}   {versus}\n"));
    }
    out
}
