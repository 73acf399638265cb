//! What a run did: the [`TraceEvent`] stream (the pool's probe events and the runner's own on
//! one clock), the [`Model`] folded from it, and what is made of it — the headless
//! [`Transcript`], the [`Summary`] table (with latency [`Percentiles`] and the [`Queueing`]
//! laws), the JSON Lines event log ([`JsonlWriter`]).
//!
//! ```
//! use poolscope::trace::{Model, Summary, TraceEvent, TraceKind};
//!
//! let mut model = Model::new();
//! for line in [
//!     r#"{"t":0,"ev":"worker_up","worker":0,"pid":7}"#,
//!     r#"{"t":0,"ev":"submit","task":0,"label":"job0"}"#,
//!     r#"{"t":10,"ev":"start","task":0,"worker":0,"pid":7}"#,
//!     r#"{"t":1010,"ev":"finish","task":0,"worker":0,"outcome":"ok"}"#,
//!     r#"{"t":2000,"ev":"end","makespan_us":2000}"#,
//! ] {
//!     model.apply(&serde_json::from_str::<TraceEvent>(line).unwrap());
//! }
//! let summary = Summary::of(&model);
//! assert_eq!(summary.serial_us, 1000);
//! assert_eq!(summary.utilisation, 0.5);
//! ```

mod chrome;
mod event;
mod gil;
mod jsonl;
mod latency;
mod model;
pub mod observe;
mod queueing;
mod summary;
mod transcript;

pub use chrome::ChromeTrace;
pub use event::{EngineChoice, PolledFuture, ResultOutcome, TraceEvent, TraceKind};
pub use gil::{GilLedger, GilSpan, GilUse};
pub use jsonl::{JsonlWriter, parse_jsonl};
pub use latency::{Latency, Percentiles, SIGNIFICANT_DIGITS};
pub use model::{
    LANE_PIDS_KEPT, LANE_RAN_WINDOW, Lane, Model, RECEIVED_WINDOW, Received, StepRecord, TASK_WINDOW, TaskRecord,
    TaskState, TaskTimes, TaskTotals,
};
pub use queueing::{Arrivals, BATCH_SHARE, BURSTY_CV, Caveat, Queueing, REGULAR_CV};
pub use summary::{Summary, TimeSplit, human_us, percentile_us, percentiles_text};
pub use transcript::{LINES_PER_STEP, Transcript, clock, wrap};

// The pool's own enums that trace events carry: a reader of the trace finds them here too.
pub use crate::pool::{DownReason, GilChange, Outcome, Phase, PoolKind};
