//! A lesson on screen and the run behind it, and how its events reach the picture.
//!
//! The run's events do not go straight to the picture: they wait in a queue and are shown on
//! the picture's own clock, which can fall behind the pool's. Three things make it fall
//! behind, and each is the point of this module:
//! - **Reading time.** A step's caption stays on screen for at least [`reading_time`] of its
//!   text: when the next step comes sooner (steps that take no time follow each other within
//!   microseconds), the picture holds at that step boundary until the caption has been read.
//!   On simulated time the run's clock holds too, so nothing is lost; on real time the pool
//!   goes on and the picture shows it afterwards, at its own pace, behind.
//! - **Pause.** The picture stops; on resume it goes on from where it stopped.
//! - **Step mode.** The picture runs to the next step boundary and pauses there.
//!
//! The picture's clock on real time is the time since the run began less `lag`, the time it
//! spent held or paused; `End` (catch up) drops the lag.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::view::View;
use crate::scenario::{Run, Scenario};
use crate::sys::Watched;
use crate::trace::{TraceEvent, TraceKind};

/// Events kept for rewinding; a longer run cannot be rewound.
pub const HISTORY_MAX: usize = 250_000;

/// How long a caption of `text` takes to read: a second to notice it, then 17 characters a
/// second (a common pace for subtitles), between 2 and 12 seconds.
pub fn reading_time(text: &str) -> Duration {
    let chars = text.chars().filter(|c| !c.is_whitespace()).count() + text.split_whitespace().count();
    Duration::from_secs_f64((1.0 + chars as f64 / 17.0).clamp(2.0, 12.0))
}

/// The caption a step shows (its note, or its op when it has none).
pub fn caption_of(note: Option<&str>, op: &str) -> String {
    note.map_or_else(|| format!("{op} …"), str::to_string)
}

/// What the picture is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Playing {
    /// Showing events as their time comes.
    Live,
    /// Holding at a step boundary until the shown caption has been read.
    Reading {
        /// Until when.
        until: Instant,
    },
    /// Running to the next step boundary, then pausing.
    ToNextStep,
}

/// A lesson on screen and the run behind it.
pub(super) struct Session {
    pub scenario: Scenario,
    pub builtin: Option<usize>,
    pub view: View,
    pub run: Option<Run>,
    pub generation: u64,
    pub started: Instant,
    /// Events received and not yet shown, in order.
    pub held: VecDeque<TraceEvent>,
    /// Every event shown, for rewinding (up to [`HISTORY_MAX`]).
    pub history: Vec<TraceEvent>,
    /// The picture rewound to an earlier moment, while paused, and how many events of
    /// `history` it shows.
    pub rewound: Option<(usize, View)>,
    /// Real time: how far the picture's clock is behind the run's (held or paused).
    pub lag: Duration,
    pub playing: Playing,
    /// When the shown step's caption appeared, and how long it takes to read.
    pub caption: Option<(Instant, Duration)>,
    /// Captions hold the picture for their reading time.
    pub holds: bool,
    /// Predict mode: the lesson's questions, asked before their steps.
    pub quiz: Option<super::quiz::Quiz>,
}

/// What showing the waiting events led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shown {
    /// Nothing new.
    Nothing,
    /// The picture changed.
    Changed,
    /// It changed and reached a step boundary in step mode: pause now.
    ReachedStep,
    /// A question or a verdict is up, before the step it is about: pause now.
    Asked,
}

impl Session {
    pub fn new(scenario: Scenario, builtin: Option<usize>, view: View, run: Option<Run>, generation: u64) -> Session {
        Session {
            scenario,
            builtin,
            view,
            run,
            generation,
            started: Instant::now(),
            held: VecDeque::new(),
            history: Vec::new(),
            rewound: None,
            lag: Duration::ZERO,
            playing: Playing::Live,
            caption: None,
            holds: true,
            quiz: None,
        }
    }

    fn simulated(&self) -> bool {
        self.run.as_ref().and_then(Run::sim).is_some()
    }

    /// The picture's clock (µs): on simulated time the simulated clock's (it holds when the
    /// picture does), on real time the time since the run began less the lag.
    pub fn clock_us(&self, now: Instant) -> u64 {
        match self.run.as_ref().and_then(Run::sim) {
            Some(sim) => sim.shown_elapsed().as_micros() as u64,
            None => now.saturating_duration_since(self.started).saturating_sub(self.lag).as_micros() as u64,
        }
    }

