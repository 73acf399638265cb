//! The Chrome trace of a real run: valid JSON, a named track per worker, one `X` slice per
//! task a worker ran, counters, and flow arrows from submit to start and finish to callback.

use std::collections::HashSet;

use poolscope::scenario::{self, Run, RunOptions};
use poolscope::trace::{ChromeTrace, TraceEvent, TraceKind};
use serde_json::Value;

fn run(name: &str) -> Vec<TraceEvent> {
    let scenario = scenario::load(name).expect("a built-in lesson");
    let options = RunOptions { speed: 50.0, ..RunOptions::default() };
    Run::start(&scenario, &options).expect("the run starts").collect_to_end()
}

fn chrome(events: &[TraceEvent]) -> Vec<Value> {
    let mut trace = ChromeTrace::new();
    for event in events {
        trace.apply(event);
    }
    let mut bytes = Vec::new();
    trace.write(&mut bytes).expect("writing to memory");
    let document: Value = serde_json::from_slice(&bytes).expect("the trace is valid JSON");
    document["traceEvents"].as_array().expect("a traceEvents array").clone()
}

fn of_phase<'a>(trace: &'a [Value], ph: &str) -> Vec<&'a Value> {
    trace.iter().filter(|e| e["ph"] == ph).collect()
}

#[test]
fn one_slice_per_executed_task_on_its_workers_named_track() {
    let events = run("callbacks");
    let trace = chrome(&events);
    let started: Vec<(u64, usize)> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Start { task, worker, .. } => Some((task, worker)),
            _ => None,
        })
        .collect();
    assert!(!started.is_empty());
    let slices: Vec<_> = of_phase(&trace, "X").into_iter().filter(|e| e["cat"] == "task").collect();
    assert_eq!(slices.len(), started.len(), "one X slice per task that ran");
    for (task, worker) in &started {
        let slice = slices.iter().find(|s| s["args"]["task"] == *task).expect("the task's slice");
        assert_eq!(slice["tid"], *worker as u64 + 1, "task {task} sits on its worker's track");
        assert!(slice["dur"].as_u64().is_some() && slice["args"]["pid"].as_u64().is_some());
    }
    let named: HashSet<u64> = of_phase(&trace, "M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["tid"].as_u64())
        .collect();
    for (_, worker) in &started {
        assert!(named.contains(&(*worker as u64 + 1)), "worker {worker} has a named track");
    }
    assert!(named.contains(&0), "the main program has a named track");
}

#[test]
fn counters_and_flows_connect_submit_start_and_callback() {
    let events = run("callbacks");
    let trace = chrome(&events);
    let counters: HashSet<&str> = of_phase(&trace, "C").into_iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(counters.contains("queue depth") && counters.contains("running"), "counters: {counters:?}");

    let submits = events.iter().filter(|e| matches!(e.kind, TraceKind::Submit { .. })).count();
    let callbacks = events.iter().filter(|e| matches!(e.kind, TraceKind::Callback { .. })).count();
    assert!(callbacks > 0, "the callbacks lesson runs callbacks");
    let flows = |ph: &str, cat: &str| of_phase(&trace, ph).into_iter().filter(|e| e["cat"] == cat).count();
    assert_eq!(flows("s", "submit"), submits, "an arrow leaves every submit");
    let starts = events.iter().filter(|e| matches!(e.kind, TraceKind::Start { .. })).count();
    assert_eq!(flows("f", "submit"), starts, "an arrow arrives at every start");
    assert_eq!(flows("s", "callback"), flows("f", "callback"));
    assert!(flows("f", "callback") > 0);
}

#[test]
fn cpu_samples_are_one_counter_track_with_a_series_per_core() {
    let mut trace = ChromeTrace::new();
    trace.cpu(250_000, &[100.0, 12.5]);
    trace.simulated_cpu(0, 1, 2);
    let mut bytes = Vec::new();
    trace.write(&mut bytes).unwrap();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    let counters: Vec<&Value> = document["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "C").collect();
    assert_eq!(counters[0]["name"], "CPU");
    assert_eq!(counters[0]["ts"], 250_000);
    assert_eq!(counters[0]["args"]["core 0 %"], 100.0);
    assert_eq!(counters[0]["args"]["core 1 %"], 12.5);
    assert_eq!(counters[1]["name"], "CPU (simulated)");
    assert_eq!(
        (counters[1]["args"]["busy cores"].as_u64(), counters[1]["args"]["idle cores"].as_u64()),
        (Some(1), Some(1))
    );
}

/// threads-cpu-gil on simulated time: inside each task's slice, the GIL's — one thread holds
/// it at a time, the others wait, and together they hold it about as long as the run lasted.
#[test]
fn gil_slices_nest_in_the_tasks_and_one_thread_holds_it_at_a_time() {
    let scenario = scenario::load("threads-cpu-gil").unwrap();
    let options = RunOptions { time: poolscope::scenario::TimeMode::Virtual, cores: Some(4), ..RunOptions::default() };
    let events = Run::start(&scenario, &options).unwrap().collect_to_end();
    let trace = chrome(&events);
    let slices = |name: &str| -> Vec<(u64, u64, u64)> {
        let mut s: Vec<_> = of_phase(&trace, "X")
            .into_iter()
            .filter(|e| e["name"] == name)
            .map(|e| {
                (
                    e["ts"].as_u64().unwrap(),
                    e["ts"].as_u64().unwrap() + e["dur"].as_u64().unwrap(),
                    e["tid"].as_u64().unwrap(),
                )
            })
            .collect();
        s.sort_unstable();
        s
    };
    let (held, waited) = (slices("holds the GIL"), slices("waits for the GIL"));
    assert!(held.len() > 4 && !waited.is_empty(), "held {held:?} waited {waited:?}");
    for pair in held.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "two threads held the GIL at once: {pair:?}");
    }
    let tasks: Vec<_> = of_phase(&trace, "X").into_iter().filter(|e| e["cat"] == "task").collect();
    for (start, end, tid) in held.iter().chain(&waited) {
        let inside = tasks.iter().any(|t| {
            let (ts, dur) = (t["ts"].as_u64().unwrap(), t["dur"].as_u64().unwrap());
            t["tid"].as_u64() == Some(*tid) && ts <= *start && *end <= ts + dur
        });
        assert!(inside, "a GIL slice {start}..{end} on track {tid} outside its task");
    }
    let total: u64 = held.iter().map(|(s, e, _)| e - s).sum();
    let makespan = events.iter().find_map(|e| match e.kind {
        TraceKind::End { makespan_us } => Some(makespan_us),
        _ => None,
    });
    let makespan = makespan.unwrap();
    assert!(total * 10 >= makespan * 9 && total <= makespan, "held {total} µs of {makespan} µs");
}
