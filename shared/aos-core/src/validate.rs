//! Plan and input validation. Every problem is reported (not just the first), each with a
//! machine-readable code, the step id and the field path, for HTTP 422 responses.

use crate::dag::{ancestors, topo_order};
use crate::error::FieldError;
use crate::plan::{OnError, Plan};
use crate::skill::SkillRegistry;
use crate::template::{is_templated, references, secret_references, Ref};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

pub const MAX_STEPS: usize = 200;
pub const MAX_ATTEMPTS: u32 = 20;
pub const MAX_TIMEOUT_MS: u64 = 15 * 60 * 1000;
/// A run's duration budget at most: 30 days.
pub const MAX_DURATION_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Characters of a plan name, a step id, a skill id, a condition.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_STEP_ID_CHARS: usize = 100;
pub const MAX_SKILL_CHARS: usize = 100;
pub const MAX_CONDITION_CHARS: usize = 4096;

/// What validation needs to know beyond the plan.
pub struct ValidationContext<'a> {
    pub skills: &'a SkillRegistry,
    /// Secret names the tenant has.
    pub secret_names: &'a HashSet<String>,
    /// Checks a jq program compiles: a condition, or a literal jq input field ([`jq_programs`]).
    pub check_jq: &'a dyn Fn(&str) -> Result<(), String>,
}

/// The input fields of skills that hold a jq program. Compiled at validation when literal (not a
/// `{{ ... }}` reference), as conditions are, so a plan whose program cannot compile is refused at
/// submission (`PLAN_INVALID_EXPR`, naming the field) instead of failing when the step runs.
pub const JQ_INPUT_FIELDS: &[(&str, &str)] = &[("json_transform", "expr")];
/// Characters of a jq input field at most (json_transform's limit, which its input schema states).
pub const MAX_EXPR_CHARS: usize = 16_384;

/// The literal jq program of `input` at `field`, when it is one validation compiles.
fn literal_program<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input.get(field).and_then(Value::as_str).filter(|e| !e.trim().is_empty() && !is_templated(e) && e.chars().count() <= MAX_EXPR_CHARS)
}

/// Every jq program of a plan that validation compiles (through `check_jq`): the conditions within
/// their length limit, and the literal jq input fields of steps and fallbacks.
pub fn jq_programs(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for step in &plan.steps {
        if let Some(c) = step.condition.as_ref().filter(|c| c.chars().count() <= MAX_CONDITION_CHARS) {
            out.push(c.clone());
        }
        let fallback = match &step.on_error {
            OnError::Fallback { skill, input } => Some((skill.as_str(), input)),
            _ => None,
        };
        for (skill, input) in std::iter::once((step.skill.as_str(), &step.input)).chain(fallback) {
            for (_, field) in JQ_INPUT_FIELDS.iter().filter(|(s, _)| *s == skill) {
                out.extend(literal_program(input, field).map(str::to_string));
            }
        }
    }
    out
}

/// Compiles the literal jq input fields of one input (a step's or its fallback's).
fn check_jq_fields(step_id: &str, at: &str, skill: &str, input: &Value, cx: &ValidationContext, errs: &mut Vec<FieldError>) {
    for (_, field) in JQ_INPUT_FIELDS.iter().filter(|(s, _)| *s == skill) {
        if let Some(Err(e)) = literal_program(input, field).map(|expr| (cx.check_jq)(expr)) {
            errs.push(
                FieldError::new("PLAN_INVALID_EXPR", format!("jq program `{field}` of step `{step_id}` does not compile: {e}"))
                    .step(step_id)
                    .field(format!("{at}.{field}")),
            );
        }
    }
}

