//! Open arrivals (`op = "arrive"`): tasks submitted at the times of a Poisson process drawn
//! from the lesson's seed — the same times every run of a seed, at any speed scaled, and
//! other times for another seed.

use std::time::Duration;

use poolscope::scenario::arrival::{ArrivalLimit, gaps};
use poolscope::scenario::{Run, RunOptions, TimeMode, parse};
use poolscope::trace::{TraceEvent, TraceKind};
use rand::SeedableRng;
use rand::rngs::StdRng;

const LESSON: &str = r#"
title = "arrivals"
seed  = 11
[pool]
kind    = "thread"
workers = 3
[tasks.fetch]
work     = "sleep"
duration = "40ms..60ms"
[[step]]
op       = "arrive"
task     = "fetch"
rate     = 25
duration = "1.5s"
into     = "reqs"
[[step]]
op = "results"
of = "reqs"
"#;

fn run(seed: Option<u64>, speed: f64) -> Vec<TraceEvent> {
    let lesson = parse(LESSON, "arrivals.toml", "arrivals").unwrap();
    let options = RunOptions { seed, speed, time: TimeMode::Virtual, ..RunOptions::default() };
    Run::start(&lesson, &options).unwrap().collect_to_end()
}

/// When each task was submitted (µs).
fn arrivals(events: &[TraceEvent]) -> Vec<u64> {
    events.iter().filter(|e| matches!(e.kind, TraceKind::Submit { .. })).map(|e| e.t).collect()
}

#[test]
fn tasks_arrive_at_the_drawn_times_the_same_for_a_seed_and_other_for_another() {
    let events = run(None, 1.0);
    let times = arrivals(&events);
    // Drawn as the runner draws them: the step's gaps first, from the lesson's seed.
    let drawn =
        gaps(25.0, ArrivalLimit::Duration(Duration::from_millis(1500)), 1_000_000, &mut StdRng::seed_from_u64(11));
    let expected: Vec<u64> = drawn
        .iter()
        .scan(Duration::ZERO, |at, gap| {
            *at += *gap;
            Some(at.as_micros() as u64)
        })
        .collect();
    assert_eq!(times, expected);
    assert!(times.len() > 20 && *times.last().unwrap() <= 1_500_000, "{times:?}");
    // Every arrival is received, in arrival order.
    let received = events.iter().filter(|e| matches!(e.kind, TraceKind::Result { .. })).count();
    assert_eq!(received, times.len());

    let again = run(None, 1.0);
    assert_eq!(format!("{events:?}"), format!("{again:?}"), "the same seed, the same run");
    assert_ne!(arrivals(&run(Some(12), 1.0)), times, "another seed, other arrivals");
    // At --speed 2 the same arrivals come twice as fast.
    let fast: Vec<u64> = arrivals(&run(None, 2.0));
    let halved: Vec<u64> = drawn
        .iter()
        .scan(Duration::ZERO, |at, gap| {
            *at += gap.div_f64(2.0);
            Some(at.as_micros() as u64)
        })
        .collect();
    assert_eq!(fast.len(), times.len());
    assert!(fast.iter().zip(&halved).all(|(a, b)| a.abs_diff(*b) <= 1), "{fast:?}\n{halved:?}");
}

#[test]
fn the_unbounded_queue_lesson_queues_far_more_than_the_hockey_stick() {
    let depth = |name: &str| {
        let lesson = poolscope::scenario::load(name).unwrap();
        let options = RunOptions { time: TimeMode::Virtual, ..RunOptions::default() };
        let events = Run::start(&lesson, &options).unwrap().collect_to_end();
        events
            .iter()
            .filter_map(|e| match e.kind {
                TraceKind::Queue { depth } => Some(depth),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    // ρ = 1.5: the queue climbs for as long as the arrivals last; ρ = 0.8: a burst waits.
    let (unbounded, hockey) = (depth("unbounded-queue"), depth("hockey-stick"));
    assert!(unbounded >= 20, "{unbounded}");
    assert!(hockey <= 5, "{hockey}");
}

#[test]
fn the_transcript_shows_an_arrive_step_with_its_drawn_gaps() {
    let lesson = poolscope::scenario::load("hockey-stick").unwrap();
    let steps = poolscope::scenario::python::shown_steps(&lesson);
    let arrive = steps.iter().find(|s| s.op.name() == "arrive").unwrap();
    let drawn = gaps(20.0, ArrivalLimit::Count(60), 1_000_000, &mut StdRng::seed_from_u64(lesson.seed));
    let first = poolscope::scenario::duration::python_seconds(drawn[0]);
    assert!(arrive.python.starts_with("# 60 arrivals, 20 a second on average"), "{}", arrive.python);
    assert!(arrive.python.contains(&format!("gaps = [\n    {first}, ")), "{}", arrive.python);
    assert!(
        arrive.python.ends_with(
            "for i, gap in enumerate(gaps):\n    time.sleep(gap)\n    futures.append(pool.submit(fetch, i))"
        ),
        "{}",
        arrive.python
    );
}
