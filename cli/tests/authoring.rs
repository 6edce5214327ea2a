//! Authoring from the terminal against a real `aos serve`: `aos plan validate` prints every problem
//! of a plan with its field path and a "did you mean", and `--json` carries every one too (as does
//! the error of `runs submit`).

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn aos_at(app: &App, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .env("AOS_LOG", "error")
        .output()
        .expect("aos");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Six problems the server finds once the plan is read, and one it finds while reading.
const SIX_PROBLEMS: &str = r#"{"name": "bad", "steps": [
 {"id": "a", "skill": "http_cal", "input": {}},
 {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "."}, "depends_on": ["zz"]},
 {"id": "b", "skill": "json_transform", "input": {"data": 1}, "retry": {"max_attempts": 0}, "condition": "...("}
]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_validate_prints_every_problem_with_its_path_and_a_suggestion() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, SIX_PROBLEMS).unwrap();
    let typo = dir.path().join("typo.json");
    std::fs::write(
        &typo,
        r#"{"name": "t", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}, "retyr": {}}]}"#,
    )
    .unwrap();
    let good = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-transform.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"name\": ").unwrap();
    let app = App::detached(app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let (code, out, _) = aos_at(&app, &["plan", "validate", good.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("hello-transform.json: valid"), "{out}");

        let (code, out, _) = aos_at(&app, &["plan", "validate", bad.to_str().unwrap(), typo.to_str().unwrap(), broken.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        for expected in [
            "bad.json: 6 problems",
            "steps[0].skill: step `a` uses unknown skill `http_cal` (did you mean `http_call`?)",
            "steps[1].depends_on[0]:",
            "steps[2].id:",
            "steps[2].input:",
            "steps[2].retry.max_attempts:",
            "steps[2].condition: condition does not compile",
            "typo.json: 1 problem",
            "(did you mean `retry`?)",
            "broken.json: 1 problem",
            "INVALID_JSON",
        ] {
            assert!(out.contains(expected), "no `{expected}` in:\n{out}");
        }
        let (code, out, _) = aos_at(&app, &["--json", "plan", "validate", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["files"][0]["problems"].as_array().unwrap().len(), 6, "{report}");
        assert_eq!(report["files"][0]["problems"][0]["did_you_mean"], "http_call");

        // A submission's error names every problem too, and `--json` prints the API's whole envelope.
        let (code, _, err) = aos_at(&app, &["runs", "submit", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(err.contains("6 problems:") && err.contains("steps[2].condition"), "{err}");
        let (code, out, _) = aos_at(&app, &["--json", "runs", "submit", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        let envelope: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(envelope["error"]["details"]["errors"].as_array().unwrap().len(), 6, "{envelope}");
    })
    .await
    .unwrap();
}
