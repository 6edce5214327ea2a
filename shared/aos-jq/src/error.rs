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
    /// A guard against runaway programs tripped: the program ran too long, ran out of memory or
    /// stack, or its output was too large, too many or too deep. `kind` says which. Never
    /// transient: the same program on the same input trips it again.
    #[error("jq limit exceeded: {message}")]
    Limit { kind: LimitKind, message: String },
    /// No sandbox worker could take the program before its deadline (all busy, or none could be
    /// started). Transient: retrying later may succeed.
    #[error("jq sandbox busy: {message}")]
    Busy { message: String },
}

impl JqError {
    pub fn message(&self) -> &str {
        match self {
            JqError::Compile { message, .. }
            | JqError::Runtime { message, .. }
            | JqError::Limit { message, .. }
            | JqError::Busy { message } => message,
        }
    }

    /// The limit that tripped, for [`JqError::Limit`].
    pub fn limit_kind(&self) -> Option<LimitKind> {
        match self {
            JqError::Limit { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn limit(kind: LimitKind, message: impl Into<String>) -> Self {
        JqError::Limit { kind, message: message.into() }
    }
}

/// Which guard stopped a program (machine-readable; see [`LimitKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// It ran past its time limit and was killed.
    Time,
    /// It allocated past the worker's memory cap.
    Memory,
    /// It recursed past the evaluation stack (deep recursion, or a value too deeply nested to drop).
    Stack,
    /// Its serialized outputs are larger than `max_output_bytes`.
    OutputSize,
    /// It yielded more than `max_outputs` results.
    Outputs,
    /// An output is nested deeper than the transfer allows.
    Depth,
    /// Its input is too large to hand to a worker.
    InputSize,
    /// The worker died another way (a signal other than the above); the message has the signal.
    Crash,
}

impl LimitKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitKind::Time => "time",
            LimitKind::Memory => "memory",
            LimitKind::Stack => "stack",
            LimitKind::OutputSize => "output_size",
            LimitKind::Outputs => "outputs",
            LimitKind::Depth => "depth",
            LimitKind::InputSize => "input_size",
            LimitKind::Crash => "crash",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            LimitKind::Time,
            LimitKind::Memory,
            LimitKind::Stack,
            LimitKind::OutputSize,
            LimitKind::Outputs,
            LimitKind::Depth,
            LimitKind::InputSize,
            LimitKind::Crash,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
