//! `--record FILE.cast`: the lesson screen rendered without a terminal into an asciicast v2
//! file — the exact bytes the live UI would write, so the cast shows what the UI draws, with
//! the caption inside the frame (it survives conversion to GIF) and a marker at each step.
//!
//! Frames are taken on the run's clock in lesson time (real time × speed), every
//! [`FRAME_US`] and at every step, so a cast plays back at the lesson's own pace — except
//! that, as in the live view, a step's caption stays on screen for its reading time
//! ([`reading_time`]): when the next step comes sooner, the cast holds the picture until it
//! has been read, and every later moment comes that much later. The last frame is held
//! for [`LAST_FRAME_HOLD`] at least.
//!
//! Two runs compared (`poolscope compare --record`) are drawn as the live comparison draws
//! them, A above B, from their events merged on one clock.

use std::io::{self, Write};

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::json;

use super::compare::Pair;
use super::gif::GifFilm;
use super::session::{caption_of, reading_time};
use super::svg::{Film, Page};
use super::{Lesson, Theme, UiState, View, render};
use crate::trace::{TraceEvent, TraceKind};

/// Lesson time between two frames when nothing else asks for one (10 frames a second).
pub const FRAME_US: u64 = 100_000;
/// How long the last frame stays, at least (seconds).
pub const LAST_FRAME_HOLD: f64 = 3.0;

/// The file a recording writes, chosen by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// `.cast`: asciicast v2.
    Cast,
    /// `.svg`: one animated SVG ([`super::svg`]).
    Svg,
    /// `.gif`: an animated GIF ([`super::gif`]).
    Gif,
}

impl RecordFormat {
    /// The format of `path`, by its extension.
    ///
    /// # Errors
    /// Another extension: the message says which ones there are.
    pub fn of(path: &std::path::Path) -> Result<RecordFormat, String> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("cast") => Ok(RecordFormat::Cast),
            Some("svg") => Ok(RecordFormat::Svg),
            Some("gif") => Ok(RecordFormat::Gif),
            _ => Err(format!(
                "--record {}: the file's extension chooses the format: .cast (asciicast v2), .svg (animated \
                 SVG) or .gif (animated GIF)",
                path.display()
            )),
        }
    }
}