    /// Shows the waiting events whose time has come, unless paused (`paused`) or reading;
    /// starts a reading hold at a step boundary that comes too soon.
    pub fn show_due(&mut self, paused: bool, now: Instant, watched: &Watched) -> Shown {
        if paused {
            return Shown::Nothing;
        }
        if let Playing::Reading { until } = self.playing {
            if now < until {
                return Shown::Nothing;
            }
            self.go_on(now);
        }
        let simulated = self.simulated();
        let mut shown = Shown::Nothing;
        while let Some(event) = self.held.front() {
            if !simulated && event.t > self.clock_us(now) {
                break;
            }
            if let Some(quiz) = self.quiz.as_mut()
                && quiz.stops_before(event, &self.view.model)
            {
                return Shown::Asked;
            }
            if let TraceKind::Step { .. } = event.kind
                && self.playing == Playing::Live
                && self.holds
                && let Some((since, read)) = self.caption
                && now < since + read
            {
                self.hold_until(since + read);
                return shown;
            }
            let event = self.held.pop_front().expect("a front event");
            let step = matches!(event.kind, TraceKind::Step { .. });
            self.show(&event, now, watched);
            shown = Shown::Changed;
            if step && self.playing == Playing::ToNextStep {
                self.playing = Playing::Live;
                return Shown::ReachedStep;
            }
        }
        shown
    }

    /// Time passed: the picture's clock moves on, unless paused or held; true if the screen
    /// changes.
    pub fn tick(&mut self, paused: bool, now: Instant) -> bool {
        if paused || matches!(self.playing, Playing::Reading { .. }) {
            return false;
        }
        let clock = self.clock_us(now);
        self.view.tick(clock)
    }

    /// Shows one event: folds it into the picture and the history.
    pub fn show(&mut self, event: &TraceEvent, now: Instant, watched: &Watched) {
        apply(self, event, watched);
        if let TraceKind::Step { note, op, .. } = &event.kind {
            self.caption = Some((now, reading_time(&caption_of(note.as_deref(), op))));
        }
    }

    /// Holds the picture (and on simulated time the run's clock) until `until`.
    fn hold_until(&mut self, until: Instant) {
        self.playing = Playing::Reading { until };
        if let Some(sim) = self.run.as_ref().and_then(Run::sim) {
            sim.hold(true);
        }
    }

    /// Goes on after a hold or a pause: the picture's clock resumes from what it shows.
    pub fn go_on(&mut self, now: Instant) {
        self.playing = Playing::Live;
        let shown = Duration::from_micros(self.view.now_us);
        self.lag = now.saturating_duration_since(self.started).saturating_sub(shown);
        if let Some(sim) = self.run.as_ref().and_then(Run::sim) {
            sim.hold(false);
        }
    }

    /// Stops a reading hold (a pause or a step key takes over).
    pub fn stop_reading(&mut self) {
        if let Playing::Reading { .. } = self.playing {
            self.playing = Playing::Live;
        }
    }

    /// Drops the lag: every waiting event is shown now, holds included — up to a question,
    /// which is still asked before its step (true then).
    pub fn catch_up(&mut self, now: Instant, watched: &Watched) -> bool {
        let mut asked = false;
        while let Some(event) = self.held.front() {
            if let Some(quiz) = self.quiz.as_mut()
                && quiz.stops_before(event, &self.view.model)
            {
                asked = true;
                break;
            }
            let event = self.held.pop_front().expect("a front event");
            self.show(&event, now, watched);
        }
        self.playing = Playing::Live;
        self.lag = Duration::ZERO;
        self.caption = None;
        let clock = self.clock_us(now);
        self.view.tick(clock);
        asked
    }

    /// How far the picture is behind the pool (real time), when it is noticeably.
    pub fn behind(&self) -> Option<Duration> {
        let shown_all = self.held.is_empty() && self.view.model.ended();
        (!self.simulated() && !shown_all && self.lag >= Duration::from_millis(500)).then_some(self.lag)
    }

    /// The number of events the picture shows now: rewound, or all of the history.
    pub fn position(&self) -> usize {
        self.rewound.as_ref().map_or(self.history.len(), |(n, _)| *n)
    }

    /// Where the step before the one shown at `position` begins (just after its step event);
    /// 0 (before the first step) when there is none.
    pub fn previous_step(&self, position: usize) -> usize {
        let starts: Vec<usize> = step_starts(&self.history).collect();
        // The step shown is the last that starts at or before `position`.
        let current = starts.iter().rposition(|s| *s <= position);
        match current {
            Some(i) if i > 0 => starts[i - 1],
            _ => 0,
        }
    }

    /// Where the step after the one shown at `position` begins, if it is in the history.
    pub fn next_step(&self, position: usize) -> Option<usize> {
        step_starts(&self.history).find(|s| *s > position)
    }
}

/// The positions just after each step event of `history`.
fn step_starts(history: &[TraceEvent]) -> impl Iterator<Item = usize> + '_ {
    history.iter().enumerate().filter(|(_, e)| matches!(e.kind, TraceKind::Step { .. })).map(|(i, _)| i + 1)
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

    #[test]
    fn reading_time_grows_with_the_text_within_bounds() {
        assert_eq!(reading_time("ok"), Duration::from_secs(2));
        let long = "word ".repeat(40);
        assert!(reading_time(&long) > reading_time("Ten submits return at once: each gives back a future."));
        assert_eq!(reading_time(&"word ".repeat(500)), Duration::from_secs(12));
    }
}
