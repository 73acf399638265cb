//! A user's own Python program as a run (`poolscope py SCRIPT.py`), and sized: the program
//! run once per pool size with every pool it makes given that many workers (or only the one
//! chosen by its index) — `poolscope sweep SCRIPT.py`, `poolscope compare SCRIPT.py`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::cpython::{CpythonOptions, MadePool, Output, Program, Sizing};
use super::model::{Api, PoolConfig, Scenario, WorkerCount, WorkerDeath};
use super::runner::{Engine, RunOptions};
use super::sweep::{ProgramRun, SweepError, SweepPoint, measure_unless};
use crate::pool::{PoolKind, StartMethod};

/// True when `name` names a Python program rather than a lesson: it ends in `.py`.
pub fn is_script(name: &str) -> bool {
    Path::new(name).extension().is_some_and(|e| e == "py")
}

/// The run's name and title for a script: it has no lesson, and its pools say the rest.
pub fn script_scenario(script: &Path) -> Scenario {
    let name = script.file_stem().map_or_else(|| "script".into(), |s| s.to_string_lossy().into_owned());
    Scenario {
        name,
        origin: script.display().to_string(),
        title: format!("python3 {}", script.display()),
        summary: String::new(),
        seed: 0,
        pool: PoolConfig {
            kind: PoolKind::Thread,
            workers: WorkerCount::Fixed(1),
            gil: true,
            on_worker_death: WorkerDeath::Break,
            api: Api::Executor,
            start_method: StartMethod::Fork,
            max_tasks_per_child: None,
            main_guard: true,
            eager: false,
            thread_name_prefix: None,
            dask: Default::default(),
            initializer: None,
            workers_written: false,
        },
        plain_queues: Default::default(),
        tasks: BTreeMap::new(),
        steps: Vec::new(),
    }
}

/// The pool classes a sized run gives its size to, for messages.
pub const SIZED_POOLS: &str =
    "ThreadPoolExecutor, ProcessPoolExecutor, multiprocessing.Pool and multiprocessing.pool.ThreadPool";

/// A script run at one pool size after another, its output kept in a folder, one pair of
/// files per size (`workers-4.stdout`, `workers-4.stderr`).
#[derive(Clone, Debug)]
pub struct SizedScript {
    /// The `.py` file.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Size only the pool with this index (from 0, in the order the program makes them).
    pub pool_index: Option<usize>,
    /// Where each run's output goes.
    pub output_dir: PathBuf,
}

/// One run of a sized script: its numbers, how it ended, its pools, its output files.
#[derive(Debug)]
pub struct SizedRun {
    /// The run's numbers.
    pub summary: crate::trace::Summary,
    /// How the program ended and where its output is.
    pub program: ProgramRun,
}

impl SizedScript {
    /// The engine that runs the program with its pools given `workers` (every pool, or the
    /// chosen one; `None`: as the program sizes them), its output in `NAME.stdout` and
    /// `NAME.stderr` in the output folder; [`SizedScript::ended`] reads how it went.
    ///
    /// # Errors
    /// The output files could not be made.
    pub fn engine(&self, workers: Option<usize>, name: &str) -> std::io::Result<CpythonOptions> {
        let file = |ext: &str| File::create(self.output_dir.join(format!("{name}.{ext}"))).map(Arc::new);
        let mut cpython = CpythonOptions::new(Program::Script { path: self.path.clone(), args: self.args.clone() });
        cpython.output = Output::Capture { stdout: file("stdout")?, stderr: file("stderr")? };
        cpython.sizing = workers.map(|workers| Sizing { workers, pool_index: self.pool_index });
        Ok(cpython)
    }

    /// How the program that `engine` ran as `NAME` ended: its exit status (1 if it never
    /// said), the last line of its stderr when it failed, its files, its pools.
    pub fn ended(&self, engine: &CpythonOptions, name: &str) -> ProgramRun {
        let stdout = self.output_dir.join(format!("{name}.stdout"));
        let stderr = self.output_dir.join(format!("{name}.stderr"));
        let exit_status = engine.exit.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or(1);
        let pools = std::mem::take(&mut *engine.made.lock().unwrap_or_else(|e| e.into_inner()));
        let error = match exit_status {
            0 => None,
            _ => std::fs::read_to_string(&stderr)
                .ok()
                .and_then(|text| text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())),
        };
        ProgramRun { exit_status, error, stdout, stderr, pools }
    }

    /// Runs the program as [`SizedScript::engine`] sets it up, to its end; `None` when
    /// `stop` was set mid-run.
    ///
    /// # Errors
    /// The run could not start, or the output files could not be made.
    pub fn run(&self, workers: Option<usize>, name: &str, stop: &AtomicBool) -> Result<Option<SizedRun>, SweepError> {
        let cpython = self.engine(workers, name).map_err(SweepError::Output)?;
        let options = RunOptions { engine: Engine::Cpython(cpython.clone()), ..RunOptions::default() };
        let scenario = script_scenario(&self.path);
        let Some(summary) = measure_unless(&scenario, &options, stop, |_| {}).map_err(SweepError::Run)? else {
            return Ok(None);
        };
        Ok(Some(SizedRun { summary, program: self.ended(&cpython, name) }))
    }

    /// One size of a sweep: the program run with its pools given `workers`.
    ///
    /// # Errors
    /// As [`SizedScript::run`]; and [`SweepError::Script`] when the program ran to its end
    /// without making a pool to size (or the one asked for by index).
    pub fn measure(&self, workers: usize, stop: &AtomicBool) -> Result<Option<SweepPoint>, SweepError> {
        let Some(run) = self.run(Some(workers), &format!("workers-{workers}"), stop)? else { return Ok(None) };
        if run.program.exit_status == 0 {
            self.check_pools(&run.program.pools)?;
        }
        Ok(Some(SweepPoint { workers, summary: run.summary, program: Some(run.program) }))
    }

    /// An error when a program that ran to its end made no pool this sizing reaches.
    ///
    /// # Errors
    /// It made none, or fewer than `pool_index` asks for.
    pub fn check_pools(&self, pools: &[MadePool]) -> Result<(), SweepError> {
        let script = self.path.display();
        if pools.is_empty() {
            return Err(SweepError::Script(format!(
                "{script} ran to its end without making a pool: poolscope sizes the {SIZED_POOLS} a program \
                 makes, and it made none of them"
            )));
        }
        match self.pool_index {
            Some(index) if index >= pools.len() => {
                let made: Vec<String> = pools.iter().map(|p| format!("{}: {}", p.index, p.kind)).collect();
                Err(SweepError::Script(format!(
                    "--pool-index {index}: {script} made only {} ({}); the index counts from 0",
                    match pools.len() {
                        1 => "1 pool".to_string(),
                        n => format!("{n} pools"),
                    },
                    made.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }
}

/// A folder for a sweep's output that stays after it: `poolscope-NAME-…` under the system's
/// temporary folder, readable only by this user.
///
/// # Errors
/// It cannot be made.
pub fn output_folder(name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut last = None;
    for attempt in 0..100u32 {
        let path = base.join(format!("poolscope-{name}-{stamp}-{}-{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name for a folder")))
}
