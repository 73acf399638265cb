//! Predict, then see: a question asked before a step runs, and its answer scored against
//! what the run did.
//!
//! A step may carry `predict = "order" | "makespan" | "outcomes" | "cancelled"`; `--quiz`
//! asks at every step where a prediction makes sense ([`Predict::default_for`]). The tasks a
//! question is about are known from the lesson before anything runs ([`question`]): the
//! step's own tasks, or the batch it works on. The truth is read from the run's
//! [`Model`] when the step is over ([`Question::truth`]), so asking changes nothing in the
//! run: the learner is scored against the run they would have seen without the question.

use serde::Serialize;

use super::model::{Batch, Op, Step, TaskTemplate};
use crate::trace::{Model, TaskRecord, TaskState};

/// What a learner predicts before a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predict {
    /// The order the step's results reach the main program.
    Order,
    /// How long the step takes, in seconds.
    Makespan,
    /// Which of the step's tasks succeed, fail, or never run.
    Outcomes,
    /// Which of the step's `cancel()` calls succeed.
    Cancelled,
}

impl Predict {
    /// Every kind, in the file's words.
    pub const ALL: [Predict; 4] = [Predict::Order, Predict::Makespan, Predict::Outcomes, Predict::Cancelled];

    /// The kind a file names.
    pub fn named(name: &str) -> Option<Predict> {
        Predict::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// As in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Predict::Order => "order",
            Predict::Makespan => "makespan",
            Predict::Outcomes => "outcomes",
            Predict::Cancelled => "cancelled",
        }
    }

    /// Whether the question can be asked of `op`; if not, why (for the file's error).
    pub fn fits(self, op: &Op) -> Result<(), &'static str> {
        // A step that waits for results, one by one.
        let waits = matches!(
            op,
            Op::Map { .. }
                | Op::Imap { .. }
                | Op::AsCompleted { .. }
                | Op::Results { .. }
                | Op::Exceptions { .. }
                | Op::Submit { sync: true, .. }
        );
        let fits = match self {
            Predict::Makespan => true,
            Predict::Order | Predict::Outcomes => waits,
            Predict::Cancelled => matches!(op, Op::Cancel { .. }),
        };
        match (fits, self) {
            (true, _) => Ok(()),
            (false, Predict::Cancelled) => Err("asks which cancel() calls succeed; expected it on a cancel step"),
            (false, _) => Err(
                "asks about results the step waits for; expected it on map, imap, imap_unordered, as_completed, results, exceptions or a submit with sync = true",
            ),
        }
    }

    /// The question `--quiz` asks at a step with no `predict` of its own, where one makes
    /// sense: the order of a map or as_completed, the fate of tasks that may fail, the time a
    /// step that waits takes, which cancels succeed. `None` where the answer is plain (a
    /// submit returns at once, a note, a sleep).
    pub fn default_for(op: &Op, may_fail: bool) -> Option<Predict> {
        match op {
            Op::Map { .. } | Op::Imap { .. } | Op::AsCompleted { .. } => Some(Predict::Order),
            Op::Results { .. } | Op::Exceptions { .. } if may_fail => Some(Predict::Outcomes),
            Op::Results { .. } | Op::Exceptions { .. } | Op::Wait { .. } | Op::Join => Some(Predict::Makespan),
            Op::Submit { sync: true, .. } | Op::Shutdown { wait: true, .. } => Some(Predict::Makespan),
            Op::Cancel { .. } => Some(Predict::Cancelled),
            _ => None,
        }
    }
}

/// Which tasks a question is about, as the run records them: the tasks that the steps listed
/// submitted, in submission order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Members {
    /// Tasks submitted by these steps.
    Steps(Vec<usize>),
    /// Every task submitted before this step.
    Before(usize),
}

impl Members {
    fn holds(&self, task: &TaskRecord) -> bool {
        match (self, task.step) {
            (Members::Steps(steps), Some(step)) => steps.contains(&step),
            (Members::Before(before), Some(step)) => step < *before,
            (_, None) => false,
        }
    }
}

/// A question, ready before its step runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// The step it comes before (from 0).
    pub step: usize,
    /// What is asked.
    pub kind: Predict,
    /// The step's Python.
    pub python: String,
    /// The labels of the tasks it is about, in submission order (empty for `makespan`).
    pub labels: Vec<String>,
    /// The templates of the tasks the step works on (their functions help to answer).
    pub templates: Vec<String>,
    /// Where the run keeps those tasks.
    pub members: Members,
    /// Results come as tasks finish (as_completed, imap_unordered): those that reach the
    /// main program within [`TIE_US`] of each other finished together, and may come in
    /// either order.
    pub ties: bool,
}

