//! `--record FILE.svg`: one self-contained animated SVG, the same bytes on every virtual-time
//! run, a chapter per step — and, where Chromium is installed, a browser shows the lesson's
//! text in it, a different picture at two step markers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn record_svg(lesson: &str, path: &Path) -> String {
    let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--virtual-time", "--cores", "2", "--size", "100x30", "--record"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success(), "the recording run exits 0");
    std::fs::read_to_string(path).expect("the svg was written")
}

/// The chapters (seconds, label) the SVG lists.
fn chapters(svg: &str) -> Vec<(f64, String)> {
    let list = svg.split("data-chapters=\"").nth(1).and_then(|s| s.split('"').next()).expect("a chapter list");
    list.split(';')
        .map(|c| {
            let (t, label) = c.split_once(':').expect("time:label");
            (t.parse().expect("seconds"), label.to_string())
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolscope-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_svg_recording_is_one_animated_picture_the_same_every_run() {
    let dir = temp_dir("svg");
    let first = record_svg("map-ordering", &dir.join("a.svg"));
    let second = record_svg("map-ordering", &dir.join("b.svg"));
    assert!(first == second, "two virtual-time recordings differ");
    assert!(first.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(first.trim_end().ends_with("</svg>"));
    assert!(first.contains("@keyframes film") && first.contains("infinite"), "it animates and loops");
    let steps: Vec<String> = chapters(&first).into_iter().map(|(_, l)| l).collect();
    assert_eq!(steps, ["step 1: map", "step 2: submit", "step 3: as_completed", "step 4: shutdown"]);
    assert!(first.contains("Page0") && first.contains("head-of-line"), "the lesson's text is drawn as text");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_extension_is_refused_with_the_formats() {
    let out = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", "map-ordering", "--virtual-time", "--record", "/nonexistent/x.mp4"])
        .output()
        .expect("poolscope runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".cast") && err.contains(".svg"), "{err}");
}

/// Chromium's name here, if it is installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok())
}

/// Chromium's screenshot of `svg` held at `seconds` into its animation: the SVG inline in a
/// page whose script pauses every animation at that moment. The pixels, RGBA.
fn screenshot_at(browser: &str, svg: &str, seconds: f64, dir: &Path) -> Vec<u8> {
    let page = dir.join(format!("at-{seconds}.html"));
    let shot = dir.join(format!("at-{seconds}.png"));
    let html = format!(
        "<!doctype html><html><body style=\"margin:0\">{svg}<script>for (const a of document.getAnimations()) \
         {{ a.pause(); a.currentTime = {}; }}</script></body></html>",
        seconds * 1000.0
    );
    std::fs::write(&page, html).unwrap();
    let status = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=840,510"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(status.success(), "chromium took the screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    pixels.chunks(channels).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

#[test]
fn a_browser_draws_the_lesson_and_a_different_picture_at_two_steps() {
    let Some(browser) = chromium() else {
        println!("SKIPPED: Chromium is not installed; the SVG was not looked at in a browser");
        return;
    };
    let dir = temp_dir("svg-browser");
    let svg = record_svg("map-ordering", &dir.join("m.svg"));
    let marks = chapters(&svg);
    let (first, last) = (marks[0].0 + 1.0, marks[marks.len() - 1].0 + 0.5);
    let a = screenshot_at(browser, &svg, first, &dir);
    let b = screenshot_at(browser, &svg, last, &dir);
    // The background is #1c1c1c; text and blocks are lighter.
    let lit = |pixels: &[u8]| pixels.chunks(4).filter(|p| p[0] > 0x60 || p[1] > 0x60 || p[2] > 0x60).count();
    let total = a.len() / 4;
    assert!(lit(&a) > total / 50, "text is drawn at step 1 ({} of {total} pixels lit)", lit(&a));
    assert!(lit(&b) > total / 50, "text is drawn at the last step ({} of {total} pixels lit)", lit(&b));
    let differing = a.chunks(4).zip(b.chunks(4)).filter(|(p, q)| p != q).count();
    assert!(differing > total / 100, "the two steps look different ({differing} pixels differ)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every built-in lesson records to `.svg` and to `.gif` on virtual time, the same bytes twice.
#[test]
fn every_lesson_records_to_svg_and_gif_the_same_bytes_twice() {
    let dir = temp_dir("svg-gif-all");
    for lesson in poolscope::scenario::builtin_names() {
        for ext in ["svg", "gif"] {
            let [a, b] = ["a", "b"].map(|run| {
                let path = dir.join(format!("{lesson}-{run}.{ext}"));
                let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
                    .args(["run", lesson, "--virtual-time", "--cores", "2", "--size", "80x24", "--record"])
                    .arg(&path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("poolscope runs");
                assert!(status.success(), "{lesson}.{ext}: the recording run exits 0");
                std::fs::read(&path).unwrap()
            });
            assert!(a.len() > 1000, "{lesson}.{ext}: a picture was written ({} bytes)", a.len());
            assert!(a == b, "{lesson}.{ext}: two virtual-time recordings differ");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
