//! The CPython engine (SPEC §7): `poolscope py` and `run --engine cpython` trace CPython's own
//! pools. Skipped, with a notice, where `python3` is missing. Durations are spaced by at
//! least 150 ms so scheduling noise cannot change an order; nothing here sleeps to
//! synchronise, and no time is asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn python3() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("python3 not found: skipping the CPython engine test");
    }
    found
}

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolscope-cpython-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn poolscope(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).current_dir(dir).output().expect("poolscope runs")
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of<'a>(events: &'a [Value], ev: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["ev"] == ev).collect()
}

fn tasks(events: &[Value], ev: &str) -> Vec<u64> {
    of(events, ev).iter().map(|e| e["task"].as_u64().unwrap()).collect()
}

/// Six naps on three workers. Worker by worker: 0.5 then 0.35 (task 5); 0.1, 0.25, 0.3
/// (tasks 1, 3, 4); 1.2 (task 2). They finish at 0.1, 0.35, 0.5, 0.65, 0.85 and 1.2 s.
const NAPS: &str = "[0.5, 0.1, 1.2, 0.25, 0.3, 0.35]";
const FINISH_ORDER: [u64; 6] = [1, 3, 0, 4, 5, 2];

fn script(pool: &str) -> String {
    format!(
        "import os, time\n\
         from concurrent.futures import {pool}, as_completed\n\
         \n\
         def nap(i):\n    time.sleep({NAPS}[i])\n    return i * 10\n\
         \n\
         if __name__ == \"__main__\":\n    print(\"main pid\", os.getpid())\n\
         \x20   with {pool}(max_workers=3) as pool:\n\
         \x20       futures = [pool.submit(nap, i) for i in range(6)]\n\
         \x20       for f in as_completed(futures):\n\
         \x20           print(\"got\", f.result())\n"
    )
}

