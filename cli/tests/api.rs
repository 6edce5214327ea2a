//! The HTTP API end to end against a real `aos serve`: every endpoint, success and bad input.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn transform_plan(n: usize) -> Value {
    let mut steps = vec![json!({"id": "s0", "skill": "json_transform", "input": {"data": "{{ inputs.x }}", "expr": ". + 1"}})];
    for i in 1..n {
        steps.push(json!({"id": format!("s{i}"), "skill": "json_transform", "depends_on": [format!("s{}", i - 1)],
            "input": {"data": format!("{{{{ steps.s{}.output }}}}", i - 1), "expr": ". * 2"}}));
    }
    json!({"name": "chain", "steps": steps})
}

#[tokio::test]
async fn health_openapi_and_auth() {
    let app = spawn_app().await;
    let (s, b) = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ok")));
    let (s, doc) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).expect("docs/openapi.json"),
    )
    .unwrap();
    assert!(doc == committed, "docs/openapi.json is stale: regenerate with `cargo run -p aos-cli -- openapi > docs/openapi.json`");

    for path in ["/api/v1/runs", "/api/v1/skills", "/api/v1/workflows", "/api/v1/secrets"] {
        let (s, b) = app.request(Method::GET, path, None, None).await;
        assert_eq!(s, 401, "{path} without a key");
        assert_eq!(b["error"]["code"], "UNAUTHENTICATED");
        let (s, _) = app.request(Method::GET, path, None, Some("aos_deadbeef_0000")).await;
        assert_eq!(s, 401, "{path} with a bad key");
    }
    let (s, b) = app.get("/api/v1/nope").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, b) = app.request(Method::DELETE, "/api/v1/skills", None, Some(&app.key)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")));
    // Every authenticated operation documents the errors it can give.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                assert!(path == "/healthz" || path == "/api/v1/openapi.json", "{method} {path} declares no security");
                continue;
            }
            for status in ["401", "403", "503"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} does not document {status}");
            }
        }
    }
}

