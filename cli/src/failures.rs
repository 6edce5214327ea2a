//! `aos failures`: the tenant's failure records (`list`, `stats`, `show`, as `GET /api/v1/failures`
//! and `/stats` answer them) and the catalog candidates the aggregation derives from them
//! (`aggregate`, `candidates`).

use crate::client::{encode, Client};
use crate::commands::{s, table, Output};
use crate::style::Style;
use crate::when;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum FailuresCmd {
    /// The tenant's failure records, newest first, with filters and paging as `GET /api/v1/failures`.
    List(ListArgs),
    /// Counts by kind, code, catalog code, category, skill and recovery, and a time series.
    Stats(StatsArgs),
    /// One failure record whole, with its catalog entry's explanation and suggestions.
    Show {
        /// The record's id, as `failures list` prints it (`<ms>#<run>#<step>#<attempt>`).
        id: String,
        /// Also ask for ranked recoveries (`POST /api/v1/recovery/suggest`, which may propose recovery candidates).
        #[arg(long)]
        suggest: bool,
    },
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
        FailuresCmd::List(args) => return list(c, out, args).await,
        FailuresCmd::Stats(args) => return stats(c, out, args).await,
        FailuresCmd::Show { id, suggest } => return show(c, out, &id, suggest).await,
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
/// The filters `GET /api/v1/failures` and `/stats` share.
#[derive(clap::Args, Debug, Default)]
pub struct Filters {
    /// From this time: an age (`2h`, `7d`), a date and time (`2026-12-06T10:00`, local) or milliseconds
    /// since the epoch [default: 7 days (list) or 24 hours (stats) before --until].
    #[arg(long, value_parser = when::parse)]
    since: Option<i64>,
    /// Up to this time (same forms as --since) [default: now].
    #[arg(long, value_parser = when::parse)]
    until: Option<i64>,
    /// An error code (`HTTP_503`) or a catalog entry code (`HTTP_SERVICE_UNAVAILABLE`).
    #[arg(long)]
    code: Option<String>,
    /// TRANSIENT, RATE_LIMIT, AUTH, VALIDATION, NOT_FOUND, CONFLICT, RESOURCE, SECURITY or PERMANENT.
    #[arg(long)]
    category: Option<String>,
    /// The failing skill, e.g. http_call.
    #[arg(long)]
    skill: Option<String>,
    /// attempt, step, run or rejected.
    #[arg(long)]
    kind: Option<String>,
}

impl Filters {
    fn query(&self) -> Vec<String> {
        let mut q = Vec::new();
        let mut add = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                q.push(format!("{name}={}", encode(&v)));
            }
        };
        add("from", self.since.map(|t| t.to_string()));
        add("to", self.until.map(|t| t.to_string()));
        add("code", self.code.clone());
        add("category", self.category.clone());
        add("skill", self.skill.clone());
        add("kind", self.kind.clone());
        q
    }
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    filters: Filters,
    /// true: a catalog entry matched; false: none did.
    #[arg(long)]
    matched: Option<bool>,
    /// true: the recovery succeeded; false: everything else.
    #[arg(long)]
    recovered: Option<bool>,
    /// Records per page (1 to 200).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200))]
    limit: u32,
    /// The page after the one that printed this cursor (`next_cursor`).
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Follow every page to the end.
    #[arg(long)]
    all: bool,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    filters: Filters,
    /// Width of the time-series buckets (`1m`, `1h`, `1d`; 1 s to 30 d) [default: one hour, or a
    /// thousandth of a longer range].
    #[arg(long, value_parser = bucket_ms)]
    bucket: Option<u64>,
}

fn bucket_ms(v: &str) -> Result<u64, String> {
    match aos_cli::settings::parse_every(v)? {
        Some(d) => Ok(d.as_millis() as u64),
        None => Err("a bucket cannot be `off`".into()),
    }
}

