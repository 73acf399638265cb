//! The conformance suite: every built-in lesson and the corpus in `tests/conformance/` run on
//! poolscope's pools and on CPython's, and what their programs observe is the same, except
//! where `tests/conformance/expected-differences.toml` says why not. Skipped, with a notice,
//! where `python3` is missing.

use std::path::Path;
use std::process::Command;

fn python3() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        println!("SKIPPED: python3 is not installed; poolscope was not compared with CPython");
    }
    found
}

fn conform(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_poolscope")).arg("conform").args(args).output().expect("poolscope runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("expected-differences.toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn every_lesson_and_the_corpus_observe_what_cpython_does_or_say_why_not() {
    if !python3() {
        return;
    }
    let mut args: Vec<String> = poolscope::scenario::builtin_names().map(str::to_string).collect();
    args.extend(corpus());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, text) = conform(&args);
    println!("{text}");
    assert_eq!(code, Some(0), "poolscope and CPython differ where nothing says why:\n{text}");
    assert!(text.contains("0 new differences"), "{text}");
}

#[test]
fn a_difference_nobody_listed_fails_and_names_the_step_and_both_values() {
    if !python3() {
        return;
    }
    // poolscope's respawn on an executor is an extension: ProcessPoolExecutor breaks instead,
    // so the results differ, and nothing lists it.
    let dir = std::env::temp_dir().join(format!("poolscope-conform-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("respawning-executor.toml");
    let lesson = "title = \"x\"\nseed = 1\n[pool]\nkind = \"process\"\nworkers = 2\non_worker_death = \"respawn\"\n\
        [tasks.job]\nwork = \"sleep\"\nduration = \"0.5s\"\n[tasks.crash]\nwork = \"crash\"\nduration = \"0.1s\"\n\
        [[step]]\nop = \"submit\"\ntask = \"crash\"\n[[step]]\nop = \"submit\"\ntask = \"job\"\ncount = 2\n\
        [[step]]\nop = \"as_completed\"\n";
    std::fs::write(&copy, lesson).unwrap();
    let (code, text) = conform(&[copy.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("step 3 (as_completed) — NEW"), "{text}");
    assert!(text.contains("poolscope: ") && text.contains("cpython: "), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