/// Results of an as_completed closer than this came from tasks that finished together (on
/// real time, on a busy machine, results of tasks that finish at once arrive some ms apart).
pub const TIE_US: u64 = 50_000;

/// A task's fate, as predicted or as it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// It ran and returned.
    Succeeds,
    /// It ran and raised (or its worker died under it).
    Fails,
    /// It never started: cancelled, or failed without running.
    NeverRuns,
}

impl Fate {
    /// In words, for the screen.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Succeeds => "succeeds",
            Fate::Fails => "fails",
            Fate::NeverRuns => "never runs",
        }
    }

    /// The next one, for a key that cycles through them.
    pub fn next(self) -> Fate {
        match self {
            Fate::Succeeds => Fate::Fails,
            Fate::Fails => Fate::NeverRuns,
            Fate::NeverRuns => Fate::Succeeds,
        }
    }
}

/// What the learner answered, or what happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Labels in the order the results reach the main program.
    Order(Vec<String>),
    /// Seconds the step takes (at speed 1).
    Makespan(f64),
    /// Each task's fate, by [`Question::labels`]; `None` in the truth for a task not over
    /// when the step was.
    Outcomes(Vec<Option<Fate>>),
    /// Whether each task's `cancel()` succeeds, by [`Question::labels`].
    Cancelled(Vec<Option<bool>>),
}

/// An answer against the truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The whole answer was right.
    pub right: bool,
    /// What happened.
    pub truth: Answer,
    /// What happened and how the answer compares, in a sentence.
    pub detail: String,
}

/// A predicted makespan is right within this share of the measured one ...
pub const MAKESPAN_WITHIN: f64 = 0.25;
/// ... or within this many seconds, for short steps.
pub const MAKESPAN_WITHIN_S: f64 = 0.1;

/// The question asked before `steps[index]`, given the steps before it: its own `predict`,
/// or with `quiz` the default for its op. `Err` says why the question cannot be asked (the
/// tasks are not known in advance).
pub fn question(
    steps: &[Step],
    index: usize,
    kind: Predict,
    tasks: &std::collections::BTreeMap<String, TaskTemplate>,
) -> Result<Question, String> {
    let step = &steps[index];
    let (labels, members) =
        if kind == Predict::Makespan { (Vec::new(), Members::Steps(vec![index])) } else { about(steps, index, tasks)? };
    let ties = matches!(step.op, Op::AsCompleted { .. } | Op::Imap { ordered: false, .. });
    let mut templates: Vec<String> = sources(steps, index).unwrap_or_default().into_iter().map(|(t, _)| t).collect();
    templates.dedup();
    Ok(Question { step: index, kind, python: step.python.clone(), labels, members, ties, templates })
}

/// The questions of a lesson: at each step with a `predict`, and with `quiz` at every step
/// where one makes sense and its tasks are known in advance.
pub fn questions(scenario: &super::Scenario, quiz: bool) -> Vec<Question> {
    let (steps, tasks) = (&scenario.steps, &scenario.tasks);
    let mut asked = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let kind = step
            .predict
            .or_else(|| quiz.then(|| Predict::default_for(&step.op, may_fail(steps, index, tasks))).flatten());
        if let Some(kind) = kind
            && let Ok(question) = question(steps, index, kind, tasks)
            && (kind == Predict::Makespan || !question.labels.is_empty())
        {
            asked.push(question);
        }
    }
    asked
}

/// Whether a task the step works on could fail: its work raises or crashes.
fn may_fail(steps: &[Step], index: usize, tasks: &std::collections::BTreeMap<String, TaskTemplate>) -> bool {
    let templates = sources(steps, index).unwrap_or_default();
    templates.iter().any(|(name, _)| {
        tasks.get(name).is_some_and(|t| matches!(t.work, crate::pool::Work::Fail { .. } | crate::pool::Work::Crash))
    })
}

