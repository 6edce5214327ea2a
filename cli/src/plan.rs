//! `aos plan validate FILE`: the server checks the plan as it would check a submission
//! (`POST /api/v1/simulate` validates first and runs nothing); every problem is printed with its
//! field path, and a "did you mean" for an unknown skill (from the deployment's skills) or an unknown
//! field (from the fields the message says are expected).

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
}

pub async fn plan(c: &Client, out: &Output, cmd: PlanCmd) -> anyhow::Result<()> {
    let PlanCmd::Validate { files } = cmd;
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
