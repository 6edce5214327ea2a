//! The client subcommands. Each prints a table for people or the API's JSON with `--json`.

use crate::client::Client;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Output {
    pub json: bool,
}

impl Output {
    pub(crate) fn emit(&self, value: &Value, human: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            human(value);
        }
    }
}

/// Prints rows as aligned columns.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    println!("{}", line(headers.iter().map(|s| s.to_string()).collect()));
    for r in rows {
        println!("{}", line(r));
    }
}

/// A JSON value as a table cell: strings bare, `null` as `-`.
pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A cost in USD with six decimals; never `-0.000000`.
pub(crate) fn cost(v: &Value) -> String {
    format!("{:.6}", v.as_f64().unwrap_or(0.0) + 0.0)
}

pub(crate) fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

pub async fn replay(c: &Client, out: &Output, run_id: &str) -> anyhow::Result<()> {
    let r = c.post(&format!("/api/v1/runs/{run_id}/replay"), &json!({})).await?;
    out.emit(&r, |v| {
        if v["parity"] == json!(true) {
            println!("parity: true  ({} re-executed, {} recorded)  root {}", v["reexecuted"], v["recorded"], s(&v["trace_root"]));
        } else {
            let d = &v["divergence"];
            println!(
                "parity: false  step {} attempt {}: {}\n  expected {}\n  actual   {}",
                s(&d["step"]),
                d["attempt"],
                s(&d["reason"]),
                d["expected"],
                d["actual"]
            );
        }
    });
    if r["parity"] != json!(true) {
        std::process::exit(2);
    }
    Ok(())
}

