//! Rerun and redrive against a real server: a redriven run keeps the succeeded steps' recorded
//! attempts — their side effects (a POST to a local counter) happen once across the original and
//! the redrive — restarts the failed step with a patch that makes it succeed, replays with parity,
//! and never holds a secret value; a rerun executes everything again; a cancelled run is redriven
//! from where it stopped. The refusals: a run still running or one that succeeded (409 with a
//! code), a patch of an unknown step, of a kept step or of an unknown field (422 naming the field),
//! another tenant's run (404). And the CLI's `aos runs rerun`, `aos runs redrive --patch FILE` and
//! `aos replay` of the redriven run.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "s3cr3t-redrive-value-0042";

/// `notify` POSTs to the counter (with a secret), `side` is pure, `fetch` fails for good (404)
/// after both, `fmt` needs `fetch` (and is cancelled when the run fails).
fn plan(target: &str) -> Value {
    json!({"name": "redrive-test", "steps": [
        {"id": "notify", "skill": "http_call", "input": {"method": "POST", "url": format!("{target}/sink"),
            "headers": {"authorization": "Bearer {{ secrets.REDRIVE_TOKEN }}"}, "body": {"n": "{{ inputs.n }}"}}},
        {"id": "side", "skill": "json_transform", "input": {"data": {"n": "{{ inputs.n }}"}, "expr": ".n * 2"}},
        {"id": "fetch", "skill": "http_call", "depends_on": ["notify", "side"], "retry": {"max_attempts": 1},
            "input": {"url": format!("{target}/status/404")}},
        {"id": "fmt", "skill": "json_transform", "depends_on": ["fetch", "side"],
            "input": {"data": {"usd": "{{ steps.fetch.output.body.bitcoin.usd }}", "d": "{{ steps.side.output }}"}, "expr": "\"\\(.usd) \\(.d)\""}}
    ]})
}

fn sink_calls(target: &aos_testkit::Target) -> usize {
    target.seen.lock().unwrap().requests.iter().filter(|(_, path, _)| path == "/sink").count()
}