/// A picture's frames, kept until the end (a cast is written as it goes).
enum Frames {
    Svg(Film),
    Gif(Box<GifFilm>),
}

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
    /// Seconds added to the cast's clock by the captions held so far.
    held_s: f64,
    /// When the caption on screen appeared (cast seconds) and how long it takes to read.
    caption: Option<(f64, f64)>,
    /// An SVG's or a GIF's frames, kept until the end; `None` for a cast, written as it goes.
    film: Option<Frames>,
    /// The cast's header, written with the first line (an SVG has none).
    header: Option<String>,
    /// Until when the last frame stays (seconds).
    end_s: f64,
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
    pub fn new(out: W, lesson: Lesson, width: u16, height: u16, speed: f64, theme: Theme) -> io::Result<Self> {
        let title = format!("poolscope: {}", lesson.title);
        Self::start(out, &title, Picture::One(Box::new(View::new(lesson))), (width, height), speed, theme)
    }

    /// The same recording written as `format` instead of a cast.
    ///
    /// # Errors
    /// When `out` fails.
    pub fn new_as(
        format: RecordFormat,
        out: W,
        lesson: Lesson,
        (width, height): (u16, u16),
        speed: f64,
        theme: Theme,
    ) -> io::Result<Self> {
        let mut recorder = Self::new(out, lesson, width, height, speed, theme)?;
        recorder.set_format(format, (width, height))?;
        Ok(recorder)
    }

    /// Writes an SVG or a GIF instead of a cast, from here on (before any event).
    ///
    /// # Errors
    /// A GIF that size cannot be made.
    pub fn set_format(&mut self, format: RecordFormat, (width, height): (u16, u16)) -> io::Result<()> {
        self.film = match format {
            RecordFormat::Cast => None,
            RecordFormat::Svg => Some(Frames::Svg(Film::new(width, height, Page::of(self.ui.theme)))),
            RecordFormat::Gif => {
                let film = GifFilm::new(width, height, Page::of(self.ui.theme)).map_err(io::Error::other)?;
                Some(Frames::Gif(Box::new(film)))
            }
        };
        Ok(())
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
        theme: Theme,
    ) -> io::Result<Self> {
        let [(a, lesson_a), (b, lesson_b)] = labels;
        let title = format!("poolscope: {} · {a} vs {b}", lesson_a.title);
        let picture = Picture::Two(Box::new([(a, View::new(lesson_a)), (b, View::new(lesson_b))]));
        let mut recorder = Self::start(out, &title, picture, size, speed, theme)?;
        recorder.ui.comparing = true;
        Ok(recorder)
    }

    fn start(
        out: W,
        title: &str,
        picture: Picture,
        (width, height): (u16, u16),
        speed: f64,
        theme: Theme,
    ) -> io::Result<Self> {
        let header = json!({
            "version": 2,
            "width": width,
            "height": height,
            "title": title,
            "env": {"TERM": "xterm-256color", "SHELL": "poolscope"},
        });
        let mut header_line = header.to_string();
        header_line.push('\n');
        let viewport = Viewport::Fixed(Rect::new(0, 0, width, height));
        let captured = Captured::default();
        let terminal = Terminal::with_options(CrosstermBackend::new(captured.clone()), TerminalOptions { viewport })?;
        let ui = UiState { theme, speed, recording: true, ..UiState::default() };
        let recorder = CastRecorder {
            out,
            terminal,
            captured,
            picture,
            ui,
            speed: speed.max(f64::MIN_POSITIVE),
            last_frame: None,
            held_s: 0.0,
            caption: None,
            film: None,
            header: Some(header_line),
            end_s: 0.0,
        };
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
        if let (TraceKind::Step { .. }, Picture::One(_), Some((since, read))) =
            (&event.kind, &self.picture, self.caption)
        {
            // The caption on screen has not been read yet: hold the picture as it is.
            let at = self.cast_s(event.t);
            if at < since + read {
                self.frame(event.t)?;
                self.held_s += since + read - at;
            }
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
        if let TraceKind::Step { index, op, note, .. } = &event.kind {
            self.frame(event.t)?;
            let label = format!("{whose}step {}: {op}", index + 1);
            self.emit(event.t, "m", &label)?;
            let read = reading_time(&caption_of(note.as_deref(), op)).as_secs_f64();
            self.caption = Some((self.cast_s(event.t), read));
        }
        if matches!(event.kind, TraceKind::End { .. }) {
            self.frame(event.t)?;
            // The last frame stays: for the last caption's reading time, and a few seconds.
            let at = self.cast_s(event.t);
            let read_until = self.caption.map_or(at, |(since, read)| since + read);
            let until = read_until.max(at + LAST_FRAME_HOLD);
            self.end_s = until;
            if self.film.is_none() {
                self.write_line(&json!([(until * 1e6).round() / 1e6, "o", "\u{1b}[?25l"]).to_string())?;
            }
        }
        Ok(())
    }

    /// Flushes the recording and hands the output back.
    ///
    /// # Errors
    /// When the output fails.
    pub fn finish(mut self) -> io::Result<W> {
        match self.film.take() {
            Some(Frames::Svg(film)) => self.out.write_all(film.svg(self.end_s).as_bytes())?,
            Some(Frames::Gif(film)) => self.out.write_all(&film.finish(self.end_s).map_err(io::Error::other)?)?,
            // Nothing was recorded: still a valid cast.
            None if self.header.is_some() => self.write_line("")?,
            None => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Run time between frames: [`FRAME_US`] of lesson time.
    fn frame_every(&self) -> u64 {
        ((FRAME_US as f64 / self.speed) as u64).max(1)
    }

    fn frame(&mut self, t: u64) -> io::Result<()> {
        let (picture, ui) = (&self.picture, &self.ui);
        let at = self.cast_s(t);
        let completed = self.terminal.draw(|frame| match picture {
            Picture::One(view) => render(view, ui, frame),
            Picture::Two(sides) => {
                let [(a, view_a), (b, view_b)] = &**sides;
                let pair = Pair { sides: [(a, view_a), (b, view_b)], flashes: [None, None], together: false };
                super::compare::render(pair, ui, frame);
            }
        })?;
        match &mut self.film {
            Some(Frames::Svg(film)) => film.frame(at, completed.buffer),
            Some(Frames::Gif(film)) => film.frame(at, completed.buffer),
            None => {}
        }
        let bytes = std::mem::take(&mut *self.captured.0.borrow_mut());
        self.last_frame = Some(t);
        if !bytes.is_empty() {
            self.emit(t, "o", &String::from_utf8_lossy(&bytes))?;
        }
        Ok(())
    }

    /// The cast's clock (seconds) at run time `t` (µs): lesson time, plus the holds so far.
    fn cast_s(&self, t: u64) -> f64 {
        t as f64 * self.speed / 1e6 + self.held_s
    }

    fn emit(&mut self, t: u64, code: &str, data: &str) -> io::Result<()> {
        let seconds = self.cast_s(t);
        match &mut self.film {
            Some(Frames::Svg(film)) if code == "m" => film.chapter(seconds, data),
            Some(_) => {}
            None => return self.write_line(&json!([(seconds * 1e6).round() / 1e6, code, data]).to_string()),
        }
        Ok(())
    }

    /// Writes one line of the cast, after its header.
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        if let Some(header) = self.header.take() {
            self.out.write_all(header.as_bytes())?;
            // A player starts on an empty screen: clear it and hide the cursor, as the UI does.
            writeln!(self.out, "{}", json!([0.0, "o", "\u{1b}[?25l\u{1b}[2J\u{1b}[H"]))?;
        }
        if line.is_empty() { Ok(()) } else { writeln!(self.out, "{line}") }
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
