//! `aos policies …` and `aos recovery settings`: the recovery policies approved candidates became
//! (list, show, disable) and the tenant's automatic approval (`off`, `shadow`, `active`, with its
//! thresholds). Tables for people, the API's JSON with `--json`. Also the lines `aos runs get`
//! shows for the policies a run was compiled with ([`applied_policies_lines`]).

use crate::client::Client;
use crate::commands::{s, table, Output};
use crate::when;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum PoliciesCmd {
    /// The tenant's recovery policies: status, change, approval bound, outcomes of 7 days.
    List,
    /// One policy: what it applies to, its patch, its history and its outcomes.
    Show {
        /// The policy id (`pol_` and 16 hex digits).
        id: String,
    },
    /// Disable a policy (admin, operator): runs submitted from now on no longer take it.
    Disable {
        /// The policy id (`pol_` and 16 hex digits).
        id: String,
        /// Why (at most 1000 characters); kept in the policy's history and the audit log.
        #[arg(long)]
        note: Option<String>,
    },
}

/// `aos recovery …`: the review commands of `recovery.rs`, and `settings`.
#[derive(Subcommand, Debug)]
pub enum RecoveryCmd {
    #[command(flatten)]
    Review(crate::recovery::RecoveryCmd),
    /// Automatic approval of recovery candidates: show it, or change it with flags (admin, operator).
    ///
    /// Without flags, prints the tenant's settings. With flags, reads them, replaces the ones given
    /// and writes them back (the change is audited).
    Settings(SettingsArgs),
}

#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// off (people decide), shadow (record what would change, apply nothing) or active (approve and apply).
    #[arg(long, value_parser = ["off", "shadow", "active"])]
    mode: Option<String>,
    /// Lower confidence bound a candidate needs to be approved automatically (0.5 to 0.99).
    #[arg(long)]
    min_lower: Option<f64>,
    /// Observations a candidate needs to be approved automatically (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    min_evidence: Option<u64>,
    /// Where drift is announced (a webhook URL); "" removes it.
    #[arg(long)]
    drift_webhook_url: Option<String>,
    /// The tenant secret that signs the drift webhook (default WEBHOOK_SECRET); "" removes it.
    #[arg(long)]
    drift_webhook_secret: Option<String>,
}

pub async fn recovery(c: &Client, out: &Output, cmd: RecoveryCmd) -> anyhow::Result<()> {
    match cmd {
        RecoveryCmd::Review(r) => crate::recovery::recovery(c, out, r).await,
        RecoveryCmd::Settings(a) => settings(c, out, a).await,
    }
}

pub async fn policies(c: &Client, out: &Output, cmd: PoliciesCmd) -> anyhow::Result<()> {
    match cmd {
        PoliciesCmd::List => {
            let v = c.get_with("/api/v1/policies", "policies").await?;
            out.emit(&v, |v| {
                let rows: Vec<Vec<String>> = items(&v["policies"]).iter().map(policy_row).collect();
                if rows.is_empty() {
                    println!("no recovery policies (approve a candidate: `aos recovery approve ID`)");
                } else {
                    table(&["ID", "STATUS", "SKILL", "CODE", "ACTION", "APPROVED AT", "OUTCOMES 7D"], rows);
                }
            });
        }
        PoliciesCmd::Show { id } => {
            let v = c.get(&format!("/api/v1/policies/{}", encode(&id))).await?;
            out.emit(&v, print_policy);
        }
        PoliciesCmd::Disable { id, note } => {
            let body = note.map_or_else(|| json!({}), |n| json!({ "note": n }));
            let v = c.post(&format!("/api/v1/policies/{}/disable", encode(&id)), &body).await?;
            out.emit(&v, |v| {
                let last = items(&v["history"]).last().cloned().unwrap_or(Value::Null);
                let mut line = format!("{} {} → {}", s(&v["id"]), s(&last["from"]), s(&v["status"]));
                if last["actor"].is_string() {
                    line.push_str(&format!(" by {}", s(&last["actor"])));
                }
                if let Some(note) = last["note"].as_str().filter(|n| !n.is_empty()) {
                    line.push_str(&format!(": {note}"));
                }
                println!("{line}");
                println!("runs submitted from now on no longer take it ({})", applies_to(v));
            });
        }
    }
    Ok(())
}

