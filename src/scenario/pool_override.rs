//! [`PoolOverride`]: a lesson's `[pool]` changed from the command line — `kind=process`,
//! `workers=8`, `gil=true` — so one scenario can be run, swept and compared on other pools.
//!
//! ```
//! use poolscope::scenario::{self, PoolOverride};
//! use poolscope::pool::PoolKind;
//!
//! let lesson = scenario::load("threads-cpu-gil").unwrap();
//! let on_processes: PoolOverride = "kind=process,workers=2".parse().unwrap();
//! let changed = on_processes.apply(&lesson).unwrap();
//! assert_eq!(changed.pool.kind, PoolKind::Process);
//! assert!(!changed.pool.gil, "a process pool has no GIL; the lesson's gil = true is dropped");
//!
//! let wrong = "kind=coroutine,workers=4".parse::<PoolOverride>().unwrap().apply(&lesson);
//! assert!(wrong.unwrap_err().contains("exactly one worker"));
//! ```

use std::fmt;
use std::str::FromStr;

use super::model::{Api, DaskCluster, MAX_WORKERS, PoolConfig, Scenario, WorkerCount, WorkerDeath};
use crate::pool::{PoolKind, StartMethod};
pub use crate::trace::EngineChoice;

/// What to change in a scenario's `[pool]`; `None` keeps the lesson's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolOverride {
    /// `kind=thread|process|coroutine`.
    pub kind: Option<PoolKind>,
    /// `workers=N|cpus|cpus+4`.
    pub workers: Option<WorkerCount>,
    /// `gil=true|false` (thread pools).
    pub gil: Option<bool>,
    /// `on_worker_death=break|respawn` (process pools).
    pub on_worker_death: Option<WorkerDeath>,
    /// `start_method=fork|spawn` (process pools).
    pub start_method: Option<StartMethod>,
    /// `eager=true|false`.
    pub eager: Option<bool>,
    /// `threads_per_worker=N` (Dask pools).
    pub threads_per_worker: Option<usize>,
    /// `processes=true|false` (Dask pools).
    pub processes: Option<bool>,
    /// `scheduler=tcp://HOST:PORT` (Dask pools): attach to that scheduler.
    pub scheduler: Option<String>,
}

/// The keys an override takes, for messages.
const KEYS: &str = "kind, workers, gil, on_worker_death, start_method, eager, threads_per_worker, processes, scheduler";

impl FromStr for PoolOverride {
    type Err = String;

    /// `key=value` pairs separated by commas: `kind=process, workers=4`.
    fn from_str(text: &str) -> Result<PoolOverride, String> {
        let mut out = PoolOverride::default();
        for (key, value) in pairs(text)? {
            if !out.set(key, value)? {
                return Err(format!("unknown key {key:?}; expected one of {KEYS}"));
            }
        }
        if out == PoolOverride::default() {
            return Err(format!("{text:?} changes nothing; expected key=value pairs with keys {KEYS}"));
        }
        Ok(out)
    }
}

/// The `key=value` pairs of `text`, separated by commas, each trimmed.
fn pairs(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=value; expected e.g. kind=process or workers=4"));
        };
        if value.contains('=') {
            return Err(format!("{pair:?}: expected one key=value per pair, pairs separated by commas"));
        }
        out.push((key.trim(), value.trim()));
    }
    Ok(out)
}

impl PoolOverride {
    /// Sets `key` to `value`: `Ok(false)` when `key` is not a key of `[pool]`.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let bool_of = |value: &str| match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{key}={value}: expected true or false")),
        };
        let given = match key {
            "kind" => self
                .kind
                .replace(
                    PoolKind::named(value)
                        .ok_or_else(|| format!("kind={value}: expected thread, process, coroutine or dask"))?,
                )
                .is_some(),
            "workers" => self.workers.replace(parse_workers(value)?).is_some(),
            "gil" => self.gil.replace(bool_of(value)?).is_some(),
            "eager" => self.eager.replace(bool_of(value)?).is_some(),
            "processes" => self.processes.replace(bool_of(value)?).is_some(),
            "threads_per_worker" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_WORKERS).contains(&n) => self.threads_per_worker.replace(n).is_some(),
                _ => return Err(format!("threads_per_worker={value}: expected a count from 1 to {MAX_WORKERS}")),
            },
            "scheduler" => match DaskCluster::address_problem(value) {
                None => self.scheduler.replace(value.to_string()).is_some(),
                Some(why) => return Err(format!("scheduler={value} {why}")),
            },
            "start_method" => self
                .start_method
                .replace(
                    StartMethod::named(value).ok_or_else(|| format!("start_method={value}: expected fork or spawn"))?,
                )
                .is_some(),
            "on_worker_death" => self
                .on_worker_death
                .replace(
                    WorkerDeath::named(value)
                        .ok_or_else(|| format!("on_worker_death={value}: expected break or respawn"))?,
                )
                .is_some(),
            _ => return Ok(false),
        };
        if given {
            return Err(format!("{key} is given twice; expected each key once"));
        }
        Ok(true)
    }
}

