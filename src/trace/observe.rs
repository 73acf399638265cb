//! What a Python program can observe of a run, folded from its events, so that two engines'
//! runs of one lesson can be compared (`poolscope conform`): step by step, the results it
//! received (in order, each outcome with the exception's type and message), its `cancel()`
//! values, `wait()` sets, exceptions raised and the values it printed itself (a counter);
//! over the run, the kind of thread each done-callback ran on, how many worker processes
//! there were and whether they were reused, and the names of the worker threads a lesson
//! named itself (`thread_name_prefix`) with what each reported. Times, PIDs and the names
//! an engine chooses are not observable in that sense: they differ between any two runs.

use std::collections::BTreeSet;
use std::fmt;

use super::{EngineChoice, ResultOutcome, TraceEvent, TraceKind};
use crate::pool::PoolKind;

/// One thing the main program saw, in the order it saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    /// What it was, as a line (`result #1 ok Job1`).
    pub what: String,
    /// When (µs), to tell things seen at the same instant (their order is not observable).
    pub at_us: u64,
}

/// One step: its op and what the main program saw while it ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepSeen {
    /// The op's name.
    pub op: String,
    /// What it saw, in order.
    pub seen: Vec<Seen>,
}

/// The kind of thread a done-callback ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadKind {
    /// The main program's own (a callback added to a future already done).
    Main,
    /// A worker thread of the pool.
    Worker,
    /// The pool's own management or result-handler thread.
    Pool,
}

impl fmt::Display for ThreadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadKind::Main => "the main thread",
            ThreadKind::Worker => "a worker thread",
            ThreadKind::Pool => "the pool's own thread",
        })
    }
}

/// What a program can observe of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Which engine ran it.
    pub engine: EngineChoice,
    /// Per step, by index.
    pub steps: Vec<StepSeen>,
    /// Each done-callback, in order: its task and the kind of thread it ran on.
    pub callbacks: Vec<(u64, ThreadKind)>,
    /// How many of the pool's own threads ran callbacks: one in CPython (the management or
    /// result-handler thread), whatever the number of workers.
    pub pool_threads: usize,
    /// Distinct worker processes that ran tasks (0 for a thread pool), and whether one ran
    /// more than one task — counted up to the first `resize`: poolscope resizes its pool in
    /// place, where the Python program (which cannot) starts a new pool, as its text says.
    pub worker_processes: (usize, bool),
    /// The worker threads named by the lesson (`PREFIX_N`, from a `thread_name_prefix`) that
    /// the results name. Which thread runs which task is a race in CPython; which threads
    /// there are is not.
    pub named_workers: BTreeSet<String>,
    /// What the results say after their worker, when they say more, with the worker's name
    /// as `{worker}`: what a task computed, and what its worker's initializer set up (`->
    /// with session of {worker}`: set up on the thread that ran the task).
    pub reported: BTreeSet<String>,
}

