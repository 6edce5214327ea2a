//! Every plan in `examples/` runs to success against a real `aos serve`, driven through the `aos`
//! CLI the way a person would, with local stand-ins for the outside world.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Runs the `aos` CLI against `app` and returns (exit code, stdout).
fn aos(app: &App, args: &[&str]) -> (i32, String) {
    let out = Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .env("AOS_LOG", "error")
        .output()
        .expect("run aos");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        eprintln!("aos {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code().unwrap_or(-1), stdout)
}

fn submit_and_wait(app: &App, plan: &str, inputs: &Value) -> Value {
    let file = examples_dir().join(plan);
    let (code, out) = aos(app, &["--json", "runs", "submit", file.to_str().unwrap(), "--inputs", &inputs.to_string(), "--wait"]);
    assert_eq!(code, 0, "{plan}: {out}");
    serde_json::from_str(&out).expect("--json prints the run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_plan_succeeds_through_the_cli() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let dir = examples_dir();

    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("hello-transform.inputs.json")).unwrap()).unwrap();
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        let inputs = inputs.clone();
        move || {
            let app = App::detached(app_base, key);
            submit_and_wait(&app, "hello-transform.json", &inputs)
        }
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(step(&run, "summary")["output"], json!({"orders": 3, "revenue": 151.5, "top": "B-7"}));

    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("triage-with-fallback.inputs.json")).unwrap()).unwrap();
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        move || submit_and_wait(&App::detached(app_base, key), "triage-with-fallback.json", &inputs)
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    let strict = step(&run, "strict_score");
    assert_eq!(strict["fallback"], true);
    assert_eq!(strict["output"], json!(50));
    assert_eq!(step(&run, "page")["output"], json!("page on-call for T-1042 (score 50)"));
    assert_eq!(step(&run, "queue")["status"], "skipped");

    // The 5-step plan with a parallel branch, against local stand-ins: the status endpoint fails
    // twice, so its retries show in the run.
    let inputs = json!({"price_url": format!("{}/price", target.base), "status_url": format!("{}/flaky/status/2", target.base)});
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        move || submit_and_wait(&App::detached(app_base, key), "btc-price.json", &inputs)
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(step(&run, "status")["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(step(&run, "message")["output"], json!("BTC = 43210.5 USD (2314 sats per dollar)"));
    let run_id = run["run_id"].as_str().unwrap().to_string();

    // The rest of the CLI, as a person would use it.
    let (app_base, key) = (app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let app = App::detached(app_base, key);
        let (code, out) = aos(&app, &["runs", "get", &run_id]);
        assert_eq!(code, 0);
        assert!(out.contains("status succeeded") && out.contains("message") && out.contains("trace root"), "{out}");
        let (code, out) = aos(&app, &["runs", "list"]);
        assert_eq!(code, 0);
        assert_eq!(out.lines().filter(|l| l.contains("succeeded")).count(), 3, "{out}");
        let (code, out) = aos(&app, &["--json", "runs", "list", "--status", "succeeded", "--limit", "2"]);
        assert_eq!(code, 0);
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(list["runs"].as_array().unwrap().len(), 2);
        assert!(list["next_cursor"].is_string());
        let (code, out) = aos(&app, &["replay", &run_id]);
        assert_eq!(code, 0);
        assert!(out.starts_with("parity: true"), "{out}");
        let (code, out) = aos(&app, &["simulate", examples_dir().join("btc-price.json").to_str().unwrap()]);
        assert_eq!(code, 0);
        assert!(out.contains("history") && out.contains("feasible: true"), "{out}");
        let (code, out) = aos(&app, &["skills", "list"]);
        assert_eq!(code, 0);
        assert!(out.contains("http_call") && out.contains("json_transform"), "{out}");
        let (code, out) = aos(&app, &["--json", "skills", "show", "http_call"]);
        assert_eq!(code, 0);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["id"], "http_call");
        let (code, _) = aos(&app, &["workflows", "create", "triage", examples_dir().join("triage-with-fallback.json").to_str().unwrap()]);
        assert_eq!(code, 0);
        let (code, out) = aos(&app, &["workflows", "list"]);
        assert!(code == 0 && out.contains("triage"), "{out}");
        let (code, out) = aos(
            &app,
            &["--json", "runs", "submit", "--workflow", "triage", "--inputs", r#"{"ticket":{"id":"T-9","labels":["sev1"]}}"#, "--wait"],
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["workflow"]["name"], "triage");
        // Errors are explained and exit non-zero.
        let (code, _) = aos(&app, &["runs", "get", "r_missing"]);
        assert_eq!(code, 1);
        let bad = std::env::temp_dir().join(format!("aos-bad-plan-{}.json", std::process::id()));
        std::fs::write(&bad, r#"{"name":"x","steps":[{"id":"a","skill":"nope"}]}"#).unwrap();
        let out = Command::new(aos_bin())
            .args(["runs", "submit", bad.to_str().unwrap()])
            .env("AOS_URL", &app.base)
            .env("AOS_API_KEY", &app.key)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("PLAN_UNKNOWN_SKILL") && err.contains("steps[0].skill"), "{err}");
        let out =
            Command::new(aos_bin()).args(["skills", "list"]).env("AOS_URL", &app.base).env("AOS_API_KEY", "aos_bad_key").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("UNAUTHENTICATED"));
    })
    .await
    .unwrap();
}
