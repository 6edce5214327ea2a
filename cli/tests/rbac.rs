//! Access control against a real `aos serve`: every route of the OpenAPI document declares a
//! permission and enforces exactly the role matrix; another tenant's principal gets nothing from
//! any route; keys are created, used, rotated, revoked and audited; viewers get redacted runs;
//! rate limits answer 429 with their headers; and the server's log never holds a secret or key.

mod common;

use aos_api::auth::{allows, Permission};
use aos_runtime::auth::Role;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Every operation of the document: (method, path template, declared scopes, has a body).
fn operations(doc: &Value) -> Vec<(Method, String, Vec<String>, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (m, op) in item.as_object().expect("path item") {
            let Ok(method) = m.to_uppercase().parse::<Method>() else { continue };
            let scopes = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r["bearer"].as_array().cloned().unwrap_or_default())
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push((method, path.clone(), scopes, op.get("requestBody").is_some()));
        }
    }
    out
}

fn fill(path: &str, values: &BTreeMap<&str, String>) -> String {
    let mut p = path.to_string();
    for (name, v) in values {
        p = p.replace(&format!("{{{name}}}"), v);
    }
    assert!(!p.contains('{'), "no value for a parameter of {path}");
    p
}

async fn create_key(app: &App, admin: &str, role: &str, name: &str) -> (String, String) {
    let (s, b) = app.request(Method::POST, "/api/v1/keys", Some(json!({"name": name, "role": role})), Some(admin)).await;
    assert_eq!(s, 201, "{b}");
    (b["key"].as_str().unwrap().to_string(), b["record"]["key_id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn every_route_declares_a_permission_and_each_role_gets_exactly_the_matrix() {
    let app = spawn_app().await;
    let (s, doc) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let mut keys = BTreeMap::new();
    for role in Role::ALL {
        keys.insert(role, create_key(&app, &app.key, role.as_str(), &format!("matrix-{}", role.as_str())).await.0);
    }
    let dummies: BTreeMap<&str, String> = [("id", "run_missing"), ("name", "missing"), ("key_id", "00000000"), ("code", "HTTP_NOT_FOUND")]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "the document lists {} operations", ops.len());
    let mut checked = 0;
    for (method, path, scopes, has_body) in ops {
        let public = ["/healthz", "/api/v1/openapi.json"].contains(&path.as_str());
        if public {
            assert!(scopes.is_empty(), "{path} is public and declares no permission");
            continue;
        }
        // Deny by default: an authenticated route must name exactly one known permission.
        assert_eq!(scopes.len(), 1, "{method} {path} must declare exactly one permission scope, has {scopes:?}");
        let permission = Permission::from_scope(&scopes[0]).unwrap_or_else(|| panic!("{method} {path}: unknown scope {}", scopes[0]));
        let url = fill(&path, &dummies);
        let body = has_body.then(|| json!({}));
        let (s, b) = app.request(method.clone(), &url, body.clone(), None).await;
        assert_eq!((s, b["error"]["code"].as_str()), (401, Some("UNAUTHENTICATED")), "{method} {path} without a credential: {b}");
        let (s, _) = app.request(method.clone(), &url, body.clone(), Some("aos_0000_forged")).await;
        assert_eq!(s, 401, "{method} {path} with a forged key");
        for role in Role::ALL {
            let (s, b) = app.request(method.clone(), &url, body.clone(), Some(&keys[&role])).await;
            if allows(role, permission) {
                assert!(s != 401 && s != 403, "{method} {path} as {role:?} (holds {}): {s} {b}", permission.scope());
                assert!(s < 500, "{method} {path} as {role:?}: {s} {b}");
            } else {
                assert_eq!(
                    (s, b["error"]["code"].as_str()),
                    (403, Some("FORBIDDEN")),
                    "{method} {path} as {role:?} (lacks {}): {b}",
                    permission.scope()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 125, "{checked} route × role checks");
    // whoami reports each role with its permissions.
    for role in Role::ALL {
        let (s, me) = app.request(Method::GET, "/api/v1/whoami", None, Some(&keys[&role])).await;
        assert_eq!(
            (s, me["role"].as_str(), me["tenant"].as_str(), me["kind"].as_str()),
            (200, Some(role.as_str()), Some("dev"), Some("api_key"))
        );
        let perms: Vec<&str> = me["permissions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(perms, aos_api::auth::scopes_of(role));
    }
}

#[tokio::test]
async fn another_tenants_principal_gets_nothing_from_any_route() {
    let app = spawn_app().await;
    // Tenant `dev` owns a run, a failed run, a workflow, a secret and a key, with recognisable names.
    let plan: Value = serde_json::from_str(include_str!("../../examples/hello-transform.json")).unwrap();
    let run_id = app.submit(plan.clone(), json!({"orders": [{"sku": "sku-dev-only", "qty": 1, "price": 2}]})).await;
    app.wait_run(&run_id, WAIT).await;
    let failing = json!({"name": "fails-dev-only", "steps": [{"id": "boom", "skill": "json_transform", "input": {"data": 1, "expr": "error(\"dev-only-failure\")"}}]});
    let failed_id = app.submit(failing, json!({})).await;
    app.wait_run(&failed_id, WAIT).await;
    let (s, _) = app.post("/api/v1/workflows", json!({"name": "wf-dev-only", "plan": plan})).await;
    assert_eq!(s, 201);
    let (s, _) = app.request(Method::PUT, "/api/v1/secrets/SECRET_DEV_ONLY", Some(json!({"value": "v-dev-only"})), Some(&app.key)).await;
    assert_eq!(s, 204);
    let (_, key_id) = create_key(&app, &app.key, "developer", "key-dev-only").await;
    let owned = [
        run_id.as_str(),
        failed_id.as_str(),
        "wf-dev-only",
        "SECRET_DEV_ONLY",
        "v-dev-only",
        key_id.as_str(),
        "key-dev-only",
        "sku-dev-only",
        "dev-only-failure",
    ];

    let other = app.other_tenant_key();
    let (_, doc) = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    let targets: BTreeMap<&str, String> =
        [("id", run_id.clone()), ("name", "wf-dev-only".into()), ("key_id", key_id.clone()), ("code", "HTTP_NOT_FOUND".into())]
            .into_iter()
            .collect();
    let mut calls = 0;
    for (method, path, scopes, has_body) in operations(&doc) {
        if scopes.is_empty() {
            continue;
        }
        let mut urls = vec![fill(&path, &targets)];
        if path.contains("{id}") {
            urls.push(fill(&path, &[("id", failed_id.clone())].into_iter().collect()));
        }
        if path == "/api/v1/secrets/{name}" {
            urls = vec!["/api/v1/secrets/SECRET_DEV_ONLY".into()];
        }
        for url in urls {
            let body = has_body.then(|| json!({}));
            let (s, b) = app.request(method.clone(), &url, body, Some(&other)).await;
            let text = b.to_string();
            // A 404 may repeat the caller's own input; anything else of `dev`'s must not appear.
            for mark in owned.iter().filter(|m| !url.contains(**m)) {
                assert!(!text.contains(mark), "{method} {url} as tenant `other` shows `{mark}` of tenant `dev`: {s} {text}");
            }
            if path.contains('{') && !path.contains("{code}") && !(method == Method::PUT && path == "/api/v1/secrets/{name}") {
                assert!(s == 404 || s == 403 || s == 422, "{method} {url} as tenant `other` must not find `dev`'s resource: {s} {text}");
            } else {
                assert!(s < 500 && s != 401 && s != 403, "{method} {url} as `other`: {s} {text}");
            }
            calls += 1;
        }
    }
    assert!(calls >= 25, "{calls} calls");
    // Writing a secret of the same name in `other` changed nothing in `dev`.
    let (s, names) = app.get("/api/v1/secrets").await;
    assert_eq!((s, names["names"].clone()), (200, json!(["SECRET_DEV_ONLY"])));
    // And `dev`'s key is untouched by the other tenant's revoke and rotate attempts.
    let (_, keys) = app.get("/api/v1/keys").await;
    let k = keys["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == json!(key_id)).expect("dev's key").clone();
    assert!(k.get("revoked_at_ms").is_none(), "{k}");
}

#[tokio::test]
async fn keys_are_shown_once_used_rotated_revoked_and_every_change_is_audited() {
    let app = spawn_app().await;
    let (s, b) = app
        .request(Method::POST, "/api/v1/keys", Some(json!({"name": "ci", "role": "developer", "expires_in_days": 30})), Some(&app.key))
        .await;
    assert_eq!(s, 201, "{b}");
    let key = b["key"].as_str().unwrap().to_string();
    let key_id = b["record"]["key_id"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("aos_{key_id}_")) && key.len() > 50, "{key}");
    assert_eq!(b["record"]["prefix"], json!(format!("aos_{key_id}")));
    assert!(b["record"]["expires_at_ms"].as_i64().unwrap() > aos_runtime::runs::now_ms() + 29 * 86_400_000);
    // Bad input: 422 naming the field.
    for (body, field) in [
        (json!({"name": "x", "role": "root"}), "role"),
        (json!({"name": "", "role": "viewer"}), "name"),
        (json!({"name": "x", "role": "viewer", "expires_in_days": 0}), "expires_in_days"),
        (json!({"role": "viewer"}), "name"),
    ] {
        let (s, b) = app.request(Method::POST, "/api/v1/keys", Some(body.clone()), Some(&app.key)).await;
        assert_eq!(s, 422, "{body}: {b}");
        assert!(b.to_string().contains(field), "{body}: the error names `{field}`: {b}");
    }
    // Using the key: it works and its last use is recorded; the list never shows a secret.
    let (s, me) = app.request(Method::GET, "/api/v1/whoami", None, Some(&key)).await;
    assert_eq!((s, me["role"].as_str(), me["name"].as_str()), (200, Some("developer"), Some("ci")));
    let (_, list) = app.get("/api/v1/keys").await;
    assert!(!list.to_string().contains(&key[key_id.len() + 5..]), "a listed key shows its secret");
    let rec = list["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == json!(key_id)).unwrap();
    assert!(rec["last_used_at_ms"].is_i64(), "{rec}");
    // A developer may not manage keys or read the audit log: refused and audited.
    let (s, _) = app.request(Method::GET, "/api/v1/audit", None, Some(&key)).await;
    assert_eq!(s, 403);
    // Rotation: a new key of the same role; the old one stops working.
    let (s, rotated) = app.request(Method::POST, &format!("/api/v1/keys/{key_id}/rotate"), None, Some(&app.key)).await;
    assert_eq!(s, 201, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(
        (rotated["record"]["role"].as_str(), rotated["record"]["rotated_from"].as_str()),
        (Some("developer"), Some(key_id.as_str()))
    );
    let (s, _) = app.request(Method::GET, "/api/v1/whoami", None, Some(&key)).await;
    assert_eq!(s, 401, "the rotated-out key is refused");
    let (s, _) = app.request(Method::GET, "/api/v1/whoami", None, Some(&new_key)).await;
    assert_eq!(s, 200);
    let (s, b) = app.request(Method::POST, &format!("/api/v1/keys/{key_id}/rotate"), None, Some(&app.key)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("KEY_INACTIVE")), "{b}");
    // Revocation.
    let new_id = rotated["record"]["key_id"].as_str().unwrap().to_string();
    let (s, revoked) = app.request(Method::DELETE, &format!("/api/v1/keys/{new_id}"), None, Some(&app.key)).await;
    assert_eq!(s, 200, "{revoked}");
    assert!(revoked["revoked_at_ms"].is_i64());
    let (s, _) = app.request(Method::GET, "/api/v1/whoami", None, Some(&new_key)).await;
    assert_eq!(s, 401, "a revoked key is refused");
    let (s, _) = app.request(Method::DELETE, "/api/v1/keys/ffffffff", None, Some(&app.key)).await;
    assert_eq!(s, 404);
    // The audit log, newest first, and filtered by action.
    let (s, audit) = app.get("/api/v1/audit").await;
    assert_eq!(s, 200, "{audit}");
    let actions: Vec<&str> = audit["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["key.revoked", "key.rotated", "permission.denied", "key.created"], "{audit}");
    let denied = &audit["events"][2];
    assert_eq!(
        (denied["actor"].as_str(), denied["target"].as_str(), denied["detail"]["permission"].as_str()),
        (Some(format!("key:{key_id}").as_str()), Some("GET /api/v1/audit"), Some("audit:read"))
    );
    let (_, only) = app.get("/api/v1/audit?action=key.created").await;
    assert_eq!(only["events"].as_array().unwrap().len(), 1, "{only}");
    let (s, b) = app.get("/api/v1/audit?action=nope").await;
    assert!(s == 400 || s == 422, "{s} {b}");
    let (s, b) = app.get("/api/v1/audit?limit=0").await;
    assert_eq!((s, b["error"]["details"]["field"].as_str()), (400, Some("limit")), "{b}");
    let (s, b) = app.get("/api/v1/audit?cursor=zz").await;
    assert!(s == 400 || s == 422, "{s} {b}");
}

#[tokio::test]
async fn viewers_see_runs_with_credentials_and_secret_derived_values_redacted() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let (s, _) =
        app.request(Method::PUT, "/api/v1/secrets/PRICE_TOKEN", Some(json!({"value": "tok-viewer-test-9d1"})), Some(&app.key)).await;
    assert_eq!(s, 204);
    let plan = json!({"name": "redact", "steps": [
        {"id": "fetch", "skill": "http_call", "input": {"url": format!("{}/price", target.base), "headers": {"x-api-key": "{{ secrets.PRICE_TOKEN }}"}}},
        {"id": "derived", "skill": "json_transform", "depends_on": ["fetch"], "input": {"data": "{{ steps.fetch.output.body }}", "expr": ".bitcoin"}},
        {"id": "plain", "skill": "json_transform", "input": {"data": "{{ inputs.order }}", "expr": "{sku, password}"}}
    ]});
    let id = app.submit(plan, json!({"order": {"sku": "A-1", "password": "hunter2"}, "api_key": "inline-key-123"})).await;
    let raw = app.wait_run(&id, WAIT).await;
    assert_eq!(raw["status"], "succeeded", "{raw}");
    assert_eq!(step(&raw, "derived")["output"], json!({"usd": 43210.5}), "developers and admins see raw outputs");
    let (viewer, _) = create_key(&app, &app.key, "viewer", "viewer").await;
    let (s, seen) = app.request(Method::GET, &format!("/api/v1/runs/{id}"), None, Some(&viewer)).await;
    assert_eq!(s, 200);
    let text = seen.to_string();
    for leaked in ["hunter2", "inline-key-123", "43210.5"] {
        assert!(!text.contains(leaked), "a viewer sees `{leaked}`: {text}");
    }
    assert_eq!(seen["inputs"]["api_key"], "[REDACTED]");
    assert_eq!(seen["inputs"]["order"]["sku"], "A-1", "non-sensitive fields stay");
    assert_eq!(step(&seen, "fetch")["output"], "[REDACTED]");
    assert_eq!(step(&seen, "derived")["output"], "[REDACTED]");
    assert_eq!(step(&seen, "plain")["output"], json!({"sku": "A-1", "password": "[REDACTED]"}));
    assert_eq!(seen["trace_root"], raw["trace_root"], "the trace is the same");
    let (s, _) = app.request(Method::POST, &format!("/api/v1/runs/{id}/replay"), None, Some(&viewer)).await;
    assert_eq!(s, 403, "replay shows raw values: not for viewers");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_counts_per_caller() {
    let tmp = tempfile::tempdir().unwrap();
    let app = spawn_app_in(&tmp.path().join("d"), &[("AOS_RATE_LIMIT_PER_MINUTE", "60"), ("AOS_RATE_LIMIT_BURST", "3")]).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let resp = app.http.get(app.url("/api/v1/skills")).bearer_auth(&app.key).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "60");
        remaining.push(resp.headers()["x-ratelimit-remaining"].to_str().unwrap().to_string());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let resp = app.http.get(app.url("/api/v1/skills")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert!(resp.headers().contains_key("x-ratelimit-reset"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Another caller has its own bucket; unauthenticated requests never reach the limiter's buckets.
    let (s, _) = app.request(Method::GET, "/api/v1/skills", None, Some(&app.other_tenant_key())).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1100 * retry)).await;
    let (s, audit) = app.get("/api/v1/audit?action=rate_limited").await;
    assert_eq!(s, 200, "{audit}");
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "recorded once per caller and minute: {audit}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let app = spawn_app().await;
    let big = "x".repeat(1024 * 1024 + 10);
    let (s, b) = app.request(Method::POST, "/api/v1/keys", Some(json!({"name": big, "role": "viewer"})), Some(&app.key)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (413, Some("BODY_TOO_LARGE")), "{b}");
    // A body refused unread: the server says it closes the connection, so clients do not reuse it.
    let resp = app.http.post(app.url("/api/v1/runs")).json(&json!({"plan": {}})).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers().get("connection").and_then(|v| v.to_str().ok())), (401, Some("close")));
    let resp = app.http.get(app.url("/api/v1/runs")).bearer_auth(&app.key).send().await.unwrap();
    assert!(resp.headers().get("connection").is_none(), "kept alive otherwise");
}

#[tokio::test]
async fn the_log_of_a_full_session_holds_no_secret_and_no_key() {
    let tmp = tempfile::tempdir().unwrap();
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let app = spawn_app_logging(&tmp.path().join("d"), &[("AOS_LOG", "debug")], log.into()).await;
    let target = spawn_target().await;
    let secret = "s3cr3t-value-for-log-scan-41c";
    let (s, _) = app.request(Method::PUT, "/api/v1/secrets/SCAN_TOKEN", Some(json!({"value": secret})), Some(&app.key)).await;
    assert_eq!(s, 204);
    let (dev_key, _) = create_key(&app, &app.key, "developer", "scan").await;
    let plan = json!({"name": "scan", "steps": [
        {"id": "call", "skill": "http_call", "input": {"method": "POST", "url": format!("{}/sink", target.base), "headers": {"authorization": "Bearer {{ secrets.SCAN_TOKEN }}"}, "body": {"t": "{{ secrets.SCAN_TOKEN }}"}}},
        {"id": "fail", "skill": "http_call", "input": {"url": format!("{}/status/401", target.base), "headers": {"authorization": "Bearer {{ secrets.SCAN_TOKEN }}"}}, "on_error": {"action": "continue"}}
    ]});
    let (s, b) = app.request(Method::POST, "/api/v1/runs", Some(json!({"plan": plan, "inputs": {}})), Some(&dev_key)).await;
    assert_eq!(s, 202, "{b}");
    let run = app.wait_run(b["run_id"].as_str().unwrap(), WAIT).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(target.seen.lock().unwrap().auth_headers[0], format!("Bearer {secret}"), "the secret was used");
    let bad_key = format!("{}_tampered", &dev_key[..dev_key.len() - 9]);
    let (s, _) = app.request(Method::GET, "/api/v1/whoami", None, Some(&bad_key)).await;
    assert_eq!(s, 401);
    let (s, _) = app.request(Method::GET, "/api/v1/whoami", None, Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).await;
    assert_eq!(s, 401);
    drop(app);
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("aos serve started") && text.contains("DEBUG"), "the debug log was captured:\n{text}");
    let admin = std::fs::read_to_string(tmp.path().join("d/admin.key")).unwrap();
    for needle in [secret, admin.trim(), dev_key.as_str(), bad_key.as_str(), "eyJhbGciOiJub25lIn0"] {
        assert!(!text.contains(needle), "the log holds a secret, key or token (`{}…`)", &needle[..8]);
    }
    // Not even the secret part of a key on its own.
    assert!(!text.contains(&dev_key[13..]), "the log holds a key's secret part");
}
