//! [`View`]: everything the lesson screen draws — the lesson's text, the [`Model`], the
//! [`Timeline`], the clock and the latest CPU sample. Changed only by folding inputs in
//! ([`View::apply`], [`View::tick`], [`View::cpu`]); rendering only reads it.

use std::collections::HashMap;

use super::timeline::Timeline;
use crate::pool::PoolKind;
use crate::scenario::{Scenario, python};
use crate::sys::CpuSample;
use crate::trace::{Model, TraceEvent};

/// A lesson as the screen shows it: its text and its program.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// Short name (`map-ordering`).
    pub name: String,
    /// Title.
    pub title: String,
    /// Summary paragraph.
    pub summary: String,
    /// The lesson's pool kind.
    pub kind: PoolKind,
    /// The Python program, one entry per line.
    pub code: Vec<String>,
    /// For step *i*, the first line of its code (the implicit closing shutdown is the last).
    pub step_lines: Vec<usize>,
    /// Why the program is only an illustration (a step's code is the lesson's own text).
    pub illustration: Option<String>,
}

impl Lesson {
    /// The lesson of `scenario`.
    pub fn of(scenario: &Scenario) -> Lesson {
        let program = python::program(scenario, python::ProgramOptions::default());
        Lesson {
            name: scenario.name.clone(),
            title: scenario.title.clone(),
            summary: scenario.summary.clone(),
            kind: scenario.pool.kind,
            code: program.lines,
            step_lines: program.step_lines,
            illustration: program.illustration,
        }
    }
}

/// The state of the lesson screen.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The lesson.
    pub lesson: Lesson,
    /// The run so far.
    pub model: Model,
    /// Its bucketed history.
    pub timeline: Timeline,
    /// The clock (µs since the run began): the latest event, or the latest tick if later.
    pub now_us: u64,
    /// The latest CPU reading.
    pub cpu: CpuSample,
    /// CPU of the worker processes, by pid.
    pub process_cpu: HashMap<u32, f32>,
    /// Worker processes the OS reports stopped (SIGSTOP), from the latest CPU reading.
    pub stopped: std::collections::HashSet<u32>,
    /// Once seen: the cores were saturated while more tasks ran than there are cores, so
    /// tasks slowed each other down.
    pub cpu_contended: bool,
}

impl View {
    /// A view of `lesson` before its first event.
    pub fn new(lesson: Lesson) -> View {
        View {
            lesson,
            model: Model::new(),
            timeline: Timeline::default(),
            now_us: 0,
            cpu: CpuSample::default(),
            process_cpu: HashMap::new(),
            stopped: std::collections::HashSet::new(),
            cpu_contended: false,
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &TraceEvent) {
        let task = event.kind.task();
        let before = task.and_then(|t| self.model.task_times(t)).map(|r| r.state);
        self.model.apply(event);
        self.timeline.apply(event, &self.model, before);
        self.now_us = self.now_us.max(self.model.now_us);
        if let Some(end) = self.model.makespan_us {
            self.now_us = end;
        }
    }

    /// The clock moved on to `now_us` with no event; true if the screen changes. An ended
    /// run's clock stops.
    pub fn tick(&mut self, now_us: u64) -> bool {
        if self.model.ended() || now_us <= self.now_us {
            return false;
        }
        self.now_us = now_us;
        true
    }

    /// A new CPU reading.
    pub fn cpu(&mut self, sample: CpuSample) {
        self.process_cpu = sample.processes.iter().copied().collect();
        self.stopped = sample.stopped.iter().copied().collect();
        let cores = sample.cores.len();
        if cores > 0 && !self.model.ended() {
            let mean = sample.cores.iter().sum::<f32>() / cores as f32;
            self.cpu_contended |= mean > 85.0 && self.timeline.counts.running > cores;
        }
        self.cpu = sample;
    }

    /// The pids of the live worker processes (process pools, and a Dask cluster's workers,
    /// each once).
    pub fn worker_pids(&self) -> Vec<u32> {
        if !matches!(self.model.pool, Some(PoolKind::Process | PoolKind::Dask)) {
            return Vec::new();
        }
        // A Dask worker whose CPU Dask reports is not one of this machine's processes.
        let mut pids: Vec<u32> = self
            .model
            .lanes
            .values()
            .filter(|l| l.up_since.is_some() && l.remote_cpu.is_none())
            .map(|l| l.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The view after the first `position` events of `history` (rewinding by step): this
    /// view's lesson and CPU reading, its clock at the last of them.
    pub fn upto(&self, history: &[TraceEvent], position: usize) -> View {
        let mut view = View::new(self.lesson.clone());
        for event in &history[..position.min(history.len())] {
            view.apply(event);
        }
        view.cpu = self.cpu.clone();
        view.process_cpu = self.process_cpu.clone();
        view.stopped = self.stopped.clone();
        view
    }

    /// The view as it was at `t`: this view's lesson and CPU reading, and the events of
    /// `history` up to `t` folded again from the start (rewind).
    pub fn at(&self, history: &[TraceEvent], t: u64) -> View {
        let mut view = View::new(self.lesson.clone());
        let end = history.partition_point(|e| e.t <= t);
        for event in &history[..end] {
            view.apply(event);
        }
        view.tick(t);
        view.cpu = self.cpu.clone();
        view.process_cpu = self.process_cpu.clone();
        view.stopped = self.stopped.clone();
        view
    }
}
