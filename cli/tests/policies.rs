//! `aos policies …` and `aos recovery settings` against a real server: the automatic-approval
//! settings shown, changed field by field (GET, then PUT of the merged settings) and refused to a
//! viewer; an approved candidate listed and shown as an active policy that a run of a plan without
//! retry settings takes once the plan met the failure, its outcome counted; the policy disabled, then refused as already
//! disabled (exit status 1 with the API's code).

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn aos(app: &App, key: &str, args: &[&str]) -> Output {
    Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", key)
        .env("AOS_LOG", "error")
        .env("NO_COLOR", "1")
        .output()
        .expect("run aos")
}

/// Runs `aos` with the admin key and returns its standard output, asserting success.
fn ok(app: &App, args: &[&str]) -> String {
    let out = aos(app, &app.key, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "aos {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn json_of(app: &App, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(app, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {text}"))
}

/// Runs `aos` and asserts exit status 1 with `code` in its error message.
fn refused(app: &App, key: &str, args: &[&str], code: &str) {
    let out = aos(app, key, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "aos {args:?}: {stderr}");
    assert!(stderr.contains(code), "aos {args:?} should say {code}: {stderr}");
}

#[tokio::test]
async fn policies_and_recovery_settings_through_the_cli() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let (s, key) = app.post("/api/v1/keys", json!({"role": "viewer", "name": "policies-viewer"})).await;
    assert_eq!(s, 201, "{key}");
    let viewer = key["key"].as_str().unwrap().to_string();

    // The settings: the defaults, shown; one field changed keeps the others.
    let text = ok(&app, &["recovery", "settings"]);
    assert!(text.starts_with("mode          off  (people approve"), "{text}");
    assert!(text.contains("min_lower     0.8") && text.contains("min_evidence  10"), "{text}");
    let changed = json_of(&app, &["recovery", "settings", "--min-evidence", "3"]);
    assert_eq!(changed, json!({"mode": "off", "min_lower": 0.8, "min_evidence": 3}));
    let changed = json_of(&app, &["recovery", "settings", "--min-lower", "0.65"]);
    assert_eq!(changed, json!({"mode": "off", "min_lower": 0.65, "min_evidence": 3}), "the earlier change stays");
    assert_eq!(json_of(&app, &["recovery", "settings"]), changed);
    let hooked = json_of(&app, &["recovery", "settings", "--drift-webhook-url", "https://hooks.example.com/drift"]);
    assert_eq!(hooked["drift_webhook_url"], "https://hooks.example.com/drift", "{hooked}");
    let text = ok(&app, &["recovery", "settings", "--mode", "shadow"]);
    assert!(
        text.starts_with("mode          shadow") && text.contains("drift webhook https://hooks.example.com/drift"),
        "the webhook stays: {text}"
    );
    let back = json_of(&app, &["recovery", "settings", "--mode", "off", "--drift-webhook-url", ""]);
    assert_eq!(back, changed, "\"\" removes the webhook");
    refused(&app, &app.key, &["recovery", "settings", "--min-lower", "0.3"], "INVALID_FIELD");
    refused(&app, &viewer, &["recovery", "settings", "--mode", "active"], "FORBIDDEN");
    assert!(String::from_utf8_lossy(&aos(&app, &viewer, &["recovery", "settings"]).stdout).contains("mode          off"));
    let out = aos(&app, &app.key, &["recovery", "settings", "--mode", "sometimes"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a mode it does not know");
    let out = aos(&app, &app.key, &["recovery", "settings", "--min-evidence", "0"]);
    assert_eq!(out.status.code(), Some(2), "at least one observation");
    let (_, audit) = app.get("/api/v1/audit?action=recovery.settings").await;
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(5), "each change audited: {audit}");

    assert!(ok(&app, &["policies", "list"]).starts_with("no recovery policies"));
    assert_eq!(json_of(&app, &["policies", "list"]), json!({"policies": []}));

    // Evidence: three runs whose 503s a retry fixed; the suggestion proposes a candidate.
    for i in 0..3 {
        let plan = json!({"name": "policies-cli-teach", "steps": [{"id": "call", "skill": "http_call",
            "input": {"url": format!("{}/flaky/pol-{i}/2", target.base)},
            "retry": {"max_attempts": 4, "initial_delay_ms": 10, "max_delay_ms": 10}}]});
        let id = app.submit(plan, json!({})).await;
        assert_eq!(app.wait_run(&id, WAIT).await["status"], "succeeded");
    }
    let answer = json_of(
        &app,
        &[
            "recovery",
            "suggest",
            "--message",
            "GET /orders answered 503",
            "--code",
            "HTTP_503",
            "--skill",
            "http_call",
            "--http-status",
            "503",
        ],
    );
    let candidate = answer["candidates"][0].as_str().unwrap_or_else(|| panic!("no candidate proposed: {answer}")).to_string();
    let policy = format!("pol_{}", candidate.trim_start_matches("rc_"));
    ok(&app, &["recovery", "approve", &candidate, "--note", "retries fix these"]);

    // Listed and shown as an active policy.
    let text = ok(&app, &["policies", "list"]);
    let header = text.lines().next().unwrap_or_default();
    for column in ["ID", "STATUS", "SKILL", "CODE", "ACTION", "APPROVED AT", "OUTCOMES 7D"] {
        assert!(header.contains(column), "{header}");
    }
    let row = text.lines().find(|l| l.starts_with(&policy)).unwrap_or_else(|| panic!("{policy} not listed: {text}"));
    assert!(row.contains("active") && row.contains("http_call") && row.contains("HTTP_SERVICE_UNAVAILABLE"), "{row}");
    assert!(row.contains('%') && row.trim_end().ends_with("0/0"), "{row}");
    let listed = json_of(&app, &["policies", "list"]);
    let p = &listed["policies"][0];
    assert_eq!(
        (p["id"].as_str(), p["status"].as_str(), p["candidate_id"].as_str()),
        (Some(policy.as_str()), Some("active"), Some(candidate.as_str()))
    );
    let text = ok(&app, &["policies", "show", &policy]);
    assert!(text.starts_with(&format!("policy {policy}  active  (from candidate {candidate})")), "{text}");
    assert!(text.contains("applies to  http_call steps (any host) that fail with HTTP_SERVICE_UNAVAILABLE"), "{text}");
    assert!(text.contains("patch       {\"retry\":") && text.contains("approved at lower bound"), "{text}");
    assert!(text.contains("history:") && text.contains("new → active") && text.contains("retries fix these"), "{text}");

    // A policy applies to the steps of a plan that met its failure in an earlier run: a first run
    // of the plan fails for good with a 503; then the plan without retry settings takes the policy
    // (the policy cache lives 5 s at most).
    let fragile = |key: &str| {
        json!({"name": "policies-cli-fragile", "steps": [{"id": "get", "skill": "http_call",
            "input": {"url": format!("{}/flaky/{key}/1", target.base)}}]})
    };
    let mut first = fragile("unused");
    first["steps"][0]["input"]["url"] = json!(format!("{}/status/503", target.base));
    first["steps"][0]["retry"] = json!({"max_attempts": 1});
    let id = app.submit(first, json!({})).await;
    assert_eq!(app.wait_run(&id, WAIT).await["status"], "failed");
    let start = Instant::now();
    let run = loop {
        let id = app.submit(fragile(&format!("frag-{}", start.elapsed().as_millis())), json!({})).await;
        let run = app.wait_run(&id, WAIT).await;
        if run["applied_policies"].as_array().is_some_and(|a| !a.is_empty()) {
            break run;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no run took the policy: {run}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(run["status"], "succeeded", "the policy's retry recovers the 503: {run}");
    assert_eq!(run["applied_policies"][0]["policy_id"], policy.as_str());
    assert_eq!(run["applied_policies"][0]["replaced"], json!({"retry": null}));
    let start = Instant::now();
    loop {
        let shown = json_of(&app, &["policies", "show", &policy]);
        if shown["outcomes"]["succeeded"].as_u64() >= Some(1) {
            break;
        }
        assert!(start.elapsed() < WAIT, "the run's outcome is not counted: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = ok(&app, &["policies", "show", &policy]);
    assert!(text.contains("outcomes    1/1 of the steps it changed"), "{text}");

    // A viewer reads but may not disable; disabling twice is a conflict; unknown ids are 404s.
    assert!(String::from_utf8_lossy(&aos(&app, &viewer, &["policies", "list"]).stdout).contains(&policy));
    refused(&app, &viewer, &["policies", "disable", &policy], "FORBIDDEN");
    let text = ok(&app, &["policies", "disable", &policy, "--note", "enough"]);
    assert!(text.starts_with(&format!("{policy} active → disabled by key:")) && text.contains(": enough"), "{text}");
    refused(&app, &app.key, &["policies", "disable", &policy], "POLICY_STATE_CONFLICT");
    let disabled = json_of(&app, &["policies", "show", &policy]);
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(
        disabled["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap()).collect::<Vec<_>>(),
        ["active", "disabled"]
    );
    refused(&app, &app.key, &["policies", "show", "pol_0000000000000000"], "404");
    refused(&app, &app.key, &["policies", "disable", "pol_0000000000000000"], "404");
}
