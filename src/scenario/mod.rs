//! Scenarios: lessons written as small TOML programs (SPEC §2), checked with located errors,
//! and run against a real pool by [`runner`].
//!
//! ```
//! let scenario = poolscope::scenario::parse(r#"
//!     title = "Two jobs"
//!     [pool]
//!     workers = 2
//!     [tasks.job]
//!     work = "sleep"
//!     duration = "10ms"
//!     [[step]]
//!     op = "submit"
//!     task = "job"
//!     count = 2
//! "#, "two.toml", "two").unwrap();
//! assert_eq!(scenario.steps[0].python, "futures += [pool.submit(job, i) for i in range(2)]");
//!
//! let error = poolscope::scenario::parse("title = 3", "bad.toml", "bad").unwrap_err();
//! assert!(error.to_string().starts_with("bad.toml:1:9: `title`: wrong type"));
//! ```

pub mod arrival;
mod builtin;
pub mod clock;
pub mod cpython;
pub mod duration;
mod error;
pub mod feed;
mod future_list;
mod model;
mod pool_override;
pub mod predict;
pub mod python;
mod raw;
pub mod runner;
pub mod script;
mod stream;
pub mod sweep;
mod validate;

use std::path::Path;

pub use builtin::{BUILTIN, CLUSTER, builtin_names, cluster_names};
pub use duration::DurationSpec;
pub use error::{ScenarioError, ScenarioErrors};
pub use model::{
    Api, Batch, DaskCluster, Dialect, MAX_COUNT, MAX_WORKERS, Op, OpName, PoolConfig, Scenario, Step, TaskTemplate,
    WorkerCount, WorkerDeath, scale,
};
pub use pool_override::{EngineChoice, PoolOverride, SideOverride};
pub use runner::{Engine, ResizeRefused, Run, RunError, RunOptions, TimeMode};
pub use stream::{EventSender, EventStream, Events, event_stream};
pub use sweep::{Sweep, SweepPoint, measure_unless};
pub use validate::parse;

/// Why a scenario could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(String, std::io::Error),
    /// Neither a file nor a built-in lesson.
    Unknown(String),
    /// The file is malformed.
    Invalid(ScenarioErrors),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(path, e) => write!(f, "{path}: cannot read the scenario: {e}"),
            LoadError::Unknown(name) => write!(
                f,
                "{name:?} is neither a scenario file nor a built-in lesson; expected a path or one of: {}",
                builtin_names().chain(cluster_names()).collect::<Vec<_>>().join(", ")
            ),
            LoadError::Invalid(errors) => write!(f, "{errors}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Loads a scenario from a path, or a built-in lesson by name (`map-ordering`).
///
/// # Errors
/// An unreadable file, an unknown name, or every error in a malformed file.
pub fn load(path_or_name: &str) -> Result<Scenario, LoadError> {
    let path = Path::new(path_or_name);
    let looks_like_path = path.exists() || path_or_name.contains('/') || path_or_name.ends_with(".toml");
    if looks_like_path {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Io(path_or_name.to_string(), e))?;
        let name = path.file_stem().map_or_else(|| path_or_name.to_string(), |s| s.to_string_lossy().into_owned());
        return parse(&text, path_or_name, &name).map_err(LoadError::Invalid);
    }
    match BUILTIN.iter().chain(CLUSTER).find(|(name, _)| *name == path_or_name) {
        Some((name, text)) => parse(text, &format!("scenarios/{name}.toml"), name).map_err(LoadError::Invalid),
        None => Err(LoadError::Unknown(path_or_name.to_string())),
    }
}
