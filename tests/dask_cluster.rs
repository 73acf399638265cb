//! Past one machine: a lesson on a Dask cluster (`kind = "dask"`, CPython's engine). A
//! LocalCluster of 2 workers × 2 threads runs headless with a lane per worker thread named
//! HOST:PID·SLOT; the exported program runs in python3 with what the executor promises (map
//! in item order, as_completed in finishing order, a worker's exception re-raised); a run
//! attaches to a scheduler started here; a worker that cannot reach poolscope (as on another
//! machine) reports through Dask, with the CPU Dask reads for it; and no worker or scheduler
//! is left behind, after the run, after `q` in the live view, and after SIGTERM. Every test
//! skips, saying why, where python3 cannot import Dask's `distributed`.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use poolscope::pool::{PoolKind, TaskId};
use poolscope::trace::{ResultOutcome, TraceEvent, TraceKind, parse_jsonl};

fn poolscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_poolscope"))
}

/// True (with a notice) where python3 has no `distributed`: these tests then skip.
fn no_distributed(test: &str) -> bool {
    cannot(
        test,
        &["python3", "-c", "import distributed"],
        "python3 cannot import distributed (python3 -m pip install distributed)",
    )
}

/// True (with a notice saying `why`) where `command` fails here: the test then skips.
fn cannot(test: &str, command: &[&str], why: &str) -> bool {
    let ok = Command::new(command[0])
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping {test}: {why}");
    }
    !ok
}

/// True while `pid` is a live process (a zombie is not: it runs nothing and holds nothing).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Waits (up to a deadline) for every pid in `pids` to be gone; the ones still alive.
fn still_alive(pids: &BTreeSet<u32>) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lanes' names (`thread_name`) by lane, and each task's lane and pid at its start.
struct Lanes {
    names: HashMap<usize, String>,
    starts: Vec<(TaskId, usize, u32)>,
}

fn lanes(events: &[TraceEvent]) -> Lanes {
    let mut out = Lanes { names: HashMap::new(), starts: Vec::new() };
    for event in events {
        match &event.kind {
            TraceKind::ThreadName { worker, name } => {
                out.names.insert(*worker, name.clone());
            }
            TraceKind::Start { task, worker, pid } => out.starts.push((*task, *worker, *pid)),
            _ => {}
        }
    }
    out
}

/// A lane's name, HOST:PID·SLOT: its PID.
fn pid_of(name: &str) -> u32 {
    let (host_pid, slot) = name.rsplit_once('·').unwrap_or_else(|| panic!("{name:?} has no ·SLOT"));
    assert!(slot.parse::<usize>().is_ok(), "{name:?}: the slot is a number");
    let (host, pid) = host_pid.rsplit_once(':').unwrap_or_else(|| panic!("{name:?} is not HOST:PID·SLOT"));
    assert!(!host.is_empty(), "{name:?} names its host");
    pid.parse().unwrap_or_else(|_| panic!("{name:?}: the pid is a number"))
}

fn run_headless(args: &[&str], log: &std::path::Path) -> Vec<TraceEvent> {
    let output = poolscope()
        .args(["run", "cluster-map", "--engine", "cpython", "--headless", "--events"])
        .arg(log)
        .args(args)
        .stdout(Stdio::null())
        .output()
        .expect("poolscope runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    parse_jsonl(&std::fs::read_to_string(log).expect("the event log")).expect("a valid event log")
}

/// The CPU readings Dask passed on, in order: (lane, percent of a core).
fn cpu_readings(events: &[TraceEvent]) -> Vec<(usize, f32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::WorkerCpu { worker, cpu } => Some((*worker, *cpu)),
            _ => None,
        })
        .collect()
}

