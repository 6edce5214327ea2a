//! Slack's published limits on a message, checked before anything is sent, so an over-long text or
//! a malformed block fails with the path of the offending field instead of Slack's bare
//! `invalid_blocks`. Limits from the Block Kit reference (api.slack.com/reference/block-kit) and
//! chat.postMessage's documentation; docs/skills.md lists them.

use aos_core::outcome::{Category, StepError};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// chat.postMessage: "Slack will truncate messages containing more than 40,000 characters".
pub const MAX_TEXT_CHARS: usize = 40_000;
/// Blocks in one message (modals and the Home tab allow 100; messages 50).
pub const MAX_BLOCKS: usize = 50;
/// Any text object.
pub const MAX_TEXT_OBJECT_CHARS: usize = 3_000;
/// A section's `fields`: items and characters per item.
pub const MAX_SECTION_FIELDS: usize = 10;
pub const MAX_SECTION_FIELD_CHARS: usize = 2_000;
/// A header's plain text.
pub const MAX_HEADER_CHARS: usize = 150;
/// A context block's elements; an actions block's elements.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_ACTIONS_ELEMENTS: usize = 25;
/// `block_id` and `action_id`.
pub const MAX_ID_CHARS: usize = 255;
/// Image URLs, button URLs.
pub const MAX_URL_CHARS: usize = 3_000;
/// An image's alt text and title.
pub const MAX_ALT_TEXT_CHARS: usize = 2_000;
/// A button's text and value.
pub const MAX_BUTTON_TEXT_CHARS: usize = 75;
pub const MAX_BUTTON_VALUE_CHARS: usize = 2_000;
/// Every `markdown` block of a message together.
pub const MAX_MARKDOWN_CHARS: usize = 12_000;

/// The block types a message may carry.
const MESSAGE_BLOCKS: &[&str] =
    &["section", "header", "divider", "context", "image", "actions", "rich_text", "markdown", "input", "video", "file"];

fn too_long(path: &str, what: &str, length: usize, limit: usize) -> StepError {
    StepError::new(
        "SLACK_MESSAGE_TOO_LONG",
        Category::Validation,
        false,
        format!("{what} at {path} has {length}, over Slack's limit of {limit} (msg_too_long; checked before sending)"),
    )
    .with_details(json!({"path": path, "length": length, "limit": limit}))
}

