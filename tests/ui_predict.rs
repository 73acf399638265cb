//! Predict mode in a real terminal (tmux): the lesson stops before a step with a question,
//! the learner answers with the keys, the step runs, the verdict explains, and the score ends
//! on screen and in the `--answers` file. Skipped, with a notice, where tmux is not installed.
#![cfg(feature = "ui")]

mod common;

use common::tmux::{no_tmux, start};

#[test]
fn a_learner_orders_the_results_sees_the_verdict_and_the_score() {
    if no_tmux() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("poolscope-ui-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let answers = dir.join("answers.json");
    let args = format!("run map-ordering --virtual-time --answers '{}'", answers.display());
    let tmux = start("predict", &args, "40");

    // Before the map: the question, the pages in input order, nothing run yet.
    let asked = tmux.wait_for("In what order will the results reach the main program?");
    assert!(asked.contains("1. Page0") && asked.contains("4. Page3"), "{asked}");
    assert!(asked.contains("0 ran / 0 submitted"), "the step ran before the answer:\n{asked}");
    // Page0 is the slow one: a learner who expects it last picks it up and moves it down.
    tmux.keys(&["Space", "Down", "Down", "Down", "Space"]);
    let moved = tmux.wait_for("4. Page0");
    assert!(moved.contains("1. Page1"), "{moved}");
    tmux.keys(&["Enter"]);
    let verdict = tmux.wait_for("Not quite.");
    assert!(verdict.contains("they came Page0, Page1, Page2, Page3"), "{verdict}");
    assert!(verdict.contains("Why: Page0 takes 2 s"), "the note explains:\n{verdict}");
    tmux.keys(&["Enter"]);

    // Before as_completed: this time the slow page comes last.
    tmux.wait_for("Predict · step 3");
    tmux.keys(&["Space", "Down", "Down", "Down", "Space", "Enter"]);
    let right = tmux.wait_for("Right!");
    assert!(right.contains("Score: 1 of 2 right"), "{right}");
    tmux.keys(&["Enter"]);
    let end = tmux.wait_for("Predictions: 1 of 2 right");
    assert!(end.contains("finished"), "{end}");

    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&answers).unwrap()).unwrap();
    assert_eq!((saved["right"].as_u64(), saved["scored"].as_u64()), (Some(1), Some(2)), "{saved:#}");
    let first = &saved["questions"][0];
    assert_eq!(first["answer"]["order"][3], "Page0", "{saved:#}");
    assert_eq!(first["truth"]["order"][0], "Page0", "{saved:#}");
    tmux.quit_cleanly();
}

#[test]
fn quiz_asks_at_a_lesson_without_predictions_and_esc_skips() {
    if no_tmux() {
        return;
    }
    let tmux = start("quiz", "run exceptions --virtual-time --quiz", "40");
    let asked = tmux.wait_for("Which tasks will succeed, fail, or never run?");
    assert!(asked.contains("Predict · step 3"), "{asked}");
    // Space changes the mark under the cursor.
    tmux.keys(&["Space"]);
    tmux.wait_for("▸ ");
    tmux.keys(&["Escape"]);
    let skipped = tmux.wait_for_gone("Which tasks will succeed");
    assert!(!skipped.contains("Score"), "a skipped question is not scored:\n{skipped}");
    tmux.wait_for("finished");
    tmux.quit_cleanly();
}
