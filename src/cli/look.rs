//! `--theme dark|light|mono` and `--ascii`: how the commands that draw (the picker, the live
//! `run`, `compare`, `sweep`, recordings) draw.

use poolscope::ui::{Palette, Theme};

/// The options of every command that draws.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Look {
    /// Colours: `dark` (for a dark terminal), `light` (for a white one) or `mono` (none)
    /// [default: dark; mono when NO_COLOR is set]
    #[arg(long, value_name = "THEME", value_parser = clap::builder::PossibleValuesParser::new(Palette::NAMES))]
    pub theme: Option<String>,
    /// ASCII only: no box-drawing, block or braille glyphs, for terminals and fonts without
    /// them.
    #[arg(long)]
    pub ascii: bool,
}

impl Look {
    /// Takes what `outer` (the options before the subcommand) asks for and this does not.
    pub fn inherit(&mut self, outer: &Look) {
        if self.theme.is_none() {
            self.theme.clone_from(&outer.theme);
        }
        self.ascii |= outer.ascii;
    }

    /// The theme asked for; without `--theme`, `NO_COLOR` chooses mono.
    pub fn theme(&self) -> Theme {
        Theme::from_env(self.theme.as_deref().and_then(Palette::named), self.ascii)
    }
}
