//! What a viewer sees of a run: the execution context with sensitive fields and anything derived
//! from secrets redacted. Roles with `runs:read_raw` see it whole.
//!
//! Redacted: the value of every field whose name says it holds a credential (`authorization`,
//! `cookie`, `password`, `secret`, `token`, `api_key`, `private_key`, `credential`, ... in any
//! case, with or without `-`/`_`), wherever it occurs (run inputs, plan, attempt inputs and
//! outputs); and the whole input and output of every step that reads a secret or the output of
//! such a step (transitively), since any part of them may carry the secret or what it unlocked.

use crate::service::RunView;
use aos_core::outcome::Outcome;
use aos_core::plan::Plan;
use aos_core::template::{references, Ref};
use serde_json::Value;
use std::collections::BTreeSet;

pub const REDACTED: &str = "[redacted]";
pub const REDACTED_DERIVED: &str = "[redacted: derived from a secret]";

const SENSITIVE: &[&str] = &["authorization", "cookie", "password", "passwd", "secret", "token", "apikey", "privatekey", "accesskey", "credential", "signature", "sessionid"];

/// Whether a field name says its value is a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    let norm: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    SENSITIVE.iter().any(|s| norm.contains(s))
}

/// Replaces the values of sensitive-named fields anywhere in `value`.
pub fn redact_sensitive_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_sensitive_name(k) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_sensitive_fields(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_sensitive_fields),
        _ => {}
    }
}

/// Steps whose input reads a secret, directly or through another such step's output.
pub fn secret_derived_steps(plan: &Plan) -> BTreeSet<String> {
    let refs: Vec<(String, Vec<Ref>)> = plan
        .steps
        .iter()
        .map(|s| {
            let whole = serde_json::to_value(s).unwrap_or(Value::Null);
            (s.id.clone(), references(&whole, "").into_iter().filter_map(|(_, r)| r.ok()).collect())
        })
        .collect();
    let mut tainted = BTreeSet::new();
    loop {
        let before = tainted.len();
        for (id, rs) in &refs {
            if rs.iter().any(|r| match r {
                Ref::Secret(_) => true,
                Ref::StepOutput { step, .. } => tainted.contains(step),
                Ref::Input(_) => false,
            }) {
                tainted.insert(id.clone());
            }
        }
        if tainted.len() == before {
            return tainted;
        }
    }
}

/// The viewer's copy of a run's execution context.
pub fn for_viewer(view: &mut RunView) {
    let tainted = secret_derived_steps(&view.run.plan);
    redact_sensitive_fields(&mut view.run.inputs);
    for step in &mut view.run.plan.steps {
        redact_sensitive_fields(&mut step.input);
    }
    for step in &mut view.step_details {
        let derived = tainted.contains(&step.step_id);
        if let Some(out) = step.output.as_mut() {
            if derived {
                *out = Value::String(REDACTED_DERIVED.into());
            } else {
                redact_sensitive_fields(out);
            }
        }
        for attempt in &mut step.attempts {
            if derived {
                attempt.input = Value::String(REDACTED_DERIVED.into());
            } else {
                redact_sensitive_fields(&mut attempt.input);
            }
            if let Outcome::Ok { output, .. } = &mut attempt.outcome {
                if derived {
                    *output = Value::String(REDACTED_DERIVED.into());
                } else {
                    redact_sensitive_fields(output);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credential_names_are_recognised_in_any_spelling() {
        for n in ["Authorization", "x-api-key", "API_KEY", "client_secret", "access_token", "Set-Cookie", "db_password", "privateKey", "aws_access_key_id"] {
            assert!(is_sensitive_name(n), "{n}");
        }
        for n in ["url", "method", "body", "symbol", "price", "headers", "data"] {
            assert!(!is_sensitive_name(n), "{n}");
        }
        let mut v = json!({"headers": {"Authorization": "Bearer x", "accept": "json"}, "items": [{"token": "t"}], "n": 1});
        redact_sensitive_fields(&mut v);
        assert_eq!(v, json!({"headers": {"Authorization": REDACTED, "accept": "json"}, "items": [{"token": REDACTED}], "n": 1}));
    }

    #[test]
    fn taint_follows_secrets_through_step_outputs() {
        let plan: Plan = serde_json::from_value(json!({"name": "p", "steps": [
            {"id": "a", "skill": "http_call", "input": {"url": "https://x", "headers": {"x": "{{ secrets.KEY }}"}}},
            {"id": "b", "skill": "json_transform", "input": {"data": "{{ steps.a.output.body }}", "expr": "."}, "depends_on": ["a"]},
            {"id": "c", "skill": "json_transform", "input": {"data": "{{ inputs.x }}", "expr": "."}}
        ]}))
        .unwrap();
        assert_eq!(secret_derived_steps(&plan), BTreeSet::from(["a".to_string(), "b".to_string()]));
    }
}
