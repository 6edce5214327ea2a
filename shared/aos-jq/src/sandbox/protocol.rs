//! The frames between the server and a jq worker, over the worker's stdin and stdout: a `u32`
//! little-endian length, then the payload. One request at a time per worker, and both sides cap
//! the frames they accept.
//!
//! Requests (server → worker), the first byte names the operation:
//! - `R` run, `T` truthy: `u64` max_outputs, `u64` max_output_bytes, `u32` length and the program
//!   text, then the input as JSON text up to the end of the frame. The input stands alone (not
//!   inside a JSON envelope), so it may use all of serde_json's 128 nesting levels.
//! - `C` check: `u32` count, then count × (`u32` length, program text).
//!
//! Replies (worker → server), the first byte names the kind:
//! - `H` then the protocol version: hello, sent once when the worker is confined and ready.
//! - `V` `u32` count, then count × (`u32` length, JSON text): all outputs of a run.
//! - `B` then one byte, 0 or 1: whether a condition's first output is truthy.
//! - `E` then a JSON error object: the run failed (compile, runtime or limit error).
//! - `K` then `null` or a JSON error object: one frame per checked program, in order, each
//!   written as soon as it is compiled, so that a worker dying on one program (a parser stack
//!   overflow) blames that one and the rest are checked again on a fresh worker.
//!
//! Error object: `{"t": "compile", "message", "line"?, "column"?}`,
//! `{"t": "runtime", "message", "value"?}` (`value` present when the program raised a
//! non-string), or `{"t": "limit", "kind", "message"}`.

use crate::{JqError, LimitKind, Position};
use serde_json::Value;

pub(crate) const HELLO: &[u8] = b"Haos-jq/1";
pub(crate) const OP_RUN: u8 = b'R';
pub(crate) const OP_TRUTHY: u8 = b'T';
pub(crate) const OP_CHECK: u8 = b'C';
pub(crate) const REPLY_VALUES: u8 = b'V';
pub(crate) const REPLY_BOOL: u8 = b'B';
pub(crate) const REPLY_ERROR: u8 = b'E';
pub(crate) const REPLY_CHECK: u8 = b'K';

/// The largest request (program and input) a worker accepts.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 << 20;
/// The largest error reply; messages and raised values are cut to fit.
pub(crate) const MAX_ERROR_BYTES: usize = 64 << 10;
/// Outputs nested deeper than this are refused in the worker: the server parses replies with
/// serde_json, which refuses a 128th level.
pub(crate) const MAX_OUTPUT_DEPTH: usize = 127;
/// The cap on `max_output_bytes`, so a reply frame's length always fits its `u32`.
pub(crate) const MAX_OUTPUT_BYTES_CEILING: usize = 256 << 20;

/// A frame under construction: four bytes reserved for the length, then the payload.
pub(crate) fn frame(kind: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, kind]
}

/// Writes the payload length into a frame built with [`frame`].
pub(crate) fn seal(mut frame: Vec<u8>) -> Vec<u8> {
    let len = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

fn too_large() -> JqError {
    JqError::limit(LimitKind::InputSize, format!("the program and its input are larger than {} MiB", MAX_REQUEST_BYTES >> 20))
}

/// Stops serde_json once the buffer passes the cap, so an oversized input is never fully copied.
struct Capped<'a> {
    buf: &'a mut Vec<u8>,
    cap: usize,
}

