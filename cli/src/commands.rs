//! The client subcommands. Each prints a table for people or the API's JSON with `--json`.

use crate::client::Client;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[derive(Subcommand, Debug)]
pub enum RunsCmd {
    /// Submit a plan file or a saved workflow.
    Submit {
        /// A plan JSON file.
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        workflow: Option<String>,
        #[arg(long, requires = "workflow")]
        version: Option<u32>,
        /// Run inputs as a JSON object.
        #[arg(long)]
        inputs: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// Wait for the run to finish, showing step progress.
        #[arg(long)]
        wait: bool,
    },
    /// Show a run's execution context.
    Get {
        run_id: String,
        /// Follow step progress until the run finishes.
        #[arg(long)]
        watch: bool,
    },
    /// List runs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Cancel an unfinished run.
    Cancel { run_id: String },
}

pub async fn runs(c: &Client, out: &Output, cmd: RunsCmd) -> anyhow::Result<()> {
    match cmd {
        RunsCmd::Submit { file, workflow, version, inputs, idempotency_key, seed, wait } => {
            let mut body = json!({});
            match (file, workflow) {
                (Some(f), None) => body["plan"] = read_json(&f)?,
                (None, Some(w)) => {
                    body["workflow"] = json!(w);
                    if let Some(v) = version {
                        body["version"] = json!(v);
                    }
                }
                _ => anyhow::bail!("give a plan FILE or --workflow NAME"),
            }
            if let Some(i) = inputs {
                body["inputs"] = serde_json::from_str(&i).context("--inputs is not valid JSON")?;
            }
            if let Some(k) = idempotency_key {
                body["idempotency_key"] = json!(k);
            }
            if let Some(sd) = seed {
                body["seed"] = json!(sd);
            }
            let resp = c.post("/api/v1/runs", &body).await?;
            let run_id = s(&resp["run_id"]);
            if wait {
                return watch(c, out, &run_id).await;
            }
            out.emit(&resp, |v| println!("{}  {}", s(&v["run_id"]), s(&v["status"])));
            Ok(())
        }
        RunsCmd::Get { run_id, watch: true } => watch(c, out, &run_id).await,
        RunsCmd::Get { run_id, watch: false } => {
            let run = c.get(&format!("/api/v1/runs/{run_id}")).await?;
            out.emit(&run, print_run);
            Ok(())
        }
        RunsCmd::List { status, limit } => {
            let mut path = format!("/api/v1/runs?limit={limit}");
            if let Some(st) = status {
                path.push_str(&format!("&status={st}"));
            }
            let list = c.get(&path).await?;
            out.emit(&list, |v| {
                let rows = v["runs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        vec![
                            s(&r["run_id"]),
                            s(&r["plan_name"]),
                            s(&r["status"]),
                            s(&r["created_at_ms"]),
                            format!("{:.6}", r["cost_usd"].as_f64().unwrap_or(0.0)),
                            s(&r["error_code"]),
                        ]
                    })
                    .collect();
                table(&["RUN", "PLAN", "STATUS", "CREATED_MS", "COST_USD", "ERROR"], rows);
            });
            Ok(())
        }
        RunsCmd::Cancel { run_id } => {
            let resp = c.post(&format!("/api/v1/runs/{run_id}/cancel"), &json!({})).await?;
            out.emit(&resp, |v| println!("{}  {}", s(&v["run_id"]), s(&v["status"])));
            Ok(())
        }
    }
}

fn print_run(v: &Value) {
    println!(
        "run {}  plan {}  status {}  cost {:.6} USD",
        s(&v["run_id"]),
        s(&v["plan"]["name"]),
        s(&v["status"]),
        v["cost_usd"].as_f64().unwrap_or(0.0)
    );
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        println!("error {}: {}", s(&e["code"]), s(&e["message"]));
    }
    let rows = v["step_details"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|st| {
            let attempts = st["attempts"].as_array().cloned().unwrap_or_default();
            let last = attempts.last().cloned().unwrap_or(Value::Null);
            let result = if last.is_null() {
                s(&st["skip_reason"])
            } else if last["outcome"]["ok"] == json!(true) {
                "ok".into()
            } else {
                format!(
                    "{}: {}",
                    s(&last["outcome"]["error"]["code"]),
                    s(&last["outcome"]["error"]["message"]).chars().take(60).collect::<String>()
                )
            };
            vec![
                s(&st["step_id"]),
                s(&st["skill"]),
                s(&st["status"]),
                attempts.len().to_string(),
                last["duration_ms"].as_u64().map(|d| format!("{d}ms")).unwrap_or("-".into()),
                result,
            ]
        })
        .collect();
    table(&["STEP", "SKILL", "STATUS", "ATTEMPTS", "DURATION", "RESULT"], rows);
    if let Some(root) = v["trace_root"].as_str() {
        println!("trace root {root}");
    }
}