/// Validates a plan in time linear in its size: the step count is checked before anything else
/// (an oversized plan is refused without further work), steps are indexed once and the upstream
/// sets are computed once for the whole graph.
pub fn validate_plan(plan: &Plan, cx: &ValidationContext) -> Result<(), Vec<FieldError>> {
    if plan.steps.len() > MAX_STEPS {
        return Err(vec![FieldError::new(
            "PLAN_TOO_LARGE",
            format!("a plan has at most {MAX_STEPS} steps, this one has {}", plan.steps.len()),
        )
        .field("steps")]);
    }
    let mut errs = Vec::new();
    if plan.name.trim().is_empty() {
        errs.push(FieldError::new("PLAN_INVALID", "plan name must not be empty").field("name"));
    }
    if plan.name.chars().count() > MAX_NAME_CHARS {
        errs.push(FieldError::new("PLAN_INVALID", format!("plan name has more than {MAX_NAME_CHARS} characters")).field("name"));
    }
    if plan.steps.is_empty() {
        errs.push(FieldError::new("PLAN_INVALID", "a plan needs at least one step").field("steps"));
    }
    if let Some(schema) = &plan.input_schema {
        if let Err(e) = compiled_schema(schema) {
            errs.push(
                FieldError::new("PLAN_INVALID_SCHEMA", format!("input_schema is not a valid JSON Schema: {e}")).field("input_schema"),
            );
        }
    }
    check_budget(plan, &mut errs);

    let mut seen = HashSet::new();
    let index: HashMap<&str, usize> = plan.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let graph = Graph { index: &index, ancestors: ancestors(plan) };
    let declared_inputs: Option<HashSet<&str>> = plan
        .input_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().map(String::as_str).collect());
    for (i, step) in plan.steps.iter().enumerate() {
        let at = |f: &str| format!("steps[{i}].{f}");
        if step.id.len() > MAX_STEP_ID_CHARS {
            errs.push(
                FieldError::new(
                    "PLAN_INVALID_STEP_ID",
                    format!("step id `{}…` has more than {MAX_STEP_ID_CHARS} characters", clip(&step.id)),
                )
                .field(at("id")),
            );
            continue;
        }
        if step.id.is_empty() || !step.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            errs.push(
                FieldError::new("PLAN_INVALID_STEP_ID", format!("step id `{}` must be non-empty letters, digits, `_` or `-`", step.id))
                    .step(&step.id)
                    .field(at("id")),
            );
        }
        if step.skill.chars().count() > MAX_SKILL_CHARS {
            errs.push(
                FieldError::new("PLAN_UNKNOWN_SKILL", format!("skill `{}…` has more than {MAX_SKILL_CHARS} characters", clip(&step.skill)))
                    .step(&step.id)
                    .field(at("skill")),
            );
            continue;
        }
        if !seen.insert(step.id.as_str()) {
            errs.push(
                FieldError::new("PLAN_DUPLICATE_STEP", format!("step id `{}` is used twice", step.id)).step(&step.id).field(at("id")),
            );
        }
        for (j, dep) in step.depends_on.iter().enumerate() {
            if !index.contains_key(dep.as_str()) || dep == &step.id {
                errs.push(
                    FieldError::new(
                        "PLAN_UNKNOWN_DEPENDENCY",
                        format!("step `{}` depends on `{}`, which is not another step of this plan", step.id, clip(dep)),
                    )
                    .step(&step.id)
                    .field(at(&format!("depends_on[{j}]"))),
                );
            }
        }
        match cx.skills.get(&step.skill) {
            None => errs.push(
                FieldError::new("PLAN_UNKNOWN_SKILL", format!("step `{}` uses unknown skill `{}`", step.id, step.skill))
                    .step(&step.id)
                    .field(at("skill")),
            ),
            Some(skill) => {
                check_input_schema(&step.id, &at("input"), &skill.spec().input_schema, &step.input, &mut errs);
                check_secret_fields(&step.id, &at("input"), skill.spec(), &step.input, &mut errs);
                check_jq_fields(&step.id, &at("input"), &step.skill, &step.input, cx, &mut errs);
            }
        }
        if let OnError::Fallback { skill, input } = &step.on_error {
            match cx.skills.get(skill) {
                None => errs.push(
                    FieldError::new("PLAN_UNKNOWN_SKILL", format!("step `{}` falls back to unknown skill `{}`", step.id, clip(skill)))
                        .step(&step.id)
                        .field(at("on_error.skill")),
                ),
                Some(s) => {
                    check_input_schema(&step.id, &at("on_error.input"), &s.spec().input_schema, input, &mut errs);
                    check_secret_fields(&step.id, &at("on_error.input"), s.spec(), input, &mut errs);
                    check_jq_fields(&step.id, &at("on_error.input"), skill, input, cx, &mut errs);
                }
            }
        }
        if let Some(r) = &step.retry {
            if r.max_attempts == 0 || r.max_attempts > MAX_ATTEMPTS {
                errs.push(
                    FieldError::new("PLAN_INVALID_RETRY", format!("retry.max_attempts must be 1..={MAX_ATTEMPTS}"))
                        .step(&step.id)
                        .field(at("retry.max_attempts")),
                );
            }
            if r.initial_delay_ms > r.max_delay_ms {
                errs.push(
                    FieldError::new("PLAN_INVALID_RETRY", "retry.initial_delay_ms must not exceed retry.max_delay_ms")
                        .step(&step.id)
                        .field(at("retry.initial_delay_ms")),
                );
            }
            if !(1.0..=10.0).contains(&r.multiplier) {
                errs.push(
                    FieldError::new("PLAN_INVALID_RETRY", "retry.multiplier must be between 1 and 10")
                        .step(&step.id)
                        .field(at("retry.multiplier")),
                );
            }
            if r.max_delay_ms > crate::retry::MAX_DELAY_MS {
                errs.push(
                    FieldError::new("PLAN_INVALID_RETRY", format!("retry.max_delay_ms must be at most {}", crate::retry::MAX_DELAY_MS))
                        .step(&step.id)
                        .field(at("retry.max_delay_ms")),
                );
            }
        }
        if let Some(t) = step.timeout_ms {
            if t == 0 || t > MAX_TIMEOUT_MS {
                errs.push(
                    FieldError::new("PLAN_INVALID_TIMEOUT", format!("timeout_ms must be 1..={MAX_TIMEOUT_MS}"))
                        .step(&step.id)
                        .field(at("timeout_ms")),
                );
            }
        }
        if let Some(cond) = &step.condition {
            if cond.chars().count() > MAX_CONDITION_CHARS {
                errs.push(
                    FieldError::new("PLAN_INVALID_CONDITION", format!("condition has more than {MAX_CONDITION_CHARS} characters"))
                        .step(&step.id)
                        .field(at("condition")),
                );
            } else if let Err(e) = (cx.check_jq)(cond) {
                errs.push(
                    FieldError::new("PLAN_INVALID_CONDITION", format!("condition does not compile: {e}"))
                        .step(&step.id)
                        .field(at("condition")),
                );
            }
        }
        check_references(plan, i, &graph, declared_inputs.as_ref(), cx, &mut errs);
    }
    if let Err(cycle) = topo_order(plan) {
        errs.push(
            FieldError::new("PLAN_CYCLE", format!("steps {} depend on each other in a cycle", cycle.join(", ")))
                .step(&cycle[0])
                .field("steps"),
        );
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

fn check_budget(plan: &Plan, errs: &mut Vec<FieldError>) {
    if let Some(c) = plan.budget.max_cost_usd {
        if !(c.is_finite() && c >= 0.0) {
            errs.push(
                FieldError::new("PLAN_INVALID_BUDGET", "budget.max_cost_usd must be a non-negative number").field("budget.max_cost_usd"),
            );
        }
    }
    match plan.budget.max_duration_ms {
        Some(0) => {
            errs.push(FieldError::new("PLAN_INVALID_BUDGET", "budget.max_duration_ms must be positive").field("budget.max_duration_ms"))
        }
        Some(ms) if ms > MAX_DURATION_MS => errs.push(
            FieldError::new(
                "PLAN_INVALID_BUDGET",
                format!("budget.max_duration_ms must be at most {MAX_DURATION_MS} (30 days); use null for no limit"),
            )
            .field("budget.max_duration_ms"),
        ),
        _ => {}
    }
}

/// The step graph, indexed once per validation.
struct Graph<'a> {
    index: &'a HashMap<&'a str, usize>,
    ancestors: Vec<Vec<u64>>,
}

