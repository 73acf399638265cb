//! `--record`: the cast is a valid asciicast v2 file whose frames, replayed through a real
//! terminal emulator (vt100), show the lesson screen — lanes and the caption — at each
//! step's marker.

use std::process::Command;

use serde_json::Value;

fn record(lesson: &str, dir: &std::path::Path) -> Vec<Value> {
    let cast = dir.join(format!("{lesson}.cast"));
    let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--headless", "--speed", "20", "--size", "100x30", "--record"])
        .arg(&cast)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success(), "the recording run exits 0");
    let text = std::fs::read_to_string(&cast).expect("the cast was written");
    text.lines().map(|line| serde_json::from_str(line).expect("every line of a cast is JSON")).collect()
}

#[test]
fn a_cast_replays_to_the_lesson_screen_at_every_step() {
    let dir = std::env::temp_dir().join(format!("poolscope-cast-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = record("callbacks", &dir);
    let header = &lines[0];
    assert_eq!(header["version"], 2);
    assert_eq!((header["width"].as_u64(), header["height"].as_u64()), (Some(100), Some(30)));
    assert!(
        header["title"].as_str().unwrap().contains("callbacks") || header["title"].as_str().unwrap().contains("Done")
    );

    let mut screen = vt100::Parser::new(30, 100, 0);
    let mut last_t = 0.0;
    let mut markers = Vec::new();
    for event in &lines[1..] {
        let t = event[0].as_f64().expect("a time");
        assert!(t >= last_t, "times never go back");
        last_t = t;
        match event[1].as_str().unwrap() {
            "o" => screen.process(event[2].as_str().unwrap().as_bytes()),
            "m" => markers.push((event[2].as_str().unwrap().to_string(), screen.screen().contents())),
            other => panic!("unexpected event code {other}"),
        }
    }
    assert!(markers.len() >= 3, "a marker per step: {:?}", markers.iter().map(|m| &m.0).collect::<Vec<_>>());
    for (n, (label, contents)) in markers.iter().enumerate() {
        assert!(label.starts_with(&format!("step {}:", n + 1)), "marker {n} is {label:?}");
        assert!(contents.contains(&format!("Step {}/", n + 1)), "at {label}, the caption names the step:\n{contents}");
        assert!(contents.contains("Workers"), "at {label}, the lanes are drawn:\n{contents}");
    }
    let (_, end) = markers.last().unwrap();
    assert!(end.contains("w0"), "by the last step a worker lane is shown:\n{end}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every built-in lesson, recorded on virtual time: each step's caption is on screen (from
/// its marker to the next) for at least its reading time, and the last frame stays.
#[test]
fn every_caption_of_every_lesson_stays_for_its_reading_time_in_a_recording() {
    use poolscope::ui::session::{caption_of, reading_time};
    let dir = std::env::temp_dir().join(format!("poolscope-reading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for lesson in poolscope::scenario::builtin_names() {
        let cast = dir.join(format!("{lesson}.cast"));
        let events = dir.join(format!("{lesson}.jsonl"));
        let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
            .args(["run", lesson, "--virtual-time", "--cores", "2", "--record"])
            .arg(&cast)
            .arg("--events")
            .arg(&events)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("poolscope runs");
        assert!(status.success(), "{lesson}: the recording run exits 0");
        let captions: Vec<String> = std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["ev"] == "step")
            .map(|e| caption_of(e["note"].as_str(), e["op"].as_str().unwrap()))
            .collect();
        let lines: Vec<Value> =
            std::fs::read_to_string(&cast).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let markers: Vec<f64> = lines[1..].iter().filter(|e| e[1] == "m").map(|e| e[0].as_f64().unwrap()).collect();
        let last = lines.last().unwrap()[0].as_f64().unwrap();
        assert_eq!(markers.len(), captions.len(), "{lesson}: a marker per step");
        for (i, caption) in captions.iter().enumerate() {
            let until = markers.get(i + 1).copied().unwrap_or(last);
            let shown = until - markers[i];
            let read = reading_time(caption).as_secs_f64();
            assert!(shown + 1e-6 >= read, "{lesson} step {}: on screen {shown:.2} s, reading time {read:.2} s", i + 1);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
