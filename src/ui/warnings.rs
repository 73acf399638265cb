//! Warnings in plain language, shown while they are true: each names what is happening and
//! why it matters, in one line. Read from the view with cheap checks (no walk over every task).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::state::UiState;
use super::view::View;
use crate::pool::PoolKind;
use crate::scenario::OpName;
use crate::trace::TaskState;

/// Tasks of a `map` step looked at, at most, for head-of-line blocking.
const MAP_SCAN: usize = 4_096;

/// Arrivals of an `arrive` step looked at, at most, to measure their rate.
const ARRIVALS_SCAN: usize = 4_096;

/// The fewest arrivals whose rate is taken as measured: over fewer, a chance burst looks
/// like overload (the rate's relative error is about 1/√n).
pub const ARRIVALS_MEASURED: usize = 20;

/// How long an idle worker and a waiting task must coexist before that is news: a hand-off
/// takes microseconds, and is not a fault.
pub const IDLE_WHILE_WAITING_US: u64 = 1_000;

/// A warning, and the condition under which it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Warning {
    /// A live worker process is stopped (SIGSTOP, a debugger), as the OS reports it.
    Stopped,
    /// A GIL thread pool runs two or more CPU-bound tasks: all but one wait for the GIL.
    Gil,
    /// A coroutine pool runs a CPU-bound task beside other coroutines: the loop is blocked.
    BlockedLoop,
    /// More CPU-bound tasks run in parallel (no GIL, not on one loop) than there are cores.
    Oversubscribed,
    /// A worker has been idle and a task has waited in the queue, both for
    /// [`IDLE_WHILE_WAITING_US`] at least.
    IdleWhileWaiting,
    /// During an `arrive` step, the utilisation measured over its arrivals so far — their
    /// rate λ (at least [`ARRIVALS_MEASURED`] of them) times the mean run time S of the tasks
    /// that finished, over the c workers — is above 1, and tasks wait in the queue.
    Overloaded,
    /// During a step that submits tasks, the queue's last change made it deeper, and it holds
    /// more than four tasks per worker.
    QueueGrowing,
    /// In a `map` step, a finished result waits (not yet received) behind an earlier task that
    /// has not finished.
    HeadOfLine,
}

impl Warning {
    /// The plain-language line, with its why.
    pub fn text(self) -> &'static str {
        match self {
            Warning::Stopped => {
                "A worker process is stopped (SIGSTOP): its lane is stuck — it runs nothing until it is continued (SIGCONT)."
            }
            Warning::Gil => {
                "GIL: only one thread runs Python code at a time — these CPU-bound threads take turns, so they get no faster."
            }
            Warning::BlockedLoop => {
                "The event loop is blocked: a coroutine that computes never awaits, so every other coroutine waits for it."
            }
            Warning::Oversubscribed => {
                "Oversubscribed: more CPU-bound tasks running than CPU cores — they share the cores, and each runs slower."
            }
            Warning::IdleWhileWaiting => {
                "Idle workers while tasks wait: the workers have not taken the queued tasks yet."
            }
            Warning::Overloaded => {
                "Overloaded: tasks arrive faster than the workers can serve them (arrival rate × run time / workers > 1), so the queue grows for as long as they come."
            }
            Warning::QueueGrowing => "The queue keeps growing: tasks arrive faster than the workers finish them.",
            Warning::HeadOfLine => {
                "Head-of-line blocking: map hands out results in input order, so finished results wait for an earlier slow task."
            }
        }
    }
}

/// The warnings that hold now, most important first, as lines.
pub fn of(view: &View) -> Vec<&'static str> {
    active(view).into_iter().map(Warning::text).collect()
}

