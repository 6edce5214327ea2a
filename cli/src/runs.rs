//! `aos runs`: submit, list, cancel, and the run view — each step's output, every attempt with its
//! error, catalog code and the delay before the next, fallbacks, and the catalog's advice for the
//! failure that ended the run. `--watch` redraws that view live on a terminal and survives a server
//! that goes away for a while (it reconnects); `--json` prints the API's run, exactly.

use crate::client::{encode, is_transient, Client};
use crate::commands::{cost, read_json, s, table, Output};
use crate::style::Style;
use crate::when;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum RunsCmd {
    /// Submit a plan file or a saved workflow.
    Submit {
        /// A plan JSON file.
        file: Option<PathBuf>,
        /// Run the latest (or `--version`) saved version of this workflow instead of a file.
        #[arg(long, conflicts_with = "file")]
        workflow: Option<String>,
        /// The workflow version to run (the latest when absent).
        #[arg(long, requires = "workflow")]
        version: Option<u32>,
        /// Run inputs as a JSON object.
        #[arg(long)]
        inputs: Option<String>,
        /// Submitting again with the same key returns the first run instead of starting another (7 days).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The run's seed (below 2^53), for a reproducible backoff jitter; random when absent.
        #[arg(long)]
        seed: Option<u64>,
        /// Wait for the run to finish, showing it live (as `runs get --watch`).
        #[arg(long)]
        wait: bool,
        /// With --wait: print every output and message whole.
        #[arg(long, requires = "wait")]
        full: bool,
    },
    /// Show a run: each step's output, every attempt, fallbacks and the catalog's advice.
    Get {
        /// The run id (`r_...`).
        run_id: String,
        /// Follow the run live until it finishes (reconnects if the server goes away for a while).
        #[arg(long)]
        watch: bool,
        /// Print outputs and messages whole instead of cut to one line.
        #[arg(long)]
        full: bool,
    },
    /// List runs, newest first, one page at a time (or every page with --all).
    List {
        /// Only runs in this status: queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Runs per page (1 to 200).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
        /// The page after the one that printed this cursor (`next_cursor`).
        #[arg(long, conflicts_with = "all")]
        cursor: Option<String>,
        /// Follow every page to the end.
        #[arg(long)]
        all: bool,
        /// Only runs created at or after this time: an age (`2h`, `7d`), a date and time
        /// (`2026-12-06T10:00`, local) or milliseconds since the epoch.
        #[arg(long, value_parser = when::parse)]
        since: Option<i64>,
        /// Only runs created at or before this time (same forms as --since).
        #[arg(long, value_parser = when::parse)]
        until: Option<i64>,
    },
    /// Cancel an unfinished run.
    Cancel {
        /// The run id (`r_...`).
        run_id: String,
    },
    /// Start a new run of a run's plan and inputs (linked to it by `rerun_of`).
    Rerun {
        /// The run id (`r_...`).
        run_id: String,
        /// Rerunning again with the same key returns the first rerun instead of starting another (7 days).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The new run's seed (below 2^53); random when absent.
        #[arg(long)]
        seed: Option<u64>,
        /// Wait for the new run to finish, showing it live (as `runs get --watch`).
        #[arg(long)]
        wait: bool,
        /// With --wait: print every output and message whole.
        #[arg(long, requires = "wait")]
        full: bool,
    },
    /// Redrive a failed or cancelled run: a new run that keeps the succeeded steps' recorded
    /// outputs (they are not executed again) and restarts the others.
    Redrive {
        /// The run id (`r_...`).
        run_id: String,
        /// A JSON file of step changes by step id, e.g. `{"fetch": {"timeout_ms": 60000}}`
        /// (any step field but `id`; only steps the redrive restarts).
        #[arg(long)]
        patch: Option<PathBuf>,
        /// Redriving again with the same key returns the first redrive instead of starting another (7 days).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Wait for the new run to finish, showing it live (as `runs get --watch`).
        #[arg(long)]
        wait: bool,
        /// With --wait: print every output and message whole.
        #[arg(long, requires = "wait")]
        full: bool,
    },
}

