//! `aos recovery …`: recovery suggestions for a failure, and the review of recovery candidates
//! (approve, reject, retire). Tables for people — confidence as a bar of its lower bound, with the
//! evidence behind it — and the API's JSON with `--json`.

use crate::client::Client;
use crate::commands::{s, table, Output};
use clap::{ArgGroup, Subcommand};
use serde_json::{json, Value};

/// The API's largest page of candidates.
const MAX_PAGE: usize = 200;
/// Width of a confidence bar, in cells.
const BAR_CELLS: usize = 8;

#[derive(Subcommand, Debug)]
pub enum RecoveryCmd {
    /// Ranked recovery suggestions for a stored failure (--failure) or one described by hand (--message).
    #[command(group(ArgGroup::new("what").required(true).args(["failure", "message"])))]
    Suggest {
        /// The id of a stored failure record (an `id` that `GET /api/v1/failures` lists).
        #[arg(long)]
        failure: Option<String>,
        /// The error message of a failure described by hand.
        #[arg(long)]
        message: Option<String>,
        /// Its error code, e.g. HTTP_503.
        #[arg(long, requires = "message")]
        code: Option<String>,
        /// The skill that failed, e.g. http_call.
        #[arg(long, requires = "message")]
        skill: Option<String>,
        /// The HTTP status it came with (100-599).
        #[arg(long, requires = "message", value_parser = clap::value_parser!(u16).range(100..=599))]
        http_status: Option<u16>,
    },
    /// The tenant's recovery candidates, every page (or the first N with --limit).
    Candidates {
        /// pending, approved, rejected or retired.
        #[arg(long)]
        status: Option<String>,
        /// A catalog code, or sig:<signature> for an unmatched failure.
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        skill: Option<String>,
        /// Show at most N candidates.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// One candidate: its action, evidence, examples and decisions.
    Show { id: String },
    /// Approve a pending candidate (admin, operator).
    Approve {
        id: String,
        /// Why (at most 1000 characters); kept in the candidate's history and the audit log.
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a pending candidate (admin, operator).
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Retire an approved candidate (admin, operator).
    Retire {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub async fn recovery(c: &Client, out: &Output, cmd: RecoveryCmd) -> anyhow::Result<()> {
    match cmd {
        RecoveryCmd::Suggest { failure, message, code, skill, http_status } => {
            let body = match (failure, message) {
                (Some(id), _) => json!({ "failure_id": id }),
                (None, Some(message)) => {
                    let mut body = json!({ "message": message });
                    if let Some(v) = code {
                        body["code"] = json!(v);
                    }
                    if let Some(v) = skill {
                        body["skill"] = json!(v);
                    }
                    if let Some(v) = http_status {
                        body["http_status"] = json!(v);
                    }
                    body
                }
                (None, None) => unreachable!("clap requires --failure or --message"),
            };
            let v = c.post("/api/v1/recovery/suggest", &body).await?;
            out.emit(&v, print_suggestions);
        }
        RecoveryCmd::Candidates { status, code, skill, limit } => {
            let filters: Vec<(&str, String)> =
                [("status", status), ("code", code), ("skill", skill)].into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
            let v = all_candidates(c, &filters, limit.map(|l| l as usize)).await?;
            out.emit(&v, |v| {
                let rows: Vec<Vec<String>> = items(&v["candidates"]).iter().map(candidate_row).collect();
                if rows.is_empty() {
                    println!("no recovery candidates");
                } else {
                    table(&["ID", "STATUS", "CODE", "SKILL", "ACTION", "CONFIDENCE", "EVIDENCE", "SEEN", "PATCH"], rows);
                }
                if v["next_cursor"].is_string() {
                    println!("(more: raise --limit)");
                }
            });
        }
        RecoveryCmd::Show { id } => {
            let v = c.get(&format!("/api/v1/recovery/candidates/{}", encode(&id))).await?;
            out.emit(&v, print_candidate);
        }
        RecoveryCmd::Approve { id, note } => decide(c, out, &id, "approve", note).await?,
        RecoveryCmd::Reject { id, note } => decide(c, out, &id, "reject", note).await?,
        RecoveryCmd::Retire { id, note } => decide(c, out, &id, "retire", note).await?,
    }
    Ok(())
}

/// Follows `next_cursor` until the last page, or until `limit` candidates; the pages' candidates
/// in one `{"candidates": [...]}`, with the `next_cursor` of the last page read when `limit` left
/// some unread.
async fn all_candidates(c: &Client, filters: &[(&str, String)], limit: Option<usize>) -> anyhow::Result<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let want = limit.map_or(MAX_PAGE, |l| (l - all.len()).min(MAX_PAGE));
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("limit", want.to_string()));
        if let Some(cur) = &cursor {
            query.push(("cursor", cur.clone()));
        }
        let page = c.get(&format!("/api/v1/recovery/candidates?{}", query_string(&query))).await?;
        all.extend(items(&page["candidates"]));
        cursor = page["next_cursor"].as_str().map(str::to_string);
        let full = limit.is_some_and(|l| all.len() >= l);
        if cursor.is_none() || full {
            if let Some(l) = limit {
                all.truncate(l);
            }
            let mut v = json!({ "candidates": all });
            if let Some(cur) = cursor {
                v["next_cursor"] = json!(cur);
            }
            return Ok(v);
        }
    }
}

async fn decide(c: &Client, out: &Output, id: &str, verb: &str, note: Option<String>) -> anyhow::Result<()> {
    let body = note.map_or_else(|| json!({}), |n| json!({ "note": n }));
    let v = c.post(&format!("/api/v1/recovery/candidates/{}/{verb}", encode(id)), &body).await?;
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
        println!("{} on {}: {} {}", s(&v["code"]), skill_of(v), s(&v["action"]), compact(&v["params"]));
    });
    Ok(())
}

