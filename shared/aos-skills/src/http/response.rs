//! Reading a response: the body is streamed and cut at a cap so a huge or endless response
//! cannot exhaust memory, and JSON bodies are parsed so later steps can address their fields.

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Response;
use serde_json::{Map, Value};

/// Reads at most `cap` bytes; the flag says whether the body had more.
pub async fn read_capped(resp: &mut Response, cap: u64) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Header names are already lowercase in `HeaderMap`; repeated headers are joined with ", ".
pub fn header_object(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    Value::Object(out)
}

pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let subtype = essence.split_once('/').map_or("", |(_, sub)| sub);
    subtype == "json" || subtype.ends_with("+json")
}

/// JSON bodies are parsed (empty ones are null); anything else, including JSON that does not
/// parse, is returned as text so no data is lost.
pub fn body_value(bytes: &[u8], json: bool) -> Value {
    if json {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        if let Ok(v) = serde_json::from_slice(bytes) {
            return v;
        }
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}