async fn list(c: &Client, out: &Output, args: ListArgs) -> anyhow::Result<()> {
    let mut q = args.filters.query();
    q.push(format!("limit={}", args.limit));
    if let Some(m) = args.matched {
        q.push(format!("matched={m}"));
    }
    if let Some(r) = args.recovered {
        q.push(format!("recovered={r}"));
    }
    let path = format!("/api/v1/failures?{}", q.join("&"));
    let v = match &args.cursor {
        Some(cur) => c.get_with(&format!("{path}&cursor={}", encode(cur)), "failures").await?,
        None => c.get_pages(&path, "failures", args.all).await?,
    };
    let style = Style::stdout();
    out.emit(&v, |v| {
        let now = when::now_ms();
        let rows = v["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                vec![
                    s(&f["id"]),
                    f["at_ms"].as_i64().map(|t| when::relative(t, now)).unwrap_or("-".into()),
                    s(&f["kind"]),
                    s(&f["skill"]),
                    s(&f["code"]),
                    s(&f["catalog_code"]),
                    recovery_cell(f, style),
                    f["message"].as_str().unwrap_or("").chars().take(60).collect(),
                ]
            })
            .collect();
        table(&["ID", "AT", "KIND", "SKILL", "CODE", "CATALOG", "RECOVERY", "MESSAGE"], rows);
        if let Some(next) = v["next_cursor"].as_str() {
            eprintln!("more failures: --cursor {next}  (or --all)");
        }
    });
    Ok(())
}

/// `retry_after ok`, `fallback failed`, `retry pending`, or `-` when none was attempted.
fn recovery_cell(f: &Value, style: Style) -> String {
    if f["recovery_attempted"] != json!(true) {
        return "-".into();
    }
    let result = match f["recovery_succeeded"].as_bool() {
        Some(true) => style.status("succeeded"),
        Some(false) => style.status("failed"),
        None => "pending".into(),
    };
    format!("{} {result}", s(&f["recovery_mode"]))
}

async fn stats(c: &Client, out: &Output, args: StatsArgs) -> anyhow::Result<()> {
    let mut q = args.filters.query();
    if let Some(b) = args.bucket {
        q.push(format!("bucket_ms={b}"));
    }
    let v = c.get_with(&format!("/api/v1/failures/stats?{}", q.join("&")), "total").await?;
    out.emit(&v, |v| {
        println!(
            "{} failures, {} matched by the catalog ({:.0}%){}",
            s(&v["total"]),
            s(&v["matched"]),
            v["match_rate"].as_f64().unwrap_or(0.0) * 100.0,
            if v["truncated"] == json!(true) { "  (more than 100 000 in range: the oldest 100 000 counted)" } else { "" }
        );
        for (title, key) in [
            ("kind", "by_kind"),
            ("error code", "by_code"),
            ("catalog code", "by_catalog_code"),
            ("category", "by_category"),
            ("skill", "by_skill"),
        ] {
            let mut counts: Vec<(String, i64)> =
                v[key].as_object().into_iter().flatten().map(|(k, n)| (k.clone(), n.as_i64().unwrap_or(0))).collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            if !counts.is_empty() {
                let shown: Vec<String> = counts.iter().take(8).map(|(k, n)| format!("{k} {n}")).collect();
                let more = if counts.len() > 8 { format!(", … {} more", counts.len() - 8) } else { String::new() };
                println!("by {title}: {}{more}", shown.join(", "));
            }
        }
        let r = &v["recovery"];
        println!(
            "recovery: {} attempted, {} succeeded, {} failed, {} pending{}",
            s(&r["attempted"]),
            s(&r["succeeded"]),
            s(&r["failed"]),
            s(&r["pending"]),
            r["success_rate"].as_f64().map(|x| format!(" (success rate {:.0}%)", x * 100.0)).unwrap_or_default()
        );
        let rows: Vec<Vec<String>> = v["recovery_by_mode"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(mode, r)| {
                vec![
                    mode.clone(),
                    s(&r["attempted"]),
                    s(&r["succeeded"]),
                    s(&r["failed"]),
                    s(&r["pending"]),
                    r["success_rate"].as_f64().map(|x| format!("{:.0}%", x * 100.0)).unwrap_or("-".into()),
                ]
            })
            .collect();
        if !rows.is_empty() {
            table(&["RECOVERY", "ATTEMPTED", "SUCCEEDED", "FAILED", "PENDING", "RATE"], rows);
        }
        let buckets: Vec<&Value> = v["buckets"].as_array().into_iter().flatten().collect();
        if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
            let counts: Vec<i64> = buckets.iter().map(|b| b["total"].as_i64().unwrap_or(0)).collect();
            println!(
                "over time ({} buckets, {} to {}): {}",
                counts.len(),
                first["start_ms"].as_i64().map(when::absolute).unwrap_or_default(),
                last["start_ms"].as_i64().map(when::absolute).unwrap_or_default(),
                spark(&counts)
            );
        }
    });
    Ok(())
}

