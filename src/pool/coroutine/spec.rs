//! Task specs as coroutines: small state machines the loop steps from one await point to the
//! next. Values and CPU work are those of [`run_spec`], which the other pools call; only the
//! waits differ (they suspend instead of blocking).

use crate::pool::future::catching;
use std::collections::VecDeque;
use std::time::Instant;

use super::LOOP_WORKER;
use super::event_loop::LoopEnv;
use crate::pool::error::TaskError;
use crate::pool::future::{Future, finish_event, panic_message};
use crate::pool::job::Unrun;
use crate::pool::probe::EventKind;
use crate::pool::task::{TaskEnv, TaskSpec, TaskValue, Work, increment_output, run_spec};

/// Where a coroutine suspended itself.
#[derive(Debug)]
pub(super) enum Await {
    /// It finished every spec it holds.
    Done,
    /// `sleep`: wake it at this instant.
    Until(Instant),
    /// `queue_get` found no item: retry once an item is put (or the queues close).
    Item,
    /// `increment` found its lock held: wait for it, behind the tasks already waiting.
    Lock(String),
}

/// A chunk of specs run one after the other by one coroutine (one spec for `submit`).
pub(super) struct SpecTask {
    waiting: VecDeque<(Future<TaskValue>, TaskSpec)>,
    current: Option<Running>,
}

struct Running {
    future: Future<TaskValue>,
    spec: TaskSpec,
    stage: Stage,
    /// The lock it holds (an `increment` with a lock, from its read to its write).
    holds: Option<String>,
}

#[derive(Clone, Copy)]
enum Stage {
    /// Not stepped yet.
    Begin,
    /// Past its `duration` wait.
    Waited,
    /// `queue_get` waiting for an item.
    Getting,
    /// `increment` asking for its lock.
    Locking,
    /// `increment` about to read its counter.
    Reading,
    /// `increment` back from its wait, about to write what it read plus one.
    Writing {
        /// What it read.
        seen: i64,
    },
}

/// One step of a spec: suspended, or ended with its value or raised message.
enum Step {
    Suspend(Await),
    End(Result<TaskValue, String>),
}

impl SpecTask {
    pub(super) fn new(tasks: Vec<(Future<TaskValue>, TaskSpec)>) -> SpecTask {
        SpecTask { waiting: tasks.into(), current: None }
    }

    /// Runs until the next await point, or to the end. Every spec that starts is reported
    /// (`Start`), every one that ends is reported and completes its future (callbacks run
    /// here, on the loop). Cancelled specs are skipped.
    pub(super) fn step(&mut self, env: &LoopEnv<'_>) -> Await {
        loop {
            let running = match &mut self.current {
                Some(running) => running,
                None => {
                    let Some((future, spec)) = self.waiting.pop_front() else { return Await::Done };
                    if !future.begin() {
                        continue;
                    }
                    if let Some(telemetry) = env.telemetry() {
                        telemetry.emit(EventKind::Start { task: future.id(), worker: LOOP_WORKER, pid: env.pid() });
                    }
                    self.current.insert(Running { future, spec, stage: Stage::Begin, holds: None })
                }
            };
            let outcome = match catching(|| advance(running, env)) {
                Ok(Step::Suspend(at)) => return at,
                Ok(Step::End(outcome)) => outcome.map_err(TaskError::Failed),
                Err(payload) => Err(TaskError::Failed(format!("panicked: {}", panic_message(&*payload)))),
            };
            let Running { future, spec, holds, .. } = self.current.take().expect("a running spec");
            // Released however the task ended, as `async with` releases when its block raises.
            if let Some(lock) = holds {
                env.release(&lock);
            }
            finish(env, &future, &spec, outcome);
        }
    }

    /// A release handed this task, waiting for its `increment`'s lock, the lock.
    pub(super) fn lock_granted(&mut self) {
        let running = self.current.as_mut().expect("a task waiting for a lock is running a spec");
        if let Work::Increment { lock: Some(lock), .. } = &running.spec.work {
            running.holds = Some(lock.clone());
        }
        running.stage = Stage::Reading;
    }

    /// Disposes of a coroutine that never started (shutdown with `cancel_futures`, terminate).
    pub(super) fn unrun(self, how: &Unrun) {
        for (future, _) in &self.waiting {
            match how {
                Unrun::Cancel => {
                    future.cancel();
                }
                Unrun::Abandon(error) => {
                    future.abandon(error.clone());
                }
            }
        }
    }