/// The tasks a step works on: the labels, in submission order, and where the run keeps them.
fn about(
    steps: &[Step],
    index: usize,
    tasks: &std::collections::BTreeMap<String, TaskTemplate>,
) -> Result<(Vec<String>, Members), String> {
    let sources = sources(steps, index)?;
    let labels = sources
        .iter()
        .flat_map(|(template, count)| {
            let label = tasks.get(template).map_or_else(|| template.clone(), |t| t.label.clone());
            (0..*count).map(move |i| label.replace("{i}", &i.to_string()))
        })
        .collect();
    let members = match &steps[index].op {
        Op::AsCompleted { of: Batch::All, .. }
        | Op::Results { of: Batch::All, .. }
        | Op::Exceptions { of: Batch::All, .. }
        | Op::Cancel { of: Batch::All } => Members::Before(index),
        Op::AsCompleted { of: Batch::Named(name), .. }
        | Op::Results { of: Batch::Named(name), .. }
        | Op::Exceptions { of: Batch::Named(name), .. }
        | Op::Cancel { of: Batch::Named(name) } => {
            Members::Steps(steps[..index].iter().filter(|s| into(&s.op) == Some(name)).map(|s| s.index).collect())
        }
        _ => Members::Steps(vec![index]),
    };
    Ok((labels, members))
}

/// The templates and counts of the tasks a step works on, in submission order.
fn sources(steps: &[Step], index: usize) -> Result<Vec<(String, usize)>, String> {
    let submitted = |s: &Step| -> Result<Option<(String, usize)>, String> {
        match &s.op {
            Op::Submit { task, count, .. } | Op::Map { task, count, .. } | Op::Imap { task, count, .. } => {
                Ok(Some((task.clone(), *count)))
            }
            Op::Arrive { task, limit: super::arrival::ArrivalLimit::Count(count), .. } => {
                Ok(Some((task.clone(), *count)))
            }
            Op::Arrive { .. } => {
                Err(format!("step[{}] submits tasks for a duration, so how many is not known before the run", s.index))
            }
            _ => Ok(None),
        }
    };
    let feeding: Vec<&Step> = match &steps[index].op {
        Op::AsCompleted { of, .. } | Op::Results { of, .. } | Op::Exceptions { of, .. } | Op::Cancel { of } => match of
        {
            Batch::All => steps[..index].iter().collect(),
            Batch::Named(name) => steps[..index].iter().filter(|s| into(&s.op) == Some(name)).collect(),
        },
        _ => vec![&steps[index]],
    };
    let mut sources = Vec::new();
    for step in feeding {
        if let Some(source) = submitted(step)? {
            sources.push(source);
        }
    }
    Ok(sources)
}

fn into(op: &Op) -> Option<&String> {
    match op {
        Op::Submit { into, .. } | Op::Map { into, .. } | Op::Arrive { into, .. } => into.as_ref(),
        _ => None,
    }
}

impl Question {
    /// The tasks asked about, as the run has them, paired with [`Question::labels`] by label
    /// in submission order (a task the run did not submit, such as a refused one, is `None`).
    fn tasks<'m>(&self, model: &'m Model) -> Vec<Option<&'m TaskRecord>> {
        let mut pool: Vec<&TaskRecord> = model.tasks.iter().filter(|t| self.members.holds(t)).collect();
        self.labels
            .iter()
            .map(|label| {
                let at = pool.iter().position(|t| &t.label == label)?;
                Some(pool.remove(at))
            })
            .collect()
    }

    /// What happened, read from the run when the step is over: `end_us` is when the next
    /// step began (or the run ended).
    pub fn truth(&self, model: &Model, end_us: u64) -> Answer {
        match self.kind {
            Predict::Order => Answer::Order(self.came(model).into_iter().map(|(label, _)| label).collect()),
            Predict::Makespan => {
                let began = model.steps.iter().find(|s| s.index == self.step).map_or(end_us, |s| s.at_us);
                Answer::Makespan(end_us.saturating_sub(began) as f64 / 1e6 * model.speed.max(f64::MIN_POSITIVE))
            }
            Predict::Outcomes => Answer::Outcomes(self.tasks(model).into_iter().map(|t| t.and_then(fate)).collect()),
            Predict::Cancelled => Answer::Cancelled(
                self.tasks(model).into_iter().map(|t| t.map(|t| t.state == TaskState::Cancelled)).collect(),
            ),
        }
    }

    /// Scores `answer` against what happened.
    pub fn score(&self, answer: &Answer, model: &Model, end_us: u64) -> Verdict {
        let truth = self.truth(model, end_us);
        let (right, detail) = match (answer, &truth) {
            (Answer::Order(said), Answer::Order(_)) => self.order_verdict(said, &self.came(model)),
            (Answer::Makespan(said), Answer::Makespan(took)) => {
                let right = (said - took).abs() <= (took * MAKESPAN_WITHIN).max(MAKESPAN_WITHIN_S);
                let verdict = if right { "right" } else { "off" };
                (right, format!("it took {took:.2} s; you said {said:.2} s: {verdict}"))
            }
            (Answer::Outcomes(said), Answer::Outcomes(was)) => {
                let words = |f: &Option<Fate>| f.map_or("not over", Fate::as_str);
                let marked = marks(said, was);
                let text = self.labels.iter().zip(was).map(|(l, f)| format!("{l} {}", words(f))).collect::<Vec<_>>();
                (
                    marked.0 == marked.1 && marked.1 > 0,
                    format!("{}: {} of {} marked right", text.join(", "), marked.0, marked.1),
                )
            }
            (Answer::Cancelled(said), Answer::Cancelled(was)) => {
                let marked = marks(said, was);
                let word = |c: &Option<bool>| match c {
                    Some(true) => "True",
                    Some(false) => "False",
                    None => "?",
                };
                let text = self.labels.iter().zip(was).map(|(l, c)| format!("{l} {}", word(c))).collect::<Vec<_>>();
                (
                    marked.0 == marked.1 && marked.1 > 0,
                    format!("cancel() returned {}: {} of {} marked right", text.join(", "), marked.0, marked.1),
                )
            }
            _ => (false, "the answer does not fit the question".to_string()),
        };
        Verdict { right, truth, detail }
    }
}

