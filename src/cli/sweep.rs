//! `poolscope sweep FILE --workers 1..16`: the lesson run at each pool size, and a table and
//! chart of what size buys — makespan, throughput, wait, utilisation, speed-up. On a terminal
//! the chart is drawn live as the sizes finish; `--headless` or a pipe prints the table.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use poolscope::pool::PoolKind;
use poolscope::scenario::sweep::{KNEE_WITHIN, SweepError};
use poolscope::scenario::{MAX_WORKERS, PoolOverride, Scenario, Sweep, SweepPoint, measure_unless};
use poolscope::trace::{Percentiles, human_us, percentile_us};

use super::fail;
use super::sweep_models::{models, p95_chart};
use super::timing::Timing;

/// Options of `poolscope sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// A scenario file, the name of a built-in lesson (see `poolscope list`), or your own
    /// Python program (SCRIPT.py): it runs under python3 once per size, and every
    /// ThreadPoolExecutor, ProcessPoolExecutor, multiprocessing.Pool and ThreadPool it makes
    /// gets that many workers, whatever its max_workers or processes say.
    pub scenario: String,
    /// Pool sizes: a range `1..16` (both ends included) or a list `1,2,4,8` [default: 1 to
    /// twice the cores]
    #[arg(long, value_name = "SIZES", value_parser = parse_sizes)]
    pub workers: Option<Sizes>,
    /// Change the lesson's pool first: `kind=process`, `gil=false`, ... (keys as in [pool]).
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub pool: Option<PoolOverride>,
    /// Print the table instead of drawing the chart, even on a terminal.
    #[arg(long)]
    pub headless: bool,
    /// Print one JSON object per size (JSON Lines) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// SCRIPT.py only: size just the program's pool N, counting from 0 in the order the
    /// program makes its pools (0 is the first it makes); the others keep their own size
    /// [default: every pool]
    #[arg(long, value_name = "N")]
    pub pool_index: Option<usize>,
    /// SCRIPT.py only: keep the program's output here, one pair of files per size:
    /// workers-N.stdout and workers-N.stderr [default: a new folder under the system's
    /// temporary folder, named at the end]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
    /// SCRIPT.py only: the program's arguments (its sys.argv[1:]), after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub script_args: Vec<String>,
    #[command(flatten)]
    pub timing: Timing,
    #[command(flatten)]
    pub look: super::look::Look,
}

/// The pool sizes to run, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes(pub Vec<usize>);

/// `A..B` or `A..=B` (both ends included), or `A,B,C`.
fn parse_sizes(text: &str) -> Result<Sizes, String> {
    let expected = || format!("{text:?}: expected a range like 1..16 or a list like 1,2,4,8");
    let count = |s: &str| -> Result<usize, String> {
        match s.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
            Ok(n) => Err(format!("{n} workers: expected a pool size from 1 to {MAX_WORKERS}")),
            Err(_) => Err(expected()),
        }
    };
    let sizes = if let Some((from, to)) = text.split_once("..") {
        let (from, to) = (count(from)?, count(to.strip_prefix('=').unwrap_or(to))?);
        if from > to {
            return Err(format!("{text:?}: the range runs backwards; expected {to}..{from}"));
        }
        (from..=to).collect()
    } else {
        let mut sizes = text.split(',').map(count).collect::<Result<Vec<_>, _>>()?;
        // Sizes are points on an axis: in order, each once.
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    };
    Ok(Sizes(sizes))
}

