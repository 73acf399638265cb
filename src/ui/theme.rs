//! [`Theme`]: how the screen is drawn — which colours (`--theme dark|light|mono`, `NO_COLOR`)
//! and which glyphs (`--ascii`). Panels say what a thing is (a title, dim text, a running
//! task's colour) and ask the theme for the style; none branches on the theme itself.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

/// The colours of a theme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Palette {
    /// Bright colours for a dark terminal background.
    #[default]
    Dark,
    /// Darker colours that read on a white background: no yellow or light cyan text.
    Light,
    /// No colours: bold, reversed and dim only (`NO_COLOR`).
    Mono,
}

impl Palette {
    /// The names `--theme` takes.
    pub const NAMES: [&str; 3] = ["dark", "light", "mono"];

    /// The palette called `name` (`dark`, `light`, `mono`).
    pub fn named(name: &str) -> Option<Palette> {
        match name {
            "dark" => Some(Palette::Dark),
            "light" => Some(Palette::Light),
            "mono" => Some(Palette::Mono),
            _ => None,
        }
    }
}

/// Colours and glyphs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Theme {
    /// The colours.
    pub palette: Palette,
    /// ASCII only: no box drawing, block or braille glyphs (`--ascii`).
    pub ascii: bool,
}

impl Theme {
    /// Today's default: colours for a dark background, Unicode glyphs.
    pub const DARK: Theme = Theme { palette: Palette::Dark, ascii: false };
    /// Colours for a light background.
    pub const LIGHT: Theme = Theme { palette: Palette::Light, ascii: false };
    /// No colours.
    pub const MONO: Theme = Theme { palette: Palette::Mono, ascii: false };

    /// `palette`, or mono when `NO_COLOR` asks for no colours and no palette was named.
    pub fn from_env(palette: Option<Palette>, ascii: bool) -> Theme {
        let palette = palette.unwrap_or(if super::color_allowed() { Palette::Dark } else { Palette::Mono });
        Theme { palette, ascii }
    }

    /// This theme drawn in ASCII only.
    pub fn with_ascii(self, ascii: bool) -> Theme {
        Theme { ascii, ..self }
    }

    /// Colours are drawn.
    pub fn colored(&self) -> bool {
        self.palette != Palette::Mono
    }

    /// `color` in this palette's colours, or `fallback` without colours. A foreground on the
    /// terminal's own background is darkened on a light theme; text on a coloured
    /// background keeps its colours, which read on either.
    pub fn paint(&self, color: Style, fallback: Style) -> Style {
        match self.palette {
            Palette::Mono => fallback,
            Palette::Dark => color,
            Palette::Light => match (color.fg, color.bg) {
                (Some(fg), None | Some(Color::Reset)) => color.fg(on_white(fg)),
                _ => color,
            },
        }
    }

    /// Foreground colour, or plain.
    pub fn fg(&self, c: Color) -> Style {
        self.paint(Style::new().fg(c), Style::new())
    }

    /// Dim text (idle, hints).
    pub fn dim(&self) -> Style {
        self.paint(Style::new().fg(Color::DarkGray), Style::new().add_modifier(Modifier::DIM))
    }

    /// An arrow between two things (`→`, or `->` in ASCII).
    pub fn arrow(&self) -> &'static str {
        if self.ascii { "->" } else { "→" }
    }

    /// Draws `buf` again in ASCII when the theme asks for it: each glyph that is not ASCII
    /// becomes the nearest ASCII one (borders `+-|`, blocks `#=`, braille `*`, ...). Run over
    /// the whole screen after the panels have drawn, so the lesson's own text is covered too.
    pub fn finish(&self, buf: &mut Buffer) {
        if !self.ascii {
            return;
        }
        for cell in &mut buf.content {
            let symbol = cell.symbol();
            if !symbol.is_ascii() {
                let ascii = symbol.chars().next().map_or(' ', to_ascii);
                cell.set_char(ascii);
            }
        }
    }
}

