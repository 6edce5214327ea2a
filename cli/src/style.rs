//! Colours on a terminal only: never when the output is a pipe or a file, nor when `NO_COLOR` is set
//! (https://no-color.org), so logs and `--json` stay plain text.

use std::io::IsTerminal;

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub on: bool,
}

impl Style {
    /// Colours when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn stdout() -> Self {
        Style { on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// A run or step status in its colour: green done, red failed, yellow in progress, dim skipped.
    pub fn status(&self, status: &str) -> String {
        match status {
            "succeeded" => self.paint("32", status),
            "failed" => self.paint("31", status),
            "cancelled" => self.paint("35", status),
            "running" | "queued" => self.paint("33", status),
            _ => self.dim(status),
        }
    }
}

/// Whether stderr is a terminal: the log is coloured only then (and without `NO_COLOR`).
pub fn stderr_colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