impl FromStr for EngineChoice {
    type Err = String;

    fn from_str(value: &str) -> Result<EngineChoice, String> {
        match value {
            "poolscope" => Ok(EngineChoice::Poolscope),
            "cpython" => Ok(EngineChoice::Cpython),
            _ => Err(format!("engine={value}: expected poolscope or cpython")),
        }
    }
}

/// One side of `poolscope compare`: the lesson's `[pool]` changed as for
/// [`PoolOverride`], and which engine runs it (`engine=poolscope|cpython`).
///
/// ```
/// use poolscope::scenario::{EngineChoice, SideOverride};
///
/// let side: SideOverride = "engine=cpython,workers=2".parse().unwrap();
/// assert_eq!(side.engine, Some(EngineChoice::Cpython));
/// assert_eq!(side.to_string(), "workers=2,engine=cpython");
/// assert!("engine=pypy".parse::<SideOverride>().unwrap_err().contains("expected poolscope or cpython"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideOverride {
    /// The changes to `[pool]`.
    pub pool: PoolOverride,
    /// `engine=poolscope|cpython`; `None` is poolscope's.
    pub engine: Option<EngineChoice>,
}

/// The keys a side takes, for messages.
const SIDE_KEYS: &str =
    "kind, workers, gil, on_worker_death, start_method, eager, threads_per_worker, processes, scheduler, engine";

impl SideOverride {
    /// The engine the side runs on.
    pub fn engine(&self) -> EngineChoice {
        self.engine.unwrap_or_default()
    }
}

impl FromStr for SideOverride {
    type Err = String;

    /// `key=value` pairs separated by commas: `engine=cpython, workers=4`.
    fn from_str(text: &str) -> Result<SideOverride, String> {
        let mut out = SideOverride::default();
        for (key, value) in pairs(text)? {
            if key == "engine" {
                if out.engine.replace(value.parse()?).is_some() {
                    return Err("engine is given twice; expected each key once".into());
                }
            } else if !out.pool.set(key, value)? {
                return Err(format!("unknown key {key:?}; expected one of {SIDE_KEYS}"));
            }
        }
        if out == SideOverride::default() {
            return Err(format!("{text:?} changes nothing; expected key=value pairs with keys {SIDE_KEYS}"));
        }
        Ok(out)
    }
}

impl fmt::Display for SideOverride {
    /// As it would be written on the command line: `kind=process,engine=cpython`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.pool != PoolOverride::default() {
            parts.push(self.pool.to_string());
        }
        if let Some(engine) = self.engine {
            parts.push(format!("engine={engine}"));
        }
        write!(f, "{}", parts.join(","))
    }
}

/// `4`, `cpus` or `cpus+4`, as `workers` in a scenario file.
fn parse_workers(value: &str) -> Result<WorkerCount, String> {
    if let Some(count) = WorkerCount::named(value) {
        return Ok(count);
    }
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(WorkerCount::Fixed(n)),
        _ => Err(format!("workers={value}: expected a count from 1 to {MAX_WORKERS}, cpus or cpus+4")),
    }
}

impl PoolOverride {
    /// Only the worker count: what a sweep changes at each size.
    pub fn workers(n: usize) -> PoolOverride {
        PoolOverride { workers: Some(WorkerCount::Fixed(n)), ..PoolOverride::default() }
    }

