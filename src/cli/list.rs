//! `poolscope list`: the built-in lessons.

use std::io::{self, Write};
use std::process::ExitCode;

use poolscope::scenario::{self, BUILTIN};
use poolscope::trace::wrap;

/// Lists the built-in lessons with their titles and summaries.
pub fn main() -> ExitCode {
    let mut out = io::stdout().lock();
    let mut write = || -> io::Result<()> {
        writeln!(out, "Built-in lessons (run one with `poolscope run NAME --headless`):")?;
        for (name, _) in BUILTIN {
            writeln!(out)?;
            match scenario::load(name) {
                Ok(s) => {
                    writeln!(out, "  {name:<22} {}", s.title)?;
                    write!(out, "{}", wrap(&s.summary, 88, "      "))?;
                }
                Err(e) => writeln!(out, "  {name:<22} (broken: {e})")?,
            }
        }
        Ok(())
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "poolscope: cannot write the list: {e}");
            ExitCode::from(1)
        }
    }
}
