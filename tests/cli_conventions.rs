//! The conventions a Rust CLI's users expect: shell completions, a manual page, `doctor`.

use std::process::{Command, Output};

fn poolscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).output().expect("poolscope runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

const SUBCOMMANDS: [&str; 10] =
    ["bench", "run", "check", "compare", "export", "list", "sweep", "completions", "man", "doctor"];

#[test]
fn bash_completions_name_the_program_and_every_subcommand() {
    let script = stdout(&poolscope(&["completions", "bash"]));
    assert!(script.contains("_poolscope()") && script.contains("complete -F _poolscope"), "{script}");
    for name in SUBCOMMANDS {
        assert!(script.contains(&format!("poolscope,{name})")), "no {name}: {script}");
    }
    // The theme's values complete too.
    assert!(script.contains("dark light mono"), "{script}");
    for shell in ["zsh", "fish", "powershell"] {
        assert!(stdout(&poolscope(&["completions", shell])).contains("poolscope"), "{shell}");
    }
    assert_eq!(poolscope(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_writes_roff_that_names_the_subcommands() {
    let page = stdout(&poolscope(&["man"]));
    assert!(page.starts_with(".ie") || page.starts_with(".TH") || page.starts_with(".\\\""), "{page}");
    assert!(page.contains(".TH poolscope 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for name in SUBCOMMANDS {
        assert!(page.contains(&format!("poolscope\\-{name}")), "no {name}: {page}");
    }
}

#[test]
fn doctor_prints_one_line_per_check_and_a_verdict() {
    let report = stdout(&poolscope(&["doctor"]));
    let names: Vec<&str> = report.lines().map(|l| l.split_once(": ").map_or(l, |(name, _)| name)).collect();
    assert_eq!(
        names,
        [
            "poolscope",
            "cores",
            "terminal",
            "colours",
            "python3",
            "python3 start method",
            "distributed (Dask)",
            "tmux",
            "chromium",
            "outputs",
            "temporary files",
            "verdict"
        ],
        "{report}"
    );
    assert!(report.starts_with(&format!("poolscope: {}\n", env!("CARGO_PKG_VERSION"))), "{report}");
    assert!(report.contains("terminal: stdout is not a terminal"), "{report}");
    let cores: usize = report.lines().nth(1).and_then(|l| l.strip_prefix("cores: ")).unwrap().parse().unwrap();
    assert!(cores >= 1);
    let no_color = Command::new(env!("CARGO_BIN_EXE_poolscope")).arg("doctor").env("NO_COLOR", "1").output().unwrap();
    assert!(stdout(&no_color).contains("colours: off"), "NO_COLOR turns colours off");
    let tmp = Command::new(env!("CARGO_BIN_EXE_poolscope")).arg("doctor").env("TMPDIR", "/var/tmp/x").output().unwrap();
    assert!(stdout(&tmp).contains("temporary files: /var/tmp/x"));
}

#[test]
fn theme_and_ascii_are_options_of_the_commands_that_draw() {
    for command in ["run", "compare", "sweep"] {
        let help = stdout(&poolscope(&[command, "--help"]));
        assert!(help.contains("--theme <THEME>") && help.contains("--ascii"), "{command}: {help}");
    }
    let help = stdout(&poolscope(&["list", "--help"]));
    assert!(!help.contains("--theme"), "list draws nothing: {help}");
    let bad = poolscope(&["run", "pool-basics", "--theme", "sepia"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dark"));
}

#[test]
fn a_speed_out_of_range_is_refused_with_exit_2_by_every_command() {
    for args in [
        &["run", "map-ordering", "--headless", "--speed", "1e-300"][..],
        &["run", "map-ordering", "--headless", "--speed", "1e300"],
        &["sweep", "map-ordering", "--headless", "--speed", "0"],
        &["compare", "map-ordering", "--headless", "--speed=-2"],
        &["export", "map-ordering", "--python", "--speed", "NaN"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--speed") && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