/// The results the main program received, in order: (task, outcome, exception).
fn results(events: &[TraceEvent]) -> Vec<(TaskId, ResultOutcome, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Result { task, outcome, exception, .. } => Some((*task, *outcome, exception.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_local_cluster_runs_the_lesson_with_a_lane_per_worker_thread_and_leaves_no_process() {
    if no_distributed("the LocalCluster run") {
        return;
    }
    let log = std::env::temp_dir().join(format!("poolscope-dask-{}.jsonl", std::process::id()));
    let events = run_headless(&[], &log);
    let _ = std::fs::remove_file(&log);
    match &events[0].kind {
        TraceKind::Run { pool, workers, .. } => assert_eq!((*pool, *workers), (PoolKind::Dask, 4)),
        other => panic!("the first event is {other:?}"),
    }
    let lanes = lanes(&events);
    // 2 workers × 2 threads: four lanes, two per worker process, slots 0 and 1.
    assert_eq!(lanes.names.len(), 4, "{:?}", lanes.names);
    let mut per_pid: HashMap<u32, BTreeSet<String>> = HashMap::new();
    for name in lanes.names.values() {
        per_pid.entry(pid_of(name)).or_default().insert(name.rsplit_once('·').unwrap().1.to_string());
    }
    assert_eq!(per_pid.len(), 2, "two worker processes: {:?}", lanes.names);
    assert!(per_pid.values().all(|slots| slots.iter().map(String::as_str).eq(["0", "1"])), "{per_pid:?}");
    // Lanes are grouped by worker: lanes 0-1 one process, 2-3 the other.
    let pid = |lane: usize| pid_of(&lanes.names[&lane]);
    assert_eq!((pid(0), pid(2)), (pid(1), pid(3)), "{:?}", lanes.names);
    assert_ne!(pid(0), pid(2));
    // Workers on this machine: poolscope reads their CPU itself, so none comes from Dask.
    assert!(cpu_readings(&events).is_empty(), "{:?}", cpu_readings(&events));
    // Each task starts on a lane of the process that ran it.
    assert_eq!(lanes.starts.len(), 9);
    for (task, lane, started_by) in &lanes.starts {
        assert_eq!(pid_of(&lanes.names[lane]), *started_by, "task {task} on lane {lane}");
    }
    // map: the items' order. as_completed: Page1-3 (0.3 s), Broken0 (0.6 s, raising), Page0.
    let got = results(&events);
    let order: Vec<TaskId> = got.iter().map(|(task, _, _)| *task).collect();
    assert_eq!(&order[..4], &[0, 1, 2, 3], "{got:?}");
    let from_as_completed: BTreeSet<TaskId> = order[4..7].iter().copied().collect();
    assert_eq!(from_as_completed, BTreeSet::from([5, 6, 7]), "{got:?}");
    assert_eq!(got[7], (8, ResultOutcome::Error, Some("Exception".to_string())));
    assert_eq!(got[8].0, 4, "the slow Page0 comes last: {got:?}");
    // The cluster closed with the client: no worker process is left.
    let pids: BTreeSet<u32> = lanes.names.values().map(|n| pid_of(n)).collect();
    assert_eq!(still_alive(&pids), Vec::<u32>::new(), "worker processes left after the run");
}

#[test]
fn the_exported_program_runs_in_python3_with_the_executors_semantics() {
    if no_distributed("the exported program") {
        return;
    }
    let program = poolscope().args(["export", "cluster-map", "--python"]).output().expect("export runs");
    assert!(program.status.success());
    let text = String::from_utf8(program.stdout).unwrap();
    assert!(
        text.contains("with Client(n_workers=2, threads_per_worker=2) as client, client.get_executor() as pool:"),
        "{text}"
    );
    // A file: the LocalCluster's worker processes are spawned, and import the program.
    let path = std::env::temp_dir().join(format!("poolscope_cluster_map_{}.py", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let output = Command::new("python3").arg(&path).stdin(Stdio::null()).output().expect("python3 runs");
    let _ = std::fs::remove_file(&path);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 9, "{lines:?}");
    for (i, line) in lines[..4].iter().enumerate() {
        assert!(line.starts_with(&format!("Page{i} by ")), "map gives the items' order: {lines:?}");
    }
    assert_eq!(lines[7], "Exception('no such page')", "{lines:?}");
    assert!(lines[8].starts_with("Page0 by "), "as_completed gives the slowest last: {lines:?}");
}

/// A process started here, killed (and reaped) on drop.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a Dask command line (`scheduler` or `worker`), reading its log until a line holds
/// `ready`; that line.
fn start_dask(args: &[&str], ready: &str) -> (Started, String) {
    start_logged(Command::new("python3").args(args), ready)
}

/// Starts `command`, reading its stderr until a line holds `ready`; that line.
fn start_logged(command: &mut Command, ready: &str) -> (Started, String) {
    let args = format!("{command:?}");
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("python3 runs");
    let stderr = child.stderr.take().unwrap();
    let started = Started(child);
    let mut lines = BufReader::new(stderr).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(ready) => break line,
            Some(Ok(_)) => {}
            _ => panic!("{args} ended before saying {ready:?}"),
        }
    };
    // Keep reading its log, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (started, line)
}

#[test]
fn a_run_attaches_to_a_scheduler_started_here() {
    if no_distributed("the scheduler attach") {
        return;
    }
    let (scheduler, line) = start_dask(
        &["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
        "Scheduler at:",
    );
    let address = line.split_whitespace().last().expect("an address").to_string();
    assert!(address.starts_with("tcp://127.0.0.1:"), "{line}");
    let (worker, _) = start_dask(
        &["-m", "distributed.cli.dask_worker", &address, "--nthreads", "2", "--no-nanny", "--no-dashboard"],
        "Registered to:",
    );
    let worker_pid = worker.0.id();
    let log = std::env::temp_dir().join(format!("poolscope-dask-attach-{}.jsonl", std::process::id()));
    let events = run_headless(&["--pool", &format!("scheduler={address}")], &log);
    let _ = std::fs::remove_file(&log);
    let lanes = lanes(&events);
    // The scheduler's one worker, two threads: its tasks ran in that process.
    let pids: BTreeSet<u32> = lanes.names.values().map(|n| pid_of(n)).collect();
    assert_eq!(pids, BTreeSet::from([worker_pid]), "{:?}", lanes.names);
    assert_eq!(lanes.names.len(), 2);
    assert!(lanes.starts.iter().all(|(_, _, pid)| *pid == worker_pid));
    let order: Vec<TaskId> = results(&events).iter().map(|(task, _, _)| *task).collect();
    assert_eq!(&order[..4], &[0, 1, 2, 3]);
    // The scheduler and its worker are not poolscope's: they outlive the run...
    assert!(alive(worker_pid) && alive(scheduler.0.id()));
    let ours = BTreeSet::from([worker_pid, scheduler.0.id()]);
    drop(worker);
    drop(scheduler);
    // ... until the test stops them.
    assert_eq!(still_alive(&ours), Vec::<u32>::new());
}

/// True (with a notice) where this process cannot start one in a mount namespace of its own
/// (`unshare -m`, which needs root): the test of a worker that cannot see poolscope's socket
/// then skips.
fn no_mount_namespace(test: &str) -> bool {
    cannot(test, &["unshare", "-m", "true"], "`unshare -m` is not permitted here (it needs root)")
}

#[test]
fn a_worker_that_cannot_reach_poolscope_reports_through_dasks_event_stream() {
    if no_distributed("the worker on another machine") || no_mount_namespace("the worker on another machine") {
        return;
    }
    let (scheduler, line) = start_dask(
        &["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
        "Scheduler at:",
    );
    let address = line.split_whitespace().last().expect("an address").to_string();
    // As on another machine: the worker's temporary folder, where poolscope's socket is, is
    // an empty one of its own; only the network reaches poolscope, through the scheduler.
    let (worker, _) = start_logged(
        Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount -t tmpfs tmpfs \"$1\" && exec python3 -m distributed.cli.dask_worker \"$2\" \
             --nthreads 2 --no-nanny --no-dashboard",
                "sh",
            ])
            .arg(std::env::temp_dir())
            .arg(&address)
            // Its working folder must outlive the mount: the test's may be under the
            // temporary folder (a checkout in /tmp), which the worker could not enter then.
            .current_dir("/"),
        "Registered to:",
    );
    let worker_pid = worker.0.id();
    let log = std::env::temp_dir().join(format!("poolscope-dask-remote-{}.jsonl", std::process::id()));
    let events = run_headless(&["--pool", &format!("scheduler={address}")], &log);
    let _ = std::fs::remove_file(&log);
    let lanes = lanes(&events);
    assert_eq!(lanes.names.len(), 2, "a lane per thread of the worker: {:?}", lanes.names);
    // Every task the program received a result of started and finished on that worker.
    let received: BTreeSet<TaskId> = results(&events).iter().map(|(task, _, _)| *task).collect();
    let started: BTreeSet<TaskId> = lanes.starts.iter().map(|(task, _, _)| *task).collect();
    assert_eq!(received.len(), 9, "the lesson's nine tasks");
    assert_eq!(started, received, "each task's start was reported");
    assert!(lanes.starts.iter().all(|(_, lane, pid)| *pid == worker_pid && pid_of(&lanes.names[lane]) == worker_pid));
    let finished: BTreeSet<TaskId> = events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Finish { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(finished, received, "each task's finish was reported");
    // poolscope cannot see that worker's process: each of its lanes shows the CPU Dask reads
    // for it, from the start (the first reading as the pool is made) to the end.
    let readings = cpu_readings(&events);
    let read: BTreeSet<usize> = readings.iter().map(|(lane, _)| *lane).collect();
    assert_eq!(read, lanes.names.keys().copied().collect(), "{readings:?}");
    assert!(readings.iter().all(|(_, cpu)| cpu.is_finite() && *cpu >= 0.0), "{readings:?}");
    let first_start = events.iter().position(|e| matches!(e.kind, TraceKind::Start { .. })).unwrap();
    let first_reading = events.iter().position(|e| matches!(e.kind, TraceKind::WorkerCpu { .. })).unwrap();
    assert!(first_reading < first_start, "a reading before the first task starts");
    drop(worker);
    drop(scheduler);
}

/// Every process descended from `pid`.
fn descendants(pid: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                if out.insert(child) {
                    todo.push(child);
                }
            }
        }
    }
    out
}

