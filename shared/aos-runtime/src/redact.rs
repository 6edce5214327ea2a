//! Redaction, in one vocabulary: whatever is hidden becomes [`REDACTED`] (`[REDACTED]`), whether
//! it is a secret value a skill echoed ([`crate::secret_mask`]), credential-looking text in a
//! failure message ([`redact_credentials`]), or what a viewer may not see of a run ([`for_viewer`])
//! or of its failures ([`failures_for_viewer`]). Roles with `runs:read_raw` see runs and failures
//! whole.
//!
//! A viewer does not see: the value of every field whose name says it holds a credential
//! ([`CREDENTIAL_WORDS`] in any case, with or without `-`/`_`), wherever it occurs (run inputs,
//! plan, attempt inputs and outputs); the whole input and output of every step that reads a
//! secret or the output of such a step (transitively, [`secret_derived_steps`]), since any part of
//! them may carry the secret or what it unlocked; and for the same steps, the message of every
//! failure recorded for them.

use crate::failures::record::FailureRecord;
use crate::runs::RunRepo;
use crate::service::RunView;
use aos_core::outcome::Outcome;
use aos_core::plan::Plan;
use aos_core::template::{references, Ref};
use aos_core::DomainError;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// What every redacted value or text becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Words that mark a credential: in a field name anywhere in it, ignoring case and separators
/// (`X-Api-Key`, `client_secret`, `privateKey`); in text, followed by `:` or `=` (`token=...`).
pub const CREDENTIAL_WORDS: &[&str] = &[
    "authorization",
    "cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "private_key",
    "access_key",
    "credential",
    "signature",
    "session_id",
];

/// Short forms recognised in text only (`pwd=...`, `auth: ...`): inside a field name they would
/// match ordinary words (`author`).
const TEXT_ONLY_WORDS: &[&str] = &["pwd", "auth"];

/// Whether a field name says its value is a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    let words = WORDS.get_or_init(|| CREDENTIAL_WORDS.iter().map(|w| w.replace('_', "")).collect());
    let norm: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    words.iter().any(|w| norm.contains(w.as_str()))
}

/// `text` with credential-looking parts replaced by [`REDACTED`]: bearer and basic credentials,
/// `word=value` and `word: value` for the credential words, AOS API keys and AWS access key ids.
/// A second line of defence behind the worker, which masks the values of the secrets a step used
/// before anything is recorded.
pub fn redact_credentials(text: &str) -> String {
    static RULES: OnceLock<Vec<(regex::Regex, String)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let words: Vec<String> = CREDENTIAL_WORDS.iter().chain(TEXT_ONLY_WORDS).map(|w| w.replace('_', "[_-]?")).collect();
        [
            (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}".to_string(), format!("$1 {REDACTED}")),
            (format!(r#"(?i)\b({})(["']?\s*[:=]\s*["']?)[^\s"',;&]+"#, words.join("|")), format!("$1$2{REDACTED}")),
            (r"\baos_[A-Za-z0-9]+_[A-Za-z0-9]{16,}\b".to_string(), REDACTED.to_string()),
            (r"\b(AKIA|ASIA)[0-9A-Z]{16}\b".to_string(), REDACTED.to_string()),
        ]
        .into_iter()
        .map(|(re, with)| (regex::Regex::new(&re).expect("static redaction pattern"), with))
        .collect()
    });
    let mut out = std::borrow::Cow::Borrowed(text);
    for (re, with) in rules {
        if re.is_match(&out) {
            out = std::borrow::Cow::Owned(re.replace_all(&out, with.as_str()).into_owned());
        }
    }
    out.into_owned()
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
                *out = Value::String(REDACTED.into());
            } else {
                redact_sensitive_fields(out);
            }
        }
        for attempt in &mut step.attempts {
            if derived {
                attempt.input = Value::String(REDACTED.into());
            } else {
                redact_sensitive_fields(&mut attempt.input);
            }
            if let Outcome::Ok { output, .. } = &mut attempt.outcome {
                if derived {
                    *output = Value::String(REDACTED.into());
                } else {
                    redact_sensitive_fields(output);
                }
            }
        }
    }
}

/// The viewer's copy of failure records: the message of every failure of a secret-derived step
/// ([`secret_derived_steps`] of its run's plan) becomes [`REDACTED`], as that step's input and
/// output do in [`for_viewer`]; so does a run's failure caused by such a step. Reads each run
/// the records name once; a record whose run cannot be found is redacted.
pub async fn failures_for_viewer(runs: &RunRepo, tenant: &str, records: &mut [FailureRecord]) -> Result<(), DomainError> {
    let mut tainted: HashMap<String, Option<BTreeSet<String>>> = HashMap::new();
    for r in records.iter() {
        if let (Some(run_id), Some(_)) = (&r.run_id, &r.step_id) {
            if !tainted.contains_key(run_id) {
                let steps = runs.get(tenant, run_id).await?.map(|(run, _)| secret_derived_steps(&run.plan));
                tainted.insert(run_id.clone(), steps);
            }
        }
    }
    redact_failures(records, |run_id, step_id| tainted.get(run_id).is_none_or(|steps| steps.as_ref().is_none_or(|s| s.contains(step_id))));
    Ok(())
}