#[tokio::test]
async fn skills_registry_describes_itself() {
    let app = spawn_app().await;
    let (s, b) = app.get("/api/v1/skills").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = b["skills"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    let mut every: Vec<&str> = aos_skills::BUILTINS.iter().map(|b| b.id).collect();
    every.sort();
    assert_eq!(ids, every, "every built-in skill, sorted by id");
    let (s, k) = app.get("/api/v1/skills/json_transform").await;
    assert_eq!(s, 200);
    assert_eq!(k["determinism"], "deterministic");
    assert_eq!(k["side_effects"], "none");
    assert!(k["input_schema"]["required"].as_array().unwrap().contains(&json!("expr")));
    assert!(!k["failure_modes"].as_array().unwrap().is_empty());
    let (s, k) = app.get("/api/v1/skills/http_call").await;
    assert_eq!((s, k["side_effects"].as_str()), (200, Some("write")));
    let (s, b) = app.get("/api/v1/skills/nope").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[tokio::test]
async fn a_run_executes_and_reads_back_with_its_whole_context() {
    let app = spawn_app().await;
    let id = app.submit(transform_plan(5), json!({"x": 1})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    // ((1+1)*2*2*2*2) = 32
    assert_eq!(step(&run, "s4")["output"], json!(32));
    let att = &step(&run, "s0")["attempts"][0];
    assert_eq!(att["outcome"], json!({"ok": true, "output": 2}));
    assert_eq!(att["input"], json!({"data": 1, "expr": ". + 1"}));
    assert_eq!(att["input_hash"].as_str().unwrap().len(), 64);
    assert!(run["trace_root"].as_str().unwrap().len() == 64);
    assert_eq!(run["trace"].as_array().unwrap().len(), 5);
    assert!(run["started_at_ms"].as_i64().unwrap() >= run["created_at_ms"].as_i64().unwrap());

    let (s, r) = app.post(&format!("/api/v1/runs/{id}/replay"), json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["parity"], true, "{r}");
    assert_eq!(r["reexecuted"], 5);
    assert_eq!(r["trace_root"], run["trace_root"]);

    let (s, b) = app.get("/api/v1/runs/r_doesnotexist").await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, _) = app.post("/api/v1/runs/r_doesnotexist/replay", json!({})).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_five_step_plan_runs_parallel_branches_and_retries() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let id = app.submit(five_step_plan(&target.base, "k1"), json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let flaky = step(&run, "flaky");
    assert_eq!(flaky["attempts"].as_array().unwrap().len(), 2, "the flaky call failed once and was retried: {flaky}");
    assert_eq!(flaky["attempts"][0]["outcome"]["error"]["code"], "HTTP_503");
    assert_eq!(step(&run, "message")["output"], json!("BTC is 43210.5 USD"));
    assert_eq!(step(&run, "combine")["output"]["calls"], json!(2));
    let (_, r) = app.post(&format!("/api/v1/runs/{id}/replay"), json!({})).await;
    assert_eq!(r["parity"], true, "{r}");
    assert_eq!(r["recorded"], 3, "http_call attempts are fed from the record, never repeated");
    assert_eq!(target.seen.lock().unwrap().flaky_calls["k1"], 2, "replay made no HTTP call");
}

#[tokio::test]
async fn invalid_plans_are_422_with_code_step_and_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"name": "p", "steps": [{"id": "a", "skill": "nope"}]}), "PLAN_UNKNOWN_SKILL", Some("a"), "steps[0].skill"),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "depends_on": ["b"], "input": {"data": 1, "expr": "."}}, {"id": "b", "skill": "json_transform", "depends_on": ["a"], "input": {"data": 1, "expr": "."}}]}),
            "PLAN_CYCLE",
            Some("a"),
            "steps",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": "{{ steps.b.output }}", "expr": "."}}, {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}),
            "PLAN_BAD_REFERENCE",
            Some("a"),
            "steps[0].input.data",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": "{{ steps.zz.output }}", "expr": "."}}]}),
            "PLAN_BAD_REFERENCE",
            Some("a"),
            "steps[0].input.data",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "input": {"url": "http://x", "headers": {"authorization": "{{ secrets.MISSING }}"}}}]}),
            "PLAN_UNKNOWN_SECRET",
            Some("a"),
            "steps[0].input.headers.authorization",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1}}]}),
            "PLAN_INPUT_SCHEMA",
            Some("a"),
            "steps[0].input",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "input": {"url": 5}}]}),
            "PLAN_INPUT_SCHEMA",
            Some("a"),
            "steps[0].input.url",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}, {"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}),
            "PLAN_DUPLICATE_STEP",
            Some("a"),
            "steps[1].id",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "condition": "][", "input": {"data": 1, "expr": "."}}]}),
            "PLAN_INVALID_CONDITION",
            Some("a"),
            "steps[0].condition",
        ),
        (
            json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "retry": {"max_attempts": 0}, "input": {"data": 1, "expr": "."}}]}),
            "PLAN_INVALID_RETRY",
            Some("a"),
            "steps[0].retry.max_attempts",
        ),
        (json!({"name": "p", "steps": []}), "PLAN_INVALID", None, "steps"),
    ];
    for (plan, code, step_id, field) in cases {
        let (s, b) = app.post("/api/v1/runs", json!({"plan": plan})).await;
        assert_eq!(s, 422, "{code}: {b}");
        assert_eq!(b["error"]["code"], code, "{b}");
        assert_eq!(b["error"]["details"]["step_id"].as_str(), step_id, "{b}");
        assert_eq!(b["error"]["details"]["field"], field, "{b}");
        assert!(!b["error"]["message"].as_str().unwrap().is_empty());
    }
    // Malformed JSON, wrong shapes and unknown fields.
    let resp = app
        .http
        .post(app.url("/api/v1/runs"))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["error"]["code"], "INVALID_JSON");
    let (s, b) = app
        .post("/api/v1/runs", json!({"plan": {"name": "p", "steps": [{"id": "a", "skill": "json_transform", "depends_on": "x"}]}}))
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_FIELD")));
    assert_eq!(b["error"]["details"]["field"], "plan.steps[0].depends_on");
    let (s, b) = app.post("/api/v1/runs", json!({"plan": {"name": "p", "steps": []}, "bogus": 1})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_FIELD")), "{b}");
    let (s, b) = app.post("/api/v1/runs", json!({})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("RUN_PLAN_REQUIRED")));
    let resp = app.http.post(app.url("/api/v1/runs")).bearer_auth(&app.key).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 415);
    // Just over the 1 MiB limit, small enough to sit in the socket buffer: the server may answer
    // 413 and close before reading the body, and the client must still see the answer. A reset
    // is retried (that race belongs to HTTP/1.1, not to AOS).
    let big = "x".repeat(1024 * 1024 + 1024);
    let body = json!({"plan": {"name": big, "steps": []}}).to_string();
    let mut answer = None;
    for _ in 0..5 {
        let sent = app
            .http
            .post(app.url("/api/v1/runs"))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if let Ok(resp) = sent {
            let status = resp.status().as_u16();
            answer = Some((status, resp.json::<Value>().await.unwrap_or_default()));
            break;
        }
    }
    let (s, b) = answer.expect("an answer to an oversized body");
    assert_eq!((s, b["error"]["code"].as_str()), (413, Some("BODY_TOO_LARGE")));
    // Inputs against the plan's input schema.
    let plan = json!({"name": "p", "input_schema": {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}},
        "steps": [{"id": "a", "skill": "json_transform", "input": {"data": "{{ inputs.x }}", "expr": "."}}]});
    let (s, b) = app.post("/api/v1/runs", json!({"plan": plan, "inputs": {"x": "no"}})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["details"]["field"].as_str()),
        (422, Some("RUN_INVALID_INPUTS"), Some("inputs.x")),
        "{b}"
    );
    let (s, b) = app.post("/api/v1/runs", json!({"plan": plan, "inputs": {"x": 1}, "seed": 9007199254740993u64})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_SEED")));
}

