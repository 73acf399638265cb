//! The poolscope binary: parses the command line and hands over to the UI, a headless run,
//! a benchmark, or (hidden) a process-pool worker.

use std::process::ExitCode;

mod cli;

// mimalloc frees memory another thread allocated without taking a lock; glibc's malloc
// serialises those frees on an arena lock, which shows in every cross-thread hand-off.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
