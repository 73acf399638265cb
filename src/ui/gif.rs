//! `--record FILE.gif`: the frames a recording draws, rasterised with an embedded monospace
//! font (DejaVu Sans Mono, `assets/fonts/`, Bitstream Vera licence) into an animated GIF.
//!
//! Text is drawn crisp (a glyph's pixel is the text colour where the glyph covers most of
//! it), so every pixel takes one of the theme's few colours and the palette is exact; block
//! and shade glyphs fill their cell exactly so bars and lanes have no seams. Each frame
//! stores only the rectangle that changed since the last one. Timing follows the lesson's
//! clock; a frame stays at most [`IDLE_LIMIT_CS`] (as agg's `--idle-time-limit` caps idle
//! stretches), which is as long as the longest caption's reading time.

use std::collections::HashMap;

use fontdue::{Font, FontSettings};
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;

use super::svg::{Page, rgb};

/// The font, embedded.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");
/// The font's size (px) and a cell's size.
const PX: f32 = 15.0;
const CELL_W: usize = 9;
const CELL_H: usize = 18;
/// The longest a frame stays (centiseconds): 12 s.
pub const IDLE_LIMIT_CS: u64 = 1200;

/// A rasterised glyph: where it sits in its cell and which of its pixels are ink.
struct Glyph {
    left: i32,
    top: i32,
    width: usize,
    ink: Vec<bool>,
}

/// Frames rasterised into a GIF as they come.
pub struct GifFilm {
    font: Font,
    glyphs: HashMap<char, Glyph>,
    baseline: i32,
    palette: Vec<[u8; 3]>,
    size: (usize, usize),
    /// The picture as the frames written so far leave it (palette indices).
    written: Vec<u8>,
    /// The latest frame, not yet written: when it began (centiseconds) and its pixels.
    pending: Option<(u64, Vec<u8>)>,
    page: Page,
    /// The GIF so far.
    encoder: gif::Encoder<Vec<u8>>,
    failed: Option<String>,
}

impl std::fmt::Debug for GifFilm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifFilm").field("size", &self.size).finish()
    }
}

impl GifFilm {
    /// A GIF of `width`×`height` cells on `page`.
    ///
    /// # Errors
    /// The picture would be larger than a GIF can be, or the font could not be read.
    pub fn new(width: u16, height: u16, page: Page) -> Result<GifFilm, String> {
        let size = (usize::from(width) * CELL_W, usize::from(height) * CELL_H);
        let (w, h) = (u16::try_from(size.0), u16::try_from(size.1));
        let (Ok(w), Ok(h)) = (w, h) else { return Err(format!("a {width}×{height} GIF is too large")) };
        let font = Font::from_bytes(FONT, FontSettings::default()).map_err(|e| format!("the font: {e}"))?;
        let ascent = font.horizontal_line_metrics(PX).map_or(PX * 0.8, |m| m.ascent);
        let baseline = ((CELL_H as f32 - PX * 1.17) / 2.0 + ascent).round() as i32;
        let palette = vec![page.background, page.foreground];
        let encoder = gif::Encoder::new(Vec::new(), w, h, &[]).map_err(|e| e.to_string())?;
        let mut film = GifFilm {
            font,
            glyphs: HashMap::new(),
            baseline,
            palette,
            size,
            written: vec![0; size.0 * size.1],
            pending: None,
            page,
            encoder,
            failed: None,
        };
        if let Err(e) = film.encoder.set_repeat(gif::Repeat::Infinite) {
            film.failed = Some(e.to_string());
        }
        Ok(film)
    }

    /// The frame at `seconds` is `buffer`.
    pub fn frame(&mut self, seconds: f64, buffer: &Buffer) {
        let at = (seconds * 100.0).round().max(0.0) as u64;
        let pixels = self.draw(buffer);
        if let Some((since, _)) = &self.pending
            && at > *since
        {
            self.flush(at);
        }
        // A frame less than a centisecond after the last replaces it.
        let since = self.pending.as_ref().map_or(at, |(since, _)| *since.min(&at));
        self.pending = Some((since, pixels));
    }

    /// The GIF, its last frame held until `end_seconds`.
    ///
    /// # Errors
    /// The encoder failed.
    pub fn finish(mut self, end_seconds: f64) -> Result<Vec<u8>, String> {
        let end = (end_seconds * 100.0).round().max(0.0) as u64;
        let last = self.pending.as_ref().map_or(0, |(since, _)| *since);
        self.flush(end.max(last + 1));
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.encoder.into_inner().map_err(|e| e.to_string())
    }