#[tokio::test]
async fn idempotency_keys_return_the_same_run() {
    let app = spawn_app().await;
    let body = json!({"plan": transform_plan(1), "inputs": {"x": 1}, "idempotency_key": "order-42"});
    let (s1, a) = app.post("/api/v1/runs", body.clone()).await;
    let (s2, b) = app.post("/api/v1/runs", body).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a["run_id"], b["run_id"]);
    assert_eq!((a["created"].as_bool(), b["created"].as_bool()), (Some(true), Some(false)));
    let (_, list) = app.get("/api/v1/runs").await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 1, "one run, not two");
}

#[tokio::test]
async fn listing_filters_and_paginates() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.submit(transform_plan(1), json!({"x": i})).await);
    }
    let bad = app
        .submit(
            json!({"name": "bad", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "error(\"boom\")"}}]}),
            json!({}),
        )
        .await;
    for id in ids.iter().chain([&bad]) {
        app.wait_run(id, WAIT).await;
    }
    let (s, page1) = app.get("/api/v1/runs?limit=4").await;
    assert_eq!(s, 200);
    assert_eq!(page1["runs"].as_array().unwrap().len(), 4);
    let cursor = page1["next_cursor"].as_str().expect("a second page");
    let (_, page2) = app.get(&format!("/api/v1/runs?limit=4&cursor={cursor}")).await;
    assert_eq!(page2["runs"].as_array().unwrap().len(), 2);
    assert!(page2.get("next_cursor").is_none());
    let all: Vec<&str> =
        page1["runs"].as_array().unwrap().iter().chain(page2["runs"].as_array().unwrap()).map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0], bad, "newest first");
    let (_, failed) = app.get("/api/v1/runs?status=failed").await;
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
    assert_eq!(failed["runs"][0]["error_code"], "JQ_RUNTIME_ERROR");
    let (_, none) = app.get("/api/v1/runs?created_after=9999999999999").await;
    assert!(none["runs"].as_array().unwrap().is_empty());
    for bad_q in ["limit=0", "limit=abc", "status=weird", "cursor=%%%", "unknown=1", "created_after=99999999999999", "created_before=-1"] {
        let (s, b) = app.get(&format!("/api/v1/runs?{bad_q}")).await;
        assert!(s == 400 || s == 422, "{bad_q}: {s} {b}");
        assert!(b["error"]["code"].is_string(), "{bad_q}: {b}");
    }
}

#[tokio::test]
async fn secrets_reach_the_skill_but_never_the_record() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let secret = "tok-7f3a9c2e5b";
    let (s, _) = app.request(Method::PUT, "/api/v1/secrets/API_TOKEN", Some(json!({"value": secret})), Some(&app.key)).await;
    assert_eq!(s, 204);
    let (s, names) = app.get("/api/v1/secrets").await;
    assert_eq!((s, names["names"].clone()), (200, json!(["API_TOKEN"])));
    let (s, b) = app.request(Method::PUT, "/api/v1/secrets/bad%20name", Some(json!({"value": "x"})), Some(&app.key)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_SECRET_NAME")));
    let plan = json!({"name": "s", "steps": [{"id": "post", "skill": "http_call", "input": {
        "method": "POST", "url": format!("{}/sink", target.base),
        "headers": {"authorization": "Bearer {{ secrets.API_TOKEN }}"}, "body": {"hello": "world", "echo": "{{ secrets.API_TOKEN }}"}}}]});
    let id = app.submit(plan, json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let seen = target.seen.lock().unwrap();
        assert_eq!(seen.auth_headers, vec![format!("Bearer {secret}")]);
        assert_eq!(seen.requests[0].2["echo"], secret);
        assert_eq!(seen.idempotency_keys, vec![format!("{id}/post/1")]);
    }
    let text = serde_json::to_string(&run).unwrap();
    assert!(!text.contains(secret), "the secret leaked into the run record");
    assert!(text.contains("{{ secrets.API_TOKEN }}"));
}

