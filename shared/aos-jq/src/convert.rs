//! Conversion between serde_json values and jaq values. Numbers follow jq: integers stay
//! integers, and computed floats with an exact integer value print as integers (`4 / 2` is `2`).

// Running a program to completion in-process (`Program::run*`, `Limits`) is for the unit tests
// and the `unsandboxed` benchmark only; sandbox workers stream outputs with `each_output`.
#![cfg_attr(not(any(test, feature = "unsandboxed")), allow(dead_code))]

use crate::{JqError, LimitKind};
use jaq_json::{Map, Num, Val};
use serde_json::{Number, Value};

/// Deeper outputs are refused: serializing or dropping them recursively could exhaust the stack.
pub(crate) const MAX_OUTPUT_DEPTH: usize = 512;

/// Largest magnitude below which every integer is exactly representable in an f64.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

pub(crate) fn to_val(v: Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(b),
        Value::Number(n) => number_to_val(&n),
        Value::String(s) => Val::from(s),
        Value::Array(a) => a.into_iter().map(to_val).collect(),
        Value::Object(o) => Val::obj(o.into_iter().map(|(k, v)| (Val::from(k), to_val(v))).collect::<Map>()),
    }
}

fn number_to_val(n: &Number) -> Val {
    if let Some(i) = n.as_i64() {
        Val::Num(Num::from_integral(i))
    } else if let Some(u) = n.as_u64() {
        Val::Num(Num::from_integral(u))
    } else {
        Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN)))
    }
}

pub(crate) fn from_val(v: &Val, depth: usize) -> Result<Value, JqError> {
    if depth > MAX_OUTPUT_DEPTH {
        return Err(JqError::limit(LimitKind::Depth, format!("output is nested deeper than {MAX_OUTPUT_DEPTH} levels")));
    }
    Ok(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::BStr(b) | Val::TStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => Value::Array(a.iter().map(|x| from_val(x, depth + 1)).collect::<Result<_, _>>()?),
        Val::Obj(o) => {
            let mut out = serde_json::Map::with_capacity(o.len());
            for (k, x) in o.iter() {
                out.insert(key_string(k), from_val(x, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}

/// jaq allows non-string keys internally; JSON does not, so they become their JSON text.
pub(crate) fn key_string(k: &Val) -> String {
    match k {
        Val::BStr(b) | Val::TStr(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn num_to_json(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::BigInt(b) => text_to_json(&b.to_string()),
        Num::Float(f) => float_to_json(*f),
        Num::Dec(s) => text_to_json(s),
    }
}

fn text_to_json(s: &str) -> Value {
    match s.parse::<Number>() {
        Ok(n) if n.is_i64() || n.is_u64() => Value::Number(n),
        Ok(n) => float_to_json(n.as_f64().unwrap_or(f64::NAN)),
        Err(_) => float_to_json(s.parse::<f64>().unwrap_or(f64::NAN)),
    }
}

/// jq prints NaN as null and infinities as the largest finite doubles.
fn float_to_json(f: f64) -> Value {
    if f.is_nan() {
        return Value::Null;
    }
    let f = if f.is_infinite() { f64::MAX.copysign(f) } else { f };
    if f.fract() == 0.0 && f.abs() < EXACT_INT_LIMIT {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
