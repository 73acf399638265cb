//! `poolscope` (no subcommand: the lesson picker) and `poolscope run NAME` (without
//! `--headless`): the live terminal UI.

use std::process::ExitCode;

use poolscope::scenario::{PoolOverride, RunOptions, Scenario};
use poolscope::ui::Theme;
use poolscope::ui::app::{self, Options};
use poolscope::ui::quiz::QuizOptions;

use super::fail;

/// How the live view behaves, from the command line.
#[derive(Clone, Debug)]
pub struct Live {
    /// Captions hold the picture for their reading time.
    pub holds: bool,
    /// Start paused, in step mode.
    pub step: bool,
    /// Colours and glyphs.
    pub theme: Theme,
    /// Where predictions are asked and kept.
    pub quiz: QuizOptions,
}

impl Live {
    /// The picker's: captions held, no step mode, the lessons' own predictions.
    pub fn picker(theme: Theme) -> Live {
        Live { holds: true, step: false, theme, quiz: QuizOptions::default() }
    }
}

/// Opens the UI on `scenario` (a file or a built-in name, its pool changed by `--pool`), or on
/// the picker. Exit codes follow SPEC §4: 0 done, 1 the terminal failed, 2 a bad scenario or
/// option; 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) ended it.
pub fn main(scenario: Option<(&str, Option<&PoolOverride>)>, options: &RunOptions, live: &Live) -> ExitCode {
    let start = match scenario.map(|(name, pool)| super::load_lesson(name, pool)) {
        None => None,
        Some(Ok(scenario)) => Some(scenario),
        Some(Err(e)) => return fail(2, &e),
    };
    open(start, options, live)
}

/// Opens the UI on `scenario` as it is (a script's stand-in, for `poolscope py`).
pub fn main_on(scenario: Scenario, options: &RunOptions, live: &Live) -> ExitCode {
    open(Some(scenario), options, live)
}

fn open(start: Option<Scenario>, options: &RunOptions, live: &Live) -> ExitCode {
    let speed = options.speed;
    match app::run(
        start,
        Options {
            seed: options.seed,
            speed,
            time: options.time,
            cores: options.cores,
            holds: live.holds,
            step: live.step,
            engine: options.engine.clone(),
            theme: live.theme,
            quiz: live.quiz.clone(),
        },
    ) {
        Ok(()) => super::quit_code(),
        Err(e) => fail(1, &format!("the terminal UI failed: {e}")),
    }
}