#[tokio::test]
async fn private_and_metadata_addresses_are_blocked() {
    let app = spawn_app().await;
    let plan = json!({"name": "ssrf", "steps": [{"id": "meta", "skill": "http_call", "input": {"url": "http://169.254.169.254/latest/meta-data/"}, "on_error": {"action": "continue"}},
        {"id": "private", "skill": "http_call", "input": {"url": "http://10.0.0.1/"}, "on_error": {"action": "continue"}}]});
    let id = app.submit(plan, json!({})).await;
    let run = app.wait_run(&id, WAIT).await;
    for s in ["meta", "private"] {
        let err = &step(&run, s)["attempts"][0]["outcome"]["error"];
        assert_eq!(err["code"], "HTTP_BLOCKED_ADDRESS", "{run}");
        assert_eq!(err["category"], "SECURITY");
        assert_eq!(step(&run, s)["attempts"].as_array().unwrap().len(), 1, "security failures are not retried");
    }
}

#[tokio::test]
async fn cancel_stops_a_running_run() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let plan = json!({"name": "slow", "steps": [{"id": "wait", "skill": "http_call", "input": {"url": format!("{}/slow/3000", target.base)}},
        {"id": "after", "skill": "json_transform", "depends_on": ["wait"], "input": {"data": 1, "expr": "."}}]});
    let id = app.submit(plan, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, b) = app.post(&format!("/api/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("cancelled")), "{b}");
    let run = app.wait_run(&id, WAIT).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["error"]["code"], "RUN_CANCELLED");
    assert_eq!(step(&run, "after")["status"], "cancelled");
    let (s, b) = app.post(&format!("/api/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("RUN_ALREADY_FINISHED")));
}

#[tokio::test]
async fn step_timeouts_and_budgets_become_outcomes() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let plan = json!({"name": "t", "steps": [{"id": "slow", "skill": "http_call", "timeout_ms": 200, "retry": {"max_attempts": 1}, "input": {"url": format!("{}/slow/2000", target.base)}}]});
    let run = app.wait_run(&app.submit(plan, json!({})).await, WAIT).await;
    assert_eq!(run["status"], "failed");
    let code = run["error"]["code"].as_str().unwrap();
    assert!(code == "STEP_TIMEOUT" || code == "HTTP_TIMEOUT", "{run}");
    let plan = json!({"name": "b", "budget": {"max_duration_ms": 300}, "steps": [{"id": "slow", "skill": "http_call", "input": {"url": format!("{}/slow/5000", target.base)}}]});
    let run = app.wait_run(&app.submit(plan, json!({})).await, WAIT).await;
    assert_eq!(run["status"], "failed", "{run}");
    let code = run["error"]["code"].as_str().unwrap();
    assert!(["BUDGET_DURATION_EXCEEDED", "STEP_TIMEOUT", "HTTP_TIMEOUT"].contains(&code), "{run}");
}

#[tokio::test]
async fn simulation_uses_the_cost_model_then_history() {
    let app = spawn_app().await;
    let plan = transform_plan(3);
    let (s, sim) = app.post("/api/v1/simulate", json!({"plan": plan})).await;
    assert_eq!(s, 200, "{sim}");
    assert_eq!(sim["steps"][0]["source"], "cost_model");
    assert_eq!(sim["feasible"], true);
    for i in 0..3 {
        let id = app.submit(transform_plan(3), json!({"x": i})).await;
        app.wait_run(&id, WAIT).await;
    }
    let (_, sim) = app.post("/api/v1/simulate", json!({"plan": plan})).await;
    assert_eq!(sim["steps"][0]["source"], "history");
    assert_eq!(sim["steps"][0]["samples"], 9);
    assert_eq!(sim["steps"][0]["risk"], 0.0);
    let mut tight = plan.clone();
    tight["budget"] = json!({"max_cost_usd": 0.0});
    let (_, sim) = app.post("/api/v1/simulate", json!({"plan": tight})).await;
    assert_eq!(sim["feasible"], false);
    assert!(sim["reasons"][0].as_str().unwrap().contains("exceeds the budget"), "{sim}");
    let (s, b) = app.post("/api/v1/simulate", json!({"plan": {"name": "x", "steps": [{"id": "a", "skill": "nope"}]}})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("PLAN_UNKNOWN_SKILL")));
}

