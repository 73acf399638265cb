//! `poolscope compare SCRIPT.py --a workers=2 --b workers=8`: a user's own program run
//! under `python3` twice, its pools (or the one `--pool-index` names) given each side's
//! size; live on a terminal, A above B, or one after the other with their numbers side by
//! side. Each side's output is kept (`a.stdout`, `a.stderr`, ...); a side whose program
//! fails is reported under the table (exit 1).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use poolscope::scenario::cpython::{CpythonOptions, check_python};
use poolscope::scenario::script::{SizedScript, script_scenario};
use poolscope::scenario::sweep::ProgramRun;
use poolscope::scenario::{Engine, EngineChoice, PoolOverride, RunOptions, SideOverride, WorkerCount};
use poolscope::ui::compare::{self, Side};

use super::compare::{CompareArgs, table};
use super::fail;
use super::sweep_script::real_time_only;

/// Runs `poolscope compare SCRIPT.py`. Exit codes: 0 both ran to their end, 1 a side's
/// program failed (or no usable python3), 2 bad input.
pub fn main(args: &CompareArgs) -> ExitCode {
    let script = PathBuf::from(&args.scenario);
    if !script.is_file() {
        return fail(2, &format!("{}: no such Python file", script.display()));
    }
    if args.record.is_some() {
        return fail(2, "--record: not for a Python program; record each side with `poolscope py SCRIPT.py --record`");
    }
    if let Some(refused) = real_time_only(&args.timing) {
        return fail(2, &refused);
    }
    let mut sides = Vec::new();
    for (name, over) in [("a", &args.a), ("b", &args.b)] {
        match side_workers(over.as_ref()) {
            Ok(workers) => sides.push((name, label(name, over.as_ref()), workers)),
            Err(e) => {
                return fail(2, &format!("--{name} {}: {e}", over.as_ref().map(|o| o.to_string()).unwrap_or_default()));
            }
        }
    }
    if let Err(e) = check_python(Path::new("python3")) {
        return fail(1, &e.to_string());
    }
    let output_dir = match super::sweep_script::output_dir(args.output_dir.as_ref(), "compare", &script) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let sized = SizedScript {
        path: script.clone(),
        args: args.script_args.clone(),
        pool_index: args.pool_index,
        output_dir: output_dir.clone(),
    };
    let kept = format!("The program's output: {}/a.stdout, a.stderr, b.stdout, b.stderr", output_dir.display());
    if !args.headless && !args.json && super::tty() {
        return live(&sized, &sides, args, &kept);
    }
    let mut runs = Vec::new();
    for (name, label, workers) in &sides {
        match sized.run(*workers, name, &AtomicBool::new(false)) {
            Ok(Some(run)) => runs.push(run),
            Ok(None) => return fail(1, &format!("{label}: the run stopped")),
            Err(e) => return fail(1, &format!("{label}: {e}")),
        }
    }
    let failed = runs.iter().any(|r| r.program.exit_status != 0);
    let mut out = io::stdout().lock();
    let written = if args.json {
        let side = |(_, _, workers): &(&str, String, Option<usize>), run: &poolscope::scenario::script::SizedRun| {
            let mut side = serde_json::json!({ "workers": workers, "summary": &run.summary });
            if let (Some(side), Ok(serde_json::Value::Object(program))) =
                (side.as_object_mut(), serde_json::to_value(&run.program))
            {
                side.extend(program);
            }
            side
        };
        writeln!(out, "{}", serde_json::json!({ "a": side(&sides[0], &runs[0]), "b": side(&sides[1], &runs[1]) }))
    } else {
        let (a, b) = (&runs[0], &runs[1]);
        let like_for_like = !failed && (a.summary.ran(), a.summary.tasks) == (b.summary.ran(), b.summary.tasks);
        let mut text = format!("━━ Compare: python3 {} ━━\n", command(&script, &args.script_args));
        for ((_, label, workers), run) in sides.iter().zip(&runs) {
            text.push_str(&format!("{label}: {}\n", sizing(*workers, args.pool_index, &run.program)));
        }
        text.push_str("A ran, then B, each alone on the machine; REAL time, CPython's own pools.\n");
        for ((_, label, _), run) in sides.iter().zip(&runs) {
            if let Some(failure) = failure(&run.program) {
                text.push_str(&format!("{label} FAILED: {failure}\n"));
            }
        }
        if !failed && !like_for_like {
            text.push_str(&format!(
                "A ran {} of {} tasks and B {} of {}: their times are not a like-for-like comparison.\n",
                a.summary.ran(),
                a.summary.tasks,
                b.summary.ran(),
                b.summary.tasks
            ));
        }
        write!(out, "{text}\n{}\n{kept}\n", table(&a.summary, &b.summary, like_for_like))
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) if failed => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("cannot write to stdout: {e}")),
    }
}