impl Observation {
    /// Folds a run's events.
    pub fn of(events: &[TraceEvent]) -> Observation {
        let mut out = Observation::default();
        let mut main_pid = None;
        let mut pool_kind = None;
        let mut starts_by_pid: std::collections::BTreeMap<u32, usize> = Default::default();
        let mut resized = false;
        let mut pool_threads = BTreeSet::new();
        for event in events {
            let line = match &event.kind {
                TraceKind::Run { pool, engine, .. } => {
                    pool_kind = Some(*pool);
                    out.engine = *engine;
                    None
                }
                TraceKind::Step { index, op, .. } => {
                    if out.steps.len() <= *index {
                        out.steps.resize(index + 1, StepSeen::default());
                    }
                    out.steps[*index].op = op.clone();
                    resized |= op == "resize";
                    None
                }
                TraceKind::WorkerUp { pid, .. } if main_pid.is_none() && pool_kind != Some(PoolKind::Process) => {
                    main_pid = Some(*pid);
                    None
                }
                TraceKind::Start { pid, .. } => {
                    if !resized {
                        *starts_by_pid.entry(*pid).or_default() += 1;
                    }
                    None
                }
                TraceKind::Result { task, outcome, value, error, exception } => Some(match outcome {
                    ResultOutcome::Ok => {
                        let value = value.as_deref().unwrap_or("");
                        if let Some((worker, rest)) = worker_of(value) {
                            if lesson_named(worker) {
                                out.named_workers.insert(worker.to_string());
                            }
                            if !rest.is_empty() {
                                out.reported.insert(rest.replace(worker, "{worker}"));
                            }
                        }
                        format!("result #{task} ok {}", label_of(value))
                    }
                    _ => format!(
                        "result #{task} {} {}",
                        outcome_name(*outcome),
                        exception_line(exception.as_deref(), error.as_deref())
                    ),
                }),
                // The program calls `cancel()` in a `cancel` step only. A pool cancelling its
                // own queue (`shutdown(cancel_futures=True)`, on a process pool's results
                // thread whenever it runs; `map` after it raised) is not a call the program
                // made; it sees those futures' outcomes later.
                TraceKind::Cancel { .. } if out.steps.last().is_none_or(|s| s.op != "cancel") => None,
                TraceKind::Cancel { task, ok } => {
                    Some(format!("cancel #{task} {}", if *ok { "True" } else { "False" }))
                }
                TraceKind::Waited { done, not_done } => {
                    let set = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();
                    Some(format!("wait done={:?} not_done={:?}", set(done), set(not_done)))
                }
                TraceKind::Raise { exception, message } => {
                    Some(format!("raise {}", exception_line(Some(exception), Some(message))))
                }
                TraceKind::Print { text } => Some(format!("print {text}")),
                TraceKind::Callback { task, thread, .. } => {
                    let kind = thread_kind(thread);
                    if kind == ThreadKind::Pool {
                        pool_threads.insert(thread.as_str());
                    }
                    out.callbacks.push((*task, kind));
                    None
                }
                _ => None,
            };
            if let Some(what) = line {
                if out.steps.is_empty() {
                    out.steps.push(StepSeen::default());
                }
                let step = out.steps.last_mut().expect("a step");
                step.seen.push(Seen { what, at_us: event.t });
            }
        }
        out.pool_threads = pool_threads.len();
        if pool_kind == Some(PoolKind::Process) {
            out.worker_processes = (starts_by_pid.len(), starts_by_pid.values().any(|n| *n > 1));
        }
        out
    }
}

/// The worker a result's value names and what follows it: `(WHO, " -> REST")` of
/// `LABEL by WHO (pid P) -> REST`.
fn worker_of(value: &str) -> Option<(&str, &str)> {
    let (_, who) = value.split_once(" by ")?;
    let (name, rest) = who.split_once(" (pid ")?;
    Some((name, rest.split_once(')').map_or("", |(_, rest)| rest)))
}

/// A thread named by a lesson's `thread_name_prefix` (`PREFIX_N`, not CPython's own
/// `ThreadPoolExecutor-P_N`).
pub fn lesson_named(name: &str) -> bool {
    executor_thread(name) && !name.starts_with("ThreadPoolExecutor-")
}