/// Runs `poolscope sweep`. Exit codes: 0 done, 1 a run could not start (or a script failed
/// at some size), 2 bad input.
pub fn main(args: &SweepArgs) -> ExitCode {
    if poolscope::scenario::script::is_script(&args.scenario) {
        return super::sweep_script::main(args);
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
    if args.pool.as_ref().is_some_and(|p| p.workers.is_some()) {
        return fail(2, "--pool workers=...: the sweep sets the workers itself; give the sizes with --workers");
    }
    let scenario = match super::load_lesson(&args.scenario, args.pool.as_ref()) {
        Ok(scenario) => scenario,
        Err(e) => return fail(2, &e),
    };
    if scenario.pool.kind == PoolKind::Dask {
        return fail(
            2,
            &format!(
                "{} runs on a Dask cluster, which only the CPython engine reaches, and sweep runs poolscope's pools; try --pool kind=thread, or `poolscope compare` with engine=cpython",
                scenario.name
            ),
        );
    }
    if scenario.pool.kind == PoolKind::Coroutine {
        let whose = match &args.pool {
            Some(pool) if pool.kind.is_some() => format!("--pool {pool} makes a coroutine pool"),
            _ => format!("{} runs on a coroutine pool", scenario.name),
        };
        return fail(
            2,
            &format!(
                "{whose}, which has exactly one worker (its event loop): there is no size to sweep; try --pool \
                 kind=thread"
            ),
        );
    }
    let sizes = args.workers.clone().unwrap_or_else(|| Sizes((1..=2 * args.timing.cores()).collect())).0;
    let options = args.timing.options(false);
    let head = Head::lesson(&scenario, &sizes, &args.timing);
    let measure = move |workers: usize, stop: &AtomicBool| {
        let sized = PoolOverride::workers(workers).apply(&scenario).map_err(SweepError::Override)?;
        let summary = measure_unless(&sized, &options, stop, |_| {}).map_err(SweepError::Run)?;
        Ok(summary.map(|summary| SweepPoint { workers, summary, program: None }))
    };
    show(args, head, &sizes, measure, &[])
}

/// Runs the sweep, `measure` giving each size's point, and shows it: charted on a terminal,
/// else printed (`--json`: JSON Lines), `after` printed last. Exit codes: 0 done, 1 a size
/// failed or a run could not start, 2 it cannot be swept.
pub fn show(
    args: &SweepArgs,
    head: Head,
    sizes: &[usize],
    measure: impl FnMut(usize, &AtomicBool) -> Result<Option<SweepPoint>, SweepError> + Send + 'static,
    after: &[String],
) -> ExitCode {
    if !args.headless && !args.json && super::tty() {
        return super::sweep_chart::main(head, sizes, measure, &args.timing, args.look.theme(), after);
    }
    let mut out = io::stdout().lock();
    let mut broken: io::Result<()> = Ok(());
    if !args.json {
        broken = head.write(&mut out);
    }
    let stop = AtomicBool::new(broken.is_err());
    let swept = Sweep::run_with(
        sizes,
        &stop,
        |sweep| {
            let point = sweep.points.last().expect("called after a point");
            broken = if args.json {
                serde_json::to_writer(&mut out, point).map_err(io::Error::from).and_then(|()| writeln!(out))
            } else {
                writeln!(out, "{}", rows(point).join("\n")).and_then(|()| out.flush())
            };
            broken.is_ok()
        },
        measure,
    );
    let sweep = match swept {
        Ok(sweep) => sweep,
        Err(e @ (SweepError::Override(_) | SweepError::Script(_))) => return fail(2, &e.to_string()),
        Err(e @ (SweepError::Run(_) | SweepError::Output(_))) => return fail(1, &e.to_string()),
    };
    if broken.is_ok() {
        broken = if args.json { write_json_tail(&sweep, &mut out) } else { write_tail(&sweep, &args.timing, &mut out) };
    }
    if broken.is_ok() && !args.json {
        broken = after.iter().try_for_each(|line| writeln!(out, "{line}"));
    }
    match broken {
        Ok(()) => failed_code(&sweep),
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => failed_code(&sweep),
        Err(e) => fail(1, &format!("cannot write to stdout: {e}")),
    }
}

/// 1 when the program failed at some size (its row says how), else 0.
pub fn failed_code(sweep: &Sweep) -> ExitCode {
    if sweep.failed().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// What the sweep's head says: the title, the setting, and a line that must not be missed.
#[derive(Clone, Debug)]
pub struct Head {
    /// The lesson's title, or `python3 SCRIPT.py`.
    pub title: String,
    /// The pool, the sizes and the clock, in one line.
    pub setting: String,
    /// A lesson that resizes its own pool, or what a script's sizing leaves alone.
    pub note: Option<String>,
}

impl Head {
    /// A lesson's.
    pub fn lesson(scenario: &Scenario, sizes: &[usize], timing: &Timing) -> Head {
        Head { title: scenario.title.clone(), setting: setting(scenario, sizes, timing), note: resize_note(scenario) }
    }

    /// The title, the setting, the note, and the column heads.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "━━ Sweep: {} ━━", self.title)?;
        writeln!(out, "{}", self.setting)?;
        if let Some(note) = &self.note {
            writeln!(out, "{note}")?;
        }
        writeln!(out)?;
        writeln!(out, "{HEAD}")
    }
}

/// `thread pool with a GIL · 6 sizes (1..6) · SIM time`.
pub fn setting(scenario: &Scenario, sizes: &[usize], timing: &Timing) -> String {
    let count = if sizes.len() == 1 { "1 size".to_string() } else { format!("{} sizes", sizes.len()) };
    format!(
        "{} pool{} · {count} ({}) · {} time{}",
        scenario.pool.kind,
        if scenario.pool.gil { " with a GIL" } else { "" },
        size_list(sizes),
        timing.clock_name(),
        match (timing.speed == 1.0, timing.virtual_time) {
            (true, _) => String::new(),
            (false, true) => format!(" · speed ×{}, times in lesson time", timing.speed),
            (false, false) => format!(
                " · speed ×{}, times in lesson time (fixed costs such as starting processes grow with it)",
                timing.speed
            ),
        }
    )
}

/// A lesson that resizes its own pool runs at the swept size only until it does: say so.
pub fn resize_note(scenario: &Scenario) -> Option<String> {
    let step = scenario.steps.iter().find(|s| matches!(s.op, poolscope::scenario::Op::Resize { .. }))?;
    Some(format!(
        "Note: the lesson resizes its pool at step {} ({}); each size holds until then.",
        step.index + 1,
        step.python.lines().last().unwrap_or_default().trim()
    ))
}

/// The column heads of [`row`], aligned with it (78 columns: it fits an 80-column screen).
pub const HEAD: &str = "workers   makespan  throughput   mean wait   busy  speed-up   ok/failed/not run";

/// One size's lines: [`row`], [`percentiles_row`], and how its program failed, if it did.
pub fn rows(point: &SweepPoint) -> Vec<String> {
    let mut lines = vec![row(point), percentiles_row(point)];
    lines.extend(failure_row(point));
    lines
}

/// `    FAILED: python3 exited with status 1: ValueError: boom`, for a size whose program
/// failed.
pub fn failure_row(point: &SweepPoint) -> Option<String> {
    let program = point.program.as_ref().filter(|_| point.failed())?;
    Some(match &program.error {
        Some(error) => format!("    FAILED: python3 exited with status {}: {error}", program.exit_status),
        None => format!("    FAILED: python3 exited with status {}", program.exit_status),
    })
}

/// One size's line of the table.
pub fn row(point: &SweepPoint) -> String {
    let s = &point.summary;
    format!(
        "{:>7} {:>10} {:>9.2}/s {:>11} {:>5.0}% {:>8.2}x   {}/{}/{}",
        point.workers,
        human_us(s.makespan_us as f64),
        s.throughput,
        human_us(s.mean_wait_us),
        s.utilisation * 100.0,
        s.speedup,
        s.ok,
        s.failed,
        s.not_run
    )
}

/// The second line of a size: the percentiles of its waits and run times (78 columns at most),
/// `    wait p50/95/99 0 µs/1.00 s/1.00 s · run 1.00 s/1.00 s/1.00 s`, to 3 significant digits.
pub fn percentiles_row(point: &SweepPoint) -> String {
    let s = &point.summary;
    let three =
        |p: Percentiles| format!("{}/{}/{}", percentile_us(p.p50_us), percentile_us(p.p95_us), percentile_us(p.p99_us));
    format!("    wait p50/95/99 {} · run {}", three(s.wait_percentiles), three(s.run_percentiles))
}

/// `1..16` for a run of consecutive sizes, else `1, 2, 4, 8`.
pub fn size_list(sizes: &[usize]) -> String {
    let consecutive = sizes.windows(2).all(|w| w[1] == w[0] + 1);
    match sizes {
        [first, .., last] if consecutive => format!("{first}..{last}"),
        _ => sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// The makespan chart and the reading: the fastest size and the knee.
pub fn write_tail(sweep: &Sweep, timing: &Timing, out: &mut dyn Write) -> io::Result<()> {
    let longest = sweep.points.iter().map(|p| p.summary.makespan_us).max().unwrap_or(0).max(1);
    writeln!(out)?;
    writeln!(out, "makespan by pool size (shorter is faster)")?;
    for point in &sweep.points {
        let width = (40 * point.summary.makespan_us).div_ceil(longest) as usize;
        let failed = if point.failed() { " (the program failed)" } else { "" };
        let makespan = human_us(point.summary.makespan_us as f64);
        writeln!(out, "{:>7} {} {makespan}{failed}", point.workers, "█".repeat(width))?;
    }
    let waits = sweep.p95_waits();
    if !waits.is_empty() {
        writeln!(out)?;
        for line in p95_chart(&waits) {
            writeln!(out, "{line}")?;
        }
    }
    writeln!(out)?;
    for line in reading(sweep, timing) {
        writeln!(out, "{line}")?;
    }
    let models = models(sweep);
    if !models.is_empty() {
        writeln!(out)?;
        for line in models {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The last line of `--json`: the reading and the fitted laws, one object after the sizes'
/// (it has no `workers`).
pub fn write_json_tail(sweep: &Sweep, out: &mut dyn Write) -> io::Result<()> {
    let scaling = sweep.scaling();
    let models = scaling.as_ref().map(|s| {
        serde_json::json!({
            "speedup_over": s.baseline,
            "speedups": s.speedups,
            "amdahl": s.amdahl,
            "usl": s.usl.map(|f| serde_json::json!({
                "sigma": f.sigma,
                "kappa": f.kappa,
                "r_squared": f.r_squared,
                "points": f.points,
                "best_workers": f.peak_workers(),
            })),
            "meaningless": s.meaningless(),
        })
    });
    let waits: Vec<_> = sweep
        .p95_waits()
        .iter()
        .map(|w| {
            serde_json::json!({
                "workers": w.workers,
                "p95_wait_us": w.measured_us,
                "load": w.load,
                "mmc_p95_wait_us": w.model_us,
            })
        })
        .collect();
    let tail = serde_json::json!({
        "p95_wait": if waits.is_empty() { serde_json::Value::Null } else { waits.into() },
        "fastest": sweep.fastest().map(|p| p.workers),
        "knee": sweep.knee().map(|p| p.workers),
        "left_out": sweep.incomplete(),
        "failed": sweep.failed(),
        "models": models,
    });
    serde_json::to_writer(&mut *out, &tail).map_err(io::Error::from)?;
    writeln!(out)
}

/// What the sweep says, in a few sentences.
pub fn reading(sweep: &Sweep, timing: &Timing) -> Vec<String> {
    let mut lines = Vec::new();
    let failed = sweep.failed();
    if !failed.is_empty() {
        lines.push(format!(
            "{} failed (python3 exited with an error; see its row): not counted below.",
            match failed.as_slice() {
                [one] => format!("The program at size {one}"),
                many => format!("The program at sizes {}", size_list(many)),
            }
        ));
    }
    let (Some(fastest), Some(knee)) = (sweep.fastest(), sweep.knee()) else { return lines };
    let incomplete = sweep.incomplete();
    if !incomplete.is_empty() {
        lines.push(format!(
            "{} ran fewer tasks than the others (a broken pool, cancelled or timed-out work): not counted below.",
            match incomplete.as_slice() {
                [one] => format!("The size {one}"),
                many => format!("The sizes {}", size_list(many)),
            }
        ));
    }
    let complete: Vec<usize> = sweep.complete().map(|p| p.workers).collect();
    if complete.len() < 2 {
        // Nothing to rank: one size, or one that did all the work.
        if !incomplete.is_empty() {
            lines.push(format!("Only {} ran every task: there is nothing to rank by time.", workers(fastest.workers)));
        }
    } else {
        lines.push(format!("Fastest: {}, {}.", workers(fastest.workers), human_us(fastest.summary.makespan_us as f64)));
        lines.push(knee_line(knee, fastest, complete.iter().copied().min().unwrap_or(knee.workers)));
    }
    if sweep.points.iter().any(|p| p.program.is_some()) {
        lines.push(
            "Times are real, from python3's start to its exit, and this machine is shared, so a repeat varies."
                .to_string(),
        );
    } else if !timing.virtual_time {
        lines.push(
            "Times are real and this machine is shared, so a repeat varies; --virtual-time gives the same numbers \
             every run."
                .to_string(),
        );
    }
    lines
}

/// Where more workers stop paying.
fn knee_line(knee: &SweepPoint, fastest: &SweepPoint, smallest: usize) -> String {
    let within = KNEE_WITHIN * 100.0;
    if knee.workers == smallest {
        format!(
            "Knee: {}, the smallest size tried, is already within {within:.0} % of the fastest: more workers buy \
             nothing here.",
            workers(knee.workers)
        )
    } else if knee.workers < fastest.workers {
        format!(
            "Knee: {} ({}) come within {within:.0} % of the fastest: beyond it, more workers buy little.",
            workers(knee.workers),
            human_us(knee.summary.makespan_us as f64)
        )
    } else {
        format!("Knee: {}; every smaller size tried is more than {within:.0} % slower.", workers(knee.workers))
    }
}

/// `1 worker`, `4 workers`.
pub fn workers(n: usize) -> String {
    if n == 1 { "1 worker".to_string() } else { format!("{n} workers") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_ranges_or_lists() {
        assert_eq!(parse_sizes("1..4"), Ok(Sizes(vec![1, 2, 3, 4])));
        assert_eq!(parse_sizes("2..=3"), Ok(Sizes(vec![2, 3])));
        assert_eq!(parse_sizes("1,2,4,8"), Ok(Sizes(vec![1, 2, 4, 8])));
        assert_eq!(parse_sizes("5"), Ok(Sizes(vec![5])));
        assert_eq!(parse_sizes("4,4,1"), Ok(Sizes(vec![1, 4])));
        assert!(parse_sizes("4..1").unwrap_err().contains("backwards"));
        assert!(parse_sizes("0..4").unwrap_err().contains("from 1 to"));
        assert!(parse_sizes("a..b").unwrap_err().contains("expected a range"));
        assert_eq!(size_list(&[1, 2, 3]), "1..3");
        assert_eq!(size_list(&[1, 2, 4]), "1, 2, 4");
    }
}