/// A sparkline of counts (`▁▂▅█`), at most 60 cells (neighbouring buckets summed).
fn spark(counts: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let per = counts.len().div_ceil(60).max(1);
    let cells: Vec<i64> = counts.chunks(per).map(|c| c.iter().sum()).collect();
    let max = cells.iter().copied().max().unwrap_or(0);
    cells.iter().map(|&n| if n == 0 { ' ' } else { BARS[((n * 7) / max.max(1)) as usize] }).collect::<String>().trim_end().to_string()
}

async fn show(c: &Client, out: &Output, id: &str, suggest: bool) -> anyhow::Result<()> {
    // There is no route for one record: its id starts with its time, so the list of that very
    // millisecond holds it.
    let at: i64 = id
        .split('#')
        .next()
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("`{id}` is not a failure id (`<ms>#<run>#<step>#<attempt>`, as `aos failures list` prints them)"))?;
    let base = format!("/api/v1/failures?from={at}&to={at}&limit=200");
    let mut path = base.clone();
    let record = loop {
        let page = c.get_with(&path, "failures").await?;
        if let Some(f) = page["failures"].as_array().into_iter().flatten().find(|f| f["id"] == json!(id)) {
            break f.clone();
        }
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("{base}&cursor={}", encode(next)),
            None => anyhow::bail!("no failure {id} (it may have expired: records are kept for the failure retention days)"),
        }
    };
    let entry = match record["catalog_code"].as_str() {
        Some(code) => c.get(&format!("/api/v1/catalog/{}", encode(code))).await.ok(),
        None => None,
    };
    let suggestions = if suggest { Some(c.post("/api/v1/recovery/suggest", &json!({"failure_id": id})).await?) } else { None };
    let mut whole = json!({"failure": record, "catalog_entry": entry});
    if let Some(sg) = &suggestions {
        whole["suggestions"] = sg.clone();
    }
    out.emit(&whole, |_| {
        let f = &record;
        println!("failure {}", s(&f["id"]));
        println!("  at        {}", when::at(f["at_ms"].as_i64()));
        println!("  kind      {}", s(&f["kind"]));
        if let Some(run) = f["run_id"].as_str() {
            println!("  run       {run}  step {}  attempt {}   (aos runs get {run})", s(&f["step_id"]), s(&f["attempt"]));
        }
        println!("  skill     {}", s(&f["skill"]));
        println!("  error     {}: {}", s(&f["code"]), s(&f["message"]));
        if f["matched"] == json!(true) {
            println!(
                "  catalog   {} ({}, {}, severity {}, confidence {:.2}, by {})",
                s(&f["catalog_code"]),
                s(&f["category"]),
                s(&f["advised_recovery"]),
                s(&f["severity"]),
                f["confidence"].as_f64().unwrap_or(0.0),
                s(&f["match_type"])
            );
        } else {
            println!("  catalog   no entry matched (signature {})", s(&f["signature"]));
        }
        println!("  recovery  {}", recovery_cell(f, Style::stdout()));
        if let Some(e) = &entry {
            println!("\n{}", s(&e["explanation"]));
            for sug in e["suggestions"].as_array().into_iter().flatten() {
                println!("  - {}", s(sug));
            }
        }
        if let Some(sg) = &suggestions {
            println!("\nranked recoveries (aos recovery suggest --failure ID):");
            for x in sg["suggestions"].as_array().into_iter().flatten() {
                println!(
                    "  {:<18} confidence {:.0}% (mean {:.0}%)  {}",
                    s(&x["action"]),
                    x["confidence"]["lower"].as_f64().unwrap_or(0.0) * 100.0,
                    x["confidence"]["mean"].as_f64().unwrap_or(0.0) * 100.0,
                    s(&x["explanation"])
                );
            }
        }
    });
    Ok(())
}
