//! Predict mode's truth: the built-in lessons' questions, scored against their runs on
//! simulated time and on CPython's own pools, say what the lessons teach — map's order,
//! as_completed's (tasks that finish together in any order), a step's time, which tasks fail
//! or never run, which cancels succeed. And `--quiz` asks at the steps where it makes sense.

mod common;

use poolscope::scenario::predict::{self, Answer, Fate, Predict, Question, Verdict};
use poolscope::trace::{Model, TraceEvent, TraceKind};

/// Each question of `lesson` (its `predict` steps) scored on `events` with the answer
/// `answer` gives it, as the live view scores it: when the next step begins or the run ends.
fn verdicts(lesson: &str, events: &[TraceEvent], answer: impl Fn(&Question) -> Answer) -> Vec<(Question, Verdict)> {
    let scenario = poolscope::scenario::load(lesson).unwrap();
    let questions = predict::questions(&scenario, false);
    let mut model = Model::new();
    let mut scored = Vec::new();
    for event in events {
        let over = match event.kind {
            TraceKind::Step { index, .. } => Some(index),
            TraceKind::End { .. } => Some(usize::MAX),
            _ => None,
        };
        if let Some(over) = over {
            for q in questions.iter().filter(|q| q.step < over).skip(scored.len()) {
                let verdict = q.score(&answer(q), &model, event.t);
                scored.push((q.clone(), verdict));
            }
        }
        model.apply(event);
    }
    assert_eq!(scored.len(), questions.len(), "{lesson}: every question is scored by the end");
    scored
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn order(names: &[&str]) -> Answer {
    Answer::Order(labels(names))
}

/// The CPython engine's event log of `lesson`, or `None` (with a notice) without python3.
fn cpython_events(lesson: &str) -> Option<Vec<TraceEvent>> {
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        println!("SKIPPED: python3 is not installed; the CPython half did not run");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("poolscope-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join(format!("{lesson}.jsonl"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--engine", "cpython", "--headless", "--events"])
        .arg(&events)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{lesson} did not run on CPython");
    Some(poolscope::trace::parse_jsonl(&std::fs::read_to_string(&events).unwrap()).unwrap())
}

/// map-ordering: map gives Page0 first whatever finishes first; as_completed gives Pages 1-3
/// (in any order: they finish together) and then Page0. On real time (`simulated` false) how
/// close together Pages 1-3 arrive depends on the machine's load, so there only the order is
/// checked: Page0 last.
fn check_map_ordering(events: &[TraceEvent], simulated: bool) {
    let input = ["Page0", "Page1", "Page2", "Page3"];
    let right = verdicts("map-ordering", events, |q| match q.step {
        0 => order(&input),
        _ => order(&["Page3", "Page1", "Page2", "Page0"]),
    });
    assert_eq!(right[0].0.kind, Predict::Order);
    assert_eq!(right[0].1.truth, order(&input));
    assert!(right[0].1.right, "{right:#?}");
    let Answer::Order(came) = &right[1].1.truth else { panic!("{right:#?}") };
    assert_eq!(came.last().map(String::as_str), Some("Page0"), "{right:#?}");
    if simulated {
        assert!(right[1].1.right && right[1].1.detail.contains("together"), "{right:#?}");
    }
    // Finishing first is not arriving first with map; the slow page is not first with as_completed.
    let wrong = verdicts("map-ordering", events, |q| match q.step {
        0 => order(&["Page1", "Page2", "Page3", "Page0"]),
        _ => order(&input),
    });
    assert!(wrong.iter().all(|(_, v)| !v.right), "{wrong:#?}");
    assert!(wrong[0].1.detail.starts_with("they came Page0, Page1, Page2, Page3"), "{wrong:#?}");
}

/// worker-crash: the crashed task and the one running beside it fail; the queued two never run.
fn check_worker_crash(events: &[TraceEvent]) {
    let fates = vec![Some(Fate::Fails), Some(Fate::Fails), Some(Fate::NeverRuns), Some(Fate::NeverRuns)];
    let scored = verdicts("worker-crash", events, |_| Answer::Outcomes(fates.clone()));
    let (q, verdict) = &scored[0];
    assert_eq!(q.labels, labels(&["Crash0", "Job0", "Job1", "Job2"]));
    assert_eq!(verdict.truth, Answer::Outcomes(fates.clone()));
    assert!(verdict.right, "{verdict:#?}");
    let all_fail = verdicts("worker-crash", events, |_| Answer::Outcomes(vec![Some(Fate::Fails); 4]));
    assert!(!all_fail[0].1.right && all_fail[0].1.detail.ends_with("2 of 4 marked right"), "{all_fail:#?}");
}