fn print_suggestions(v: &Value) {
    let m = &v["match"];
    if m["matched"] == json!(true) {
        let retry = if m["retryable"] == json!(true) { "retryable" } else { "not retryable" };
        println!(
            "failure {} ({}, {retry}, severity {}): matched by {}, {}",
            s(&m["code"]),
            s(&m["category"]),
            s(&m["severity"]),
            s(&m["match_type"]),
            pct(m["confidence"].as_f64())
        );
    } else {
        println!("failure not in the catalog (signature {})", s(&m["signature"]));
    }
    println!("evidence key {} on {}", s(&v["key"]["code"]), skill_of(&v["key"]));
    let suggestions = items(&v["suggestions"]);
    if suggestions.is_empty() {
        println!("no suggestion");
    } else {
        let rows = suggestions
            .iter()
            .enumerate()
            .map(|(i, g)| {
                vec![
                    (i + 1).to_string(),
                    s(&g["action"]),
                    bar(g["confidence"]["lower"].as_f64()),
                    pct(g["confidence"]["mean"].as_f64()),
                    evidence(&g["evidence"]),
                    s(&g["source"]),
                    compact(&g["params"]),
                    compact(&g["patch"]),
                ]
            })
            .collect();
        table(&["#", "ACTION", "CONFIDENCE", "MEAN", "EVIDENCE", "SOURCE", "PARAMS", "PATCH"], rows);
        for (i, g) in suggestions.iter().enumerate() {
            if let Some(text) = g["explanation"].as_str().filter(|t| !t.is_empty()) {
                println!("{}. {text}", i + 1);
            }
        }
    }
    let candidates: Vec<String> = items(&v["candidates"]).iter().map(s).collect();
    if !candidates.is_empty() {
        println!("candidates: {} (review with `aos recovery show ID`)", candidates.join(" "));
    }
}

fn candidate_row(c: &Value) -> Vec<String> {
    vec![
        s(&c["id"]),
        s(&c["status"]),
        s(&c["code"]),
        skill_of(c),
        s(&c["action"]),
        bar(c["confidence"]["lower"].as_f64()),
        evidence(&c["evidence"]),
        s(&c["occurrences"]),
        compact(&c["patch"]),
    ]
}

