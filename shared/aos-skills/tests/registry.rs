//! The built-in registry, the skills' self-descriptions and the configuration from environment.

use aos_core::skill::{Determinism, SideEffects};
use aos_skills::{builtin_registry, SkillsConfig};
use std::collections::HashMap;

#[test]
fn registry_offers_both_skills_with_complete_specs() {
    let registry = builtin_registry(&SkillsConfig::default());
    let ids: Vec<&str> = registry.specs().iter().map(|s| s.id.as_str()).collect();
    let mut listed: Vec<&str> = aos_skills::BUILTINS.iter().map(|b| b.id).collect();
    listed.sort_unstable();
    assert_eq!(ids, listed, "the registry offers exactly the skills of aos_skills::BUILTINS");
    for spec in registry.specs() {
        assert_eq!(spec.version, "1.0.0");
        assert!(!spec.description.is_empty());
        assert_eq!(spec.input_schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(spec.input_schema["additionalProperties"], false);
        assert!(spec.input_schema["required"].is_array());
        assert!(spec.default_timeout_ms > 0);
        assert!(spec.failure_modes.iter().any(|m| m.code == "SKILL_INPUT_INVALID"));
    }
    let http = registry.get("http_call").expect("http_call").spec();
    assert_eq!((http.side_effects, http.determinism), (SideEffects::Write, Determinism::NonDeterministic));
    assert!(!http.replayable());
    for code in [
        "HTTP_BLOCKED_ADDRESS",
        "HTTP_TIMEOUT",
        "HTTP_CONNECT_ERROR",
        "HTTP_DNS_ERROR",
        "HTTP_TLS_ERROR",
        "HTTP_TOO_MANY_REDIRECTS",
        "HTTP_BODY_TOO_LARGE",
        "HTTP_INVALID_URL",
        "HTTP_429",
        "HTTP_503",
    ] {
        assert!(http.failure_modes.iter().any(|m| m.code == code), "{code}");
    }
    let jq = registry.get("json_transform").expect("json_transform").spec();
    assert!(jq.replayable());
    assert_eq!(jq.input_schema["required"], serde_json::json!(["data", "expr"]));
}

#[test]
fn config_from_variables() {
    let vars: HashMap<&str, &str> = [
        ("AOS_HTTP_ALLOW_HOSTS", " localhost, 127.0.0.1 ,,"),
        ("AOS_HTTP_MAX_RESPONSE_BYTES", "1024"),
        ("AOS_HTTP_DEFAULT_TIMEOUT_MS", ""),
    ]
    .into();
    let config = SkillsConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("valid");
    assert_eq!(config.http_allow_hosts, ["localhost", "127.0.0.1"]);
    assert_eq!(config.http_max_response_bytes, 1024);
    assert_eq!(config.http_default_timeout_ms, SkillsConfig::default().http_default_timeout_ms);

    let err = SkillsConfig::from_lookup(|k| (k == "AOS_HTTP_DEFAULT_TIMEOUT_MS").then(|| "soon".to_string())).expect_err("invalid");
    assert_eq!(err.var, "AOS_HTTP_DEFAULT_TIMEOUT_MS");
    assert_eq!(SkillsConfig::from_lookup(|_| None).expect("defaults"), SkillsConfig::default());
}

/// Every failure code a skill declares is known to the failure catalog, so its failures are
/// classified (and recovered) as the skill says: a new skill's codes need catalog entries.
#[test]
fn every_declared_failure_mode_has_a_catalog_entry() {
    let matcher = aos_failures::FailureMatcher::builtin();
    let registry = builtin_registry(&SkillsConfig::default());
    for spec in registry.specs() {
        // `HTTP_<status>` stands for the family of statuses, each matched by the catalog's status rules.
        for mode in spec.failure_modes.iter().filter(|m| !m.code.contains('<')) {
            let status = mode.code.strip_prefix("HTTP_").and_then(|n| n.parse::<u16>().ok());
            let input = aos_failures::FailureInput {
                code: Some(&mode.code),
                skill: Some(&spec.id),
                http_status: status,
                ..aos_failures::FailureInput::message(&mode.description)
            };
            let found = matcher.classify(&input);
            assert!(
                found.matched,
                "skill `{}` declares failure code {} but the failure catalog matches no entry for it (matched: {:?}): add one to shared/aos-failures/catalog/catalog.json",
                spec.id,
                mode.code,
                found.entry.map(|e| &e.code)
            );
        }
    }
}