/// The live view in tmux until the lanes show the workers; then `stop` ends it. No process
/// it started is left.
fn live_then(stop: &str) {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping the live Dask run ({stop}): tmux is not installed");
        return;
    }
    let socket = format!("poolscope-dask-{}-{stop}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().expect("tmux runs");
    let bin = env!("CARGO_BIN_EXE_poolscope");
    tmux(&["new", "-d", "-s", "ui", "-x", "120", "-y", "40", &format!("{bin} run cluster-map --engine cpython")]);
    let pane = String::from_utf8_lossy(&tmux(&["display-message", "-p", "-t", "ui", "#{pane_pid}"]).stdout)
        .trim()
        .parse::<u32>()
        .expect("the pane's pid");
    // The lanes: a row per worker thread, labelled HOST:PID·SLOT, each once its worker
    // reported it — on a busy machine one may come a frame after the others.
    let lanes = |screen: &str| screen.lines().filter(|l| l.starts_with("127.0.0.1:")).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "ui"]).stdout).into_owned();
        if lanes(&screen) >= 4 {
            break screen;
        }
        assert!(Instant::now() < deadline, "the four worker lanes did not appear:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(lanes(&screen), 4, "{screen}");
    let mut started = descendants(pane);
    started.insert(pane);
    let comm = |pid: &u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let program = *started.iter().find(|p| comm(p).trim() == "poolscope").expect("poolscope runs in the pane");
    started.retain(|p| comm(p).trim() != "sh" && *p != pane || *p == program);
    assert!(started.len() >= 4, "poolscope, python3 and two workers at least: {started:?}");
    match stop {
        "q" => {
            tmux(&["send-keys", "-t", "ui", "q"]);
        }
        _ => {
            let _ = Command::new("kill").args(["-TERM", &program.to_string()]).status();
        }
    }
    let left = still_alive(&started);
    let _ = tmux(&["kill-server"]);
    assert_eq!(left, Vec::<u32>::new(), "processes left after {stop}");
}

