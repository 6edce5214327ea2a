//! `slack_send`: posts a message to Slack through an incoming webhook, or through `chat.postMessage`
//! with a bot token. The webhook URL and the token are the tenant's secrets, named by the input,
//! never in the plan; `text` and Block Kit `blocks` are checked against Slack's limits before
//! anything is sent ([`blocks`]), and Slack's error answers map to the catalog's `SLACK_*` codes.
//! A step posts once: the worker claims the attempt, and a sent-marker lets a later attempt of the
//! same step return the first post instead of posting again.

pub mod blocks;

use crate::mode;
use aos_core::outcome::Category;
use aos_core::skill::{CostModel, Determinism, SideEffects, SkillSpec};
use serde_json::json;

/// The secret holding the incoming webhook URL when the input names none.
pub const DEFAULT_WEBHOOK_SECRET: &str = "SLACK_WEBHOOK_URL";
/// Slack asks for an answer within seconds; a post that takes longer is retried by the step's policy.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Slack's Web API when the deployment names no other (`AOS_SLACK_API_URL`).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The function's access to its sent-markers: its own partitions of each tenant.
pub const AWS_STATEMENTS: &str = r#"            - Effect: Allow # slack_send's sent-markers: its own partitions of each tenant (t#<tenant>#sd#slack_send#...)
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt Table.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["t#*#sd#slack_send#*"]
"#;

pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "slack_send".into(),
        version: "1.0.0".into(),
        description: "Posts a message to Slack: `text` (at most 40,000 characters) and/or Block Kit `blocks` (at most 50, each \
            checked against Slack's limits before sending: section text 3,000, header 150, fields 10 of 2,000, button text 75, \
            ...). Through the incoming webhook whose URL is the tenant's secret named by `webhook` (default SLACK_WEBHOOK_URL), \
            or, when `token` names the secret holding a bot token (xoxb-...), through chat.postMessage to `channel`. Slack's \
            errors map to SLACK_* codes (invalid_payload, no_text, invalid_blocks, channel_not_found, not_in_channel, \
            invalid_auth, 429 with Retry-After as SLACK_RATE_LIMITED). A step posts once: a redelivered or retried attempt \
            after a post that succeeded returns the first post's result."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": [],
            "additionalProperties": false,
            "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}],
            "properties": {
                "text": {"type": "string", "maxLength": blocks::MAX_TEXT_CHARS, "description": "The message, or the notification fallback of `blocks`."},
                "blocks": {"type": "array", "maxItems": blocks::MAX_BLOCKS, "items": {"type": "object", "required": ["type"]}, "description": "Block Kit blocks (section, header, divider, context, image, actions, rich_text, markdown, ...)."},
                "webhook": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$", "default": DEFAULT_WEBHOOK_SECRET, "description": "The name of the tenant secret holding the incoming webhook URL."},
                "token": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$", "description": "The name of the tenant secret holding a bot token: post with chat.postMessage instead of a webhook."},
                "channel": {"type": "string", "minLength": 1, "maxLength": 80, "description": "chat.postMessage only: the channel id (C...) or name."},
                "thread_ts": {"type": "string", "pattern": "^[0-9]{1,12}\\.[0-9]{1,8}$", "description": "Reply in this thread."},
                "unfurl_links": {"type": "boolean"},
                "unfurl_media": {"type": "boolean"},
                "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 900000}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["ok", "via"],
            "additionalProperties": false,
            "properties": {
                "ok": {"const": true},
                "via": {"enum": ["webhook", "chat.postMessage"]},
                "channel": {"type": "string", "description": "chat.postMessage: the channel id."},
                "ts": {"type": "string", "description": "chat.postMessage: the message's timestamp (its id in the channel)."},
                "warnings": {"type": "array", "items": {"type": "string"}}
            }
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 300, latency_ms_p95: 2_000 },
        default_timeout_ms: DEFAULT_TIMEOUT_MS,
        secret_fields: Vec::new(),
        failure_modes: vec![
            mode(
                "SKILL_INPUT_INVALID",
                Category::Validation,
                false,
                "The input does not match the schema (unknown field, `channel` without `token`, `webhook` with `token`).",
            ),
            mode(
                "SLACK_MESSAGE_TOO_LONG",
                Category::Validation,
                false,
                "The text, the blocks or a field of a block is over Slack's limit (msg_too_long, too_many_blocks); checked before sending.",
            ),
            mode(
                "SLACK_INVALID_PAYLOAD",
                Category::Validation,
                false,
                "Slack cannot use the message (invalid_payload, no_text, invalid_blocks), checked before sending or answered by Slack.",
            ),
            mode("SLACK_CHANNEL_NOT_FOUND", Category::NotFound, false, "Slack answered channel_not_found."),
            mode("SLACK_NOT_IN_CHANNEL", Category::Auth, false, "Slack answered not_in_channel: invite the app."),
            mode("SLACK_CHANNEL_ARCHIVED", Category::Conflict, false, "Slack answered is_archived or channel_is_archived."),
            mode("SLACK_INVALID_AUTH", Category::Auth, false, "Slack refused the token (invalid_auth, not_authed, token_revoked)."),
            mode("SLACK_MISSING_SCOPE", Category::Auth, false, "The token lacks chat:write (missing_scope)."),
            mode(
                "SLACK_RATE_LIMITED",
                Category::RateLimit,
                true,
                "Slack answered 429 (ratelimited); details.retry_after_ms from Retry-After.",
            ),
            mode("SLACK_WEBHOOK_NO_SERVICE", Category::NotFound, false, "The incoming webhook is disabled or removed (no_service)."),
            mode("SLACK_WEBHOOK_FORBIDDEN", Category::Auth, false, "The webhook may not post here (action_prohibited)."),
            mode("SLACK_SERVER_ERROR", Category::Transient, true, "Slack failed on its side (5xx, internal_error, fatal_error)."),
            mode(
                "SLACK_API_ERROR",
                Category::Permanent,
                false,
                "Slack answered an error this skill does not know; details.slack_error names it.",
            ),
            mode(
                "SLACK_WEBHOOK_URL_INVALID",
                Category::Validation,
                false,
                "The webhook secret is not an https:// URL (http:// only for a host the deployment allows).",
            ),
            mode("SECRET_NOT_FOUND", Category::Auth, false, "The tenant has no secret of the name `webhook` or `token` gives."),
            mode("SECRET_BACKEND_ERROR", Category::Transient, true, "The webhook URL or token could not be read."),
            mode(
                "HTTP_BLOCKED_ADDRESS",
                Category::Security,
                false,
                "The webhook's host is or resolves to an internal address the deployment does not allow.",
            ),
            mode("HTTP_DNS_ERROR", Category::Transient, true, "The host name could not be resolved."),
            mode(
                "HTTP_CONNECT_ERROR",
                Category::Transient,
                true,
                "The connection was refused, reset or closed before a complete response.",
            ),
            mode("HTTP_TLS_ERROR", Category::Security, false, "The TLS handshake failed."),
            mode("HTTP_TIMEOUT", Category::Transient, true, "No complete answer within the timeout (the post may have arrived)."),
            mode("HTTP_CLIENT_UNAVAILABLE", Category::Permanent, false, "The HTTP client could not be initialised in this deployment."),
            mode(
                "SKILL_RESOURCES_UNAVAILABLE",
                Category::Permanent,
                false,
                "The process executing the step gave the skill no access to the tenant's secrets.",
            ),
        ],
    }
}