fn invalid(path: &str, reason: impl Into<String>) -> StepError {
    let reason = reason.into();
    StepError::new(
        "SLACK_INVALID_PAYLOAD",
        Category::Validation,
        false,
        format!("the message is not one Slack accepts (invalid_blocks): {path}: {reason}; checked before sending"),
    )
    .with_details(json!({"path": path, "reason": reason}))
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Checks `text` and `blocks` against Slack's limits. One of them is required.
pub fn validate(text: Option<&str>, blocks: Option<&Value>) -> Result<(), StepError> {
    if let Some(text) = text {
        if chars(text) > MAX_TEXT_CHARS {
            return Err(too_long("/text", "the text", chars(text), MAX_TEXT_CHARS));
        }
    }
    let has_text = text.is_some_and(|t| !t.trim().is_empty());
    let blocks = match blocks {
        None => None,
        Some(Value::Array(list)) => Some(list),
        Some(_) => return Err(invalid("/blocks", "blocks is an array of block objects")),
    };
    if !has_text && blocks.is_none_or(|b| b.is_empty()) {
        return Err(StepError::new(
            "SLACK_INVALID_PAYLOAD",
            Category::Validation,
            false,
            "the message has no text and no blocks (no_text; checked before sending)",
        )
        .with_details(json!({"path": "/text"})));
    }
    let Some(blocks) = blocks else { return Ok(()) };
    if blocks.len() > MAX_BLOCKS {
        return Err(too_long("/blocks", "the number of blocks", blocks.len(), MAX_BLOCKS));
    }
    let mut ids = HashSet::new();
    let mut markdown = 0usize;
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("/blocks/{i}");
        let Value::Object(b) = block else { return Err(invalid(&path, "a block is an object")) };
        let kind = b.get("type").and_then(Value::as_str).ok_or_else(|| invalid(&path, "a block has a `type`"))?;
        if !MESSAGE_BLOCKS.contains(&kind) {
            return Err(invalid(&format!("{path}/type"), format!("`{kind}` is not a block type messages take")));
        }
        if let Some(id) = b.get("block_id") {
            let id = id.as_str().ok_or_else(|| invalid(&format!("{path}/block_id"), "block_id is a string"))?;
            max(&format!("{path}/block_id"), "block_id", id, MAX_ID_CHARS)?;
            if !ids.insert(id.to_string()) {
                return Err(invalid(&format!("{path}/block_id"), format!("block_id `{id}` is used twice")));
            }
        }
        match kind {
            "section" => section(&path, b)?,
            "header" => {
                text_object(&format!("{path}/text"), b.get("text"), Some("plain_text"), MAX_HEADER_CHARS)?;
            }
            "context" => {
                let elements = array(&format!("{path}/elements"), b.get("elements"), MAX_CONTEXT_ELEMENTS, "context elements")?;
                for (j, e) in elements.iter().enumerate() {
                    let p = format!("{path}/elements/{j}");
                    match e.get("type").and_then(Value::as_str) {
                        Some("image") => image(&p, e)?,
                        Some("plain_text" | "mrkdwn") => {
                            text_object(&p, Some(e), None, MAX_TEXT_OBJECT_CHARS)?;
                        }
                        _ => return Err(invalid(&p, "a context element is an image or a text object")),
                    }
                }
            }
            "image" => {
                image(&path, block)?;
                if b.contains_key("title") {
                    text_object(&format!("{path}/title"), b.get("title"), Some("plain_text"), MAX_ALT_TEXT_CHARS)?;
                }
            }
            "actions" => {
                let elements = array(&format!("{path}/elements"), b.get("elements"), MAX_ACTIONS_ELEMENTS, "actions elements")?;
                for (j, e) in elements.iter().enumerate() {
                    element(&format!("{path}/elements/{j}"), e)?;
                }
            }
            "markdown" => {
                let t =
                    b.get("text").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}/text"), "a markdown block has text"))?;
                markdown += chars(t);
                if markdown > MAX_MARKDOWN_CHARS {
                    return Err(too_long(&format!("{path}/text"), "the markdown blocks' text", markdown, MAX_MARKDOWN_CHARS));
                }
            }
            "rich_text" if !b.get("elements").is_some_and(Value::is_array) => {
                return Err(invalid(&format!("{path}/elements"), "a rich_text block has an array of elements"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn max(path: &str, what: &str, s: &str, limit: usize) -> Result<(), StepError> {
    let n = chars(s);
    if n > limit {
        return Err(too_long(path, what, n, limit));
    }
    Ok(())
}

fn array<'a>(path: &str, v: Option<&'a Value>, limit: usize, what: &str) -> Result<&'a Vec<Value>, StepError> {
    let list = v.and_then(Value::as_array).ok_or_else(|| invalid(path, format!("{what} are an array")))?;
    if list.is_empty() {
        return Err(invalid(path, format!("{what} are not empty")));
    }
    if list.len() > limit {
        return Err(too_long(path, &format!("the number of {what}"), list.len(), limit));
    }
    Ok(list)
}

/// A text object: `{type: plain_text|mrkdwn, text}`, 1 to `limit` characters.
fn text_object<'a>(path: &str, v: Option<&'a Value>, only: Option<&str>, limit: usize) -> Result<&'a str, StepError> {
    let Some(Value::Object(o)) = v else { return Err(invalid(path, "a text object is required here")) };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "plain_text" | "mrkdwn") || only.is_some_and(|k| k != kind) {
        return Err(invalid(&format!("{path}/type"), format!("the text object's type is {}", only.unwrap_or("plain_text or mrkdwn"))));
    }
    let text = o.get("text").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}/text"), "a text object has text"))?;
    if text.is_empty() {
        return Err(invalid(&format!("{path}/text"), "a text object's text is not empty"));
    }
    max(&format!("{path}/text"), "the text", text, limit)?;
    Ok(text)
}

fn section(path: &str, b: &Map<String, Value>) -> Result<(), StepError> {
    if b.get("text").is_none() && b.get("fields").is_none() {
        return Err(invalid(path, "a section has text or fields"));
    }
    if b.contains_key("text") {
        text_object(&format!("{path}/text"), b.get("text"), None, MAX_TEXT_OBJECT_CHARS)?;
    }
    if b.contains_key("fields") {
        let fields = array(&format!("{path}/fields"), b.get("fields"), MAX_SECTION_FIELDS, "section fields")?;
        for (j, f) in fields.iter().enumerate() {
            text_object(&format!("{path}/fields/{j}"), Some(f), None, MAX_SECTION_FIELD_CHARS)?;
        }
    }
    if let Some(accessory) = b.get("accessory") {
        element(&format!("{path}/accessory"), accessory)?;
    }
    Ok(())
}

