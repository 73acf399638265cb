//! `--record FILE.cast`: the lesson screen rendered without a terminal into an asciicast v2
//! file — the exact bytes the live UI would write, so the cast shows what the UI draws, with
//! the caption inside the frame (it survives conversion to GIF) and a marker at each step.
//!
//! Frames are taken on the run's clock in lesson time (real time × speed), every
//! [`FRAME_US`] and at every step, so a cast plays back at the lesson's own pace.
//!
//! Two runs compared (`poolscope compare --record`) are drawn as the live comparison draws
//! them, A above B, from their events merged on one clock.

use std::io::{self, Write};

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::json;

use super::compare::Pair;
use super::{Lesson, UiState, View, render};
use crate::trace::{TraceEvent, TraceKind};

/// Lesson time between two frames when nothing else asks for one (10 frames a second).
pub const FRAME_US: u64 = 100_000;

/// What a recording draws: one lesson screen, or two runs compared (A above B).
enum Picture {
    One(Box<View>),
    Two(Box<[(String, View); 2]>),
}

/// Writes an asciicast v2 recording of a run (or of two runs compared), fed its events in
/// time order.
pub struct CastRecorder<W: Write> {
    out: W,
    terminal: Terminal<CrosstermBackend<Captured>>,
    /// What the terminal wrote since the last frame.
    captured: Captured,
    picture: Picture,
    ui: UiState,
    /// Lesson time per µs of the run's clock.
    speed: f64,
    /// The run time (µs) of the last frame.
    last_frame: Option<u64>,
}

impl<W: Write> std::fmt::Debug for CastRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CastRecorder").field("last_frame", &self.last_frame).finish()
    }
}

impl<W: Write> CastRecorder<W> {
    /// Starts a `width`×`height` recording of `lesson` into `out`: writes the header.
    /// `speed` is the run's duration divisor, so timestamps come out in lesson time.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn new(out: W, lesson: Lesson, width: u16, height: u16, speed: f64, color: bool) -> io::Result<Self> {
        let title = format!("poolscope: {}", lesson.title);
        Self::start(out, &title, Picture::One(Box::new(View::new(lesson))), (width, height), speed, color)
    }

    /// Starts a recording of two runs of `lesson` compared, A above B, each side labelled
    /// (`A · kind=thread`); feed it with [`CastRecorder::event_of`].
    ///
    /// # Errors
    /// When `out` fails.
    pub fn comparing(
        out: W,
        labels: [(String, Lesson); 2],
        size: (u16, u16),
        speed: f64,
        color: bool,
    ) -> io::Result<Self> {
        let [(a, lesson_a), (b, lesson_b)] = labels;
        let title = format!("poolscope: {} · {a} vs {b}", lesson_a.title);
        let picture = Picture::Two(Box::new([(a, View::new(lesson_a)), (b, View::new(lesson_b))]));
        let mut recorder = Self::start(out, &title, picture, size, speed, color)?;
        recorder.ui.comparing = true;
        Ok(recorder)
    }

    fn start(
        mut out: W,
        title: &str,
        picture: Picture,
        (width, height): (u16, u16),
        speed: f64,
        color: bool,
    ) -> io::Result<Self> {
        let header = json!({
            "version": 2,
            "width": width,
            "height": height,
            "title": title,
            "env": {"TERM": "xterm-256color", "SHELL": "poolscope"},
        });
        writeln!(out, "{header}")?;
        let viewport = Viewport::Fixed(Rect::new(0, 0, width, height));
        let captured = Captured::default();
        let terminal = Terminal::with_options(CrosstermBackend::new(captured.clone()), TerminalOptions { viewport })?;
        let ui = UiState { color, speed, ..UiState::default() };
        let mut recorder = CastRecorder {
            out,
            terminal,
            captured,
            picture,
            ui,
            speed: speed.max(f64::MIN_POSITIVE),
            last_frame: None,
        };
        // A player starts on an empty screen: clear it and hide the cursor, as the UI does.
        recorder.emit(0, "o", "\u{1b}[?25l\u{1b}[2J\u{1b}[H")?;
        Ok(recorder)
    }

    /// Folds one event in, taking the frames due before it, and a frame and a marker at
    /// each step.
    ///
    /// # Errors
    /// When the output fails.
    pub fn event(&mut self, event: &TraceEvent) -> io::Result<()> {
        self.event_of(0, event)
    }

    /// Folds in one event of side `side` (0 for A, 1 for B) of a comparison; the two runs'
    /// events come merged in time order. A marker at each step says whose it is.
    ///
    /// # Errors
    /// When the output fails.
    pub fn event_of(&mut self, side: usize, event: &TraceEvent) -> io::Result<()> {
        let mut due = self.last_frame.map_or(0, |t| t + self.frame_every());
        while due < event.t {
            match &mut self.picture {
                Picture::One(view) => {
                    view.tick(due);
                }
                Picture::Two(sides) => sides.iter_mut().for_each(|(_, view)| {
                    view.tick(due);
                }),
            }
            self.frame(due)?;
            due += self.frame_every();
        }
        let whose = match &mut self.picture {
            Picture::One(view) => {
                view.apply(event);
                String::new()
            }
            Picture::Two(sides) => {
                let (label, view) = &mut sides[side.min(1)];
                view.apply(event);
                format!("{} ", label.split(' ').next().unwrap_or_default())
            }
        };
        if let TraceKind::Step { index, op, .. } = &event.kind {
            self.frame(event.t)?;
            let label = format!("{whose}step {}: {op}", index + 1);
            self.emit(event.t, "m", &label)?;
        }
        if matches!(event.kind, TraceKind::End { .. }) {
            self.frame(event.t)?;
        }
        Ok(())
    }

    /// Flushes the recording and hands the output back.
    ///
    /// # Errors
    /// When the output fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Run time between frames: [`FRAME_US`] of lesson time.
    fn frame_every(&self) -> u64 {
        ((FRAME_US as f64 / self.speed) as u64).max(1)
    }

    fn frame(&mut self, t: u64) -> io::Result<()> {
        let (picture, ui) = (&self.picture, &self.ui);
        self.terminal.draw(|frame| match picture {
            Picture::One(view) => render(view, ui, frame),
            Picture::Two(sides) => {
                let [(a, view_a), (b, view_b)] = &**sides;
                let pair = Pair { sides: [(a, view_a), (b, view_b)], together: false };
                super::compare::render(pair, ui, frame);
            }
        })?;
        let bytes = std::mem::take(&mut *self.captured.0.borrow_mut());
        self.last_frame = Some(t);
        if !bytes.is_empty() {
            self.emit(t, "o", &String::from_utf8_lossy(&bytes))?;
        }
        Ok(())
    }

    fn emit(&mut self, t: u64, code: &str, data: &str) -> io::Result<()> {
        let seconds = t as f64 * self.speed / 1e6;
        writeln!(self.out, "{}", json!([(seconds * 1e6).round() / 1e6, code, data]))
    }
}

/// The in-memory "terminal" the backend writes to; the recorder takes what it wrote after
/// each frame.
#[derive(Clone, Debug, Default)]
struct Captured(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
