//! `poolscope sweep FILE --workers 1..16`: the lesson run at each pool size, and a table and
//! chart of what size buys — makespan, throughput, wait, utilisation, speed-up. On a terminal
//! the chart is drawn live as the sizes finish; `--headless` or a pipe prints the table.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use poolscope::pool::PoolKind;
use poolscope::scenario::sweep::{FIT_MIN_R_SQUARED, FIT_MIN_SIZES, KNEE_WITHIN, SweepError};
use poolscope::scenario::{MAX_WORKERS, PoolOverride, Scenario, Sweep, SweepPoint};
use poolscope::theory;
use poolscope::trace::{Percentiles, human_us, percentile_us};

use super::fail;
use super::timing::Timing;

/// Options of `poolscope sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// A scenario file, or the name of a built-in lesson (see `poolscope list`).
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

/// Runs `poolscope sweep`. Exit codes: 0 done, 1 a run could not start, 2 bad input.
pub fn main(args: &SweepArgs) -> ExitCode {
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
    if !args.headless && !args.json && super::tty() {
        return super::sweep_chart::main(&scenario, &sizes, &options, &args.timing, args.look.theme());
    }
    let mut out = io::stdout().lock();
    let mut broken: io::Result<()> = Ok(());
    if !args.json {
        broken = write_head(&scenario, &sizes, &args.timing, &mut out);
    }
    let stop = AtomicBool::new(broken.is_err());
    let swept = Sweep::run(&scenario, &sizes, &options, &stop, |sweep| {
        let point = sweep.points.last().expect("called after a point");
        broken = if args.json {
            serde_json::to_writer(&mut out, point).map_err(io::Error::from).and_then(|()| writeln!(out))
        } else {
            writeln!(out, "{}\n{}", row(point), percentiles_row(point)).and_then(|()| out.flush())
        };
        broken.is_ok()
    });
    let sweep = match swept {
        Ok(sweep) => sweep,
        Err(SweepError::Override(e)) => return fail(2, &e),
        Err(e @ SweepError::Run(_)) => return fail(1, &e.to_string()),
    };
    if broken.is_ok() {
        broken = if args.json { write_json_tail(&sweep, &mut out) } else { write_tail(&sweep, &args.timing, &mut out) };
    }
    match broken {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("cannot write to stdout: {e}")),
    }
}

/// The title, the setting, a note on a lesson that resizes itself, and the column heads.
pub fn write_head(scenario: &Scenario, sizes: &[usize], timing: &Timing, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "━━ Sweep: {} ━━", scenario.title)?;
    writeln!(out, "{}", setting(scenario, sizes, timing))?;
    if let Some(note) = resize_note(scenario) {
        writeln!(out, "{note}")?;
    }
    writeln!(out)?;
    writeln!(out, "{HEAD}")
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
        writeln!(out, "{:>7} {} {}", point.workers, "█".repeat(width), human_us(point.summary.makespan_us as f64))?;
    }
    let waits = p95_waits(sweep);
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
    let waits: Vec<_> = p95_waits(sweep)
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
        "models": models,
    });
    serde_json::to_writer(&mut *out, &tail).map_err(io::Error::from)?;
    writeln!(out)
}

/// One size's p95 wait, measured and as the M/M/c model (Erlang C) predicts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct P95Wait {
    /// The pool's size.
    pub workers: usize,
    /// The measured p95 of the queue wait (µs).
    pub measured_us: u64,
    /// `ρ = λ·S / c` for the arrival rate while the tasks came, the mean run time and the size.
    pub load: f64,
    /// The model's p95 wait (µs); `None` at `ρ ≥ 1`, where the queue has no steady state.
    pub model_us: Option<f64>,
    /// The run times hardly varied (p99 within 10 % of p50), unlike the model's exponential.
    pub fixed_runs: bool,
}

/// Under open arrivals (at every size the tasks came over time, not in a batch, with gaps
/// about as varied as a Poisson process's), each size's p95
/// wait beside the M/M/c model's for the arrival rate measured while they came, the mean run
/// time measured at that size, and the size; empty for a lesson that submits in batches.
pub fn p95_waits(sweep: &Sweep) -> Vec<P95Wait> {
    if sweep.points.is_empty() || !sweep.points.iter().all(|p| p.summary.queueing.poisson_rate().is_some()) {
        return Vec::new();
    }
    sweep
        .points
        .iter()
        .map(|p| {
            let s = &p.summary;
            let rate = s.queueing.poisson_rate().unwrap_or(0.0);
            let service = s.mean_run_us / 1e6;
            let model = theory::mmc_wait_quantile(rate, service, p.workers, 0.95).ok();
            P95Wait {
                workers: p.workers,
                measured_us: s.wait_percentiles.p95_us,
                load: rate * service / p.workers as f64,
                model_us: model.map(|secs| secs * 1e6),
                fixed_runs: (s.run_percentiles.p99_us as f64) <= 1.1 * s.run_percentiles.p50_us as f64,
            }
        })
        .collect()
}

