//! `poolscope list`: the built-in lessons, and those past one machine.

use std::io::{self, Write};
use std::process::ExitCode;

use poolscope::scenario::{self, BUILTIN, CLUSTER};
use poolscope::trace::wrap;

/// Lists the built-in lessons with their titles and summaries, then the lessons on a Dask
/// cluster.
pub fn main() -> ExitCode {
    let mut out = io::stdout().lock();
    let mut write = || -> io::Result<()> {
        let sections = [
            ("Built-in lessons (run one with `poolscope run NAME --headless`):", BUILTIN),
            (
                "\nPast one machine, on a Dask cluster (needs `python3 -m pip install distributed`; `poolscope run NAME`\nruns one on CPython's engine, the only one that reaches a cluster):",
                CLUSTER,
            ),
        ];
        for (heading, lessons) in sections {
            writeln!(out, "{heading}")?;
            for (name, _) in lessons {
                writeln!(out)?;
                match scenario::load(name) {
                    Ok(s) => {
                        writeln!(out, "  {name:<22} {}", s.title)?;
                        write!(out, "{}", wrap(&s.summary, 88, "      "))?;
                    }
                    Err(e) => writeln!(out, "  {name:<22} (broken: {e})")?,
                }
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