    /// Writes the pending frame, shown until `until` (centiseconds): only the rectangle
    /// that changed.
    fn flush(&mut self, until: u64) {
        let Some((since, pixels)) = self.pending.take() else { return };
        let delay = (until - since).clamp(1, IDLE_LIMIT_CS);
        let (w, _) = self.size;
        let changed = changed_rect(&self.written, &pixels, w);
        // Nothing changed: still a frame (1×1), so the time passes.
        let (x0, y0, x1, y1) = changed.unwrap_or((0, 0, 1, 1));
        let mut part = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            part.extend_from_slice(&pixels[y * w + x0..y * w + x1]);
        }
        let mut palette = Vec::with_capacity(self.palette.len() * 3);
        for c in &self.palette {
            palette.extend_from_slice(c);
        }
        // A GIF palette has a power of two entries, up to 256.
        let mut frame = gif::Frame {
            left: x0 as u16,
            top: y0 as u16,
            width: (x1 - x0) as u16,
            height: (y1 - y0) as u16,
            delay: delay as u16,
            buffer: std::borrow::Cow::Owned(part),
            palette: Some(palette),
            ..gif::Frame::default()
        };
        frame.dispose = gif::DisposalMethod::Keep;
        if self.failed.is_none()
            && let Err(e) = self.encoder.write_frame(&frame)
        {
            self.failed = Some(e.to_string());
        }
        self.written = pixels;
    }

    /// A palette index for `color` (up to 256 colours; past that, the nearest).
    fn index(&mut self, color: [u8; 3]) -> u8 {
        if let Some(i) = self.palette.iter().position(|c| *c == color) {
            return i as u8;
        }
        if self.palette.len() < 256 {
            self.palette.push(color);
            return (self.palette.len() - 1) as u8;
        }
        let distance = |c: &[u8; 3]| (0..3).map(|i| (i32::from(c[i]) - i32::from(color[i])).pow(2)).sum::<i32>();
        self.palette.iter().enumerate().min_by_key(|(_, c)| distance(c)).map_or(0, |(i, _)| i as u8)
    }

    /// The frame's pixels, as palette indices.
    fn draw(&mut self, buffer: &Buffer) -> Vec<u8> {
        let (w, h) = self.size;
        let mut pixels = vec![0u8; w * h];
        let area = buffer.area;
        for row in 0..area.height {
            for col in 0..area.width {
                let cell = &buffer[(area.x + col, area.y + row)];
                let (mut fg, mut bg) =
                    (rgb(cell.fg).unwrap_or(self.page.foreground), rgb(cell.bg).unwrap_or(self.page.background));
                if cell.modifier.contains(Modifier::REVERSED) {
                    std::mem::swap(&mut fg, &mut bg);
                }
                if cell.modifier.contains(Modifier::DIM) {
                    fg = blend(fg, bg);
                }
                let (fg, bg) = (self.index(fg), self.index(bg));
                let (x0, y0) = (usize::from(col) * CELL_W, usize::from(row) * CELL_H);
                if x0 + CELL_W > w || y0 + CELL_H > h {
                    continue;
                }
                for y in 0..CELL_H {
                    pixels[(y0 + y) * w + x0..(y0 + y) * w + x0 + CELL_W].fill(bg);
                }
                let symbol = cell.symbol().chars().next().unwrap_or(' ');
                if symbol == ' ' {
                    continue;
                }
                if let Some((top, bottom, left, right)) = block(symbol) {
                    let (ya, yb) = ((top * CELL_H as f32) as usize, (bottom * CELL_H as f32).round() as usize);
                    let (xa, xb) = ((left * CELL_W as f32) as usize, (right * CELL_W as f32).round() as usize);
                    for y in ya..yb {
                        pixels[(y0 + y) * w + x0 + xa..(y0 + y) * w + x0 + xb].fill(fg);
                    }
                    continue;
                }
                let bold = cell.modifier.contains(Modifier::BOLD);
                self.stamp(&mut pixels, symbol, (x0, y0), fg, bold);
            }
        }
        pixels
    }

    /// Draws `symbol`'s ink in `fg` into the cell at (x0, y0); bold draws it twice, a pixel
    /// apart.
    fn stamp(&mut self, pixels: &mut [u8], symbol: char, (x0, y0): (usize, usize), fg: u8, bold: bool) {
        let (w, _) = self.size;
        let baseline = self.baseline;
        let glyph = self.glyphs.entry(symbol).or_insert_with(|| {
            let (metrics, coverage) = self.font.rasterize(symbol, PX);
            Glyph {
                left: metrics.xmin,
                top: baseline - metrics.ymin - metrics.height as i32,
                width: metrics.width,
                ink: coverage.iter().map(|c| *c >= 110).collect(),
            }
        });
        for (i, ink) in glyph.ink.iter().enumerate() {
            if !*ink || glyph.width == 0 {
                continue;
            }
            let (gx, gy) = ((i % glyph.width) as i32 + glyph.left, (i / glyph.width) as i32 + glyph.top);
            for dx in 0..=i32::from(bold) {
                let (x, y) = (gx + dx, gy);
                if (0..CELL_W as i32).contains(&x) && (0..CELL_H as i32).contains(&y) {
                    pixels[(y0 + y as usize) * w + x0 + x as usize] = fg;
                }
            }
        }
    }
}

