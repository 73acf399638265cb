//! The app loop. Producer threads — the run's event forwarder, the CPU sampler, the input
//! reader, a ticker and the signal watcher — send [`Msg`]s into one channel; the loop drains
//! it in bounded batches, folds each message into the [`View`] or the [`UiState`], and draws
//! only when something changed, at most [`FPS`] times a second.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use ratatui::Terminal;
use ratatui::backend::Backend;

use super::picker;
use super::state::{Panel, UiState};
use super::terminal::TerminalGuard;
use super::view::{Lesson, View};
use crate::scenario::{self, MAX_WORKERS, Run, RunOptions, Scenario, TimeMode};
use crate::sys::{self, CpuSample, Watched};
use crate::trace::{TraceEvent, TraceKind};

/// Frames per second at most.
pub const FPS: u64 = 30;
/// Messages handled per turn of the loop before it may draw.
pub const BATCH: usize = 10_000;
/// The ticker's period: how often the clock of a running lesson moves on screen.
pub const TICK: Duration = Duration::from_millis(100);
/// Events kept for rewinding; a longer run cannot be rewound.
pub const HISTORY_MAX: usize = 250_000;
/// Events held at most while paused.
pub const HOLD_MAX: usize = 250_000;
/// How long a message about the last action stays.
const FLASH: Duration = Duration::from_secs(3);

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
}

/// A lesson on screen and the run behind it.
struct Session {
    scenario: Scenario,
    builtin: Option<usize>,
    view: View,
    run: Option<Run>,
    generation: u64,
    started: Instant,
    held: VecDeque<TraceEvent>,
    /// Every event applied, for rewinding (up to [`HISTORY_MAX`]).
    history: Vec<TraceEvent>,
    /// The picture rewound to an earlier moment, while paused.
    rewound: Option<View>,
}

