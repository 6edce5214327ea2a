//! The access commands of the `aos` binary against a real `aos serve`: `aos keys create | list |
//! rotate | revoke` (tables and `--json`), `aos whoami` with a key, and the token stored by
//! `aos login` (refused once expired; the login itself runs against Cognito in
//! tests/auth/cognito_test.py).

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn aos(app: &App, config: &std::path::Path, key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(aos_bin());
    cmd.args(args).env("AOS_URL", &app.base).env("XDG_CONFIG_HOME", config).env_remove("AOS_API_KEY").current_dir(config);
    if let Some(k) = key {
        cmd.env("AOS_API_KEY", k);
    }
    cmd.output().expect("run aos")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "aos failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

#[tokio::test]
async fn keys_and_whoami_through_the_cli() {
    let app = spawn_app().await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path();
    let admin = Some(app.key.as_str());

    let created = json_of(&aos(
        &app,
        cfg,
        admin,
        &["keys", "create", "--role", "developer", "--name", "ci-deploy", "--expires-in-days", "7", "--json"],
    ));
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["record"]["key_id"].as_str().unwrap().to_string();
    assert_eq!((created["record"]["role"].as_str(), created["record"]["name"].as_str()), (Some("developer"), Some("ci-deploy")));

    // The table form shows the key once, and the record.
    let table = ok(&aos(&app, cfg, admin, &["keys", "create", "--role", "viewer", "--name", "dashboards"]));
    assert!(
        table.starts_with("KEY_ID") && table.contains("dashboards") && table.contains("viewer") && table.contains("shown once"),
        "{table}"
    );
    assert!(table.lines().any(|l| l.trim().starts_with("aos_")), "{table}");

    // whoami with the new key: table and JSON.
    let me = json_of(&aos(&app, cfg, Some(&key), &["whoami", "--json"]));
    assert_eq!(
        (me["tenant"].as_str(), me["role"].as_str(), me["kind"].as_str(), me["name"].as_str()),
        (Some("dev"), Some("developer"), Some("api_key"), Some("ci-deploy"))
    );
    let text = ok(&aos(&app, cfg, Some(&key), &["whoami"]));
    assert!(
        text.contains("api_key ci-deploy")
            && text.contains("tenant dev")
            && text.contains("role: developer")
            && text.contains("runs:write"),
        "{text}"
    );

    // list: both keys, never a secret.
    let list = ok(&aos(&app, cfg, admin, &["keys", "list"]));
    assert!(list.contains("ci-deploy") && list.contains("dashboards") && list.contains("active"), "{list}");
    assert!(!list.contains(&key), "the list shows a key");
    let listed = json_of(&aos(&app, cfg, admin, &["keys", "list", "--json"]));
    assert!(listed["keys"].as_array().unwrap().len() >= 3, "{listed}");

    // A developer may not manage keys: exit 1 with the API's code and the missing permission.
    let denied = aos(&app, cfg, Some(&key), &["keys", "list"]);
    assert_eq!(denied.status.code(), Some(1));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("FORBIDDEN") && err.contains("keys:manage"), "{err}");

    // rotate: a new key works, the old one is refused.
    let rotated = json_of(&aos(&app, cfg, admin, &["keys", "rotate", &key_id, "--json"]));
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["record"]["rotated_from"].as_str(), Some(key_id.as_str()));
    let old = aos(&app, cfg, Some(&key), &["whoami"]);
    assert!(!old.status.success() && String::from_utf8_lossy(&old.stderr).contains("401"), "the rotated-out key is refused");
    ok(&aos(&app, cfg, Some(&new_key), &["whoami"]));
    let list = ok(&aos(&app, cfg, admin, &["keys", "list"]));
    let old_row = list.lines().find(|l| l.starts_with(&key_id)).expect("the old key is listed");
    assert!(old_row.contains("revoked"), "{old_row}");

    // revoke.
    let new_id = rotated["record"]["key_id"].as_str().unwrap().to_string();
    let revoked = ok(&aos(&app, cfg, admin, &["keys", "revoke", &new_id]));
    assert!(revoked.contains(&new_id) && revoked.contains("revoked"), "{revoked}");
    assert!(!aos(&app, cfg, Some(&new_key), &["whoami"]).status.success());
    let missing = aos(&app, cfg, admin, &["keys", "revoke", "ffffffff"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"), "{}", String::from_utf8_lossy(&missing.stderr));

    // Bad input is named by the API.
    let bad = aos(&app, cfg, admin, &["keys", "create", "--role", "root", "--name", "x"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("422") && err.contains("role"), "{err}");
}

#[tokio::test]
async fn the_stored_login_is_used_without_a_key_and_refused_once_expired() {
    let app = spawn_app().await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path();
    let dir = cfg.join("aos");
    std::fs::create_dir_all(&dir).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // A stored credential is sent as the bearer: here an API key stands in for the identity
    // provider's token (the Cognito path is tests/auth/cognito_test.py).
    let (s, created) = app
        .request(reqwest::Method::POST, "/api/v1/keys", Some(serde_json::json!({"name": "stored", "role": "viewer"})), Some(&app.key))
        .await;
    assert_eq!(s, 201, "{created}");
    let stored = |token: &str, expires: i64| {
        let creds =
            serde_json::json!({"token": token, "expires_at_ms": expires, "provider": "cognito:us-east-1:client", "username": "dora"});
        std::fs::write(dir.join("credentials.json"), creds.to_string()).unwrap();
    };
    stored(created["key"].as_str().unwrap(), now + 3_600_000);
    let me = json_of(&aos(&app, cfg, None, &["whoami", "--json"]));
    assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("stored"), Some("viewer")));
    // An explicit key wins over the stored login.
    let me = json_of(&aos(&app, cfg, Some(&app.key), &["whoami", "--json"]));
    assert_eq!(me["role"].as_str(), Some("admin"));
    // Expired: refused before any request, saying what to do.
    stored("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln", now - 600_000);
    let out = aos(&app, cfg, None, &["whoami"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("login of dora") && err.contains("expired 10 min ago") && err.contains("aos login"), "{err}");
    // A corrupt file is an error, not a silent fallback.
    std::fs::write(dir.join("credentials.json"), "{").unwrap();
    let err = String::from_utf8_lossy(&aos(&app, cfg, None, &["whoami"]).stderr).into_owned();
    assert!(err.contains("credentials.json is not valid") && err.contains("aos logout"), "{err}");
    // logout removes it; without a key or a login the CLI says how to get one.
    assert!(ok(&aos(&app, cfg, None, &["logout"])).contains("logged out"));
    assert!(!dir.join("credentials.json").exists());
    let err = String::from_utf8_lossy(&aos(&app, cfg, None, &["whoami"]).stderr).into_owned();
    assert!(err.contains("no API key") && err.contains("aos login"), "{err}");
    // `aos login` without a password source and no terminal refuses clearly.
    let out = Command::new(aos_bin())
        .args(["login", "--region", "us-east-1", "--client-id", "c", "--username", "u"])
        .env_remove("AOS_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--password-stdin"), "{err}");
}