pub async fn simulate(c: &Client, out: &Output, file: &Path) -> anyhow::Result<()> {
    let plan = read_json(file)?;
    let r = c.post("/api/v1/simulate", &json!({ "plan": plan })).await?;
    out.emit(&r, |v| {
        let rows = v["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                vec![
                    s(&e["step_id"]),
                    s(&e["skill"]),
                    s(&e["source"]),
                    s(&e["samples"]),
                    s(&e["latency_ms_p50"]),
                    s(&e["latency_ms_p95"]),
                    cost(&e["cost_usd"]),
                    format!("{:.2}", e["risk"].as_f64().unwrap_or(0.0)),
                ]
            })
            .collect();
        table(&["STEP", "SKILL", "SOURCE", "SAMPLES", "P50_MS", "P95_MS", "COST_USD", "RISK"], rows);
        println!(
            "total: cost {:.6} USD, latency p50 {} ms / p95 {} ms, risk {:.2}",
            v["total_cost_usd"].as_f64().unwrap_or(0.0) + 0.0,
            v["total_latency_ms_p50"],
            v["total_latency_ms_p95"],
            v["risk"].as_f64().unwrap_or(0.0)
        );
        println!("feasible: {}", v["feasible"]);
        for r in v["reasons"].as_array().cloned().unwrap_or_default() {
            println!("  - {}", s(&r));
        }
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum SkillsCmd {
    /// Every skill of this deployment: version, side effects, determinism.
    List,
    /// One skill's whole spec: input and output schemas, cost model, timeout, failure modes.
    Show {
        /// The skill id, e.g. http_call.
        id: String,
    },
}

pub async fn skills(c: &Client, out: &Output, cmd: SkillsCmd) -> anyhow::Result<()> {
    match cmd {
        SkillsCmd::List => {
            let v = c.get("/api/v1/skills").await?;
            out.emit(&v, |v| {
                let rows = v["skills"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|k| vec![s(&k["id"]), s(&k["version"]), s(&k["side_effects"]), s(&k["determinism"]), s(&k["description"])])
                    .collect();
                table(&["SKILL", "VERSION", "SIDE_EFFECTS", "DETERMINISM", "DESCRIPTION"], rows);
            });
        }
        SkillsCmd::Show { id } => {
            let v = c.get(&format!("/api/v1/skills/{id}")).await?;
            out.emit(&v, |v| println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum WorkflowsCmd {
    /// Save a plan file as the next version of NAME.
    Create {
        /// The workflow's name.
        name: String,
        /// A plan JSON file.
        file: PathBuf,
    },
    /// Every version of every workflow of the tenant.
    List,
    /// A workflow's latest version, or the one given.
    Show {
        /// The workflow's name.
        name: String,
        /// The version to show (the latest when absent).
        #[arg(long)]
        version: Option<u32>,
    },
}

pub async fn workflows(c: &Client, out: &Output, cmd: WorkflowsCmd) -> anyhow::Result<()> {
    let v = match cmd {
        WorkflowsCmd::Create { name, file } => c.post("/api/v1/workflows", &json!({"name": name, "plan": read_json(&file)?})).await?,
        WorkflowsCmd::List => c.get("/api/v1/workflows").await?,
        WorkflowsCmd::Show { name, version } => {
            c.get(&format!("/api/v1/workflows/{name}{}", version.map(|v| format!("?version={v}")).unwrap_or_default())).await?
        }
    };
    out.emit(&v, |v| {
        let list = v["workflows"].as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
        let rows = list
            .iter()
            .map(|w| {
                vec![
                    s(&w["name"]),
                    s(&w["version"]),
                    w["plan"]["steps"].as_array().map(|a| a.len()).unwrap_or(0).to_string(),
                    s(&w["created_at_ms"]),
                ]
            })
            .collect();
        table(&["WORKFLOW", "VERSION", "STEPS", "CREATED_MS"], rows);
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Set a secret; the value is read from standard input when not given.
    Set {
        /// The secret's name, as plans name it in `{{ secrets.NAME }}`.
        name: String,
        /// The value; read from standard input when absent (keeps it out of the shell's history).
        value: Option<String>,
    },
    /// The tenant's secret names (never their values).
    List,
}

pub async fn secrets(c: &Client, out: &Output, cmd: SecretsCmd) -> anyhow::Result<()> {
    match cmd {
        SecretsCmd::Set { name, value } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut buf = String::new();
                    std::io::stdin().read_line(&mut buf)?;
                    buf.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            c.call(reqwest::Method::PUT, &format!("/api/v1/secrets/{name}"), Some(&json!({"value": value}))).await?;
            if !out.json {
                println!("secret {name} set");
            }
        }
        SecretsCmd::List => {
            let v = c.get("/api/v1/secrets").await?;
            out.emit(&v, |v| table(&["SECRET"], v["names"].as_array().cloned().unwrap_or_default().iter().map(|n| vec![s(n)]).collect()));
        }
    }
    Ok(())
}

/// Who the API says the caller is.
pub async fn whoami(c: &Client, out: &Output) -> anyhow::Result<()> {
    let v = c.get("/api/v1/whoami").await?;
    out.emit(&v, |v| {
        println!("{} {} ({}) in tenant {}", s(&v["kind"]), s(&v["name"]), s(&v["id"]), s(&v["tenant"]));
        println!("role: {}", s(&v["role"]));
        if let Some(exp) = v["expires_at_ms"].as_i64() {
            println!("expires in {} min", (exp - crate::login::now_ms()) / 60_000);
        }
        let perms: Vec<String> = v["permissions"].as_array().cloned().unwrap_or_default().iter().map(s).collect();
        println!("permissions: {}", perms.join(" "));
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Create an API key in the caller's tenant; the key is printed this once.
    Create {
        /// admin, operator, developer, viewer or machine.
        #[arg(long)]
        role: String,
        /// What the key is for, e.g. `ci-deploy`.
        #[arg(long)]
        name: String,
        /// Days until the key stops working (no expiry when absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// The tenant's keys, newest first (never their secrets).
    List,
    /// Revoke a key at once.
    Revoke {
        /// The key's id, as `keys list` prints it.
        key_id: String,
    },
    /// Replace a key with a new one of the same role, name and expiry; the old one is revoked.
    Rotate {
        /// The key's id, as `keys list` prints it.
        key_id: String,
    },
    /// Create the first admin API key of a serverless deployment directly in its DynamoDB table
    /// (no API can: there is no key yet to call it with) and print it.
    Bootstrap(crate::keys_bootstrap::BootstrapArgs),
}

fn key_row(k: &Value) -> Vec<String> {
    let now = crate::login::now_ms();
    let state = if k["revoked_at_ms"].is_i64() {
        "revoked"
    } else if k["expires_at_ms"].as_i64().is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    vec![s(&k["key_id"]), s(&k["name"]), s(&k["role"]), state.into(), s(&k["created_by"]), s(&k["expires_at_ms"]), s(&k["last_used_at_ms"])]
}

const KEY_HEADERS: [&str; 7] = ["KEY_ID", "NAME", "ROLE", "STATE", "CREATED_BY", "EXPIRES_MS", "LAST_USED_MS"];

pub async fn keys(c: &Client, out: &Output, cmd: KeysCmd) -> anyhow::Result<()> {
    let created = |v: &Value| {
        table(&KEY_HEADERS, vec![key_row(&v["record"])]);
        println!("\nkey (shown once, store it now):\n  {}", s(&v["key"]));
    };
    match cmd {
        KeysCmd::Create { role, name, expires_in_days } => {
            let mut body = json!({"role": role, "name": name});
            if let Some(d) = expires_in_days {
                body["expires_in_days"] = json!(d);
            }
            let v = c.post("/api/v1/keys", &body).await?;
            out.emit(&v, created);
        }
        KeysCmd::List => {
            let v = c.get("/api/v1/keys").await?;
            out.emit(&v, |v| table(&KEY_HEADERS, v["keys"].as_array().cloned().unwrap_or_default().iter().map(key_row).collect()));
        }
        KeysCmd::Revoke { key_id } => {
            let v = c.call(reqwest::Method::DELETE, &format!("/api/v1/keys/{key_id}"), None).await?;
            out.emit(&v, |v| table(&KEY_HEADERS, vec![key_row(v)]));
        }
        KeysCmd::Rotate { key_id } => {
            let v = c.post(&format!("/api/v1/keys/{key_id}/rotate"), &json!({})).await?;
            out.emit(&v, created);
        }
        KeysCmd::Bootstrap(_) => unreachable!("handled without a client by main"),
    }
    Ok(())
}