impl Question {
    /// The results of the step, in the order they reached the main program, with when.
    fn came(&self, model: &Model) -> Vec<(String, u64)> {
        model
            .received
            .iter()
            .filter(|r| r.step == Some(self.step))
            .filter_map(|r| Some((model.task(r.task?)?.label.clone(), r.at_us)))
            .collect()
    }

    /// An order against the one the results came in: right when each place holds a task of
    /// the results that came there together (exactly that one, unless [`Question::ties`]).
    fn order_verdict(&self, said: &[String], came: &[(String, u64)]) -> (bool, String) {
        if came.is_empty() {
            return (false, "no result reached the main program in this step".to_string());
        }
        // Groups of places whose results came together.
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, (_, at)) in came.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if self.ties && at.saturating_sub(came[g.end - 1].1) < TIE_US => g.end = i + 1,
                _ => groups.push(i..i + 1),
            }
        }
        let mut in_place = 0;
        let mut right = said.len() >= came.len();
        for g in &groups {
            let mut want: Vec<&String> = came[g.clone()].iter().map(|(l, _)| l).collect();
            let mut got: Vec<&String> = said.get(g.clone()).map(|s| s.iter().collect()).unwrap_or_default();
            for label in &got {
                if want.contains(label) {
                    in_place += 1;
                }
            }
            want.sort();
            got.sort();
            right &= want == got;
        }
        let words: Vec<String> = groups
            .iter()
            .map(|g| {
                let names: Vec<&str> = came[g.clone()].iter().map(|(l, _)| l.as_str()).collect();
                if names.len() > 1 { format!("{} together", names.join(" & ")) } else { names[0].to_string() }
            })
            .collect();
        let came_text = words.join(if self.ties { ", then " } else { ", " });
        let mut detail = if right {
            format!("right: {came_text}")
        } else {
            format!("they came {came_text}: {in_place} of {} in the place you gave", came.len())
        };
        if came.len() < self.labels.len() {
            detail.push_str(&format!(" (only {} of {} reached it in this step)", came.len(), self.labels.len()));
        }
        (right, detail)
    }
}

/// Right marks and marks that count (the truth is known), comparing `Some` answers.
fn marks<T: PartialEq>(said: &[Option<T>], was: &[Option<T>]) -> (usize, usize) {
    let known: Vec<_> = said.iter().zip(was).filter(|(_, w)| w.is_some()).collect();
    (known.iter().filter(|(s, w)| s == w).count(), known.len())
}

/// A task's fate from its record: `None` while it has not ended.
fn fate(task: &TaskRecord) -> Option<Fate> {
    match task.state {
        TaskState::Done => Some(Fate::Succeeds),
        TaskState::Failed | TaskState::Crashed => Some(Fate::Fails),
        // A task its broken pool abandoned while it ran failed; one still queued never ran.
        TaskState::Abandoned if task.started_us.is_some() => Some(Fate::Fails),
        TaskState::Cancelled | TaskState::Abandoned => Some(Fate::NeverRuns),
        TaskState::Pending | TaskState::Running => None,
    }
}
