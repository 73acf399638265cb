//! The poolscope binary: parses the command line and hands over to the UI, a headless run,
//! a benchmark, or (hidden) a process-pool worker.

use std::process::ExitCode;

mod cli;

// mimalloc frees memory another thread allocated without taking a lock; glibc's malloc
// serialises those frees on an arena lock, which shows in every cross-thread hand-off.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    prompt_purge();
    if let Some(code) = poolscope::pool::process::worker_main_if_requested() {
        return code;
    }
    // A crashing task on a thread pool panics on purpose, and the pool reports it as the
    // task's error: its message would only be noise over the transcript or the UI.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !poolscope::pool::panic_is_caught() {
            previous(info);
        }
    }));
    cli::main()
}

/// Asks the kernel not to back this process's memory with transparent huge pages. mimalloc
/// hands each thread its own pages, and a pool run starts threads and touches fresh memory
/// in many places: with huge pages, each first touch of a 2 MB region makes the kernel clear
/// all of it. Measured on a 2-core machine, a headless run of 20,000 tiny tasks spent 70 % of
/// its time clearing pages and took 0.25 s (0.05 s without), a million took 5.8 s (3.0 s).
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a flag of this
    // process; it reads or writes no memory of ours. A kernel without it returns an error,
    // which leaves things as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Asks mimalloc to give memory the program freed back to the OS after 100 ms rather than
/// a second (its default since v3). A run frees as it goes — events read, tasks ended,
/// futures let go — and a headless run of a million tiny tasks is over in a second or two,
/// so a second's delay keeps most of what it ever freed (its peak RSS was 58-82 MB with the
/// default, 48-52 MB with 10 ms). A shorter delay than 100 ms costs more than it saves: a
/// pool run that allocates as it goes gives pages back and faults them in again — with 10
/// ms, a thread pool ran 400,000 no-op tasks at 6.9 M tasks/s against 10.6 M/s with 100 ms,
/// and a probed run of 100,000 lost 42 % of its throughput to the probe against 23-27 %,
/// while the soak's peak RSS moved less than it does from run to run.
fn prompt_purge() {
    // `mi_option_purge_delay`, the 16th of mimalloc's `mi_option_e` in v2 and v3 alike.
    const PURGE_DELAY: std::ffi::c_int = 15;
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: mimalloc (our global allocator, linked by the mimalloc crate) exports
    // `mi_option_set(mi_option_t, long)`; it stores an integer in its option table, which
    // mimalloc reads afresh each time it decides when to purge, from any thread.
    unsafe {
        mi_option_set(PURGE_DELAY, 100);
    }
}
