//! The Python each step stands for (transcript), and the whole lesson as one runnable
//! program (code panel, `poolscope export --python`).

mod program;

pub(crate) use program::PROGRAM_NAMES;
pub use program::{Program, ProgramOptions, program};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::arrival::ArrivalLimit;
use super::duration::python_seconds;
use super::model::{Dialect, Op, PoolConfig, Scenario, Step, TaskTemplate};
use crate::pool::{ReturnWhen, Work};

/// The lesson's steps, each with the Python a transcript shows for it: the lesson's own text
/// when it gives one; else, for a program in `multiprocessing`'s or asyncio's words, the
/// step's code in that program (what [`line()`] writes is `concurrent.futures`' alone), and
/// for an `arrive` step in any program, its code with the gaps drawn from the seed.
pub fn shown_steps(scenario: &Scenario) -> Vec<Step> {
    let mut steps = scenario.steps.clone();
    let executor = scenario.dialect() == Dialect::Executor;
    let drawn = |step: &Step| matches!(step.op, Op::Arrive { .. });
    if executor && !steps.iter().any(drawn) {
        return steps;
    }
    let program = program(scenario, ProgramOptions::default());
    for (index, step) in steps.iter_mut().enumerate() {
        if (!executor || drawn(step)) && !own_code(step, scenario) {
            step.python = program.step_code(index);
        }
    }
    steps
}

/// The step's Python is the lesson's own text (its `python` field), not what poolscope writes.
pub(crate) fn own_code(step: &Step, scenario: &Scenario) -> bool {
    step.python != line(&step.op, &scenario.tasks, &scenario.pool, &scenario.plain_queues)
}

