//! Rerun and redrive on the serverless side, over DynamoDB and SQS on moto: a run driven through
//! the api-runs, orchestrator and skill handlers fails; `POST /api/v1/runs/{id}/redrive` through
//! the api-runs function copies the succeeded step's attempt into the new run (conditional puts in
//! the run's partition, before the run item) and restarts the failed step patched — the skill
//! queue sees only the restarted step's task — and the redriven run replays with parity. The same
//! idempotency key answers the same run; another tenant's id is not found; a rerun starts over.

#![cfg(feature = "api")]

mod support;

use aos_lambda::api;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::service::SubmitRun;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

const JQ: &str = "json_transform";

/// An API Gateway event for `POST path` with `body`, as the api-runs function receives it.
fn post_event(key: &str, route: &str, path: &str, body: &Value) -> String {
    let mut e: Value = serde_json::from_str(&event_text("api-runs-submit.json")).expect("the sample event");
    e["rawPath"] = json!(path);
    e["routeKey"] = json!(format!("ANY {route}"));
    e["requestContext"]["routeKey"] = json!(format!("ANY {route}"));
    e["requestContext"]["http"]["path"] = json!(path);
    e["headers"]["authorization"] = json!(format!("Bearer {key}"));
    e["headers"].as_object_mut().expect("headers").remove("content-length");
    e["body"] = json!(body.to_string());
    e.to_string()
}

/// Drives the run to its end through the handlers; returns its view and how many skill tasks ran.
async fn drive(stack: &Stack, run_id: &str) -> (Value, usize) {
    let start = Instant::now();
    let mut tasks = 0;
    loop {
        let view = serde_json::to_value(stack.rt.get(TENANT, run_id).await.expect("the run")).expect("JSON");
        if ["succeeded", "failed", "cancelled"].contains(&view["status"].as_str().unwrap_or_default()) {
            return (view, tasks);
        }
        assert!(start.elapsed() < Duration::from_secs(90), "run {run_id} did not finish: {view}");
        stack.pump(ORCHESTRATOR_QUEUE).await;
        tasks += stack.pump(&skill_queue(JQ)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_through_the_functions_keeps_the_succeeded_step_and_restarts_the_failed_one() {
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    // Timeouts longer than the orchestrator runs pure steps inline with: every attempt goes
    // through the skill's queue, where the test counts them.
    let plan = json!({"name": "redrive-lambda", "steps": [
        {"id": "a", "skill": JQ, "timeout_ms": 10_000, "input": {"data": 20, "expr": ". + 1"}},
        {"id": "b", "skill": JQ, "timeout_ms": 10_000, "depends_on": ["a"], "retry": {"max_attempts": 1},
         "input": {"data": "{{ steps.a.output }}", "expr": "error(\"boom\")"}}
    ]});
    let req = SubmitRun { plan: Some(serde_json::from_value(plan).expect("a plan")), ..Default::default() };
    let original = stack.rt.submit(TENANT, req).await.expect("submitted").run_id;
    let (failed, tasks) = drive(&stack, &original).await;
    assert_eq!((failed["status"].as_str(), tasks), (Some("failed"), 2), "{failed}");

    let runs = || api::app(stack.rt.clone(), group("api-runs")).expect("app");
    let route = "/api/v1/runs/{id}/redrive";
    let body = json!({"patch": {"b": {"input": {"data": "{{ steps.a.output }}", "expr": ". * 2"}}}, "idempotency_key": "lambda-1"});
    let (status, created) = invoke_api(runs(), &post_event(&key, route, &format!("/api/v1/runs/{original}/redrive"), &body)).await;
    assert_eq!(status, 201, "{created}");
    let new_id = created["run_id"].as_str().expect("run_id").to_string();
    assert_eq!((created["redrive_of"].as_str(), created["seeded_steps"].clone()), (Some(original.as_str()), json!(["a"])));
    let (done, tasks) = drive(&stack, &new_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(tasks, 1, "only the restarted step was dispatched");
    let details = done["step_details"].as_array().expect("steps");
    assert_eq!(details[0]["attempts"][0]["seeded_from"], json!(original));
    assert_eq!(details[1]["output"], json!(42));
    let report = stack.rt.replay(TENANT, &new_id).await.expect("replay");
    assert!(report.parity && report.seeded == 1, "{report:?}");

    // The same key: the same run, nothing written again; a succeeded run: 409.
    let (status, again) = invoke_api(runs(), &post_event(&key, route, &format!("/api/v1/runs/{original}/redrive"), &body)).await;
    assert_eq!((status, again["run_id"].as_str()), (200, Some(new_id.as_str())), "{again}");
    let (status, e) = invoke_api(runs(), &post_event(&key, route, &format!("/api/v1/runs/{new_id}/redrive"), &json!({}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("RUN_SUCCEEDED")), "{e}");
    // Another tenant does not find the run.
    let (other_key, _) = stack.rt.keys().create("another", aos_runtime::auth::Role::Admin).await.expect("a key");
    let (status, _) = invoke_api(runs(), &post_event(&other_key, route, &format!("/api/v1/runs/{original}/redrive"), &json!({}))).await;
    assert_eq!(status, 404);

    // A rerun starts over: both steps run again.
    let route = "/api/v1/runs/{id}/rerun";
    let (status, rerun) = invoke_api(runs(), &post_event(&key, route, &format!("/api/v1/runs/{original}/rerun"), &json!({}))).await;
    assert_eq!((status, rerun["rerun_of"].as_str()), (201, Some(original.as_str())), "{rerun}");
    let (rerun, tasks) = drive(&stack, rerun["run_id"].as_str().expect("run_id")).await;
    assert_eq!((rerun["status"].as_str(), tasks), (Some("failed"), 2));
}
