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
        "STEP_TIMEOUT", "STEP_INTERRUPTED", "SKILL_PANIC", "SKILL_UNKNOWN", "SKILL_INPUT_INVALID", "TEMPLATE_UNRESOLVED",
        "CONDITION_ERROR", "SECRET_NOT_FOUND", "SECRET_UNRESOLVED", "SECRET_BACKEND_ERROR", "BUDGET_COST_EXCEEDED",
        "BUDGET_DURATION_EXCEEDED", "RUN_CANCELLED", "HTTP_BLOCKED_ADDRESS", "HTTP_INVALID_URL", "HTTP_DNS_ERROR",
        "HTTP_TIMEOUT", "HTTP_TLS_ERROR", "HTTP_CONNECT_ERROR", "HTTP_BODY_TOO_LARGE", "HTTP_TOO_MANY_REDIRECTS",
        "HTTP_CLIENT_UNAVAILABLE", "JQ_COMPILE_ERROR", "JQ_RUNTIME_ERROR", "JQ_LIMIT_EXCEEDED",
    ];
    for code in codes {
        let r = m.classify(&aos_failures::FailureInput::message("").with_code(code));
        assert!(r.matched, "{code} is not in the catalog");
    }
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
}