fn image(path: &str, e: &Value) -> Result<(), StepError> {
    let url = e.get("image_url").and_then(Value::as_str);
    if url.is_none() && e.get("slack_file").is_none() {
        return Err(invalid(path, "an image has image_url or slack_file"));
    }
    if let Some(url) = url {
        max(&format!("{path}/image_url"), "the image URL", url, MAX_URL_CHARS)?;
    }
    let alt = e.get("alt_text").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}/alt_text"), "an image has alt_text"))?;
    max(&format!("{path}/alt_text"), "the alt text", alt, MAX_ALT_TEXT_CHARS)
}

/// An interactive element (actions, accessories): buttons checked in full, others by their ids.
fn element(path: &str, e: &Value) -> Result<(), StepError> {
    let Value::Object(o) = e else { return Err(invalid(path, "an element is an object")) };
    let kind = o.get("type").and_then(Value::as_str).ok_or_else(|| invalid(path, "an element has a `type`"))?;
    if let Some(id) = o.get("action_id") {
        max(&format!("{path}/action_id"), "action_id", id.as_str().unwrap_or(""), MAX_ID_CHARS)?;
    }
    match kind {
        "button" => {
            text_object(&format!("{path}/text"), o.get("text"), Some("plain_text"), MAX_BUTTON_TEXT_CHARS)?;
            if let Some(url) = o.get("url") {
                max(&format!("{path}/url"), "the button URL", url.as_str().unwrap_or(""), MAX_URL_CHARS)?;
            }
            if let Some(value) = o.get("value") {
                max(&format!("{path}/value"), "the button value", value.as_str().unwrap_or(""), MAX_BUTTON_VALUE_CHARS)?;
            }
            if let Some(style) = o.get("style") {
                if !matches!(style.as_str(), Some("primary" | "danger")) {
                    return Err(invalid(&format!("{path}/style"), "a button's style is primary or danger"));
                }
            }
            Ok(())
        }
        "image" => image(path, e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: Option<&str>, blocks: Value) -> String {
        validate(text, Some(&blocks)).err().map(|e| format!("{} {}", e.code, e.details["path"].as_str().unwrap_or(""))).unwrap_or_default()
    }

    #[test]
    fn limits() {
        let section = |t: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": t}});
        assert_eq!(code(Some("hi"), json!([section("ok")])), "");
        assert_eq!(code(None, json!([section(&"x".repeat(3000))])), "");
        assert_eq!(code(None, json!([section(&"x".repeat(3001))])), "SLACK_MESSAGE_TOO_LONG /blocks/0/text/text");
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert_eq!(code(Some("t"), json!(many)), "SLACK_MESSAGE_TOO_LONG /blocks");
        let header = |t: &str| json!([{"type": "header", "text": {"type": "plain_text", "text": t}}]);
        assert_eq!(code(None, header(&"é".repeat(150))), "");
        assert_eq!(code(None, header(&"é".repeat(151))), "SLACK_MESSAGE_TOO_LONG /blocks/0/text/text");
        assert_eq!(
            code(None, json!([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}])),
            "SLACK_INVALID_PAYLOAD /blocks/0/text/type"
        );
        assert_eq!(code(None, json!([{"type": "modal_only"}])), "SLACK_INVALID_PAYLOAD /blocks/0/type");
        assert_eq!(
            code(None, json!([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}])),
            "SLACK_INVALID_PAYLOAD /blocks/1/block_id"
        );
        let fields: Vec<Value> = (0..11).map(|_| json!({"type": "plain_text", "text": "f"})).collect();
        assert_eq!(code(None, json!([{"type": "section", "fields": fields}])), "SLACK_MESSAGE_TOO_LONG /blocks/0/fields");
        let button = json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x".repeat(76)}}]});
        assert_eq!(code(None, json!([button])), "SLACK_MESSAGE_TOO_LONG /blocks/0/elements/0/text/text");
        assert_eq!(code(None, json!([{"type": "image", "image_url": "https://x/y.png"}])), "SLACK_INVALID_PAYLOAD /blocks/0/alt_text");
        let md = |n: usize| json!({"type": "markdown", "text": "m".repeat(n)});
        assert_eq!(code(None, json!([md(6000), md(6000)])), "");
        assert_eq!(code(None, json!([md(6000), md(6001)])), "SLACK_MESSAGE_TOO_LONG /blocks/1/text");
        assert!(validate(Some(&"x".repeat(40_000)), None).is_ok());
        assert_eq!(validate(Some(&"x".repeat(40_001)), None).unwrap_err().code, "SLACK_MESSAGE_TOO_LONG");
        assert_eq!(validate(Some("  "), None).unwrap_err().code, "SLACK_INVALID_PAYLOAD");
        assert_eq!(validate(None, Some(&json!([]))).unwrap_err().code, "SLACK_INVALID_PAYLOAD");
    }
}
