//! The app loop. Producer threads — the run's event forwarder, the CPU sampler, the input
//! reader, a ticker and the signal watcher — send [`Msg`]s into one channel; the loop drains
//! it in bounded batches, folds each message into the [`View`] or the [`UiState`], and draws
//! only when something changed, at most [`FPS`] times a second.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use ratatui::Terminal;
use ratatui::backend::Backend;

use super::picker;
use super::session::{Playing, Session, Shown};
use super::state::{Panel, UiState};
use super::terminal::TerminalGuard;
use super::view::{Lesson, View};
use crate::pool::PoolKind;
use crate::scenario::{self, Engine, MAX_WORKERS, ResizeRefused, Run, RunOptions, Scenario, TimeMode, cpython};
use crate::sys::{self, CpuSample, Watched};
use crate::trace::TraceEvent;

/// Frames per second at most.
pub const FPS: u64 = 30;
/// Messages handled per turn of the loop before it may draw.
pub const BATCH: usize = 10_000;
/// The ticker's period: how often the clock of a running lesson moves on screen.
pub const TICK: Duration = Duration::from_millis(100);
pub use super::session::HISTORY_MAX;
/// Events held at most while paused.
pub const HOLD_MAX: usize = 250_000;
/// How long a message about the last action stays.
pub(super) const FLASH: Duration = Duration::from_secs(3);

/// What the producers send to the loop.
#[derive(Debug)]
pub enum Msg {
    /// An event of run number `.0`.
    Trace(u64, TraceEvent),
    /// A CPU reading.
    Cpu(CpuSample),
    /// A key, a mouse event or a resize.
    Input(Event),
    /// Time passed.
    Tick,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
}

/// How to run lessons.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed override.
    pub seed: Option<u64>,
    /// Duration divisor at the start.
    pub speed: f64,
    /// Which clock lessons run on.
    pub time: TimeMode,
    /// Simulated time: the simulated machine's cores (default: this machine's).
    pub cores: Option<usize>,
    /// Captions hold the picture for their reading time at step boundaries.
    pub holds: bool,
    /// Step mode: a lesson starts paused, and `s` runs it to the next step boundary.
    pub step: bool,
    /// Which pool runs the lessons.
    pub engine: Engine,
    /// Colours and glyphs.
    pub theme: super::Theme,
    /// Predict mode: where questions are asked, and where answers are kept.
    pub quiz: super::quiz::QuizOptions,
}

impl Default for Options {
    /// Real time at speed 1 on poolscope's pools, captions held, the dark theme.
    fn default() -> Self {
        Options {
            seed: None,
            speed: 1.0,
            time: TimeMode::Real,
            cores: None,
            holds: true,
            step: false,
            engine: Engine::Poolscope,
            theme: super::Theme::DARK,
            quiz: super::quiz::QuizOptions::default(),
        }
    }
}

/// Now on a run's clock (µs), for the picture: the simulated clock's on virtual time, else
/// real time since `started`.
pub(super) fn shown_us(run: Option<&Run>, started: Instant) -> u64 {
    match run.and_then(Run::sim) {
        Some(sim) => sim.shown_elapsed().as_micros() as u64,
        None => started.elapsed().as_micros() as u64,
    }
}

