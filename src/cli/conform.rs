//! `poolscope conform [NAME|FILE...]`: runs lessons on both engines — poolscope's pools (on
//! virtual time, so their order is exact) and CPython's, running the lesson's own program —
//! and compares what the Python program can observe (see `poolscope::trace::observe`).
//!
//! A difference the built-in lessons are known to have is listed, with its reason, in
//! `tests/conformance/expected-differences.toml` (embedded): it is reported as known, not as
//! a failure; a listed difference that is gone fails, so the list stays true. Exit codes: 0
//! every difference is known, 1 a new one, a gone one or a failed run, 2 bad input or no
//! usable `python3`.

use std::io::Write;
use std::process::ExitCode;

use poolscope::pool::PoolKind;
use poolscope::scenario::cpython::{CpythonOptions, Output, PrivateDir, Program};
use poolscope::scenario::{Engine, PoolOverride, Run, RunOptions, Scenario, TimeMode, WorkerCount};
use poolscope::trace::observe::{Difference, Observation, compare};
use serde::Deserialize;

use super::fail;

/// The differences known today, each with its reason.
const EXPECTED: &str = include_str!("../../tests/conformance/expected-differences.toml");

/// Options of `poolscope conform`.
#[derive(Debug, clap::Args)]
pub struct ConformArgs {
    /// Lessons (built-in names or files); every built-in lesson when none is given.
    pub lessons: Vec<String>,
}

/// One known difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    lesson: String,
    /// The place, as a comparison names it (`step 3 (as_completed)`, `callbacks`,
    /// `worker processes`, `steps`, or `engine` for a lesson CPython cannot run yet).
    place: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownList {
    #[serde(default)]
    difference: Vec<Known>,
}

/// The known differences.
fn known() -> Vec<Known> {
    toml::from_str::<KnownList>(EXPECTED).map(|l| l.difference).unwrap_or_default()
}

/// What comparing one lesson found.
enum Verdict {
    Same,
    Differs(Vec<Difference>),
    /// CPython could not run it (its reason).
    NotOnCpython(String),
    Failed(String),
}

