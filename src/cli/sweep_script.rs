//! `poolscope sweep SCRIPT.py --workers 1..16`: a user's own program run under `python3`
//! once per size, every pool it makes (or the one `--pool-index` names) given that many
//! workers; the same table, chart and fits as a lesson's sweep, in real time. Each run's
//! output is kept, one pair of files per size; a size whose program fails is reported in
//! its row and the sweep goes on (exit 1 at the end).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use poolscope::scenario::cpython::check_python;
use poolscope::scenario::script::{SizedScript, output_folder};

use super::fail;
use super::sweep::{Head, Sizes, SweepArgs, show, size_list};

/// Runs `poolscope sweep SCRIPT.py`. Exit codes: 0 every size ran to its end, 1 the program
/// failed at some size (or no usable python3), 2 bad input (or a program that makes no pool).
pub fn main(args: &SweepArgs) -> ExitCode {
    let script = PathBuf::from(&args.scenario);
    if !script.is_file() {
        return fail(2, &format!("{}: no such Python file", script.display()));
    }
    if let Some(pool) = &args.pool {
        return fail(
            2,
            &format!(
                "--pool {pool}: a program's pools are its own; the sweep gives them the sizes of --workers \
                 (--pool-index N picks one)"
            ),
        );
    }
    if let Some(refused) = real_time_only(&args.timing) {
        return fail(2, &refused);
    }
    if let Err(e) = check_python(Path::new("python3")) {
        return fail(1, &e.to_string());
    }
    let output_dir = match output_dir(args.output_dir.as_ref(), "sweep", &script) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let sizes = args.workers.clone().unwrap_or_else(|| Sizes((1..=2 * args.timing.cores()).collect())).0;
    let sized = SizedScript {
        path: script.clone(),
        args: args.script_args.clone(),
        pool_index: args.pool_index,
        output_dir: output_dir.clone(),
    };
    let command = std::iter::once(script.display().to_string()).chain(args.script_args.iter().cloned());
    let head = Head {
        title: format!("python3 {}", command.collect::<Vec<_>>().join(" ")),
        setting: format!(
            "{} · {} ({}) · REAL time, CPython's own pools",
            match args.pool_index {
                None => "every pool it makes sized".to_string(),
                Some(index) => format!("its pool {index} sized (from 0, in the order it makes them)"),
            },
            if sizes.len() == 1 { "1 size".to_string() } else { format!("{} sizes", sizes.len()) },
            size_list(&sizes)
        ),
        note: None,
    };
    let after = [
        String::new(),
        format!("The program's output at each size N: {}/workers-N.stdout and .stderr", output_dir.display()),
    ];
    let measure = move |workers: usize, stop: &AtomicBool| sized.measure(workers, stop);
    show(args, head, &sizes, measure, &after)
}

/// Why `--virtual-time` or `--speed` cannot apply to a program run on CPython, if given.
pub fn real_time_only(timing: &super::timing::Timing) -> Option<String> {
    if timing.virtual_time {
        return Some("--virtual-time does not apply to a Python program: CPython runs in real time".into());
    }
    (timing.speed != 1.0)
        .then(|| "--speed does not apply to a Python program: CPython runs in real time, its durations its own".into())
}

/// The folder a script's runs keep their output in: `given` (made if missing), or a new one
/// under the system's temporary folder named for `what` (`sweep`, `compare`) and the script.
pub(super) fn output_dir(given: Option<&PathBuf>, what: &str, script: &Path) -> Result<PathBuf, ExitCode> {
    match given {
        Some(dir) => match std::fs::create_dir_all(dir) {
            Ok(()) => Ok(dir.clone()),
            Err(e) => Err(fail(1, &format!("cannot make the output folder {}: {e}", dir.display()))),
        },
        None => {
            let stem = script.file_stem().map_or_else(|| "script".into(), |s| s.to_string_lossy().into_owned());
            output_folder(&format!("{what}-{stem}"))
                .map_err(|e| fail(1, &format!("cannot make a folder for the program's output: {e}")))
        }
    }
}

/// For a lesson: the options only a Python program takes, refused with exit 2 if given.
pub(super) fn lesson_refuses(
    lesson: &str,
    pool_index: Option<usize>,
    output_dir: Option<&PathBuf>,
    script_args: &[String],
) -> Option<ExitCode> {
    let only_scripts = [
        ("--pool-index", pool_index.is_some()),
        ("--output-dir", output_dir.is_some()),
        ("arguments after --", !script_args.is_empty()),
    ];
    let (what, _) = only_scripts.iter().find(|(_, given)| *given)?;
    Some(fail(2, &format!("{what}: only for a Python program (SCRIPT.py); {lesson} is a lesson")))
}