/// The warnings that hold now, most important first. Each is shown only while its condition
/// (see [`Warning`]) holds in the model — or, for a stopped worker, in the OS's word on the
/// process: nothing here guesses from the CPU meter.
pub fn active(view: &View) -> Vec<Warning> {
    let model = &view.model;
    let mut out = Vec::new();
    if model.ended() {
        return out;
    }
    let running = model.totals.running;
    let running_cpu = model.totals.running_cpu;
    let thread_gil = model.gil && model.pool == Some(PoolKind::Thread);
    let coroutine = model.pool == Some(PoolKind::Coroutine);
    if !view.stopped.is_empty() && model.lanes.values().any(|l| l.up_since.is_some() && view.stopped.contains(&l.pid)) {
        out.push(Warning::Stopped);
    }
    if thread_gil && running_cpu >= 2 {
        out.push(Warning::Gil);
    }
    if coroutine && running_cpu >= 1 && running >= 2 {
        out.push(Warning::BlockedLoop);
    }
    if !thread_gil && !coroutine && model.cores > 0 && running_cpu > model.cores {
        out.push(Warning::Oversubscribed);
    }
    if idle_while_waiting(view) {
        out.push(Warning::IdleWhileWaiting);
    }
    if overloaded(view) {
        out.push(Warning::Overloaded);
    }
    // Only the main program queues tasks: during a step that submits none, the queue cannot grow.
    let submitting = model.current_step().and_then(|s| OpName::named(&s.op)).is_some_and(OpName::submits);
    if submitting && model.queue_rising && model.queue_depth > 4 * model.pool_size.max(1) {
        out.push(Warning::QueueGrowing);
    }
    if let Some(step) = model.current_step()
        && OpName::named(&step.op) == Some(OpName::Map)
        && head_of_line(view, step.index)
    {
        out.push(Warning::HeadOfLine);
    }
    out
}

/// True if a live worker has sat idle while a task waited, together, for
/// [`IDLE_WHILE_WAITING_US`].
fn idle_while_waiting(view: &View) -> bool {
    let model = &view.model;
    let Some(queued) = model.queue_since.filter(|_| model.queue_depth > 0) else { return false };
    let idle = model.lanes.values().filter(|l| l.up_since.is_some()).filter_map(|l| l.idle_since).min();
    idle.is_some_and(|idle| view.now_us.saturating_sub(idle.max(queued)) >= IDLE_WHILE_WAITING_US)
}

/// True if the current step is an `arrive` whose arrivals so far come faster than the
/// workers serve: λ·S/c > 1, with λ measured over the step's arrivals (the last
/// [`ARRIVALS_SCAN`] of a long one) and S the mean run time of the tasks that ran.
fn overloaded(view: &View) -> bool {
    let model = &view.model;
    let Some(step) = model.current_step().filter(|s| OpName::named(&s.op) == Some(OpName::Arrive)) else {
        return false;
    };
    if model.totals.ran == 0 || model.queue_depth == 0 {
        return false;
    }
    let mut arrived = 0;
    let mut earliest = step.at_us;
    for task in model.tasks.iter().rev().take(ARRIVALS_SCAN).take_while(|t| t.step == Some(step.index)) {
        arrived += 1;
        earliest = task.submitted_us;
    }
    let since = if arrived < ARRIVALS_SCAN { step.at_us } else { earliest };
    let elapsed_us = view.now_us.saturating_sub(since);
    if arrived < ARRIVALS_MEASURED || elapsed_us == 0 {
        return false;
    }
    let rate = arrived as f64 / elapsed_us as f64;
    let run_us = model.totals.run_sum_us as f64 / model.totals.ran as f64;
    rate * run_us / model.pool_size.max(1) as f64 > 1.0
}

/// True if, among the tasks of step `index`, one still runs while a later one is done and not
/// yet received.
fn head_of_line(view: &View, index: usize) -> bool {
    let tasks = &view.model.tasks;
    let mut later_done = false;
    for task in tasks.iter().rev().take(MAP_SCAN).take_while(|t| t.step == Some(index)) {
        match task.state {
            TaskState::Done if task.received.is_none() => later_done = true,
            TaskState::Running | TaskState::Pending if later_done => return true,
            _ => {}
        }
    }
    false
}

/// Draws the warnings, one a line.
pub fn render(warnings: &[&str], ui: &UiState, frame: &mut Frame, area: Rect) {
    let style = ui.paint(
        Style::new().fg(Color::LightRed).add_modifier(Modifier::BOLD),
        Style::new().add_modifier(Modifier::BOLD),
    );
    let lines: Vec<Line> = warnings.iter().map(|w| Line::styled(format!("⚠ {w}"), style)).collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
