//! The scenario file as written: serde structs with spans, checked by `validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) title: Spanned<String>,
    pub(crate) summary: Option<Spanned<String>>,
    pub(crate) seed: Option<Spanned<i64>>,
    pub(crate) pool: Option<RawPool>,
    #[serde(default)]
    pub(crate) tasks: BTreeMap<String, RawTask>,
    #[serde(default)]
    pub(crate) step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) workers: Option<Spanned<RawWorkers>>,
    pub(crate) gil: Option<Spanned<bool>>,
    pub(crate) on_worker_death: Option<Spanned<String>>,
    pub(crate) eager: Option<bool>,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) op: Spanned<String>,
    pub(crate) task: Option<Spanned<String>>,
    pub(crate) count: Option<Spanned<i64>>,
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
    pub(crate) workers: Option<Spanned<RawWorkers>>,
    pub(crate) python: Option<Spanned<String>>,
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
