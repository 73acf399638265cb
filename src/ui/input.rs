//! The keyboard reader: a thread that waits on the terminal and sends each key, mouse event
//! and resize to the app loop — and, when the terminal is gone (its pane closed, its
//! connection dropped), says so once and stops.
//!
//! crossterm's own reader cannot be trusted with a hung-up terminal: a read there returns
//! end-of-file at once, for ever, and crossterm reads again (its default source spins inside
//! one call; the `/dev/tty` source spins until the call's timeout). So the reader waits on
//! the terminal itself with `poll(2)` and hands over to crossterm only when there are bytes
//! to read and no hang-up; crossterm is asked with a timeout, so even a hang-up that lands
//! between the two checks costs at most that long.
//!
//! Nothing here asks the terminal a question (such as the cursor position): the answer would
//! arrive in the reader's input and be lost, and the asker would wait for it in vain.

use std::io::{IsTerminal, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crossterm::event::Event;
use rustix::event::{PollFd, PollFlags, Timespec};

/// How long one wait on the terminal lasts before the reader looks again (a hang-up or a
/// resize wakes it sooner).
const WAIT: Timespec = Timespec { tv_sec: 1, tv_nsec: 0 };
/// How long crossterm may take to read bytes already waiting (bounded: see the module doc).
const READ_WAIT: Duration = Duration::from_millis(1);

/// What the reader sends.
#[derive(Debug)]
pub enum Input {
    /// A key, a mouse event or a resize.
    Event(Event),
    /// The terminal hung up (end of file, an I/O error, or `POLLHUP`): nobody is watching.
    HungUp,
}

/// The terminal the reader waits on: standard input when it is one, else `/dev/tty` (as
/// crossterm reads it).
struct Tty(OwnedFd);

impl Tty {
    fn open() -> std::io::Result<Tty> {
        if std::io::stdin().is_terminal() {
            return Ok(Tty(std::io::stdin().as_fd().try_clone_to_owned()?));
        }
        let file = std::fs::OpenOptions::new().read(true).open("/dev/tty")?;
        Ok(Tty(file.into()))
    }

    /// Waits up to [`WAIT`] for bytes on the terminal or a resize (`winch`): `Some(true)`
    /// something happened, `Some(false)` nothing yet, `None` the terminal is gone.
    fn wait(&self, winch: &UnixStream) -> Option<bool> {
        let mut fds = [PollFd::new(&self.0, PollFlags::IN), PollFd::new(winch, PollFlags::IN)];
        loop {
            let n = match rustix::event::poll(&mut fds, Some(&WAIT)) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return None,
            };
            if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                return None;
            }
            if fds[1].revents().contains(PollFlags::IN) {
                // Drained: crossterm has its own signal pipe and reports the resize.
                let mut sink = [0u8; 64];
                while (&*winch).read(&mut sink).is_ok_and(|n| n > 0) {}
            }
            return Some(n > 0);
        }
    }
}

/// Starts the reader; `send` returns false when nobody listens any more, and the reader stops.
///
/// # Errors
/// No terminal to read from, or the thread could not be spawned.
pub fn spawn_reader(send: impl Fn(Input) -> bool + Send + 'static) -> std::io::Result<()> {
    let tty = Tty::open()?;
    let (winch, winch_tx) = UnixStream::pair()?;
    winch.set_nonblocking(true)?;
    winch_tx.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, winch_tx)?;
    std::thread::Builder::new().name("ui-input".into()).spawn(move || {
        loop {
            // Hand what is there to crossterm (its parser may also hold events from an
            // earlier read), then wait on the terminal.
            loop {
                match crossterm::event::poll(READ_WAIT) {
                    Ok(true) => match crossterm::event::read() {
                        Ok(event) => {
                            if !send(Input::Event(event)) {
                                return;
                            }
                        }
                        Err(_) => {
                            send(Input::HungUp);
                            return;
                        }
                    },
                    Ok(false) => break,
                    Err(_) => {
                        send(Input::HungUp);
                        return;
                    }
                }
            }
            if tty.wait(&winch).is_none() {
                send(Input::HungUp);
                return;
            }
        }
    })?;
    Ok(())
}
