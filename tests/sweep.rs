//! `poolscope sweep`: one lesson at several pool sizes, on simulated time so the numbers are
//! exact.

use std::process::{Command, Output};

use serde_json::Value;

fn poolscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).output().expect("poolscope runs")
}

/// Every line of `--json`: one object per size, then the reading.
fn lines(args: &[&str]) -> Vec<Value> {
    let output = poolscope(args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
}

/// The sizes' objects of `--json`, checking that the last line is the reading (no `workers`).
fn points(args: &[&str]) -> Vec<Value> {
    let mut lines = lines(args);
    let tail = lines.pop().expect("a reading after the sizes");
    assert!(tail.get("workers").is_none() && tail.get("knee").is_some(), "{tail}");
    lines
}

fn makespans_s(points: &[Value]) -> Vec<f64> {
    points.iter().map(|p| p["makespan_us"].as_f64().unwrap() / 1e6).collect()
}

#[test]
fn io_bound_work_shortens_with_every_worker_until_the_tasks_run_out() {
    // Eight one-second waits: ceil(8 / n) seconds on n workers.
    let points = points(&["sweep", "threads-io-bound", "--workers", "1..4", "--virtual-time", "--json"]);
    let sizes: Vec<u64> = points.iter().map(|p| p["workers"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [1, 2, 3, 4]);
    assert_eq!(makespans_s(&points), [8.0, 4.0, 3.0, 2.0]);
    assert_eq!(points[3]["speedup"].as_f64(), Some(4.0));
    assert_eq!(points[3]["workers_started"].as_u64(), Some(4));
    // On one worker the eight wait 0..7 s: p50 is the 4th wait (3 s), p95 and p99 the 8th
    // (7 s), to 3 significant digits; every run takes 1 s.
    let us = |point: &Value, field: &str, p: &str| point[field][p].as_u64().expect("a percentile") as f64;
    for (p, want) in [("p50_us", 3e6), ("p95_us", 7e6), ("p99_us", 7e6)] {
        let got = us(&points[0], "wait_percentiles", p);
        assert!((got - want).abs() <= want * 1e-3, "wait {p}: {got}");
        assert!((us(&points[0], "run_percentiles", p) - 1e6).abs() <= 1e3, "run {p}");
    }
    assert!(points[0]["queueing"]["load"].as_f64().is_some(), "the queueing laws are in each size's object");
}

#[test]
fn each_size_of_the_table_has_its_percentiles_under_it() {
    let output = poolscope(&["sweep", "threads-io-bound", "--workers", "1,4", "--virtual-time", "--headless"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let one = lines.iter().position(|l| l.trim_start().starts_with("1 ")).expect("a row for 1 worker");
    assert_eq!(lines[one + 1], "    wait p50/95/99 3.00 s/7.00 s/7.00 s · run 1.00 s/1.00 s/1.00 s");
    let four = lines.iter().position(|l| l.trim_start().starts_with("4 ")).expect("a row for 4 workers");
    assert_eq!(lines[four + 1], "    wait p50/95/99 0 µs/1.00 s/1.00 s · run 1.00 s/1.00 s/1.00 s");
    assert!(lines.iter().filter(|l| l.contains("p50/95/99")).all(|l| l.chars().count() <= 78), "{text}");
}

#[test]
fn cpu_bound_work_stops_at_the_cores_and_a_gil_allows_no_speed_up() {
    let common = ["--workers", "1,2,4", "--virtual-time", "--cores", "2", "--json"];
    let processes = points(&[&["sweep", "processes-cpu-bound"][..], &common].concat());
    let [one, two, four] = makespans_s(&processes)[..] else { panic!("three sizes") };
    assert!(two < one * 0.6, "two processes on two cores nearly halve it: {one} s -> {two} s");
    assert!(four >= two * 0.95, "four processes on two cores are no faster than two: {two} s -> {four} s");
    let gil = points(&[&["sweep", "processes-cpu-bound", "--pool", "kind=thread,gil=true"][..], &common].concat());
    let gil = makespans_s(&gil);
    assert!(gil.iter().all(|m| (m - gil[0]).abs() < gil[0] * 0.05), "threads under a GIL: no speed-up: {gil:?}");
}

#[test]
fn the_table_reads_the_sweep_and_names_the_knee() {
    let output = poolscope(&["sweep", "threads-io-bound", "--workers", "1..6", "--virtual-time", "--headless"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("thread pool with a GIL · 6 sizes (1..6) · SIM time"), "{text}");
    assert!(text.contains("Fastest: 4 workers, 2.000 s."), "{text}");
    assert!(text.contains("Knee: 4 workers"), "{text}");
    assert!(text.contains("makespan by pool size"), "{text}");
    let resizing = poolscope(&["sweep", "pool-sizing", "--workers", "1..2", "--virtual-time", "--cores", "2"]);
    let text = String::from_utf8(resizing.stdout).unwrap();
    assert!(text.contains("the lesson resizes its pool at step 3"), "{text}");
}

#[test]
fn the_table_fits_amdahl_and_the_usl_labelled_as_models() {
    let output = poolscope(&["sweep", "threads-io-bound", "--workers", "1..4", "--virtual-time", "--headless"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("Models fitted to the speed-ups over 1 worker (theory beside the measurement):"), "{text}");
    let amdahl = text.lines().find(|l| l.contains("Amdahl's law: serial fraction")).expect("an Amdahl line");
    assert!(amdahl.contains("R² "), "{amdahl}");
    assert!(text.contains("Universal Scalability Law: contention σ "), "{text}");
    assert!(text.contains("USL's best size √((1−σ)/κ): "), "{text}");
    assert!(text.contains("measured knee: 4 workers"), "{text}");
    // Two sizes fit any law: none is fitted.
    let output = poolscope(&["sweep", "threads-io-bound", "--workers", "1..2", "--virtual-time", "--headless"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("Models: not fitted: 2 sizes are too few to fit a law (3 needed)."), "{text}");
    assert!(!text.contains("Amdahl"), "{text}");
    // Under a GIL no size is faster: the fits say so rather than claim a law.
    let output = poolscope(&["sweep", "threads-cpu-gil", "--workers", "1..3", "--virtual-time", "--headless"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("serial fraction 1.000"), "{text}");
    assert!(text.contains("These fits mean little: the speed-ups do not vary"), "{text}");
}

#[test]
fn json_ends_with_the_reading_and_the_fits() {
    let lines = lines(&["sweep", "threads-io-bound", "--workers", "1..4", "--virtual-time", "--json"]);
    assert_eq!(lines.len(), 5, "four sizes and the reading");
    let tail = &lines[4];
    assert_eq!((tail["fastest"].as_u64(), tail["knee"].as_u64()), (Some(4), Some(4)));
    assert_eq!(tail["left_out"], serde_json::json!([]));
    let models = &tail["models"];
    assert_eq!(models["speedup_over"].as_u64(), Some(1));
    // ⌈8/n⌉ s: 8, 4, 3, 2.
    assert_eq!(models["speedups"], serde_json::json!([[1, 1.0], [2, 2.0], [3, 8.0 / 3.0], [4, 4.0]]));
    let serial = models["amdahl"]["serial_fraction"].as_f64().unwrap();
    assert!((0.0..0.1).contains(&serial), "{models}");
    assert!(models["amdahl"]["r_squared"].as_f64().unwrap() > 0.9, "{models}");
    for key in ["sigma", "kappa", "r_squared", "best_workers"] {
        assert!(models["usl"].get(key).is_some(), "usl.{key}: {models}");
    }
    assert!(models["meaningless"].is_null(), "{models}");
}

#[test]
fn sizes_whose_pool_broke_are_not_the_fastest() {
    // One worker: the crash breaks the pool at 0.3 s and the rest never run — shortest, but
    // not fastest.
    let output = poolscope(&["sweep", "worker-crash", "--workers", "1..4", "--virtual-time", "--headless"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("The sizes 1..3 ran fewer tasks than the others"), "{text}");
    assert!(text.contains("Only 4 workers ran every task: there is nothing to rank by time."), "{text}");
    assert!(!text.contains("Fastest"), "{text}");
    let one = text.lines().find(|l| l.trim_start().starts_with("1 ")).expect("a row for 1 worker");
    assert!(one.ends_with("0/1/3"), "ok/failed/never ran: {one}");
}

#[test]
fn what_cannot_be_swept_is_refused_with_exit_2() {
    for (args, says) in [
        (&["sweep", "coroutines", "--virtual-time"][..], "no size to sweep"),
        (&["sweep", "threads-io-bound", "--workers", "4..1"][..], "runs backwards"),
        (&["sweep", "pool-basics", "--pool", "gil=true"][..], "thread pools only"),
        (&["sweep", "pool-basics", "--pool", "colour=red"][..], "unknown key"),
        (&["sweep", "no-such-lesson"][..], "neither a scenario file nor a built-in lesson"),
        (&["sweep", "pool-basics", "--pool", "workers=4"][..], "the sweep sets the workers itself"),
    ] {
        let output = poolscope(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn under_open_arrivals_the_p95_wait_stands_beside_the_erlang_c_models_and_repeats_byte_for_byte() {
    let args = ["sweep", "hockey-stick", "--workers", "4..6", "--virtual-time", "--json"];
    let tail = lines(&args).pop().unwrap();
    let waits = tail["p95_wait"].as_array().expect("a p95 wait per size under arrivals");
    let sizes: Vec<u64> = waits.iter().map(|w| w["workers"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [4, 5, 6]);
    // 20 arrivals a second of 0.2 s each: 4 workers are (just) overloaded, no steady state.
    assert!(waits[0]["load"].as_f64().unwrap() >= 1.0 && waits[0]["mmc_p95_wait_us"].is_null(), "{tail}");
    let model = |i: usize| waits[i]["mmc_p95_wait_us"].as_f64().expect("a model below ρ = 1");
    let measured = |i: usize| waits[i]["p95_wait_us"].as_u64().unwrap();
    // More workers, shorter waits, measured and modelled; the model assumes exponential run
    // times, so with these fixed ones it waits longer than the run did.
    assert!(model(1) > model(2) && measured(0) > measured(1) && measured(1) > measured(2), "{tail}");
    assert!(model(1) > measured(1) as f64 && model(2) > measured(2) as f64, "{tail}");
    // On simulated time the whole sweep repeats exactly.
    let table = ["sweep", "hockey-stick", "--workers", "4..6", "--virtual-time", "--headless"];
    let (a, b) = (poolscope(&table).stdout, poolscope(&table).stdout);
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    assert!(text.contains("p95 wait by pool size") && text.contains("model: none, ρ"), "{text}");
    // A lesson that submits in batches gets no such chart.
    let batch = lines(&["sweep", "threads-io-bound", "--workers", "1..2", "--virtual-time", "--json"]);
    assert!(batch.last().unwrap()["p95_wait"].is_null());
}