pub async fn runs(c: &Client, out: &Output, cmd: RunsCmd) -> anyhow::Result<()> {
    match cmd {
        RunsCmd::Submit { file, workflow, version, inputs, idempotency_key, seed, wait, full } => {
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
                return watch(c, out, &run_id, View { full }).await;
            }
            out.emit(&resp, |v| println!("{}  {}", s(&v["run_id"]), s(&v["status"])));
            Ok(())
        }
        RunsCmd::Get { run_id, watch: true, full } => watch(c, out, &run_id, View { full }).await,
        RunsCmd::Get { run_id, watch: false, full } => {
            let run = c.get(&format!("/api/v1/runs/{run_id}")).await?;
            if out.json {
                out.emit(&run, |_| {});
            } else {
                let advice = catalog_advice(c, &run).await;
                for line in run_lines(&run, advice.as_ref(), View { full }, when::now_ms(), Style::stdout()) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        RunsCmd::List { status, limit, cursor, all, since, until } => list(c, out, status, limit, cursor, all, since, until).await,
        RunsCmd::Cancel { run_id } => {
            let resp = c.post(&format!("/api/v1/runs/{run_id}/cancel"), &json!({})).await?;
            out.emit(&resp, |v| println!("{}  {}", s(&v["run_id"]), s(&v["status"])));
            Ok(())
        }
        RunsCmd::Rerun { run_id, idempotency_key, seed, wait, full } => {
            let mut body = json!({});
            if let Some(k) = idempotency_key {
                body["idempotency_key"] = json!(k);
            }
            if let Some(sd) = seed {
                body["seed"] = json!(sd);
            }
            let run = c.post(&format!("/api/v1/runs/{}/rerun", encode(&run_id)), &body).await?;
            restarted(c, out, run, wait, full).await
        }
        RunsCmd::Redrive { run_id, patch, idempotency_key, wait, full } => {
            let mut body = json!({});
            if let Some(f) = patch {
                body["patch"] = read_json(&f)?;
            }
            if let Some(k) = idempotency_key {
                body["idempotency_key"] = json!(k);
            }
            let run = c.post(&format!("/api/v1/runs/{}/redrive", encode(&run_id)), &body).await?;
            restarted(c, out, run, wait, full).await
        }
    }
}

/// Prints the new run of a rerun or redrive (`run_id  status`, then what it came from), or
/// follows it with `--wait`.
async fn restarted(c: &Client, out: &Output, run: Value, wait: bool, full: bool) -> anyhow::Result<()> {
    if wait {
        return watch(c, out, &s(&run["run_id"]), View { full }).await;
    }
    out.emit(&run, |v| {
        println!("{}  {}", s(&v["run_id"]), s(&v["status"]));
        let ids = |field: &str| v[field].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default();
        if v["rerun_of"].is_string() {
            println!("rerun of {}", s(&v["rerun_of"]));
        }
        if v["redrive_of"].is_string() {
            println!("redrive of {}", s(&v["redrive_of"]));
            let kept = ids("seeded_steps");
            println!("kept (not run again): {}", if kept.is_empty() { "none".into() } else { kept });
            if !ids("patched_steps").is_empty() {
                println!("patched: {}", ids("patched_steps"));
            }
        }
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn list(
    c: &Client,
    out: &Output,
    status: Option<String>,
    limit: u32,
    cursor: Option<String>,
    all: bool,
    since: Option<i64>,
    until: Option<i64>,
) -> anyhow::Result<()> {
    let mut query = vec![format!("limit={limit}")];
    if let Some(st) = status {
        query.push(format!("status={st}"));
    }
    if let Some(t) = since {
        query.push(format!("created_after={t}"));
    }
    if let Some(t) = until {
        query.push(format!("created_before={t}"));
    }
    let path = format!("/api/v1/runs?{}", query.join("&"));
    let list = match &cursor {
        Some(cur) => c.get_with(&format!("{path}&cursor={}", encode(cur)), "runs").await?,
        None => c.get_pages(&path, "runs", all).await?,
    };
    let style = Style::stdout();
    out.emit(&list, |v| {
        let now = when::now_ms();
        let rows = v["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let created = r["created_at_ms"].as_i64();
                let took = r["finished_at_ms"].as_i64().zip(created).map(|(f, c)| when::duration((f - c).max(0) as u64));
                vec![
                    s(&r["run_id"]),
                    s(&r["plan_name"]),
                    style.status(&s(&r["status"])),
                    created.map(|t| format!("{} ({})", when::absolute(t), when::relative(t, now))).unwrap_or("-".into()),
                    took.unwrap_or("-".into()),
                    cost(&r["cost_usd"]),
                    s(&r["error_code"]),
                ]
            })
            .collect();
        table(&["RUN", "PLAN", "STATUS", "CREATED", "TOOK", "COST_USD", "ERROR"], rows);
        if let Some(next) = v["next_cursor"].as_str() {
            eprintln!("more runs: --cursor {next}  (or --all)");
        }
    });
    Ok(())
}

/// How much of each output and message to show.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub full: bool,
}

/// The catalog entry of the failure that ended the run, for its explanation and suggestions; `None`
/// when the run did not fail, nothing matched, or the caller may not read the catalog.
async fn catalog_advice(c: &Client, run: &Value) -> Option<Value> {
    let code = run["failure"]["code"].as_str().filter(|_| run["failure"]["matched"] == json!(true))?;
    c.get(&format!("/api/v1/catalog/{code}")).await.ok()
}

/// One line of at most `max` characters (`…` when cut), or the whole value with `full`.
fn clip(text: &str, max: usize, full: bool) -> String {
    if full {
        return text.to_string();
    }
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max).collect::<String>())
    }
}

