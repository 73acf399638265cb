//! `poolscope doctor`: what this machine gives poolscope — its version, the cores, the
//! terminal and its colours, python3 and the start method it would use, the tools the tests
//! drive, and where outputs go — one `name: value` a line, then a short verdict.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// One line of the report, and what is missing when the value says something is.
struct Check {
    name: &'static str,
    value: String,
    /// What goes without it, when it is missing.
    missing: Option<&'static str>,
}

/// Prints the report; always exits 0 (a missing tool is reported, not an error).
pub fn main() -> ExitCode {
    let checks = checks();
    let mut out = io::stdout().lock();
    let _ = write_report(&checks, &mut out);
    ExitCode::SUCCESS
}

fn write_report(checks: &[Check], out: &mut dyn Write) -> io::Result<()> {
    for check in checks {
        writeln!(out, "{}: {}", check.name, check.value)?;
    }
    let missing: Vec<&str> = checks.iter().filter_map(|c| c.missing).collect();
    if missing.is_empty() {
        writeln!(out, "verdict: ok, everything poolscope uses is here")
    } else {
        writeln!(out, "verdict: poolscope runs; without what is missing, {}", missing.join("; "))
    }
}

fn checks() -> Vec<Check> {
    let mut checks = vec![
        Check { name: "poolscope", value: env!("CARGO_PKG_VERSION").to_string(), missing: None },
        Check {
            name: "cores",
            value: std::thread::available_parallelism().map_or_else(|e| format!("unknown ({e})"), |n| n.to_string()),
            missing: None,
        },
        Check { name: "terminal", value: terminal(), missing: None },
        Check { name: "colours", value: colours(), missing: None },
    ];
    let python = on_path("python3");
    let version = python.as_ref().and_then(|p| output(p, &["--version"]));
    checks.push(match (&python, version) {
        (Some(path), Some(version)) => {
            Check { name: "python3", value: format!("{version} ({})", path.display()), missing: None }
        }
        (Some(path), None) => Check {
            name: "python3",
            value: format!("{} does not run", path.display()),
            missing: Some("the CPython engine and checking exported programs need a python3 that runs"),
        },
        (None, _) => Check {
            name: "python3",
            value: "not found on PATH".into(),
            missing: Some("the CPython engine and checking exported programs need python3"),
        },
    });
    let method =
        python.as_ref().and_then(|p| output(p, &["-c", "import multiprocessing as m; print(m.get_start_method())"]));
    checks.push(Check {
        name: "python3 start method",
        value: method.unwrap_or_else(|| "unknown (no python3)".into()),
        missing: None,
    });
    let distributed =
        python.as_ref().and_then(|p| output(p, &["-c", "import distributed; print(distributed.__version__)"]));
    checks.push(Check {
        name: "distributed (Dask)",
        // Optional: only the lessons past one machine use it.
        value: distributed.map_or_else(
            || "not installed; only kind = \"dask\" needs it: python3 -m pip install distributed".into(),
            |version| format!("{version}, for kind = \"dask\""),
        ),
        missing: None,
    });
    checks.push(tool("tmux", &["tmux"], "the tmux test of the live UI is skipped"));
    checks.push(tool(
        "chromium",
        &["chromium", "chromium-browser", "google-chrome"],
        "the SVG screenshot test is skipped",
    ));
    checks.push(Check {
        name: "outputs",
        value: "recordings, event logs and traces are written where --record, --events and --trace say".into(),
        missing: None,
    });
    checks.push(Check { name: "temporary files", value: std::env::temp_dir().display().to_string(), missing: None });
    checks
}

/// `120x40`, or why there is no size.
fn terminal() -> String {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return "stdout is not a terminal (the live view needs one)".into();
    }
    match crossterm::terminal::size() {
        Ok((w, h)) if w < 80 || h < 24 => format!("{w}x{h} (smaller than 80x24: panels are dropped)"),
        Ok((w, h)) => format!("{w}x{h}"),
        Err(e) => format!("size unknown ({e})"),
    }
}

/// Whether colours are drawn by default, and the variables that say so.
fn colours() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let on = if poolscope::ui::color_allowed() { "on" } else { "off (NO_COLOR is set; --theme overrides)" };
    let show = |v: Option<String>| v.unwrap_or_else(|| "unset".into());
    format!(
        "{on}; NO_COLOR={}, TERM={}, COLORTERM={}",
        show(var("NO_COLOR")),
        show(var("TERM")),
        show(var("COLORTERM"))
    )
}

/// A tool the tests drive: where it is, or what is skipped without it.
fn tool(name: &'static str, names: &[&str], missing: &'static str) -> Check {
    match names.iter().find_map(|n| on_path(n)) {
        Some(path) => Check { name, value: path.display().to_string(), missing: None },
        None => Check { name, value: "not found on PATH".into(), missing: Some(missing) },
    }
}

/// `program` found in a directory of `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line `program args` prints (stdout, or stderr as old Pythons print their
/// version), when it runs and succeeds.
fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_names_what_is_missing() {
        let checks = [
            Check { name: "poolscope", value: "0.1.0".into(), missing: None },
            Check { name: "tmux", value: "not found on PATH".into(), missing: Some("the tmux test is skipped") },
        ];
        let mut out = Vec::new();
        write_report(&checks, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "poolscope: 0.1.0\ntmux: not found on PATH\nverdict: poolscope runs; without what is missing, the tmux test \
             is skipped\n"
        );
        let mut out = Vec::new();
        write_report(&checks[..1], &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("verdict: ok, everything poolscope uses is here\n"));
    }
}
