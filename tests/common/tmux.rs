//! The real binary in a real terminal: a tmux server of the test's own, keys sent to it, and
//! its screen read back.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own (its own socket), killed on drop.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "ui"]).stdout).into_owned()
    }

    /// What the pane shows and what scrolled off above it (tmux keeps 2,000 lines).
    pub fn history(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-S", "-", "-t", "ui"]).stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{text:?} never appeared; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Tmux {
    /// Waits until `text` is off the screen; the screen then.
    pub fn wait_for_gone(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if !screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{text:?} stayed on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses `q`: the program exits 0 and the terminal is cooked again. The screen after.
    pub fn quit_cleanly(&self) -> String {
        self.keys(&["q"]);
        let after = self.wait_for("STTY-END");
        assert!(after.contains("EXITED 0"), "{after}");
        assert_cooked(&after);
        after
    }

    /// The program the pane's shell started.
    pub fn program_pid(&self) -> String {
        let shell_pid =
            String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "ui", "#{pane_pid}"]).stdout)
                .trim()
                .to_string();
        let children =
            std::fs::read_to_string(format!("/proc/{shell_pid}/task/{shell_pid}/children")).unwrap_or_default();
        children.split_whitespace().next().expect("the program runs under the shell").to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// True (with a notice) where tmux is not installed: the real-terminal tests then skip.
pub fn no_tmux() -> bool {
    let missing = Command::new("tmux").arg("-V").output().is_err();
    if missing {
        println!("SKIPPED: tmux is not installed; the real-terminal test did not run");
    }
    missing
}

/// Starts `command` (arguments to the binary) in a tmux of its own, then the shell reports
/// its exit code and the terminal's mode.
pub fn start(name: &str, args: &str, height: &str) -> Tmux {
    let tmux = Tmux { socket: format!("poolscope-{name}-{}", std::process::id()) };
    let binary = env!("CARGO_BIN_EXE_poolscope");
    let shell = format!("'{binary}' {args}; echo EXITED $?; stty -a; echo STTY-END; sleep 60");
    let started = tmux.cmd(&["new-session", "-d", "-s", "ui", "-x", "120", "-y", height, "sh", "-c", &shell]);
    assert!(started.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&started.stderr));
    tmux
}

/// The shell's `stty -a` after the program says the terminal is cooked (canonical, echoing).
pub fn assert_cooked(after: &str) {
    let words: Vec<&str> = after.split(|c: char| c.is_whitespace() || c == ';').collect();
    assert!(words.contains(&"icanon") && words.contains(&"echo"), "the terminal is still raw:\n{after}");
}