/// A foreground colour that reads on a white background.
fn on_white(c: Color) -> Color {
    match c {
        Color::Yellow | Color::LightYellow => Color::Indexed(130), // dark orange
        Color::Cyan | Color::LightCyan => Color::Indexed(30),      // dark teal
        Color::Blue | Color::LightBlue => Color::Indexed(25),
        Color::Green | Color::LightGreen => Color::Indexed(28),
        Color::Magenta | Color::LightMagenta => Color::Indexed(127),
        Color::Red | Color::LightRed => Color::Indexed(124),
        Color::Gray => Color::Indexed(240),
        Color::DarkGray => Color::Indexed(244), // mid gray: dim, still legible on white
        Color::White => Color::Black,
        other => other,
    }
}

/// The ASCII glyph that stands in for `c`.
pub fn to_ascii(c: char) -> char {
    match c {
        c if c.is_ascii() => c,
        // Box drawing: corners and junctions, then lines.
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╰' | '╯' | '╔' | '╗' | '╚' | '╝' | '┏'
        | '┓' | '┗' | '┛' | '╠' | '╣' | '╦' | '╩' | '╬' => '+',
        '─' | '━' | '═' | '┄' | '┈' | '╌' => '-',
        '│' | '┃' | '║' | '┆' | '┊' | '╎' | '▕' | '▏' | '‖' | '¦' => '|',
        // Blocks and shades, heaviest first; sparkline bars on the ramp ` .:-=+*#`.
        '█' | '▓' | '▇' | '■' | '▉' | '▊' => '#',
        '▆' => '*',
        '▅' => '+',
        '▒' | '▄' | '▀' | '▌' | '▐' | '▋' | '▍' | '▎' => '=',
        '▃' => '-',
        '▂' => ':',
        '░' | '▁' => '.',
        // Braille charts: a plotted point, or nothing.
        '\u{2800}' => ' ',
        '\u{2801}'..='\u{28ff}' => '*',
        // Marks of state.
        '✓' | '✔' => 'v',
        '✗' | '✘' | '×' => 'x',
        '☠' | '⚠' | '‼' => '!',
        '⊘' | '÷' => '/',
        '•' | '●' | '∙' => '*',
        '·' | '…' | '⋯' => '.',
        // Arrows.
        '→' | '▶' | '►' | '›' | '»' | '⟶' => '>',
        '←' | '◀' | '◄' | '‹' | '«' | '⏪' => '<',
        '↑' | '▲' => '^',
        '↓' | '▼' => 'v',
        // Text.
        '—' | '–' | '‐' | '−' => '-',
        '‘' | '’' => '\'',
        '“' | '”' => '"',
        'µ' | 'μ' => 'u',
        '≈' => '~',
        '≤' => '<',
        '≥' => '>',
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_darkens_text_on_the_terminal_background_only() {
        let light = Theme::LIGHT;
        assert_eq!(light.fg(Color::Yellow).fg, Some(Color::Indexed(130)));
        assert_eq!(light.fg(Color::LightCyan).fg, Some(Color::Indexed(30)));
        assert_eq!(light.dim().fg, Some(Color::Indexed(244)));
        let key = Style::new().fg(Color::Black).bg(Color::Yellow);
        assert_eq!(light.paint(key, Style::new()), key);
        assert_eq!(Theme::DARK.fg(Color::Yellow).fg, Some(Color::Yellow));
        assert_eq!(Theme::MONO.fg(Color::Yellow), Style::new());
    }

    #[test]
    fn ascii_replaces_every_glyph_and_keeps_ascii() {
        let mut buf = Buffer::with_lines(["┌─┐ █▒░ ⣿⠀ ✓✗ →µ 漢", "│a│ ▁▃▅▇ · … — ok"]);
        Theme::DARK.with_ascii(true).finish(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{text}");
        assert_eq!(buf, Buffer::with_lines(["+-+ #=. *  vx >u ? ", "|a| .-+# . . - ok"]));
        let mut unicode = Buffer::with_lines(["┌─┐"]);
        Theme::DARK.finish(&mut unicode);
        assert_eq!(unicode, Buffer::with_lines(["┌─┐"]));
    }
}
