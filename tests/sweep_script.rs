//! `poolscope sweep SCRIPT.py` and `poolscope compare SCRIPT.py`: a user's own program run
//! under `python3` with its pools given each size. The fixture (`tests/scripts/sleepy_pool.py`)
//! prints its pool's size and how many threads ran its tasks; its tasks wait at a barrier for
//! as many others as the pool has workers, so a pool that had fewer would never get past it.
//! Skipped, with a notice, where `python3` is missing. No time is asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn python3() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: python3 is not installed; the sweep of a Python program did not run");
    }
    found
}

fn poolscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolscope")).args(args).output().expect("poolscope runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts").join(name).display().to_string()
}

/// A fresh folder for one test's output.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolscope-sweep-script-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The lines of `--json`: one object per size, and the reading last.
fn json_lines(output: &Output) -> (Vec<Value>, Value) {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let mut lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    let tail = lines.pop().expect("a reading after the sizes");
    assert!(tail.get("workers").is_none() && tail.get("knee").is_some(), "{tail}");
    (lines, tail)
}

fn stdout_of(point: &Value) -> String {
    std::fs::read_to_string(point["stdout"].as_str().expect("the run's stdout file")).unwrap()
}

#[test]
fn each_size_runs_the_program_with_a_pool_of_that_many_workers() {
    if !python3() {
        return;
    }
    let dir = folder("sizes");
    let script = fixture("sleepy_pool.py");
    let out = poolscope(&["sweep", &script, "--workers", "1,2,4", "--json", "--output-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (points, tail) = json_lines(&out);
    let sizes: Vec<u64> = points.iter().map(|p| p["workers"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [1, 2, 4]);
    for point in &points {
        let n = point["workers"].as_u64().unwrap();
        assert_eq!(point["exit_status"], 0, "{point}");
        assert_eq!(point["ok"], 8, "{point}");
        // The events show n lanes, and the program saw n workers and n threads at work.
        assert_eq!(point["workers_started"], n, "{point}");
        let pools = point["pools"].as_array().unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0]["kind"], "ThreadPoolExecutor");
        assert_eq!((pools[0]["asked"].as_u64(), pools[0]["workers"].as_u64()), (Some(4), Some(n)));
        let printed = stdout_of(point);
        assert!(printed.contains(&format!("pool workers {n}\n")), "{printed}");
        assert!(printed.contains(&format!("threads that ran tasks {n}\n")), "{printed}");
        assert_eq!(Path::new(point["stdout"].as_str().unwrap()), dir.join(format!("workers-{n}.stdout")));
    }
    assert_eq!(tail["failed"], serde_json::json!([]));
    assert!(tail["models"]["amdahl"].is_object(), "the same fits as a lesson's sweep: {tail}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_size_whose_program_fails_is_reported_at_that_size_and_the_sweep_goes_on() {
    if !python3() {
        return;
    }
    let dir = folder("fails");
    let script = fixture("sleepy_pool.py");
    let dir_arg = dir.to_str().unwrap();
    let args = ["sweep", &script, "--workers", "1,2,4", "--output-dir", dir_arg, "--json", "--", "--fail-at", "2"];
    let out = poolscope(&args);
    assert_eq!(out.status.code(), Some(1), "a size failed: {}", String::from_utf8_lossy(&out.stderr));
    let (points, tail) = json_lines(&out);
    let status: Vec<(u64, i64)> =
        points.iter().map(|p| (p["workers"].as_u64().unwrap(), p["exit_status"].as_i64().unwrap())).collect();
    assert_eq!(status, [(1, 0), (2, 1), (4, 0)]);
    assert_eq!(points[1]["error"], "RuntimeError: no good at 2 workers");
    assert!(points[0]["error"].is_null() && points[2]["error"].is_null());
    let stderr = std::fs::read_to_string(dir.join("workers-2.stderr")).unwrap();
    assert!(stderr.starts_with("Traceback (most recent call last):"), "{stderr}");
    assert_eq!(tail["failed"], serde_json::json!([2]));
    assert_eq!(tail["fastest"].as_u64().map(|n| n == 2), Some(false), "a failed size is not the fastest");
    // The table says it too, under the size's row.
    let args = ["sweep", &script, "--workers", "1,2", "--output-dir", dir_arg, "--headless", "--", "--fail-at", "2"];
    let out = poolscope(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().position(|l| l.trim_start().starts_with("2 ")).expect("a row for size 2");
    let failure = text.lines().skip(row).find(|l| l.contains("FAILED")).expect("its failure");
    assert!(failure.contains("status 1: RuntimeError: no good at 2 workers"), "{text}");
    assert!(text.contains("The program at size 2 failed"), "{text}");
    assert!(text.contains(&format!("{dir_arg}/workers-N.stdout")), "where the output is: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pool_index_sizes_only_the_pool_made_in_that_place() {
    if !python3() {
        return;
    }
    let dir = folder("index");
    let script = fixture("sleepy_pool.py");
    let dir_arg = dir.to_str().unwrap();
    let args = ["sweep", &script, "--workers", "1,2", "--pool-index", "1", "--json", "--output-dir", dir_arg];
    let out = poolscope(&[&args[..], &["--", "--pools"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (points, _) = json_lines(&out);
    assert_eq!(points.len(), 2);
    for point in &points {
        let n = point["workers"].as_u64().unwrap();
        let pools = point["pools"].as_array().unwrap();
        let got: Vec<(bool, Option<u64>)> = pools.iter().map(|p| (p["sized"] == true, p["workers"].as_u64())).collect();
        assert_eq!(got, [(false, Some(3)), (true, Some(n))], "{point}");
        let printed = stdout_of(point);
        assert!(printed.contains("first pool workers 3\n"), "the first pool keeps its size: {printed}");
        assert!(printed.contains(&format!("pool workers {n}\nthreads that ran tasks {n}\n")), "{printed}");
    }
    // An index past the pools the program made is named, with what it made.
    let out = poolscope(&["sweep", &script, "--workers", "1", "--pool-index", "1", "--json", "--output-dir", dir_arg]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--pool-index 1:") && stderr.contains("made only 1 pool (0: ThreadPoolExecutor)"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_that_makes_no_pool_is_told_so() {
    if !python3() {
        return;
    }
    let dir = folder("nopool");
    let out = poolscope(&[
        "sweep",
        &fixture("no_pool.py"),
        "--workers",
        "1,2",
        "--json",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without making a pool") && stderr.contains("ThreadPoolExecutor"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_does_not_apply_to_a_program_or_a_lesson_is_refused_with_exit_2() {
    let script = fixture("sleepy_pool.py");
    let refused = [
        (vec!["sweep", "missing_program.py"], "no such Python file"),
        (vec!["sweep", &script, "--virtual-time"], "--virtual-time does not apply"),
        (vec!["sweep", &script, "--pool", "kind=process"], "pools are its own"),
        (vec!["sweep", "threads-io-bound", "--pool-index", "1"], "--pool-index: only for a Python program"),
        (vec!["compare", "threads-io-bound", "--a", "workers=2", "--output-dir", "x"], "--output-dir: only for"),
        (vec!["compare", &script, "--a", "kind=process"], "only workers=N applies"),
        (vec!["compare", &script, "--a", "engine=poolscope"], "engine=poolscope does not apply"),
        (vec!["compare", &script], "e.g. --a workers=2 --b workers=8"),
    ];
    for (args, message) in refused {
        let out = poolscope(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn compare_runs_the_program_at_both_sizes() {
    if !python3() {
        return;
    }
    let dir = folder("compare");
    let script = fixture("sleepy_pool.py");
    let dir_arg = dir.to_str().unwrap();
    let out =
        poolscope(&["compare", &script, "--a", "workers=2", "--b", "workers=4", "--json", "--output-dir", dir_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let both: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (side, n) in [("a", 2), ("b", 4)] {
        assert_eq!(both[side]["workers"], n, "{both}");
        assert_eq!(both[side]["summary"]["workers_started"], n, "{both}");
        assert_eq!(both[side]["pools"][0]["workers"], n, "{both}");
        let printed = std::fs::read_to_string(dir.join(format!("{side}.stdout"))).unwrap();
        assert!(printed.contains(&format!("threads that ran tasks {n}\n")), "{printed}");
    }
    // The table names both sizes, and a side that failed.
    let args = ["compare", &script, "--a", "workers=1", "--b", "workers=2", "--headless", "--output-dir", dir_arg];
    let out = poolscope(&[&args[..], &["--", "--fail-at", "2"]].concat());
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("A · workers=1: every pool it makes given 1 worker\n"), "{text}");
    assert!(text.contains("B · workers=2: every pool it makes given 2 workers\n"), "{text}");
    assert!(
        text.contains("B · workers=2 FAILED: python3 exited with status 1: RuntimeError: no good at 2 workers"),
        "{text}"
    );
    assert!(text.contains("(not compared: different work)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
