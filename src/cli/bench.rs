//! `poolscope bench`: pool throughput measured side by side in one run, against the floor a
//! raw crossbeam-channel hand-off sets and against CPython's executors; the process pool's
//! round trips, first result and CPU-bound speed-up; the UI's frame time and idle CPU.
//!
//! Every contender runs the same workload: `tasks` no-op tasks submitted one after another
//! to 2 workers, then every result collected in order — the loop of
//! `fs = [ex.submit(noop) for _ in range(N)]; [f.result() for f in fs]`. Contenders are
//! interleaved round by round so a noisy neighbour hurts them alike, each round in a fresh
//! process after a warm-up run; medians are quoted.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use poolscope::pool::ThreadPool;
use poolscope::pool::probe::BufferProbe;
use serde_json::json;

/// Options of `poolscope bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Tasks per measurement.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: usize,
    /// Rounds per contender (each a fresh process measuring 3 runs); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Run one round of one contender in this process and print its figures (used by the
    /// bench itself: every round runs in a fresh process, so no contender inherits another's
    /// heap or threads).
    #[arg(long, hide = true)]
    pub contender: Option<Contender>,
}

/// The contenders of the thread-pool table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Contender {
    /// The raw crossbeam-channel hand-off.
    Floor,
    /// `ThreadPool(2)` without a probe.
    Thread,
    /// `ThreadPool(2)` with a drained `BufferProbe`.
    ThreadProbe,
}

/// Runs one round of `contender` in this process: two warm-up runs (page faults, thread
/// start-up, the allocator's first pages), then three measured runs; their median.
/// Returns tasks per second and the events the probe dropped.
fn one_round(contender: Contender, tasks: usize) -> (f64, u64) {
    let run = || match contender {
        Contender::Floor => (raw_channel(tasks), 0),
        Contender::Thread => thread_pool(tasks, false),
        Contender::ThreadProbe => thread_pool(tasks, true),
    };
    let _ = (run(), run());
    let mut dropped = 0;
    let rates = (0..3)
        .map(|_| {
            let (elapsed, lost) = run();
            dropped += lost;
            rate(tasks, elapsed)
        })
        .collect();
    (median(rates), dropped)
}

/// Runs one round of `contender` in a fresh poolscope process.
fn round_in_child(contender: Contender, tasks: usize) -> anyhow::Result<(f64, u64)> {
    let program = std::env::current_exe().context("cannot find the poolscope binary")?;
    let name = match contender {
        Contender::Floor => "floor",
        Contender::Thread => "thread",
        Contender::ThreadProbe => "thread-probe",
    };
    let output = Command::new(program)
        .args(["bench", "--tasks", &tasks.to_string(), "--contender", name])
        .output()
        .context("cannot start a benchmark process")?;
    anyhow::ensure!(output.status.success(), "the {name} round failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(rate)), Some(Ok(dropped))) => Ok((rate, dropped as u64)),
        _ => anyhow::bail!("the {name} round printed {text:?}"),
    }
}

/// Tasks per second of one run of `tasks` tasks that took `elapsed`.
fn rate(tasks: usize, elapsed: Duration) -> f64 {
    tasks as f64 / elapsed.as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The floor: the same hand-off with nothing but crossbeam channels — jobs to 2 workers,
/// each answer on its own one-shot channel.
fn raw_channel(tasks: usize) -> Duration {
    type Job = (u64, crossbeam_channel::Sender<u64>);
    let (tx, rx) = crossbeam_channel::unbounded::<Job>();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                for (value, reply) in rx {
                    let _ = reply.send(value);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let replies: Vec<_> = (0..tasks as u64)
        .map(|i| {
            let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
            tx.send((i, reply_tx)).expect("workers alive");
            reply_rx
        })
        .collect();
    for reply in replies {
        reply.recv().expect("worker answered");
    }
    let elapsed = started.elapsed();
    drop(tx);
    for worker in workers {
        let _ = worker.join();
    }
    elapsed
}

/// A consumer that reads a probe the way the UI's loop does: it wakes on a tick and takes
/// what has arrived in one batch, rather than waking for every event.
fn drain_on_tick(probe: Arc<BufferProbe>, stop: crossbeam_channel::Receiver<()>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            probe.drain(|_| seen += 1);
            if stop.recv_timeout(Duration::from_millis(2)).is_ok() {
                let mut rest = Vec::new();
                probe.drain_all_into(&mut rest);
                return seen + rest.len();
            }
        }
    })
}

