//! Terminal styling: colour only on a terminal, NO_COLOR respected.

use super::args::ColorChoice;
use std::io::IsTerminal;

/// Decides whether a stream gets ANSI colour.
pub fn use_color(choice: ColorChoice, stream_is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// Colour decisions for stdout and stderr.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub out: bool,
    pub err: bool,
}

impl Style {
    pub fn detect(choice: ColorChoice) -> Self {
        Style {
            out: use_color(choice, std::io::stdout().is_terminal()),
            err: use_color(choice, std::io::stderr().is_terminal()),
        }
    }
}

pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub const RED: &str = "31;1";
pub const YELLOW: &str = "33;1";
pub const GREEN: &str = "32;1";
pub const DIM: &str = "2";
