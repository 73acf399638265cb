//! An `arrive` step as Python: the drawn gaps as a literal list, then one sleep and one
//! submit per gap — the arrivals poolscope makes, at the same times.

use super::super::super::arrival::{ArrivalLimit, gaps};
use super::super::super::model::{Dialect, MAX_COUNT};
use super::{Writer, indent};

/// Gaps a line of the written list holds.
const GAPS_PER_LINE: usize = 10;

impl Writer<'_> {
    /// Draws the gaps, then the tasks' durations, in the order a run draws them.
    pub(super) fn arrive(&mut self, task: &str, rate: f64, limit: ArrivalLimit, into: Option<&str>) -> String {
        let gaps = gaps(rate, limit, MAX_COUNT, &mut self.rng);
        let seconds = self.draw(task, gaps.len());
        let written: Vec<String> = gaps.iter().map(|g| self.seconds(*g)).collect();
        let how_long = match limit {
            ArrivalLimit::Count(n) => format!("{n} arrivals"),
            ArrivalLimit::Duration(d) => format!("the arrivals within {} s", self.seconds(d)),
        };
        // What the program's own clock sees: the lesson's rate, sped up as its durations are.
        let rate = rate * self.speed;
        let mut out = format!(
            "# {how_long}, {rate} a second on average (a Poisson process): the gap in seconds\n\
             # before each, drawn with seed {} as poolscope draws them\n",
            self.seed
        );
        if written.len() <= GAPS_PER_LINE {
            out.push_str(&format!("gaps = [{}]\n", written.join(", ")));
        } else {
            out.push_str("gaps = [\n");
            for line in written.chunks(GAPS_PER_LINE) {
                out.push_str(&format!("    {},\n", line.join(", ")));
            }
            out.push_str("]\n");
        }
        let ranged = seconds.is_some();
        if let Some(list) = seconds {
            out.push_str(&list);
            out.push('\n');
        }
        let call = self.call(task, "i", ranged);
        let sleep = match self.dialect {
            Dialect::Asyncio => "await asyncio.sleep(gap)",
            Dialect::Executor | Dialect::MultiprocessingPool => "time.sleep(gap)",
        };
        let mut body = vec![sleep.to_string()];
        match (into.map(|n| self.list(n)), self.keep_all) {
            (Some(name), true) => {
                body.push(format!("f = {call}"));
                body.push(format!("{name}.append(f)"));
                body.push("futures.append(f)".into());
            }
            (Some(name), false) => body.push(format!("{name}.append({call})")),
            (None, true) => body.push(format!("futures.append({call})")),
            (None, false) => body.push(call),
        }
        out.push_str(&format!("for i, gap in enumerate(gaps):\n{}", indent(&body.join("\n"), 4)));
        out
    }
}
