//! The process pool's figures for `poolscope bench`: no-op throughput against CPython's
//! `ProcessPoolExecutor` in the same run, the first result of a fresh pool, and the speed-up
//! of CPU-bound `spin` work from 1 to 2 workers for processes and for GIL threads.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use poolscope::pool::{ProcessPool, TaskSpec, ThreadPool, Work};

/// What [`measure`] found: throughputs and latency are medians of several runs, speed-ups
/// ratios of best runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProcessFigures {
    /// `ProcessPool(2)`: no-op tasks submitted all at once, then each result taken.
    pub process_tasks_per_s: f64,
    /// CPython `ProcessPoolExecutor(2)` doing the same, when `python3` is on PATH.
    pub python_ppe_tasks_per_s: Option<f64>,
    /// From building a lazy 2-worker pool to holding its first result.
    pub process_first_result_ms: f64,
    /// Makespan of CPU-bound `spin` tasks on 1 worker process over that on 2 (about 2 on two
    /// free cores).
    pub spin_speedup_process_1_to_2: f64,
    /// The same on a thread pool simulating the GIL (about 1: the GIL serialises them).
    pub spin_speedup_gil_threads_1_to_2: f64,
}

const RUNS: usize = 5;
/// CPU-bound tasks per speed-up run, and the CPU time of each.
const SPIN_TASKS: usize = 4;
const SPIN_EACH: Duration = Duration::from_millis(50);

/// Measures the process pool, running workers of `program` (the poolscope binary).
///
/// # Errors
/// When the pool cannot start its workers, or a task fails.
pub(crate) fn measure(tasks: usize, program: &Path) -> anyhow::Result<ProcessFigures> {
    let tasks = tasks.max(1);
    let throughput = median((0..RUNS).map(|_| noop_throughput(tasks, program)).collect::<anyhow::Result<_>>()?);
    let python = python_ppe_tasks_per_s(tasks);
    let first = median((0..RUNS).map(|_| first_result_ms(program)).collect::<anyhow::Result<_>>()?);
    let process_speedup = speedup(|workers| spin_makespan_process(workers, program))?;
    let gil_speedup = speedup(spin_makespan_gil)?;
    Ok(ProcessFigures {
        process_tasks_per_s: throughput,
        python_ppe_tasks_per_s: python,
        process_first_result_ms: first,
        spin_speedup_process_1_to_2: process_speedup,
        spin_speedup_gil_threads_1_to_2: gil_speedup,
    })
}

/// Makespan on 1 worker over makespan on 2, each the best of [`RUNS`] interleaved runs: a
/// speed-up says what the cores can do, and on a shared machine the best run is the one
/// least disturbed by other work (a median there measures the neighbours).
fn speedup(makespan: impl Fn(usize) -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let (mut one, mut two) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..RUNS {
        one = one.min(makespan(1)?);
        two = two.min(makespan(2)?);
    }
    Ok(one / two)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn noop_specs(n: usize) -> Vec<TaskSpec> {
    (0..n).map(|_| TaskSpec::new(Work::Noop, Duration::ZERO, "")).collect()
}

fn noop_throughput(tasks: usize, program: &Path) -> anyhow::Result<f64> {
    let pool = ProcessPool::builder().workers(2).eager(true).worker_program(program).build()?;
    // Warm up: both workers past their handshake.
    for future in pool.submit_tasks(noop_specs(100), 1).map_err(|e| anyhow::anyhow!("{e}"))? {
        future.result(None)?;
    }
    let specs = noop_specs(tasks);
    let started = Instant::now();
    let futures: Vec<_> = specs
        .into_iter()
        .map(|spec| pool.submit_task(spec).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<_>>()?;
    for future in &futures {
        future.result(None)?;
    }
    Ok(tasks as f64 / started.elapsed().as_secs_f64())
}

fn first_result_ms(program: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let pool = ProcessPool::builder().workers(2).worker_program(program).build()?;
    let future =
        pool.submit_task(TaskSpec::new(Work::Noop, Duration::ZERO, "first")).map_err(|e| anyhow::anyhow!("{e}"))?;
    future.result(None)?;
    let elapsed = started.elapsed();
    drop(pool);
    Ok(elapsed.as_secs_f64() * 1000.0)
}

fn spin_specs() -> Vec<TaskSpec> {
    (0..SPIN_TASKS).map(|i| TaskSpec::new(Work::Spin, SPIN_EACH, format!("spin{i}"))).collect()
}

/// Seconds for [`SPIN_TASKS`] spins on `workers` processes started beforehand.
fn spin_makespan_process(workers: usize, program: &Path) -> anyhow::Result<f64> {
    let pool = ProcessPool::builder().workers(workers).eager(true).worker_program(program).build()?;
    for future in pool.submit_tasks(noop_specs(workers * 4), 1).map_err(|e| anyhow::anyhow!("{e}"))? {
        future.result(None)?;
    }
    let started = Instant::now();
    for future in pool.submit_tasks(spin_specs(), 1).map_err(|e| anyhow::anyhow!("{e}"))? {
        future.result(None)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds for [`SPIN_TASKS`] spins on `workers` threads sharing a simulated GIL.
fn spin_makespan_gil(workers: usize) -> anyhow::Result<f64> {
    let pool = ThreadPool::builder().workers(workers).eager(true).with_gil().build();
    let started = Instant::now();
    for future in pool.submit_tasks(spin_specs(), 1).map_err(|e| anyhow::anyhow!("{e}"))? {
        future.result(None)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// CPython's `ProcessPoolExecutor(2)` on the same no-op workload (a builtin as the task, so
/// it pickles under every start method). `None` without `python3`.
fn python_ppe_tasks_per_s(tasks: usize) -> Option<f64> {
    const SCRIPT: &str = r#"
import sys, time
from concurrent.futures import ProcessPoolExecutor
n = int(sys.argv[1])
with ProcessPoolExecutor(2) as pool:
    for f in [pool.submit(int) for _ in range(100)]:
        f.result()
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        futures = [pool.submit(int) for _ in range(n)]
        for f in futures:
            f.result()
        rates.append(n / (time.perf_counter() - start))
rates.sort()
print(rates[1])
"#;
    run_python(SCRIPT, tasks).ok()
}

fn run_python(script: &str, tasks: usize) -> anyhow::Result<f64> {
    let output = Command::new("python3").arg("-c").arg(script).arg(tasks.to_string()).output().context("python3")?;
    if !output.status.success() {
        bail!("python3 failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}
