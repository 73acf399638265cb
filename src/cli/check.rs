//! `poolscope check FILE...`: validates scenarios without running them.

use std::io::{self, Write};
use std::process::ExitCode;

use poolscope::scenario;

/// Options of `poolscope check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scenario files (or built-in lesson names) to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

/// Checks every file; exit code 2 if any is malformed, each error on stderr with its file,
/// line, column and field.
pub fn main(args: &CheckArgs) -> ExitCode {
    let mut bad = 0;
    for file in &args.files {
        match scenario::load(file) {
            Ok(s) => {
                let _ = writeln!(
                    io::stdout(),
                    "{file}: ok — {:?}, {} pool, {} steps, {} task templates",
                    s.title,
                    s.pool.kind,
                    s.steps.len(),
                    s.tasks.len()
                );
            }
            Err(e) => {
                bad += 1;
                let _ = writeln!(io::stderr(), "{e}");
            }
        }
    }
    if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) }
}
