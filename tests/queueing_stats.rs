//! Latency percentiles and the queueing laws (Little's law, the load ρ, the M/M/c model and
//! its caveats) in the summary: checked against distributions and runs whose numbers are
//! known by hand.

use std::process::{Command, Stdio};

use poolscope::trace::{Caveat, Model, Summary, TraceEvent, parse_jsonl};

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance * want.abs().max(1.0)
}

fn fold(lines: &[String]) -> Model {
    let mut model = Model::new();
    for line in lines {
        model.apply(&serde_json::from_str::<TraceEvent>(line).expect("an event"));
    }
    model
}

fn run_event(pool: &str, workers: usize, gil: bool) -> String {
    format!(
        r#"{{"t":0,"ev":"run","scenario":"s","title":"s","pool":"{pool}","workers":{workers},"seed":0,"speed":1.0,"gil":{gil},"virtual_time":true,"cores":4}}"#
    )
}

/// Events of tasks on `workers` workers (up from 0 to `end`): each `(submit, start, end,
/// worker, cpu)` in µs.
fn events(pool: &str, workers: usize, gil: bool, tasks: &[(u64, u64, u64, usize, bool)], end: u64) -> Vec<String> {
    let mut timed: Vec<(u64, u8, String)> = Vec::new();
    for w in 0..workers {
        timed.push((0, 0, format!(r#"{{"t":0,"ev":"worker_up","worker":{w},"pid":{}}}"#, 100 + w)));
    }
    for (i, &(submit, start, finish, worker, cpu)) in tasks.iter().enumerate() {
        let pid = 100 + worker;
        timed.push((submit, 1, format!(r#"{{"t":{submit},"ev":"submit","task":{i},"label":"T{i}","cpu":{cpu}}}"#)));
        timed.push((start, 2, format!(r#"{{"t":{start},"ev":"start","task":{i},"worker":{worker},"pid":{pid}}}"#)));
        timed.push((
            finish,
            0,
            format!(r#"{{"t":{finish},"ev":"finish","task":{i},"worker":{worker},"outcome":"ok","value":"{i}"}}"#),
        ));
    }
    // Finishes before submits before starts at one instant, as a pool orders them.
    timed.sort_by_key(|e| (e.0, e.1));
    let mut lines = vec![run_event(pool, workers, gil)];
    lines.extend(timed.into_iter().map(|e| e.2));
    lines.push(format!(r#"{{"t":{end},"ev":"end","makespan_us":{end}}}"#));
    lines
}

const S: u64 = 1_000_000;

#[test]
fn percentiles_follow_a_known_distribution_to_three_digits() {
    // 1000 tasks on 1000 workers, task i runs (i + 1) ms and waits i µs: p50 of the run times
    // is 500 ms, p95 950 ms, p99 990 ms (nearest rank); of the waits 499, 949 and 989 µs.
    let tasks: Vec<_> = (0..1000u64).map(|i| (0, i, i + (i + 1) * 1000, i as usize, false)).collect();
    let model = fold(&events("thread", 1000, false, &tasks, 2 * S));
    let summary = Summary::of(&model);
    let run = summary.run_percentiles;
    for (got, want) in [(run.p50_us, 500_000.0), (run.p95_us, 950_000.0), (run.p99_us, 990_000.0)] {
        assert!(close(got as f64, want, 1e-3), "run percentile {got} µs, want {want} µs to 3 digits");
    }
    // Below 2048 µs the histogram is exact.
    let wait = summary.wait_percentiles;
    assert_eq!((wait.p50_us, wait.p95_us, wait.p99_us), (499, 949, 989));
    // In lesson time at --speed 2 they double.
    assert_eq!(summary.in_lesson_time(2.0).wait_percentiles.p99_us, 1978);
}

#[test]
fn little_load_and_erlang_c_match_the_hand_computed_numbers() {
    // Two workers, four 3 s tasks arriving one a second: T2 and T3 wait 1 s each.
    //   λ = 4 / 7 s, W = 0.5 s, λW = 2/7; L = (1 s + 1 s) / 7 s = 2/7.
    //   S = 3 s, c = 2: ρ = λS/c = 6/7. Erlang C, A = 12/7: C = A² / (2 + A) = 72/91,
    //   Wq = C / (cμ − λ) = (72/91) / (2/3 − 4/7) = 756/91 s.
    let tasks = [
        (0, 0, 3 * S, 0, false),
        (S, S, 4 * S, 1, false),
        (2 * S, 3 * S, 6 * S, 0, false),
        (3 * S, 4 * S, 7 * S, 1, false),
    ];
    let model = fold(&events("process", 2, false, &tasks, 7 * S));
    let q = Summary::of(&model).queueing;
    assert!(close(q.arrival_rate, 4.0 / 7.0, 1e-12), "{q:?}");
    assert!(close(q.mean_waiting, 2.0 / 7.0, 1e-12), "{q:?}");
    assert!(close(q.little_waiting, 2.0 / 7.0, 1e-12), "{q:?}");
    assert_eq!(q.workers, 2);
    assert!(close(q.load, 6.0 / 7.0, 1e-12), "{q:?}");
    assert!(close(q.mmc_p_wait.unwrap(), 72.0 / 91.0, 1e-9), "{q:?}");
    assert!(close(q.mmc_wait_us.unwrap(), 756.0 / 91.0 * 1e6, 1e-9), "{q:?}");
    // Gaps of exactly 1 s: a metronome, not Poisson arrivals (CV 0).
    assert_eq!(q.arrival_cv, Some(0.0));
    assert_eq!(q.caveats, vec![Caveat::Arrivals { cv: 0.0 }]);
}

#[test]
fn the_laws_measure_over_the_pools_life_not_the_programs() {
    // The same four tasks as above, on a pool that came up 2 s into the run (a cluster
    // starting) and went down at 9 s, in a program that exited at 10 s: the same λ, L, c and
    // ρ as a pool alive for the whole run, not λ = 4 / 10 s and c = 2 × 7/10 rounded to 1.
    let tasks = [
        (2 * S, 2 * S, 5 * S, 0, false),
        (3 * S, 3 * S, 6 * S, 1, false),
        (4 * S, 5 * S, 8 * S, 0, false),
        (5 * S, 6 * S, 9 * S, 1, false),
    ];
    let mut lines: Vec<String> =
        events("process", 2, false, &tasks, 10 * S).into_iter().filter(|l| !l.contains("worker_up")).collect();
    let (ups, downs): (Vec<String>, Vec<String>) = (0..2)
        .map(|w| {
            (
                format!(r#"{{"t":{},"ev":"worker_up","worker":{w},"pid":{}}}"#, 2 * S, 100 + w),
                format!(r#"{{"t":{},"ev":"worker_down","worker":{w},"pid":{},"reason":"shutdown"}}"#, 9 * S, 100 + w),
            )
        })
        .unzip();
    lines.splice(1..1, ups);
    let end = lines.len() - 1;
    lines.splice(end..end, downs);
    let q = Summary::of(&fold(&lines)).queueing;
    assert!(close(q.arrival_rate, 4.0 / 7.0, 1e-12), "{q:?}");
    assert!(close(q.mean_waiting, 2.0 / 7.0, 1e-12), "{q:?}");
    assert_eq!(q.workers, 2);
    assert!(close(q.load, 6.0 / 7.0, 1e-12), "{q:?}");
}

#[test]
fn the_caveats_name_a_gil_a_batch_and_no_steady_state() {
    // Two CPU-bound tasks at once on a GIL thread pool, both submitted at 0 of 8 s (ρ = 0.5).
    let tasks = [(0, 0, 4 * S, 0, true), (0, 0, 4 * S, 1, true)];
    let q = Summary::of(&fold(&events("thread", 2, true, &tasks, 8 * S))).queueing;
    assert_eq!(q.caveats, vec![Caveat::Gil, Caveat::Batch { span_share: 0.0 }]);
    // Without the GIL the same run is only a batch.
    let q = Summary::of(&fold(&events("thread", 2, false, &tasks, 8 * S))).queueing;
    assert_eq!(q.caveats, vec![Caveat::Batch { span_share: 0.0 }]);

    // One worker, a 2 s task every second for 3 s: λ = 3 / 6 s, S = 2 s, ρ = 1: no model.
    let tasks = [(0, 0, 2 * S, 0, false), (S, 2 * S, 4 * S, 0, false), (2 * S, 4 * S, 6 * S, 0, false)];
    let summary = Summary::of(&fold(&events("process", 1, false, &tasks, 6 * S)));
    let q = &summary.queueing;
    assert!(close(q.load, 1.0, 1e-12), "{q:?}");
    assert_eq!(q.mmc_wait_us, None);
    assert!(q.caveats.contains(&Caveat::Unstable { load: 1.0 }), "{q:?}");
    // Little's law holds whatever the model says: W = (0 + 1 + 2) / 3 s, L = 3 task·s / 6 s.
    assert!(close(q.mean_waiting, 0.5, 1e-12) && close(q.little_waiting, 0.5, 1e-12), "{q:?}");
    let table = summary.to_string();
    assert!(table.contains("none: ρ ≥ 1, no steady state"), "{table}");
    assert!(table.contains("the queue would grow without bound"), "{table}");
}

#[test]
fn the_summary_json_carries_the_percentiles_and_the_laws() {
    let tasks = [(0, 0, 3 * S, 0, false), (S, S, 4 * S, 1, false), (2 * S, 3 * S, 6 * S, 0, false)];
    let json = serde_json::to_value(Summary::of(&fold(&events("process", 2, false, &tasks, 6 * S)))).unwrap();
    for key in ["p50_us", "p95_us", "p99_us"] {
        assert!(json["wait_percentiles"][key].is_u64(), "{json}");
        assert!(json["run_percentiles"][key].is_u64(), "{json}");
    }
    assert!(close(json["run_percentiles"]["p50_us"].as_u64().unwrap() as f64, 3e6, 1e-3), "{json}");
    for key in ["arrival_rate", "mean_waiting", "little_waiting", "load", "mmc_wait_us", "mmc_p_wait"] {
        assert!(json["queueing"][key].is_f64(), "{key}: {json}");
    }
    assert_eq!(json["queueing"]["workers"], 2);
    assert!(json["queueing"]["caveats"].is_array(), "{json}");
}

/// A lesson on simulated time: three 1 s tasks submitted at once to two workers.
#[test]
fn a_virtual_time_run_reports_little_load_and_the_model_in_its_summary() {
    let dir = std::env::temp_dir().join(format!("poolscope-queueing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lesson = dir.join("three-on-two.toml");
    std::fs::write(
        &lesson,
        r#"title = "Three on two"
summary = "Three one-second tasks on two workers."
seed = 1

[pool]
kind = "process"
workers = 2

[tasks.job]
work = "sleep"
duration = "1s"

[[step]]
op = "submit"
task = "job"
count = 3
into = "jobs"

[[step]]
op = "results"
of = "jobs"
"#,
    )
    .unwrap();
    let events = dir.join("three-on-two.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson.to_str().unwrap(), "--headless", "--virtual-time", "--events"])
        .arg(&events)
        .stderr(Stdio::inherit())
        .output()
        .expect("poolscope runs");
    assert!(output.status.success());
    let mut model = Model::new();
    for event in parse_jsonl(&std::fs::read_to_string(&events).unwrap()).unwrap() {
        model.apply(&event);
    }
    let summary = Summary::of(&model);
    // T0 and T1 run 0–1 s, T2 waits 1 s and runs 1–2 s; the run ends at 2 s.
    assert_eq!(summary.makespan_us, 2 * S);
    assert_eq!(summary.wait_percentiles.p50_us, 0);
    assert!(close(summary.wait_percentiles.p95_us as f64, 1e6, 1e-3));
    assert!(close(summary.run_percentiles.p50_us as f64, 1e6, 1e-3));
    // λ = 1.5/s, W = 1/3 s, L = 1 task·s / 2 s = 0.5 = λW; ρ = 1.5 · 1 / 2 = 0.75.
    // Erlang C with A = 1.5, c = 2: C = A² / (2 + A) = 9/14, Wq = (9/14) / (2 − 1.5) = 9/7 s.
    let q = &summary.queueing;
    assert!(close(q.arrival_rate, 1.5, 1e-12), "{q:?}");
    assert!(close(q.mean_waiting, 0.5, 1e-12) && close(q.little_waiting, 0.5, 1e-12), "{q:?}");
    assert!(close(q.load, 0.75, 1e-12), "{q:?}");
    assert!(close(q.mmc_wait_us.unwrap(), 9.0 / 7.0 * 1e6, 1e-9), "{q:?}");
    assert_eq!(q.caveats, vec![Caveat::Batch { span_share: 0.0 }]);
    // The headless table shows the same.
    let table = String::from_utf8(output.stdout).unwrap();
    for row in [
        "| wait p50/95/99 | 0 µs / 1.00 s / 1.00 s",
        "| run p50/95/99  | 1.00 s / 1.00 s / 1.00 s",
        "| arrivals λ     | 1.50 tasks/s",
        "| waiting L      | 0.50 (λ·W = 0.50)",
        "| load ρ         | 0.75",
        "| M/M/c wait     | 1.286 s (measured 333.3 ms)",
        "| caveat         | M/M/c model: the tasks were submitted in a batch",
    ] {
        assert!(table.contains(row), "no {row:?} in\n{table}");
    }
}

/// The summary of a built-in lesson run headless on simulated time.
fn lesson_summary(name: &str) -> Summary {
    let dir = std::env::temp_dir().join(format!("poolscope-queueing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join(format!("{name}.jsonl"));
    let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", name, "--headless", "--virtual-time", "--events"])
        .arg(&events)
        .stdout(Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success());
    let mut model = Model::new();
    for event in parse_jsonl(&std::fs::read_to_string(&events).unwrap()).unwrap() {
        model.apply(&event);
    }
    Summary::of(&model)
}

#[test]
fn under_poisson_arrivals_the_load_is_the_rate_they_came_at_not_spread_over_the_drain() {
    // 30 a second for 2.5 s, 0.1 s each, on 2 workers: ρ = 1.5, as the lesson says — not
    // the 0.98 of the same tasks spread over the 3.8 s the queue took to drain.
    let q = lesson_summary("unbounded-queue").queueing;
    assert!(close(q.load, 1.5, 0.05) && q.arrival_rate < 20.0, "{q:?}");
    assert!(q.mmc_wait_us.is_none() && q.caveats.iter().any(|c| matches!(c, Caveat::Unstable { .. })), "{q:?}");
    // 20 a second, 0.2 s each, on 5 workers: ρ = 0.8, and a model of the wait.
    let q = lesson_summary("hockey-stick").queueing;
    assert!(close(q.load, 0.8, 0.05) && q.mmc_wait_us.is_some(), "{q:?}");
    // A batch keeps the rate over the whole run.
    let q = lesson_summary("threads-io-bound").queueing;
    assert_eq!(q.offered_rate(), q.arrival_rate);
}