/// future-states: cancel() fails on the two running futures and succeeds on the two pending.
fn check_future_states(events: &[TraceEvent]) {
    let truth = vec![Some(false), Some(false), Some(true), Some(true)];
    let scored = verdicts("future-states", events, |_| Answer::Cancelled(truth.clone()));
    assert_eq!(scored[0].0.kind, Predict::Cancelled);
    assert_eq!(scored[0].1.truth, Answer::Cancelled(truth.clone()));
    assert!(scored[0].1.right, "{scored:#?}");
}

/// sync-vs-async: four 0.5 s tasks take 2 s one by one, 0.5 s side by side.
fn check_sync_vs_async(events: &[TraceEvent]) {
    let scored = verdicts("sync-vs-async", events, |q| Answer::Makespan(if q.step == 0 { 2.0 } else { 0.5 }));
    assert!(scored.iter().all(|(_, v)| v.right), "{scored:#?}");
    let swapped = verdicts("sync-vs-async", events, |q| Answer::Makespan(if q.step == 0 { 0.5 } else { 2.0 }));
    assert!(swapped.iter().all(|(_, v)| !v.right), "{swapped:#?}");
}

#[test]
fn the_lessons_questions_are_scored_against_the_simulated_run() {
    check_map_ordering(&common::lesson_events("map-ordering"), true);
    check_worker_crash(&common::lesson_events("worker-crash"));
    check_future_states(&common::lesson_events("future-states"));
    check_sync_vs_async(&common::lesson_events("sync-vs-async"));
    // The GIL: four 0.5 s computations on four threads take 2 s. The stalled loop: 1 s
    // fetches take 2 s behind a coroutine that computes for 2 s.
    for lesson in ["threads-cpu-gil", "coroutines"] {
        let scored = verdicts(lesson, &common::lesson_events(lesson), |_| Answer::Makespan(2.0));
        assert!(scored.iter().all(|(_, v)| v.right), "{lesson}: {scored:#?}");
        let naive = verdicts(lesson, &common::lesson_events(lesson), |_| Answer::Makespan(0.5));
        assert!(naive.iter().all(|(_, v)| !v.right), "{lesson}: {naive:#?}");
    }
}

#[test]
fn the_same_answers_are_right_against_cpythons_own_pools() {
    for (lesson, check) in [
        ("map-ordering", (|events: &[TraceEvent]| check_map_ordering(events, false)) as fn(&[TraceEvent])),
        ("worker-crash", check_worker_crash),
        ("future-states", check_future_states),
        ("sync-vs-async", check_sync_vs_async),
    ] {
        let Some(events) = cpython_events(lesson) else { return };
        check(&events);
    }
}

#[test]
fn six_lessons_ask_and_quiz_asks_where_a_prediction_makes_sense() {
    let asking: Vec<&str> = poolscope::scenario::builtin_names()
        .filter(|name| {
            let scenario = poolscope::scenario::load(name).unwrap();
            !predict::questions(&scenario, false).is_empty()
        })
        .collect();
    for lesson in ["map-ordering", "sync-vs-async", "future-states", "threads-cpu-gil", "coroutines", "worker-crash"] {
        assert!(asking.contains(&lesson), "{lesson} asks nothing: {asking:?}");
    }
    // --quiz: map and as_completed ask for an order, a results step over tasks that may fail
    // for outcomes, a sync submit for its time; a plain submit or a note asks nothing.
    let kinds = |lesson: &str| -> Vec<(usize, Predict)> {
        let scenario = poolscope::scenario::load(lesson).unwrap();
        predict::questions(&scenario, true).iter().map(|q| (q.step, q.kind)).collect()
    };
    assert_eq!(kinds("map-ordering"), [(0, Predict::Order), (2, Predict::Order)]);
    assert_eq!(kinds("sync-vs-async"), [(0, Predict::Makespan), (2, Predict::Makespan)]);
    assert_eq!(kinds("worker-crash"), [(2, Predict::Outcomes)]);
}

#[test]
fn quiz_without_a_live_view_is_refused_with_exit_2() {
    for args in [&["run", "map-ordering", "--headless", "--quiz"][..], &["run", "map-ordering", "--answers", "a.json"]]
    {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("asks the learner in the live view"), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&out.stdout));
    }
}