async fn settings(c: &Client, out: &Output, a: SettingsArgs) -> anyhow::Result<()> {
    let mut v = c.get_with("/api/v1/recovery/settings", "mode").await?;
    // "" removes an optional setting.
    let optional = |x: Option<String>| x.map(|x| if x.is_empty() { Value::Null } else { json!(x) });
    let changes = [
        ("mode", a.mode.map(|m| json!(m))),
        ("min_lower", a.min_lower.map(|x| json!(x))),
        ("min_evidence", a.min_evidence.map(|n| json!(n))),
        ("drift_webhook_url", optional(a.drift_webhook_url)),
        ("drift_webhook_secret", optional(a.drift_webhook_secret)),
    ];
    let mut changed = false;
    for (field, value) in changes {
        if let Some(value) = value {
            v[field] = value;
            changed = true;
        }
    }
    if changed {
        // The whole settings as read, with the changes: a PUT replaces them all.
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
        }
        v = c.call(Method::PUT, "/api/v1/recovery/settings", Some(&v)).await?;
    }
    out.emit(&v, |v| {
        let mode = s(&v["mode"]);
        let meaning = match mode.as_str() {
            "off" => "people approve candidates (`aos recovery approve`)",
            "shadow" => "candidates past the thresholds become shadow policies: runs record what they would change, nothing is applied",
            "active" => "candidates past the thresholds are approved automatically and applied to runs",
            _ => "",
        };
        println!("mode          {mode}{}", if meaning.is_empty() { String::new() } else { format!("  ({meaning})") });
        println!("min_lower     {}  (lower confidence bound for automatic approval)", s(&v["min_lower"]));
        println!("min_evidence  {}  (observations for automatic approval)", s(&v["min_evidence"]));
        if let Some(url) = v["drift_webhook_url"].as_str() {
            let secret = v["drift_webhook_secret"].as_str().unwrap_or("WEBHOOK_SECRET");
            println!("drift webhook {url}  (signed with the secret {secret})");
        }
    });
    Ok(())
}

fn policy_row(p: &Value) -> Vec<String> {
    vec![
        s(&p["id"]),
        s(&p["status"]),
        skill_target(p),
        s(&p["code"]),
        action(p),
        pct(p["approved_lower"].as_f64()),
        outcomes(&p["outcomes"]),
    ]
}

fn print_policy(p: &Value) {
    println!("policy {}  {}  (from candidate {})", s(&p["id"]), s(&p["status"]), s(&p["candidate_id"]));
    println!("applies to  {}", applies_to(p));
    println!("action      {}", action(p));
    println!("patch       {}", compact(&p["patch"]));
    let ev = &p["approved_evidence"];
    let evidence = match (ev["successes"].as_f64(), ev["attempts"].as_f64()) {
        (Some(ok), Some(n)) => format!(" on {}/{} ok ({} seen)", num(ok), num(n), s(&ev["observed"])),
        _ => String::new(),
    };
    println!("approved at lower bound {}{evidence}", pct(p["approved_lower"].as_f64()));
    println!("outcomes    {} of the steps it changed in the last 7 days succeeded", outcomes(&p["outcomes"]));
    println!("created     {}  updated {}", time(&p["created_at_ms"]), time(&p["updated_at_ms"]));
    let history = items(&p["history"]);
    if !history.is_empty() {
        println!("history:");
        let rows = history
            .iter()
            .map(|h| {
                let from = if h["from"].is_null() { "new".to_string() } else { s(&h["from"]) };
                vec![time(&h["at_ms"]), format!("{from} → {}", s(&h["to"])), s(&h["actor"]), s(&h["note"])]
            })
            .collect();
        table(&["AT", "CHANGE", "BY", "NOTE"], rows);
    }
}

/// What `aos runs get` shows about the recovery policies a run was compiled with
/// (`applied_policies`) and the shadow policies it records (`shadow_policies`): one line per step
/// field set, with the value it replaced. Empty when there are none.
// Until `runs.rs`'s `run_lines` calls it.
pub fn applied_policies_lines(run: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let sections = [
        ("applied_policies", "policies applied (the run's plan differs from the submitted one):", "set"),
        ("shadow_policies", "shadow policies (not applied; what they would have changed):", "would set"),
    ];
    for (field, title, verb) in sections {
        let entries = items(&run[field]);
        if entries.is_empty() {
            continue;
        }
        lines.push(title.to_string());
        for a in &entries {
            let fields: Vec<(String, Value)> = match &a["patch"] {
                Value::Object(o) if !o.is_empty() => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                _ => vec![],
            };
            if fields.is_empty() {
                lines.push(format!("  {} on step {}: no change", s(&a["policy_id"]), s(&a["step_id"])));
            }
            for (name, value) in fields {
                let was = match a["replaced"].get(&name) {
                    None | Some(Value::Null) => "unset".to_string(),
                    Some(v) => v.to_string(),
                };
                lines.push(format!("  {} on step {}: {verb} {name} {} (plan: {was})", s(&a["policy_id"]), s(&a["step_id"]), value));
            }
        }
    }
    lines
}