/// A `ThreadPoolExecutor`'s worker thread, as it names them: `PREFIX_N`, the prefix its own
/// `ThreadPoolExecutor-P` or the lesson's `thread_name_prefix`.
fn executor_thread(name: &str) -> bool {
    name.rsplit_once('_').is_some_and(|(prefix, number)| {
        !prefix.is_empty() && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A result's value as a program can compare it: its label (`Job1` of `Job1 by worker 0
/// (pid 42)`), the worker and PID left out.
fn label_of(value: &str) -> &str {
    value.split(" by ").next().unwrap_or(value).trim()
}

fn outcome_name(outcome: ResultOutcome) -> &'static str {
    match outcome {
        ResultOutcome::Ok => "ok",
        ResultOutcome::Error => "error",
        ResultOutcome::Cancelled => "cancelled",
        ResultOutcome::Timeout => "timeout",
    }
}

/// `Type: message`, or `Type` alone when the message is empty.
fn exception_line(exception: Option<&str>, message: Option<&str>) -> String {
    let exception = exception.unwrap_or("Exception");
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(message) => format!("{exception}: {message}"),
        None => exception.to_string(),
    }
}

/// The kind of a thread, from its name on either engine: the main program's; a worker
/// (`ThreadPoolExecutor-0_1`, a `thread_name_prefix`'s `fetcher_1`, `Thread-3 (worker)` of a
/// `multiprocessing.pool.ThreadPool`, poolscope's `poolscope-worker-1` or a coroutine pool's
/// loop); or the pool's own (a process pool's management or result thread, on either
/// engine).
pub fn thread_kind(name: &str) -> ThreadKind {
    if matches!(name, "MainThread" | "main-program") {
        ThreadKind::Main
    } else if name.starts_with("ThreadPoolExecutor")
        || executor_thread(name)
        || name.ends_with("(worker)")
        || (name.contains("-worker-") && !name.contains("process"))
        || name.ends_with("-loop")
    {
        ThreadKind::Worker
    } else {
        ThreadKind::Pool
    }
}

/// Where two observations differ: which part, and each side's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `step 3 (as_completed)`, `callbacks` or `worker processes`.
    pub place: String,
    /// The step's index, when it is in a step.
    pub step: Option<usize>,
    /// A's value.
    pub a: String,
    /// B's value.
    pub b: String,
}

