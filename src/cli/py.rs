//! `poolscope py SCRIPT.py [ARGS]`: a user's own Python program on CPython's pools, traced —
//! every pool it makes becomes lanes. Live on a terminal (the program's output is kept and
//! shown after the view closes); `--headless`, `--events`, `--trace`, `--record` as `run`
//! has them (the program's output passes through).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use poolscope::scenario::cpython::{CpythonOptions, Output, PrivateDir, Program};
use poolscope::scenario::{Engine, RunOptions};

use super::fail;
use super::run::{EngineName, RunArgs};
use super::timing::Timing;

/// Options of `poolscope py`.
#[derive(Debug, clap::Args)]
pub struct PyArgs {
    /// The Python program.
    pub script: PathBuf,
    /// Its arguments (`sys.argv[1:]`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub out: super::run::Outputs,
    #[command(flatten)]
    pub look: super::look::Look,
}

/// Runs `poolscope py`. Exit codes: 0 the program ran to the end, 1 it failed (its traceback
/// is shown) or no usable python3, 2 bad input.
pub fn main(args: &PyArgs, live: bool) -> ExitCode {
    if !args.script.is_file() {
        return fail(2, &format!("{}: no such Python file", args.script.display()));
    }
    let scenario = poolscope::scenario::script::script_scenario(&args.script);
    let program = Program::Script { path: args.script.clone(), args: args.args.clone() };
    let mut cpython = CpythonOptions::new(program);
    if let Err(e) = poolscope::scenario::cpython::check_python(&cpython.python) {
        return fail(1, &e.to_string());
    }
    if !(live && args.out.live()) {
        let run_args = RunArgs {
            scenario: args.script.display().to_string(),
            out: args.out.clone(),
            pool: None,
            step: false,
            no_hold: false,
            quiz: false,
            no_predict: false,
            answers: None,
            engine: Some(EngineName::Cpython),
            timing: Timing { seed: None, speed: 1.0, virtual_time: false, cores: None },
            look: args.look.clone(),
        };
        let options = RunOptions { engine: Engine::Cpython(cpython), ..RunOptions::default() };
        return super::run::play(&run_args, &scenario, options);
    }
    let captured = match Captured::new() {
        Ok(captured) => captured,
        Err(e) => return fail(1, &format!("cannot keep the program's output: {e}")),
    };
    cpython.output = captured.output.clone();
    let exit = Arc::clone(&cpython.exit);
    let options = RunOptions { engine: Engine::Cpython(cpython), ..RunOptions::default() };
    let shown = super::ui::main_on(scenario, &options, &super::ui::Live::picker(args.look.theme()));
    captured.show(shown, &exit)
}

/// The program's stdout and stderr, kept in a private folder while the live view is open.
pub struct Captured {
    dir: PrivateDir,
    /// Where the run writes them.
    pub output: Output,
}

impl Captured {
    /// Files for both.
    pub fn new() -> std::io::Result<Captured> {
        let (dir, output) = Output::kept()?;
        Ok(Captured { dir, output })
    }

    /// After the view closed: prints what the program printed, and gives the exit code — 1
    /// if the view failed or `python3` did.
    pub fn show(self, view: ExitCode, exit: &std::sync::Mutex<Option<i32>>) -> ExitCode {
        Output::show_kept(&self.dir);
        if view != ExitCode::SUCCESS {
            return view;
        }
        match *exit.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(code) if code != 0 => fail(1, &format!("python3 exited with status {code}")),
            _ => ExitCode::SUCCESS,
        }
    }
}