/// The equivalent Python of one op. `plain_queues` are handed to the tasks that use them.
pub fn line(
    op: &Op,
    tasks: &BTreeMap<String, TaskTemplate>,
    pool: &PoolConfig,
    plain_queues: &BTreeSet<String>,
) -> String {
    let _ = pool;
    let timeout = |t: &Option<std::time::Duration>| t.map(|t| format!("timeout={}", python_seconds(t)));
    // A plain multiprocessing.Queue reaches a task only as its argument.
    let queue_of = |task: &str| match tasks.get(task).map(|t| &t.work) {
        Some(Work::QueuePut { queue, .. } | Work::QueueGet { queue }) if plain_queues.contains(queue) => {
            Some(queue.as_str())
        }
        _ => None,
    };
    match op {
        Op::Submit { task, count, sync, callback, into } => {
            let list = into.as_deref().unwrap_or("futures");
            let queue = queue_of(task).map(|q| format!(", {q}")).unwrap_or_default();
            let call = if *count == 1 {
                format!("pool.submit({task}, 0{queue})")
            } else {
                format!("pool.submit({task}, i{queue})")
            };
            let loop_head = (*count != 1).then(|| format!("for i in range({count}):"));
            let mut body: Vec<String> = Vec::new();
            match (sync, callback) {
                (true, false) if into.is_none() => body.push(format!("print({call}.result())")),
                (true, false) => {
                    body.push(format!("f = {call}"));
                    body.push(format!("{list}.append(f)"));
                    body.push("print(f.result())".to_string());
                }
                (false, false) if *count == 1 => body.push(format!("{list}.append({call})")),
                (false, false) => return format!("{list} += [{call} for i in range({count})]"),
                (_, true) => {
                    body.push(format!("f = {call}"));
                    body.push("f.add_done_callback(done)".to_string());
                    body.push(format!("{list}.append(f)"));
                    if *sync {
                        body.push("print(f.result())".to_string());
                    }
                }
            }
            block(loop_head, body)
        }
        Op::Map { task, count, chunksize, timeout: t, into } => {
            let mut args = vec![task.clone(), format!("range({count})")];
            if let Some(queue) = queue_of(task) {
                args.push(format!("[{queue}] * {count}"));
            }
            if *chunksize != 1 {
                args.push(format!("chunksize={chunksize}"));
            }
            args.extend(timeout(t));
            let mut out = format!("for result in pool.map({}):\n    print(result)", args.join(", "));
            if let Some(into) = into {
                // Python's map keeps its futures to itself; the lesson adds them to a list.
                let _ = write!(out, "\n# poolscope: map's {count} futures are added to {into}");
            }
            out
        }
        Op::Arrive { task, rate, limit, into } => {
            let queue = queue_of(task).map(|q| format!(", {q}")).unwrap_or_default();
            let list = into.as_deref().unwrap_or("futures");
            let how_long = match limit {
                ArrivalLimit::Count(n) => format!("{n} arrivals"),
                ArrivalLimit::Duration(d) => format!("arrivals for {} s", python_seconds(*d)),
            };
            format!(
                "for i, gap in enumerate(gaps):  # {how_long}, {rate} a second on average\n    \
                 time.sleep(gap)\n    {list}.append(pool.submit({task}, i{queue}))"
            )
        }
        Op::AsCompleted { of, timeout: t } => {
            let mut args = vec![of.python().to_string()];
            args.extend(timeout(t));
            format!("for f in as_completed({}):\n{}", args.join(", "), try_result("    ", "f.result()"))
        }
        Op::Wait { of, return_when, timeout: t } => {
            let mut args = vec![of.python().to_string()];
            args.extend(timeout(t));
            match return_when {
                ReturnWhen::AllCompleted => {}
                ReturnWhen::FirstCompleted => args.push("return_when=FIRST_COMPLETED".into()),
                ReturnWhen::FirstException => args.push("return_when=FIRST_EXCEPTION".into()),
            }
            format!("done, not_done = wait({})", args.join(", "))
        }
        Op::Results { of, timeout: t } => {
            let call = match timeout(t) {
                Some(t) => format!("f.result({t})"),
                None => "f.result()".to_string(),
            };
            format!("for f in {}:\n{}", of.python(), try_result("    ", &call))
        }
        Op::Imap { task, count, chunksize, ordered } => {
            let chunks = if *chunksize == 1 { String::new() } else { format!(", chunksize={chunksize}") };
            let imap = if *ordered { "imap" } else { "imap_unordered" };
            format!("for result in pool.{imap}({task}, range({count}){chunks}):\n    print(result)")
        }
        Op::Exceptions { of, timeout: t } => {
            let call = match timeout(t) {
                Some(t) => format!("f.exception({t})"),
                None => "f.exception()".to_string(),
            };
            format!("for f in {}:\n{}", of.python(), try_result("    ", &format!("repr({call})")))
        }
        Op::AddCallback { of, raises } => {
            let done = if *raises { "done_raising" } else { "done" };
            format!("for f in {}:\n    f.add_done_callback({done})", of.python())
        }
        Op::Cancel { of } => format!("for f in {}:\n    print(f.cancel())", of.python()),
        Op::Poll { of } => format!("for f in {}:\n    print(f.done(), f.running(), f.cancelled())", of.python()),
        Op::Sleep { duration } => format!("time.sleep({})", python_seconds(*duration)),
        Op::Shutdown { wait, cancel_futures } => {
            format!("pool.shutdown(wait={}, cancel_futures={})", py_bool(*wait), py_bool(*cancel_futures))
        }
        Op::Resize { workers } => {
            format!(
                "# poolscope only: Python pools cannot be resized while they run\npool.set_workers({})",
                workers.python()
            )
        }
        Op::Note { text } => text.lines().map(|l| format!("# {l}")).collect::<Vec<_>>().join("\n"),
        Op::PrintCounter { counter } => print_counter(counter),
        Op::Close => "pool.close()".to_string(),
        Op::Join => "pool.join()".to_string(),
        Op::Terminate => "pool.terminate()".to_string(),
    }
}

/// `print("counter =", counter)`: it prints `counter = 2`, what the transcript shows.
fn print_counter(counter: &str) -> String {
    format!("print(\"{counter} =\", {counter})")
}

fn block(head: Option<String>, body: Vec<String>) -> String {
    match head {
        Some(head) => {
            let mut out = head;
            for line in body {
                out.push_str("\n    ");
                out.push_str(&line);
            }
            out
        }
        None => body.join("\n"),
    }
}

fn try_result(indent: &str, call: &str) -> String {
    format!("{indent}try:\n{indent}    print({call})\n{indent}except Exception as e:\n{indent}    print(repr(e))")
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The lines of the program before its first step: imports, functions, the pool's creation.
pub fn preamble(scenario: &Scenario) -> String {
    program(scenario, ProgramOptions::default()).preamble().join("\n")
}
