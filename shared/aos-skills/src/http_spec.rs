//! What `http_call` declares about itself: schemas, effects, cost and every failure code it can
//! return, so planners can decide about retries and replay without reading the code.

use crate::mode;
use aos_core::outcome::Category;
use aos_core::skill::{CostModel, Determinism, SideEffects, SkillSpec};
use serde_json::json;

/// The request methods `http_call` accepts.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// `http_call`'s declaration, with the deployment's default timeout. Needs no HTTP client: the
/// functions that only describe the skill (API, orchestrator) build it without linking one.
pub fn spec(default_timeout_ms: u64) -> SkillSpec {
    SkillSpec {
        id: "http_call".into(),
        version: "1.0.0".into(),
        description: "Sends one HTTP request and returns {status, headers, body}; body is parsed JSON when the response \
            content type is JSON, else text. Any non-2xx status is a failure HTTP_<status>. Declared as a write; per call, \
            GET, HEAD and OPTIONS are reads (safe methods) and the other methods writes: a write is claimed before it runs, \
            so the runtime never executes it twice for one attempt. Replay never repeats any http_call, a GET included. \
            Non-GET requests carry an Idempotency-Key header (the attempt's key) unless the input sets one. Loopback, \
            private, link-local (cloud metadata), CGNAT, multicast and reserved addresses are refused after DNS resolution \
            and on every redirect (at most 5) unless the deployment allows the host. A redirect within the origin keeps \
            the request's headers; one to another origin (scheme, host or port) keeps only Accept, Accept-Language, \
            User-Agent and, when the body goes along (307/308), Content-Type, so credentials in any header (Authorization, \
            Cookie, X-Api-Key, ...) never leave the origin the plan named. No Referer is sent. 303, and 301/302 after a \
            POST, continue as GET without the body."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["url"],
            "additionalProperties": false,
            "properties": {
                "method": {"type": "string", "enum": METHODS, "default": "GET"},
                "url": {"type": "string", "minLength": 1, "description": "An absolute http:// or https:// URL."},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Request headers."},
                "query": {
                    "type": "object",
                    "description": "Query parameters appended to the URL; arrays repeat the name, nulls are left out.",
                    "additionalProperties": {
                        "type": ["string", "number", "boolean", "null", "array"],
                        "items": {"type": ["string", "number", "boolean"]}
                    }
                },
                "body": {"description": "A string is sent as is (text/plain unless headers set Content-Type); any other JSON value is sent as JSON."},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "Overall timeout; the step's timeout still applies when shorter."}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["status", "headers", "body"],
            "additionalProperties": false,
            "properties": {
                "status": {"type": "integer", "minimum": 200, "maximum": 299},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Lowercase names; repeated headers joined with \", \"."},
                "body": {"description": "Parsed JSON for JSON content types (null when empty), otherwise the text."}
            }
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 200, latency_ms_p95: 2_000 },
        default_timeout_ms,
        secret_fields: ["/url", "/headers", "/query", "/body"].map(String::from).to_vec(),
        failure_modes: vec![
            mode("SKILL_INPUT_INVALID", Category::Validation, false, "The input does not match the schema (unknown field, bad method, header or query value)."),
            mode("HTTP_INVALID_URL", Category::Validation, false, "The URL does not parse, has no host, or is not http/https."),
            mode("HTTP_BLOCKED_ADDRESS", Category::Security, false, "The host is, resolves to, or redirects to an internal address and is not allowed by the deployment."),
            mode("HTTP_DNS_ERROR", Category::Transient, true, "The host name could not be resolved."),
            mode("HTTP_CONNECT_ERROR", Category::Transient, true, "The connection was refused, reset or closed before a complete response."),
            mode("HTTP_TLS_ERROR", Category::Security, false, "The TLS handshake failed (e.g. invalid certificate)."),
            mode("HTTP_TIMEOUT", Category::Transient, true, "No complete response within the timeout."),
            mode("HTTP_TOO_MANY_REDIRECTS", Category::Permanent, false, "More than 5 redirects."),
            mode("HTTP_BODY_TOO_LARGE", Category::Resource, false, "The response body exceeds the deployment's cap (5 MiB by default); reading stops at the cap."),
            mode("HTTP_CLIENT_UNAVAILABLE", Category::Permanent, false, "The HTTP client could not be initialised in this deployment."),
            mode("HTTP_400", Category::Validation, false, "Bad request."),
            mode("HTTP_401", Category::Auth, false, "Unauthenticated."),
            mode("HTTP_403", Category::Auth, false, "Forbidden."),
            mode("HTTP_404", Category::NotFound, false, "Not found."),
            mode("HTTP_408", Category::Transient, true, "The server timed out waiting for the request."),
            mode("HTTP_409", Category::Conflict, false, "Conflict."),
            mode("HTTP_410", Category::NotFound, false, "Gone."),
            mode("HTTP_412", Category::Conflict, false, "Precondition failed."),
            mode("HTTP_413", Category::Resource, false, "The request body is too large for the server."),
            mode("HTTP_422", Category::Validation, false, "Unprocessable content."),
            mode("HTTP_429", Category::RateLimit, true, "Rate limited; details.retry_after_ms comes from Retry-After (seconds or HTTP date)."),
            mode("HTTP_500", Category::Transient, true, "Internal server error."),
            mode("HTTP_502", Category::Transient, true, "Bad gateway."),
            mode("HTTP_503", Category::Transient, true, "Service unavailable; details.retry_after_ms when Retry-After is sent."),
            mode("HTTP_504", Category::Transient, true, "Gateway timeout."),
            mode("HTTP_<status>", Category::Validation, false, "Any other status. Other 5xx are TRANSIENT and retryable; other 4xx are VALIDATION and 1xx/3xx (e.g. 304) PERMANENT, neither retryable."),
        ],
    }
}
