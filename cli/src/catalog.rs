//! `aos catalog`: the failure catalog the server classifies with — `list` (filtered here: the API
//! answers the whole catalog, with its version and digest), `show` one entry, and `match` a failure
//! described by hand, as `GET /api/v1/catalog`, `GET /api/v1/catalog/{code}` and
//! `POST /api/v1/catalog/match` answer them.

use crate::client::{encode, Client};
use crate::commands::{s, table, Output};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum CatalogCmd {
    /// The catalog's entries, in catalog order, filtered by the options.
    List {
        /// Only entries of this category: TRANSIENT, RATE_LIMIT, AUTH, VALIDATION, NOT_FOUND,
        /// CONFLICT, RESOURCE, SECURITY or PERMANENT.
        #[arg(long)]
        category: Option<String>,
        /// Only entries with this recovery mode, e.g. retry_after, fallback, escalate.
        #[arg(long)]
        recovery_mode: Option<String>,
        /// Only entries of this severity: low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// Only entries whose code, explanation or suggestions contain this text (any case).
        #[arg(long)]
        search: Option<String>,
        /// Show at most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One entry whole: explanation, suggestions and the rules that match it.
    Show {
        /// The entry's code, e.g. HTTP_SERVICE_UNAVAILABLE.
        code: String,
    },
    /// Classify a failure described by hand, as the runtime classifies every failed attempt.
    Match {
        /// The error message.
        #[arg(long)]
        message: String,
        /// Its error code, e.g. HTTP_503.
        #[arg(long)]
        code: Option<String>,
        /// The skill that failed, e.g. http_call.
        #[arg(long)]
        skill: Option<String>,
        /// The HTTP status it came with (100-599).
        #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
        http_status: Option<u16>,
    },
}

pub async fn catalog(c: &Client, out: &Output, cmd: CatalogCmd) -> anyhow::Result<()> {
    match cmd {
        CatalogCmd::List { category, recovery_mode, severity, search, limit } => {
            let mut v = c.get_with("/api/v1/catalog", "entries").await?;
            let same = |want: &Option<String>, have: &Value| {
                want.as_ref().is_none_or(|w| have.as_str().is_some_and(|h| h.eq_ignore_ascii_case(w)))
            };
            let needle = search.map(|t| t.to_lowercase());
            let entries: Vec<Value> = v["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| same(&category, &e["category"]) && same(&recovery_mode, &e["recovery_mode"]) && same(&severity, &e["severity"]))
                .filter(|e| {
                    needle.as_ref().is_none_or(|n| {
                        [&e["code"], &e["explanation"], &e["suggestions"]].iter().any(|f| f.to_string().to_lowercase().contains(n.as_str()))
                    })
                })
                .take(limit.unwrap_or(usize::MAX))
                .cloned()
                .collect();
            v["entries"] = json!(entries);
            out.emit(&v, |v| {
                let rows = v["entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        vec![
                            s(&e["code"]),
                            s(&e["category"]),
                            s(&e["severity"]),
                            s(&e["recovery_mode"]),
                            s(&e["retryable"]),
                            e["explanation"].as_str().unwrap_or("").chars().take(70).collect(),
                        ]
                    })
                    .collect();
                table(&["CODE", "CATEGORY", "SEVERITY", "RECOVERY", "RETRYABLE", "EXPLANATION"], rows);
                println!("{} entries (catalog version {}, digest {})", entries.len(), s(&v["version"]), s(&v["digest"]));
            });
        }
        CatalogCmd::Show { code } => {
            let e = c.get_with(&format!("/api/v1/catalog/{}", encode(&code)), "code").await?;
            out.emit(&e, print_entry);
        }
        CatalogCmd::Match { message, code, skill, http_status } => {
            let mut body = json!({"message": message});
            if let Some(x) = code {
                body["code"] = json!(x);
            }
            if let Some(x) = skill {
                body["skill"] = json!(x);
            }
            if let Some(x) = http_status {
                body["http_status"] = json!(x);
            }
            let m = c.post("/api/v1/catalog/match", &body).await?;
            out.emit(&m, |m| {
                if m["matched"] == json!(true) {
                    println!(
                        "matched {} ({}, recovery {}, severity {}, retryable {}) with confidence {:.2} by {}",
                        s(&m["code"]),
                        s(&m["category"]),
                        s(&m["recovery_mode"]),
                        s(&m["severity"]),
                        s(&m["retryable"]),
                        m["confidence"].as_f64().unwrap_or(0.0),
                        s(&m["match_type"])
                    );
                } else {
                    println!("no entry matched (signature {})", s(&m["signature"]));
                }
                if let Some(x) = m["explanation"].as_str() {
                    println!("{x}");
                }
                for sug in m["suggestions"].as_array().into_iter().flatten() {
                    println!("  - {}", s(sug));
                }
            });
        }
    }
    Ok(())
}

fn print_entry(e: &Value) {
    println!(
        "{}  {}  severity {}  recovery {}  retryable {}{}",
        s(&e["code"]),
        s(&e["category"]),
        s(&e["severity"]),
        s(&e["recovery_mode"]),
        s(&e["retryable"]),
        if e["generic"] == json!(true) { "  (generic)" } else { "" }
    );
    println!("{}", s(&e["explanation"]));
    for sug in e["suggestions"].as_array().into_iter().flatten() {
        println!("  - {}", s(sug));
    }
    if let Some(rules) = e["match"].as_object() {
        println!("matched by:");
        for (kind, list) in rules {
            println!("  {kind}: {}", list.as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| s(list)));
        }
    }
}
