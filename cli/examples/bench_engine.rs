//! Engine-overhead benchmark: a 5-step plan of json_transform steps submitted through the HTTP API
//! and awaited (long polling) at several concurrency levels. Reports runs/s and end-to-end latency
//! percentiles. Run by `tests/bench/engine.sh`, which starts a fresh `aos serve` (fsync on commit).
//!
//! usage: bench_engine URL KEY SECONDS CONCURRENCY...

use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn plan() -> Value {
    json!({"name": "bench-5", "steps": [
        {"id": "a", "skill": "json_transform", "input": {"data": {"items": [1, 2, 3, 4, 5], "n": "{{ inputs.n }}"}, "expr": ".items | map(. * 2)"}},
        {"id": "b", "skill": "json_transform", "depends_on": ["a"], "input": {"data": "{{ steps.a.output }}", "expr": "add"}},
        {"id": "c", "skill": "json_transform", "depends_on": ["b"], "input": {"data": "{{ steps.b.output }}", "expr": ". + 1"}},
        {"id": "d", "skill": "json_transform", "depends_on": ["c"], "input": {"data": {"v": "{{ steps.c.output }}"}, "expr": "{total: .v}"}},
        {"id": "e", "skill": "json_transform", "depends_on": ["d"], "input": {"data": "{{ steps.d.output }}", "expr": ".total | tostring"}}
    ]})
}

async fn one_run(http: &reqwest::Client, url: &str, key: &str, n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    let resp = http
        .post(format!("{url}/api/v1/runs"))
        .bearer_auth(key)
        .json(&json!({"plan": plan(), "inputs": {"n": n}}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 202 {
        return Err(format!("submit: {}", resp.status()));
    }
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    let id = body["run_id"].as_str().ok_or("no run_id")?.to_string();
    loop {
        let run: Value = http
            .get(format!("{url}/api/v1/runs/{id}?wait_ms=30000"))
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match run["status"].as_str() {
            Some("succeeded") => return Ok(start.elapsed()),
            Some("failed") | Some("cancelled") => return Err(format!("run {id} {}", run["status"])),
            _ => continue,
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: bench_engine URL KEY SECONDS CONCURRENCY...");
        std::process::exit(2);
    }
    let (url, key) = (args[1].clone(), args[2].clone());
    let secs: u64 = args[3].parse().expect("SECONDS");
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    println!("| concurrency | runs | runs/s | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|");
    for c in args[4..].iter().map(|c| c.parse::<usize>().expect("CONCURRENCY")) {
        // Warm up connections and caches for a second.
        let warm = Instant::now() + Duration::from_secs(1);
        while Instant::now() < warm {
            one_run(&http, &url, &key, 0).await.expect("warm-up run");
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = (0..c)
            .map(|w| {
                let (http, url, key) = (http.clone(), url.clone(), key.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut n = w as u64 * 1_000_000;
                    while Instant::now() < deadline {
                        n += 1;
                        lat.push(one_run(&http, &url, &key, n).await.expect("run"));
                    }
                    lat
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        println!("| {c} | {} | {:.0} | {:.2} | {:.2} |", all.len(), all.len() as f64 / elapsed, pct(&all, 0.5), pct(&all, 0.99));
    }
}
