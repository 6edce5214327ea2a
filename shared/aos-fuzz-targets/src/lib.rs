//! The bodies of AOS's fuzz targets, one function per target over raw bytes. cargo-fuzz runs them
//! under libFuzzer (`fuzz/fuzz_targets/<name>.rs` is one line calling the function here), and
//! `tests/replay.rs` runs every file of `fuzz/corpus/<name>/` through the same function on stable,
//! so the corpus and every crash found are regression tests of the ordinary test command.
//!
//! Each body checks properties, not just "no panic": what the security review
//! (`docs/security.md`) claims about the code under test.

use aos_core::plan::Plan;
use aos_core::template::{self, Scope};
use aos_core::validate::{validate_inputs, validate_plan, ValidationContext, MAX_CONDITION_CHARS};
use aos_failures::{normalize, FailureInput, FailureMatcher, MAX_SCAN_BYTES};
use aos_skills::fs::path as fs_path;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// A target's body: any bytes in, a panic when a property does not hold.
pub type Body = fn(&[u8]);

/// Every target, by name: the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`.
pub const TARGETS: &[(&str, Body)] = &[
    ("plan", plan),
    ("template", template),
    ("failure_match", failure_match),
    ("jq_compile", jq_compile),
    ("fs_path", fs_path),
    ("bearer", bearer),
];

/// Builds what `target`'s body builds once (the matcher's index, the skill registry, the verifier
/// and its runtime, jq's standard library), so a fuzzer's per-input timeout never counts it (in an
/// unoptimized build the matcher's index alone takes seconds). cargo-fuzz calls it before the
/// first input (`fuzz_target!(init: …)`); the replay needs no call.
pub fn init(target: &str) {
    match target {
        "plan" => plan(br#"{"name": "warm", "steps": [{"id": "a", "skill": "json_transform", "input": {"expr": "."}}]}"#),
        "failure_match" => failure_match(b"warm up"),
        "jq_compile" => jq_compile(b"."),
        "bearer" => bearer(b"Bearer warm.up.token"),
        _ => {}
    }
}

/// Plan parsing and validation: a plan document as `POST /api/v1/runs` reads it (JSON, unknown
/// fields refused), validated against the built-in skills' declarations. Validation answers a
/// list of field errors or `Ok`, never panics; an accepted plan has no cycle and unique step ids.
pub fn plan(data: &[u8]) {
    let Ok(plan) = serde_json::from_slice::<Plan>(data) else { return };
    static SKILLS: OnceLock<aos_core::skill::SkillRegistry> = OnceLock::new();
    let skills = SKILLS.get_or_init(|| aos_skills::described_registry(&aos_skills::SkillsConfig::default(), Vec::new()));
    let secret_names: HashSet<String> = ["TOKEN".to_string(), "API_KEY".to_string()].into();
    // The server compiles conditions in the jq sandbox; here a condition "compiles" unless it is
    // empty, so both branches of validation are reached without a worker.
    let check = |expr: &str| if expr.trim().is_empty() { Err("empty program".to_string()) } else { Ok(()) };
    let cx = ValidationContext { skills, secret_names: &secret_names, check_jq: &check };
    match validate_plan(&plan, &cx) {
        Ok(()) => {
            let order = aos_core::dag::topo_order(&plan).expect("an accepted plan has no cycle");
            assert_eq!(order.len(), plan.steps.len());
            let ids: HashSet<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids.len(), plan.steps.len(), "an accepted plan has unique step ids");
            assert!(plan.steps.iter().all(|s| s.condition.as_ref().is_none_or(|c| c.chars().count() <= MAX_CONDITION_CHARS)));
            let _ = validate_inputs(&plan, &json!({}));
            // The plan hash the idempotency check and workflows use is a pure function of the plan.
            let value = serde_json::to_value(&plan).expect("a plan serializes");
            assert_eq!(aos_core::canonical::hash_value(&value), aos_core::canonical::hash_value(&value.clone()));
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal names at least one problem");
            assert!(errors.iter().all(|e| !e.code.is_empty()), "every problem has a machine-readable code");
        }
    }
}

/// A secret value that no fuzz input is expected to contain by chance.
const SECRET_VALUE: &str = "s3cr3t-\u{1f512}-value-7f3a9c";

