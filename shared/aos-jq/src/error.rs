//! Errors of compiling and running jq programs, with source positions so that a plan author can
//! find the mistake in a long expression.

use serde_json::Value;

/// A 1-based position in the program text (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JqError {
    /// The program does not lex, parse or resolve. `position` is the first error's position.
    #[error("jq compile error: {message}")]
    Compile { message: String, position: Option<Position> },
    /// The program failed on this input (type error, `error(...)`, `halt`, ...).
    /// `value` is the raised value when the program called `error(value)` with a non-string.
    #[error("jq runtime error: {message}")]
    Runtime { message: String, value: Option<Value> },
    /// A guard against runaway programs tripped (too many outputs, output too deep, too slow).
    #[error("jq limit exceeded: {message}")]
    Limit { message: String },
}

impl JqError {
    pub fn message(&self) -> &str {
        match self {
            JqError::Compile { message, .. } | JqError::Runtime { message, .. } | JqError::Limit { message } => message,
        }
    }
}

/// The position of `part` inside `code`, when `part` is a slice of it. jaq reports errors as
/// slices of the source; slices of the standard library's text are not positions in the program.
pub(crate) fn position_of(code: &str, part: &str) -> Option<Position> {
    let base = code.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if start < base || start + part.len() > base + code.len() {
        return None;
    }
    let before = code.get(..start - base)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Some(Position { line, column })
}
