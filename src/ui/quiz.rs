//! Predict mode in the live view: the questions of a lesson, the prompt that asks one just
//! before its step is shown, the verdict once the step is over, and the score.
//!
//! The picture stops before a step with a question (pausing it holds the simulated clock; on
//! real time the pool goes on and its events wait), the learner answers, the step is shown,
//! and when the picture reaches the next step (or the end) the answer is scored against what
//! the run did, with the step's note as the explanation. Asking changes nothing in the run.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};
use serde::Serialize;

use crate::scenario::Scenario;
use crate::scenario::predict::{self, Answer, Fate, Predict, Question, Verdict};
use crate::trace::{Model, TraceEvent, TraceKind};

/// Where the live view asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ask {
    /// At the steps with a `predict` (the default).
    #[default]
    Predicts,
    /// `--quiz`: at every step where a prediction makes sense.
    EveryStep,
    /// `--no-predict`: nowhere (a demo, a recording in a terminal).
    Never,
}

/// How the live view asks, and where it keeps the answers.
#[derive(Clone, Debug, Default)]
pub struct QuizOptions {
    /// Where questions are asked.
    pub ask: Ask,
    /// `--answers FILE.json`: keep the answers and the truth there.
    pub answers: Option<PathBuf>,
}

/// One question and what became of it.
#[derive(Clone, Debug)]
pub struct Asked {
    /// The question.
    pub question: Question,
    /// The step's note: the explanation after the verdict.
    pub note: Option<String>,
    /// The learner's answer (`None`: skipped or not asked yet).
    pub answer: Option<Answer>,
    /// Set when asked.
    pub asked: bool,
    /// The score, once the step is over.
    pub verdict: Option<Verdict>,
}

/// What the learner is filling in.
#[derive(Clone, Debug, PartialEq)]
pub enum Draft {
    /// Labels in the order given so far.
    Order {
        /// The labels.
        labels: Vec<String>,
        /// The arrows move the label under the cursor (else they move the cursor).
        grabbed: bool,
    },
    /// The number typed.
    Makespan(String),
    /// A fate per task.
    Outcomes(Vec<Fate>),
    /// Whether each cancel() succeeds.
    Cancelled(Vec<bool>),
}

/// What the prompt shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// A question being answered.
    Ask {
        /// Its index in [`Quiz::asked`].
        question: usize,
        /// The answer so far.
        draft: Draft,
        /// The row the arrows are on.
        cursor: usize,
    },
    /// A verdict.
    Verdict {
        /// The index of its question in [`Quiz::asked`].
        question: usize,
    },
}

/// A lesson's questions in the live view.
#[derive(Clone, Debug)]
pub struct Quiz {
    /// Every question, in step order.
    pub asked: Vec<Asked>,
    /// The prompt open now, if any.
    pub prompt: Option<Prompt>,
    /// The lesson, for the answers file.
    lesson: String,
    seed: u64,
    answers: Option<PathBuf>,
}

/// What a key did to the prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keyed {
    /// The prompt is still open.
    Open,
    /// It closed: the picture goes on.
    Closed,
    /// A message to flash (the prompt stays open).
    Say(&'static str),
}

impl Quiz {
    /// The questions of `scenario` (`None` when there are none).
    pub fn new(scenario: &Scenario, options: &QuizOptions) -> Option<Quiz> {
        if options.ask == Ask::Never {
            return None;
        }
        let questions = predict::questions(scenario, options.ask == Ask::EveryStep);
        if questions.is_empty() {
            return None;
        }
        let asked = questions
            .into_iter()
            .map(|question| {
                let note = scenario.steps.get(question.step).and_then(|s| s.note.clone());
                Asked { question, note, answer: None, asked: false, verdict: None }
            })
            .collect();
        Some(Quiz {
            asked,
            prompt: None,
            lesson: scenario.name.clone(),
            seed: scenario.seed,
            answers: options.answers.clone(),
        })
    }

    /// Before the picture shows `event`: scores an answer whose step is over, or asks the
    /// question of the step `event` begins. True if a prompt opened (the picture stops).
    pub fn stops_before(&mut self, event: &TraceEvent, model: &Model) -> bool {
        if self.prompt.is_some() {
            return true;
        }
        let begins = match &event.kind {
            TraceKind::Step { index, .. } => Some(*index),
            TraceKind::End { .. } => None,
            _ => return false,
        };
        // A step is over when a later one begins, or the run ends.
        let over = self
            .asked
            .iter()
            .position(|a| a.answer.is_some() && a.verdict.is_none() && begins.is_none_or(|b| b > a.question.step));
        if let Some(k) = over {
            let answer = self.asked[k].answer.clone().expect("answered");
            self.asked[k].verdict = Some(self.asked[k].question.score(&answer, model, event.t));
            self.prompt = Some(Prompt::Verdict { question: k });
            return true;
        }
        let Some(step) = begins else { return false };
        let Some(k) = self.asked.iter().position(|a| a.question.step == step && !a.asked) else { return false };
        self.asked[k].asked = true;
        let q = &self.asked[k].question;
        let draft = match q.kind {
            Predict::Order => Draft::Order { labels: q.labels.clone(), grabbed: false },
            Predict::Makespan => Draft::Makespan(String::new()),
            Predict::Outcomes => Draft::Outcomes(vec![Fate::Succeeds; q.labels.len()]),
            Predict::Cancelled => Draft::Cancelled(vec![false; q.labels.len()]),
        };
        self.prompt = Some(Prompt::Ask { question: k, draft, cursor: 0 });
        true
    }