    /// The loop is terminated while this coroutine is suspended: the spec it was running dies
    /// with the loop, the ones it had not started are abandoned.
    pub(super) fn kill(mut self, env: &LoopEnv<'_>) {
        if let Some(Running { future, spec, .. }) = self.current.take() {
            finish(env, &future, &spec, Err(TaskError::WorkerDied("the event loop was terminated".into())));
        }
        self.unrun(&Unrun::Abandon(TaskError::PoolShutdown));
    }
}

fn finish(env: &LoopEnv<'_>, future: &Future<TaskValue>, spec: &TaskSpec, outcome: Result<TaskValue, TaskError>) {
    if let Some(telemetry) = env.telemetry() {
        telemetry.emit(finish_event(future.id(), LOOP_WORKER, &outcome, |value| Some(value.describe(&spec.label))));
    }
    future.finish(outcome);
}

/// Moves a spec on to its next await point or its end.
fn advance(running: &mut Running, env: &LoopEnv<'_>) -> Step {
    let spec = &running.spec;
    let value = |output| TaskValue { worker: LOOP_WORKER, pid: env.pid(), output, thread: env.thread().cloned() };
    loop {
        match running.stage {
            Stage::Begin => {
                running.stage = Stage::Waited;
                match &spec.work {
                    // Its `duration` is the wait between its read and its write.
                    Work::Increment { lock, .. } => {
                        running.stage = if lock.is_some() { Stage::Locking } else { Stage::Reading };
                        continue;
                    }
                    // No await point: the CPU work of the other pools, run to its end while
                    // every other task waits.
                    Work::Spin | Work::SumSquares { .. } => return Step::End(run_spec(spec, env)),
                    // `asyncio.sleep(0)` still yields: a sleep is always an await point.
                    Work::Sleep => return Step::Suspend(Await::Until(crate::pool::sync::now() + spec.duration)),
                    _ if !spec.duration.is_zero() => {
                        return Step::Suspend(Await::Until(crate::pool::sync::now() + spec.duration));
                    }
                    _ => {}
                }
            }
            Stage::Waited => {
                return match &spec.work {
                    Work::Noop | Work::Sleep => Step::End(Ok(value(None))),
                    Work::Fail { message } => Step::End(Err(message.clone())),
                    // There is no process (nor thread) of its own to kill: the coroutine raises.
                    Work::Crash => Step::End(Err("the task crashed".into())),
                    Work::QueuePut { queue, item } => Step::End(
                        env.queue_put(queue, item.clone()).map(|()| value(Some(format!("put {item:?} on {queue}")))),
                    ),
                    Work::QueueGet { .. } => {
                        running.stage = Stage::Getting;
                        continue;
                    }
                    Work::Spin | Work::SumSquares { .. } => Step::End(run_spec(spec, env)),
                    Work::Increment { .. } => unreachable!("an increment never takes the wait before its act"),
                };
            }
            Stage::Locking => {
                let Work::Increment { lock: Some(lock), .. } = &spec.work else {
                    unreachable!("only an increment with a lock asks for one")
                };
                if !env.try_lock(lock) {
                    return Step::Suspend(Await::Lock(lock.clone()));
                }
                running.holds = Some(lock.clone());
                running.stage = Stage::Reading;
            }
            Stage::Reading => {
                let Work::Increment { counter, .. } = &spec.work else { unreachable!("only an increment reads") };
                running.stage = Stage::Writing { seen: env.counters().get(counter) };
                // `await asyncio.sleep(d)`: an await point even when d is 0.
                return Step::Suspend(Await::Until(crate::pool::sync::now() + spec.duration));
            }
            Stage::Writing { seen } => {
                let Work::Increment { counter, .. } = &spec.work else { unreachable!("only an increment writes") };
                let wrote = seen.wrapping_add(1);
                env.counters().set(counter, wrote);
                if let Some(lock) = running.holds.take() {
                    env.release(&lock);
                }
                return Step::End(Ok(value(Some(increment_output(seen, wrote)))));
            }
            Stage::Getting => {
                let Work::QueueGet { queue } = &spec.work else { unreachable!("only queue_get waits for an item") };
                return match env.shared_queues().try_get(queue) {
                    Ok(Some(item)) => Step::End(Ok(value(Some(format!("got {item:?} from {queue}"))))),
                    Ok(None) => Step::Suspend(Await::Item),
                    // Closed by a terminate: the task dies with the loop at its next turn, as a
                    // task suspended at an await point does, rather than fail on its own.
                    Err(_) if env.terminated() => Step::Suspend(Await::Item),
                    Err(e) => Step::End(Err(e)),
                };
            }
        }
    }
}
