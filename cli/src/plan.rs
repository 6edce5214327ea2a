//! `aos plan validate FILE`: the server checks the plan as it would check a submission
//! (`POST /api/v1/simulate` validates first and runs nothing); every problem is printed with its
//! field path, and a "did you mean" for an unknown skill (from the deployment's skills) or an unknown
//! field (from the fields the message says are expected).
//!
//! `aos plan schema`: the JSON Schema (2020-12) of plan files, `docs/plan.schema.json`, generated
//! from the same types as the OpenAPI document (the `Plan` schema and what it references) and the
//! built-in skills' input schemas.

use crate::client::{Client, StatusError};
use crate::commands::{read_json, s, Output};
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum PlanCmd {
    /// Check plan files without running them: every problem, its field path and a suggestion.
    Validate {
        /// Plan JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of plan files (docs/plan.schema.json), for editors and other tools.
    Schema,
}

pub async fn plan(c: &Client, out: &Output, cmd: PlanCmd) -> anyhow::Result<()> {
    let files = match cmd {
        PlanCmd::Validate { files } => files,
        PlanCmd::Schema => {
            println!("{}", schema_json());
            return Ok(());
        }
    };
    let mut skills: Option<Vec<String>> = None;
    let mut reports = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        let plan = match read_json(file) {
            Ok(p) => p,
            Err(e) => {
                reports.push(json!({"file": name, "valid": false, "problems": [{"field": "-", "code": "INVALID_JSON", "message": format!("{e:#}")}]}));
                continue;
            }
        };
        let problems = match c.post("/api/v1/simulate", &json!({ "plan": plan })).await {
            Ok(_) => Vec::new(),
            Err(e) => match e.downcast_ref::<StatusError>().filter(|s| s.status.as_u16() == 422 || s.status.as_u16() == 400) {
                Some(err) => problems_of(&err.body),
                None => return Err(e),
            },
        };
        let mut problems = problems;
        for p in problems.iter_mut() {
            if let Some(hint) = did_you_mean(c, p, &mut skills).await {
                p["did_you_mean"] = json!(hint);
            }
        }
        reports.push(json!({"file": name, "valid": problems.is_empty(), "problems": problems}));
    }
    let all_valid = reports.iter().all(|r| r["valid"] == json!(true));
    let report = json!({"valid": all_valid, "files": reports});
    out.emit(&report, |v| {
        for r in v["files"].as_array().into_iter().flatten() {
            let problems = r["problems"].as_array().cloned().unwrap_or_default();
            if problems.is_empty() {
                println!("{}: valid", s(&r["file"]));
                continue;
            }
            println!("{}: {} problem{}", s(&r["file"]), problems.len(), if problems.len() == 1 { "" } else { "s" });
            for p in problems {
                let hint = p["did_you_mean"].as_str().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
                println!("  {}: {}{hint}  [{}]", s(&p["field"]), s(&p["message"]), s(&p["code"]));
            }
        }
    });
    if !all_valid {
        std::process::exit(1);
    }
    Ok(())
}

/// Every problem of a 422: `details.errors` when the plan was read, else the one error (a field the
/// plan types do not know, a wrong type).
fn problems_of(body: &Value) -> Vec<Value> {
    let e = &body["error"];
    match e["details"]["errors"].as_array() {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!({
            "code": e["code"],
            "field": e["details"]["field"].as_str().unwrap_or("-"),
            "message": e["message"].as_str().unwrap_or("").split_once(": ").filter(|(f, _)| e["details"]["field"] == json!(f)).map(|(_, m)| m).unwrap_or(e["message"].as_str().unwrap_or("")),
        })],
    }
}

async fn did_you_mean(c: &Client, problem: &Value, skills: &mut Option<Vec<String>>) -> Option<String> {
    let message = problem["message"].as_str()?;
    if problem["code"] == json!("PLAN_UNKNOWN_SKILL") {
        let unknown = message.rsplit('`').nth(1)?;
        if skills.is_none() {
            let list = c.get("/api/v1/skills").await.ok()?;
            *skills = Some(list["skills"].as_array().into_iter().flatten().filter_map(|k| k["id"].as_str().map(str::to_string)).collect());
        }
        return closest(unknown, skills.as_deref()?.iter().map(String::as_str));
    }
    // serde: "unknown field `retyr`, expected one of `id`, `skill`, ..." (or "expected `x` or `y`").
    let rest = message.split("unknown field `").nth(1)?;
    let (unknown, expected) = rest.split_once('`')?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(unknown, names.into_iter())
}

/// The candidate nearest to `word`, if near enough to be what was meant.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Matches a string that holds a `{{ ... }}` reference (aos-core's template syntax): its value is
/// known only at run time, so the validator does not check it against the skill's input schema.
const TEMPLATED: &str = "\\{\\{[^{}]*\\}\\}";

/// `docs/plan.schema.json`, pretty-printed with a final newline.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&plan_schema()).unwrap_or_default()
}

