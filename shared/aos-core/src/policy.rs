//! Recovery policies: approved recoveries applied to plans at submission. A policy says "steps of
//! skill S (calling host H) that fail with code C recover better with this step change"; a plan is
//! compiled with the policies that apply to its steps, within its budget, and the run records
//! exactly what was changed (`AppliedPolicy`, with the values it replaced), so replay stays
//! deterministic and a person can see why a run differs from its plan. Pure: no I/O.

use crate::evidence::ActionKind;
use crate::plan::{Plan, Step};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How a plan takes the tenant's recovery policies.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyMode {
    /// Policies fill in what the plan leaves unset (the default).
    #[default]
    On,
    /// No policy touches this plan.
    Off,
    /// Policies replace the plan's own settings too.
    Override,
}

impl PolicyMode {
    pub fn is_default(&self) -> bool {
        *self == PolicyMode::On
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    /// Applied to runs.
    Active,
    /// Not applied; runs record what it would have changed (automatic approval in `shadow` mode).
    Shadow,
    /// Turned off by a person.
    Disabled,
    /// Turned off by the regression guard: its success rate fell below its approval-time lower bound.
    Suspended,
}

/// One policy as the compiler needs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PolicyRule {
    pub id: String,
    pub skill: String,
    /// The failure it was learned from (catalog code or `sig:<signature>`).
    pub code: String,
    /// For `http_call`: the host the step calls; `null`: any.
    #[schema(required = true)]
    pub target: Option<String>,
    pub action: ActionKind,
    /// Step fields (`retry`, `timeout_ms`, `on_error`) it sets.
    #[schema(value_type = Object)]
    pub patch: Value,
    /// The lower confidence bound it was approved at: ties between policies go to the higher.
    pub approved_lower: f64,
}

/// What a policy changed (or, in shadow, would have changed) in one step of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AppliedPolicy {
    pub policy_id: String,
    /// The failure the policy was learned from: its outcomes are counted on steps that hit it.
    #[serde(default)]
    pub code: String,
    pub step_id: String,
    /// The step fields set, with their new values.
    #[schema(value_type = Object)]
    pub patch: Value,
    /// The same fields' values in the submitted plan (`null`: unset).
    #[schema(value_type = Object)]
    pub replaced: Value,
}

const FIELDS: [&str; 3] = ["retry", "timeout_ms", "on_error"];

/// The host of a step's literal `url` (no template in it), for target matching.
pub fn step_host(step: &Step) -> Option<String> {
    let url = step.input.get("url")?.as_str()?;
    if url.contains("{{") {
        return None;
    }
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if host.starts_with('[') { host.split(']').next().map(|h| format!("{h}]")) } else { Some(host.split(':').next()?.to_string()) };
    host.map(|h| h.to_ascii_lowercase()).filter(|h| !h.is_empty())
}

fn applies(rule: &PolicyRule, step: &Step, known: &BTreeMap<String, Vec<String>>) -> bool {
    rule.skill == step.skill
        && rule.target.as_ref().is_none_or(|t| step_host(step).as_deref() == Some(t.as_str()))
        && known.get(&step.id).is_some_and(|codes| codes.contains(&rule.code))
}

/// Whether a step with these fields still fits the plan's duration budget: every attempt may take
/// its whole timeout, plus the retry delays at their cap.
fn fits_budget(plan: &Plan, step: &Value, default_timeout: u64) -> bool {
    let Some(max) = plan.budget.max_duration_ms else { return true };
    let timeout = step.get("timeout_ms").and_then(Value::as_u64).unwrap_or(default_timeout);
    let retry = step.get("retry");
    let attempts = retry.and_then(|r| r.get("max_attempts")).and_then(Value::as_u64).unwrap_or(3);
    let max_delay = retry.and_then(|r| r.get("max_delay_ms")).and_then(Value::as_u64).unwrap_or(10_000);
    attempts.saturating_mul(timeout).saturating_add(attempts.saturating_sub(1).saturating_mul(max_delay)) <= max
}

