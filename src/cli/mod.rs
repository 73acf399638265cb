//! The command line.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use poolscope::scenario::{PoolOverride, RunOptions, Scenario};

mod bench;
mod bench_process;
mod check;
mod compare;
mod compare_script;
mod conform;
mod doctor;
mod export;
mod list;
mod look;
mod py;
mod run;
mod sinks;
mod sweep;
mod sweep_chart;
mod sweep_models;
mod sweep_script;
mod timing;
mod ui;

/// See concurrency: real thread, process and coroutine pools, driven by scripted lessons.
#[derive(Debug, Parser)]
#[command(name = "poolscope", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The lesson picker's look (no subcommand).
    #[command(flatten)]
    look: look::Look,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the pools against a raw channel hand-off and Python's executors.
    Bench(bench::BenchArgs),
    /// Run a lesson (a scenario file or a built-in name).
    Run(run::RunArgs),
    /// Check scenario files without running them.
    Check(check::CheckArgs),
    /// Run a lesson on two pools, same seed, and show them side by side (or your own
    /// SCRIPT.py at two pool sizes).
    Compare(compare::CompareArgs),
    /// Run lessons on poolscope and on CPython and compare what their programs observe.
    Conform(conform::ConformArgs),
    /// Write a lesson as a runnable Python program (`--python`), to stdout.
    Export(export::ExportArgs),
    /// List the built-in lessons.
    List,
    /// Run your own Python program on CPython's pools, traced: every pool it makes becomes
    /// lanes (live on a terminal, or --headless / --events / --trace / --record).
    Py(py::PyArgs),
    /// Run a lesson (or your own SCRIPT.py) at each of several pool sizes and chart what size
    /// buys.
    Sweep(sweep::SweepArgs),
    /// Write a shell's completions to stdout.
    ///
    /// For example `poolscope completions bash > ~/.local/share/bash-completion/completions/poolscope`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual page (roff) to stdout.
    ///
    /// For example `poolscope man > ~/.local/share/man/man1/poolscope.1`.
    Man,
    /// Say what this machine gives poolscope: cores, terminal, colours, python3, tools.
    Doctor,
}

/// Runs the command line; the exit code follows SPEC §4 (0 ok, 1 runtime failure, 2 bad input).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut cli = cli;
    // `poolscope --theme light run NAME` means the same as `poolscope run NAME --theme light`.
    match &mut cli.command {
        Some(Command::Run(args)) => args.look.inherit(&cli.look),
        Some(Command::Compare(args)) => args.look.inherit(&cli.look),
        Some(Command::Sweep(args)) => args.look.inherit(&cli.look),
        Some(Command::Py(args)) => args.look.inherit(&cli.look),
        _ => {}
    }
    let outcome = match cli.command {
        Some(Command::Bench(args)) => bench::main(&args),
        // The live view needs a terminal; piped or redirected, `run` prints its transcript.
        Some(Command::Run(args)) if args.out.live() && tty() => {
            // Live, simulated time keeps pace with real time, so there is something to watch.
            let lesson = match load_lesson(&args.scenario, args.pool.as_ref()) {
                Ok(lesson) => lesson,
                Err(e) => return fail(2, &e),
            };
            let mut options = match run::options_for(&args, &lesson, true) {
                Ok(options) => options,
                Err(code) => return code,
            };
            let poolscope::scenario::Engine::Cpython(cpython) = &mut options.engine else {
                return ui::main(Some((&args.scenario, args.pool.as_ref())), &options, &args.live());
            };
            // The program's own output would garble the view: it is shown once the view closes.
            let captured = match py::Captured::new() {
                Ok(captured) => captured,
                Err(e) => return fail(1, &format!("cannot keep the program's output: {e}")),
            };
            cpython.output = captured.output.clone();
            let exit = std::sync::Arc::clone(&cpython.exit);
            let shown = ui::main(Some((&args.scenario, args.pool.as_ref())), &options, &args.live());
            return captured.show(shown, &exit);
        }
        Some(Command::Run(args)) => return run::main(&args),
        Some(Command::Check(args)) => return check::main(&args),
        Some(Command::Compare(args)) => return compare::main(&args),
        Some(Command::Conform(args)) => return conform::main(&args),
        Some(Command::Export(args)) => return export::main(&args),
        Some(Command::List) => return list::main(),
        Some(Command::Py(args)) => return py::main(&args, tty()),
        Some(Command::Sweep(args)) => return sweep::main(&args),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            // Written whole: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "poolscope", &mut script);
            std::io::stdout().write_all(&script).map_err(anyhow::Error::from)
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(anyhow::Error::from)
        }
        Some(Command::Doctor) => return doctor::main(),
        None if tty() => return ui::main(None, &RunOptions::default(), &ui::Live::picker(cli.look.theme())),
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("poolscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Loads a lesson (a file or a built-in name) and changes its pool as `--pool` asks; the
/// message says what was wrong (exit code 2).
fn load_lesson(name: &str, pool: Option<&PoolOverride>) -> Result<Scenario, String> {
    let lesson = poolscope::scenario::load(name).map_err(|e| e.to_string())?;
    match pool {
        None => Ok(lesson),
        Some(pool) => pool.apply(&lesson).map_err(|e| format!("--pool {pool}: {e}")),
    }
}

/// Says what went wrong on stderr and gives the exit code (1 runtime failure, 2 bad input).
fn fail(code: u8, message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "poolscope: {message}");
    ExitCode::from(code)
}

/// How a live view that closed without failing exits: 0 when the user quit, 128 + N when
/// signal N asked it to (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a shell
/// reports a program that the signal ended.
fn quit_code() -> ExitCode {
    match poolscope::ui::app::ended_by_signal() {
        Some(signal) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(u8::MAX)),
        None => ExitCode::SUCCESS,
    }
}

/// True when stdin and stdout are a terminal the UI can draw on.
fn tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}