#[test]
fn quitting_the_live_view_leaves_no_worker() {
    if no_distributed("the live Dask run (q)") {
        return;
    }
    live_then("q");
}

#[test]
fn sigterm_leaves_no_worker() {
    if no_distributed("the live Dask run (SIGTERM)") {
        return;
    }
    live_then("TERM");
}

#[test]
fn a_dask_executor_observes_what_a_thread_pool_does() {
    if no_distributed("Dask's conformance") {
        return;
    }
    // Each lesson on Dask (CPython) against the same lesson on a thread pool of as many threads
    // (poolscope's): result order, outcomes and exceptions, wait's sets.
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance-dask/dask-map-raises-wait.toml");
    let out = poolscope().args(["conform", "cluster-map", corpus]).output().expect("poolscope runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("cluster-map            same") && text.contains("dask-map-raises-wait   same"), "{text}");
    assert!(text.contains("0 new differences") && text.contains("0 runs failed"), "{text}");
}

#[test]
fn a_users_script_shows_the_dask_pool_it_makes() {
    if no_distributed("the Dask script") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("poolscope-dask-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("squares.py");
    std::fs::write(
        &script,
        "import time\nfrom distributed import Client\n\n\ndef square(i):\n    time.sleep(0.05)\n    return i * i\n\n\n\
         if __name__ == \"__main__\":\n    with Client(n_workers=1, threads_per_worker=2) as client:\n        \
         pool = client.get_executor()\n        print(list(pool.map(square, range(4))))\n        pool.shutdown()\n",
    )
    .unwrap();
    let log = dir.join("events.jsonl");
    let output =
        poolscope().arg("py").arg(&script).args(["--headless", "--events"]).arg(&log).output().expect("poolscope runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("[0, 1, 4, 9]"));
    let events = parse_jsonl(&std::fs::read_to_string(&log).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(events[0].kind, TraceKind::Run { pool: PoolKind::Dask, workers: 2, .. }), "{:?}", events[0]);
    let lanes = lanes(&events);
    assert_eq!(lanes.names.len(), 2, "one worker, two threads: {:?}", lanes.names);
    assert_eq!(lanes.starts.len(), 4);
    let got = results(&events);
    assert_eq!(got.iter().map(|(task, _, _)| *task).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
}

#[test]
fn the_queue_is_the_schedulers_count_of_waiting_tasks() {
    if no_distributed("the scheduler's queue") {
        return;
    }
    let log = std::env::temp_dir().join(format!("poolscope-dask-queue-{}.jsonl", std::process::id()));
    let output = poolscope()
        .args(["run", "cluster-task-cost", "--engine", "cpython", "--headless", "--events"])
        .arg(&log)
        .stdout(Stdio::null())
        .output()
        .expect("poolscope runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let events = parse_jsonl(&std::fs::read_to_string(&log).unwrap()).unwrap();
    let _ = std::fs::remove_file(&log);
    // Only the scheduler's plugin says the depth (the probe's own count is not used for Dask):
    // it reports when the scheduler first sees a task, and the queue is empty at the end.
    let depths: Vec<usize> = events
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Queue { depth } => Some(depth),
            _ => None,
        })
        .collect();
    assert!(!depths.is_empty(), "the scheduler reported its queue");
    assert!(depths.iter().all(|d| *d <= 40), "{depths:?}");
    assert_eq!(depths.last(), Some(&0), "{depths:?}");
    assert_eq!(results(&events).len(), 40);
}

#[test]
fn sigterm_to_a_headless_run_leaves_no_worker() {
    if no_distributed("the headless Dask run (SIGTERM)") {
        return;
    }
    let mut child = poolscope()
        .args(["run", "cluster-map", "--engine", "cpython", "--headless"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("poolscope runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // A task has started: the cluster's workers are up.
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(" starts #") => break,
            Some(Ok(_)) => {}
            _ => panic!("the run ended before a task started"),
        }
    }
    let started = descendants(child.id());
    assert!(started.len() >= 3, "python3 and two workers at least: {started:?}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    std::thread::spawn(move || lines.for_each(drop));
    let status = child.wait().expect("poolscope ends");
    // poolscope took the signal (rather than dying of it): it killed python3's process group,
    // whose end it saw, and exits 1 as for any program that did not finish.
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(still_alive(&started), Vec::<u32>::new(), "processes left after SIGTERM");
}

#[test]
fn a_dask_lesson_runs_on_cpython_without_being_told_and_refuses_poolscopes_engine() {
    if no_distributed("a_dask_lesson_runs_on_cpython_without_being_told") {
        return;
    }
    let out = poolscope().args(["run", "cluster-map", "--headless"]).output().expect("poolscope runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("pool: dask") && stdout.contains("Dask-Default-Threads"), "{stdout}");
    let out = poolscope().args(["run", "cluster-map", "--engine", "poolscope", "--headless"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drop --engine poolscope"));
}

#[test]
fn the_picker_runs_a_dask_lesson_on_cpython_and_prints_its_output_once_the_view_closes() {
    if no_distributed("the picker's Dask lesson") || common::tmux::no_tmux() {
        return;
    }
    let tmux = common::tmux::start("dask-picker", "", "40");
    tmux.wait_for("Pick a lesson");
    // The list ends with the lessons past one machine: cluster-map, then cluster-task-cost.
    let down = vec!["j"; 40];
    tmux.keys(&down);
    tmux.keys(&["k"]);
    let picked = tmux.wait_for("▶28. cluster-map");
    assert!(picked.contains("cluster-map · dask pool"), "{picked}");
    tmux.keys(&["Enter"]);
    // It runs on CPython's engine (the header says so), a lane per Dask worker thread, and
    // nothing the program or its workers print reaches the screen while the view is open.
    tmux.wait_for("CPYTHON");
    let deadline = Instant::now() + Duration::from_secs(120);
    let end = loop {
        let screen = tmux.screen();
        if screen.contains("■ finished") {
            break screen;
        }
        assert!(Instant::now() < deadline, "the lesson never finished:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(end.contains("28/29") && end.contains("CPYTHON"), "{end}");
    assert_eq!(end.lines().filter(|l| l.starts_with("127.0.0.1:")).count(), 4, "{end}");
    assert!(
        !end.contains("Compute Failed") && !end.contains("Page0 by"),
        "the program's output garbled the view:\n{end}"
    );
    // Once it closes, what the program printed (its results, and Dask's log of the task that
    // raised) is on the terminal — above the screen's last rows, maybe: a worker whose
    // heartbeat the cluster's shutdown cut off may print its traceback after them.
    tmux.quit_cleanly();
    let after = tmux.history();
    assert!(after.contains("Page0 by"), "{after}");
    assert!(after.contains("no such page"), "{after}");
}
