//! The scenario file as written: serde structs with spans, checked by `validate`.

use std::collections::BTreeMap;
use std::fmt;

use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ScenarioError, Source};

/// The whole file. Each part is read on its own, so one bad part does not hide the others:
/// a task or step that could not be read is `None` (its error is already reported).
#[derive(Debug)]
pub(crate) struct RawScenario {
    pub(crate) title: String,
    /// Where the title is in the file.
    pub(crate) title_at: Option<std::ops::Range<usize>>,
    pub(crate) summary: Option<Spanned<String>>,
    pub(crate) seed: Option<Spanned<i64>>,
    pub(crate) pool: Option<RawPool>,
    /// `[queues]`: how each named queue is made (`"manager"` or `"plain"`).
    pub(crate) queues: BTreeMap<String, Spanned<String>>,
    pub(crate) tasks: BTreeMap<String, Option<RawTask>>,
    pub(crate) step: Vec<Option<RawStep>>,
}

/// The top-level keys of a scenario, as `unknown field` errors list them.
pub(crate) const TOP_FIELDS: &[&str] = &["title", "summary", "seed", "pool", "queues", "tasks", "step"];

/// The top-level scalars.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    title: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
}

/// Reads a scenario file, collecting every type error, unknown field and missing field.
///
/// # Errors
/// Text that is not TOML at all: one error, where the parser stopped.
pub(crate) fn read(source: Source<'_>) -> Result<(RawScenario, Vec<ScenarioError>), ScenarioError> {
    let root = DeTable::parse(source.text).map_err(|e| source.toml_error(&e))?;
    let root_span = root.span();
    let mut reader = Reader { source, errors: Vec::new() };
    let mut scenario = RawScenario {
        title: String::new(),
        title_at: None,
        summary: None,
        seed: None,
        pool: None,
        queues: BTreeMap::new(),
        tasks: BTreeMap::new(),
        step: Vec::new(),
    };
    let mut head = DeTable::new();
    let title_given = root.get_ref().iter().any(|(key, _)| key.get_ref() == "title");
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "title" | "summary" | "seed" => {
                head.insert(key, value);
            }
            "pool" => scenario.pool = reader.table(value, "a table like [pool]"),
            "queues" => scenario.queues = reader.table(value, "a table like [queues]").unwrap_or_default(),
            "tasks" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Table(tasks) => {
                        for (name, task) in tasks {
                            let template = reader.table(task, "a table like [tasks.job]");
                            scenario.tasks.insert(name.into_inner().into_owned(), template);
                        }
                    }
                    other => reader.wrong_type(span, &other, "task templates like [tasks.job]"),
                }
            }
            "step" => {
                let span = value.span();
                match value.into_inner() {
                    DeValue::Array(steps) => {
                        for step in steps {
                            scenario.step.push(reader.table(step, "a [[step]] table"));
                        }
                    }
                    other => reader.wrong_type(span, &other, "[[step]] tables"),
                }
            }
            other => {
                let expected: Vec<String> = TOP_FIELDS.iter().map(|f| format!("`{f}`")).collect();
                let message = format!("unknown field `{other}`, expected one of {}", expected.join(", "));
                reader.errors.push(source.error(Some(key.span()), other, message));
            }
        }
    }
    let head: RawHead = reader.table(Spanned::new(root_span, DeValue::Table(head)), "a scenario").unwrap_or_default();
    match head.title {
        Some(title) => {
            scenario.title_at = Some(title.span());
            scenario.title = title.into_inner();
        }
        // A title of the wrong type is reported already.
        None if title_given => {}
        None => reader.errors.push(source.error(None, "title", "missing field `title`; it is required")),
    }
    scenario.summary = head.summary;
    scenario.seed = head.seed;
    Ok((scenario, reader.errors))
}

struct Reader<'a> {
    source: Source<'a>,
    errors: Vec<ScenarioError>,
}

