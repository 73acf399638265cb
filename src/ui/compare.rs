//! Two runs of one lesson on one screen (`poolscope compare FILE --a … --b …`): A above, B
//! below, each its full lesson picture, with a line on top that says which finished first
//! and by how much.
//!
//! ```text
//! A 2.0 s ■ thread pool, 2 workers + GIL   B 1.0 s ■ process pool, 2 workers   B is 2.00× faster
//! A · kind=thread ─────────────────────────────────────────────────────────────────────────
//! ▶ live  2.0s CPU-bound work on threads · thread pool, 2 workers + GIL · REAL time
//! …                                                            (the lesson screen of A)
//! B · kind=process ────────────────────────────────────────────────────────────────────────
//! …                                                            (the lesson screen of B)
//!  space  pause both  r  run both again  q  quit
//! ```
//!
//! Both runs start together with the same seed. On real time they share the machine, which
//! a CPU-bound comparison feels; `--virtual-time` gives each its own simulated cores. A side
//! may run on CPython ([`Side::on`]): the lesson's program under `python3`, in real time.
//! `+`/`-` resize both pools where they can be resized; each side says what happened to it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{
    FLASH, FPS, Msg, forward_events, shown_us, spawn_producers, spawn_terminal_producers, stop_and_wait, stop_detached,
};
use super::state::{UiState, short_us};
use super::terminal::TerminalGuard;
use super::view::{Lesson, View};
use crate::pool::PoolKind;
use crate::scenario::{Engine, MAX_WORKERS, ResizeRefused, Run, RunOptions, Scenario};
use crate::sys::Watched;
use crate::trace::{EngineChoice, TraceEvent, TraceKind};

/// One of the two runs.
#[derive(Debug)]
pub struct Side {
    /// `A` or `B`, and the override that makes it: `A · kind=thread`.
    pub label: String,
    scenario: Scenario,
    /// Which pool runs it: poolscope's, or CPython's.
    engine: Engine,
    /// The picture of the run.
    pub view: View,
    run: Option<Run>,
    started: Instant,
    held: VecDeque<TraceEvent>,
    /// What the last key did to this side (`+`/`-`), shown until then.
    flash: Option<(String, Instant)>,
}

impl Side {
    /// A side that has not started: its picture is empty.
    pub fn new(label: impl Into<String>, scenario: Scenario) -> Side {
        let view = View::new(Lesson::of(&scenario));
        Side {
            label: label.into(),
            scenario,
            engine: Engine::Poolscope,
            view,
            run: None,
            started: Instant::now(),
            held: VecDeque::new(),
            flash: None,
        }
    }

    /// The side run by `engine` (a CPython engine runs the lesson's program, made for this
    /// side's scenario).
    pub fn on(mut self, engine: Engine) -> Side {
        self.engine = engine;
        self
    }

    /// Resizes the pool by `by` workers where it can be, and says what happened.
    fn resize(&mut self, by: isize) -> String {
        let Some(run) = self.run.as_ref() else { return "not running".into() };
        // CPython's pool lives in python3: no handle to it here, and no size to change.
        let Some(pool) = run.pool() else { return ResizeRefused.to_string() };
        if self.view.model.pool == Some(PoolKind::Coroutine) {
            return "a coroutine pool is one event-loop thread: it has no size to change".into();
        }
        if self.view.model.ended() {
            return "this run has ended: press r to run both again".into();
        }
        let now = pool.workers();
        let want = now.saturating_add_signed(by).clamp(1, MAX_WORKERS);
        match run.resize(want) {
            Ok(()) => format!("pool resized: {now} → {want} workers"),
            Err(refused) => refused.to_string(),
        }
    }

    fn now_us(&self) -> u64 {
        shown_us(self.run.as_ref(), self.started)
    }

    fn stop(&mut self) {
        if let Some(run) = self.run.take() {
            stop_detached(run);
        }
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            run.abort();
        }
    }
}

/// Runs the comparison until the user quits.
///
/// # Errors
/// The terminal could not be set up or written to, or a run could not start.
pub fn run(sides: [Side; 2], options: RunOptions, theme: super::Theme) -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(65_536);
    let mut screen = Compare {
        sides,
        options,
        ui: UiState { theme, comparing: true, ..UiState::default() },
        generation: 0,
        tx,
        watched: Arc::new(Mutex::new(Vec::new())),
        quit: false,
    };
    screen.ui.speed = screen.options.speed;
    screen.start()?;
    let outcome = {
        let mut guard = TerminalGuard::enter()?;
        spawn_producers(&screen.tx, &screen.watched)?;
        spawn_terminal_producers(&screen.tx)?;
        screen.event_loop(&rx, &mut guard.terminal)
    };
    for side in &mut screen.sides {
        if let Some(run) = side.run.take() {
            stop_and_wait(run);
        }
    }
    outcome
}