fn print_candidate(c: &Value) {
    println!("candidate {}  {}  (from {})", s(&c["id"]), s(&c["status"]), s(&c["source"]));
    println!("failure   {} on {}, seen {} time(s)", s(&c["code"]), skill_of(c), s(&c["occurrences"]));
    println!("action    {} {}", s(&c["action"]), compact(&c["params"]));
    println!("patch     {}", compact(&c["patch"]));
    println!("confidence {} (mean {})", bar(c["confidence"]["lower"].as_f64()), pct(c["confidence"]["mean"].as_f64()));
    println!("evidence  {}", evidence(&c["evidence"]));
    println!("created   {}  updated {}", s(&c["created_at_ms"]), s(&c["updated_at_ms"]));
    let examples = items(&c["examples"]);
    if !examples.is_empty() {
        println!("examples:");
        for e in &examples {
            let run = e["run_id"].as_str().map(|r| format!(" run {r}")).unwrap_or_default();
            let message: String = s(&e["message"]).chars().take(100).collect();
            println!("  {}{run}: {message}", s(&e["at_ms"]));
        }
    }
    let history = items(&c["history"]);
    if !history.is_empty() {
        println!("decisions:");
        let rows = history
            .iter()
            .map(|h| vec![s(&h["at_ms"]), format!("{} → {}", s(&h["from"]), s(&h["to"])), s(&h["actor"]), s(&h["note"])])
            .collect();
        table(&["AT_MS", "CHANGE", "BY", "NOTE"], rows);
    }
}

fn items(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn skill_of(v: &Value) -> String {
    v["skill"].as_str().unwrap_or("any skill").to_string()
}

/// `0.51` → `51%`.
fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0)))
}

/// `0.51` → `████░░░░ 51%`: the bar rounds to the nearest eighth.
fn bar(x: Option<f64>) -> String {
    let Some(x) = x else { return "-".into() };
    let filled = ((x.clamp(0.0, 1.0) * BAR_CELLS as f64).round() as usize).min(BAR_CELLS);
    format!("{}{} {}", "█".repeat(filled), "░".repeat(BAR_CELLS - filled), pct(Some(x)))
}

/// `10/12 ok (12 seen)`: decayed successes of decayed attempts, and the raw count when given.
fn evidence(e: &Value) -> String {
    let (Some(attempts), Some(successes)) = (e["attempts"].as_f64(), e["successes"].as_f64()) else { return "-".into() };
    if attempts <= 0.0 && e["observed"].as_u64().unwrap_or(0) == 0 {
        return "none".into();
    }
    let mut text = format!("{}/{} ok", num(successes), num(attempts));
    if let Some(n) = e["observed"].as_u64() {
        text.push_str(&format!(" ({n} seen)"));
    }
    text
}

/// A decayed count: whole numbers as they are, others with one decimal.
fn num(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{:.0}", x.round())
    } else {
        format!("{x:.1}")
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Object(o) if o.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path segment or query value (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_round_to_the_nearest_eighth() {
        assert_eq!(bar(Some(0.51)), "████░░░░ 51%");
        assert_eq!(bar(Some(0.0)), "░░░░░░░░ 0%");
        assert_eq!(bar(Some(1.0)), "████████ 100%");
        assert_eq!(bar(Some(0.95)), "████████ 95%");
        assert_eq!(bar(None), "-");
    }

    #[test]
    fn evidence_shows_decayed_and_raw_counts() {
        assert_eq!(evidence(&json!({"attempts": 12.0, "successes": 10.0, "observed": 12})), "10/12 ok (12 seen)");
        assert_eq!(evidence(&json!({"attempts": 3.46, "successes": 2.2})), "2.2/3.5 ok");
        assert_eq!(evidence(&json!({"attempts": 0.0, "successes": 0.0, "last_seen_ms": null})), "none");
        assert_eq!(evidence(&Value::Null), "-");
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("sig:ab12"), "sig%3Aab12");
        assert_eq!(query_string(&[("code", "HTTP_503".into()), ("limit", "5".into())]), "code=HTTP_503&limit=5");
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
