//! Durability: `kill -9` of `aos serve` in the middle of load loses no accepted run; after a restart
//! every run finishes, and no side effect happens twice.

mod common;
use common::*;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_load_loses_nothing_and_repeats_no_side_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let target = spawn_target().await;
    let mut app = spawn_app_in(&dir, &[]).await;
    let plan = |i: usize| {
        json!({"name": "crash", "steps": [
            {"id": "compute", "skill": "json_transform", "input": {"data": i, "expr": ". + 1000"}},
            {"id": "notify", "skill": "http_call", "depends_on": ["compute"],
             "input": {"method": "POST", "url": format!("{}/sink", target.base), "body": {"n": "{{ steps.compute.output }}"}}},
            {"id": "slow", "skill": "http_call", "depends_on": ["compute"], "input": {"url": format!("{}/slow/50", target.base)}},
            {"id": "done", "skill": "json_transform", "depends_on": ["notify", "slow"], "input": {"data": "{{ steps.notify.output.status }}", "expr": "."}}
        ]})
    };

    // A first wave is accepted and starts executing; a second wave is in flight when the server
    // is killed (some of it is accepted, some is not — only accepted runs must survive).
    let client = reqwest::Client::new();
    let submit = |i: usize, base: String, key: String| {
        let req =
            client.post(format!("{base}/api/v1/runs")).bearer_auth(key).json(&json!({"plan": plan(i), "idempotency_key": format!("k{i}")}));
        tokio::spawn(async move {
            match req.send().await {
                Ok(resp) if resp.status() == 202 => {
                    resp.json::<serde_json::Value>().await.ok().and_then(|b| b["run_id"].as_str().map(str::to_string))
                }
                _ => None,
            }
        })
    };
    let mut accepted = Vec::new();
    let first: Vec<_> = (0..40).map(|i| submit(i, app.base.clone(), app.key.clone())).collect();
    for f in first {
        accepted.push(f.await.unwrap().expect("first-wave submissions are accepted"));
    }
    let second: Vec<_> = (40..80).map(|i| submit(i, app.base.clone(), app.key.clone())).collect();
    tokio::time::sleep(Duration::from_millis(40)).await;
    app.kill9();
    let killed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for f in second {
        if let Some(id) = f.await.unwrap() {
            accepted.push(id);
        }
    }
    assert!(accepted.len() >= 20, "enough runs were accepted before the kill: {}", accepted.len());

    let app = spawn_app_in(&dir, &[]).await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut resumed = 0;
    for id in &accepted {
        let run = app.wait_run(id, Duration::from_secs(90)).await;
        if run["finished_at_ms"].as_i64().unwrap() > killed_at {
            resumed += 1;
        }
        let status = run["status"].as_str().unwrap().to_string();
        if status != "succeeded" {
            // The only acceptable failure: a side-effecting attempt cut off by the kill, which is
            // deliberately not repeated.
            assert_eq!(run["error"]["code"], "STEP_INTERRUPTED", "{run}");
            assert_eq!(step(&run, "notify")["status"], "failed", "only the POST may be interrupted: {run}");
        }
        *statuses.entry(status).or_default() += 1;
    }
    let seen = target.seen.lock().unwrap();
    let mut per_run: HashMap<String, usize> = HashMap::new();
    for k in &seen.idempotency_keys {
        *per_run.entry(k.split('/').next().unwrap().to_string()).or_default() += 1;
    }
    for (run, n) in &per_run {
        assert_eq!(*n, 1, "run {run} notified {n} times");
    }
    assert!(statuses.get("succeeded").copied().unwrap_or(0) > 0, "{statuses:?}");
    eprintln!("accepted {} runs before the kill; {resumed} finished after the restart: {statuses:?}", accepted.len());
    assert!(resumed > 0, "the kill hit runs in flight, and they resumed after the restart");
}
