//! Plan validation: limits checked before any other work, secrets only in the fields a skill
//! designates, bounded numbers, and time linear in the plan's size.

use aos_core::plan::Plan;
use aos_core::skill::{CostModel, Determinism, SideEffects, Skill, SkillContext, SkillOutput, SkillRegistry, SkillSpec};
use aos_core::validate::{validate_plan, ValidationContext, MAX_STEPS};
use aos_core::{FieldError, StepError};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fake(SkillSpec);

#[async_trait::async_trait]
impl Skill for Fake {
    fn spec(&self) -> &SkillSpec {
        &self.0
    }
    async fn execute(&self, _: &SkillContext, _: Value) -> Result<SkillOutput, StepError> {
        unreachable!("validation never runs a skill")
    }
}

fn skill(id: &str, secret_fields: &[&str]) -> Arc<dyn Skill> {
    Arc::new(Fake(SkillSpec {
        id: id.into(),
        version: "1".into(),
        description: String::new(),
        input_schema: json!({"type": "object"}),
        output_schema: json!({}),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0, latency_ms_p50: 1, latency_ms_p95: 1 },
        default_timeout_ms: 1000,
        failure_modes: vec![],
        secret_fields: secret_fields.iter().map(|s| s.to_string()).collect(),
    }))
}

fn registry() -> SkillRegistry {
    let mut r = SkillRegistry::new();
    r.register(skill("send", &["/headers", "/url"]));
    r.register(skill("transform", &[]));
    r
}

fn validate(plan: Value) -> Result<(), Vec<FieldError>> {
    let plan: Plan = serde_json::from_value(plan).unwrap();
    let names: HashSet<String> = ["TOKEN".to_string()].into();
    let registry = registry();
    let cx = ValidationContext { skills: &registry, secret_names: &names, check_jq: &|_| Ok(()) };
    validate_plan(&plan, &cx)
}

fn codes(r: Result<(), Vec<FieldError>>) -> Vec<(String, Option<String>)> {
    r.err().unwrap_or_default().into_iter().map(|e| (e.code, e.field)).collect()
}

fn chain(n: usize, with_refs: bool) -> Value {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let mut s = json!({"id": format!("s{i}"), "skill": "send", "input": {"url": "https://x"}});
            if i > 0 {
                s["depends_on"] = json!([format!("s{}", i - 1)]);
                if with_refs {
                    s["input"]["body"] = json!(format!("{{{{ steps.s0.output.x }}}} {{{{ steps.s{}.output }}}}", i - 1));
                }
            }
            s
        })
        .collect();
    json!({"name": "chain", "steps": steps})
}

#[test]
fn secrets_are_allowed_only_where_the_skill_designates_them() {
    let ok = json!({"name": "p", "steps": [{"id": "a", "skill": "send", "input": {"url": "https://x?k={{ secrets.TOKEN }}", "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"}}}]});
    assert_eq!(validate(ok), Ok(()));
    let bad = json!({"name": "p", "steps": [
        {"id": "a", "skill": "transform", "input": {"data": "{{ secrets.TOKEN }}", "expr": "."}},
        {"id": "b", "skill": "send", "input": {"url": "https://x", "body": {"k": "{{secrets.TOKEN}}"}}},
        {"id": "c", "skill": "send", "input": {"url": "https://x"}, "on_error": {"action": "fallback", "skill": "transform", "input": {"x": ["{{ secrets.TOKEN }}"]}}}
    ]});
    assert_eq!(
        codes(validate(bad)),
        vec![
            ("PLAN_SECRET_NOT_ALLOWED".to_string(), Some("steps[0].input.data".to_string())),
            ("PLAN_SECRET_NOT_ALLOWED".to_string(), Some("steps[1].input.body.k".to_string())),
            ("PLAN_SECRET_NOT_ALLOWED".to_string(), Some("steps[2].on_error.input.x.0".to_string())),
        ]
    );
}