#[tokio::test]
async fn workflows_are_versioned_and_runnable() {
    let app = spawn_app().await;
    let (s, v1) = app.post("/api/v1/workflows", json!({"name": "chain", "plan": transform_plan(1)})).await;
    assert_eq!((s, v1["version"].as_u64()), (201, Some(1)), "{v1}");
    let (_, v2) = app.post("/api/v1/workflows", json!({"name": "chain", "plan": transform_plan(2)})).await;
    assert_eq!(v2["version"], 2);
    let (_, latest) = app.get("/api/v1/workflows/chain").await;
    assert_eq!(latest["version"], 2);
    let (_, first) = app.get("/api/v1/workflows/chain?version=1").await;
    assert_eq!(first["plan"]["steps"].as_array().unwrap().len(), 1, "versions are immutable");
    let (_, list) = app.get("/api/v1/workflows").await;
    assert_eq!(list["workflows"].as_array().unwrap().len(), 2);
    let (s, r) = app.post("/api/v1/runs", json!({"workflow": "chain", "version": 1, "inputs": {"x": 4}})).await;
    assert_eq!(s, 202, "{r}");
    let run = app.wait_run(r["run_id"].as_str().unwrap(), WAIT).await;
    assert_eq!(run["workflow"], json!({"name": "chain", "version": 1}));
    assert_eq!(step(&run, "s0")["output"], json!(5));
    let (s, b) = app.get("/api/v1/workflows/missing").await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = app.post("/api/v1/runs", json!({"workflow": "missing"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("WORKFLOW_NOT_FOUND")));
    let (s, b) = app.post("/api/v1/workflows", json!({"name": "bad name!", "plan": transform_plan(1)})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("INVALID_WORKFLOW_NAME")));
    let (s, b) = app.post("/api/v1/workflows", json!({"name": "w", "plan": {"name": "p", "steps": [{"id": "a", "skill": "nope"}]}})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("PLAN_UNKNOWN_SKILL")));
}

#[tokio::test]
async fn another_tenant_sees_nothing() {
    let app = spawn_app().await;
    let other = app.other_tenant_key();
    let id = app.submit(transform_plan(1), json!({"x": 1})).await;
    app.wait_run(&id, WAIT).await;
    app.post("/api/v1/workflows", json!({"name": "mine", "plan": transform_plan(1)})).await;
    app.request(Method::PUT, "/api/v1/secrets/MINE", Some(json!({"value": "v"})), Some(&app.key)).await;
    let get = |path: String| {
        let other = other.clone();
        let app = &app;
        async move { app.request(Method::GET, &path, None, Some(&other)).await }
    };
    assert_eq!(get(format!("/api/v1/runs/{id}")).await.0, 404);
    assert_eq!(app.request(Method::POST, &format!("/api/v1/runs/{id}/replay"), Some(json!({})), Some(&other)).await.0, 404);
    assert_eq!(app.request(Method::POST, &format!("/api/v1/runs/{id}/cancel"), Some(json!({})), Some(&other)).await.0, 404);
    assert!(get("/api/v1/runs".into()).await.1["runs"].as_array().unwrap().is_empty());
    assert_eq!(get("/api/v1/workflows/mine".into()).await.0, 404);
    assert!(get("/api/v1/workflows".into()).await.1["workflows"].as_array().unwrap().is_empty());
    assert_eq!(get("/api/v1/secrets".into()).await.1["names"], json!([]));
    // The other tenant cannot use this tenant's secret or workflow either.
    let (s, b) = app.request(Method::POST, "/api/v1/runs", Some(json!({"workflow": "mine"})), Some(&other)).await;
    assert_eq!(s, 422, "{b}");
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "http_call", "input": {"url": "http://127.0.0.1:1/", "headers": {"x": "{{ secrets.MINE }}"}}}]});
    let (s, b) = app.request(Method::POST, "/api/v1/runs", Some(json!({"plan": plan})), Some(&other)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("PLAN_UNKNOWN_SECRET")));
}

#[tokio::test]
async fn one_server_per_data_dir_and_the_dir_is_private() {
    let app = spawn_app().await;
    let out = std::process::Command::new(aos_bin()).args(["serve", "--port", "0", "--data-dir"]).arg(&app.data_dir).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another `aos serve` is using"), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&app.data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(app.data_dir.join("admin.key")).unwrap().permissions().mode() & 0o777, 0o600);
}