/// Runs the six naps on `pool`; checks what every pool shows and gives the PIDs that ran
/// tasks and the main program's PID.
fn six_naps(pool: &str) -> (Vec<u64>, u64) {
    let dir = folder(pool);
    std::fs::write(dir.join("naps.py"), script(pool)).unwrap();
    let out = poolscope(&["py", "naps.py", "--headless", "--events", "naps.jsonl"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let main_pid: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("main pid "))
        .expect("the program's own output passes through")
        .trim()
        .parse()
        .unwrap();
    let events = events(&dir.join("naps.jsonl"));
    assert_eq!(events[0]["ev"], "run");
    assert_eq!(events[0]["engine"], "cpython");
    assert_eq!(events[0]["workers"], 3);
    assert_eq!(events.last().unwrap()["ev"], "end");
    let times: Vec<u64> = events.iter().map(|e| e["t"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "t never decreases");
    assert_eq!(tasks(&events, "submit"), (0..6).collect::<Vec<_>>());
    let labels: Vec<&str> = of(&events, "submit").iter().map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(labels, (0..6).map(|i| format!("nap({i})")).collect::<Vec<_>>());
    assert_eq!(tasks(&events, "finish"), FINISH_ORDER);
    assert_eq!(tasks(&events, "result"), FINISH_ORDER, "as_completed gives them as they finish");
    for result in of(&events, "result") {
        let task = result["task"].as_u64().unwrap();
        assert_eq!(result["outcome"], "ok");
        assert_eq!(result["value"], (task * 10).to_string());
    }
    let mut started = tasks(&events, "start");
    started.sort_unstable();
    assert_eq!(started, (0..6).collect::<Vec<_>>());
    // Each task starts after its submit and finishes after its start; its result comes after.
    let at = |ev: &str, task: u64| events.iter().position(|e| e["ev"] == ev && e["task"] == task).unwrap();
    for task in 0..6 {
        assert!(at("submit", task) < at("start", task) && at("start", task) < at("finish", task));
        assert!(at("finish", task) < at("result", task));
    }
    let lanes: std::collections::BTreeSet<u64> =
        of(&events, "start").iter().map(|e| e["worker"].as_u64().unwrap()).collect();
    assert_eq!(lanes.len(), 3, "three workers, three lanes");
    assert_eq!(of(&events, "worker_up").len(), 3);
    assert_eq!(of(&events, "worker_down").len(), 3);
    let pids = of(&events, "start").iter().map(|e| e["pid"].as_u64().unwrap()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    (pids, main_pid)
}

#[test]
fn py_traces_a_thread_pool_executor() {
    if !python3() {
        return;
    }
    let (pids, main_pid) = six_naps("ThreadPoolExecutor");
    assert!(pids.iter().all(|&pid| pid == main_pid), "threads run in the program's own process: {pids:?}");
    assert_ne!(main_pid, u64::from(std::process::id()));
}

#[test]
fn py_traces_a_process_pool_executor_with_its_real_worker_pids() {
    if !python3() {
        return;
    }
    let (pids, main_pid) = six_naps("ProcessPoolExecutor");
    let distinct: std::collections::BTreeSet<u64> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "three worker processes: {pids:?}");
    assert!(!distinct.contains(&main_pid));
}

#[test]
fn run_pool_basics_on_cpython_has_its_steps_and_results_in_order() {
    if !python3() {
        return;
    }
    let dir = folder("lesson");
    let out = poolscope(&["run", "pool-basics", "--engine", "cpython", "--headless", "--events", "l.jsonl"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&dir.join("l.jsonl"));
    assert_eq!(events[0]["engine"], "cpython");
    let steps: Vec<u64> = of(&events, "step").iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 2], "submit, results, and the with-block's shutdown");
    let step_at = |i: u64| events.iter().position(|e| e["ev"] == "step" && e["index"] == i).unwrap();
    let positions =
        |ev: &str| -> Vec<usize> { events.iter().enumerate().filter(|(_, e)| e["ev"] == ev).map(|(k, _)| k).collect() };
    assert_eq!(tasks(&events, "submit"), (0..10).collect::<Vec<_>>());
    assert!(positions("submit").iter().all(|&k| step_at(0) < k && k < step_at(1)));
    assert_eq!(tasks(&events, "result"), (0..10).collect::<Vec<_>>(), "results in submission order");
    assert!(positions("result").iter().all(|&k| step_at(1) < k && k < step_at(2)));
    let pids: std::collections::BTreeSet<u64> =
        of(&events, "start").iter().map(|e| e["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 4, "four worker processes, each reused");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_lesson_file_on_cpython_steps_through_its_program() {
    if !python3() {
        return;
    }
    let dir = folder("fixture");
    let lesson = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cpython-basics.toml");
    let lesson = lesson.to_str().unwrap();
    let out = poolscope(&["run", lesson, "--engine", "cpython", "--headless", "--events", "b.jsonl"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&dir.join("b.jsonl"));
    let steps: Vec<u64> = of(&events, "step").iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 2]);
    assert_eq!(tasks(&events, "result"), (0..10).collect::<Vec<_>>());
    let values: Vec<&str> = of(&events, "result").iter().map(|e| e["value"].as_str().unwrap()).collect();
    // Each value names its task and the real worker process that ran it, as the program
    // prints it.
    for (i, value) in values.iter().enumerate() {
        assert!(value.starts_with(&format!("P{i} by ")) && value.contains("(pid "), "result {i}: {value}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn virtual_time_is_refused_on_cpython() {
    let dir = folder("virtual");
    let out = poolscope(&["run", "pool-basics", "--engine", "cpython", "--virtual-time", "--headless"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--virtual-time does not apply to --engine cpython"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_old_python3_is_named_and_refused() {
    let dir = folder("nopython");
    std::fs::write(dir.join("x.py"), "print(1)\n").unwrap();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["py", "x.py", "--headless"])
        .current_dir(&dir)
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("could not run `python3`") && said.contains("3.8"), "{said}");
    // An interpreter that says it is 3.7.
    let old = dir.join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("python3"), "#!/bin/sh\necho 3.7\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(old.join("python3"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let too_old = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["py", "x.py", "--headless"])
        .current_dir(&dir)
        .env("PATH", &old)
        .output()
        .unwrap();
    assert_eq!(too_old.status.code(), Some(1));
    let said = String::from_utf8_lossy(&too_old.stderr);
    assert!(said.contains("`python3` is Python 3.7"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_exception_in_the_script_shows_its_traceback_and_exits_1() {
    if !python3() {
        return;
    }
    let dir = folder("raise");
    std::fs::write(
        dir.join("bad.py"),
        "from concurrent.futures import ThreadPoolExecutor\n\
         \n\
         def fail(i):\n    raise ValueError(f\"boom {i}\")\n\
         \n\
         with ThreadPoolExecutor(max_workers=2) as pool:\n    pool.submit(fail, 7).result()\n",
    )
    .unwrap();
    let out = poolscope(&["py", "bad.py", "--headless", "--events", "bad.jsonl"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Traceback (most recent call last):"), "{said}");
    assert!(said.contains("bad.py\", line 7") && said.contains("ValueError: boom 7"), "{said}");
    assert!(!said.contains("poolscope_probe") && !said.contains("runpy"), "only the program's frames: {said}");
    let events = events(&dir.join("bad.jsonl"));
    let finish = of(&events, "finish")[0];
    assert_eq!((finish["outcome"].as_str(), finish["error"].as_str()), (Some("error"), Some("ValueError: boom 7")));
    let result = of(&events, "result")[0];
    assert_eq!((result["outcome"].as_str(), result["exception"].as_str()), (Some("error"), Some("ValueError")));
    assert_eq!(events.last().unwrap()["ev"], "end");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `multiprocessing.Pool(2)`: two spaced apply_async naps, a map, then close() and join().
/// The naps take 0.2 and 0.5 s on the two workers, so the map's items come after both.
const MP_POOL: &str = "import multiprocessing, time\n\
     \n\
     def nap(x):\n    time.sleep(x)\n    return x * 10\n\
     \n\
     def double(x):\n    return x * 2\n\
     \n\
     if __name__ == \"__main__\":\n\
     \x20   pool = multiprocessing.Pool(2)\n\
     \x20   naps = [pool.apply_async(nap, (d,)) for d in (0.2, 0.5)]\n\
     \x20   print([r.get() for r in naps])\n\
     \x20   print(pool.map(double, [1, 2, 3]))\n\
     \x20   pool.close()\n\
     \x20   pool.join()\n";

#[test]
fn py_traces_a_multiprocessing_pool_with_its_worker_pids() {
    if !python3() {
        return;
    }
    let dir = folder("mp-pool");
    std::fs::write(dir.join("mp.py"), MP_POOL).unwrap();
    let out = poolscope(&["py", "mp.py", "--headless", "--events", "run.jsonl"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[2.0, 5.0]") && stdout.contains("[2, 4, 6]"), "{stdout}");
    let events = events(&dir.join("run.jsonl"));
    assert_eq!(events[0]["pool"], "process");
    assert_eq!(events[0]["workers"], 2);
    // One task per apply_async and one per item of the map.
    assert_eq!(tasks(&events, "submit"), vec![0, 1, 2, 3, 4]);
    let labels: Vec<&str> = of(&events, "submit").iter().map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["nap(0.2)", "nap(0.5)", "double(1)", "double(2)", "double(3)"]);
    let mut started = tasks(&events, "start");
    started.sort_unstable();
    assert_eq!(started, vec![0, 1, 2, 3, 4]);
    // The two naps ran at once, on the two worker processes the pool reported.
    let pid = |task: u64| of(&events, "start").iter().find(|e| e["task"] == task).unwrap()["pid"].as_u64().unwrap();
    assert_ne!(pid(0), pid(1));
    let ups: Vec<u64> = of(&events, "worker_up").iter().map(|e| e["pid"].as_u64().unwrap()).collect();
    assert_eq!(ups.len(), 2, "{ups:?}");
    assert!(ups.contains(&pid(0)) && ups.contains(&pid(1)), "{ups:?}");
    let mut finished = tasks(&events, "finish");
    finished.sort_unstable();
    assert_eq!(finished, vec![0, 1, 2, 3, 4]);
    assert!(of(&events, "finish").iter().all(|e| e["outcome"] == "ok"));
    // Results in the program's order, with its values.
    assert_eq!(tasks(&events, "result"), vec![0, 1, 2, 3, 4]);
    let values: Vec<&str> = of(&events, "result").iter().map(|e| e["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["2.0", "5.0", "2", "4", "6"]);
    // close() then join(): two shutdowns, and both workers go down.
    let shutdowns: Vec<(bool, &str)> =
        of(&events, "shutdown").iter().map(|e| (e["wait"].as_bool().unwrap(), e["phase"].as_str().unwrap())).collect();
    assert_eq!(shutdowns, [(false, "begin"), (false, "end"), (true, "begin"), (true, "end")]);
    assert_eq!(of(&events, "worker_down").len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_coroutines_lesson_runs_on_cpythons_asyncio_loop() {
    if !python3() {
        return;
    }
    let dir = folder("asyncio");
    let out = poolscope(&["run", "coroutines", "--engine", "cpython", "--headless", "--events", "c.jsonl"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&dir.join("c.jsonl"));
    assert_eq!(of(&events, "run")[0]["pool"], "coroutine");
    assert_eq!(tasks(&events, "submit"), (0..9).collect::<Vec<_>>(), "five fetches, three more, one blocking");
    // The lesson's labels, as poolscope's own run has them (not the probe's `fetch(0)`).
    let labels: Vec<&str> = of(&events, "submit").iter().map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(labels[0], "Fetch0");
    assert_eq!(labels[8], "Blocking0");
    // Every task runs on the loop's one thread, in the main process.
    let lanes: std::collections::BTreeSet<(u64, u64)> =
        of(&events, "start").iter().map(|e| (e["worker"].as_u64().unwrap(), e["pid"].as_u64().unwrap())).collect();
    assert_eq!(lanes.len(), 1, "one lane, the event loop's, in one process: {lanes:?}");
    assert_eq!(tasks(&events, "result"), [0, 1, 2, 3, 4, 5, 6, 7], "awaited in the order the program awaits them");
    let steps: Vec<u64> = of(&events, "step").iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(steps.first(), Some(&0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_thread_pools_initializer_is_reported_from_its_worker_on_both_engines() {
    if !python3() {
        return;
    }
    let dir = folder("initializer");
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/thread-initializer.toml");
    for engine in ["cpython", "poolscope"] {
        let log = format!("{engine}.jsonl");
        let out = poolscope(&["run", case, "--engine", engine, "--headless", "--events", &log], &dir);
        assert!(out.status.success(), "{engine}: {}", String::from_utf8_lossy(&out.stderr));
        let events = events(&dir.join(&log));
        for worker in [0, 1] {
            let at = |ev: &str| events.iter().position(|e| e["ev"] == ev && e["worker"] == worker);
            let (up, begun, ran, start) = (at("worker_up"), at("initializing"), at("initialized"), at("start"));
            assert!(
                up.is_some() && up < begun && begun < ran && ran < start,
                "{engine}, worker {worker}: up {up:?}, initializing {begun:?}, initialized {ran:?}, first start {start:?}"
            );
            let ran = &events[ran.unwrap()];
            assert!(ran.get("error").is_none(), "{engine}: {ran}");
            // The 0.2 s the initializer sleeps, between its two events.
            let took = ran["t"].as_u64().unwrap() - events[begun.unwrap()]["t"].as_u64().unwrap();
            assert!(took >= 150_000, "{engine}, worker {worker}: the initializer took {took} µs");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