/// Redacts the message of every record of a step for which `derived(run_id, step_id)` holds.
/// Records without a step (budget, cancellation, rejected submissions) describe no step's data.
fn redact_failures(records: &mut [FailureRecord], derived: impl Fn(&str, &str) -> bool) {
    for r in records {
        if let (Some(run_id), Some(step_id)) = (&r.run_id, &r.step_id) {
            if derived(run_id, step_id) {
                r.message = REDACTED.to_string();
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
        for n in [
            "Authorization",
            "x-api-key",
            "API_KEY",
            "client_secret",
            "access_token",
            "Set-Cookie",
            "db_password",
            "privateKey",
            "aws_access_key_id",
        ] {
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

    #[test]
    fn every_redaction_uses_one_placeholder() {
        let mask = crate::secret_mask::SecretMask::new(["s3cr3t-value"]);
        assert_eq!(mask.mask_str("echo s3cr3t-value").as_deref(), Some("echo [REDACTED]"));
        assert_eq!(
            redact_credentials("401: token=abc123 cookie: sid=9 session-id=77"),
            "401: token=[REDACTED] cookie: [REDACTED] session-id=[REDACTED]"
        );
        assert_eq!(redact_credentials("pwd=hunter2, auth: xyz"), "pwd=[REDACTED], auth: [REDACTED]");
        let mut v = json!({"password": "p"});
        redact_sensitive_fields(&mut v);
        assert_eq!(v["password"], REDACTED);
        assert!(!is_sensitive_name("author"), "text-only short forms stay out of field names");
        assert_eq!(REDACTED, "[REDACTED]");
    }

    #[tokio::test]
    async fn viewers_do_not_see_the_failures_of_secret_derived_steps() {
        use crate::failures::record::Subject;
        use aos_core::failure::{FailureKind, FailureMatch};
        use aos_core::outcome::{Category, StepError};
        use aos_core::run::Run;
        let dir = tempfile::tempdir().unwrap();
        let db = aos_store::EmbeddedDb::open(&dir.path().join("aos.db"), aos_store::Durability::Relaxed).unwrap();
        let runs = RunRepo::new(std::sync::Arc::new(aos_store::EmbeddedStore::new(db)));
        let mut run: Run = serde_json::from_value(json!({"run_id": "r1", "seed": 1, "status": "failed", "created_at_ms": 0, "steps": {}, "cost_usd": 0.0, "inputs": {},
            "plan": {"name": "p", "steps": [
                {"id": "fetch", "skill": "http_call", "input": {"url": "https://x", "headers": {"authorization": "Bearer {{ secrets.KEY }}"}}},
                {"id": "parse", "skill": "json_transform", "depends_on": ["fetch"], "input": {"data": "{{ steps.fetch.output.body }}", "expr": ".x"}},
                {"id": "plain", "skill": "json_transform", "input": {"data": 1, "expr": "."}}
            ]}}))
        .unwrap();
        run.tenant = "t".into();
        runs.create(&run).await.unwrap();
        let error = StepError::new("HTTP_401", Category::Auth, false, "GET https://x answered 401: invalid key sk-live-123");
        let record = |kind, run_id: Option<&str>, step_id: Option<&str>| {
            let s = Subject {
                kind,
                tenant: "t",
                subject: run_id.unwrap_or("rej_1"),
                run_id,
                step_id,
                attempt: 1,
                skill: Some("http_call"),
                at_ms: 1,
            };
            crate::failures::record::FailureRecord::new(&s, &error, &FailureMatch::unmatched("0000000000000000"), 30)
        };
        let mut records = vec![
            record(FailureKind::Attempt, Some("r1"), Some("fetch")),
            record(FailureKind::Attempt, Some("r1"), Some("parse")),
            record(FailureKind::Run, Some("r1"), Some("fetch")),
            record(FailureKind::Attempt, Some("r1"), Some("plain")),
            record(FailureKind::Run, Some("r1"), None),
            record(FailureKind::Rejected, None, Some("fetch")),
            record(FailureKind::Attempt, Some("gone"), Some("plain")),
        ];
        failures_for_viewer(&runs, "t", &mut records).await.unwrap();
        let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
        let shown = error.message.as_str();
        assert_eq!(messages, [REDACTED, REDACTED, REDACTED, shown, shown, shown, REDACTED]);
        assert!(records.iter().all(|r| r.code == "HTTP_401"), "codes and classifications stay");
    }
}
