//! The poolscope binary: parses the command line and hands over to the UI, a headless run,
//! a benchmark, or (hidden) a process-pool worker.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