/// Polls the run, printing each step's status change, until it finishes.
async fn watch(c: &Client, out: &Output, run_id: &str) -> anyhow::Result<()> {
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    loop {
        let run = c.get(&format!("/api/v1/runs/{run_id}")).await?;
        if !out.json {
            for st in run["step_details"].as_array().cloned().unwrap_or_default() {
                let key = s(&st["step_id"]);
                let now = format!("{} (attempt {})", s(&st["status"]), st["attempt"]);
                if seen.get(&key) != Some(&now) {
                    println!("  {key:<16} {now}");
                    seen.insert(key, now);
                }
            }
        }
        let status = s(&run["status"]);
        if ["succeeded", "failed", "cancelled"].contains(&status.as_str()) {
            out.emit(&run, print_run);
            if status != "succeeded" {
                std::process::exit(2);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
                    format!("{:.6}", e["cost_usd"].as_f64().unwrap_or(0.0)),
                    format!("{:.2}", e["risk"].as_f64().unwrap_or(0.0)),
                ]
            })
            .collect();
        table(&["STEP", "SKILL", "SOURCE", "SAMPLES", "P50_MS", "P95_MS", "COST_USD", "RISK"], rows);
        println!(
            "total: cost {:.6} USD, latency p50 {} ms / p95 {} ms, risk {:.2}",
            v["total_cost_usd"].as_f64().unwrap_or(0.0),
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
    List,
    Show { id: String },
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
        name: String,
        file: PathBuf,
    },
    List,
    Show {
        name: String,
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
        name: String,
        value: Option<String>,
    },
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

#[derive(Subcommand, Debug)]
pub enum FailuresCmd {
    /// Run the failure aggregation now (admin or operator) and show the tenant's catalog candidates.
    Aggregate {
        /// Days of failures to read, back from now (default 7, or the server's AOS_AGGREGATE_DAYS).
        #[arg(long)]
        days: Option<u32>,
        /// Matched failures below this confidence are candidates (default 0.75).
        #[arg(long)]
        low_confidence: Option<f64>,
        /// Also write the result (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The tenant's latest catalog candidates (every page).
    Candidates {
        /// Also write them (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn failures(c: &Client, out: &Output, cmd: FailuresCmd) -> anyhow::Result<()> {
    let (report, file) = match cmd {
        FailuresCmd::Aggregate { days, low_confidence, out: file } => {
            let mut query = Vec::new();
            if let Some(d) = days {
                query.push(format!("days={d}"));
            }
            if let Some(l) = low_confidence {
                query.push(format!("low_confidence={l}"));
            }
            let path = format!("/api/v1/failures/aggregate{}{}", if query.is_empty() { "" } else { "?" }, query.join("&"));
            (c.call(reqwest::Method::POST, &path, None).await?, file)
        }
        FailuresCmd::Candidates { out: file } => {
            let mut report = c.get("/api/v1/failures/candidates?limit=200").await?;
            let mut next = report["next_cursor"].as_str().map(str::to_string);
            while let Some(cursor) = next {
                let page = c.get(&format!("/api/v1/failures/candidates?limit=200&cursor={cursor}")).await?;
                if let (Some(all), Some(more)) = (report["candidates"].as_array_mut(), page["candidates"].as_array()) {
                    all.extend(more.iter().cloned());
                }
                next = page["next_cursor"].as_str().map(str::to_string);
            }
            if let Some(o) = report.as_object_mut() {
                o.remove("next_cursor");
            }
            (report, file)
        }
    };
    if let Some(path) = &file {
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
    }
    out.emit(&report, |v| {
        let rows = v["candidates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                vec![
                    s(&c["signature"]),
                    s(&c["count"]),
                    s(&c["code"]),
                    c["skills"].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(",")).unwrap_or_default(),
                    format!("{}/{}", s(&c["suggested"]["category"]), s(&c["suggested"]["recovery_mode"])),
                    c["examples"][0]["message"].as_str().unwrap_or("").chars().take(60).collect(),
                ]
            })
            .collect();
        table(&["SIGNATURE", "COUNT", "CODE", "SKILLS", "SUGGESTED", "EXAMPLE"], rows);
        if let Some(path) = &file {
            println!("written to {}", path.display());
        }
    });
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
    Revoke { key_id: String },
    /// Replace a key with a new one of the same role, name and expiry; the old one is revoked.
    Rotate { key_id: String },
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
