//! The terminal guard: raw mode, the alternate screen and mouse capture on the way in, and
//! all of it undone on the way out — on a normal exit, an error (the guard's `Drop`), a panic
//! (a panic hook that restores before the message is printed) and the signals the app loop
//! turns into a quit (SIGINT, SIGTERM, SIGHUP).

use std::io::{self, Stdout, Write};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::Rect;

/// The terminal, set up for drawing; dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

static HOOK: Once = Once::new();

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, captures the mouse, and makes a panic restore
    /// the terminal before its message is printed (not a task's, which the pool catches).
    ///
    /// # Errors
    /// The terminal could not be set up (it is restored before returning).
    pub fn enter() -> io::Result<TerminalGuard> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // A task's panic is caught and shown as its error: the screen stays.
                if !crate::pool::panic_is_caught() {
                    restore();
                }
                previous(info);
            }));
        });
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            let mut stdout = io::stdout();
            execute!(stdout, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
            redraw_all(&mut terminal)?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Clears the screen and makes the next frame redraw every cell, at the terminal's size now.
///
/// Unlike ratatui's `Terminal::clear`, this never asks the terminal for the cursor position:
/// the answer would come back through the input, where the keyboard reader would take it, and
/// the question would time out (a resize used to end the program that way).
///
/// # Errors
/// The terminal could not be measured or written to.
pub fn redraw_all<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    terminal.resize(Rect::new(0, 0, size.width, size.height))
}

/// Leaves raw mode, the alternate screen and mouse capture, and shows the cursor. Safe to call
/// more than once, and when the terminal is gone (errors are ignored).
pub fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(stdout, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = stdout.flush();
}