impl Session {
    /// Now on the run's clock (µs): the simulated clock's on virtual time, else real time.
    fn now_us(&self) -> u64 {
        shown_us(self.run.as_ref(), self.started)
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

impl Drop for Session {
    /// However the loop ends (a panic included), the pool is terminated: no worker process
    /// outlives the UI.
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            run.abort();
        }
    }
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
    let mut app = App::new(Options { seed: None, speed: 1.0, time: TimeMode::Real, cores: None });
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

/// The input reader and the signal watcher: only with a real terminal.
///
/// # Errors
/// A thread could not be spawned, or the signals could not be watched.
pub fn spawn_terminal_producers(tx: &Sender<Msg>) -> std::io::Result<()> {
    let input = tx.clone();
    super::input::spawn_reader(move |read| match read {
        super::input::Input::Event(event) => input.send(Msg::Input(event)).is_ok(),
        // Nobody is watching: quit as on SIGHUP, and stop the pool.
        super::input::Input::HungUp => input.send(Msg::Signal(signal_hook::consts::SIGHUP)).is_ok(),
    })?;
    let signals = tx.clone();
    let mut watcher = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])?;
    std::thread::Builder::new().name("ui-signals".into()).spawn(move || {
        for signal in watcher.forever() {
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
        let lessons: Vec<(Scenario, Lesson)> = scenario::builtin_names()
            .filter_map(|name| scenario::load(name).ok())
            .map(|s| {
                let lesson = Lesson::of(&s);
                (s, lesson)
            })
            .collect();
        let ui = UiState { color: super::color_allowed(), speed: options.speed, ..UiState::default() };
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
                    Some(session) => super::render(session.rewound.as_ref().unwrap_or(&session.view), ui, f),
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
                if self.ui.paused && session.held.len() < HOLD_MAX {
                    session.held.push_back(event);
                    self.ui.held = session.held.len();
                    false
                } else if self.ui.paused {
                    // Memory stays bounded: a pause that outlives this many events ends.
                    session.held.push_back(event);
                    self.resume();
                    self.flash("resumed: too many events were waiting");
                    true
                } else {
                    apply(session, &event, &self.watched);
                    true
                }
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
                if let Some(session) = self.session.as_mut()
                    && !self.ui.paused
                {
                    changed |= session.view.tick(session.now_us());
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
            KeyCode::Left => self.scrub(-1),
            KeyCode::Right => self.scrub(1),
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

    fn resume(&mut self) {
        self.ui.paused = false;
        self.ui.rewound_from = None;
        if let Some(session) = self.session.as_mut() {
            session.rewound = None;
            while let Some(event) = session.held.pop_front() {
                apply(session, &event, &self.watched);
            }
            let now = session.now_us();
            session.view.tick(now);
            if let Some(sim) = session.run.as_ref().and_then(Run::sim) {
                sim.hold(false);
            }
        }
        self.ui.held = 0;
    }

    /// Pauses the picture; on simulated time, the run itself: its clock stands still.
    fn pause(&mut self) {
        self.ui.paused = true;
        if let Some(sim) = self.session.as_ref().and_then(|s| s.run.as_ref()).and_then(Run::sim) {
            sim.hold(true);
        }
    }

    fn step_one(&mut self) {
        if !self.ui.paused {
            self.pause();
            return;
        }
        if let Some(t) = self.session.as_ref().and_then(|s| s.rewound.as_ref()).map(|v| v.now_us) {
            // Rewound: the next recorded event.
            let next = self.session.as_ref().and_then(|s| s.history.iter().find(|e| e.t > t)).map(|e| e.t);
            self.rewind_to(next.unwrap_or(u64::MAX));
            return;
        }
        if let Some(session) = self.session.as_mut() {
            match (session.held.pop_front(), session.run.as_ref().and_then(Run::sim)) {
                (Some(event), _) => apply(session, &event, &self.watched),
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

    /// ←/→: moves the paused picture back or forth in time by a fiftieth of the axis.
    fn scrub(&mut self, direction: i64) {
        self.ui.paused = true;
        let Some(session) = self.session.as_ref() else { return };
        let live = session.view.now_us;
        let at = session.rewound.as_ref().map_or(live, |v| v.now_us);
        let step = (super::lanes::axis_span_us(live) / 50).max(20_000);
        let target = if direction < 0 { at.saturating_sub(step) } else { at.saturating_add(step) };
        self.rewind_to(target);
    }

    /// Shows the picture as it was at `t`; at or past the live clock, the live picture.
    fn rewind_to(&mut self, t: u64) {
        let Some(session) = self.session.as_mut() else { return };
        if t >= session.view.now_us {
            session.rewound = None;
            self.ui.rewound_from = None;
            return;
        }
        if session.history.len() >= HISTORY_MAX {
            self.flash("this run has too many events to rewind");
            return;
        }
        session.rewound = Some(session.view.at(&session.history, t));
        self.ui.rewound_from = Some(session.view.now_us);
    }

    fn resize(&mut self, by: isize) {
        let Some(session) = self.session.as_ref() else { return };
        let Some(run) = session.run.as_ref() else { return };
        if session.view.model.pool == "coroutine" {
            self.flash("a coroutine pool is one event-loop thread: it has no size to change");
            return;
        }
        if session.view.model.ended() {
            self.flash("the lesson has ended: press r to run it again");
            return;
        }
        let now = run.pool().workers();
        let want = now.saturating_add_signed(by).clamp(1, MAX_WORKERS);
        run.resize(want);
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
            time: self.options.time,
            cores: self.options.cores,
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
        let view = View::new(Lesson::of(&scenario));
        self.session = Some(Session {
            scenario,
            builtin,
            view,
            run: Some(run),
            generation,
            started,
            held: VecDeque::new(),
            history: Vec::new(),
            rewound: None,
        });
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

/// Applies one run event to a session, and tells the sampler which worker processes to watch
/// when workers come or go.
fn apply(session: &mut Session, event: &TraceEvent, watched: &Watched) {
    session.view.apply(event);
    if session.history.len() < HISTORY_MAX {
        session.history.push(event.clone());
    }
    if matches!(event.kind, TraceKind::WorkerUp { .. } | TraceKind::WorkerDown { .. })
        && let Ok(mut w) = watched.lock()
    {
        *w = session.view.worker_pids();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Msg {
        Msg::Input(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
    }

    /// An app showing `lesson` with no run behind it: events are fed by hand.
    fn app_on(lesson: &str) -> App {
        let scenario = scenario::load(lesson).unwrap();
        let mut app = App::new(Options { seed: None, speed: 1.0, time: TimeMode::Real, cores: None });
        app.generation = 7;
        let view = View::new(Lesson::of(&scenario));
        app.session = Some(Session {
            scenario,
            builtin: None,
            view,
            run: None,
            generation: 7,
            started: Instant::now(),
            held: VecDeque::new(),
            history: Vec::new(),
            rewound: None,
        });
        app
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
        assert!(app.handle(submit(1, 0)));
        assert!(app.handle(key(' ')));
        assert!(!app.handle(submit(2, 1)));
        assert!(!app.handle(submit(3, 2)));
        assert_eq!(app.ui.held, 2);
        let tasks = |app: &App| app.session.as_ref().unwrap().view.model.tasks.len();
        assert_eq!(tasks(&app), 1);
        app.handle(key('.'));
        assert_eq!((tasks(&app), app.ui.held), (2, 1));
        app.handle(key(' '));
        assert_eq!((tasks(&app), app.ui.held, app.ui.paused), (3, 0, false));
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
        let rewound = app.session.as_ref().unwrap().rewound.as_ref().map(|v| v.model.tasks.len());
        assert_eq!(rewound, Some(9), "one fiftieth of a 1 s axis back from 0.9 s: 9 tasks submitted");
        assert_eq!(app.ui.rewound_from, Some(900_000));
        app.handle(key('.'));
        assert!(app.session.as_ref().unwrap().rewound.is_none(), "the next event is the live one");
        app.handle(arrow(KeyCode::Left));
        app.handle(arrow(KeyCode::Right));
        assert!(app.session.as_ref().unwrap().rewound.is_none());
        assert_eq!(app.ui.rewound_from, None);
    }
}