/// Templating: `{"template": …, "inputs": …, "outputs": {step: …}}` (or any JSON value, taken as
/// the template). Resolution leaves secrets in place; the worker fills them only into the slots
/// the template's own text names, so text that arrives through inputs or step outputs never
/// becomes a secret (no second-order template injection).
pub fn template(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else { return };
    let (tpl, inputs, outputs) = match &doc {
        Value::Object(m) if m.contains_key("template") => {
            let outputs: HashMap<String, Value> = match m.get("outputs") {
                Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                _ => HashMap::new(),
            };
            (m["template"].clone(), m.get("inputs").cloned().unwrap_or(json!({})), outputs)
        }
        other => (other.clone(), json!({"x": "{{ secrets.TOKEN }}", "n": 1}), HashMap::from([("a".to_string(), json!({"v": [1, 2]}))])),
    };
    if data.windows(SECRET_VALUE.len()).any(|w| w == SECRET_VALUE.as_bytes()) {
        return;
    }
    for (_, parsed) in template::references(&tpl, "input") {
        let _ = parsed;
    }
    let scope = Scope { inputs: &inputs, outputs: &outputs, secrets: None };
    let Ok(resolved) = template::resolve_input(&tpl, &scope) else { return };
    let named: HashSet<String> = template::secret_names(&tpl).into_iter().collect();
    for slot in &resolved.secrets {
        assert!(slot.names().all(|n| named.contains(n)), "a slot names only secrets the template names: {slot:?}");
        assert!(slot.pointer.is_empty() || slot.pointer.starts_with('/'), "slot pointers are JSON pointers: {}", slot.pointer);
    }
    let secrets: HashMap<String, String> = named
        .iter()
        .map(|n| (n.clone(), SECRET_VALUE.to_string()))
        .chain([("TOKEN".to_string(), SECRET_VALUE.to_string()), ("API_KEY".to_string(), SECRET_VALUE.to_string())])
        .collect();
    let mut filled = resolved.value.clone();
    if template::fill_secrets(&mut filled, &resolved.secrets, &secrets).is_err() {
        return;
    }
    let text = serde_json::to_string(&filled).expect("JSON");
    if resolved.secrets.is_empty() {
        assert!(!text.contains(SECRET_VALUE), "a template that names no secret received one: {text}");
    }
    // Filling touches only the slots: everywhere else the value is the one resolution stored.
    let mut unslotted = filled;
    let mut stored = resolved.value;
    for slot in &resolved.secrets {
        if let (Some(a), Some(b)) = (unslotted.pointer_mut(&slot.pointer), stored.pointer_mut(&slot.pointer)) {
            *a = Value::Null;
            *b = Value::Null;
        }
    }
    assert_eq!(unslotted, stored, "secrets are filled only at their slots");
}

/// The failure-message normalizer and the matcher: `message␟code␟skill␟http status␟aws code␟smtp
/// code␟os kind` (fields split on U+001F, empty = absent). Normalization reads a bounded prefix,
/// is deterministic, and the signature depends only on skill, code and normalized text.
pub fn failure_match(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1f}');
    let message = fields.next().unwrap_or_default();
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (code, skill, status, aws, smtp, os) = (next(), next(), next(), next(), next(), next());
    let normalized = normalize(message);
    assert!(normalized.len() <= 4 * MAX_SCAN_BYTES + 64, "normalization output is bounded: {} bytes", normalized.len());
    assert_eq!(normalized, normalize(message), "normalization is deterministic");
    assert!(
        !normalized.starts_with(' ') && !normalized.ends_with(' ') && !normalized.contains("  "),
        "whitespace collapsed: {normalized:?}"
    );
    let mut input = FailureInput::message(message);
    input.code = code;
    input.skill = skill;
    input.http_status = status.and_then(|s| s.trim().parse().ok());
    input.aws_code = aws;
    input.smtp_code = smtp;
    input.os_kind = os;
    let matcher = FailureMatcher::builtin();
    let first = matcher.classify(&input);
    let again = matcher.classify(&input);
    assert_eq!(first, again, "classification is deterministic");
    assert_eq!(first.matched, first.entry.is_some());
    assert!((0.0..=1.0).contains(&first.confidence), "confidence {}", first.confidence);
    if !first.matched {
        // No entry: a guess of the second stage, below the decisive confidence, or nothing.
        match &first.inferred {
            Some(guess) => {
                assert_eq!(first.match_type, aos_failures::MatchType::Inferred);
                assert!(first.confidence == guess.confidence && guess.confidence <= aos_failures::MAX_INFERRED_CONFIDENCE);
            }
            None => assert_eq!((first.confidence, first.match_type), (0.0, aos_failures::MatchType::None)),
        }
    } else {
        assert!(first.inferred.is_none());
    }
    assert_eq!(first.signature, aos_failures::signature(skill, code, &first.normalized));
    assert_eq!(first.signature.len(), 16);
    let _ = matcher.classify_message(message);
}

