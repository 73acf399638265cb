//! `poolscope sweep` on a terminal: the sweep runs on its own thread while the screen charts
//! each size as it ends. `q` (or Ctrl-C, SIGTERM, SIGHUP) stops it; the table measured so far
//! is printed after the terminal is restored, so it stays in the shell.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use poolscope::scenario::sweep::SweepError;
use poolscope::scenario::{RunOptions, Scenario, Sweep};
use poolscope::ui::app::{Msg, spawn_terminal_producers};
use poolscope::ui::sweep::{SweepScreen, render};
use poolscope::ui::terminal::TerminalGuard;

use super::sweep::{HEAD, reading, resize_note, row, size_list};
use super::timing::Timing;

/// Runs the sweep with the chart on screen. Exit codes: 0 done or stopped, 1 a run or the
/// terminal failed.
pub fn main(scenario: &Scenario, sizes: &[usize], options: &RunOptions, timing: &Timing) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::unbounded::<Result<Sweep, SweepError>>();
    let worker = {
        let (scenario, sizes, options, stop) = (scenario.clone(), sizes.to_vec(), options.clone(), Arc::clone(&stop));
        std::thread::Builder::new().name("sweep".into()).spawn(move || {
            let each = |sweep: &Sweep| tx.send(Ok(sweep.clone())).is_ok();
            let outcome = Sweep::run(&scenario, &sizes, &options, &stop, each);
            let _ = tx.send(outcome);
        })
    };
    if let Err(e) = worker {
        return fail(&format!("cannot start the sweep: {e}"));
    }
    let mut screen = SweepScreen {
        title: scenario.title.clone(),
        setting: format!("{} pool · sizes {} · {} time", scenario.pool.kind, size_list(sizes), timing.clock_name()),
        sizes: sizes.to_vec(),
        table: vec![HEAD.to_string()],
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        ..SweepScreen::default()
    };
    if let Some(note) = resize_note(scenario) {
        screen.setting = format!("{} · {note}", screen.setting);
    }
    let mut failure = None;
    let mut pending = Vec::new();
    let mut outcomes = rx;
    let shown = (|| -> io::Result<()> {
        let mut guard = TerminalGuard::enter()?;
        // Input and signals come from threads: a blocking read on the terminal, not a poll
        // that may spin once the terminal is gone.
        let (input_tx, input) = crossbeam_channel::unbounded::<Msg>();
        spawn_terminal_producers(&input_tx)?;
        loop {
            guard.terminal.draw(|f| render(&screen, f))?;
            crossbeam_channel::select! {
                recv(input) -> msg => match msg {
                    Ok(Msg::Input(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                        if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                            return Ok(());
                        }
                    }
                    Ok(Msg::Input(Event::Resize(..))) => guard.terminal.clear()?,
                    Ok(Msg::Signal(_)) | Err(_) => return Ok(()),
                    Ok(_) => {}
                },
                recv(outcomes) -> outcome => match outcome {
                    Ok(outcome) => pending.push(outcome),
                    // The sweep is over and said so: wait for keys alone.
                    Err(_) => outcomes = crossbeam_channel::never(),
                },
            }
            for outcome in pending.drain(..).chain(outcomes.try_iter()) {
                match outcome {
                    Ok(sweep) if screen.done => screen.sweep = sweep,
                    Ok(sweep) => {
                        screen.table = std::iter::once(HEAD.to_string()).chain(sweep.points.iter().map(row)).collect();
                        screen.sweep = sweep;
                    }
                    Err(e) => {
                        failure = Some(e);
                        return Ok(());
                    }
                }
                if screen.sweep.points.len() == sizes.len() && !screen.done {
                    screen.done = true;
                    screen.reading = reading(&screen.sweep, timing);
                }
            }
        }
    })();
    stop.store(true, Ordering::Relaxed);
    if let Err(e) = shown {
        return fail(&format!("the terminal failed: {e}"));
    }
    if let Some(e) = failure {
        return fail(&e.to_string());
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "━━ Sweep: {} ━━\n{}", screen.title, screen.setting);
    for line in screen.table.iter().chain(&screen.reading) {
        let _ = writeln!(out, "{line}");
    }
    if !screen.done {
        let _ = writeln!(out, "(stopped after {} of {} sizes)", screen.sweep.points.len(), sizes.len());
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "poolscope: {message}");
    ExitCode::from(1)
}
