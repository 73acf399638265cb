//! `--record FILE.svg`: the frames a recording draws, as one self-contained animated SVG.
//!
//! Every distinct frame is drawn once, as text (it stays crisp at any zoom), side by side on
//! one long film strip; a CSS animation slides the strip so that the frame of the moment
//! shows through the picture's window, holding each frame until the next one (a frame that
//! repeats is stored once and shown again). It loops, and plays in a browser and in a
//! README image, with no script. Each step is a chapter: the file lists them with their
//! times (`<desc>` and a `data-chapters` attribute).

use std::collections::HashMap;
use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// A cell's size in the picture (px): a 14 px monospace font.
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;
const FONT: &str = "'DejaVu Sans Mono', 'Menlo', 'Consolas', 'Liberation Mono', monospace";

/// The terminal a picture imitates: its own background and text colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// The background (RGB).
    pub background: [u8; 3],
    /// The default text colour (RGB).
    pub foreground: [u8; 3],
}

impl Default for Page {
    fn default() -> Self {
        Page::DARK
    }
}

impl Page {
    /// A dark terminal (the dark and mono themes).
    pub const DARK: Page = Page { background: [0x1c, 0x1c, 0x1c], foreground: [0xd0, 0xd0, 0xd0] };
    /// A white one (the light theme).
    pub const LIGHT: Page = Page { background: [0xff, 0xff, 0xff], foreground: [0x1c, 0x1c, 0x1c] };

    /// The page a theme is drawn for.
    pub fn of(theme: super::Theme) -> Page {
        match theme.palette {
            super::theme::Palette::Light => Page::LIGHT,
            _ => Page::DARK,
        }
    }
}