/// `ThreadPool(2)`, optionally reporting to a bounded probe drained in batches by a consumer
/// thread (as the UI does). Returns the time and the events dropped.
fn thread_pool(tasks: usize, probe: bool) -> (Duration, u64) {
    let channel_probe = BufferProbe::new(1 << 17);
    let (stop, stopped) = crossbeam_channel::bounded(1);
    let consumer = probe.then(|| drain_on_tick(Arc::clone(&channel_probe), stopped));
    let mut builder = ThreadPool::builder().workers(2);
    if probe {
        builder = builder.probe(Arc::clone(&channel_probe) as _);
    }
    let pool = builder.build();
    let started = Instant::now();
    let futures: Vec<_> = (0..tasks as u64).map(|i| pool.submit(move || i).expect("pool is open")).collect();
    for future in &futures {
        future.result(None).expect("no-op tasks succeed");
    }
    let elapsed = started.elapsed();
    drop(futures);
    drop(pool);
    let dropped = channel_probe.dropped();
    let _ = stop.send(());
    if let Some(consumer) = consumer {
        let _ = consumer.join();
    }
    (elapsed, dropped)
}

const PYTHON_TPE: &str = r#"
import sys, time
from concurrent.futures import ThreadPoolExecutor
def noop():
    return None
n = int(sys.argv[1])
with ThreadPoolExecutor(2) as ex:
    ex.submit(noop).result()
    t = time.perf_counter()
    fs = [ex.submit(noop) for _ in range(n)]
    for f in fs:
        f.result()
    print(n / (time.perf_counter() - t))
"#;