impl Graph<'_> {
    /// Is `target` upstream of step `i`?
    fn is_upstream(&self, i: usize, target: &str) -> bool {
        self.index.get(target).is_some_and(|&t| self.ancestors[i].get(t / 64).is_some_and(|w| w & (1 << (t % 64)) != 0))
    }
}

/// At most 60 characters of a user-supplied name, for messages.
fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Secrets may be named only in the input fields the skill designates for them.
fn check_secret_fields(step_id: &str, at: &str, spec: &crate::skill::SkillSpec, input: &Value, errs: &mut Vec<FieldError>) {
    for (pointer, name) in secret_references(input) {
        if !spec.accepts_secret_at(&pointer) {
            let allowed = if spec.secret_fields.is_empty() {
                "this skill takes no secrets".to_string()
            } else {
                format!("secrets are allowed only in {}", spec.secret_fields.join(", "))
            };
            errs.push(
                FieldError::new(
                    "PLAN_SECRET_NOT_ALLOWED",
                    format!("step `{step_id}` names secret `{name}` at {pointer} of a `{}` input: {allowed}", spec.id),
                )
                .step(step_id)
                .field(format!("{at}{}", pointer.replace('/', ".").replace("~1", "/").replace("~0", "~"))),
            );
        }
    }
}

/// Whether any step names a secret (`{{ secrets.NAME }}`, in its input or its fallback's): only
/// then does validation need the tenant's secret names.
pub fn names_a_secret(plan: &Plan) -> bool {
    let named = |input: &Value| references(input, "").into_iter().any(|(_, r)| matches!(r, Ok(Ref::Secret(_))));
    plan.steps.iter().any(|step| named(&step.input) || matches!(&step.on_error, OnError::Fallback { input, .. } if named(input)))
}

