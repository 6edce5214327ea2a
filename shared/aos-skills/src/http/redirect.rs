//! Redirects, followed by `http_call` itself rather than by the client, so that it decides what
//! each hop carries. Within one origin (scheme, host and port) a redirect keeps the request's
//! headers; to another origin it keeps only [`CROSS_ORIGIN_HEADERS`] (and `Content-Type` when the
//! body goes along), so no credential a plan put in any header (`Authorization`, `Cookie`,
//! `X-Api-Key`, ...) reaches a host the plan did not name. `Referer` is never sent: it would carry
//! the previous URL's query string, where secrets often are. The SSRF guard checks every hop.

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_LANGUAGE, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION,
    TRANSFER_ENCODING, USER_AGENT,
};
use reqwest::{Method, Response, StatusCode, Url};

/// Request headers that go along to another origin: none of them can hold a credential.
pub const CROSS_ORIGIN_HEADERS: [HeaderName; 3] = [ACCEPT, ACCEPT_LANGUAGE, USER_AGENT];

/// One hop's request; cloned for each send because a 307/308 resends the body.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// The attempt's own `Idempotency-Key`, sent instead of the plan's when a write leaves its origin.
    pub idempotency_key: Option<HeaderValue>,
}

/// Where a response redirects to: a 301, 302, 303, 307 or 308 with a `Location` that resolves
/// against the response's URL. Any other response (a 3xx without a usable `Location` included)
/// is final.
pub fn target(resp: &Response) -> Option<Url> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    resp.url().join(location).ok()
}

/// Same scheme, host and port (the default port of the scheme when none is written).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

impl Outgoing {
    /// The request to send to `next` after a `status` redirect. 303 turns any method but HEAD
    /// into GET, and 301/302 turn POST into GET (as browsers and the client library do), without
    /// the body; 307 and 308 resend method and body unchanged.
    pub fn redirected(self, status: StatusCode, next: Url) -> Self {
        let cross = !same_origin(&self.url, &next);
        let (method, body) = match status.as_u16() {
            303 if self.method != Method::HEAD => (Method::GET, None),
            301 | 302 if self.method == Method::POST => (Method::GET, None),
            _ => (self.method, self.body),
        };
        let mut headers = self.headers;
        if body.is_none() {
            for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING, TRANSFER_ENCODING] {
                headers.remove(name);
            }
        }
        if cross {
            let mut kept = HeaderMap::new();
            for (name, value) in &headers {
                if CROSS_ORIGIN_HEADERS.contains(name) || (*name == CONTENT_TYPE && body.is_some()) {
                    kept.append(name.clone(), value.clone());
                }
            }
            if method != Method::GET {
                if let Some(key) = &self.idempotency_key {
                    kept.insert(super::IDEMPOTENCY_KEY, key.clone());
                }
            }
            headers = kept;
        }
        Self { method, url: next, headers, body, idempotency_key: self.idempotency_key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, url: &str) -> Outgoing {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-api-key", "k"),
            ("authorization", "Bearer t"),
            ("cookie", "c=1"),
            ("accept", "application/json"),
            ("content-type", "application/json"),
            ("x-custom", "v"),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        Outgoing {
            method,
            url: Url::parse(url).unwrap(),
            headers,
            body: Some(b"{}".to_vec()),
            idempotency_key: Some(HeaderValue::from_static("run/step/1")),
        }
    }

    fn names(h: &HeaderMap) -> Vec<&str> {
        let mut v: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        v.sort();
        v
    }

    #[test]
    fn origins_differ_by_scheme_host_or_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("http://a.example/x?q=1"), &u("http://a.example:80/y")));
        assert!(!same_origin(&u("http://a.example/"), &u("https://a.example/")));
        assert!(!same_origin(&u("http://a.example/"), &u("http://b.example/")));
        assert!(!same_origin(&u("http://127.0.0.1:1000/"), &u("http://127.0.0.1:1001/")));
    }

    #[test]
    fn same_origin_keeps_headers_and_other_origins_get_only_safe_ones() {
        let next = Url::parse("http://a.example/next").unwrap();
        let same = request(Method::GET, "http://a.example/first").redirected(StatusCode::FOUND, next);
        assert_eq!(names(&same.headers), ["accept", "authorization", "content-type", "cookie", "x-api-key", "x-custom"]);

        let other = Url::parse("http://b.example/next").unwrap();
        let get = request(Method::GET, "http://a.example/first").redirected(StatusCode::FOUND, other.clone());
        assert_eq!(names(&get.headers), ["accept", "content-type"], "a GET with a body keeps it, and its type, on a 302");
        let post = request(Method::POST, "http://a.example/first").redirected(StatusCode::SEE_OTHER, other.clone());
        assert_eq!((post.method.as_str(), post.body.is_none(), names(&post.headers)), ("GET", true, vec!["accept"]));
        let put = request(Method::PUT, "http://a.example/first").redirected(StatusCode::TEMPORARY_REDIRECT, other);
        assert_eq!((put.method.as_str(), put.body.as_deref()), ("PUT", Some(&b"{}"[..])));
        assert_eq!(names(&put.headers), ["accept", "content-type", "idempotency-key"]);
        assert_eq!(put.headers["idempotency-key"], "run/step/1");
    }
}
