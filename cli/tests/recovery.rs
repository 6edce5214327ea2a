//! `aos recovery …` against a real server: suggestions for a stored failure of a real run and for
//! one described by hand (a table with confidence bars and evidence, or the API's JSON), candidates
//! listed, shown, approved, retired and rejected, and the API's refusals (a decision in the wrong
//! state, a viewer deciding, an unknown candidate) printed as their code with exit status 1.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn aos(app: &App, key: &str, args: &[&str]) -> Output {
    Command::new(aos_bin()).args(args).env("AOS_URL", &app.base).env("AOS_API_KEY", key).env("AOS_LOG", "error").output().expect("run aos")
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

fn http_call(url: String, attempts: u32) -> Value {
    json!({"name": "recovery-cli", "steps": [{"id": "call", "skill": "http_call", "input": {"url": url},
        "retry": {"max_attempts": attempts, "initial_delay_ms": 10, "max_delay_ms": 10, "retry_on": ["TRANSIENT", "RATE_LIMIT"]}}]})
}

/// The id of the stored failure of the run's failed attempt.
async fn failure_id(app: &App, run_id: &str) -> String {
    let start = Instant::now();
    loop {
        let (s, page) = app.get("/api/v1/failures?kind=attempt&limit=200").await;
        assert_eq!(s, 200, "{page}");
        if let Some(f) = page["failures"].as_array().unwrap().iter().find(|f| f["run_id"] == run_id) {
            return f["id"].as_str().unwrap().to_string();
        }
        assert!(start.elapsed() < WAIT, "no failure record for {run_id}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn suggestions_and_the_review_of_candidates_through_the_cli() {
    let app = spawn_app().await;
    let target = spawn_target().await;

    // Evidence: three runs whose 503s a retry fixed and three whose 429 (Retry-After: 0) waiting
    // fixed, then a run that failed on its only attempt.
    for i in 0..3 {
        for url in [format!("{}/flaky/cli-{i}/2", target.base), format!("{}/limited/cli-{i}/1/0", target.base)] {
            let id = app.submit(http_call(url, 4), json!({})).await;
            assert_eq!(app.wait_run(&id, WAIT).await["status"], "succeeded");
        }
    }
    let failed = app.submit(http_call(format!("{}/status/503", target.base), 1), json!({})).await;
    assert_eq!(app.wait_run(&failed, WAIT).await["status"], "failed");
    let failure = failure_id(&app, &failed).await;

    // For a stored failure: the catalog's verdict, then the suggestions as a table.
    let text = ok(&app, &["recovery", "suggest", "--failure", &failure]);
    assert!(text.contains("failure HTTP_SERVICE_UNAVAILABLE (TRANSIENT, retryable"), "{text}");
    assert!(text.contains("evidence key HTTP_SERVICE_UNAVAILABLE on http_call"), "{text}");
    let header = text.lines().find(|l| l.starts_with("#  ACTION")).unwrap_or_else(|| panic!("no table: {text}"));
    for column in ["CONFIDENCE", "MEAN", "EVIDENCE", "SOURCE", "PATCH"] {
        assert!(header.contains(column), "{header}");
    }
    let first = text.lines().find(|l| l.starts_with("1 ")).unwrap_or_else(|| panic!("no suggestion row: {text}"));
    assert!(first.contains('█') || first.contains('░'), "a confidence bar: {first}");
    assert!(first.contains('%') && (first.contains(" retry ") || first.contains(" retry_after ")), "{first}");

    // The same as JSON, and a failure described by hand.
    let answer = json_of(&app, &["recovery", "suggest", "--failure", &failure]);
    assert_eq!((answer["match"]["code"].as_str(), answer["key"]["skill"].as_str()), (Some("HTTP_SERVICE_UNAVAILABLE"), Some("http_call")));
    let by_hand = json_of(
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
    assert_eq!(by_hand["match"]["code"], "HTTP_SERVICE_UNAVAILABLE", "{by_hand}");
    let suggestions = by_hand["suggestions"].as_array().unwrap();
    let lowers: Vec<f64> = suggestions.iter().map(|s| s["confidence"]["lower"].as_f64().unwrap()).collect();
    assert!(!lowers.is_empty() && lowers.windows(2).all(|w| w[0] >= w[1]), "ranked by the lower bound: {lowers:?}");
    let retry = suggestions.iter().find(|s| s["source"] == "history").unwrap_or_else(|| panic!("no suggestion from history: {by_hand}"));
    assert!(retry["evidence"]["successes"].as_f64().unwrap() > 0.0, "{retry}");
    let id = by_hand["candidates"][0].as_str().unwrap_or_else(|| panic!("no candidate proposed: {by_hand}")).to_string();
    let other = json_of(
        &app,
        &[
            "recovery",
            "suggest",
            "--message",
            "api answered 429: slow down",
            "--code",
            "HTTP_429",
            "--http-status",
            "429",
            "--skill",
            "http_call",
        ],
    );
    let other_id = other["candidates"][0].as_str().unwrap_or_else(|| panic!("no candidate for the 429: {other}")).to_string();
    assert_ne!(id, other_id);

    // Listing: a table of every page, the API's JSON, filters, --limit.
    let text = ok(&app, &["recovery", "candidates", "--status", "pending"]);
    assert!(text.starts_with("ID") && text.contains(&id) && text.contains(&other_id), "{text}");
    let row = text.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(row.contains("pending") && row.contains("HTTP_SERVICE_UNAVAILABLE") && row.contains('%'), "{row}");
    let listed = json_of(&app, &["recovery", "candidates", "--code", "HTTP_SERVICE_UNAVAILABLE", "--skill", "http_call"]);
    let ids: Vec<&str> = listed["candidates"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&id.as_str()) && !ids.contains(&other_id.as_str()), "{listed}");
    let one = json_of(&app, &["recovery", "candidates", "--limit", "1"]);
    assert_eq!(one["candidates"].as_array().unwrap().len(), 1, "{one}");
    assert!(one["next_cursor"].is_string(), "more than one candidate: {one}");
    assert!(ok(&app, &["recovery", "candidates", "--limit", "1"]).contains("(more: raise --limit)"));

    // One candidate.
    let text = ok(&app, &["recovery", "show", &id]);
    assert!(text.starts_with(&format!("candidate {id}  pending")), "{text}");
    assert!(text.contains("HTTP_SERVICE_UNAVAILABLE on http_call") && text.contains("confidence") && text.contains('%'), "{text}");
    let shown = json_of(&app, &["recovery", "show", &id]);
    assert_eq!((shown["id"].as_str(), shown["status"].as_str()), (Some(id.as_str()), Some("pending")));

    // Decisions, and a decision in the wrong state.
    let text = ok(&app, &["recovery", "approve", &id, "--note", "retries fix these"]);
    assert!(text.starts_with(&format!("{id} pending → approved by key:")) && text.contains(": retries fix these"), "{text}");
    refused(&app, &app.key, &["recovery", "approve", &id], "CANDIDATE_STATE_CONFLICT");
    refused(&app, &app.key, &["recovery", "reject", &id], "409");
    let retired = json_of(&app, &["recovery", "retire", &id]);
    assert_eq!(retired["status"], "retired");
    assert_eq!(
        retired["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap()).collect::<Vec<_>>(),
        ["approved", "retired"]
    );
    let text = ok(&app, &["recovery", "show", &id]);
    assert!(text.contains("decisions:") && text.contains("pending → approved") && text.contains("approved → retired"), "{text}");

    // A viewer reads but may not decide; nothing changed.
    let (s, key) = app.post("/api/v1/keys", json!({"role": "viewer", "name": "recovery-viewer"})).await;
    assert_eq!(s, 201, "{key}");
    let viewer = key["key"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&aos(&app, viewer, &["recovery", "candidates"]).stdout).contains(&other_id));
    refused(&app, viewer, &["recovery", "reject", &other_id], "FORBIDDEN");
    let (_, still) = app.request(Method::GET, &format!("/api/v1/recovery/candidates/{other_id}"), None, Some(&app.key)).await;
    assert_eq!(still["status"], "pending", "{still}");
    let text = ok(&app, &["recovery", "reject", &other_id, "--note", "we queue instead"]);
    assert!(text.contains("pending → rejected") && text.contains("we queue instead"), "{text}");

    // Unknown candidates and bad arguments.
    refused(&app, &app.key, &["recovery", "show", "rc_0000000000000000"], "404");
    let out = aos(&app, &app.key, &["recovery", "suggest", "--code", "HTTP_503"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a suggestion without --failure or --message");
    let out = aos(&app, &app.key, &["recovery", "suggest", "--failure", &failure, "--message", "m"]);
    assert_eq!(out.status.code(), Some(2), "--failure and --message exclude each other");
    let out = aos(&app, &app.key, &["recovery", "suggest", "--message", "m", "--http-status", "600"]);
    assert_eq!(out.status.code(), Some(2), "an HTTP status out of range");
}