impl Reader<'_> {
    fn wrong_type(&mut self, span: Range<usize>, value: &DeValue<'_>, expected: &str) {
        let field = self.source.field_at(span.start);
        let message = format!("wrong type: {}, expected {expected}", value.type_str());
        self.errors.push(self.source.error(Some(span), field, message));
    }

    /// One table as a `T`. An entry that fails (wrong type, unknown field) is reported and
    /// left out, and the rest is read again, so every bad entry is reported; a missing
    /// required field makes the whole table `None`.
    fn table<T: for<'de> Deserialize<'de>>(&mut self, value: Spanned<DeValue<'_>>, expected: &str) -> Option<T> {
        let span = value.span();
        let mut entries = match value.into_inner() {
            DeValue::Table(table) => table,
            other => {
                self.wrong_type(span, &other, expected);
                return None;
            }
        };
        loop {
            let whole = Spanned::new(span.clone(), DeValue::Table(entries.clone()));
            let error = match T::deserialize(ValueDeserializer::from(whole)) {
                Ok(read) => return Some(read),
                Err(error) => error,
            };
            self.errors.push(self.source.toml_error(&error));
            let at = error.span()?;
            let before = entries.len();
            entries = entries
                .into_iter()
                .filter(|(key, value)| !(key.span().start <= at.start && at.end <= value.span().end))
                .collect();
            if entries.len() == before {
                return None;
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) workers: Option<Spanned<RawWorkers>>,
    pub(crate) api: Option<Spanned<String>>,
    pub(crate) gil: Option<Spanned<bool>>,
    pub(crate) on_worker_death: Option<Spanned<String>>,
    pub(crate) start_method: Option<Spanned<String>>,
    pub(crate) max_tasks_per_child: Option<Spanned<i64>>,
    pub(crate) main_guard: Option<Spanned<bool>>,
    pub(crate) eager: Option<bool>,
    pub(crate) thread_name_prefix: Option<Spanned<String>>,
    pub(crate) initializer: Option<Spanned<String>>,
    pub(crate) threads_per_worker: Option<Spanned<i64>>,
    pub(crate) processes: Option<Spanned<bool>>,
    pub(crate) scheduler: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    pub(crate) work: Spanned<String>,
    pub(crate) duration: Option<Spanned<RawDuration>>,
    pub(crate) label: Option<Spanned<String>>,
    pub(crate) n: Option<Spanned<i64>>,
    pub(crate) message: Option<Spanned<String>>,
    pub(crate) queue: Option<Spanned<String>>,
    pub(crate) item: Option<Spanned<String>>,
    pub(crate) counter: Option<Spanned<String>>,
    pub(crate) lock: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) op: Spanned<String>,
    pub(crate) task: Option<Spanned<String>>,
    pub(crate) count: Option<Spanned<i64>>,
    pub(crate) rate: Option<Spanned<RawRate>>,
    pub(crate) sync: Option<Spanned<bool>>,
    pub(crate) callback: Option<Spanned<bool>>,
    pub(crate) into: Option<Spanned<String>>,
    pub(crate) of: Option<Spanned<String>>,
    pub(crate) note: Option<Spanned<String>>,
    pub(crate) text: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<RawDuration>>,
    pub(crate) return_when: Option<Spanned<String>>,
    pub(crate) chunksize: Option<Spanned<i64>>,
    pub(crate) duration: Option<Spanned<RawDuration>>,
    pub(crate) wait: Option<Spanned<bool>>,
    pub(crate) cancel_futures: Option<Spanned<bool>>,
    pub(crate) raises: Option<Spanned<bool>>,
    pub(crate) workers: Option<Spanned<RawWorkers>>,
    pub(crate) counter: Option<Spanned<String>>,
    pub(crate) python: Option<Spanned<String>>,
    pub(crate) predict: Option<Spanned<String>>,
}

/// `workers = 4`, `"cpus"` or `"cpus+4"`.
#[derive(Debug)]
pub(crate) enum RawWorkers {
    Count(i64),
    Named(String),
}

impl<'de> Deserialize<'de> for RawWorkers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawWorkers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a worker count: a positive integer, \"cpus\" or \"cpus+4\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawWorkers, E> {
                Ok(RawWorkers::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawWorkers, E> {
                Ok(RawWorkers::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawWorkers, E> {
                Ok(RawWorkers::Named(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `rate = 20` or `2.5`: arrivals a second.
#[derive(Debug)]
pub(crate) struct RawRate(pub(crate) f64);

impl<'de> Deserialize<'de> for RawRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawRate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of arrivals a second, like 20 or 2.5")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawRate, E> {
                Ok(RawRate(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawRate, E> {
                Ok(RawRate(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawRate, E> {
                Ok(RawRate(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `duration = "1s"`, `"1s..3s"` or `["3s", "1s"]`.
#[derive(Debug)]
pub(crate) enum RawDuration {
    One(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration string like \"500ms\", a range like \"1s..3s\", or a list like [\"3s\", \"1s\"]",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawDuration, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    list.push(item);
                }
                Ok(RawDuration::List(list))
            }
        }
        deserializer.deserialize_any(V)
    }
}
