//! `poolscope sweep` on a terminal: the sweep runs on its own thread while the screen charts
//! each size as it ends. `q` (or Ctrl-C, SIGTERM, SIGHUP) stops it; the table measured so far
//! is printed after the terminal is restored, so it stays in the shell.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use poolscope::scenario::sweep::SweepError;
use poolscope::scenario::{Sweep, SweepPoint};
use poolscope::ui::Theme;
use poolscope::ui::app::{Msg, spawn_terminal_producers};
use poolscope::ui::sweep::{SweepScreen, render};
use poolscope::ui::terminal::TerminalGuard;

use super::fail;
use super::sweep::{HEAD, Head, failure_row, reading, row, write_tail};
use super::timing::Timing;

/// Runs the sweep with the chart on screen. Exit codes: 0 done or stopped with `q`, 128 + N
/// stopped by signal N (143 for SIGTERM), 1 a run or the terminal failed.
/// `measure` gives each size's point; `after` is printed last, after the table.
pub fn main(
    head: Head,
    sizes: &[usize],
    measure: impl FnMut(usize, &AtomicBool) -> Result<Option<SweepPoint>, SweepError> + Send + 'static,
    timing: &Timing,
    theme: Theme,
    after: &[String],
) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, outcomes) = crossbeam_channel::unbounded::<Result<Sweep, SweepError>>();
    let worker = {
        let (sizes, stop) = (sizes.to_vec(), Arc::clone(&stop));
        std::thread::Builder::new().name("sweep".into()).spawn(move || {
            let each = |sweep: &Sweep| tx.send(Ok(sweep.clone())).is_ok();
            let outcome = Sweep::run_with(&sizes, &stop, each, measure);
            let _ = tx.send(outcome);
        })
    };
    if let Err(e) = worker {
        return fail(1, &format!("cannot start the sweep: {e}"));
    }
    let mut screen = SweepScreen {
        title: head.title.clone(),
        setting: head.setting.clone(),
        note: head.note.clone(),
        sizes: sizes.to_vec(),
        table: vec![HEAD.to_string()],
        theme,
        ..SweepScreen::default()
    };
    let shown = (|| -> io::Result<Option<SweepError>> {
        let mut guard = TerminalGuard::enter()?;
        // Input and signals come from threads: a blocking read on the terminal, not a poll
        // that may spin once the terminal is gone.
        let (input_tx, input) = crossbeam_channel::unbounded::<Msg>();
        spawn_terminal_producers(&input_tx)?;
        let mut outcomes = outcomes;
        loop {
            guard.terminal.draw(|f| render(&screen, f))?;
            crossbeam_channel::select! {
                recv(input) -> msg => match msg {
                    Ok(Msg::Input(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                        if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                            return Ok(None);
                        }
                    }
                    Ok(Msg::Input(Event::Resize(..))) => poolscope::ui::terminal::redraw_all(&mut guard.terminal)?,
                    Ok(Msg::Signal(_)) | Err(_) => return Ok(None),
                    Ok(_) => {}
                },
                recv(outcomes) -> outcome => match outcome {
                    Ok(Ok(sweep)) => {
                        screen.table = std::iter::once(HEAD.to_string())
                            .chain(sweep.points.iter().flat_map(|p| std::iter::once(row(p)).chain(failure_row(p))))
                            .collect();
                        screen.done = sweep.points.len() == sizes.len();
                        if screen.done {
                            screen.reading = reading(&sweep, timing);
                        }
                        screen.sweep = sweep;
                    }
                    Ok(Err(e)) => return Ok(Some(e)),
                    // The sweep is over and said so: wait for keys alone.
                    Err(_) => outcomes = crossbeam_channel::never(),
                },
            }
        }
    })();
    stop.store(true, Ordering::Relaxed);
    match shown {
        Err(e) => return fail(1, &format!("the terminal failed: {e}")),
        Ok(Some(e @ (SweepError::Override(_) | SweepError::Script(_)))) => return fail(2, &e.to_string()),
        Ok(Some(e)) => return fail(1, &e.to_string()),
        Ok(None) => {}
    }
    // What was measured stays in the shell, as the headless sweep prints it.
    let mut out = io::stdout().lock();
    let _ = head.write(&mut out);
    for point in &screen.sweep.points {
        let _ = writeln!(out, "{}", row(point));
        if let Some(failure) = failure_row(point) {
            let _ = writeln!(out, "{failure}");
        }
    }
    let _ = write_tail(&screen.sweep, timing, &mut out);
    if !screen.done {
        let _ = writeln!(out, "(stopped after {} of {} sizes)", screen.sweep.points.len(), sizes.len());
    }
    for line in after {
        let _ = writeln!(out, "{line}");
    }
    match super::quit_code() {
        code if code != ExitCode::SUCCESS => code,
        _ => super::sweep::failed_code(&screen.sweep),
    }
}