/// Compares what two runs let a program observe. Within a step, things A saw at one
/// instant may come in any order in B (their order is not observable on A's clock).
pub fn compare(a: &Observation, b: &Observation) -> Vec<Difference> {
    let mut out = Vec::new();
    // A step in which nothing was seen is the same as one that is not there (an engine may
    // mark the end of the `with` block as a step of its own).
    let empty = StepSeen::default();
    for index in 0..a.steps.len().max(b.steps.len()) {
        let (sa, sb) = (a.steps.get(index).unwrap_or(&empty), b.steps.get(index).unwrap_or(&empty));
        if !same_in_groups(&sa.seen, &sb.seen) {
            let op = if sa.op.is_empty() { &sb.op } else { &sa.op };
            out.push(Difference {
                place: format!("step {} ({op})", index + 1),
                step: Some(index),
                a: grouped(&sa.seen).join(" | "),
                b: sb.seen.iter().map(|s| s.what.clone()).collect::<Vec<_>>().join(" | "),
            });
        }
    }
    if a.callbacks != b.callbacks {
        let show =
            |c: &[(u64, ThreadKind)]| c.iter().map(|(t, k)| format!("#{t} on {k}")).collect::<Vec<_>>().join(", ");
        out.push(Difference { place: "callbacks".into(), step: None, a: show(&a.callbacks), b: show(&b.callbacks) });
    }
    if a.pool_threads != b.pool_threads {
        let show = |n: usize| format!("callbacks on {n} of the pool's own threads");
        out.push(Difference {
            place: "callback threads".into(),
            step: None,
            a: show(a.pool_threads),
            b: show(b.pool_threads),
        });
    }
    if a.named_workers != b.named_workers {
        let show = |names: &BTreeSet<String>| {
            if names.is_empty() {
                "no named worker threads".to_string()
            } else {
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        out.push(Difference {
            place: "named worker threads".into(),
            step: None,
            a: show(&a.named_workers),
            b: show(&b.named_workers),
        });
    }
    if a.reported != b.reported {
        let show =
            |reported: &BTreeSet<String>| reported.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
        out.push(Difference {
            place: "what results report after their worker".into(),
            step: None,
            a: show(&a.reported),
            b: show(&b.reported),
        });
    }
    if a.worker_processes != b.worker_processes {
        let show = |(n, reused): (usize, bool)| format!("{n} processes{}", if reused { ", reused" } else { "" });
        out.push(Difference {
            place: "worker processes".into(),
            step: None,
            a: show(a.worker_processes),
            b: show(b.worker_processes),
        });
    }
    out
}

/// A's lines, those seen at one instant in braces.
fn grouped(seen: &[Seen]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < seen.len() {
        let j = seen[i..].iter().position(|s| s.at_us != seen[i].at_us).map_or(seen.len(), |n| i + n);
        if j - i > 1 {
            out.push(format!("{{{}}}", seen[i..j].iter().map(|s| s.what.as_str()).collect::<Vec<_>>().join(", ")));
        } else {
            out.push(seen[i].what.clone());
        }
        i = j;
    }
    out
}

/// B saw the same as A, in A's order except within A's groups of one instant.
fn same_in_groups(a: &[Seen], b: &[Seen]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let j = a[i..].iter().position(|s| s.at_us != a[i].at_us).map_or(a.len(), |n| i + n);
        let mut left: Vec<&str> = a[i..j].iter().map(|s| s.what.as_str()).collect();
        let mut right: Vec<&str> = b[i..j].iter().map(|s| s.what.as_str()).collect();
        left.sort_unstable();
        right.sort_unstable();
        if left != right {
            return false;
        }
        i = j;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &[&str]) -> Vec<TraceEvent> {
        lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn results_at_one_instant_may_come_in_any_order_but_not_across_instants() {
        let a = Observation::of(&events(&[
            r#"{"t":0,"ev":"step","index":0,"op":"as_completed","python":""}"#,
            r#"{"t":5,"ev":"result","task":1,"outcome":"ok","value":"Job1 by worker 1 (pid 9)"}"#,
            r#"{"t":5,"ev":"result","task":2,"outcome":"ok","value":"Job2 by worker 0 (pid 9)"}"#,
            r#"{"t":9,"ev":"result","task":0,"outcome":"error","error":"boom","exception":"ValueError"}"#,
        ]));
        let b = Observation::of(&events(&[
            r#"{"t":0,"ev":"step","index":0,"op":"as_completed","python":""}"#,
            r#"{"t":6,"ev":"result","task":2,"outcome":"ok","value":"Job2 by ThreadPoolExecutor-0_1 (pid 3)"}"#,
            r#"{"t":7,"ev":"result","task":1,"outcome":"ok","value":"Job1 by ThreadPoolExecutor-0_0 (pid 3)"}"#,
            r#"{"t":9,"ev":"result","task":0,"outcome":"error","error":"boom","exception":"ValueError"}"#,
        ]));
        assert_eq!(compare(&a, &b), []);
        assert_eq!(a.steps[0].seen[2].what, "result #0 error ValueError: boom");
        let c = Observation::of(&events(&[
            r#"{"t":0,"ev":"step","index":0,"op":"as_completed","python":""}"#,
            r#"{"t":6,"ev":"result","task":0,"outcome":"error","error":"boom","exception":"ValueError"}"#,
            r#"{"t":7,"ev":"result","task":2,"outcome":"ok","value":"Job2"}"#,
            r#"{"t":9,"ev":"result","task":1,"outcome":"ok","value":"Job1"}"#,
        ]));
        let differences = compare(&a, &c);
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].place, "step 1 (as_completed)");
        assert!(differences[0].a.starts_with("{result #1 ok Job1, result #2 ok Job2}"), "{:?}", differences[0]);
    }

    #[test]
    fn a_counter_the_program_printed_is_compared_in_its_step() {
        let printed = |value: u32| {
            Observation::of(&events(&[
                r#"{"t":0,"ev":"step","index":0,"op":"print_counter","python":""}"#,
                &format!(r#"{{"t":1,"ev":"print","text":"counter = {value}"}}"#),
            ]))
        };
        assert_eq!(compare(&printed(2), &printed(2)), []);
        let differences = compare(&printed(2), &printed(8));
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert_eq!(differences[0].place, "step 1 (print_counter)");
        assert_eq!((differences[0].a.as_str(), differences[0].b.as_str()), ("print counter = 2", "print counter = 8"));
    }

    #[test]
    fn threads_named_by_the_lesson_compare_by_name_and_what_they_report() {
        let results = |values: &[&str]| {
            let lines: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!(r#"{{"t":{i},"ev":"result","task":{i},"outcome":"ok","value":"{v}"}}"#))
                .collect();
            Observation::of(&events(&lines.iter().map(String::as_str).collect::<Vec<_>>()))
        };
        let cpython = results(&[
            "Job0 by fetcher_1 (pid 7) -> with s of fetcher_1",
            "Job1 by fetcher_0 (pid 7) -> with s of fetcher_0",
        ]);
        assert_eq!(cpython.named_workers.len(), 2);
        assert_eq!(cpython.reported.iter().collect::<Vec<_>>(), [" -> with s of {worker}"]);
        // Which thread ran which task is a race; which threads there are is not.
        let poolscope = results(&[
            "Job0 by fetcher_0 (pid 1000) -> with s of fetcher_0",
            "Job1 by fetcher_1 (pid 1000) -> with s of fetcher_1",
        ]);
        assert_eq!(compare(&poolscope, &cpython), []);
        let unnamed = results(&[
            "Job0 by worker 0 (pid 1000) -> with s of worker 0",
            "Job1 by worker 1 (pid 1000) -> with s of worker 1",
        ]);
        let differences = compare(&unnamed, &cpython);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert_eq!(differences[0].place, "named worker threads");
        // The names an engine chooses itself are not compared; what follows them is.
        let default = results(&[
            "Job0 by ThreadPoolExecutor-0_1 (pid 7) -> with s of ThreadPoolExecutor-0_1",
            "Job1 by Thread-3 (worker) (pid 8) -> with s of Thread-3 (worker)",
        ]);
        assert!(default.named_workers.is_empty());
        assert_eq!(compare(&unnamed, &default), []);
        // A task that found another thread's setup, or none, reports something else.
        let crossed = results(&["Job0 by worker 0 (pid 1000) -> with s of worker 1", "Job1 by worker 1 (pid 1000)"]);
        let differences = compare(&crossed, &default);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert_eq!(differences[0].place, "what results report after their worker");
    }

    #[test]
    fn callbacks_compare_by_the_kind_of_thread_not_its_name() {
        let a = Observation::of(&events(&[
            r#"{"t":1,"ev":"callback","task":0,"thread":"poolscope-worker-0"}"#,
            r#"{"t":2,"ev":"callback","task":0,"thread":"main-program"}"#,
        ]));
        let b = Observation::of(&events(&[
            r#"{"t":1,"ev":"callback","task":0,"thread":"ThreadPoolExecutor-0_0"}"#,
            r#"{"t":2,"ev":"callback","task":0,"thread":"MainThread"}"#,
        ]));
        assert_eq!(compare(&a, &b), []);
        assert_eq!(a.callbacks, [(0, ThreadKind::Worker), (0, ThreadKind::Main)]);
    }

    #[test]
    fn a_process_pool_runs_its_callbacks_on_one_thread_of_its_own() {
        let on = |threads: [&str; 2]| {
            Observation::of(&events(&[
                &format!(r#"{{"t":1,"ev":"callback","task":0,"thread":"{}"}}"#, threads[0]),
                &format!(r#"{{"t":2,"ev":"callback","task":1,"thread":"{}"}}"#, threads[1]),
            ]))
        };
        let cpython = on(["Thread-1", "Thread-1"]);
        assert_eq!(compare(&on(["poolscope-results", "poolscope-results"]), &cpython), []);
        let differences = compare(&on(["poolscope-process-0", "poolscope-process-1"]), &cpython);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert_eq!(differences[0].place, "callback threads");
    }
}