/// Compiles `plan` with `rules` (the tenant's policies in force): for each step, the policies of
/// its skill (and host, when a policy names one) for the failures the step is known to have met
/// (`known`: step id → failure codes, from earlier runs of the plan), best approved first, each setting the fields of
/// its patch that the plan leaves unset (every field under [`PolicyMode::Override`]) and no earlier
/// policy set, as long as the step still fits the plan's duration budget. Returns the compiled
/// plan and what was changed. `default_timeout` gives a skill's default per-attempt timeout.
pub fn compile(
    plan: &Plan,
    rules: &[PolicyRule],
    known: &BTreeMap<String, Vec<String>>,
    default_timeout: &dyn Fn(&str) -> u64,
) -> (Plan, Vec<AppliedPolicy>) {
    if plan.policies == PolicyMode::Off || rules.is_empty() {
        return (plan.clone(), Vec::new());
    }
    let mut ordered: Vec<&PolicyRule> = rules.iter().collect();
    ordered.sort_by(|a, b| b.approved_lower.total_cmp(&a.approved_lower).then_with(|| a.id.cmp(&b.id)));
    let mut out = plan.clone();
    let mut applied = Vec::new();
    for step in &mut out.steps {
        let submitted = serde_json::to_value(&*step).unwrap_or(Value::Null);
        let mut current = submitted.clone();
        let mut taken: Vec<&str> = Vec::new();
        for rule in ordered.iter().filter(|r| applies(r, step, known)) {
            let Some(patch) = rule.patch.as_object() else { continue };
            let mut set = Map::new();
            let mut replaced = Map::new();
            for (field, value) in patch {
                let field = field.as_str();
                if !FIELDS.contains(&field) || taken.contains(&field) {
                    continue;
                }
                let present = submitted.get(field).is_some_and(|v| !v.is_null());
                if present && plan.policies != PolicyMode::Override {
                    continue;
                }
                let mut candidate = current.clone();
                candidate[field] = value.clone();
                if !fits_budget(plan, &candidate, default_timeout(&step.skill)) {
                    continue;
                }
                current = candidate;
                set.insert(field.to_string(), value.clone());
                replaced.insert(field.to_string(), submitted.get(field).cloned().unwrap_or(Value::Null));
            }
            if set.is_empty() {
                continue;
            }
            taken.extend(set.keys().filter_map(|k| FIELDS.iter().copied().find(|f| f == k)));
            applied.push(AppliedPolicy {
                policy_id: rule.id.clone(),
                code: rule.code.clone(),
                step_id: step.id.clone(),
                patch: Value::Object(set),
                replaced: Value::Object(replaced),
            });
        }
        if current != submitted {
            match serde_json::from_value::<Step>(current) {
                Ok(patched) => *step = patched,
                // A patch the step type refuses is dropped with the rest of this step's changes.
                Err(_) => applied.retain(|a| a.step_id != step.id),
            }
        }
    }
    (out, applied)
}