/// Half way between two colours (dim text).
fn blend(a: [u8; 3], b: [u8; 3]) -> [u8; 3] {
    [0, 1, 2].map(|i| ((u16::from(a[i]) + u16::from(b[i])) / 2) as u8)
}

/// The part of its cell a block glyph fills (top, bottom, left, right, as fractions).
fn block(symbol: char) -> Option<(f32, f32, f32, f32)> {
    Some(match symbol {
        '█' => (0.0, 1.0, 0.0, 1.0),
        '▀' => (0.0, 0.5, 0.0, 1.0),
        '▌' => (0.0, 1.0, 0.0, 0.5),
        '▐' => (0.0, 1.0, 0.5, 1.0),
        '▁'..='▇' => {
            let eighths = symbol as u32 - '▁' as u32 + 1;
            (1.0 - eighths as f32 / 8.0, 1.0, 0.0, 1.0)
        }
        '▉'..='▏' => {
            let eighths = 7 - (symbol as u32 - '▉' as u32);
            (0.0, 1.0, 0.0, eighths as f32 / 8.0)
        }
        _ => return None,
    })
}

/// The smallest rectangle (x0, y0, x1, y1) holding every pixel that differs, if any.
fn changed_rect(before: &[u8], after: &[u8], width: usize) -> Option<(usize, usize, usize, usize)> {
    let mut rect: Option<(usize, usize, usize, usize)> = None;
    for (y, (a, b)) in before.chunks(width).zip(after.chunks(width)).enumerate() {
        let Some(first) = a.iter().zip(b).position(|(p, q)| p != q) else { continue };
        let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
        rect = Some(match rect {
            None => (first, y, last + 1, y + 1),
            Some((x0, y0, x1, _)) => (x0.min(first), y0, x1.max(last + 1), y + 1),
        });
    }
    rect
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::{Color, Style};

    fn frames(gif: &[u8]) -> Vec<gif::Frame<'static>> {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(gif).unwrap();
        let mut out = Vec::new();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            out.push(frame.clone());
        }
        out
    }

    #[test]
    fn frames_hold_for_their_time_and_store_only_what_changed() {
        let mut film = GifFilm::new(10, 2, Page::DARK).unwrap();
        let mut b = Buffer::empty(Rect::new(0, 0, 10, 2));
        b.set_string(0, 0, "ab", Style::new().fg(Color::Green));
        film.frame(0.0, &b);
        b.set_string(5, 1, "█", Style::new().fg(Color::Red));
        film.frame(1.5, &b);
        let gif = film.finish(4.0).unwrap();
        let frames = frames(&gif);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].delay, 150);
        assert_eq!(frames[1].delay, 250);
        // The second frame is the one changed cell, filled edge to edge.
        assert_eq!((frames[1].left, frames[1].top), (5 * CELL_W as u16, CELL_H as u16));
        assert_eq!((frames[1].width, frames[1].height), (CELL_W as u16, CELL_H as u16));
        let red = frames[1].buffer[0];
        assert!(frames[1].buffer.iter().all(|p| *p == red), "a full block fills its cell");
        // The first frame has text: pixels of more than one colour in its first cells.
        let first_cells: Vec<u8> = frames[0].buffer.iter().take(frames[0].width as usize * CELL_H).copied().collect();
        assert!(first_cells.iter().any(|p| *p != first_cells[0]), "glyphs are drawn");
    }
}