#[test]
fn an_oversized_plan_is_refused_before_any_other_check() {
    let started = Instant::now();
    let r = validate(chain(3_200, true));
    assert_eq!(codes(r), vec![("PLAN_TOO_LARGE".to_string(), Some("steps".to_string()))], "only the size, nothing else");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn numbers_and_lengths_are_bounded() {
    let r = validate(
        json!({"name": "p", "budget": {"max_duration_ms": u64::MAX}, "steps": [{"id": "a", "skill": "send", "input": {"url": "u"}}]}),
    );
    assert_eq!(codes(r), vec![("PLAN_INVALID_BUDGET".to_string(), Some("budget.max_duration_ms".to_string()))]);
    let r = validate(
        json!({"name": "p", "budget": {"max_duration_ms": i64::MAX}, "steps": [{"id": "a", "skill": "send", "input": {"url": "u"}}]}),
    );
    assert_eq!(codes(r).len(), 1);
    let long = "x".repeat(10_000);
    let r = validate(json!({"name": long, "steps": [{"id": long, "skill": long, "condition": long, "input": {}}]}));
    let found = codes(r);
    assert!(found.contains(&("PLAN_INVALID".to_string(), Some("name".to_string()))), "{found:?}");
    assert!(found.contains(&("PLAN_INVALID_STEP_ID".to_string(), Some("steps[0].id".to_string()))), "{found:?}");
    let r = validate(json!({"name": "p", "steps": [{"id": "a", "skill": "send", "condition": long, "input": {}}]}));
    assert_eq!(codes(r), vec![("PLAN_INVALID_CONDITION".to_string(), Some("steps[0].condition".to_string()))]);
}

/// This thread's CPU time: unlike wall time, it does not grow when other processes load the machine.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Validation time grows linearly with the plan: chains with references to an early step and to
/// the previous one (the shape that made validation cubic), at 50 and 200 steps. Quadratic growth
/// would make the larger 16 times slower, cubic 64 times; the bound allows 4 times plus noise.
/// Measured in thread CPU time (the minimum of 7 rounds), so a loaded machine does not skew it.
#[test]
fn validation_time_is_linear_in_the_step_count() {
    let time = |n: usize| {
        let plan: Plan = serde_json::from_value(chain(n, true)).unwrap();
        let registry = registry();
        let names = HashSet::new();
        let cx = ValidationContext { skills: &registry, secret_names: &names, check_jq: &|_| Ok(()) };
        assert_eq!(validate_plan(&plan, &cx), Ok(()));
        (0..7)
            .map(|_| {
                let t = thread_cpu_time();
                for _ in 0..20 {
                    validate_plan(&plan, &cx).unwrap();
                }
                thread_cpu_time() - t
            })
            .min()
            .unwrap()
    };
    let small = time(MAX_STEPS / 4);
    let large = time(MAX_STEPS);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(ratio < 8.0, "validation of 4x the steps took {ratio:.1}x the time ({small:?} vs {large:?})");
}

/// json_transform's `expr` is compiled at validation when literal (not a reference), in a step and in
/// a fallback, and a failure names the field; conditions go through the same check.
#[test]
fn literal_jq_programs_are_compiled_and_named_by_field() {
    let mut registry = registry();
    registry.register(skill("json_transform", &[]));
    let plan: Plan = serde_json::from_value(json!({"name": "p", "steps": [
        {"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ".["}},
        {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "{{ inputs.program }}"}},
        {"id": "c", "skill": "send", "input": {"expr": ".["},
         "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": ".["}}},
        {"id": "d", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}, "condition": "true"}
    ]}))
    .unwrap();
    assert_eq!(aos_core::validate::jq_programs(&plan), vec![".[", ".[", "true", ". + 1"]);
    let names = HashSet::new();
    let check = |e: &str| if e == ".[" { Err("unexpected end of input".to_string()) } else { Ok(()) };
    let r = validate_plan(&plan, &ValidationContext { skills: &registry, secret_names: &names, check_jq: &check });
    let errs = r.unwrap_err();
    let found: Vec<(String, Option<String>)> = errs.iter().map(|e| (e.code.clone(), e.field.clone())).collect();
    assert_eq!(
        found,
        vec![
            ("PLAN_INVALID_EXPR".to_string(), Some("steps[0].input.expr".to_string())),
            ("PLAN_INVALID_EXPR".to_string(), Some("steps[2].on_error.input.expr".to_string())),
        ]
    );
    assert!(errs[0].message.contains("does not compile: unexpected end of input"), "{}", errs[0].message);
}

/// `$schema` (for editors) is read and dropped: the plan is the same plan, stored and hashed alike.
#[test]
fn the_schema_key_is_accepted_and_dropped() {
    let with: Plan =
        serde_json::from_value(json!({"$schema": "../docs/plan.schema.json", "name": "p", "steps": [{"id": "a", "skill": "send"}]}))
            .unwrap();
    let without: Plan = serde_json::from_value(json!({"name": "p", "steps": [{"id": "a", "skill": "send"}]})).unwrap();
    assert_eq!(with, without);
    assert_eq!(serde_json::to_value(&with).unwrap(), serde_json::to_value(&without).unwrap());
    assert!(serde_json::to_value(&with).unwrap().get("$schema").is_none());
    assert!(serde_json::from_value::<Plan>(json!({"$schema": 5, "name": "p", "steps": []})).is_err());
    assert!(serde_json::from_value::<Plan>(json!({"$schema": "x".repeat(2049), "name": "p", "steps": []})).is_err());
    assert!(serde_json::from_value::<Plan>(json!({"$schemas": "x", "name": "p", "steps": []})).is_err());
    assert!(serde_json::from_value::<Plan>(json!({"$schema": null, "name": "p", "steps": []})).is_ok());
    // What docs/plan.schema.json says of on_error: a fallback takes no other fields (serde lets the
    // unit variants `abort` and `continue` carry any, so the schema leaves those open).
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "send", "on_error": {"action": "fallback", "skill": "s", "x": 1}}]});
    assert!(serde_json::from_value::<Plan>(plan).is_err());
}