struct Compare {
    sides: [Side; 2],
    options: RunOptions,
    ui: UiState,
    /// Counts restarts: events of an earlier pair of runs are dropped.
    generation: u64,
    tx: Sender<Msg>,
    watched: Watched,
    quit: bool,
}

impl Compare {
    /// Starts both runs, as close together as two starts can be.
    fn start(&mut self) -> std::io::Result<()> {
        self.generation += 1;
        self.ui.paused = false;
        self.ui.held = 0;
        for (index, side) in self.sides.iter_mut().enumerate() {
            side.stop();
            side.view = View::new(Lesson::of(&side.scenario));
            side.held.clear();
            side.flash = None;
            let options = RunOptions { engine: side.engine.clone(), ..self.options.clone() };
            let run = Run::start(&side.scenario, &options)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", side.label)))?;
            forward_events(&run, &self.tx, self.generation * 2 + index as u64)?;
            side.started = Instant::now();
            side.run = Some(run);
        }
        Ok(())
    }

    fn event_loop<B: ratatui::backend::Backend<Error = std::io::Error>>(
        &mut self,
        rx: &Receiver<Msg>,
        terminal: &mut ratatui::Terminal<B>,
    ) -> std::io::Result<()> {
        let frame = Duration::from_micros(1_000_000 / FPS);
        let mut last_draw = Instant::now() - frame;
        let mut dirty = true;
        while !self.quit {
            let wait = if dirty { (last_draw + frame).saturating_duration_since(Instant::now()) } else { frame };
            match rx.recv_timeout(wait) {
                Ok(msg) => dirty |= self.handle(msg)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for msg in rx.try_iter().take(super::app::BATCH) {
                dirty |= self.handle(msg)?;
            }
            if dirty && !self.quit && last_draw.elapsed() >= frame {
                terminal.draw(|f| render(Pair::live(&self.sides), &self.ui, f))?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        Ok(())
    }

    fn handle(&mut self, msg: Msg) -> std::io::Result<bool> {
        Ok(match msg {
            Msg::Trace(tag, event) => {
                if tag / 2 != self.generation {
                    return Ok(false);
                }
                let side = &mut self.sides[(tag % 2) as usize];
                if self.ui.paused {
                    side.held.push_back(event);
                    self.ui.held = self.sides.iter().map(|s| s.held.len()).sum();
                    return Ok(false);
                }
                side.view.apply(&event);
                if matches!(event.kind, TraceKind::WorkerUp { .. } | TraceKind::WorkerDown { .. }) {
                    self.watch();
                }
                true
            }
            Msg::Cpu(sample) => {
                for side in &mut self.sides {
                    side.view.cpu(sample.clone());
                }
                true
            }
            Msg::Tick if !self.ui.paused => {
                let mut changed = self.expire_flashes();
                for side in &mut self.sides {
                    let now = side.now_us();
                    changed |= side.view.tick(now);
                }
                changed
            }
            Msg::Tick => self.expire_flashes(),
            Msg::Signal(_) => {
                self.quit = true;
                false
            }
            Msg::Input(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                match key.code {
                    _ if ctrl_c => self.quit = true,
                    KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
                    KeyCode::Char(' ') => self.pause(!self.ui.paused),
                    KeyCode::Char('r') => self.start()?,
                    KeyCode::Char('+') | KeyCode::Char('=') => self.resize(1),
                    KeyCode::Char('-') | KeyCode::Char('_') => self.resize(-1),
                    // Both halves scroll together: the same panel, the same rows.
                    KeyCode::Tab => self.ui.focus = self.ui.focus.next(),
                    KeyCode::Up => self.ui.scroll_by(if self.ui.focus.scrolls_down() { -1 } else { 1 }),
                    KeyCode::Down => self.ui.scroll_by(if self.ui.focus.scrolls_down() { 1 } else { -1 }),
                    _ => return Ok(false),
                }
                true
            }
            Msg::Input(Event::Resize(..)) => true,
            Msg::Input(_) => false,
        })
    }

    /// Resizes both pools by `by` workers; each side says what happened to it (a CPython
    /// side, that its pool cannot be resized).
    fn resize(&mut self, by: isize) {
        let until = Instant::now() + FLASH;
        for side in &mut self.sides {
            side.flash = Some((side.resize(by), until));
        }
    }

    /// Drops what the sides said once its time is up: true when one went.
    fn expire_flashes(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for side in &mut self.sides {
            if side.flash.as_ref().is_some_and(|(_, until)| now >= *until) {
                side.flash = None;
                changed = true;
            }
        }
        changed
    }

    /// Pauses or resumes both pictures; on simulated time, both runs' clocks.
    fn pause(&mut self, paused: bool) {
        self.ui.paused = paused;
        for side in &mut self.sides {
            if let Some(sim) = side.run.as_ref().and_then(Run::sim) {
                sim.hold(paused);
            }
            if !paused {
                while let Some(event) = side.held.pop_front() {
                    side.view.apply(&event);
                }
                let now = side.now_us();
                side.view.tick(now);
            }
        }
        if !paused {
            self.ui.held = 0;
            self.watch();
        }
    }

    /// Tells the CPU sampler the worker processes of both runs.
    fn watch(&self) {
        if let Ok(mut watched) = self.watched.lock() {
            *watched = self.sides.iter().flat_map(|s| s.view.worker_pids()).collect();
        }
    }
}

/// What a comparison screen shows: each side's label and picture.
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a> {
    /// `A · kind=thread`, `B · kind=process`, each with its picture.
    pub sides: [(&'a str, &'a View); 2],
    /// What each side says of the last key pressed (`+`/`-`), if anything.
    pub flashes: [Option<&'a str>; 2],
    /// Both run now, on this machine at once (live), rather than one after the other, each
    /// alone (a recording).
    pub together: bool,
}

impl<'a> Pair<'a> {
    /// The pair of a live comparison.
    pub fn live(sides: &'a [Side; 2]) -> Pair<'a> {
        let flash = |side: &'a Side| side.flash.as_ref().map(|(text, _)| text.as_str());
        Pair {
            sides: [(&sides[0].label, &sides[0].view), (&sides[1].label, &sides[1].view)],
            flashes: [flash(&sides[0]), flash(&sides[1])],
            together: true,
        }
    }
}

/// Draws the comparison: the verdict line, A above, B below, the keys (or, recorded, how the
/// runs were made).
pub fn render(pair: Pair<'_>, ui: &UiState, frame: &mut Frame) {
    let area = frame.area();
    let [verdict, top, bottom, foot] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Fill(1), Constraint::Length(1)])
            .areas(area);
    frame.render_widget(Paragraph::new(verdict_line(pair, ui)), verdict);
    // One time scale for both: the slower run's lanes fill the width, the faster's stop short.
    let ui = &UiState {
        axis_at_least_us: pair.sides.iter().map(|(_, v)| v.now_us).max().unwrap_or(0),
        wide_lane_labels: pair.sides.iter().any(|(_, v)| v.model.pool == Some(PoolKind::Process)),
        ..ui.clone()
    };
    for (((label, view), flash), half) in pair.sides.iter().zip(pair.flashes).zip([top, bottom]) {
        let [label_area, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(half);
        let title = format!("{label} ");
        let rule = "─".repeat((label_area.width as usize).saturating_sub(title.chars().count()));
        let bold = Style::new().add_modifier(Modifier::BOLD);
        frame.render_widget(Paragraph::new(Line::from(vec![Span::styled(title, bold), Span::raw(rule)])), label_area);
        let ui = &UiState { flash: flash.map(str::to_string).or_else(|| ui.flash.clone()), ..ui.clone() };
        super::render_in(view, ui, frame, body, false);
    }
    let simulated = pair.sides[0].1.model.virtual_time;
    let on_cpython = pair.sides.iter().any(|(_, view)| view.model.engine == EngineChoice::Cpython);
    let clock = match (simulated, pair.together) {
        (true, _) => "SIM time: each run has its own simulated cores",
        (false, true) if on_cpython => "REAL time: A and B share this machine's cores; CPython runs in real time",
        (false, true) => "REAL time: A and B share this machine's cores; --virtual-time gives each its own",
        (false, false) => "REAL time: A ran, then B, each alone on the machine; shown on one clock",
    };
    let mut keys = Vec::new();
    if pair.together {
        let key =
            ui.paint(Style::new().fg(Color::Black).bg(Color::Gray), Style::new().add_modifier(Modifier::REVERSED));
        let pause = if ui.paused { "resume both" } else { "pause both" };
        for (k, what) in [
            (" space ", pause),
            (" r ", "run both again"),
            (" + - ", "resize"),
            (" tab ↑↓ ", "scroll"),
            (" q ", "quit"),
        ] {
            keys.push(Span::styled(k, key));
            keys.push(Span::raw(format!(" {what}  ")));
        }
        keys.push(Span::raw(" "));
    }
    keys.push(Span::styled(clock, ui.dim()));
    frame.render_widget(Paragraph::new(Line::from(keys)), foot);
    ui.theme.finish(frame.buffer_mut());
}

/// `A done in 2s   B running, 1.3s`, and once both ended, which was faster and by how much.
fn verdict_line(pair: Pair<'_>, ui: &UiState) -> Line<'static> {
    let mut spans = Vec::new();
    for (label, view) in pair.sides {
        let name = label.split(' ').next().unwrap_or("?").to_string();
        let state = match view.model.makespan_us {
            Some(m) => format!("{name} done in {}", short_us(m)),
            None => format!("{name} running, {}", short_us(view.now_us)),
        };
        spans.push(Span::styled(state, Style::new().add_modifier(Modifier::BOLD)));
        spans.push(Span::raw("   "));
    }
    let [(_, a), (_, b)] = pair.sides;
    let ran = |view: &View| (view.model.totals.ran, view.model.submitted());
    let ((ran_a, of_a), (ran_b, of_b)) = (ran(a), ran(b));
    let verdict = match (a.model.makespan_us, b.model.makespan_us) {
        // A broken pool or cancelled work: less done is not faster.
        (Some(_), Some(_)) if (ran_a, of_a) != (ran_b, of_b) => {
            format!("A ran {ran_a} of {of_a} tasks, B {ran_b} of {of_b}: not like for like")
        }
        (Some(a), Some(b)) if a.abs_diff(b) * 100 <= a.max(b) => "A and B take the same time".to_string(),
        (Some(a), Some(b)) if b < a => format!("B is {:.2}× faster", a as f64 / b.max(1) as f64),
        (Some(a), Some(b)) => format!("A is {:.2}× faster", b as f64 / a.max(1) as f64),
        (Some(_), None) => "A finished first".to_string(),
        (None, Some(_)) => "B finished first".to_string(),
        (None, None) => String::new(),
    };
    spans.push(Span::styled(verdict, ui.paint(Style::new().fg(Color::Green), Style::new())));
    if pair.together && !a.model.virtual_time && a.model.pool.is_some() {
        spans.push(Span::styled(" (run together, on shared cores)", ui.dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::scenario::{self, PoolOverride, TimeMode};

    fn side(label: &str, over: &str) -> Side {
        let lesson = scenario::load("threads-io-bound").unwrap();
        Side::new(label, over.parse::<PoolOverride>().unwrap().apply(&lesson).unwrap())
    }

    #[test]
    fn draws_both_runs_and_says_which_was_faster() {
        let mut sides = [side("A · workers=2", "workers=2"), side("B · workers=8", "workers=8")];
        let options = RunOptions { time: TimeMode::Virtual, ..RunOptions::default() };
        for side in &mut sides {
            let events = Run::start(&side.scenario, &options).unwrap().collect_to_end();
            for event in &events {
                side.view.apply(event);
            }
        }
        let ui = UiState { theme: crate::ui::Theme::MONO, comparing: true, ..UiState::default() };
        let mut terminal = Terminal::new(TestBackend::new(120, 48)).unwrap();
        terminal.draw(|f| render(Pair::live(&sides), &ui, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("A done in 4s"), "{text}");
        assert!(text.contains("B done in 1s"), "{text}");
        assert!(text.contains("|4s") && !text.contains("|800ms"), "one time scale for both: {text}");
        assert!(text.contains("B is 4.00× faster"), "{text}");
        assert!(text.contains("A · workers=2") && text.contains("B · workers=8"));
        assert!(text.contains("thread pool, 2 workers") && text.contains("thread pool, 8 workers"), "{text}");
        // A side that ran fewer tasks is not "faster".
        sides[1].view.apply(&serde_json::from_str(r#"{"t":5,"ev":"submit","task":8,"label":"extra"}"#).unwrap());
        terminal.draw(|f| render(Pair::live(&sides), &ui, f)).unwrap();
        let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("A ran 8 of 8 tasks, B 8 of 9: not like for like"), "{text}");
        for (w, h) in [(1, 1), (20, 5), (80, 24), (120, 40)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| render(Pair::live(&sides), &ui, f)).unwrap();
            if w >= 80 {
                // The key number shows for both runs.
                let text = format!("{}", terminal.backend());
                assert_eq!(text.matches("speed-up").count(), 2, "{w}×{h}: {text}");
            }
        }
    }
}
