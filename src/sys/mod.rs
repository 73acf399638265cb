//! The CPU sampler: a thread that reads per-core usage (and the usage of chosen processes —
//! the worker processes of a process pool) with `sysinfo`, and sends a [`CpuSample`] every
//! [`SAMPLE_EVERY`]. sysinfo needs at least 200 ms between two reads of CPU usage to measure
//! anything, so the sampler never reads faster than that.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

/// Time between two samples (sysinfo's floor is 200 ms).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// One reading of the machine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuSample {
    /// Usage of each logical core, 0..=100.
    pub cores: Vec<f32>,
    /// Usage of each watched process (pid, percent of one core; may exceed 100).
    pub processes: Vec<(u32, f32)>,
    /// The watched processes that are stopped (SIGSTOP, a debugger): they run nothing until
    /// continued.
    pub stopped: Vec<u32>,
}

/// The processes the sampler watches; the app loop updates it as workers come and go.
pub type Watched = Arc<Mutex<Vec<u32>>>;

/// Starts the sampler. It sends through `send` until `send` returns false.
///
/// # Errors
/// The thread could not be started.
pub fn spawn_sampler(
    watched: Watched,
    mut send: impl FnMut(CpuSample) -> bool + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("cpu-sampler".into()).spawn(move || {
        let mut system = System::new();
        system.refresh_cpu_usage();
        loop {
            std::thread::sleep(SAMPLE_EVERY.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
            if !send(sample(&mut system, &watched)) {
                return;
            }
        }
    })
}

/// Reads the machine once (the first reading after [`System::new`] is all zeros).
pub fn sample(system: &mut System, watched: &Watched) -> CpuSample {
    system.refresh_cpu_usage();
    let cores = system.cpus().iter().map(|c| c.cpu_usage()).collect();
    let pids: Vec<Pid> = watched.lock().map(|w| w.iter().map(|p| Pid::from_u32(*p)).collect()).unwrap_or_default();
    let (mut processes, mut stopped) = (Vec::new(), Vec::new());
    if !pids.is_empty() {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing().with_cpu(),
        );
        for pid in &pids {
            if let Some(p) = system.process(*pid) {
                processes.push((pid.as_u32(), p.cpu_usage()));
                if matches!(p.status(), ProcessStatus::Stop | ProcessStatus::Tracing) {
                    stopped.push(pid.as_u32());
                }
            }
        }
    }
    CpuSample { cores, processes, stopped }
}

/// CPU time (user + system) this process has used so far (Linux: `/proc/self/stat`; zero elsewhere).
pub fn process_cpu_time() -> Duration {
    proc_self_cpu_time().unwrap_or_default()
}

fn proc_self_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = 100; // USER_HZ on Linux
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_process_is_reported_stopped() {
        let mut child = std::process::Command::new("sleep").arg("60").spawn().expect("sleep runs");
        let pid = child.id();
        let watched: Watched = Arc::new(Mutex::new(vec![pid]));
        let mut system = System::new();
        assert!(sample(&mut system, &watched).stopped.is_empty(), "running");
        let os_pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(os_pid, rustix::process::Signal::STOP).expect("our child");
        // Returns once the kernel has stopped it.
        let waited = rustix::process::waitpid(Some(os_pid), rustix::process::WaitOptions::UNTRACED).expect("our child");
        let stopped = waited.is_some_and(|(_, status)| status.stopped());
        assert!(stopped);
        assert_eq!(sample(&mut system, &watched).stopped, [pid]);
        child.kill().expect("a stopped process can be killed");
        child.wait().expect("reaped");
    }
}
