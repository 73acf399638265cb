//! Checking a Dask pool (`kind = "dask"`): the cluster in Dask's own words
//! (`threads_per_worker`, `processes`, `scheduler`), and what a Dask executor
//! (`Client.get_executor()`) cannot do.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::model::{DaskCluster, MAX_WORKERS};
use super::super::raw::{RawPool, RawStep, RawTask};
use super::{Checker, span};

impl Checker<'_> {
    /// The cluster's fields of `[pool]`; each an error unless `kind = "dask"`.
    pub(super) fn dask_cluster(&mut self, raw: Option<&RawPool>) -> DaskCluster {
        let mut cluster = DaskCluster::default();
        let Some(raw) = raw else { return cluster };
        let dask = raw.kind.as_ref().is_some_and(|k| k.get_ref() == "dask");
        if let Some(api) = raw.api.as_ref().filter(|api| dask && api.get_ref() == "multiprocessing") {
            self.error(
                span(api),
                "pool.api",
                "a Dask pool is Client.get_executor(), a concurrent.futures executor; expected api = \"executor\" (the default)",
            );
        }
        let not_dask = |field: &str| format!("{field} is a word of a Dask cluster; expected kind = \"dask\" in [pool]");
        if let Some(threads) = &raw.threads_per_worker {
            match *threads.get_ref() {
                _ if !dask => self.error(span(threads), "pool.threads_per_worker", not_dask("threads_per_worker")),
                n if n < 1 || n > MAX_WORKERS as i64 => self.error(
                    span(threads),
                    "pool.threads_per_worker",
                    format!("{n} is out of range; expected a whole number from 1 to {MAX_WORKERS}"),
                ),
                n => cluster.threads_per_worker = Some(n as usize),
            }
        }
        if let Some(processes) = &raw.processes {
            if dask {
                cluster.processes = Some(*processes.get_ref());
            } else {
                self.error(span(processes), "pool.processes", not_dask("processes"));
            }
        }
        if let Some(address) = &raw.scheduler {
            let text = address.get_ref();
            if !dask {
                self.error(span(address), "pool.scheduler", not_dask("scheduler"));
            } else if let Some(why) = DaskCluster::address_problem(text) {
                self.error(span(address), "pool.scheduler", format!("{text:?} {why}"));
            } else {
                for (field, given) in [
                    ("threads_per_worker", raw.threads_per_worker.as_ref().map(Spanned::span)),
                    ("processes", raw.processes.as_ref().map(Spanned::span)),
                ] {
                    if let Some(at) = given {
                        let message = format!(
                            "{field} describes a cluster poolscope starts; expected no {field} beside scheduler (the scheduler's workers are already running)"
                        );
                        self.error(Some(at), format!("pool.{field}"), message);
                    }
                }
                cluster.scheduler = Some(text.clone());
            }
        }
        cluster
    }

    /// What the lesson asks that `Client.get_executor()` has no word for.
    pub(super) fn dask_refusals(&mut self, tasks: &BTreeMap<String, Option<RawTask>>, steps: &[Option<RawStep>]) {
        for (name, task) in tasks {
            let Some(task) = task else { continue };
            let why = match task.work.get_ref().as_str() {
                "crash" => "a Dask worker that dies is restarted by its nanny and the task retried elsewhere",
                "queue_put" | "queue_get" => "Dask's workers share no multiprocessing queue with the program",
                "increment" => "Dask's workers share no global counter with the program",
                _ => continue,
            };
            let message = format!("work = {:?} on a Dask pool: {why}; expected another work kind", task.work.get_ref());
            self.error(span(&task.work), format!("tasks.{name}.work"), message);
        }
        for (index, step) in steps.iter().enumerate() {
            let Some(step) = step else { continue };
            if let Some(cancel) = step.cancel_futures.as_ref().filter(|c| *c.get_ref()) {
                self.error(
                    span(cancel),
                    format!("step[{index}].cancel_futures"),
                    "Dask's executor shutdown() has no cancel_futures; expected cancel_futures = false on a Dask pool",
                );
            }
            if step.op.get_ref() == "resize" {
                self.error(
                    span(&step.op),
                    format!("step[{index}].op"),
                    "a Dask pool is resized by its cluster, not its executor; expected no resize on a Dask pool",
                );
            }
        }
    }
}