/// Forwards a run's events into the loop's channel, tagged (a stale run's tag is ignored).
pub(super) fn forward_events(run: &Run, tx: &Sender<Msg>, tag: u64) -> std::io::Result<()> {
    let (events, tx) = (run.events().clone(), tx.clone());
    std::thread::Builder::new().name("ui-run-events".into()).spawn(move || {
        for event in events.iter() {
            if tx.send(Msg::Trace(tag, event)).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

struct App {
    lessons: Vec<(Scenario, Lesson)>,
    options: Options,
    ui: UiState,
    session: Option<Session>,
    generation: u64,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    watched: Watched,
    flash_until: Option<Instant>,
    /// The terminal was resized: redraw every cell, not only the changed ones (what was on
    /// screen may have been wiped).
    clear: bool,
    quit: bool,
    /// What the programs of Dask lessons opened here printed (each run's stdout and stderr,
    /// in its own folder): it would garble the view, so it is shown once the view closes.
    kept: Vec<cpython::PrivateDir>,
}

/// Runs the UI until the user quits: on `start` if given, else on the lesson picker.
///
/// # Errors
/// The terminal could not be set up or written to.
pub fn run(start: Option<Scenario>, options: Options) -> std::io::Result<()> {
    let mut app = App::new(options);
    if let Some(scenario) = start {
        let builtin = app.lessons.iter().position(|(s, _)| s.name == scenario.name && s.origin == scenario.origin);
        app.open(scenario, builtin);
    }
    let outcome = {
        let mut guard = TerminalGuard::enter()?;
        // After entering: setting up the terminal reads from it (the cursor position), and a
        // reader thread already waiting on input would take the answer.
        spawn_producers(&app.tx, &app.watched)?;
        spawn_terminal_producers(&app.tx)?;
        let rx = app.rx.clone();
        app.event_loop(&rx, &mut guard.terminal)
    };
    app.stop_all();
    // The terminal is itself again: what the Dask lessons' programs printed, run by run.
    for dir in &app.kept {
        cpython::Output::show_kept(dir);
    }
    outcome
}

/// CPU used by the UI process — the app loop, its ticker and sampler, and the paused lesson's
/// idle pool — as a percentage of one core, measured over `window` while drawing 200×60
/// frames into a sink.
///
/// # Errors
/// The lesson could not start, or a producer thread could not be spawned.
pub fn paused_cpu_pct(lesson: &str, window: Duration) -> std::io::Result<f64> {
    let scenario = scenario::load(lesson).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut app = App::new(Options::default());
    app.open(scenario, None);
    app.ui.paused = true;
    spawn_producers(&app.tx, &app.watched)?;
    let stop = app.tx.clone();
    std::thread::spawn(move || {
        std::thread::sleep(window);
        let _ = stop.send(Msg::Signal(0));
    });
    let backend = ratatui::backend::CrosstermBackend::new(std::io::sink());
    let viewport = ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 200, 60));
    let mut terminal = Terminal::with_options(backend, ratatui::TerminalOptions { viewport })?;
    let rx = app.rx.clone();
    let cpu0 = sys::process_cpu_time();
    let wall0 = Instant::now();
    app.event_loop(&rx, &mut terminal)?;
    let cpu = sys::process_cpu_time().saturating_sub(cpu0);
    let wall = wall0.elapsed();
    app.stop_all();
    Ok(100.0 * cpu.as_secs_f64() / wall.as_secs_f64())
}

/// The ticker and the CPU sampler.
pub(super) fn spawn_producers(tx: &Sender<Msg>, watched: &Watched) -> std::io::Result<()> {
    let ticker = tx.clone();
    std::thread::Builder::new().name("ui-ticker".into()).spawn(move || {
        loop {
            std::thread::sleep(TICK);
            if ticker.send(Msg::Tick).is_err() {
                return;
            }
        }
    })?;
    let cpu = tx.clone();
    sys::spawn_sampler(Arc::clone(watched), move |sample| cpu.send(Msg::Cpu(sample)).is_ok())?;
    Ok(())
}

/// The first SIGINT, SIGTERM or SIGHUP (or hang-up of the terminal, taken as SIGHUP) the
/// terminal producers saw; 0 before any.
static ENDED_BY: AtomicI32 = AtomicI32::new(0);

/// The signal that asked the UI to quit, if one did: the command then exits with 128 + its
/// number, as a shell reports a program that the signal ended.
pub fn ended_by_signal() -> Option<i32> {
    Some(ENDED_BY.load(Ordering::SeqCst)).filter(|signal| *signal != 0)
}

fn ended_by(signal: i32) {
    let _ = ENDED_BY.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The input reader and the signal watcher: only with a real terminal.
///
/// # Errors
/// A thread could not be spawned, or the signals could not be watched.
pub fn spawn_terminal_producers(tx: &Sender<Msg>) -> std::io::Result<()> {
    let input = tx.clone();
    super::input::spawn_reader(move |read| match read {
        super::input::Input::Event(event) => input.send(Msg::Input(event)).is_ok(),
        // Nobody is watching: quit as on SIGHUP, and stop the pool.
        super::input::Input::HungUp => {
            ended_by(signal_hook::consts::SIGHUP);
            input.send(Msg::Signal(signal_hook::consts::SIGHUP)).is_ok()
        }
    })?;
    let signals = tx.clone();
    let mut watcher = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])?;
    std::thread::Builder::new().name("ui-signals".into()).spawn(move || {
        for signal in watcher.forever() {
            ended_by(signal);
            if signals.send(Msg::Signal(signal)).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

impl App {
    fn new(options: Options) -> App {
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(65_536);
        // The built-in lessons, then those past one machine (on a Dask cluster, which need
        // Dask's distributed: opening one without it says how to install it).
        let lessons: Vec<(Scenario, Lesson)> = scenario::builtin_names()
            .chain(scenario::cluster_names())
            .filter_map(|name| scenario::load(name).ok())
            .map(|s| {
                let lesson = Lesson::of(&s);
                (s, lesson)
            })
            .collect();
        let ui = UiState { theme: options.theme, speed: options.speed, ..UiState::default() };
        App {
            lessons,
            options,
            ui,
            session: None,
            generation: 0,
            tx,
            rx,
            watched: Arc::new(Mutex::new(Vec::new())),
            flash_until: None,
            clear: false,
            quit: false,
            kept: Vec::new(),
        }
    }
}

impl App {
    fn event_loop<B: Backend<Error = std::io::Error>>(
        &mut self,
        rx: &Receiver<Msg>,
        terminal: &mut Terminal<B>,
    ) -> std::io::Result<()> {
        let frame = Duration::from_micros(1_000_000 / FPS);
        let mut dirty = true;
        let mut last_draw = Instant::now() - frame;
        while !self.quit {
            let wait = if dirty {
                (last_draw + frame).saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(1)
            };
            match rx.recv_timeout(wait) {
                Ok(msg) => dirty |= self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for msg in rx.try_iter().take(BATCH) {
                dirty |= self.handle(msg);
            }
            if dirty && !self.quit && last_draw.elapsed() >= frame {
                if std::mem::take(&mut self.clear) {
                    super::terminal::redraw_all(terminal)?;
                }
                let (ui, lessons) = (&self.ui, &self.lessons);
                let session = self.session.as_ref();
                terminal.draw(|f| match session {
                    Some(session) => {
                        let view = session.rewound.as_ref().map_or(&session.view, |(_, v)| v);
                        super::render(view, ui, f);
                        if let Some(quiz) = &session.quiz
                            && session.rewound.is_none()
                        {
                            super::quiz_view::render(quiz, view, ui, f, f.area());
                        }
                    }
                    None => {
                        let list: Vec<Lesson> = lessons.iter().map(|(_, l)| l.clone()).collect();
                        picker::render(&list, ui, f, f.area());
                        if ui.help {
                            super::footer::render_help(ui, false, f, f.area());
                        }
                    }
                })?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        Ok(())
    }

    /// Folds one message in; true if the screen changes.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Trace(generation, event) => {
                let Some(session) = self.session.as_mut().filter(|s| s.generation == generation) else { return false };
                session.held.push_back(event);
                if session.held.len() > HOLD_MAX {
                    // Memory stays bounded: a picture this far behind catches up.
                    if session.catch_up(Instant::now(), &self.watched) {
                        self.asked();
                    } else {
                        self.resume();
                    }
                    self.flash("caught up with the pool: too many events were waiting");
                    return true;
                }
                self.ui.held = session.held.len();
                self.show_due()
            }
            Msg::Cpu(sample) => match self.session.as_mut() {
                Some(session) => {
                    session.view.cpu(sample);
                    true
                }
                None => false,
            },
            Msg::Tick => {
                let mut changed = false;
                if self.flash_until.is_some_and(|t| Instant::now() >= t) {
                    self.flash_until = None;
                    self.ui.flash = None;
                    changed = true;
                }
                changed |= self.show_due();
                if let Some(session) = self.session.as_mut() {
                    changed |= session.tick(self.ui.paused, Instant::now());
                }
                changed
            }
            Msg::Signal(_) => {
                self.quit = true;
                false
            }
            Msg::Input(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                self.key(key);
                true
            }
            Msg::Input(Event::Mouse(mouse)) => match mouse.kind {
                MouseEventKind::Down(crossterm::event::MouseButton::Left) if self.session.is_some() => {
                    // A click on a task opens the inspector on it; elsewhere it closes.
                    self.ui.inspected = self.ui.task_at(mouse.column, mouse.row);
                    true
                }
                MouseEventKind::ScrollUp => self.scroll(-3),
                MouseEventKind::ScrollDown => self.scroll(3),
                _ => false,
            },
            Msg::Input(Event::Resize(..)) => {
                self.clear = true;
                true
            }
            Msg::Input(_) => false,
        }
    }

    fn key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) || key.code == KeyCode::Char('q') {
            self.quit = true;
            return;
        }
        if self.ui.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                self.ui.help = false;
            }
            return;
        }
        if self.quiz_key(key) {
            return;
        }
        if self.session.is_some() && self.inspector_key(key) {
            return;
        }
        if self.session.is_none() {
            let n = self.lessons.len();
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => self.ui.picked = self.ui.picked.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => self.ui.picked = (self.ui.picked + 1).min(n.saturating_sub(1)),
                KeyCode::Enter | KeyCode::Char(' ') => self.open_builtin(self.ui.picked),
                KeyCode::Esc => self.quit = true,
                KeyCode::Char('?') => self.ui.help = true,
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char(' ') => {
                if self.ui.paused {
                    self.resume();
                } else {
                    self.pause();
                }
            }
            KeyCode::Char('.') => self.step_one(),
            KeyCode::Char('s') => self.next_step(),
            KeyCode::Char('b') => self.previous_step(),
            KeyCode::Left => self.scrub(-1),
            KeyCode::Right => self.scrub(1),
            KeyCode::Home => {
                if !self.ui.paused {
                    self.pause();
                }
                self.rewind_to_position(0);
            }
            KeyCode::End => {
                // Back to live: the rewound picture goes, and the picture catches up.
                let asked = self.session.as_mut().is_some_and(|session| {
                    session.rewound = None;
                    session.catch_up(Instant::now(), &self.watched)
                });
                if asked {
                    self.asked();
                } else {
                    self.resume();
                    self.flash("caught up with the pool");
                }
            }
            KeyCode::Char('+') | KeyCode::Char('=') => self.resize(1),
            KeyCode::Char('-') | KeyCode::Char('_') => self.resize(-1),
            KeyCode::Char('[') => self.set_speed(0.5),
            KeyCode::Char(']') => self.set_speed(2.0),
            KeyCode::Char('r') => {
                self.restart();
                self.flash("restarted");
            }
            KeyCode::Char('n') => self.next_lesson(1),
            KeyCode::Char('p') => self.next_lesson(-1),
            KeyCode::Char('?') => self.ui.help = true,
            KeyCode::Esc => {
                self.stop_session();
                self.ui.paused = false;
            }
            KeyCode::Tab => self.ui.focus = self.ui.focus.next(),
            KeyCode::BackTab => {
                for _ in 0..Panel::ALL.len() - 1 {
                    self.ui.focus = self.ui.focus.next();
                }
            }
            KeyCode::Up => {
                self.scroll(-1);
            }
            KeyCode::Down => {
                self.scroll(1);
            }
            KeyCode::PageUp => {
                self.scroll(-10);
            }
            KeyCode::PageDown => {
                self.scroll(10);
            }
            _ => {}
        }
    }

    /// The model on screen (rewound or live).
    fn shown_model(&self) -> Option<&crate::trace::Model> {
        let session = self.session.as_ref()?;
        Some(&session.rewound.as_ref().map_or(&session.view, |(_, v)| v).model)
    }

    /// The search line and the inspector take the keys while open, and `/` and `enter` (on
    /// the futures grid) open them. True if the key was theirs.
    fn inspector_key(&mut self, key: KeyEvent) -> bool {
        if let Some(text) = self.ui.search.as_mut() {
            match key.code {
                KeyCode::Char(c) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Esc => self.ui.search = None,
                KeyCode::Enter => {
                    let text = self.ui.search.take().unwrap_or_default();
                    let from = self.ui.inspected.map_or(0, |id| id + 1);
                    match self.shown_model().and_then(|m| super::inspector::find(m, &text, from)) {
                        Some(id) => self.ui.inspected = Some(id),
                        None => self.flash(format!("no task's label has {text:?}")),
                    }
                }
                _ => {}
            }
            return true;
        }
        if let Some(id) = self.ui.inspected {
            let by = match key.code {
                KeyCode::Left | KeyCode::Up => -1,
                KeyCode::Right | KeyCode::Down => 1,
                KeyCode::Esc | KeyCode::Enter => {
                    self.ui.inspected = None;
                    return true;
                }
                KeyCode::Char('/') => {
                    self.ui.search = Some(String::new());
                    return true;
                }
                // Every other key does what it does without the inspector.
                _ => return false,
            };
            self.ui.inspected = self.shown_model().and_then(|m| super::inspector::step(m, id, by)).or(Some(id));
            return true;
        }
        match key.code {
            KeyCode::Char('/') => self.ui.search = Some(String::new()),
            KeyCode::Enter if self.ui.focus == Panel::Futures => {
                // The first future on the grid's screen: the last ones when not scrolled back.
                let first = self.ui.first_drawn(Panel::Futures);
                match first.or_else(|| self.shown_model().and_then(|m| m.tasks.front().map(|t| t.id))) {
                    Some(id) => self.ui.inspected = Some(id),
                    None => self.flash("no task yet"),
                }
            }
            _ => return false,
        }
        true
    }

    /// Scrolls the focused panel: positive is down the screen.
    fn scroll(&mut self, rows: isize) -> bool {
        if self.session.is_none() {
            let n = self.lessons.len().saturating_sub(1);
            self.ui.picked = self.ui.picked.saturating_add_signed(rows.signum()).min(n);
            return true;
        }
        self.ui.scroll_by(if self.ui.focus.scrolls_down() { rows } else { -rows });
        true
    }

    fn flash(&mut self, text: impl Into<String>) {
        self.ui.flash = Some(text.into());
        self.flash_until = Some(Instant::now() + FLASH);
    }

    /// Shows what is due on the picture's clock; pauses at a step boundary in step mode.
    /// True if the screen changes.
    fn show_due(&mut self) -> bool {
        let Some(session) = self.session.as_mut() else { return false };
        let shown = session.show_due(self.ui.paused, Instant::now(), &self.watched);
        self.ui.held = session.held.len();
        self.ui.behind = session.behind();
        self.ui.reading = matches!(session.playing, Playing::Reading { .. });
        match shown {
            Shown::ReachedStep => self.pause(),
            Shown::Asked => self.asked(),
            _ => {}
        }
        shown != Shown::Nothing
    }

    /// A question or a verdict went up: the picture (and a simulated clock) stops for it, and
    /// the answers file takes what is new.
    fn asked(&mut self) {
        self.pause();
        self.save_answers();
    }

    /// Keeps the answers and the truth in the `--answers` file.
    fn save_answers(&mut self) {
        let Some(session) = self.session.as_ref() else { return };
        let Some(quiz) = session.quiz.as_ref() else { return };
        if let Err(e) = quiz.save(self.options.engine.name()) {
            let path = self.options.quiz.answers.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            self.flash(format!("cannot write the answers to {path}: {e}"));
        }
    }

    /// The open question or verdict takes every key but quit. True if the key was its.
    fn quiz_key(&mut self, key: KeyEvent) -> bool {
        let Some(quiz) = self.session.as_mut().and_then(|s| s.quiz.as_mut()).filter(|q| q.prompt.is_some()) else {
            return false;
        };
        match quiz.key(key) {
            super::quiz::Keyed::Open => {}
            super::quiz::Keyed::Say(text) => self.flash(text),
            super::quiz::Keyed::Closed => {
                self.save_answers();
                self.resume();
            }
        }
        true
    }

    /// Goes on from what the picture shows (after a pause, from where it stopped).
    fn resume(&mut self) {
        self.ui.paused = false;
        self.ui.rewound_from = None;
        if let Some(session) = self.session.as_mut() {
            session.rewound = None;
            session.go_on(Instant::now());
        }
        self.show_due();
    }

    /// Pauses the picture; on simulated time, the run itself: its clock stands still.
    fn pause(&mut self) {
        self.ui.paused = true;
        if let Some(session) = self.session.as_mut() {
            session.stop_reading();
            if let Some(sim) = session.run.as_ref().and_then(Run::sim) {
                sim.hold(true);
            }
        }
    }

    fn step_one(&mut self) {
        if !self.ui.paused {
            self.pause();
            return;
        }
        if let Some(position) = self.session.as_ref().filter(|s| s.rewound.is_some()).map(Session::position) {
            // Rewound: one more recorded event.
            self.rewind_to_position(position + 1);
            return;
        }
        if let Some(session) = self.session.as_mut() {
            match (session.held.pop_front(), session.run.as_ref().and_then(Run::sim)) {
                (Some(event), _) => session.show(&event, Instant::now(), &self.watched),
                (None, Some(sim)) => {
                    // Simulated time: move the held clock to the next moment something happens.
                    sim.step();
                    self.flash("SIM clock moved to the next deadline");
                }
                (None, None) => self.flash("no event yet: the pool has not done anything new"),
            }
            if let Some(session) = self.session.as_ref() {
                self.ui.held = session.held.len();
            }
        }
    }

    /// `s`: to the next step boundary — rewound, the next recorded step; live, the picture
    /// runs until the next step begins and pauses there.
    fn next_step(&mut self) {
        let Some(session) = self.session.as_mut() else { return };
        if session.rewound.is_some() {
            match session.next_step(session.position()) {
                Some(position) => self.rewind_to_position(position),
                None => self.rewind_to_position(usize::MAX),
            }
            return;
        }
        if session.view.model.ended() && session.held.is_empty() {
            self.flash("the lesson has ended: b goes back a step, r runs it again");
            return;
        }
        session.go_on(Instant::now());
        session.playing = Playing::ToNextStep;
        self.ui.paused = false;
        self.ui.rewound_from = None;
        self.show_due();
    }

    /// `b`: back to the beginning of the previous step (rewinding; the pool goes on).
    fn previous_step(&mut self) {
        let Some(session) = self.session.as_ref() else { return };
        let target = session.previous_step(session.position());
        if !self.ui.paused {
            self.pause();
        }
        self.rewind_to_position(target);
    }

    /// ←/→: moves the paused picture back or forth in time by a fiftieth of the axis.
    fn scrub(&mut self, direction: i64) {
        if !self.ui.paused {
            self.pause();
        }
        let Some(session) = self.session.as_ref() else { return };
        let live = session.view.now_us;
        let at = session.rewound.as_ref().map_or(live, |(_, v)| v.now_us);
        let step = (super::lanes::axis_span_us(live) / 50).max(20_000);
        let target = if direction < 0 { at.saturating_sub(step) } else { at.saturating_add(step) };
        self.rewind_to(target);
    }

    /// Shows the picture as it was at `t`; at or past the live clock, the live picture.
    fn rewind_to(&mut self, t: u64) {
        let live = self.session.as_ref().is_none_or(|s| t >= s.view.now_us);
        self.rewind(live, |session| {
            let position = session.history.partition_point(|e| e.t <= t);
            (position, session.view.at(&session.history, t))
        });
    }

    /// Shows the picture after the first `position` recorded events; at or past the last,
    /// the live picture.
    fn rewind_to_position(&mut self, position: usize) {
        let live = self.session.as_ref().is_none_or(|s| position >= s.history.len());
        self.rewind(live, |session| (position, session.view.upto(&session.history, position)));
    }

    /// Back to the live picture (`live`), or to the one `rewound` folds from the history.
    fn rewind(&mut self, live: bool, rewound: impl FnOnce(&Session) -> (usize, View)) {
        let Some(session) = self.session.as_mut() else { return };
        if live {
            session.rewound = None;
            self.ui.rewound_from = None;
            return;
        }
        if session.history.len() >= HISTORY_MAX {
            self.flash("this run has too many events to rewind");
            return;
        }
        session.rewound = Some(rewound(session));
        self.ui.rewound_from = Some(session.view.now_us);
    }

    fn resize(&mut self, by: isize) {
        let Some(session) = self.session.as_ref() else { return };
        let Some(run) = session.run.as_ref() else { return };
        if session.view.model.pool == Some(PoolKind::Coroutine) {
            self.flash("a coroutine pool is one event-loop thread: it has no size to change");
            return;
        }
        if session.view.model.ended() {
            self.flash("the lesson has ended: press r to run it again");
            return;
        }
        let Some(pool) = run.pool() else { return self.flash(ResizeRefused.to_string()) };
        let now = pool.workers();
        let want = now.saturating_add_signed(by).clamp(1, MAX_WORKERS);
        if let Err(refused) = run.resize(want) {
            return self.flash(refused.to_string());
        }
        self.flash(format!("pool resized: {now} → {want} workers"));
    }

    fn set_speed(&mut self, factor: f64) {
        let speed = (self.ui.speed * factor).clamp(0.25, 16.0);
        self.ui.speed = speed;
        self.restart();
        self.flash(format!("restarted at {speed}× speed (durations ÷ {speed})"));
    }

    fn next_lesson(&mut self, by: isize) {
        let n = self.lessons.len();
        if n == 0 {
            return;
        }
        let current = self.session.as_ref().and_then(|s| s.builtin);
        let next = match current {
            Some(i) => (i as isize + by).rem_euclid(n as isize) as usize,
            None => 0,
        };
        self.open_builtin(next);
    }

    fn open_builtin(&mut self, index: usize) {
        if let Some((scenario, _)) = self.lessons.get(index) {
            let scenario = scenario.clone();
            self.ui.picked = index;
            self.open(scenario, Some(index));
        }
    }

    fn restart(&mut self) {
        if let Some(session) = self.session.as_ref() {
            let (scenario, builtin) = (session.scenario.clone(), session.builtin);
            self.open(scenario, builtin);
        }
    }

    /// Stops the current run (if any) and starts `scenario`.
    fn open(&mut self, scenario: Scenario, builtin: Option<usize>) {
        let mut lesson = Lesson::of(&scenario);
        let (engine, time) = match &self.options.engine {
            // A Dask cluster is reached by CPython's engine only, on real time.
            Engine::Poolscope if scenario.pool.kind == PoolKind::Dask => {
                let python = std::path::Path::new("python3");
                if let Err(e) = cpython::check_python(python).and_then(|_| cpython::check_distributed(python)) {
                    self.flash(format!("cannot start {}: {e}", scenario.name));
                    return; // the run on screen, if any, goes on
                }
                let program =
                    cpython::Program::Lesson { code: lesson.code.clone(), step_lines: lesson.step_lines.clone() };
                let mut options = cpython::CpythonOptions::new(program);
                match cpython::Output::kept() {
                    Ok((dir, output)) => {
                        options.output = output;
                        self.kept.push(dir);
                    }
                    Err(e) => {
                        self.flash(format!("cannot start {}: cannot keep its program's output: {e}", scenario.name));
                        return;
                    }
                }
                (Engine::Cpython(options), TimeMode::Real)
            }
            engine => (engine.for_lesson(&lesson.code, &lesson.step_lines), self.options.time),
        };
        self.stop_session();
        self.generation += 1;
        let generation = self.generation;
        self.ui.paused = false;
        self.ui.held = 0;
        self.ui.scroll = [0; 5];
        self.ui.flash = None;
        self.ui.rewound_from = None;
        self.ui.lesson = builtin.map(|i| (i, self.lessons.len()));
        let options = RunOptions {
            seed: self.options.seed,
            speed: self.ui.speed,
            worker_program: None,
            time,
            cores: self.options.cores,
            engine,
        };
        let started = Instant::now();
        let run = match Run::start(&scenario, &options) {
            Ok(run) => run,
            Err(e) => {
                self.flash(format!("cannot start {}: {e}", scenario.name));
                return;
            }
        };
        if let Err(e) = forward_events(&run, &self.tx, generation) {
            self.flash(format!("cannot start {}: {e}", scenario.name));
            return;
        }
        if let Engine::Cpython(cpython) = &self.options.engine
            && let scenario::cpython::Program::Script { path, .. } = &cpython.program
        {
            // A user's own program: the code panel shows it, as it is (it has no steps).
            let text = std::fs::read_to_string(path).unwrap_or_default();
            lesson.code = text.lines().map(str::to_string).collect();
            lesson.step_lines.clear();
        }
        let view = View::new(lesson);
        let mut session = Session::new(scenario, builtin, view, Some(run), generation);
        session.started = started;
        session.holds = self.options.holds;
        session.quiz = super::quiz::Quiz::new(&session.scenario, &self.options.quiz);
        self.session = Some(session);
        if self.options.step {
            self.pause();
        }
    }

    /// Stops the run on screen without waiting for it (a reaper thread joins it).
    fn stop_session(&mut self) {
        if let Some(mut session) = self.session.take()
            && let Some(run) = session.run.take()
        {
            stop_detached(run);
        }
        if let Ok(mut watched) = self.watched.lock() {
            watched.clear();
        }
    }

    /// On exit: stops the run and waits a little for its workers to go, so no worker process
    /// outlives the UI.
    fn stop_all(&mut self) {
        if let Some(mut session) = self.session.take()
            && let Some(run) = session.run.take()
        {
            stop_and_wait(run);
        }
    }
}

/// Stops a run without waiting for it: a reaper thread joins it.
pub(super) fn stop_detached(run: Run) {
    run.abort();
    let _ = std::thread::Builder::new().name("ui-reaper".into()).spawn(move || run.join());
}

/// Stops a run and waits a little (3 s at most) for its workers to go, so no worker process
/// outlives the UI.
pub(super) fn stop_and_wait(run: Run) {
    run.abort();
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let _ = std::thread::Builder::new().name("ui-reaper".into()).spawn(move || {
        run.join();
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(Duration::from_secs(3));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceKind;

    fn key(c: char) -> Msg {
        Msg::Input(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
    }

    /// An app showing `lesson` with no run behind it: events are fed by hand.
    fn app_on(lesson: &str) -> App {
        let scenario = scenario::load(lesson).unwrap();
        let mut app = App::new(Options::default());
        app.generation = 7;
        let view = View::new(Lesson::of(&scenario));
        let mut session = Session::new(scenario, None, view, None, 7);
        // Events fed by hand at small times are due at once.
        session.started = Instant::now() - Duration::from_secs(10);
        app.session = Some(session);
        app
    }

    /// `secs` pass on the picture's clock, then a tick.
    fn later(app: &mut App, secs: f64) {
        app.session.as_mut().unwrap().started -= Duration::from_secs_f64(secs);
        app.handle(Msg::Tick);
    }

    fn submit(t: u64, task: u64) -> Msg {
        Msg::Trace(
            7,
            TraceEvent { t, kind: TraceKind::Submit { task, label: format!("job{task}"), cost_us: None, cpu: false } },
        )
    }

    #[test]
    fn pause_holds_events_and_dot_shows_them_one_by_one() {
        let mut app = app_on("map-ordering");
        assert!(app.handle(submit(1_000_000, 0)));
        assert!(app.handle(key(' ')));
        assert!(!app.handle(submit(2_000_000, 1)));
        assert!(!app.handle(submit(3_000_000, 2)));
        assert_eq!(app.ui.held, 2);
        let tasks = |app: &App| app.session.as_ref().unwrap().view.model.tasks.len();
        assert_eq!(tasks(&app), 1);
        app.handle(key('.'));
        assert_eq!((tasks(&app), app.ui.held), (2, 1));
        app.handle(key(' '));
        // Resumed: the picture goes on from where it stopped (2 s), and the held event is
        // shown when its time comes on the picture's clock, a second later.
        assert_eq!((tasks(&app), app.ui.held, app.ui.paused), (2, 1, false));
        later(&mut app, 1.0);
        assert_eq!((tasks(&app), app.ui.held), (3, 0));
    }

    #[test]
    fn events_of_an_earlier_run_are_ignored() {
        let mut app = app_on("map-ordering");
        let stale = Msg::Trace(6, TraceEvent { t: 1, kind: TraceKind::Queue { depth: 3 } });
        assert!(!app.handle(stale));
        assert_eq!(app.session.as_ref().unwrap().view.model.queue_depth, 0);
    }

    #[test]
    fn quit_on_q_ctrl_c_and_signals() {
        for msg in [
            key('q'),
            Msg::Input(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))),
            Msg::Signal(signal_hook::consts::SIGTERM),
        ] {
            let mut app = app_on("map-ordering");
            app.handle(msg);
            assert!(app.quit);
        }
    }

    #[test]
    fn tab_moves_the_focus_and_arrows_scroll_it() {
        let mut app = app_on("pool-sizing");
        app.handle(Msg::Input(Event::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE))));
        assert_eq!(app.ui.scroll_of(Panel::Lanes), 1);
        app.handle(Msg::Input(Event::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE))));
        assert_eq!(app.ui.focus, Panel::Futures);
        app.handle(Msg::Input(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE))));
        assert_eq!(app.ui.scroll_of(Panel::Futures), 1);
    }

    #[test]
    fn the_clock_ticks_only_while_live() {
        let mut app = app_on("map-ordering");
        app.session.as_mut().unwrap().started = Instant::now() - Duration::from_secs(2);
        assert!(app.handle(Msg::Tick));
        let now = app.session.as_ref().unwrap().view.now_us;
        assert!(now >= 2_000_000);
        app.handle(key(' '));
        app.session.as_mut().unwrap().started = Instant::now() - Duration::from_secs(5);
        assert!(!app.handle(Msg::Tick));
    }

    #[test]
    fn left_rewinds_the_paused_picture_and_right_comes_back_to_live() {
        let mut app = app_on("map-ordering");
        for i in 0..10 {
            app.handle(submit(i * 100_000, i));
        }
        let arrow = |code| Msg::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        app.handle(arrow(KeyCode::Left));
        assert!(app.ui.paused);
        let rewound = app.session.as_ref().unwrap().rewound.as_ref().map(|(_, v)| v.model.tasks.len());
        assert_eq!(rewound, Some(9), "one fiftieth of a 1 s axis back from 0.9 s: 9 tasks submitted");
        assert_eq!(app.ui.rewound_from, Some(900_000));
        app.handle(key('.'));
        assert!(app.session.as_ref().unwrap().rewound.is_none(), "the next event is the live one");
        app.handle(arrow(KeyCode::Left));
        app.handle(arrow(KeyCode::Right));
        assert!(app.session.as_ref().unwrap().rewound.is_none());
        assert_eq!(app.ui.rewound_from, None);
    }

    fn step(t: u64, index: usize) -> Msg {
        let note = Some(format!("step {index}: a caption of some length for the learner to read"));
        Msg::Trace(
            7,
            TraceEvent { t, kind: TraceKind::Step { index, op: "submit".into(), python: String::new(), note } },
        )
    }

    fn shown_step(app: &App) -> Option<usize> {
        app.session.as_ref().unwrap().view.model.current_step().map(|s| s.index)
    }

    #[test]
    fn a_step_that_comes_too_soon_waits_until_the_caption_is_read() {
        let mut app = app_on("callbacks");
        app.handle(step(0, 0));
        app.handle(submit(5, 0));
        app.handle(step(10, 1));
        app.handle(submit(11, 1));
        assert_eq!(shown_step(&app), Some(0), "step 1 came 10 µs after step 0: step 0's caption stays");
        assert!(app.ui.reading);
        assert_eq!(app.ui.held, 2);
        assert_eq!(app.session.as_ref().unwrap().view.model.tasks.len(), 1, "what came before step 1 is shown");
        // The reading time passes.
        let session = app.session.as_mut().unwrap();
        let (since, read) = session.caption.unwrap();
        session.caption = Some((since - read, read));
        session.playing = Playing::Reading { until: Instant::now() };
        app.handle(Msg::Tick);
        assert!(!app.ui.reading);
        // The picture goes on from where it held: step 1 comes 5 µs later on its clock.
        later(&mut app, 0.001);
        assert_eq!(shown_step(&app), Some(1));
        assert_eq!((app.ui.held, app.ui.reading), (0, false));
    }

    #[test]
    fn without_holds_steps_follow_each_other_at_once() {
        let mut app = app_on("callbacks");
        app.session.as_mut().unwrap().holds = false;
        app.handle(step(0, 0));
        app.handle(step(10, 1));
        assert_eq!(shown_step(&app), Some(1));
    }

    #[test]
    fn step_mode_runs_to_each_step_boundary_and_b_goes_back() {
        let mut app = app_on("callbacks");
        app.session.as_mut().unwrap().started = Instant::now();
        app.handle(key(' '));
        for msg in [step(0, 0), submit(500_000, 0), step(1_000_000, 1), submit(1_100_000, 1), step(1_200_000, 2)] {
            app.handle(msg);
        }
        assert_eq!(shown_step(&app), None, "paused: nothing shown yet");
        app.handle(key('s'));
        assert_eq!((shown_step(&app), app.ui.paused), (Some(0), true));
        app.handle(key('s'));
        assert_eq!((shown_step(&app), app.ui.paused), (Some(0), false), "runs at the lesson's pace");
        later(&mut app, 0.6);
        assert_eq!(app.session.as_ref().unwrap().view.model.tasks.len(), 1);
        later(&mut app, 0.5);
        assert_eq!((shown_step(&app), app.ui.paused), (Some(1), true), "held at step 1's start");
        assert_eq!(app.session.as_ref().unwrap().view.model.tasks.len(), 1);
        app.handle(key('s'));
        later(&mut app, 0.5);
        assert_eq!(shown_step(&app), Some(2));
        // Back a step: the picture rewinds to the start of step 1, its caption and all.
        app.handle(key('b'));
        let rewound = |app: &App| {
            app.session.as_ref().unwrap().rewound.as_ref().map(|(_, v)| v.model.current_step().map(|s| s.index))
        };
        assert_eq!(rewound(&app), Some(Some(1)));
        app.handle(key('b'));
        assert_eq!(rewound(&app), Some(Some(0)));
        app.handle(key('s'));
        assert_eq!(rewound(&app), Some(Some(1)));
        let home = Msg::Input(Event::Key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE)));
        app.handle(home);
        assert_eq!(rewound(&app), Some(None), "Home: before the first step");
        let end = Msg::Input(Event::Key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)));
        app.handle(end);
        assert!(app.session.as_ref().unwrap().rewound.is_none());
        assert_eq!((shown_step(&app), app.ui.paused), (Some(2), false));
    }
}
