//! `--record FILE.gif`: an animated GIF drawn with the embedded font, the same bytes on
//! every virtual-time run, and at a step marker its cells are the cast's screen at that
//! moment: a cell is blank in the picture exactly where the terminal shows nothing there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const COLS: usize = 100;
const ROWS: usize = 30;
/// The GIF's cell size (px) and background.
const CELL_W: usize = 9;
const CELL_H: usize = 18;
const BACKGROUND: [u8; 3] = [0x1c, 0x1c, 0x1c];

fn record(lesson: &str, path: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_poolscope"))
        .args(["run", lesson, "--virtual-time", "--cores", "2", "--size", &format!("{COLS}x{ROWS}"), "--record"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("poolscope runs");
    assert!(status.success(), "the recording run exits 0");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolscope-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The GIF's picture (RGB) at `seconds`: its frames composed up to that moment.
fn picture_at(gif: &[u8], seconds: f64) -> (usize, usize, Vec<[u8; 3]>) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(gif).unwrap();
    let (w, h) = (usize::from(decoder.width()), usize::from(decoder.height()));
    let mut canvas = vec![[0u8; 3]; w * h];
    let mut at = 0.0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        if at > seconds + 1e-9 {
            break;
        }
        let (left, top, fw) = (usize::from(frame.left), usize::from(frame.top), usize::from(frame.width));
        for (i, px) in frame.buffer.chunks(4).enumerate() {
            let (x, y) = (left + i % fw, top + i / fw);
            canvas[y * w + x] = [px[0], px[1], px[2]];
        }
        at += f64::from(frame.delay) / 100.0;
    }
    (w, h, canvas)
}

/// The cast's screen at `seconds`.
fn screen_at(cast: &str, seconds: f64) -> vt100::Parser {
    let mut screen = vt100::Parser::new(ROWS as u16, COLS as u16, 0);
    for line in cast.lines().skip(1) {
        let event: Value = serde_json::from_str(line).unwrap();
        if event[0].as_f64().unwrap() > seconds + 1e-9 {
            break;
        }
        if event[1] == "o" {
            screen.process(event[2].as_str().unwrap().as_bytes());
        }
    }
    screen
}

#[test]
fn a_gif_recording_shows_the_casts_screen_at_a_step_and_repeats_to_the_byte() {
    let dir = temp_dir("gif");
    record("map-ordering", &dir.join("a.gif"));
    record("map-ordering", &dir.join("b.gif"));
    record("map-ordering", &dir.join("m.cast"));
    let gif = std::fs::read(dir.join("a.gif")).unwrap();
    assert!(gif == std::fs::read(dir.join("b.gif")).unwrap(), "two virtual-time GIFs differ");
    assert!(gif.starts_with(b"GIF89a"));
    let cast = std::fs::read_to_string(dir.join("m.cast")).unwrap();
    let markers: Vec<f64> = cast
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e[1] == "m")
        .map(|e| e[0].as_f64().unwrap())
        .collect();
    assert_eq!(markers.len(), 4, "map-ordering has four steps");
    for at in [markers[1] + 0.05, markers[3] + 0.05] {
        let (w, h, picture) = picture_at(&gif, at);
        assert_eq!((w, h), (COLS * CELL_W, ROWS * CELL_H));
        let parser = screen_at(&cast, at);
        let screen = parser.screen();
        let mut mismatches = Vec::new();
        let mut inked = 0;
        for row in 0..ROWS {
            for col in 0..COLS {
                let cell = screen.cell(row as u16, col as u16).unwrap();
                let empty =
                    cell.contents().trim().is_empty() && cell.bgcolor() == vt100::Color::Default && !cell.inverse();
                let blank = (0..CELL_H)
                    .all(|y| (0..CELL_W).all(|x| picture[(row * CELL_H + y) * w + col * CELL_W + x] == BACKGROUND));
                inked += usize::from(!blank);
                if empty != blank {
                    mismatches.push((row, col, cell.contents()));
                }
            }
        }
        assert!(inked > COLS * ROWS / 10, "at {at:.2} s the picture has text: {inked} cells drawn");
        assert!(mismatches.is_empty(), "at {at:.2} s, cells where the GIF and the cast differ: {mismatches:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