impl std::io::Write for Capped<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            return Err(std::io::Error::other("request too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A run or truthy request.
pub(crate) fn eval_request(op: u8, expr: &str, input: &Value, max_outputs: usize, max_output_bytes: usize) -> Result<Vec<u8>, JqError> {
    if expr.len() > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let mut buf = frame(op);
    buf.extend_from_slice(&(max_outputs as u64).to_le_bytes());
    buf.extend_from_slice(&(max_output_bytes as u64).to_le_bytes());
    put_bytes(&mut buf, expr.as_bytes());
    serde_json::to_writer(Capped { buf: &mut buf, cap: MAX_REQUEST_BYTES + 4 }, input).map_err(|_| too_large())?;
    Ok(seal(buf))
}

/// A check request for `exprs`.
pub(crate) fn check_request(exprs: &[String]) -> Result<Vec<u8>, JqError> {
    let total: usize = exprs.iter().map(|e| e.len() + 4).sum();
    if total + 5 > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let mut buf = frame(OP_CHECK);
    buf.extend_from_slice(&(exprs.len() as u32).to_le_bytes());
    for expr in exprs {
        put_bytes(&mut buf, expr.as_bytes());
    }
    Ok(seal(buf))
}

/// A request as the worker reads it (the payload, without the length).
pub(crate) enum Request<'a> {
    Eval { op: u8, max_outputs: usize, max_output_bytes: usize, expr: &'a str, input: &'a [u8] },
    Check(Vec<&'a str>),
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("truncated frame".to_string());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<usize, String> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(usize::try_from(u64::from_le_bytes(a)).unwrap_or(usize::MAX))
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u32()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "program is not UTF-8".to_string())
    }
}

pub(crate) fn parse_request(payload: &[u8]) -> Result<Request<'_>, String> {
    let mut c = Cursor { bytes: payload };
    match c.u8()? {
        op @ (OP_RUN | OP_TRUTHY) => {
            let max_outputs = c.u64()?;
            let max_output_bytes = c.u64()?.min(MAX_OUTPUT_BYTES_CEILING);
            let expr = c.str()?;
            Ok(Request::Eval { op, max_outputs, max_output_bytes, expr, input: c.bytes })
        }
        OP_CHECK => {
            let n = c.u32()?;
            let exprs = (0..n).map(|_| c.str()).collect::<Result<Vec<_>, _>>()?;
            Ok(Request::Check(exprs))
        }
        other => Err(format!("unknown operation {other}")),
    }
}

/// A reply as the server reads it.
#[derive(Debug)]
pub(crate) enum Reply {
    Values(Vec<Value>),
    Bool(bool),
    Error(JqError),
    Check(Result<(), JqError>),
}

pub(crate) fn parse_reply(payload: &[u8]) -> Result<Reply, String> {
    let mut c = Cursor { bytes: payload };
    match c.u8()? {
        REPLY_VALUES => {
            let n = c.u32()?;
            let mut values = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let len = c.u32()?;
                let text = c.take(len)?;
                values.push(serde_json::from_slice(text).map_err(|e| format!("output is not JSON: {e}"))?);
            }
            Ok(Reply::Values(values))
        }
        REPLY_BOOL => Ok(Reply::Bool(c.u8()? != 0)),
        REPLY_ERROR => Ok(Reply::Error(parse_error(c.bytes)?)),
        REPLY_CHECK => match serde_json::from_slice::<Value>(c.bytes).map_err(|e| e.to_string())? {
            Value::Null => Ok(Reply::Check(Ok(()))),
            _ => Ok(Reply::Check(Err(parse_error(c.bytes)?))),
        },
        other => Err(format!("unknown reply {other}")),
    }
}

fn parse_error(json: &[u8]) -> Result<JqError, String> {
    let Value::Object(mut o) = serde_json::from_slice::<Value>(json).map_err(|e| e.to_string())? else {
        return Err("error is not an object".to_string());
    };
    let message = match o.remove("message") {
        Some(Value::String(s)) => s,
        _ => return Err("error without a message".to_string()),
    };
    let number = |v: Option<&Value>| v.and_then(Value::as_u64).map(|n| n as usize);
    match o.get("t").and_then(Value::as_str) {
        Some("compile") => {
            let position = number(o.get("line")).zip(number(o.get("column"))).map(|(line, column)| Position { line, column });
            Ok(JqError::Compile { message, position })
        }
        Some("runtime") => Ok(JqError::Runtime { message, value: o.remove("value") }),
        Some("limit") => {
            let kind = o.get("kind").and_then(Value::as_str).and_then(LimitKind::parse).unwrap_or(LimitKind::Crash);
            Ok(JqError::Limit { kind, message })
        }
        _ => Err("error of unknown type".to_string()),
    }
}

/// `message` cut to at most `max` bytes on a character boundary.
pub(crate) fn clip(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}
