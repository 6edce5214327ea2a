//! The embedded catalog: valid against its JSON Schema, loadable, large and varied enough, and
//! every rule compiles into the matcher.

use aos_failures::{Catalog, CatalogError, Category, FailureMatcher, BUILTIN_CATALOG_JSON};
use std::collections::BTreeSet;

#[test]
fn catalog_satisfies_its_schema() {
    let schema: serde_json::Value = serde_json::from_str(include_str!("../catalog/catalog.schema.json")).expect("schema is JSON");
    let catalog: serde_json::Value = serde_json::from_str(BUILTIN_CATALOG_JSON).expect("catalog is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&catalog).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "catalog violates its schema:\n{}", errors.join("\n"));
}

#[test]
fn catalog_loads_and_builds() {
    let catalog = Catalog::builtin().expect("catalog loads");
    assert_eq!(catalog.version, 2);
    assert!(catalog.entries.len() >= 60, "only {} entries", catalog.entries.len());
    let categories: BTreeSet<Category> = catalog.entries.iter().map(|e| e.category).collect();
    assert_eq!(categories.len(), 9, "every category has entries: {categories:?}");
    FailureMatcher::new(catalog).expect("matcher builds");
}

#[test]
fn runtime_and_skill_codes_are_covered() {
    let m = FailureMatcher::builtin();
    let codes = [
        "STEP_TIMEOUT",
        "STEP_INTERRUPTED",
        "SKILL_PANIC",
        "SKILL_UNKNOWN",
        "SKILL_INPUT_INVALID",
        "TEMPLATE_UNRESOLVED",
        "CONDITION_ERROR",
        "SECRET_NOT_FOUND",
        "SECRET_UNRESOLVED",
        "SECRET_BACKEND_ERROR",
        "BUDGET_COST_EXCEEDED",
        "BUDGET_DURATION_EXCEEDED",
        "RUN_CANCELLED",
        "HTTP_BLOCKED_ADDRESS",
        "HTTP_INVALID_URL",
        "HTTP_DNS_ERROR",
        "HTTP_TIMEOUT",
        "HTTP_TLS_ERROR",
        "HTTP_CONNECT_ERROR",
        "HTTP_BODY_TOO_LARGE",
        "HTTP_TOO_MANY_REDIRECTS",
        "HTTP_CLIENT_UNAVAILABLE",
        "JQ_COMPILE_ERROR",
        "JQ_RUNTIME_ERROR",
        "JQ_LIMIT_EXCEEDED",
    ];
    for code in codes {
        let r = m.classify(&aos_failures::FailureInput::message("").with_code(code));
        assert!(r.matched, "{code} is not in the catalog");
    }
}

/// The codes AOS's own submission checks produce (aos-core validate.rs, the runtime's submit): each
/// has an entry, found by its code and, for the plan checks, by the validator's message alone.
#[test]
fn validation_codes_are_covered_by_code_and_by_message() {
    let m = FailureMatcher::builtin();
    let cases: &[(&str, Category, &str)] = &[
        ("PLAN_INVALID", Category::Validation, "a plan needs at least one step"),
        ("PLAN_INVALID", Category::Validation, "plan name must not be empty"),
        ("PLAN_TOO_LARGE", Category::Validation, "a plan has at most 200 steps"),
        (
            "PLAN_INVALID_SCHEMA",
            Category::Validation,
            "input_schema is not a valid JSON Schema: \"nope\" is not valid under any of the schemas",
        ),
        ("PLAN_INVALID_STEP_ID", Category::Validation, "step id `a b` must be non-empty letters, digits, `_` or `-`"),
        ("PLAN_DUPLICATE_STEP", Category::Validation, "step id `a` is used twice"),
        ("PLAN_UNKNOWN_DEPENDENCY", Category::Validation, "step `a` depends on `zz`, which is not another step of this plan"),
        ("PLAN_UNKNOWN_SKILL", Category::Validation, "step `a` uses unknown skill `no_such_skill`"),
        ("PLAN_UNKNOWN_SKILL", Category::Validation, "step `a` falls back to unknown skill `nope`"),
        ("PLAN_INVALID_RETRY", Category::Validation, "retry.max_attempts must be 1..=20"),
        ("PLAN_INVALID_RETRY", Category::Validation, "retry.initial_delay_ms must not exceed retry.max_delay_ms"),
        ("PLAN_INVALID_RETRY", Category::Validation, "retry.multiplier must be between 1 and 10"),
        ("PLAN_INVALID_TIMEOUT", Category::Validation, "timeout_ms must be 1..=900000"),
        ("PLAN_INVALID_CONDITION", Category::Validation, "condition does not compile: unexpected token `]`"),
        ("PLAN_INVALID_EXPR", Category::Validation, "jq program `expr` of step `a` does not compile: unexpected token `]`"),
        ("PLAN_CYCLE", Category::Validation, "steps a, b depend on each other in a cycle"),
        ("PLAN_INVALID_BUDGET", Category::Validation, "budget.max_cost_usd must be a non-negative number"),
        ("PLAN_INVALID_BUDGET", Category::Validation, "budget.max_duration_ms must be positive"),
        ("PLAN_BAD_REFERENCE", Category::Validation, "step `a` references step `zz`, which does not exist"),
        ("PLAN_BAD_REFERENCE", Category::Validation, "step `a` references step `b`, which is not upstream of it (add it to depends_on)"),
        ("PLAN_UNKNOWN_SECRET", Category::Validation, "step `a` references secret `MISSING`, which this tenant does not have"),
        ("PLAN_INPUT_SCHEMA", Category::Validation, "step `a` input: \"expr\" is a required property"),
        ("RUN_INVALID_INPUTS", Category::Validation, "inputs must be a JSON object"),
        ("RUN_INVALID_INPUTS", Category::Validation, "inputs: \"n\" is a required property"),
        ("RUN_PLAN_REQUIRED", Category::Validation, "give exactly one of `plan` or `workflow`"),
        ("WORKFLOW_NOT_FOUND", Category::NotFound, "no workflow `nightly` version 3"),
        ("INVALID_IDEMPOTENCY_KEY", Category::Validation, "idempotency_key must be 1 to 200 characters"),
        ("INVALID_SEED", Category::Validation, "seed must be below 2^53"),
    ];
    for (code, category, message) in cases {
        for input in [aos_failures::FailureInput::message(message).with_code(code), aos_failures::FailureInput::message(message)] {
            let r = m.classify(&input);
            let entry = r.entry.unwrap_or_else(|| panic!("{code}: `{message}` matched nothing"));
            assert_eq!(
                (entry.code.as_str(), entry.category, entry.retryable),
                (*code, *category, false),
                "`{message}` (code given: {})",
                input.code.is_some()
            );
        }
    }
    let r = m.classify(
        &aos_failures::FailureInput::message("unknown field `bogus`, expected one of `plan`, `workflow`").with_code("INVALID_FIELD"),
    );
    assert_eq!(r.entry.map(|e| e.code.as_str()), Some("INVALID_FIELD"));
}

#[test]
fn a_broken_catalog_is_rejected_not_half_loaded() {
    let mut c = Catalog::builtin().expect("catalog loads");
    c.entries[1].rules.patterns = vec!["(unclosed".into()];
    assert!(FailureMatcher::new(c).is_err());
    let mut c = Catalog::builtin().expect("catalog loads");
    let dup = c.entries[0].clone();
    c.entries.push(dup);
    assert!(matches!(FailureMatcher::new(c), Err(CatalogError::DuplicateCode(_))));
    let mut c = Catalog::builtin().expect("catalog loads");
    let stolen = c.entries.iter().find_map(|e| e.rules.aws_codes.first().cloned()).expect("some aws code");
    c.entries[0].rules.aws_codes.push(stolen.to_uppercase());
    assert!(matches!(FailureMatcher::new(c), Err(CatalogError::AmbiguousKey { .. })));
    let text = BUILTIN_CATALOG_JSON.replacen("\"version\": 2", "\"version\": 1", 1);
    assert!(Catalog::from_json(&text).is_err());
    // A misspelt field is refused, not ignored.
    let text = BUILTIN_CATALOG_JSON.replacen("\"retryable\":", "\"retriable\": true, \"retryable\":", 1);
    assert!(matches!(Catalog::from_json(&text), Err(CatalogError::UnknownField { field, .. }) if field == "retriable"));
    let text = BUILTIN_CATALOG_JSON.replacen("\"retryable\":", "\"priority\": 1, \"retryable\":", 1);
    assert!(Catalog::from_json(&text).is_ok(), "priority is a field of the format");
}