/// The plan as submitted: `compiled` with every applied change reverted.
pub fn submitted_plan(compiled: &Plan, applied: &[AppliedPolicy]) -> Plan {
    if applied.is_empty() {
        return compiled.clone();
    }
    let mut plan = compiled.clone();
    for step in &mut plan.steps {
        let mut doc = serde_json::to_value(&*step).unwrap_or(Value::Null);
        let mut changed = false;
        for a in applied.iter().filter(|a| a.step_id == step.id) {
            for (field, old) in a.replaced.as_object().into_iter().flatten() {
                match (old, doc.as_object_mut()) {
                    (Value::Null, Some(map)) => {
                        map.remove(field);
                    }
                    (old, _) => doc[field] = old.clone(),
                }
                changed = true;
            }
        }
        if changed {
            if let Ok(original) = serde_json::from_value::<Step>(doc) {
                *step = original;
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(v: Value) -> Plan {
        serde_json::from_value(v).unwrap()
    }

    fn rule(id: &str, skill: &str, patch: Value, lower: f64) -> PolicyRule {
        PolicyRule {
            id: id.into(),
            skill: skill.into(),
            code: "C".into(),
            target: None,
            action: ActionKind::Retry,
            patch,
            approved_lower: lower,
        }
    }

    const T: &dyn Fn(&str) -> u64 = &|_| 30_000;

    /// Every step of `p` known to have failed with `C`.
    fn met(p: &Plan) -> BTreeMap<String, Vec<String>> {
        p.steps.iter().map(|s| (s.id.clone(), vec!["C".to_string()])).collect()
    }

    #[test]
    fn policies_fill_what_the_plan_leaves_unset_and_revert_exactly() {
        let p = plan(json!({"name": "p", "steps": [
            {"id": "a", "skill": "http_call", "input": {"url": "https://api.example.com/x"}},
            {"id": "b", "skill": "http_call", "input": {"url": "https://other.example.com/"}, "retry": {"max_attempts": 1}},
            {"id": "c", "skill": "json_transform", "input": {"data": 1, "expr": "."}}
        ]}));
        let rules = [
            rule("pol_r", "http_call", json!({"retry": {"max_attempts": 4, "initial_delay_ms": 200}}), 0.7),
            rule("pol_t", "http_call", json!({"timeout_ms": 60000}), 0.65),
        ];
        let (compiled, applied) = compile(&p, &rules, &met(&p), T);
        assert_eq!(compiled.steps[0].retry.as_ref().map(|r| r.max_attempts), Some(4));
        assert_eq!(compiled.steps[0].timeout_ms, Some(60000));
        assert_eq!(compiled.steps[1].retry.as_ref().map(|r| r.max_attempts), Some(1), "the plan's own setting wins");
        assert_eq!(compiled.steps[1].timeout_ms, Some(60000));
        assert_eq!(compiled.steps[2], p.steps[2], "another skill is untouched");
        assert_eq!(applied.len(), 3);
        assert_eq!(applied[0].replaced, json!({"retry": null}));
        assert_eq!(submitted_plan(&compiled, &applied), p, "reverting gives the submitted plan");
    }

    #[test]
    fn opting_out_overriding_targets_budgets_and_ties() {
        let base = json!({"name": "p", "steps": [
            {"id": "a", "skill": "http_call", "input": {"url": "https://api.example.com/x"}, "retry": {"max_attempts": 1}}]});
        let r = [rule("pol_r", "http_call", json!({"retry": {"max_attempts": 4}}), 0.7)];
        let mut off = base.clone();
        off["policies"] = json!("off");
        let off = plan(off);
        assert!(compile(&off, &r, &met(&off), T).1.is_empty(), "policies: off");
        assert!(compile(&plan(base.clone()), &r, &BTreeMap::new(), T).1.is_empty(), "a step that never met the failure");
        let mut over = base.clone();
        over["policies"] = json!("override");
        let over = plan(over);
        let (c, a) = compile(&over, &r, &met(&over), T);
        assert_eq!(
            (c.steps[0].retry.as_ref().map(|r| r.max_attempts), a[0].replaced.clone()),
            (Some(4), json!({"retry": {"max_attempts": 1, "initial_delay_ms": 200, "max_delay_ms": 10000, "multiplier": 2.0}}))
        );
        let mut targeted = r[0].clone();
        targeted.target = Some("other.example.com".into());
        let mut over = base.clone();
        over["policies"] = json!("override");
        let over = plan(over);
        assert!(compile(&over, &[targeted.clone()], &met(&over), T).1.is_empty(), "another host");
        targeted.target = Some("api.example.com".into());
        assert_eq!(compile(&over, &[targeted], &met(&over), T).1.len(), 1, "its host");
        // A budget of 10 s cannot hold four attempts of 30 s.
        let tight = plan(
            json!({"name": "p", "budget": {"max_duration_ms": 10000}, "steps": [{"id": "a", "skill": "http_call", "input": {"url": "https://x/"}}]}),
        );
        assert!(compile(&tight, &r, &met(&tight), T).1.is_empty(), "outside the budget");
        // Two policies for one field: the better approved wins.
        let p = plan(json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "input": {"url": "https://x/"}}]}));
        let rules = [
            rule("pol_low", "http_call", json!({"timeout_ms": 45000}), 0.6),
            rule("pol_high", "http_call", json!({"timeout_ms": 60000}), 0.9),
        ];
        let (c, a) = compile(&p, &rules, &met(&p), T);
        assert_eq!((c.steps[0].timeout_ms, a.len(), a[0].policy_id.as_str()), (Some(60000), 1, "pol_high"));
    }

    #[test]
    fn hosts_are_read_from_literal_urls_only() {
        let step = |url: &str| -> Step { serde_json::from_value(json!({"id": "a", "skill": "http_call", "input": {"url": url}})).unwrap() };
        assert_eq!(step_host(&step("https://User:pw@API.example.com:8443/x?q")), Some("api.example.com".into()));
        assert_eq!(step_host(&step("http://[::1]:80/")), Some("[::1]".into()));
        assert_eq!(step_host(&step("{{ inputs.url }}")), None);
        assert_eq!(step_host(&step("not a url")), None);
    }
}
