//! Checking an `arrive` step: a template, a positive rate, and exactly one of `count` and
//! `duration`.

use super::super::arrival::{ArrivalLimit, expected};
use super::super::model::{MAX_COUNT, Op};
use super::{Checker, StepToCheck, span};

/// The most arrivals a second a lesson may ask for: a gap under a microsecond is not drawn.
const MAX_RATE: f64 = 1e6;

impl Checker<'_> {
    pub(super) fn arrive(&mut self, step: &StepToCheck) -> Option<Op> {
        let raw = step.raw;
        let task = self.template(step);
        let rate = match &raw.rate {
            None => {
                self.error(step.op_span(), step.field("rate"), "op \"arrive\" needs rate = <arrivals a second>");
                None
            }
            Some(r) if !(r.get_ref().0.is_finite() && r.get_ref().0 > 0.0) => {
                let message =
                    format!("rate {}; expected a positive number of arrivals a second, like 20", r.get_ref().0);
                self.error(span(r), step.field("rate"), message);
                None
            }
            Some(r) if r.get_ref().0 > MAX_RATE => {
                let message =
                    format!("rate {} is too high; expected at most {MAX_RATE} arrivals a second", r.get_ref().0);
                self.error(span(r), step.field("rate"), message);
                None
            }
            Some(r) => Some(r.get_ref().0),
        };
        let limit = match (&raw.count, &raw.duration) {
            (Some(_), Some(d)) => {
                let message = "give count (how many arrive) or duration (for how long), not both";
                self.error(span(d), step.field("duration"), message);
                None
            }
            (None, None) => {
                let message = "op \"arrive\" needs count = <how many> or duration = \"<how long>\"";
                self.error(step.op_span(), step.field("count"), message);
                None
            }
            (Some(_), None) => self.count(step).map(ArrivalLimit::Count),
            (None, Some(d)) => self.single_duration(d, &step.field("duration")).map(ArrivalLimit::Duration),
        };
        let (task, rate, limit) = (task?, rate?, limit?);
        let many = expected(rate, limit);
        if many > MAX_COUNT as f64 {
            let at = raw.duration.as_ref().and_then(span);
            let message = format!(
                "rate × duration brings about {many:.0} arrivals; expected at most {MAX_COUNT} (a lower rate or a shorter duration)"
            );
            self.error(at, step.field("duration"), message);
            return None;
        }
        Some(Op::Arrive { task, rate, limit, into: raw.into.as_ref().map(|s| s.get_ref().clone()) })
    }
}