/// Runs a Python benchmark script; `None` when python3 is missing.
pub(crate) fn python_rate(script: &str, tasks: usize) -> anyhow::Result<Option<f64>> {
    let output = match Command::new("python3").arg("-c").arg(script).arg(tasks.to_string()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("could not run python3"),
    };
    anyhow::ensure!(output.status.success(), "python3 failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(Some(text.trim().parse().with_context(|| format!("python3 printed {text:?}, not a number"))?))
}

/// Runs the benchmark and prints the table or the JSON object.
pub fn main(args: &BenchArgs) -> anyhow::Result<()> {
    let tasks = args.tasks.max(1);
    if let Some(contender) = args.contender {
        let (rate, dropped) = one_round(contender, tasks);
        println!("{rate} {dropped}");
        return Ok(());
    }
    let rounds = args.rounds.max(1);
    let (mut floor, mut plain, mut probed, mut dropped) = (Vec::new(), Vec::new(), Vec::new(), 0);
    // Interleaved, so a noisy neighbour hurts every contender alike; each round in a fresh
    // process, so none inherits another's heap (the floor's 100k one-shot channels, freed
    // across threads, would slow whatever ran after it in the same process).
    for _ in 0..rounds {
        floor.push(round_in_child(Contender::Floor, tasks)?.0);
        plain.push(round_in_child(Contender::Thread, tasks)?.0);
        let (rate, lost) = round_in_child(Contender::ThreadProbe, tasks)?;
        probed.push(rate);
        dropped += lost;
    }
    let python_rounds = rounds.min(3);
    let mut python = Vec::new();
    for _ in 0..python_rounds {
        match python_rate(PYTHON_TPE, tasks)? {
            Some(r) => python.push(r),
            None => break,
        }
    }
    let python_tpe = (!python.is_empty()).then(|| median(python));
    let (floor, plain, probed) = (median(floor), median(plain), median(probed));
    let probe_cost_pct = 100.0 * (1.0 - probed / plain);
    // Process round trips cost more (and CPython's ProcessPoolExecutor far more): a fifth of
    // the tasks keeps the run short while still measuring thousands of round trips.
    let process_tasks = (tasks / 5).max(1);
    let program = std::env::current_exe().context("cannot find the poolscope binary for the worker processes")?;
    let process = super::bench_process::measure(process_tasks, &program)?;
    let frame_us = poolscope::ui::bench::frame_us();
    let ui_idle_cpu_pct = poolscope::ui::bench::idle_cpu_pct();
    let (sim_record_ms, sim_lesson_s) = poolscope::ui::bench::simulated_recording(5)?;

    if args.json {
        let report = json!({
            "tasks": tasks,
            "rounds": rounds,
            "workers": 2,
            "floor_tasks_per_s": floor,
            "thread_tasks_per_s": plain,
            "thread_probe_tasks_per_s": probed,
            "thread_probe_events_dropped": dropped,
            "probe_cost_pct": probe_cost_pct,
            "python_tpe_tasks_per_s": python_tpe,
            "thread_vs_python_tpe": python_tpe.map(|p| plain / p),
            "thread_vs_floor": plain / floor,
            "process_tasks": process_tasks,
            "process_tasks_per_s": process.process_tasks_per_s,
            "python_ppe_tasks_per_s": process.python_ppe_tasks_per_s,
            "process_vs_python_ppe": process.python_ppe_tasks_per_s.map(|p| process.process_tasks_per_s / p),
            "process_first_result_ms": process.process_first_result_ms,
            "spin_speedup_process_1_to_2": process.spin_speedup_process_1_to_2,
            "spin_speedup_gil_threads_1_to_2": process.spin_speedup_gil_threads_1_to_2,
            "frame_us": frame_us,
            "ui_idle_cpu_pct": ui_idle_cpu_pct,
            "sim_lesson_s": sim_lesson_s,
            "sim_record_ms": sim_record_ms,
        });
        println!("{report}");
        return Ok(());
    }
    println!("poolscope bench: {tasks} no-op tasks, 2 workers, submit all then result each; median of {rounds} rounds");
    println!();
    println!("{:<44} {:>14} {:>10} {:>10}", "contender", "tasks/s", "vs floor", "vs Python");
    let row = |name: &str, r: f64| {
        let vs_python = python_tpe.map_or("-".to_string(), |p| format!("{:.1}x", r / p));
        println!("{name:<44} {r:>14.0} {:>9.2}x {vs_python:>10}", r / floor);
    };
    row("raw crossbeam-channel hand-off (floor)", floor);
    row("ThreadPool, no probe", plain);
    row("ThreadPool, probe on (bounded, drained)", probed);
    match python_tpe {
        Some(p) => row("CPython ThreadPoolExecutor(2)", p),
        None => println!("{:<44} {:>14}", "CPython ThreadPoolExecutor(2)", "no python3"),
    }
    println!();
    println!("probe cost: {probe_cost_pct:.1}% of throughput ({dropped} events dropped by the bounded probe)");
    println!();
    println!("process pool: {process_tasks} no-op tasks, 2 workers, submit all then result each; medians");
    println!("{:<44} {:>14} {:>10}", "contender", "tasks/s", "vs Python");
    println!(
        "{:<44} {:>14.0} {:>10}",
        "ProcessPool(2)",
        process.process_tasks_per_s,
        process.python_ppe_tasks_per_s.map_or("-".to_string(), |p| format!("{:.1}x", process.process_tasks_per_s / p))
    );
    match process.python_ppe_tasks_per_s {
        Some(p) => println!("{:<44} {p:>14.0} {:>10}", "CPython ProcessPoolExecutor(2)", "1.0x"),
        None => println!("{:<44} {:>14}", "CPython ProcessPoolExecutor(2)", "no python3"),
    }
    println!("first result of a fresh 2-worker pool: {:.1} ms", process.process_first_result_ms);
    println!(
        "CPU-bound spin, 1 -> 2 workers: processes {:.2}x, GIL threads {:.2}x (best runs; needs two free cores)",
        process.spin_speedup_process_1_to_2, process.spin_speedup_gil_threads_1_to_2
    );
    println!();
    println!("UI: a full 200x60 frame of a busy 16-worker run renders in {frame_us:.0} us (median);");
    println!("    paused, the UI process uses {ui_idle_cpu_pct:.1}% of one core");
    println!(
        "--virtual-time: a {sim_lesson_s:.0} s lesson on 4 worker processes records (120x40 cast) in {sim_record_ms:.0} ms (median of 5)"
    );
    Ok(())
}