    /// A key while the prompt is open.
    pub fn key(&mut self, key: KeyEvent) -> Keyed {
        let Some(prompt) = self.prompt.as_mut() else { return Keyed::Closed };
        let Prompt::Ask { question, draft, cursor } = prompt else {
            // The verdict: any of these goes on.
            return match key.code {
                KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ') => {
                    self.prompt = None;
                    Keyed::Closed
                }
                _ => Keyed::Say("enter goes on"),
            };
        };
        let k = *question;
        let rows = match draft {
            Draft::Order { labels, .. } => labels.len(),
            Draft::Outcomes(f) => f.len(),
            Draft::Cancelled(c) => c.len(),
            Draft::Makespan(_) => 0,
        };
        match (key.code, draft) {
            (KeyCode::Esc, _) => {
                self.prompt = None;
                return Keyed::Closed;
            }
            (KeyCode::Enter, Draft::Makespan(text)) => match text.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => self.asked[k].answer = Some(Answer::Makespan(s)),
                _ => return Keyed::Say("type the seconds, like 1.5"),
            },
            (KeyCode::Enter, Draft::Order { labels, .. }) => self.asked[k].answer = Some(Answer::Order(labels.clone())),
            (KeyCode::Enter, Draft::Outcomes(f)) => {
                self.asked[k].answer = Some(Answer::Outcomes(f.iter().copied().map(Some).collect()));
            }
            (KeyCode::Enter, Draft::Cancelled(c)) => {
                self.asked[k].answer = Some(Answer::Cancelled(c.iter().copied().map(Some).collect()));
            }
            (KeyCode::Char(c), Draft::Makespan(text)) if c.is_ascii_digit() || c == '.' => {
                if text.len() < 12 {
                    text.push(c);
                }
                return Keyed::Open;
            }
            (KeyCode::Backspace, Draft::Makespan(text)) => {
                text.pop();
                return Keyed::Open;
            }
            (KeyCode::Up | KeyCode::Char('k'), draft) => {
                if let Draft::Order { labels, grabbed: true } = draft
                    && *cursor > 0
                {
                    labels.swap(*cursor, *cursor - 1);
                }
                *cursor = cursor.saturating_sub(1);
                return Keyed::Open;
            }
            (KeyCode::Down | KeyCode::Char('j'), draft) => {
                if let Draft::Order { labels, grabbed: true } = draft
                    && *cursor + 1 < rows
                {
                    labels.swap(*cursor, *cursor + 1);
                }
                *cursor = (*cursor + 1).min(rows.saturating_sub(1));
                return Keyed::Open;
            }
            (KeyCode::Char(' '), Draft::Order { grabbed, .. }) => {
                *grabbed = !*grabbed;
                return Keyed::Open;
            }
            (KeyCode::Char(' '), Draft::Outcomes(f)) => {
                if let Some(f) = f.get_mut(*cursor) {
                    *f = f.next();
                }
                return Keyed::Open;
            }
            (KeyCode::Char(' '), Draft::Cancelled(c)) => {
                if let Some(c) = c.get_mut(*cursor) {
                    *c = !*c;
                }
                return Keyed::Open;
            }
            _ => return Keyed::Open,
        }
        self.prompt = None;
        Keyed::Closed
    }

    /// Questions answered right, and questions scored.
    pub fn score(&self) -> (usize, usize) {
        let scored = self.asked.iter().filter_map(|a| a.verdict.as_ref());
        let (right, all) = scored.fold((0, 0), |(r, n), v| (r + usize::from(v.right), n + 1));
        (right, all)
    }

    /// Whether any question has been scored.
    pub fn any_scored(&self) -> bool {
        self.asked.iter().any(|a| a.verdict.is_some())
    }

    /// Writes the answers and the truth to the `--answers` file, if there is one.
    pub fn save(&self, engine: &str) -> std::io::Result<()> {
        let Some(path) = &self.answers else { return Ok(()) };
        let (right, scored) = self.score();
        let file = AnswersFile {
            lesson: &self.lesson,
            seed: self.seed,
            engine,
            right,
            scored,
            questions: self
                .asked
                .iter()
                .map(|a| AnswerRecord {
                    step: a.question.step + 1,
                    predict: a.question.kind,
                    python: &a.question.python,
                    tasks: &a.question.labels,
                    asked: a.asked,
                    answer: a.answer.as_ref(),
                    truth: a.verdict.as_ref().map(|v| &v.truth),
                    right: a.verdict.as_ref().map(|v| v.right),
                    detail: a.verdict.as_ref().map(|v| v.detail.as_str()),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }
}

/// The `--answers` file: for a teacher, each question with the learner's answer and the truth.
#[derive(Serialize)]
struct AnswersFile<'a> {
    lesson: &'a str,
    seed: u64,
    engine: &'a str,
    right: usize,
    scored: usize,
    questions: Vec<AnswerRecord<'a>>,
}

#[derive(Serialize)]
struct AnswerRecord<'a> {
    /// From 1, as the screen numbers steps.
    step: usize,
    predict: Predict,
    python: &'a str,
    tasks: &'a [String],
    asked: bool,
    answer: Option<&'a Answer>,
    truth: Option<&'a Answer>,
    right: Option<bool>,
    detail: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn step(t: u64, index: usize) -> TraceEvent {
        TraceEvent { t, kind: TraceKind::Step { index, op: "op".into(), python: String::new(), note: None } }
    }

    fn quiz(lesson: &str, ask: Ask) -> Option<Quiz> {
        Quiz::new(&crate::scenario::load(lesson).unwrap(), &QuizOptions { ask, answers: None })
    }

    #[test]
    fn a_time_is_typed_and_anything_but_a_number_is_refused() {
        let mut quiz = quiz("sync-vs-async", Ask::Predicts).unwrap();
        let mut model = Model::new();
        assert!(quiz.stops_before(&step(0, 0), &model), "asked before step 1");
        for c in ['x', '1', '.', '5'] {
            assert_eq!(quiz.key(key(KeyCode::Char(c))), Keyed::Open);
        }
        assert!(matches!(&quiz.prompt, Some(Prompt::Ask { draft: Draft::Makespan(t), .. }) if t == "1.5"));
        quiz.key(key(KeyCode::Backspace));
        quiz.key(key(KeyCode::Backspace));
        quiz.key(key(KeyCode::Backspace));
        assert_eq!(quiz.key(key(KeyCode::Enter)), Keyed::Say("type the seconds, like 1.5"), "nothing typed");
        quiz.key(key(KeyCode::Char('2')));
        assert_eq!(quiz.key(key(KeyCode::Enter)), Keyed::Closed);
        assert_eq!(quiz.asked[0].answer, Some(Answer::Makespan(2.0)));
        // The same step is shown now; the verdict waits for the next one.
        assert!(!quiz.stops_before(&step(0, 0), &model));
        model.apply(&step(0, 0));
        assert!(quiz.stops_before(&step(2_000_000, 1), &model), "scored when step 2 begins");
        assert!(quiz.asked[0].verdict.as_ref().is_some_and(|v| v.right), "{:?}", quiz.asked[0].verdict);
        assert_eq!(quiz.key(key(KeyCode::Char('x'))), Keyed::Say("enter goes on"));
        assert_eq!(quiz.key(key(KeyCode::Enter)), Keyed::Closed);
        assert!(!quiz.stops_before(&step(2_000_000, 1), &model), "step 2 asks nothing");
        assert_eq!(quiz.score(), (1, 1));
    }

    #[test]
    fn space_toggles_a_cancel_and_esc_skips_unscored() {
        let mut quiz = quiz("future-states", Ask::Predicts).unwrap();
        let model = Model::new();
        let cancel = quiz.asked[0].question.step;
        assert!(!quiz.stops_before(&step(0, 0), &model), "no question before step 1");
        assert!(quiz.stops_before(&step(0, cancel), &model));
        quiz.key(key(KeyCode::Down));
        quiz.key(key(KeyCode::Down));
        quiz.key(key(KeyCode::Char(' ')));
        quiz.key(key(KeyCode::Down));
        quiz.key(key(KeyCode::Char(' ')));
        assert_eq!(quiz.key(key(KeyCode::Enter)), Keyed::Closed);
        assert_eq!(
            quiz.asked[0].answer,
            Some(Answer::Cancelled(vec![Some(false), Some(false), Some(true), Some(true)]))
        );

        let mut quiz = self::quiz("future-states", Ask::Predicts).unwrap();
        assert!(quiz.stops_before(&step(0, cancel), &model));
        assert_eq!(quiz.key(key(KeyCode::Esc)), Keyed::Closed);
        let end = TraceEvent { t: 5, kind: TraceKind::End { makespan_us: 5 } };
        assert!(!quiz.stops_before(&end, &model), "a skipped question has no verdict");
        assert_eq!(quiz.score(), (0, 0));
    }

    #[test]
    fn no_predict_asks_nothing_and_quiz_asks_more() {
        assert!(quiz("map-ordering", Ask::Never).is_none());
        assert!(quiz("pool-basics", Ask::Predicts).is_none(), "pool-basics has no predict step");
        let every = quiz("exceptions", Ask::EveryStep).unwrap();
        assert!(every.asked.iter().any(|a| a.question.kind == Predict::Outcomes), "{:?}", every.asked);
    }
}
