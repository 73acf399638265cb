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
    cli::main()
}