/// The jq compile path a sandbox worker runs first on every program (parse, load jq's standard
/// library, resolve names), in-process and never run: a program is refused with a message, or
/// compiled, never a panic. Lengths as `json_transform` caps them (16,384 characters).
pub fn jq_compile(data: &[u8]) {
    let Ok(expr) = std::str::from_utf8(data) else { return };
    if expr.chars().count() > aos_skills::json_transform::MAX_EXPR_CHARS {
        return;
    }
    match aos_jq::unsandboxed::compile(expr) {
        Ok(_) => {}
        Err(e) => {
            assert!(!e.message().is_empty(), "a refused program says why");
        }
    }
}

/// The fs skill's path resolver, the one door into a tenant's sandbox: an accepted path is
/// relative, normalized (no empty, `.` or `..` component), within the length and depth limits,
/// free of control characters and backslashes, and parsing it again gives the same path.
pub fn fs_path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else { return };
    match fs_path::parse(path) {
        Ok(p) => {
            let key = p.as_key();
            assert!(key.len() <= fs_path::MAX_PATH_BYTES, "{key}");
            assert!(p.parts().len() <= fs_path::MAX_DEPTH);
            assert!(!key.starts_with('/') && !key.starts_with('~'), "{key}");
            for part in p.parts() {
                assert!(!part.is_empty() && part != "." && part != ".." && !part.contains('/'), "{part:?}");
                assert!(part.len() <= fs_path::MAX_NAME_BYTES);
                assert!(!part.chars().any(|c| c.is_control() || c == '\\'), "{part:?}");
            }
            assert_eq!(fs_path::parse(&key).expect("a normalized path parses again"), p);
            // S3 keys are the tenant's prefix and this key: never another tenant's prefix.
            let s3 = format!("t/acme/{key}");
            assert!(s3.starts_with("t/acme/") && !s3["t/acme/".len()..].split('/').any(|c| c == ".."));
            let _ = fs_path::parse_file(path);
        }
        Err(e) => {
            assert!(matches!(e.code.as_str(), "FS_PATH_INVALID" | "FS_PATH_TOO_LONG" | "FS_PATH_ESCAPES"), "{}", e.code);
            assert!(e.message.chars().count() < 1000, "the refusal shows a cut path");
        }
    }
}

/// Bearer-token parsing: an `Authorization` header value through the parser the API middleware
/// and the AWS authorizer share, then (anything but an `aos_` key) the OIDC verifier of a
/// deployment whose identity provider has no reachable keys. Every token is refused, the refusal
/// never contains the token, and the verifier refuses `none`/HMAC algorithms before any fetch.
pub fn bearer(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let Some(token) = aos_api::auth::bearer_token(header) else {
        assert!(!header.starts_with("Bearer ") && !header.starts_with("bearer "));
        return;
    };
    assert_eq!(token, token.trim());
    assert!(header.contains(token));
    if token.starts_with("aos_") {
        return; // API keys are looked up by their SHA-256 (`ApiKeys::authenticate`): no parsing.
    }
    static VERIFIER: OnceLock<(tokio::runtime::Runtime, aos_runtime::oidc::OidcVerifier)> = OnceLock::new();
    let (rt, verifier) = VERIFIER.get_or_init(|| {
        let mut config = aos_runtime::oidc::OidcConfig::new("https://issuer.example", vec!["client-1".into()]);
        // A closed local port: a token that gets as far as a key fetch is refused without a network.
        config.jwks_url = "http://127.0.0.1:9/jwks.json".into();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        (rt, aos_runtime::oidc::OidcVerifier::new(config))
    });
    let result = rt.block_on(verifier.verify(token));
    let error = match result {
        Ok(v) => panic!("a token was accepted without any signing key: {:?}", v.principal),
        Err(e) => e,
    };
    let message = error.to_string();
    // A token with a `.` (every JWT has two) is never part of a refusal's fixed text, so finding it
    // in the message means the message echoed it. (Found by the fuzzer: a token that is a phrase of
    // the fixed text, `is not a well-formed JWT`, is "contained" without any echo.)
    if token.len() >= 16 && token.contains('.') {
        assert!(!message.contains(token), "the refusal contains the token: {message}");
    }
    if let aos_runtime::oidc::TokenError::Jwks(_) = error {
        // Only a header naming an accepted asymmetric algorithm and a key id reaches the fetch.
        let head = token.split('.').next().unwrap_or_default();
        assert!(!head.is_empty(), "a fetch for a token without a header");
    }
}
