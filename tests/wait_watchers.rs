//! `wait` and `as_completed` that return early (timeout, FIRST_COMPLETED) take their
//! watchers off the futures, as CPython removes its waiters: polling a long-lived future
//! does not grow memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use poolscope::pool::{ReturnWhen, ThreadPool, as_completed, wait};

/// Counts the bytes alive, to see what a loop of polls leaves behind.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn polling_a_pending_future_leaves_nothing_behind() {
    let pool = ThreadPool::new(1);
    let (release_tx, release) = crossbeam_channel::bounded::<()>(0);
    let long = vec![
        pool.submit(move || {
            let _ = release.recv();
        })
        .unwrap(),
    ];
    for _ in 0..100 {
        let _ = wait(&long, Some(Duration::ZERO), ReturnWhen::FirstCompleted);
    }
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..10_000 {
        let outcome = wait(&long, Some(Duration::ZERO), ReturnWhen::FirstCompleted);
        assert_eq!(outcome.not_done.len(), 1);
        assert_eq!(as_completed(&long, Some(Duration::ZERO)).count(), 1, "one timeout, then the end");
    }
    let grown = LIVE.load(Ordering::Relaxed) - before;
    drop(release_tx);
    long[0].result(None).unwrap();
    assert!(grown < 64 * 1024, "20,000 timed-out polls of one pending future kept {grown} bytes");
}