/// Runs `poolscope conform`.
pub fn main(args: &ConformArgs) -> ExitCode {
    if let Err(e) = poolscope::scenario::cpython::check_python(std::path::Path::new("python3")) {
        return fail(2, &format!("conform runs every lesson on CPython too: {e}"));
    }
    let names: Vec<String> = if args.lessons.is_empty() {
        poolscope::scenario::builtin_names().map(str::to_string).collect()
    } else {
        args.lessons.clone()
    };
    let mut lessons = Vec::new();
    for name in &names {
        match poolscope::scenario::load(name) {
            Ok(lesson) => lessons.push(lesson),
            Err(e) => return fail(2, &e.to_string()),
        }
    }
    let known = known();
    let mut stdout = std::io::stdout().lock();
    let (mut new, mut failed, mut seen_known) = (0, 0, 0);
    let mut found: Vec<(String, String)> = Vec::new();
    for lesson in &lessons {
        let verdict = conform(lesson);
        let known_here = |place: &str| known.iter().find(|k| k.lesson == lesson.name && k.place == place);
        let _ = match &verdict {
            Verdict::Same => writeln!(stdout, "{:<22} same", lesson.name),
            Verdict::NotOnCpython(why) => match known_here("engine").inspect(|_| {
                found.push((lesson.name.clone(), "engine".into()));
            }) {
                Some(k) => {
                    seen_known += 1;
                    writeln!(stdout, "{:<22} not run on CPython (known: {})", lesson.name, k.reason)
                }
                None => {
                    failed += 1;
                    writeln!(stdout, "{:<22} FAILED on CPython: {why}", lesson.name)
                }
            },
            Verdict::Failed(why) => {
                failed += 1;
                writeln!(stdout, "{:<22} FAILED: {why}", lesson.name)
            }
            Verdict::Differs(differences) => {
                let _ = writeln!(stdout, "{:<22} differs", lesson.name);
                for d in differences {
                    found.push((lesson.name.clone(), d.place.clone()));
                    match known_here(&d.place) {
                        Some(k) => {
                            seen_known += 1;
                            let _ = writeln!(stdout, "    {} — known: {}", d.place, k.reason);
                        }
                        None => {
                            new += 1;
                            let _ = writeln!(stdout, "    {} — NEW", d.place);
                        }
                    }
                    let _ = writeln!(stdout, "      poolscope: {}", d.a);
                    let _ = writeln!(stdout, "      cpython:   {}", d.b);
                }
                Ok(())
            }
        };
    }
    // A known difference that is gone must leave the list: it is there to be fixed.
    let mut stale = 0;
    for k in &known {
        if lessons.iter().any(|l| l.name == k.lesson) && !found.iter().any(|(l, p)| *l == k.lesson && *p == k.place) {
            stale += 1;
            let _ = writeln!(
                stdout,
                "{:<22} no longer differs at {}: remove it from expected-differences.toml",
                k.lesson, k.place
            );
        }
    }
    let _ = writeln!(
        stdout,
        "\n{} lessons: {new} new differences, {seen_known} known, {stale} known and gone, {failed} runs failed",
        lessons.len()
    );
    if new > 0 || failed > 0 || stale > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Runs one lesson on both engines and compares what its program observes.
fn conform(lesson: &Scenario) -> Verdict {
    // A Dask pool is held to the executor it stands in for: the same lesson on a thread pool
    // of as many threads.
    let reference = match lesson.pool.kind {
        PoolKind::Dask => {
            let threads = lesson.pool.dask.threads(lesson.pool.workers.resolve());
            let twin = PoolOverride {
                kind: Some(PoolKind::Thread),
                workers: Some(WorkerCount::Fixed(threads)),
                ..PoolOverride::default()
            };
            match twin.apply(lesson) {
                Ok(twin) => twin,
                Err(e) => return Verdict::Failed(format!("its thread-pool twin: {e}")),
            }
        }
        _ => lesson.clone(),
    };
    let ours = RunOptions { time: TimeMode::Virtual, ..RunOptions::default() };
    let ours = match Run::start(&reference, &ours) {
        Ok(run) => Observation::of(&run.collect_to_end()),
        Err(e) => return Verdict::Failed(format!("poolscope: {e}")),
    };
    let code = poolscope::ui::Lesson::of(lesson);
    let mut cpython = CpythonOptions::new(Program::Lesson { code: code.code, step_lines: code.step_lines });
    // The program's own prints are not what is compared: they go to a private folder.
    let dir = match PrivateDir::new() {
        Ok(dir) => dir,
        Err(e) => return Verdict::Failed(format!("a private folder: {e}")),
    };
    let file = |name: &str| std::fs::File::create(dir.path().join(name)).map(std::sync::Arc::new);
    match (file("stdout"), file("stderr")) {
        (Ok(stdout), Ok(stderr)) => cpython.output = Output::Capture { stdout, stderr },
        (Err(e), _) | (_, Err(e)) => return Verdict::Failed(format!("a private folder: {e}")),
    }
    let exit = std::sync::Arc::clone(&cpython.exit);
    let theirs = RunOptions { engine: Engine::Cpython(cpython), ..RunOptions::default() };
    let theirs = match Run::start(lesson, &theirs) {
        Ok(run) => run.collect_to_end(),
        Err(e) => return Verdict::NotOnCpython(e.to_string()),
    };
    let status = exit.lock().map(|e| *e).unwrap_or(None);
    if status != Some(0) {
        let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Verdict::Failed(format!(
            "python3 exited {}: {}",
            status.map_or("?".into(), |s| s.to_string()),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    let differences = compare(&ours, &Observation::of(&theirs));
    if differences.is_empty() { Verdict::Same } else { Verdict::Differs(differences) }
}
