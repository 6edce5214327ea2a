//! `aos keys bootstrap --aws` against DynamoDB on moto (AOS_TEST_MOTO_URL, started by tests/run.sh):
//! the key it prints authenticates through the API functions' code path (the `api-skills` router
//! over a runtime built as the functions build it), and a second bootstrap is refused.

use aws_sdk_dynamodb::config::{Credentials, Region};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::HashMap;
use std::process::Output;
use std::sync::Arc;
use tower::ServiceExt;

fn moto_url() -> String {
    match std::env::var("AOS_TEST_MOTO_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AOS_TEST_MOTO_URL is not set: `aos keys bootstrap --aws` is tested against a moto server. Start one:\n  \
             bash tests/stack/moto.sh start 5599\n  AOS_TEST_MOTO_URL=http://127.0.0.1:5599 cargo test -p aos-cli --test keys_bootstrap"
        ),
    }
}

fn bootstrap(url: &str, table: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aos"));
    cmd.arg("keys").arg("bootstrap").args(args);
    cmd.env_remove("AOS_TABLE").env_remove("AWS_PROFILE").env_remove("AWS_SESSION_TOKEN");
    cmd.env("AWS_ENDPOINT_URL", url).env("AWS_REGION", "us-east-1").env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
    if let Some(t) = table {
        cmd.env("AOS_TABLE", t);
    }
    cmd.output().expect("run aos")
}

async fn get(app: axum::Router, path: &str, key: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let resp = app.oneshot(req.body(Body::empty()).expect("request")).await.expect("the router answers");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn bootstrap_creates_a_key_the_api_functions_accept() {
    let url = moto_url();
    let config = aos_aws::config_loader()
        .endpoint_url(&url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "aos-cli-tests"))
        .load()
        .await;
    let table = format!("aos-keys-{}", uuid::Uuid::new_v4().simple());
    aos_aws::create_table(&aws_sdk_dynamodb::Client::new(&config), &table).await.expect("create the table on moto");

    let out = bootstrap(&url, Some(&table), &["--aws", "--tenant", "ops"]);
    assert!(out.status.success(), "bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
    assert!(key.starts_with("aos_") && !key.contains('\n'), "stdout is the key alone: {key:?}");

    // What api-skills builds at init, over the same table.
    let settings = aos_aws::AwsSettings { table: table.clone(), queue_urls: HashMap::new(), secrets_prefix: "aos-test".into() };
    let skills = Arc::new(aos_lambda::registry::declared(&aos_skills::SkillsConfig::default()));
    let rt = Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)));
    let app = || aos_lambda::api::app(rt.clone(), aos_lambda::api::SKILLS).expect("app");
    let (status, body) = get(app(), "/api/v1/skills", Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["skills"].as_array().is_some_and(|s| s.len() == aos_skills::BUILTINS.len()), "{body}");
    let principal = rt.keys().authenticate(&key).await.expect("lookup").expect("the key is known");
    assert_eq!((principal.tenant.as_str(), principal.role), ("ops", aos_runtime::auth::Role::Admin));
    let (status, _) = get(app(), "/api/v1/skills", Some("aos_deadbeef_0000")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The first key only, unless asked.
    let again = bootstrap(&url, Some(&table), &["--aws", "--tenant", "ops"]);
    assert!(!again.status.success(), "a second bootstrap must be refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"), "{}", String::from_utf8_lossy(&again.stderr));
    let forced = bootstrap(&url, Some(&table), &["--aws", "--tenant", "ops", "--force"]);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert_eq!(rt.keys().list("ops").await.expect("list").len(), 2);
    // Another tenant of the same table gets its own first key.
    assert!(bootstrap(&url, Some(&table), &["--aws", "--tenant", "dev"]).status.success());
}

#[test]
fn bad_invocations_name_what_is_missing() {
    let url = "http://127.0.0.1:9";
    let err = |out: Output| (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string());
    let (ok, stderr) = err(bootstrap(url, Some("t"), &[]));
    assert!(!ok && stderr.contains("--aws"), "{stderr}");
    let (ok, stderr) = err(bootstrap(url, None, &["--aws"]));
    assert!(!ok && stderr.contains("AOS_TABLE"), "{stderr}");
    let (ok, stderr) = err(bootstrap(url, Some("t"), &["--aws", "--tenant", "no spaces"]));
    assert!(!ok && stderr.contains("--tenant"), "{stderr}");
}
