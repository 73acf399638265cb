//! The queue depth of the event stream is counted from the stream itself, so it ends at 0
//! once every task ran — however the pool's threads raced to report.

use std::sync::Arc;

use poolscope::pool::{Probe, ReturnWhen, ThreadPool, wait};
use poolscope::scenario::clock::Clock;
use poolscope::scenario::feed::Feed;
use poolscope::trace::{Model, TraceEvent, TraceKind};

#[test]
fn the_queue_ends_empty_once_everything_ran() {
    for round in 0..100 {
        let (feed, events) = Feed::new(Clock::start(1.0));
        let pool = ThreadPool::builder().workers(8).eager(true).probe(Arc::clone(&feed) as Arc<dyn Probe>).build();
        let futures: Vec<_> = (0..64).map(|i| pool.submit(move || i).unwrap()).collect();
        let _ = wait(&futures, None, ReturnWhen::AllCompleted);
        drop(pool);
        feed.end();
        let depths: Vec<usize> = events
            .try_iter()
            .filter_map(|e| match e.kind {
                TraceKind::Queue { depth } => Some(depth),
                _ => None,
            })
            .collect();
        assert_eq!(depths.last(), Some(&0), "round {round}: the queue shown at the end");
        assert_eq!(depths.iter().max().copied().map(|d| d <= 64), Some(true));
    }
}

/// Mid-run, a worker busy with a task that has not finished counts as busy.
#[test]
fn a_running_task_counts_toward_utilisation_before_it_finishes() {
    let mut model = Model::new();
    let at = |t, kind| TraceEvent { t, kind };
    model.apply(&at(0, TraceKind::WorkerUp { worker: 0, pid: 1 }));
    model.apply(&at(0, TraceKind::Submit { task: 0, label: "a".into(), cost_us: None, cpu: false }));
    model.apply(&at(0, TraceKind::Start { task: 0, worker: 0, pid: 1 }));
    model.apply(&at(1_000_000, TraceKind::Queue { depth: 0 }));
    let busy = model.lanes[&0].busy_until(1_000_000);
    assert_eq!(busy, 1_000_000, "one worker busy for the whole second so far");
}