async fn failed_original(app: &App, target: &aos_testkit::Target) -> (String, Value) {
    let (s, b) = app.request(Method::PUT, "/api/v1/secrets/REDRIVE_TOKEN", Some(json!({"value": SECRET})), Some(&app.key)).await;
    assert!(s == 200 || s == 201 || s == 204, "{s} {b}");
    let id = app.submit(plan(&target.base), json!({"n": 21})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(step(&run, "notify")["status"], "succeeded");
    assert_eq!(step(&run, "fetch")["status"], "failed");
    assert_eq!(step(&run, "side")["status"], "succeeded");
    assert_eq!(step(&run, "fmt")["status"], "cancelled");
    (id, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_keeps_what_succeeded_restarts_the_rest_patched_and_replays_with_parity() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let (id, original) = failed_original(&app, &target).await;
    assert_eq!(sink_calls(&target), 1);

    // Patch the failed step so it succeeds.
    let patch = json!({"fetch": {"input": {"url": format!("{}/price", target.base)}, "timeout_ms": 5000}});
    let body = json!({"patch": patch, "idempotency_key": "redrive-1"});
    let (s, created) = app.post(&format!("/api/v1/runs/{id}/redrive"), body.clone()).await;
    assert_eq!(s, 201, "{created}");
    let new_id = created["run_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(created["redrive_of"], json!(id));
    assert_eq!(created["seeded_steps"], json!(["notify", "side"]));
    assert_eq!(created["patched_steps"], json!(["fetch"]));
    assert_eq!(created["seed"], original["seed"], "a redrive keeps the seed");
    let run = app.wait_run(&new_id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(step(&run, "fmt")["output"], json!("43210.5 42"));

    // The kept step's side effect happened once across both runs; its attempt is the original's.
    assert_eq!(sink_calls(&target), 1, "the succeeded POST was not sent again");
    let notify = step(&run, "notify");
    let kept = &notify["attempts"][0];
    assert_eq!(kept["seeded_from"], json!(id));
    assert_eq!(kept["output_hash"], step(&original, "notify")["attempts"][0]["output_hash"]);
    assert_eq!(kept["input"]["headers"]["authorization"], "Bearer {{ secrets.REDRIVE_TOKEN }}");
    assert!(!run.to_string().contains(SECRET), "no secret value in the redriven run");
    // The restarted step ran anew, patched; the kept attempts cost nothing here.
    let fetch = step(&run, "fetch");
    assert_eq!((fetch["attempt"].as_u64(), fetch["attempts"][0]["seeded_from"].is_null()), (Some(1), true));
    assert_eq!(run["plan"]["steps"][2]["timeout_ms"], 5000);
    let own: f64 = run["step_details"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["attempts"].as_array().unwrap().iter())
        .filter(|a| a["seeded_from"].is_null())
        .map(|a| a["cost_usd"].as_f64().unwrap())
        .sum();
    assert!((run["cost_usd"].as_f64().unwrap() - own).abs() < 1e-12, "only the redrive's own attempts are its cost: {run}");
    // The trace starts with the kept attempts' entries, as the original recorded them.
    assert_eq!(run["trace"][0], original["trace"][0]);

    // Replay parity: the seeded attempts are fed their records, the rest re-executed or fed.
    let (s, report) = app.post(&format!("/api/v1/runs/{new_id}/replay"), json!({})).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["parity"], true, "{report}");
    assert_eq!(report["seeded"], 2, "{report}");
    assert_eq!(report["trace_root"], run["trace_root"]);
    let (_, report) = app.post(&format!("/api/v1/runs/{id}/replay"), json!({})).await;
    assert_eq!(report["parity"], true, "{report}");

    // Idempotency: the same key and request answer the same run (200); another request with it, 409.
    let (s, again) = app.post(&format!("/api/v1/runs/{id}/redrive"), body).await;
    assert_eq!((s, again["run_id"].as_str()), (200, Some(new_id.as_str())), "{again}");
    let (s, e) = app.post(&format!("/api/v1/runs/{id}/redrive"), json!({"idempotency_key": "redrive-1"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("IDEMPOTENCY_MISMATCH")), "{e}");
    assert_eq!(sink_calls(&target), 1);

    // A succeeded run cannot be redriven; a redrive with no body restarts the same failure.
    let (s, e) = app.post(&format!("/api/v1/runs/{new_id}/redrive"), json!({})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("RUN_SUCCEEDED")), "{e}");
    let resp = app.http.post(app.url(&format!("/api/v1/runs/{id}/redrive"))).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let plain: Value = resp.json().await.unwrap();
    let rerun = app.wait_run(plain["run_id"].as_str().unwrap(), WAIT).await;
    assert_eq!((rerun["status"].as_str(), step(&rerun, "fetch")["status"].as_str()), (Some("failed"), Some("failed")));
    assert_eq!(sink_calls(&target), 1);
    // The restarted step knows its earlier failure (evidence for what changed).
    assert!(rerun["previous_failures"]["fetch"].is_object(), "{rerun}");

    // A rerun executes everything again, linked to its original.
    let (s, r) = app.post(&format!("/api/v1/runs/{id}/rerun"), json!({"seed": 7})).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["rerun_of"].as_str(), r["seed"].as_u64()), (Some(id.as_str()), Some(7)));
    let r = app.wait_run(r["run_id"].as_str().unwrap(), WAIT).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(sink_calls(&target), 2, "a rerun runs the POST again");
    let (s, listed) = app.get(&format!("/api/v1/runs/{}", r["run_id"].as_str().unwrap())).await;
    assert_eq!((s, listed["rerun_of"].as_str()), (200, Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_their_code_and_field_and_other_tenants_see_nothing() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let (id, _) = failed_original(&app, &target).await;
    let redrive = |body: Value| {
        let path = format!("/api/v1/runs/{id}/redrive");
        let app = &app;
        async move { app.post(&path, body).await }
    };
    for (patch, code, field) in [
        (json!({"nope": {"timeout_ms": 1}}), "PATCH_UNKNOWN_STEP", "patch.nope"),
        (json!({"notify": {"timeout_ms": 1000}}), "PATCH_STEP_SUCCEEDED", "patch.notify"),
        (json!({"fetch": {"bogus": 1}}), "PATCH_UNKNOWN_FIELD", "patch.fetch.bogus"),
        (json!({"fetch": {"id": "x"}}), "PATCH_UNKNOWN_FIELD", "patch.fetch.id"),
        (json!({"fetch": {"timeout_ms": "soon"}}), "INVALID_FIELD", "patch.fetch"),
        (json!({"fetch": 5}), "INVALID_FIELD", "patch.fetch"),
        (json!({"fetch": {"skill": "no_such_skill"}}), "PLAN_UNKNOWN_SKILL", "steps[2].skill"),
        (json!({"fetch": {"depends_on": ["fmt"]}}), "PLAN_CYCLE", ""),
    ] {
        let (s, e) = redrive(json!({"patch": patch})).await;
        assert_eq!(s, 422, "{patch}: {e}");
        let mut codes = vec![e["error"]["code"].clone()];
        codes.extend(e["error"]["details"]["errors"].as_array().into_iter().flatten().map(|f| f["code"].clone()));
        assert!(codes.contains(&json!(code)), "{patch}: {e}");
        if !field.is_empty() {
            assert_eq!(e["error"]["details"]["field"], field, "{patch}: {e}");
        }
    }
    let (s, e) = redrive(json!({"patch": {"fetch": {"input": {"pad": "x".repeat(300 * 1024)}}}})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("PATCH_TOO_LARGE")), "{e}");
    let (s, e) = redrive(json!({"pach": {}})).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(sink_calls(&target), 1, "nothing refused ran anything");

    // A run still running cannot be redriven; once cancelled, it can: what succeeded is kept.
    let slow = json!({"name": "slow", "steps": [
        {"id": "prep", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}},
        {"id": "wait", "skill": "http_call", "depends_on": ["prep"], "input": {"url": format!("{}/slow/3000", target.base)}}]});
    let slow_id = app.submit(slow, json!({})).await;
    let (s, e) = app.post(&format!("/api/v1/runs/{slow_id}/redrive"), json!({})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("RUN_NOT_FINISHED")), "{e}");
    let start = std::time::Instant::now();
    while app.get(&format!("/api/v1/runs/{slow_id}")).await.1["steps"]["prep"]["status"] != "succeeded" {
        assert!(start.elapsed() < WAIT, "prep did not succeed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, c) = app.post(&format!("/api/v1/runs/{slow_id}/cancel"), json!({})).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("cancelled")), "{c}");
    let patch = json!({"patch": {"wait": {"input": {"url": format!("{}/price", target.base)}}}});
    let (s, r) = app.post(&format!("/api/v1/runs/{slow_id}/redrive"), patch).await;
    assert_eq!((s, r["seeded_steps"].clone()), (201, json!(["prep"])), "{r}");
    let done = app.wait_run(r["run_id"].as_str().unwrap(), WAIT).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // Another tenant's run does not exist for the caller; unknown ids neither.
    let other = app.other_tenant_key();
    for route in ["rerun", "redrive"] {
        let (s, e) = app.request(Method::POST, &format!("/api/v1/runs/{id}/{route}"), Some(json!({})), Some(&other)).await;
        assert_eq!((s, e["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{route}: {e}");
        let (s, _) = app.post(&format!("/api/v1/runs/r_nope/{route}"), json!({})).await;
        assert_eq!(s, 404);
        let (s, _) = app.request(Method::POST, &format!("/api/v1/runs/{id}/{route}"), Some(json!({})), None).await;
        assert_eq!(s, 401);
    }
    let (s, runs) = app.request(Method::GET, "/api/v1/runs", None, Some(&other)).await;
    assert_eq!((s, runs["runs"].as_array().map(Vec::len)), (200, Some(0)), "{runs}");
}

fn aos(app: &App, args: &[&str]) -> Output {
    Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .env("AOS_LOG", "error")
        .output()
        .expect("run aos")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reruns_and_redrives_with_a_patch_file() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let (id, _) = failed_original(&app, &target).await;
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("patch.json");
    std::fs::write(&patch, json!({"fetch": {"input": {"url": format!("{}/price", target.base)}}}).to_string()).unwrap();

    let out = aos(&app, &["runs", "redrive", &id, "--patch", patch.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("redrive of {id}")) && text.contains("kept (not run again): notify, side"), "{text}");
    assert!(text.contains("patched: fetch"), "{text}");
    let new_id = text.split_whitespace().next().unwrap().to_string();
    assert_eq!(app.wait_run(&new_id, WAIT).await["status"], "succeeded");
    assert_eq!(sink_calls(&target), 1);

    let out = aos(&app, &["replay", &new_id]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("parity: true"), "{text}");

    let out = aos(&app, &["--json", "runs", "rerun", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rerun: Value = serde_json::from_slice(&out.stdout).expect("--json prints the new run");
    assert_eq!(rerun["rerun_of"], json!(id));

    // A refusal is printed with its code and exits 1.
    let out = aos(&app, &["runs", "redrive", &new_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUN_SUCCEEDED"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&patch, "{not json").unwrap();
    let out = aos(&app, &["runs", "redrive", &id, "--patch", patch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}