/// The JSON Schema of a plan file. From the OpenAPI document's `Plan` schema and the schemas it
/// references (moved to `$defs`), plus what the validator checks beyond the types that a schema can
/// say: a dependency is a step id; a step's and a fallback's `skill` is one of the built-in skills, and its `input` satisfies
/// that skill's input schema wherever the input is not a `{{ ... }}` reference; a fallback takes no
/// other fields (serde's `deny_unknown_fields`).
pub fn plan_schema() -> Value {
    let doc: Value = serde_json::from_str(&aos_api::openapi_json()).expect("the OpenAPI document is JSON");
    let components = &doc["components"]["schemas"];
    // The components Plan needs, transitively.
    let mut defs = serde_json::Map::new();
    let mut todo = vec!["Plan".to_string()];
    while let Some(name) = todo.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let schema = components.get(&name).cloned().unwrap_or_else(|| panic!("the OpenAPI document has no schema `{name}`"));
        let mut refs = Vec::new();
        collect_refs(&schema, &mut refs);
        todo.extend(refs);
        defs.insert(name, schema);
    }
    let mut defs = Value::Object(defs);
    rewrite_refs(&mut defs);
    let Value::Object(mut defs) = defs else { unreachable!() };

    let skills = aos_skills::described_registry(&aos_skills::SkillsConfig::default(), Vec::new());
    let ids: Vec<String> = aos_skills::BUILTINS.iter().map(|b| b.id.to_string()).collect();
    let mut by_skill = Vec::new();
    for id in &ids {
        let spec = skills.get(id).expect("a built-in skill is registered").spec().clone();
        let mut input = spec.input_schema.clone();
        if let Value::Object(m) = &mut input {
            m.remove("$schema");
            m.remove("$id");
        }
        let required = input["type"] == json!("object");
        defs.insert(format!("input.{id}"), json!({
            "description": format!("The input of `{id}`: its input schema, where any value may instead be a `{{{{ ... }}}}` reference."),
            "anyOf": [tolerant(&input), {"type": "string", "pattern": TEMPLATED}]
        }));
        by_skill.push(json!({
            "if": {"properties": {"skill": {"const": id}}, "required": ["skill"]},
            "then": {
                "properties": {"input": {"$ref": format!("#/$defs/input.{id}")}},
                "required": if required { json!(["input"]) } else { json!([]) }
            }
        }));
    }
    // A step names a built-in skill, and its input fits that skill.
    let step = defs.get_mut("Step").expect("Step schema");
    step["properties"]["skill"]["enum"] = json!(ids);
    // A dependency names another step, so it is a step id.
    let mut id = step["properties"]["id"].clone();
    if let Value::Object(m) = &mut id {
        m.remove("description");
    }
    step["properties"]["depends_on"]["items"] = id;
    step["allOf"] = json!(by_skill);
    // So does a fallback, which takes no other fields (serde's `deny_unknown_fields` applies to the
    // struct variant; the unit variants `abort` and `continue` ignore extra fields, so they stay open).
    let on_error = defs.get_mut("OnError").expect("OnError schema");
    for variant in on_error["oneOf"].as_array_mut().expect("OnError is a oneOf").iter_mut() {
        if variant["properties"]["action"]["enum"] == json!(["fallback"]) {
            variant["additionalProperties"] = json!(false);
            variant["properties"]["skill"]["enum"] = json!(ids);
            variant["allOf"] = json!(by_skill);
        }
    }

    let mut root = defs.remove("Plan").expect("Plan schema");
    let Value::Object(ref mut m) = root else { panic!("Plan is an object schema") };
    let mut out = serde_json::Map::new();
    out.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    out.insert("title".into(), json!("AOS plan"));
    out.extend(std::mem::take(m));
    out.insert("$defs".into(), Value::Object(defs));
    Value::Object(out)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
                out.push(r.to_string());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    *r = format!("#/$defs/{name}");
                }
            }
            m.values_mut().for_each(rewrite_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A skill's input schema where every value below the root may also be a templated string, as the
/// validator has it (aos-core `check_input_schema`: an error at or under a templated value is not one).
fn tolerant(schema: &Value) -> Value {
    let Value::Object(m) = schema else { return schema.clone() };
    let either = |s: &Value| json!({"anyOf": [tolerant(s), {"type": "string", "pattern": TEMPLATED}]});
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        let v2 = match (k.as_str(), v) {
            ("properties" | "patternProperties", Value::Object(props)) => {
                Value::Object(props.iter().map(|(name, s)| (name.clone(), either(s))).collect())
            }
            ("items" | "additionalProperties" | "contains" | "unevaluatedProperties" | "unevaluatedItems", Value::Object(_)) => either(v),
            ("prefixItems", Value::Array(items)) => Value::Array(items.iter().map(either).collect()),
            // Same instance: the branches are checked as the schema itself is.
            ("allOf" | "anyOf" | "oneOf", Value::Array(branches)) => Value::Array(branches.iter().map(tolerant).collect()),
            ("if" | "then" | "else", Value::Object(_)) => tolerant(v),
            ("$defs", Value::Object(d)) => Value::Object(d.iter().map(|(n, s)| (n.clone(), tolerant(s))).collect()),
            _ => v.clone(),
        };
        out.insert(k.clone(), v2);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_near_misses_only() {
        let skills = ["http_call", "json_transform", "slack_send"];
        assert_eq!(closest("http_cal", skills.into_iter()), Some("http_call".into()));
        assert_eq!(closest("json-transform", skills.into_iter()), Some("json_transform".into()));
        assert_eq!(closest("database_query", skills.into_iter()), None);
    }

    #[test]
    fn one_error_without_a_list_is_one_problem() {
        let body = json!({"error": {"code": "INVALID_FIELD", "message": "plan.stepz: unknown field `stepz`, expected one of `name`, `steps`",
            "details": {"field": "plan.stepz"}}});
        let p = problems_of(&body);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0]["field"], "plan.stepz");
        assert_eq!(p[0]["message"], "unknown field `stepz`, expected one of `name`, `steps`");
    }
}
