//! Checking a step's `predict`: a known kind, one that fits the op, about tasks known before
//! the run.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::model::{Step, TaskTemplate};
use super::super::predict::{self, Predict};
use super::{Checker, span};

impl Checker<'_> {
    pub(super) fn predict(
        &mut self,
        raw: Option<&Spanned<String>>,
        step: &Step,
        before: &[Step],
        tasks: &BTreeMap<String, TaskTemplate>,
    ) -> Option<Predict> {
        let raw = raw?;
        let field = format!("step[{}].predict", step.index);
        let Some(kind) = Predict::named(raw.get_ref()) else {
            let names: Vec<&str> = Predict::ALL.iter().map(|p| p.as_str()).collect();
            let message = format!("unknown prediction {:?}; expected one of {}", raw.get_ref(), names.join(", "));
            self.error(span(raw), field, message);
            return None;
        };
        if let Err(why) = kind.fits(&step.op) {
            let message = format!("predict = {:?} {why}, not on {}", kind.as_str(), step.op.name());
            self.error(span(raw), field, message);
            return None;
        }
        // The question is asked before the step: its tasks must be known from the file.
        let mut steps = before.to_vec();
        steps.push(step.clone());
        let index = steps.len() - 1;
        match predict::question(&steps, index, kind, tasks) {
            Err(why) => {
                self.error(span(raw), field, format!("predict = {:?} cannot be asked: {why}", kind.as_str()));
                None
            }
            Ok(q) if kind != Predict::Makespan && q.labels.is_empty() => {
                let message = format!(
                    "predict = {:?} asks about the step's tasks, and it has none; expected a batch that earlier steps submitted into",
                    kind.as_str()
                );
                self.error(span(raw), field, message);
                None
            }
            Ok(_) => Some(kind),
        }
    }
}
