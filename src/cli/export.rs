//! `poolscope export NAME|FILE --python`: the lesson as one runnable Python program, on stdout.

use std::io::{self, Write};
use std::process::ExitCode;

use poolscope::scenario::PoolOverride;
use poolscope::scenario::python::{ProgramOptions, program};

use super::fail;

/// Options of `poolscope export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A scenario file, or the name of a built-in lesson (see `poolscope list`).
    pub scenario: String,
    /// Write the lesson as a complete Python program (`python3` runs it to the end and prints
    /// what `poolscope run NAME --headless` shows the main program receiving).
    #[arg(long, required = true)]
    pub python: bool,
    /// Divide every duration by this: 4 gives a program that runs four times faster.
    #[arg(long, default_value_t = 1.0, value_parser = super::timing::parse_speed)]
    pub speed: f64,
    /// Seed for ranged durations (default: the scenario's), as `run --seed` takes it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Change the lesson's pool first: `kind=process`, `workers=8`, ... as `run --pool`.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub pool: Option<PoolOverride>,
}

/// Runs `poolscope export`. Exit codes: 0 written, 1 stdout unwritable, 2 bad input.
pub fn main(args: &ExportArgs) -> ExitCode {
    let scenario = match super::load_lesson(&args.scenario, args.pool.as_ref()) {
        Ok(scenario) => scenario,
        Err(e) => return fail(2, &e),
    };
    let program = program(&scenario, ProgramOptions { speed: args.speed, seed: args.seed });
    if let Some(why) = &program.illustration {
        let _ = writeln!(io::stderr(), "poolscope: {}: {why}", scenario.name);
    }
    let mut out = io::stdout().lock();
    match out.write_all(program.text().as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not a failure of the export.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(1, &format!("cannot write the program to stdout: {e}")),
    }
}
