//! The `http_call` input, checked field by field so a bad step fails with a message naming the
//! field instead of an opaque client error.

use aos_core::outcome::{Category, StepError};
use aos_core::skill::input_error;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Map, Value};

pub use crate::http_spec::METHODS;
const FIELDS: [&str; 6] = ["method", "url", "headers", "query", "body", "timeout_ms"];

pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Body>,
    pub timeout_ms: Option<u64>,
}

pub enum Body {
    Text(String),
    Json(Vec<u8>),
}

pub fn parse(input: Value) -> Result<HttpRequest, StepError> {
    let Value::Object(mut fields) = input else {
        return Err(input_error("http_call input must be an object"));
    };
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(input_error(format!("http_call input has unknown field `{unknown}` (allowed: {})", FIELDS.join(", "))));
    }
    let method = match fields.remove("method") {
        None | Some(Value::Null) => Method::GET,
        Some(Value::String(m)) if METHODS.contains(&m.as_str()) => {
            Method::from_bytes(m.as_bytes()).map_err(|e| input_error(format!("method: {e}")))?
        }
        Some(other) => return Err(input_error(format!("method must be one of {}, got {other}", METHODS.join(", ")))),
    };
    let url = match fields.remove("url") {
        Some(Value::String(u)) => Url::parse(&u).map_err(|e| invalid_url(&u, &e.to_string()))?,
        Some(other) => return Err(input_error(format!("url must be a string, got {other}"))),
        None => return Err(input_error("http_call input is missing `url`")),
    };
    let mut url = url;
    if let Some(query) = object_field(&mut fields, "query")? {
        append_query(&mut url, query)?;
    }
    let headers = match object_field(&mut fields, "headers")? {
        Some(h) => header_map(h)?,
        None => HeaderMap::new(),
    };
    let body = match fields.remove("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(Body::Text(text)),
        Some(json) => Some(Body::Json(serde_json::to_vec(&json).map_err(|e| input_error(format!("body: {e}")))?)),
    };
    let timeout_ms = match fields.remove("timeout_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|t| t > 0) => n.as_u64(),
        Some(other) => return Err(input_error(format!("timeout_ms must be a positive integer, got {other}"))),
    };
    Ok(HttpRequest { method, url, headers, body, timeout_ms })
}

pub fn invalid_url(url: &str, reason: &str) -> StepError {
    StepError::new("HTTP_INVALID_URL", Category::Validation, false, format!("invalid URL: {reason}"))
        .with_details(serde_json::json!({"reason": reason, "url_length": url.len()}))
}

fn object_field(fields: &mut Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>, StepError> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(input_error(format!("{name} must be an object, got {other}"))),
    }
}

/// Scalars become one parameter each, arrays repeat the name, and nulls are left out so that
/// templated optional parameters need no special casing.
fn append_query(url: &mut Url, query: Map<String, Value>) -> Result<(), StepError> {
    let mut pairs = Vec::new();
    for (name, value) in query {
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    pairs.push((name.clone(), scalar(&name, item)?));
                }
            }
            other => pairs.push((name.clone(), scalar(&name, other)?)),
        }
    }
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(())
}

fn scalar(name: &str, v: Value) -> Result<String, StepError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(input_error(format!("query parameter `{name}` must be a string, number, boolean or an array of them, got {other}"))),
    }
}

fn header_map(headers: Map<String, Value>) -> Result<HeaderMap, StepError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let Value::String(value) = value else {
            return Err(input_error(format!("header `{name}` must be a string, got {value}")));
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| input_error(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| input_error(format!("header `{name}` has an invalid value")))?;
        map.append(header, value);
    }
    Ok(map)
}