fn check_references(
    plan: &Plan,
    i: usize,
    graph: &Graph,
    declared_inputs: Option<&HashSet<&str>>,
    cx: &ValidationContext,
    errs: &mut Vec<FieldError>,
) {
    let step = &plan.steps[i];
    let mut refs = references(&step.input, &format!("steps[{i}].input"));
    if let OnError::Fallback { input, .. } = &step.on_error {
        refs.extend(references(input, &format!("steps[{i}].on_error.input")));
    }
    for (field, r) in refs {
        match r {
            Err(e) => errs.push(FieldError::new("PLAN_BAD_REFERENCE", e.to_string()).step(&step.id).field(field)),
            Ok(Ref::StepOutput { step: target, .. }) => {
                if !graph.index.contains_key(target.as_str()) {
                    errs.push(
                        FieldError::new(
                            "PLAN_BAD_REFERENCE",
                            format!("step `{}` references step `{}`, which does not exist", step.id, clip(&target)),
                        )
                        .step(&step.id)
                        .field(field),
                    );
                } else if !graph.is_upstream(i, &target) {
                    errs.push(
                        FieldError::new(
                            "PLAN_BAD_REFERENCE",
                            format!("step `{}` references step `{target}`, which is not upstream of it (add it to depends_on)", step.id),
                        )
                        .step(&step.id)
                        .field(field),
                    );
                }
            }
            Ok(Ref::Secret(name)) => {
                if !cx.secret_names.contains(&name) {
                    errs.push(
                        FieldError::new(
                            "PLAN_UNKNOWN_SECRET",
                            format!("step `{}` references secret `{name}`, which this tenant does not have", step.id),
                        )
                        .step(&step.id)
                        .field(field),
                    );
                }
            }
            Ok(Ref::Input(path)) => {
                if let (Some(declared), Some(crate::template::Seg::Key(first))) = (declared_inputs, path.first()) {
                    if !declared.contains(first.as_str()) {
                        errs.push(
                            FieldError::new(
                                "PLAN_BAD_REFERENCE",
                                format!("step `{}` references input `{first}`, which input_schema does not declare", step.id),
                            )
                            .step(&step.id)
                            .field(field),
                        );
                    }
                }
            }
        }
    }
}

/// Validates a step input against the skill's schema, ignoring values that are templated (their
/// type is only known at run time).
fn check_input_schema(step_id: &str, at: &str, schema: &Value, input: &Value, errs: &mut Vec<FieldError>) {
    let Ok(validator) = compiled_schema(schema) else { return };
    for e in validator.iter_errors(input) {
        let pointer = e.instance_path.to_string();
        if templated_at(input, &pointer) {
            continue;
        }
        let field = if pointer.is_empty() { at.to_string() } else { format!("{at}{}", pointer.replace('/', ".")) };
        errs.push(FieldError::new("PLAN_INPUT_SCHEMA", format!("step `{step_id}` input: {e}")).step(step_id).field(field));
    }
}

/// Is the value at `pointer` (or any ancestor) a templated string?
fn templated_at(input: &Value, pointer: &str) -> bool {
    let mut cur = input;
    if cur.as_str().is_some_and(is_templated) {
        return true;
    }
    for part in pointer.split('/').skip(1) {
        let next = match cur {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => {
                if v.as_str().is_some_and(is_templated) {
                    return true;
                }
                cur = v;
            }
            None => return false,
        }
    }
    // An object with a templated member may fail "required"/"type" checks of its own members only
    // through those members, which are handled above.
    false
}

/// Validates run inputs against the plan's `input_schema`.
pub fn validate_inputs(plan: &Plan, inputs: &Value) -> Result<(), Vec<FieldError>> {
    if !inputs.is_object() {
        return Err(vec![FieldError::new("RUN_INVALID_INPUTS", "inputs must be a JSON object").field("inputs")]);
    }
    let Some(schema) = &plan.input_schema else { return Ok(()) };
    let validator = compiled_schema(schema).map_err(|e| vec![FieldError::new("PLAN_INVALID_SCHEMA", e).field("input_schema")])?;
    let errs: Vec<FieldError> = validator
        .iter_errors(inputs)
        .map(|e| {
            let p = e.instance_path.to_string();
            FieldError::new("RUN_INVALID_INPUTS", format!("inputs: {e}")).field(format!("inputs{}", p.replace('/', ".")))
        })
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Compiled validators, cached by the schema's canonical hash: the same skill schemas are checked
/// on every submission.
pub fn compiled_schema(schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let key = crate::canonical::hash_value(schema);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().map_err(|e| e.to_string())?.get(&key) {
        return Ok(v.clone());
    }
    let v = Arc::new(jsonschema::validator_for(schema).map_err(|e| e.to_string())?);
    let mut guard = cache.lock().map_err(|e| e.to_string())?;
    if guard.len() > 1024 {
        guard.clear();
    }
    guard.insert(key, v.clone());
    Ok(v)
}