/// The catalog code of a Slack error string (a webhook's body, or the Web API's `error`), with its
/// category and whether a retry can help.
pub fn classify_error(error: &str) -> (&'static str, Category, bool) {
    match error {
        "invalid_payload"
        | "no_text"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "invalid_arguments"
        | "invalid_arg_name"
        | "invalid_form_data"
        | "invalid_json"
        | "json_not_object"
        | "invalid_attachments"
        | "missing_text_or_fallback_or_attachments"
        | "invalid_post_type"
        | "invalid_metadata_format"
        | "invalid_metadata_schema" => ("SLACK_INVALID_PAYLOAD", Category::Validation, false),
        "msg_too_long" | "too_many_attachments" | "too_many_blocks" | "metadata_too_large" => {
            ("SLACK_MESSAGE_TOO_LONG", Category::Validation, false)
        }
        "channel_not_found" => ("SLACK_CHANNEL_NOT_FOUND", Category::NotFound, false),
        "not_in_channel" => ("SLACK_NOT_IN_CHANNEL", Category::Auth, false),
        "is_archived" | "channel_is_archived" => ("SLACK_CHANNEL_ARCHIVED", Category::Conflict, false),
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" | "invalid_token" | "no_such_token" => {
            ("SLACK_INVALID_AUTH", Category::Auth, false)
        }
        "missing_scope" | "not_allowed_token_type" | "no_permission" => ("SLACK_MISSING_SCOPE", Category::Auth, false),
        "ratelimited" | "rate_limited" | "message_limit_exceeded" => ("SLACK_RATE_LIMITED", Category::RateLimit, true),
        "no_service" | "no_service_id" | "no_team" | "no_active_hooks" => ("SLACK_WEBHOOK_NO_SERVICE", Category::NotFound, false),
        "action_prohibited" | "posting_to_general_channel_denied" | "restricted_action" => {
            ("SLACK_WEBHOOK_FORBIDDEN", Category::Auth, false)
        }
        "fatal_error" | "internal_error" | "service_unavailable" | "request_timeout" | "rollup_error" => {
            ("SLACK_SERVER_ERROR", Category::Transient, true)
        }
        _ => ("SLACK_API_ERROR", Category::Permanent, false),
    }
}

#[cfg(feature = "http")]
pub use exec::SlackSend;

#[cfg(feature = "http")]
mod exec;
