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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::super::{ProgramOptions, program};
    use crate::scenario::arrival::{ArrivalLimit, gaps};
    use crate::scenario::duration::python_seconds;
    use crate::scenario::{self, PoolOverride};

    /// A lesson of 12 arrivals at 10 a second, of a ranged template, on `pool`.
    fn lesson(pool: &str) -> scenario::Scenario {
        let source = format!(
            "title = \"t\"\nseed = 9\n[pool]\n{pool}\n[tasks.job]\nwork = \"sleep\"\nduration = \"10ms..30ms\"\n\
             [[step]]\nop = \"arrive\"\ntask = \"job\"\nrate = 10\ncount = 12\ninto = \"reqs\"\n\
             [[step]]\nop = \"results\"\nof = \"reqs\"\n"
        );
        scenario::parse(&source, "arrive.toml", "arrive").unwrap()
    }

    #[test]
    fn the_gaps_are_listed_as_drawn_then_each_is_slept_before_its_submit() {
        let text = program(&lesson("kind = \"thread\"\nworkers = 2"), ProgramOptions::default()).text();
        let mut rng = StdRng::seed_from_u64(9);
        let drawn: Vec<String> =
            gaps(10.0, ArrivalLimit::Count(12), 100, &mut rng).into_iter().map(python_seconds).collect();
        // Ten a line, the list wrapped.
        let listed = format!(
            "gaps = [\n            {},\n            {},\n        ]",
            drawn[..10].join(", "),
            drawn[10..].join(", ")
        );
        assert!(text.contains(&listed), "{listed}\n{text}");
        // The durations are drawn after the gaps, as a run draws them.
        assert!(text.contains("seconds = ["), "{text}");
        assert!(
            text.contains(
                "for i, gap in enumerate(gaps):\n            time.sleep(gap)\n            reqs.append(pool.submit(job, i, seconds[i]))"
            ),
            "{text}"
        );
        let fast = program(&lesson("kind = \"thread\"\nworkers = 2"), ProgramOptions { speed: 2.0, seed: None }).text();
        let mut rng = StdRng::seed_from_u64(9);
        let first = gaps(10.0, ArrivalLimit::Count(1), 1, &mut rng)[0];
        assert!(fast.contains(&format!("gaps = [\n            {},", python_seconds(first / 2))), "{fast}");
        assert!(fast.contains("20 a second on average"), "{fast}");
        let other = program(&lesson("kind = \"thread\"\nworkers = 2"), ProgramOptions { speed: 1.0, seed: Some(10) });
        assert_ne!(other.text(), text, "another seed, other gaps");
    }

    #[test]
    fn every_dialect_sleeps_and_submits_in_its_own_words() {
        let pool = lesson("kind = \"process\"\nworkers = 2\napi = \"multiprocessing\"");
        let text = program(&pool, ProgramOptions::default()).text();
        assert!(text.contains("    time.sleep(gap)\n"), "{text}");
        assert!(text.contains("reqs.append(pool.apply_async(job, (i, seconds[i],)))"), "{text}");
        let coroutines = "kind=coroutine".parse::<PoolOverride>().unwrap().apply(&lesson("kind = \"thread\"")).unwrap();
        let text = program(&coroutines, ProgramOptions::default()).text();
        assert!(text.contains("    await asyncio.sleep(gap)\n"), "{text}");
        assert!(
            text.contains("futures.append(f)") && text.contains("f = asyncio.create_task(job(i, seconds[i]))"),
            "{text}"
        );
    }
}
