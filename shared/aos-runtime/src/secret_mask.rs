//! Masks secret values in what a skill returns, in the encodings a response or an error message
//! commonly carries them: as written (any ASCII case), JSON-escaped, percent-encoded (URL query
//! and form style), hexadecimal, and base64 (standard and URL-safe, at any byte alignment, so a
//! secret inside a longer encoded value such as `Basic base64(user:secret)` is found too).
//!
//! This is defence in depth: a plan can name a secret only in the input fields a skill designates
//! for it (`SkillSpec::secret_fields`), so no AOS skill computes on a secret; the mask catches the
//! outside world echoing it back.

use crate::redact::REDACTED;
use aho_corasick::{AhoCorasick, MatchKind};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

/// Shorter values are not masked (they would mask ordinary text); secret stores should hold
/// real credentials.
const MIN_LEN: usize = 3;
/// Encoded forms are masked from this length of the secret on.
const MIN_ENCODED_LEN: usize = 4;

pub struct SecretMask {
    /// Forms that may appear in any ASCII case (text, percent-encoding, hex).
    caseless: Option<AhoCorasick>,
    /// Case-sensitive forms (base64).
    exact: Option<AhoCorasick>,
}

impl SecretMask {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut caseless: Vec<String> = Vec::new();
        let mut exact: Vec<String> = Vec::new();
        for secret in secrets.into_iter().filter(|s| s.len() >= MIN_LEN) {
            caseless.push(secret.to_string());
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            caseless.push(escaped.trim_matches('"').to_string());
            if secret.len() < MIN_ENCODED_LEN {
                continue;
            }
            caseless.push(percent(secret.as_bytes(), false));
            caseless.push(percent(secret.as_bytes(), true));
            caseless.push(percent_all(secret.as_bytes()));
            // As a URL serializer writes it into each part of a URL (WHATWG URL sets).
            for set in [URL_FRAGMENT, URL_QUERY, URL_SPECIAL_QUERY, URL_PATH, URL_USERINFO, URL_FORM] {
                caseless.push(percent_set(secret.as_bytes(), set));
            }
            caseless.push(hex::encode(secret.as_bytes()));
            for offset in 0..3 {
                for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                    if let Some(form) = base64_core(engine, secret.as_bytes(), offset) {
                        exact.push(form);
                    }
                }
            }
        }
        let build = |patterns: &mut Vec<String>, caseless: bool| {
            patterns.retain(|p| p.len() >= MIN_LEN);
            patterns.sort();
            patterns.dedup();
            (!patterns.is_empty()).then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(caseless)
                    .build(patterns.iter())
                    .expect("literal patterns always build")
            })
        };
        Self { caseless: build(&mut caseless, true), exact: build(&mut exact, false) }
    }

    pub fn is_empty(&self) -> bool {
        self.caseless.is_none() && self.exact.is_none()
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    pub fn mask_str(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for ac in [&self.caseless, &self.exact].into_iter().flatten() {
            let current = out.as_deref().unwrap_or(text);
            if ac.is_match(current) {
                out = Some(ac.replace_all(current, &[REDACTED].repeat(ac.patterns_len())));
            }
        }
        out
    }

    /// Masks every string (and object key) inside `value`.
    pub fn mask_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(masked) = self.mask_str(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(map) => {
                let needs_key_change = map.keys().any(|k| self.mask_str(k).is_some());
                if needs_key_change {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        map.insert(self.mask_str(&k).unwrap_or(k), v);
                    }
                }
                map.values_mut().for_each(|v| self.mask_value(v));
            }
            _ => {}
        }
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; `form` writes a space as `+`.
fn percent(bytes: &[u8], form: bool) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The characters (beside C0 controls and non-ASCII bytes) that the WHATWG URL standard's
/// percent-encode sets encode, cumulatively: what a URL parser leaves of a secret in a URL.
const URL_FRAGMENT: &[u8] = b" \"<>`";
const URL_QUERY: &[u8] = b" \"#<>";
const URL_SPECIAL_QUERY: &[u8] = b" \"#<>'";
const URL_PATH: &[u8] = b" \"#<>?`{}";
const URL_USERINFO: &[u8] = b" \"#<>?`{}/:;=@[\\]^|";
/// application/x-www-form-urlencoded as `url::form_urlencoded` writes it, with `%20` for spaces
/// (the `+` form is [`percent`] with `form`).
const URL_FORM: &[u8] = b" !\"#$%&'()+,/:;<=>?@[\\]^`{|}~";

fn percent_set(bytes: &[u8], set: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if !(0x20..0x7f).contains(&b) || set.contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn percent_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// The base64 characters determined by the secret alone when it starts `offset` bytes into an
/// encoded value (0, 1 or 2: base64 works in groups of three bytes).
fn base64_core(engine: &base64::engine::GeneralPurpose, secret: &[u8], offset: usize) -> Option<String> {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(secret);
    let encoded = engine.encode(&bytes);
    let start = (8 * offset).div_ceil(6);
    let end = (8 * (offset + secret.len())) / 6;
    (end > start + 3).then(|| encoded[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use serde_json::json;

    const SECRET: &str = "s3cr3t/Value+with spaces&?=\"'%\\`{}";

    #[test]
    fn every_encoding_of_a_secret_is_masked() {
        let mask = SecretMask::new([SECRET]);
        let forms = [
            SECRET.to_string(),
            SECRET.to_uppercase(),
            SECRET.to_lowercase(),
            serde_json::to_string(SECRET).unwrap(),
            percent(SECRET.as_bytes(), false),
            percent(SECRET.as_bytes(), false).to_lowercase(),
            percent(SECRET.as_bytes(), true),
            percent_all(SECRET.as_bytes()),
            hex::encode(SECRET),
            percent_set(SECRET.as_bytes(), URL_SPECIAL_QUERY),
            percent_set(SECRET.as_bytes(), URL_PATH),
            percent_set(SECRET.as_bytes(), URL_USERINFO),
            hex::encode_upper(SECRET),
            STANDARD.encode(SECRET),
            URL_SAFE.encode(SECRET),
            STANDARD.encode(format!("user:{SECRET}")),
            STANDARD.encode(format!("ab:{SECRET}:x")),
            URL_SAFE_NO_PAD.encode(format!("a{SECRET}")),
        ];
        for form in forms {
            let text = format!("before {form} after");
            let masked = mask.mask_str(&text).unwrap_or_else(|| panic!("{form} was not masked"));
            assert!(masked.contains(REDACTED), "{form}");
            assert!(masked.starts_with("before ") && masked.ends_with(" after"), "{masked}");
        }
        assert_eq!(mask.mask_str("nothing here"), None);
    }

    #[test]
    fn values_keys_and_nested_strings_are_masked() {
        let mask = SecretMask::new(["tok3n-value", "ab"]);
        let mut v = json!({"echo": {"headers": {"authorization": "Bearer tok3n-value"}}, "tok3n-value": [1, "TOK3N-VALUE"], "ab": "ab"});
        mask.mask_value(&mut v);
        assert_eq!(
            v,
            json!({"echo": {"headers": {"authorization": "Bearer [REDACTED]"}}, "[REDACTED]": [1, "[REDACTED]"], "ab": "ab"}),
            "two-character values are too short to mask"
        );
    }
}