fn css([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The frames of a recording, as they come, and its chapters.
#[derive(Debug, Default)]
pub struct Film {
    /// Each distinct frame, drawn.
    frames: Vec<String>,
    /// A frame's drawing → its index in `frames`.
    seen: HashMap<String, usize>,
    /// (seconds, frame) in time order: from then on, that frame shows.
    shown: Vec<(f64, usize)>,
    /// (seconds, label) of each step.
    chapters: Vec<(f64, String)>,
    size: (u16, u16),
    page: Page,
}

impl Film {
    /// A film of `width`×`height` cells on `page`.
    pub fn new(width: u16, height: u16, page: Page) -> Film {
        Film { size: (width, height), page, ..Film::default() }
    }

    /// The frame at `seconds` is `buffer`.
    pub fn frame(&mut self, seconds: f64, buffer: &Buffer) {
        let drawing = draw(buffer, self.page);
        let next = self.frames.len();
        let index = *self.seen.entry(drawing.clone()).or_insert(next);
        if index == next {
            self.frames.push(drawing);
        }
        match self.shown.last_mut() {
            Some((_, last)) if *last == index => {}
            Some((t, last)) if *t >= seconds => *last = index,
            _ => self.shown.push((seconds, index)),
        }
    }

    /// A step begins at `seconds`.
    pub fn chapter(&mut self, seconds: f64, label: &str) {
        self.chapters.push((seconds, label.to_string()));
    }

    /// The SVG, the last frame held until `end` seconds.
    pub fn svg(&self, end: f64) -> String {
        let (w, h) = (f64::from(self.size.0) * CELL_W, f64::from(self.size.1) * CELL_H);
        let total = end.max(self.shown.last().map_or(0.0, |(t, _)| *t) + 0.1).max(0.1);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" data-chapters="{}">"#,
            escape(&self.chapters.iter().map(|(t, l)| format!("{t:.3}:{l}")).collect::<Vec<_>>().join(";"))
        );
        let _ = write!(out, "<desc>");
        for (t, label) in &self.chapters {
            let _ = writeln!(out, "{:.3}s {}", t, escape(label));
        }
        let _ = write!(out, "</desc><style>");
        let _ = write!(out, "text{{font-family:{FONT};font-size:14px;white-space:pre}}");
        let _ = write!(out, ".b{{font-weight:bold}}.i{{font-style:italic}}.u{{text-decoration:underline}}");
        let _ = write!(out, "@keyframes film{{");
        for (t, index) in &self.shown {
            let _ = write!(out, "{:.4}%{{transform:translateX({:.1}px)}}", 100.0 * t / total, -(*index as f64) * w);
        }
        let _ = write!(out, "}}#film{{animation:film {total:.3}s step-end infinite}}</style>");
        let _ = write!(
            out,
            r#"<rect width="100%" height="100%" fill="{}"/><g id="film" fill="{}">"#,
            css(self.page.background),
            css(self.page.foreground)
        );
        for (i, frame) in self.frames.iter().enumerate() {
            let _ = write!(out, r#"<g transform="translate({:.1},0)">{frame}</g>"#, i as f64 * w);
        }
        out.push_str("</g></svg>\n");
        out
    }
}

/// One frame: a rectangle per run of cells with a background, a `<text>` per run of cells
/// with one style.
fn draw(buffer: &Buffer, page: Page) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let cell = &buffer[(area.x + x, area.y + y)];
            let (fg, bg, modifier) = colors(cell.fg, cell.bg, cell.modifier, page);
            let start = x;
            let mut text = String::new();
            while x < area.width {
                let next = &buffer[(area.x + x, area.y + y)];
                if colors(next.fg, next.bg, next.modifier, page) != (fg.clone(), bg.clone(), modifier) {
                    break;
                }
                text.push_str(next.symbol());
                x += 1;
            }
            let (px, py) = (f64::from(start) * CELL_W, f64::from(y) * CELL_H);
            if let Some(bg) = &bg {
                let width = f64::from(x - start) * CELL_W;
                let _ =
                    write!(out, r#"<rect x="{px:.1}" y="{py:.0}" width="{width:.1}" height="{CELL_H}" fill="{bg}"/>"#);
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut class = Vec::new();
            if modifier.contains(Modifier::BOLD) {
                class.push("b");
            }
            if modifier.contains(Modifier::ITALIC) {
                class.push("i");
            }
            if modifier.contains(Modifier::UNDERLINED) {
                class.push("u");
            }
            let class = if class.is_empty() { String::new() } else { format!(r#" class="{}""#, class.join(" ")) };
            let fill = fg.map_or(String::new(), |c| format!(r#" fill="{c}""#));
            let opacity = if modifier.contains(Modifier::DIM) { r#" opacity="0.6""# } else { "" };
            let width = f64::from(x - start) * CELL_W;
            let _ = write!(
                out,
                r#"<text x="{px:.1}" y="{:.1}" textLength="{width:.1}" lengthAdjust="spacingAndGlyphs"{class}{fill}{opacity}>{}</text>"#,
                py + CELL_H * 0.78,
                escape(&text)
            );
        }
    }
    out
}

/// A cell's text colour and background (`None`: the terminal's own), reversed when asked.
fn colors(fg: Color, bg: Color, modifier: Modifier, page: Page) -> (Option<String>, Option<String>, Modifier) {
    let (mut fg, mut bg) = (hex(fg), hex(bg));
    if modifier.contains(Modifier::REVERSED) {
        let new_fg = bg.take().or_else(|| Some(css(page.background)));
        bg = fg.take().or_else(|| Some(css(page.foreground)));
        fg = new_fg;
    }
    (fg, bg, modifier - Modifier::REVERSED)
}

/// A terminal colour as CSS (`None`: the default).
fn hex(color: Color) -> Option<String> {
    rgb(color).map(|[r, g, b]| format!("#{r:02x}{g:02x}{b:02x}"))
}

/// A terminal colour as RGB (`None`: the default), on a dark terminal.
pub(super) fn rgb(color: Color) -> Option<[u8; 3]> {
    let (r, g, b) = match color {
        Color::Reset => return None,
        Color::Black => (0x1c, 0x1c, 0x1c),
        Color::Red => (0xcd, 0x31, 0x31),
        Color::Green => (0x0d, 0xbc, 0x79),
        Color::Yellow => (0xe5, 0xe5, 0x10),
        Color::Blue => (0x24, 0x72, 0xc8),
        Color::Magenta => (0xbc, 0x3f, 0xbc),
        Color::Cyan => (0x11, 0xa8, 0xcd),
        Color::Gray => (0xcc, 0xcc, 0xcc),
        Color::DarkGray => (0x76, 0x76, 0x76),
        Color::LightRed => (0xf1, 0x4c, 0x4c),
        Color::LightGreen => (0x23, 0xd1, 0x8b),
        Color::LightYellow => (0xf5, 0xf5, 0x43),
        Color::LightBlue => (0x3b, 0x8e, 0xea),
        Color::LightMagenta => (0xd6, 0x70, 0xd6),
        Color::LightCyan => (0x29, 0xb8, 0xdb),
        Color::White => (0xf2, 0xf2, 0xf2),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => indexed(i),
    };
    Some([r, g, b])
}

/// The xterm 256-colour palette.
fn indexed(i: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 49, 49),
        (13, 188, 121),
        (229, 229, 16),
        (36, 114, 200),
        (188, 63, 188),
        (17, 168, 205),
        (204, 204, 204),
        (118, 118, 118),
        (241, 76, 76),
        (35, 209, 139),
        (245, 245, 67),
        (59, 142, 234),
        (214, 112, 214),
        (41, 184, 219),
        (242, 242, 242),
    ];
    match i {
        0..=15 => BASE[usize::from(i)],
        16..=231 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

/// Text safe inside XML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn buffer(text: &str) -> Buffer {
        let mut b = Buffer::empty(Rect::new(0, 0, 10, 2));
        b.set_string(0, 0, text, Style::new().fg(Color::Green));
        b
    }

    #[test]
    fn repeated_frames_are_stored_once_and_shown_again() {
        let mut film = Film::new(10, 2, Page::DARK);
        film.frame(0.0, &buffer("a<b"));
        film.frame(1.0, &buffer("second"));
        film.frame(2.0, &buffer("a<b"));
        film.chapter(1.0, "step 2: map");
        let svg = film.svg(5.0);
        assert_eq!(film.frames.len(), 2);
        assert_eq!(film.shown, vec![(0.0, 0), (1.0, 1), (2.0, 0)]);
        assert!(svg.contains("a&lt;b") && svg.contains(">second<"), "{svg}");
        assert!(svg.contains("fill=\"#0dbc79\""), "{svg}");
        assert!(svg.contains("20.0000%{transform:translateX(-84.0px)}"), "{svg}");
        assert!(svg.contains("40.0000%{transform:translateX(-0.0px)}"), "{svg}");
        assert!(svg.contains("animation:film 5.000s"), "{svg}");
        assert!(svg.contains("data-chapters=\"1.000:step 2: map\""), "{svg}");
    }
}
