//! `poolscope` (no subcommand: the lesson picker) and `poolscope run NAME` (without
//! `--headless`): the live terminal UI.

use std::process::ExitCode;

use poolscope::scenario::{PoolOverride, RunOptions, Scenario};
use poolscope::ui::Theme;
use poolscope::ui::app::{self, Options};

use super::fail;

/// Opens the UI on `scenario` (a file or a built-in name, its pool changed by `--pool`), or on
/// the picker. Exit codes follow SPEC §4: 0 done, 1 the terminal failed, 2 a bad scenario or
/// option; 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) ended it.
///
/// `holds`: captions hold the picture for their reading time; `step`: start paused, in step
/// mode.
pub fn main(
    scenario: Option<(&str, Option<&PoolOverride>)>,
    options: &RunOptions,
    holds: bool,
    step: bool,
    theme: Theme,
) -> ExitCode {
    let start = match scenario.map(|(name, pool)| super::load_lesson(name, pool)) {
        None => None,
        Some(Ok(scenario)) => Some(scenario),
        Some(Err(e)) => return fail(2, &e),
    };
    open(start, options, holds, step, theme)
}

/// Opens the UI on `scenario` as it is (a script's stand-in, for `poolscope py`).
pub fn main_on(scenario: Scenario, options: &RunOptions, holds: bool, step: bool, theme: Theme) -> ExitCode {
    open(Some(scenario), options, holds, step, theme)
}

fn open(start: Option<Scenario>, options: &RunOptions, holds: bool, step: bool, theme: Theme) -> ExitCode {
    let speed = options.speed;
    match app::run(
        start,
        Options {
            seed: options.seed,
            speed,
            time: options.time,
            cores: options.cores,
            holds,
            step,
            engine: options.engine.clone(),
            theme,
        },
    ) {
        Ok(()) => super::quit_code(),
        Err(e) => fail(1, &format!("the terminal UI failed: {e}")),
    }
}