/// The p95 wait by size, measured (bars) beside the model's, labelled as a model.
pub fn p95_chart(waits: &[P95Wait]) -> Vec<String> {
    let longest = waits.iter().map(|w| w.measured_us).max().unwrap_or(0).max(1);
    let mut lines = vec![
        "p95 wait by pool size (█ measured) beside the M/M/c model's (Erlang C, a model: Poisson".to_string(),
        "arrivals and exponential run times, at the λ and S measured at each size)".to_string(),
    ];
    for w in waits {
        let width = (40 * w.measured_us).div_ceil(longest) as usize;
        let model = match w.model_us {
            Some(us) => format!("model {}", percentile_us(us.round() as u64)),
            None => format!("model: none, ρ {:.3} ≥ 1", w.load),
        };
        let bar = format!("{} {}", "█".repeat(width), percentile_us(w.measured_us));
        lines.push(format!("{:>7} {bar:<50} {model}", w.workers));
    }
    if waits.iter().all(|w| w.fixed_runs) {
        lines.push("The run times hardly vary, where the model assumes them exponential: it over-states".into());
        lines.push("the wait (with fixed run times, M/D/c, the mean wait is about half).".into());
    }
    lines
}

/// Amdahl's law and the USL fitted to the speed-ups, labelled as models, with the USL's best
/// size beside the measured knee — or why they say nothing here.
pub fn models(sweep: &Sweep) -> Vec<String> {
    let Some(scaling) = sweep.scaling() else { return Vec::new() };
    if scaling.speedups.len() < FIT_MIN_SIZES {
        return vec![format!("Models: not fitted: {}.", scaling.meaningless().unwrap_or_default())];
    }
    let mut lines = vec![format!(
        "Models fitted to the speed-ups over {}{} (theory beside the measurement):",
        workers(scaling.baseline),
        if scaling.baseline == 1 { String::new() } else { format!(", taken as {}× one", scaling.baseline) }
    )];
    if let Some(amdahl) = scaling.amdahl {
        let ceiling = if amdahl.serial_fraction > 0.0 {
            format!(" (no size beats {:.1}×)", amdahl.ceiling())
        } else {
            " (no serial part)".to_string()
        };
        lines.push(format!(
            "  Amdahl's law: serial fraction {:.3}{ceiling}, {}",
            amdahl.serial_fraction,
            r_squared(amdahl.r_squared)
        ));
    }
    if let Some(usl) = scaling.usl {
        lines.push(format!(
            "  Universal Scalability Law: contention σ {:.3}, coherency κ {:.4}, {}",
            usl.sigma,
            usl.kappa,
            r_squared(usl.r_squared)
        ));
        let largest = scaling.speedups.iter().map(|p| p.0).max().unwrap_or(0);
        let best = match usl.peak_workers() {
            // Judged on the size shown: 4.02 is "4 workers", which a sweep to 4 tried.
            Some(peak) if peak.round() > largest as f64 => format!("{peak:.0} workers (beyond the sizes tried)"),
            Some(peak) => format!("{peak:.0} workers"),
            None if usl.sigma >= 1.0 => "none (σ = 1: more workers never help)".to_string(),
            None => "none (κ = 0: the speed-up levels off, never falls)".to_string(),
        };
        let knee = sweep.knee().map(|k| format!(" · measured knee: {}", workers(k.workers))).unwrap_or_default();
        lines.push(format!("  USL's best size √((1−σ)/κ): {best}{knee}"));
    }
    if let Some(why) = scaling.meaningless() {
        lines.push(format!("  These fits mean little: {why}."));
    }
    lines
}

/// `R² 0.987`, flagged when the law does not fit.
fn r_squared(r2: Option<f64>) -> String {
    match r2 {
        Some(r) if r < FIT_MIN_R_SQUARED => format!("R² {r:.3}, a poor fit"),
        Some(r) => format!("R² {r:.3}"),
        None => "R² undefined".to_string(),
    }
}

/// What the sweep says, in a few sentences.
pub fn reading(sweep: &Sweep, timing: &Timing) -> Vec<String> {
    let (Some(fastest), Some(knee)) = (sweep.fastest(), sweep.knee()) else { return Vec::new() };
    let mut lines = Vec::new();
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
    if !timing.virtual_time {
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
fn workers(n: usize) -> String {
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