fn items(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// `http_call` or `http_call@api.example.com`.
fn skill_target(p: &Value) -> String {
    match p["target"].as_str() {
        Some(t) => format!("{}@{t}", s(&p["skill"])),
        None => s(&p["skill"]),
    }
}

fn applies_to(p: &Value) -> String {
    let host = p["target"].as_str().map_or_else(|| "any host".to_string(), |t| format!("host {t}"));
    format!("{} steps ({host}) that fail with {}", s(&p["skill"]), s(&p["code"]))
}

/// `retry {"backoff":"short"}`; the action alone without parameters.
fn action(p: &Value) -> String {
    match &p["params"] {
        Value::Object(o) if !o.is_empty() => format!("{} {}", s(&p["action"]), p["params"]),
        _ => s(&p["action"]),
    }
}

/// `3/4`: succeeded of the steps that ended.
fn outcomes(o: &Value) -> String {
    format!("{}/{}", o["succeeded"].as_u64().unwrap_or(0), o["steps"].as_u64().unwrap_or(0))
}

/// `0.6523` → `65%`.
fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0)))
}

/// A decayed count: whole numbers as they are, others with one decimal.
fn num(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{:.0}", x.round())
    } else {
        format!("{x:.1}")
    }
}

fn time(v: &Value) -> String {
    v.as_i64().map_or_else(|| "-".into(), when::absolute)
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Object(o) if o.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_policies_show_each_field_and_what_it_replaced() {
        let run = json!({
            "applied_policies": [{"policy_id": "pol_0123456789abcdef", "step_id": "get",
                "patch": {"retry": {"max_attempts": 4}, "timeout_ms": 2000}, "replaced": {"retry": null, "timeout_ms": 1000}}],
            "shadow_policies": [{"policy_id": "pol_fedcba9876543210", "step_id": "post",
                "patch": {"on_error": {"action": "continue"}}, "replaced": {}}],
        });
        assert_eq!(
            applied_policies_lines(&run),
            [
                "policies applied (the run's plan differs from the submitted one):",
                "  pol_0123456789abcdef on step get: set retry {\"max_attempts\":4} (plan: unset)",
                "  pol_0123456789abcdef on step get: set timeout_ms 2000 (plan: 1000)",
                "shadow policies (not applied; what they would have changed):",
                "  pol_fedcba9876543210 on step post: would set on_error {\"action\":\"continue\"} (plan: unset)",
            ]
        );
        assert!(applied_policies_lines(&json!({"applied_policies": [], "run_id": "r_1"})).is_empty());
        assert!(applied_policies_lines(&json!({"run_id": "r_1"})).is_empty(), "older runs have neither field");
    }

    #[test]
    fn rows_show_action_bound_and_outcomes() {
        let p = json!({"id": "pol_0123456789abcdef", "status": "active", "skill": "http_call", "target": null,
            "code": "HTTP_SERVICE_UNAVAILABLE", "action": "retry", "params": {"backoff": "short"},
            "approved_lower": 0.6523, "outcomes": {"steps": 4, "succeeded": 3}});
        assert_eq!(
            policy_row(&p),
            ["pol_0123456789abcdef", "active", "http_call", "HTTP_SERVICE_UNAVAILABLE", "retry {\"backoff\":\"short\"}", "65%", "3/4"]
        );
        let hosted = json!({"skill": "http_call", "target": "api.example.com", "code": "HTTP_429", "action": "retry_after", "params": {}});
        assert_eq!((skill_target(&hosted), action(&hosted)), ("http_call@api.example.com".to_string(), "retry_after".to_string()));
        assert_eq!(applies_to(&hosted), "http_call steps (host api.example.com) that fail with HTTP_429");
    }
}