fn output_line(output: &Value, view: View) -> String {
    if view.full {
        let pretty = serde_json::to_string_pretty(output).unwrap_or_default();
        return format!("    output {}", pretty.replace('\n', "\n    "));
    }
    let compact = output.to_string();
    let bytes = compact.len();
    let clipped = clip(&compact, 160, false);
    if clipped.chars().count() < compact.chars().count() {
        format!("    output {clipped}  ({bytes} bytes; --full for all)")
    } else {
        format!("    output {clipped}")
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The run as lines of text, as `runs get` prints it and `--watch` redraws it.
pub fn run_lines(run: &Value, advice: Option<&Value>, view: View, now: i64, st: Style) -> Vec<String> {
    let mut lines = Vec::new();
    let status = s(&run["status"]);
    lines.push(format!(
        "run {}  plan {}  status {}",
        st.bold(&s(&run["run_id"])),
        s(&run["plan"]["name"]),
        if st.on { st.status(&status) } else { status.clone() }
    ));
    let created = run["created_at_ms"].as_i64();
    let mut facts = vec![format!("created {}", when::at(created))];
    match (run["started_at_ms"].as_i64().or(created), run["finished_at_ms"].as_i64()) {
        (Some(start), Some(end)) => facts.push(format!("took {}", when::duration((end - start).max(0) as u64))),
        (Some(start), None) => facts.push(format!("elapsed {}", when::duration((now - start).max(0) as u64))),
        _ => {}
    }
    facts.push(format!("cost {} USD", cost(&run["cost_usd"])));
    if let Some(seed) = run["seed"].as_u64() {
        facts.push(format!("seed {seed}"));
    }
    lines.push(facts.join("  ·  "));
    if let Some(w) = run["workflow"].as_object() {
        lines.push(format!("workflow {} v{}", s(&w["name"]), s(&w["version"])));
    }
    lines.extend(crate::policies::applied_policies_lines(run));
    if let Some(e) = run.get("error").filter(|e| !e.is_null()) {
        lines.push(st.red(&format!("error {}: {}", s(&e["code"]), clip(&s(&e["message"]), 200, view.full))));
        let f = &run["failure"];
        if f["matched"] == json!(true) {
            lines.push(format!(
                "  catalog {} ({}, recovery {}, confidence {:.2})",
                s(&f["code"]),
                s(&f["category"]),
                s(&f["recovery_mode"]),
                f["confidence"].as_f64().unwrap_or(0.0)
            ));
        } else if f.is_object() {
            lines.push("  catalog: no entry matches this failure (`aos failures candidates` collects such failures)".into());
        }
        if let Some(entry) = advice {
            if let Some(x) = entry["explanation"].as_str() {
                lines.push(format!("  {}", clip(x, 200, view.full)));
            }
            for sug in entry["suggestions"].as_array().into_iter().flatten() {
                lines.push(format!("  suggestion: {}", clip(&s(sug), 200, view.full)));
            }
        }
    }
    lines.push(String::new());
    for step in run["step_details"].as_array().into_iter().flatten() {
        let planned = run["plan"]["steps"].as_array().into_iter().flatten().find(|p| p["id"] == step["step_id"]);
        step_lines(step, planned.map(|p| &p["skill"]).unwrap_or(&step["skill"]), view, now, st, &mut lines);
    }
    if let Some(root) = run["trace_root"].as_str() {
        lines.push(st.dim(&format!("trace root {root}")));
    }
    lines
}

/// A step: its planned skill, status, attempts (each with its outcome and what followed it) and output.
fn step_lines(step: &Value, skill: &Value, view: View, now: i64, st: Style, lines: &mut Vec<String>) {
    let attempts = step["attempts"].as_array().cloned().unwrap_or_default();
    let status = s(&step["status"]);
    let mut head = format!("{}  {}  {}", st.bold(&s(&step["step_id"])), s(skill), st.status(&status));
    if step["fallback"] == json!(true) {
        head.push_str(&format!(" by fallback {}", s(&step["skill"])));
    }
    if !attempts.is_empty() {
        head.push_str(&format!("  {}", plural(attempts.len(), "attempt")));
    }
    let spent: u64 = attempts.iter().filter_map(|a| a["duration_ms"].as_u64()).sum();
    if spent > 0 {
        head.push_str(&format!("  {}", when::duration(spent)));
    }
    if status == "running" {
        match step["due_at_ms"].as_i64() {
            Some(due) if due > now => head.push_str(&st.yellow(&format!("  next attempt in {}", when::duration((due - now) as u64)))),
            _ => {
                if let Some(at) = step["dispatched_at_ms"].as_i64() {
                    head.push_str(&format!("  attempt {} running for {}", s(&step["attempt"]), when::duration((now - at).max(0) as u64)));
                }
            }
        }
    }
    if let Some(r) = step["skip_reason"].as_str() {
        head.push_str(&format!("  ({r})"));
    }
    lines.push(head);
    let show_attempts = attempts.len() > 1 || attempts.iter().any(|a| a["outcome"]["ok"] != json!(true));
    if show_attempts {
        for (i, a) in attempts.iter().enumerate() {
            let mut line = format!("    attempt {}", s(&a["attempt"]));
            if a["fallback"] == json!(true) {
                line.push_str(&format!(" (fallback {})", s(&a["skill"])));
            }
            let took = a["duration_ms"].as_u64().map(when::duration).unwrap_or("-".into());
            if a["outcome"]["ok"] == json!(true) {
                line.push_str(&format!("  ok  {took}"));
            } else {
                let e = &a["outcome"]["error"];
                line.push_str(&format!("  {}  {took}  {}: {}", st.red("failed"), s(&e["code"]), clip(&s(&e["message"]), 120, view.full)));
                if let Some(code) = a["failure"]["code"].as_str().filter(|_| a["failure"]["matched"] == json!(true)) {
                    line.push_str(&format!("  [catalog {code}]"));
                }
            }
            match attempts.get(i + 1) {
                Some(next) if next["fallback"] == json!(true) && a["fallback"] != json!(true) => {
                    line.push_str(&format!("  → fallback to {}", s(&next["skill"])));
                }
                Some(next) => {
                    if let (Some(end), Some(start)) = (a["finished_at_ms"].as_i64(), next["started_at_ms"].as_i64()) {
                        line.push_str(&format!("  → retried after {}", when::duration((start - end).max(0) as u64)));
                    }
                }
                None => {}
            }
            lines.push(line);
        }
    }
    if let Some(e) = step.get("error").filter(|e| e.is_object() && attempts.last().is_none_or(|a| a["outcome"]["ok"] == json!(true))) {
        lines.push(st.red(&format!("    error {}: {}", s(&e["code"]), clip(&s(&e["message"]), 160, view.full))));
    }
    if let Some(o) = step.get("output").filter(|_| status == "succeeded") {
        lines.push(output_line(o, view));
    }
}

const FINISHED: [&str; 3] = ["succeeded", "failed", "cancelled"];

/// How long `--watch` keeps trying to reach a server that went away before giving up.
const RECONNECT_FOR: Duration = Duration::from_secs(600);

/// Follows the run until it finishes: on a terminal, the run view redrawn in place (elapsed time,
/// retry countdowns, colours); elsewhere, one line per step change. A dropped connection or a
/// server error is retried with backoff (for up to ten minutes); then the run is printed whole and
/// the exit status is 2 unless it succeeded.
async fn watch(c: &Client, out: &Output, run_id: &str, view: View) -> anyhow::Result<()> {
    let live = !out.json && std::io::stdout().is_terminal();
    let style = Style::stdout();
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut drawn = 0usize;
    let mut lost: Option<(Instant, u32)> = None;
    let path = format!("/api/v1/runs/{run_id}");
    loop {
        let run = match c.get(&path).await {
            Ok(run) => {
                if let Some((since, _)) = lost.take() {
                    eprintln!("reconnected after {}", when::duration(since.elapsed().as_millis() as u64));
                }
                run
            }
            Err(e) if is_transient(&e) => {
                let (since, tries) = lost.get_or_insert((Instant::now(), 0));
                *tries += 1;
                if since.elapsed() > RECONNECT_FOR {
                    return Err(e.context(format!("gave up reconnecting after {}", when::duration(RECONNECT_FOR.as_millis() as u64))));
                }
                let wait = Duration::from_millis((250u64 << (*tries).min(4)).min(3000));
                eprintln!("connection lost ({e:#}); reconnecting in {} (try {tries})", when::duration(wait.as_millis() as u64));
                drawn = 0;
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let status = s(&run["status"]);
        let finished = FINISHED.contains(&status.as_str());
        if live && !finished {
            let now = when::now_ms();
            let mut frame = run_lines(&run, None, View { full: false }, now, style);
            frame.insert(0, style.dim(&format!("watching {run_id} (Ctrl-C stops watching, not the run)")));
            drawn = redraw(drawn, &frame);
        } else if !out.json && !live {
            for st in run["step_details"].as_array().cloned().unwrap_or_default() {
                let key = s(&st["step_id"]);
                let mut now = format!("{} (attempt {})", s(&st["status"]), st["attempt"]);
                if let Some(due) = st["due_at_ms"].as_i64().filter(|d| *d > when::now_ms() && s(&st["status"]) == "running") {
                    now.push_str(&format!(", next attempt at {}", when::absolute(due)));
                }
                if seen.get(&key) != Some(&now) {
                    println!("  {key:<16} {now}");
                    seen.insert(key, now);
                }
            }
        }
        if finished {
            if out.json {
                out.emit(&run, |_| {});
            } else {
                let advice = catalog_advice(c, &run).await;
                let frame = run_lines(&run, advice.as_ref(), view, when::now_ms(), style);
                if live {
                    redraw(drawn, &frame);
                } else {
                    for line in frame {
                        println!("{line}");
                    }
                }
            }
            if status != "succeeded" {
                std::process::exit(2);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Replaces the `drawn` lines printed last with `frame`; returns how many lines it takes now.
/// Lines are cut to the terminal's width (`COLUMNS`, else 120) so that none wraps and the count
/// stays true.
fn redraw(drawn: usize, frame: &[String]) -> usize {
    let width: usize = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(120);
    let mut text = String::new();
    if drawn > 0 {
        text.push_str(&format!("\x1b[{drawn}F\x1b[J"));
    }
    for line in frame {
        text.push_str(&cut_visible(line, width.saturating_sub(1)));
        text.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    frame.len()
}

/// `line` cut to `width` visible characters; colour codes are all kept, so a cut line still ends
/// with its reset.
fn cut_visible(line: &str, width: usize) -> String {
    let mut out = String::new();
    let (mut visible, mut in_escape) = (0, false);
    for ch in line.chars() {
        if in_escape {
            out.push(ch);
            in_escape = ch != 'm';
        } else if ch == '\x1b' {
            out.push(ch);
            in_escape = true;
        } else if visible < width {
            out.push(ch);
            visible += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_without_breaking_colours() {
        assert_eq!(cut_visible("abcdef", 3), "abc");
        assert_eq!(cut_visible("\x1b[31mabcdef\x1b[0m", 2), "\x1b[31mab\x1b[0m");
        assert_eq!(clip("a\n  b", 10, false), "a b");
        assert_eq!(clip("abcdef", 3, false), "abc…");
    }
}