    /// The scenario on the changed pool.
    ///
    /// What the lesson's file says and no longer applies gives way: switching to a coroutine
    /// pool makes it one worker, switching away from threads drops `gil = true`, and a
    /// worker count the file did not write takes the new kind's default, and a program
    /// without the `__main__` guard gets it unless its workers are still spawned. What the override
    /// itself asks for must make sense.
    ///
    /// # Errors
    /// An override that contradicts the resulting kind: workers for a coroutine pool,
    /// `gil = true` for anything but threads, `on_worker_death` for anything but processes.
    pub fn apply(&self, scenario: &Scenario) -> Result<Scenario, String> {
        let old = &scenario.pool;
        let kind = self.kind.unwrap_or(old.kind);
        let mut pool = PoolConfig { kind, ..old.clone() };
        if kind != old.kind {
            if kind == PoolKind::Coroutine || old.kind == PoolKind::Coroutine || !old.workers_written {
                pool.workers = WorkerCount::default_for(kind);
                pool.workers_written = false;
            }
            if kind != PoolKind::Thread {
                pool.gil = false;
                // Only a thread pool names its threads or runs an initializer here.
                pool.thread_name_prefix = None;
                pool.initializer = None;
            }
        }
        // An event loop's queues are asyncio's: none is a plain multiprocessing.Queue.
        let plain_queues = if kind == PoolKind::Coroutine { Default::default() } else { scenario.plain_queues.clone() };
        if let Some(workers) = self.workers {
            if kind == PoolKind::Coroutine && workers != WorkerCount::Fixed(1) {
                return Err(format!(
                    "workers={}: a coroutine pool has exactly one worker, its event loop",
                    workers.python()
                ));
            }
            pool.workers = workers;
            pool.workers_written = kind != PoolKind::Coroutine;
        }
        if let Some(gil) = self.gil {
            if gil && kind != PoolKind::Thread {
                return Err(format!("gil=true applies to thread pools only, not to a {kind} pool"));
            }
            pool.gil = gil;
        }
        if let Some(death) = self.on_worker_death {
            if kind != PoolKind::Process {
                return Err(format!(
                    "on_worker_death={} applies to process pools only, not to a {kind} pool",
                    death.as_str()
                ));
            }
            pool.on_worker_death = death;
        }
        if let Some(start) = self.start_method {
            if kind != PoolKind::Process {
                return Err(format!(
                    "start_method={} applies to process pools only, not to a {kind} pool",
                    start.as_str()
                ));
            }
            pool.start_method = start;
        }
        if let Some(eager) = self.eager {
            pool.eager = eager;
        }
        self.apply_dask(scenario, &mut pool)?;
        if !(kind == PoolKind::Process && pool.start_method == StartMethod::Spawn) {
            // Only spawned workers re-run the program: elsewhere the guard changes nothing.
            pool.main_guard = true;
        }
        Ok(Scenario { pool, plain_queues, ..scenario.clone() })
    }
}

impl PoolOverride {
    /// The cluster's words, for a Dask pool only; and a lesson moved to a Dask pool must ask
    /// nothing its executor lacks.
    fn apply_dask(&self, scenario: &Scenario, pool: &mut PoolConfig) -> Result<(), String> {
        let kind = pool.kind;
        if kind != PoolKind::Dask {
            pool.dask = DaskCluster::default();
            let given = [
                self.threads_per_worker.map(|_| "threads_per_worker"),
                self.processes.map(|_| "processes"),
                self.scheduler.as_ref().map(|_| "scheduler"),
            ];
            if let Some(key) = given.into_iter().flatten().next() {
                return Err(format!("{key} applies to Dask pools only, not to a {kind} pool; add kind=dask"));
            }
            return Ok(());
        }
        if scenario.pool.kind != PoolKind::Dask {
            if pool.api == Api::Multiprocessing {
                return Err("a Dask pool is Client.get_executor(), an executor: the lesson's api = \"multiprocessing\" has no Dask form".into());
            }
            if let Some(why) = scenario.dask_refusal() {
                return Err(format!("the lesson cannot run on a Dask pool: {why}"));
            }
        }
        if let Some(n) = self.threads_per_worker {
            pool.dask.threads_per_worker = Some(n);
        }
        if let Some(p) = self.processes {
            pool.dask.processes = Some(p);
        }
        if let Some(address) = &self.scheduler {
            if self.threads_per_worker.is_some() || self.processes.is_some() {
                return Err("threads_per_worker and processes describe a cluster poolscope starts; expected neither beside scheduler".into());
            }
            // The scheduler's workers are already running, as they are.
            pool.dask = DaskCluster { scheduler: Some(address.clone()), ..DaskCluster::default() };
        }
        Ok(())
    }
}

