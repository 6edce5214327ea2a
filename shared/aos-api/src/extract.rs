//! Request extractors whose failures are API errors: JSON bodies that name the offending field
//! (via serde_path_to_error), and query strings likewise.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body. Malformed JSON → 400 `INVALID_JSON`; JSON of the wrong shape → 422
/// `INVALID_FIELD` naming the field path.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
        if !is_json {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "send the body as JSON with Content-Type: application/json"));
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", "request body is too large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_BODY", e.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", format!("body is not valid JSON: {e}")))?;
    from_value(value)
}

/// A JSON value of the wrong shape → 422 `INVALID_FIELD` naming the field path.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = field_of(&e.path().to_string(), &e.inner().to_string());
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD", format!("{}{}", if field.is_empty() { String::new() } else { format!("{field}: ") }, e.inner()))
            .with_details(serde_json::json!({"field": field}))
    })
}

/// A query string whose problems are 400 `INVALID_QUERY` naming the parameter (in the message and
/// in `details.field`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(&e.path().to_string(), &e.inner().to_string());
        let prefix = if field.is_empty() { String::new() } else { format!("{field}: ") };
        ApiError::bad_request("INVALID_QUERY", format!("{prefix}{}", e.inner()), &field)
    })
}

/// The path of the offending field. serde reports a missing field at the object holding it, so
/// the field's own name is taken from the message (`missing field `name``) and appended.
fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if parent.is_empty() => name.to_string(),
        Some(name) => format!("{parent}.{name}"),
        None => parent.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let e = from_value::<Outer>(serde_json::json!({})).unwrap_err();
        assert_eq!((e.status.as_u16(), e.details["field"].as_str()), (422, Some("name")));
        let e = from_value::<Outer>(serde_json::json!({"name": "x", "inner": {}})).unwrap_err();
        assert_eq!(e.details["field"], "inner.id");
        let e = from_value::<Outer>(serde_json::json!({"name": 5})).unwrap_err();
        assert_eq!(e.details["field"], "name");
    }
}