/// Both sides live, A above B; after the view, a side whose program failed says how.
fn live(sized: &SizedScript, sides: &[(&str, String, Option<usize>)], args: &CompareArgs, kept: &str) -> ExitCode {
    let mut engines: Vec<(CpythonOptions, &str, &String)> = Vec::new();
    for (name, label, workers) in sides {
        match sized.engine(*workers, name) {
            Ok(engine) => engines.push((engine, name, label)),
            Err(e) => return fail(1, &format!("cannot keep the program's output: {e}")),
        }
    }
    let scenario = script_scenario(&sized.path);
    let views = [0, 1].map(|i| {
        let (engine, _, label) = &engines[i];
        Side::new(label.as_str(), scenario.clone()).on(Engine::Cpython(engine.clone()))
    });
    let outcome = compare::run(views, RunOptions::default(), args.look.theme());
    let mut failed = false;
    for (engine, name, label) in &engines {
        let program = sized.ended(engine, name);
        // Above 128: a signal, the comparison's own stop when the view closed.
        if program.exit_status != 0 && program.exit_status <= 128 {
            failed = true;
            let _ = writeln!(io::stderr(), "poolscope: {label} FAILED: {}", failure(&program).unwrap_or_default());
        }
    }
    let _ = writeln!(io::stdout(), "{kept}");
    match outcome {
        Err(e) => fail(1, &format!("the comparison failed: {e}")),
        Ok(()) => match super::quit_code() {
            code if code != ExitCode::SUCCESS => code,
            _ if failed => ExitCode::from(1),
            code => code,
        },
    }
}

/// A side's size: `workers=N` (or `cpus`, `cpus+4`), `None` for as written; any other key
/// is an error, a program's pools being its own.
fn side_workers(over: Option<&SideOverride>) -> Result<Option<usize>, String> {
    let Some(over) = over else { return Ok(None) };
    if over.engine == Some(EngineChoice::Poolscope) {
        return Err("a Python program runs on CPython's own pools: engine=poolscope does not apply".into());
    }
    if over.pool != (PoolOverride { workers: over.pool.workers, ..PoolOverride::default() }) {
        return Err("a Python program's pools are its own: only workers=N applies".into());
    }
    Ok(over.pool.workers.map(|count| match count {
        WorkerCount::Fixed(n) => n,
        count => count.resolve_for(poolscope::pool::cpus()),
    }))
}

/// `A · workers=2`, or `B · as written`.
fn label(name: &str, over: Option<&SideOverride>) -> String {
    let name = name.to_uppercase();
    match over.and_then(|o| o.pool.workers) {
        Some(count) => format!("{name} · workers={}", count.python()),
        None => format!("{name} · as written"),
    }
}

/// What a side did to the program's pools, and what they got.
fn sizing(workers: Option<usize>, pool_index: Option<usize>, program: &ProgramRun) -> String {
    match (workers, pool_index) {
        (None, _) => "the program's pools as it sizes them".to_string(),
        (Some(1), None) => "every pool it makes given 1 worker".to_string(),
        (Some(n), None) => format!("every pool it makes given {n} workers"),
        (Some(n), Some(index)) => {
            let made = program.pools.iter().find(|p| p.index == index).map(|p| p.kind.as_str());
            match made {
                Some(kind) => format!("its pool {index} ({kind}) given {n} workers"),
                None => format!("its pool {index} given {n} workers, but it made no pool {index} (counting from 0)"),
            }
        }
    }
}

/// `python3 exited with status 1: RuntimeError: ...`, for a program that failed.
fn failure(program: &ProgramRun) -> Option<String> {
    (program.exit_status != 0).then(|| match &program.error {
        Some(error) => format!("python3 exited with status {}: {error}", program.exit_status),
        None => format!("python3 exited with status {}", program.exit_status),
    })
}

/// `tests/x.py --flag`.
fn command(script: &Path, args: &[String]) -> String {
    std::iter::once(script.display().to_string()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ")
}
