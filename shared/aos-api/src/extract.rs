//! Request extractors whose failures are API errors: JSON bodies that name the offending field
//! (via serde_path_to_error), and query strings likewise; the deadline for reading a body; and
//! the checks of the request target (path encoding, URI length) made before routing.

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
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", "request body is too large")
            } else if caused_by::<BodyTimedOut>(&e) {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "the request body did not arrive in time")
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
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
            format!("{}{}", if field.is_empty() { String::new() } else { format!("{field}: ") }, e.inner()),
        )
        .with_details(serde_json::json!({"field": field}))
    })
}

/// Whether `E` is anywhere in `err`'s chain of sources.
fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<E>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The body did not arrive by its deadline (see [`with_body_deadline`]).
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body that fails with [`BodyTimedOut`] once `deadline` passes, however its bytes
/// trickle in: a slow client cannot hold a connection (and a handler) by sending a byte now and
/// then. [`ApiJson`] answers 408 `REQUEST_TIMEOUT`.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future as _;
        if self.deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        std::pin::Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `req` with a body that must arrive within `limit` from now (what `aos serve` applies to every
/// request; behind API Gateway the body is complete before the function runs).
pub fn with_body_deadline(req: Request, limit: std::time::Duration) -> Request {
    req.map(|inner| axum::body::Body::new(DeadlineBody { inner, deadline: Box::pin(tokio::time::sleep(limit)) }))
}

/// Longest request target (path and query) the API reads: longer ones answer 414 `URI_TOO_LONG`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Checks the request target before routing: at most [`MAX_URI_BYTES`] (414 `URI_TOO_LONG`).
pub fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let len = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("the request target is {len} bytes; at most {MAX_URI_BYTES} are accepted"),
        ));
    }
    Ok(())
}

/// A path whose percent-escapes do not decode to UTF-8 (`/api/v1/runs/%FF`) answers 400
/// `INVALID_PATH`: no route could name anything with it.
pub fn check_path(path: &str) -> Result<(), ApiError> {
    if percent_encoding::percent_decode_str(path).decode_utf8().is_err() {
        return Err(ApiError::bad_request("INVALID_PATH", "the path is not valid UTF-8 once its %-escapes are decoded", "path"));
    }
    Ok(())
}

/// The latest time a query parameter may name, in ms since the epoch (2286-11-20): records are
/// keyed by 13-digit times, so later ones could not be ordered (or stored).
pub const MAX_TIME_MS: i64 = 9_999_999_999_999;

/// A time parameter (`from`, `to`) outside 0..=[`MAX_TIME_MS`] answers 400 `INVALID_QUERY` naming it.
pub fn check_time(field: &str, value: Option<i64>) -> Result<(), ApiError> {
    match value {
        Some(ms) if !(0..=MAX_TIME_MS).contains(&ms) => Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("{field} must be a time in ms since the epoch, from 0 to {MAX_TIME_MS}"),
            field,
        )),
        _ => Ok(()),
    }
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
/// the field's own name is taken from the message (`missing field `name``) and appended. Each
/// name in the path is cut to [`ECHO_CHARS`](crate::error::ECHO_CHARS) characters: the names come
/// from the request, which may make them as long as it likes.
fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let full = match missing {
        Some(name) if parent.is_empty() => name.to_string(),
        Some(name) => format!("{parent}.{name}"),
        None => parent.to_string(),
    };
    if full.len() <= crate::error::ECHO_CHARS {
        return full;
    }
    full.split('.').map(|name| crate::error::clip(name, crate::error::ECHO_CHARS)).collect::<Vec<_>>().join(".")
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
    fn paths_and_targets_are_checked() {
        assert!(check_path("/api/v1/runs/r_1%20x").is_ok());
        let e = check_path("/api/v1/runs/%FF").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str(), e.details["field"].as_str()), (400, "INVALID_PATH", Some("path")));
        let long: axum::http::Uri = format!("/api/v1/runs?x={}", "a".repeat(MAX_URI_BYTES)).parse().unwrap();
        assert_eq!(check_uri(&long).unwrap_err().code, "URI_TOO_LONG");
        assert!(check_uri(&"/api/v1/runs?limit=5".parse().unwrap()).is_ok());
    }

    /// A body that never sends anything.
    struct Stalled;
    impl http_body::Body for Stalled {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
            std::task::Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_past_its_deadline_is_a_408() {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/x")
            .header("content-type", "application/json")
            .body(axum::body::Body::new(Stalled))
            .unwrap();
        let req = with_body_deadline(req, std::time::Duration::from_millis(20));
        let e = ApiJson::<serde_json::Value>::from_request(req, &()).await.err().expect("times out");
        assert_eq!((e.status.as_u16(), e.code.as_str()), (408, "REQUEST_TIMEOUT"));
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/x")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{\"a\": 1}"))
            .unwrap();
        let req = with_body_deadline(req, std::time::Duration::from_secs(5));
        assert!(ApiJson::<serde_json::Value>::from_request(req, &()).await.is_ok());
    }

    #[tokio::test]
    async fn a_huge_unknown_field_is_not_echoed_whole() {
        use axum::response::IntoResponse as _;
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            name: Option<String>,
        }
        let huge = "k".repeat(100_000);
        let e = parse_json::<Strict>(format!("{{\"{huge}\": 1}}").as_bytes()).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        let body = axum::body::to_bytes(e.into_response().into_body(), usize::MAX).await.unwrap();
        assert!(body.len() < 1000, "{} bytes: {}", body.len(), String::from_utf8_lossy(&body));
        let e = parse_query::<Strict>(&format!("{huge}=1")).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let body = axum::body::to_bytes(e.into_response().into_body(), usize::MAX).await.unwrap();
        assert!(body.len() < 1000, "{} bytes: {}", body.len(), String::from_utf8_lossy(&body));
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