impl fmt::Display for PoolOverride {
    /// As it would be written on the command line: `kind=process,workers=4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(kind) = self.kind {
            parts.push(format!("kind={kind}"));
        }
        if let Some(workers) = self.workers {
            let workers = match workers {
                WorkerCount::Fixed(n) => n.to_string(),
                WorkerCount::Cpus => "cpus".into(),
                WorkerCount::CpusPlus4 => "cpus+4".into(),
            };
            parts.push(format!("workers={workers}"));
        }
        if let Some(gil) = self.gil {
            parts.push(format!("gil={gil}"));
        }
        if let Some(death) = self.on_worker_death {
            parts.push(format!("on_worker_death={}", death.as_str()));
        }
        if let Some(start) = self.start_method {
            parts.push(format!("start_method={}", start.as_str()));
        }
        if let Some(eager) = self.eager {
            parts.push(format!("eager={eager}"));
        }
        if let Some(n) = self.threads_per_worker {
            parts.push(format!("threads_per_worker={n}"));
        }
        if let Some(p) = self.processes {
            parts.push(format!("processes={p}"));
        }
        if let Some(address) = &self.scheduler {
            parts.push(format!("scheduler={address}"));
        }
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn parses_pairs_and_says_what_is_wrong() {
        let o: PoolOverride = "kind=process, workers=4,gil=false".parse().unwrap();
        assert_eq!(o.kind, Some(PoolKind::Process));
        assert_eq!(o.workers, Some(WorkerCount::Fixed(4)));
        assert_eq!(o.gil, Some(false));
        assert_eq!(o.to_string(), "kind=process,workers=4,gil=false");
        assert_eq!("workers=cpus + 4".parse::<PoolOverride>().unwrap().workers, Some(WorkerCount::CpusPlus4));
        for (bad, says) in [
            ("kind=fiber", "expected thread, process, coroutine or dask"),
            ("scheduler=localhost:8786", "is not an address; expected tcp://HOST:PORT"),
            ("scheduler=tcp://localhost", "has no port"),
            ("threads_per_worker=0", "expected a count from 1"),
            ("workers=0", "expected a count from 1"),
            ("workers=many", "expected a count from 1"),
            ("gil=yes", "expected true or false"),
            ("colour=red", "unknown key \"colour\""),
            ("process", "is not key=value"),
            ("", "changes nothing"),
            ("kind=thread,kind=process", "kind is given twice"),
            ("kind=thread gil=true", "pairs separated by commas"),
        ] {
            let error = bad.parse::<PoolOverride>().unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_side_takes_the_engine_beside_the_pool_keys() {
        let side: SideOverride = "engine=cpython".parse().unwrap();
        assert_eq!((side.engine(), &side.pool), (EngineChoice::Cpython, &PoolOverride::default()));
        assert_eq!(side.to_string(), "engine=cpython");
        let side: SideOverride = "kind=process, engine=poolscope".parse().unwrap();
        assert_eq!((side.engine(), side.pool.kind), (EngineChoice::Poolscope, Some(PoolKind::Process)));
        assert_eq!(SideOverride::default().engine(), EngineChoice::Poolscope);
        for (bad, says) in [
            ("engine=pypy", "engine=pypy: expected poolscope or cpython"),
            ("engine=cpython,engine=poolscope", "engine is given twice"),
            (
                "colour=red",
                "unknown key \"colour\"; expected one of kind, workers, gil, on_worker_death, start_method, eager, threads_per_worker, processes, scheduler, engine",
            ),
            ("", "changes nothing"),
            ("workers=0,engine=cpython", "expected a count from 1"),
        ] {
            let error = bad.parse::<SideOverride>().unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
        assert!("engine=cpython".parse::<PoolOverride>().unwrap_err().contains("unknown key \"engine\""));
    }

    #[test]
    fn a_dask_pool_takes_the_cluster_words_and_a_scheduler() {
        let lesson = scenario::load("map-ordering").unwrap();
        let o: PoolOverride = "kind=dask,workers=2,threads_per_worker=2,processes=false".parse().unwrap();
        assert_eq!(o.to_string(), "kind=dask,workers=2,threads_per_worker=2,processes=false");
        let dask = o.apply(&lesson).unwrap();
        assert_eq!(dask.pool.kind, PoolKind::Dask);
        assert_eq!(dask.pool.dask.client(Some(2)), "Client(n_workers=2, threads_per_worker=2, processes=False)");
        let attached = "scheduler=tcp://127.0.0.1:8786".parse::<PoolOverride>().unwrap().apply(&dask).unwrap();
        assert_eq!(attached.pool.dask.client(Some(2)), "Client(\"tcp://127.0.0.1:8786\")");
        for (bad, says) in [
            ("threads_per_worker=2", "applies to Dask pools only, not to a thread pool; add kind=dask"),
            ("kind=dask,scheduler=tcp://h:1,processes=true", "expected neither beside scheduler"),
        ] {
            let error = bad.parse::<PoolOverride>().unwrap().apply(&lesson).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
        let counter = scenario::load("shared-counter").unwrap();
        let error = "kind=dask".parse::<PoolOverride>().unwrap().apply(&counter).unwrap_err();
        assert!(error.contains("cannot run on a Dask pool"), "{error}");
    }

    #[test]
    fn switching_kind_drops_what_no_longer_applies() {
        let gil = scenario::load("threads-cpu-gil").unwrap();
        assert!(gil.pool.gil);
        let process = "kind=process".parse::<PoolOverride>().unwrap().apply(&gil).unwrap();
        assert_eq!((process.pool.kind, process.pool.gil), (PoolKind::Process, false));
        assert_eq!(process.pool.workers, gil.pool.workers, "an explicit count stays");
        assert!(scenario::python::preamble(&process).contains("ProcessPoolExecutor"));
        let coroutine = "kind=coroutine".parse::<PoolOverride>().unwrap().apply(&gil).unwrap();
        assert_eq!(coroutine.pool.workers, WorkerCount::Fixed(1));
        let written = scenario::load("processes-cpu-bound").unwrap();
        assert_eq!(written.pool.workers, WorkerCount::Cpus, "the file says workers = \"cpus\"");
        let threads = "kind=thread".parse::<PoolOverride>().unwrap().apply(&written).unwrap();
        assert_eq!(threads.pool.workers, WorkerCount::Cpus, "a count the file wrote stays");
        let back = "kind=thread".parse::<PoolOverride>().unwrap().apply(&coroutine).unwrap();
        assert_eq!(back.pool.workers, WorkerCount::CpusPlus4, "the thread pool's default count");
        assert_eq!(back.steps, gil.steps, "the program is the same");
    }

    #[test]
    fn a_missing_main_guard_matters_only_to_spawned_workers() {
        let unguarded = scenario::load("main-guard").unwrap();
        assert!(!unguarded.pool.main_guard);
        let more = "workers=4".parse::<PoolOverride>().unwrap().apply(&unguarded).unwrap();
        assert!(!more.pool.main_guard, "still spawned: still unguarded");
        for other in ["start_method=fork", "kind=thread", "kind=coroutine"] {
            let changed = other.parse::<PoolOverride>().unwrap().apply(&unguarded).unwrap();
            assert!(changed.pool.main_guard, "{other}: nothing re-runs the program");
            assert!(scenario::python::preamble(&changed).contains("__main__"), "{other}");
        }
    }

    #[test]
    fn an_override_that_cannot_hold_is_an_error() {
        let lesson = scenario::load("pool-basics").unwrap();
        let gil_on_processes = "kind=process,gil=true".parse::<PoolOverride>().unwrap().apply(&lesson);
        assert!(gil_on_processes.unwrap_err().contains("thread pools only"));
        let respawning_threads = "kind=thread,on_worker_death=respawn".parse::<PoolOverride>().unwrap().apply(&lesson);
        assert!(respawning_threads.unwrap_err().contains("process pools only"));
        let wide_loop = "kind=coroutine,workers=3".parse::<PoolOverride>().unwrap().apply(&lesson);
        assert!(wide_loop.unwrap_err().contains("exactly one worker"));
        let sized = PoolOverride::workers(5).apply(&lesson).unwrap();
        assert_eq!(sized.pool.workers, WorkerCount::Fixed(5));
    }
}
