//! The embedded server as a library: `Server::build(settings)` in this process, the settings
//! reaching the server (no environment involved), a graceful stop that releases the data
//! directory, and a restart over it that finds everything as it was.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_server_built_in_process_serves_stops_and_starts_again_over_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut settings = test_settings(&dir);
    settings.extra_tenants = vec!["other".into(), "third".into()];
    let mut app = spawn_in_process(settings.clone()).await;
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 41, "expr": ". + 1"}}]});
    let id = app.submit(plan, json!({})).await;
    let run = app.wait_run(&id, Duration::from_secs(30)).await;
    assert_eq!(step(&run, "a")["output"], json!(42));
    // Settings given in code reach the server: the extra tenant got its key.
    let third = std::fs::read_to_string(dir.join("third.key")).expect("third.key").trim().to_string();
    let (status, me) = app.request(reqwest::Method::GET, "/api/v1/whoami", None, Some(&third)).await;
    assert_eq!((status, me["tenant"].as_str()), (200, Some("third")), "{me}");

    // A graceful stop releases the directory: a second server opens it and finds the run.
    app.stop();
    let app = spawn_in_process(settings).await;
    let (status, again) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("succeeded")), "{again}");
}

/// Two servers cannot share a data directory, in one process or two.
#[tokio::test]
async fn a_second_server_over_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = test_settings(&tmp.path().join("data"));
    let _app = spawn_in_process(settings.clone()).await;
    let err = aos_cli::Server::build(settings).await.err().expect("refused");
    assert!(err.to_string().contains("another `aos serve` is using"), "{err}");
}
