//! slack_send against a local Slack (`tests/stack/protocol_slack.py`): the incoming-webhook and
//! chat.postMessage answer semantics, with every request recorded so each test asserts what Slack
//! received — the message as sent, the bearer token, nothing at all for a message refused before
//! sending — and that no error carries the webhook URL or the token.

use aos_core::outcome::StepError;
use aos_core::ports::{Secrets, StoreError};
use aos_core::skill::{Skill, SkillContext, TenantScope};
use aos_skills::{SkillsConfig, SlackSend};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "xoxb-1234-5678-s3cr3tTokenValue";
const HOOK_KEY: &str = "Zq8fHkL2mNpR4sTvWxY7aBcD";

struct MapSecrets(Mutex<HashMap<(String, String), String>>);

#[async_trait::async_trait]
impl Secrets for MapSecrets {
    async fn get(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().unwrap().get(&(tenant.to_string(), name.to_string())).cloned())
    }
    async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert((tenant.to_string(), name.to_string()), value.to_string());
        Ok(())
    }
    async fn names(&self, _: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

struct Slack {
    child: Child,
    base: String,
}

impl Drop for Slack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Slack {
    fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/stack/protocol_slack.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--token", TOKEN, "--channel", "C0AOS1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Slack stand-in (python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the stand-in's first line");
        let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected output {line:?}")).to_string();
        Slack { child, base }
    }

    async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_received", self.base)).await.expect("GET /_received").json().await.expect("JSON")
    }

    fn hook(&self, key: &str) -> String {
        format!("{}/services/T0AOS/B0AOS/{key}", self.base)
    }
}

struct Sender {
    skill: SlackSend,
    secrets: Arc<MapSecrets>,
    store: Arc<dyn aos_core::ports::Store>,
    _dir: tempfile::TempDir,
}

impl Sender {
    fn new(slack: &Slack) -> Self {
        let config = SkillsConfig {
            http_allow_hosts: vec!["127.0.0.1".into()],
            slack_api_url: format!("{}/api", slack.base),
            ..SkillsConfig::default()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let db = aos_store::EmbeddedDb::open(&dir.path().join("aos.db"), aos_store::Durability::Relaxed).expect("db");
        let secrets = Arc::new(MapSecrets(Mutex::new(HashMap::new())));
        Self { skill: SlackSend::new(&config), secrets, store: Arc::new(aos_store::EmbeddedStore::new(db)), _dir: dir }
    }

    async fn secret(&self, name: &str, value: &str) {
        self.secrets.put("acme", name, value).await.expect("put secret");
    }

    async fn send(&self, step: &str, attempt: u32, input: Value) -> Result<Value, StepError> {
        let scope = Arc::new(TenantScope::new("acme", "slack_send", self.store.clone(), self.secrets.clone()));
        let ctx = SkillContext::new("run-1", step, attempt, 1, 0, 10_000).with_scope(scope);
        self.skill.execute(&ctx, input).await.map(|o| o.output)
    }
}

/// Neither the webhook URL, nor its key, nor the token appear in an error.
fn assert_clean(err: &StepError) {
    let text = format!("{} {}", err.message, err.details);
    for secret in [HOOK_KEY, TOKEN, "/services/T0AOS"] {
        assert!(!text.contains(secret), "`{secret}` leaked into the error: {text}");
    }
}

#[tokio::test]
async fn webhook_posts_the_message_once_per_step() {
    let slack = Slack::start();
    let tx = Sender::new(&slack);
    tx.secret("SLACK_WEBHOOK_URL", &slack.hook(HOOK_KEY)).await;
    let blocks = json!([
        {"type": "header", "text": {"type": "plain_text", "text": "BTC moved 4.2%"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*now* 64,000 USD"}, "fields": [{"type": "mrkdwn", "text": "*was*\n61,400"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ünïcødé ✓"}]}
    ]);
    let input = json!({"text": "BTC moved 4.2%", "blocks": blocks, "unfurl_links": false});
    let out = tx.send("notify", 1, input.clone()).await.expect("posted");
    assert_eq!(out, json!({"ok": true, "via": "webhook"}));
    let got = slack.received().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["path"], format!("/services/T0AOS/B0AOS/{HOOK_KEY}"));
    assert_eq!(got[0]["status"], 200);
    assert_eq!(got[0]["answer"], "ok");
    assert_eq!(got[0]["json"], json!({"text": "BTC moved 4.2%", "blocks": blocks, "unfurl_links": false}));
    assert!(got[0]["headers"]["content-type"].as_str().unwrap().starts_with("application/json"));

    // A redelivery or a retry of the step after its outcome was lost: the first post's result, no second post.
    assert_eq!(tx.send("notify", 1, input.clone()).await.expect("redelivery"), out);
    assert_eq!(tx.send("notify", 2, input.clone()).await.expect("retry"), out);
    assert_eq!(slack.received().await.len(), 1, "the step posted twice");
    // Another step is another message.
    tx.send("notify-again", 1, input).await.expect("other step");
    assert_eq!(slack.received().await.len(), 2);
}

#[tokio::test]
async fn webhook_errors_map_to_catalog_codes_without_the_url() {
    let slack = Slack::start();
    let tx = Sender::new(&slack);
    let cases = [
        ("fail-404-channel_not_found", "SLACK_CHANNEL_NOT_FOUND", false),
        ("fail-400-invalid_payload", "SLACK_INVALID_PAYLOAD", false),
        ("fail-400-no_text", "SLACK_INVALID_PAYLOAD", false),
        ("fail-400-invalid_blocks", "SLACK_INVALID_PAYLOAD", false),
        ("fail-410-channel_is_archived", "SLACK_CHANNEL_ARCHIVED", false),
        ("fail-403-action_prohibited", "SLACK_WEBHOOK_FORBIDDEN", false),
        ("fail-403-invalid_token", "SLACK_INVALID_AUTH", false),
        ("fail-500-rollup_error", "SLACK_SERVER_ERROR", true),
        ("fail-400-some_new_error", "SLACK_API_ERROR", false),
        ("ratelimited", "SLACK_RATE_LIMITED", true),
    ];
    for (i, (key, code, retryable)) in cases.iter().enumerate() {
        let name = format!("HOOK_{i}");
        tx.secret(&name, &slack.hook(key)).await;
        let err = tx.send(&format!("s{i}"), 1, json!({"text": "hello", "webhook": name})).await.expect_err(key);
        assert_eq!((err.code.as_str(), err.retryable), (*code, *retryable), "{key}: {}", err.message);
        assert_eq!(err.details["via"], format!("the Slack webhook `{name}`"));
        assert_clean(&err);
    }
    let err = tx.send("rl", 1, json!({"text": "hello", "webhook": "HOOK_9"})).await.expect_err("429");
    assert_eq!(err.details["retry_after_ms"], 3000);
    // A URL that is no hook: Slack's 404 no_service.
    tx.secret("GONE", &format!("{}/hooks/{HOOK_KEY}", slack.base)).await;
    let err = tx.send("gone", 1, json!({"text": "hello", "webhook": "GONE"})).await.expect_err("no_service");
    assert_eq!(err.code, "SLACK_WEBHOOK_NO_SERVICE");
    assert_clean(&err);
    // Nothing listening: a transport failure, retryable, without the URL.
    tx.secret("DOWN", &format!("http://127.0.0.1:9/services/T0AOS/B0AOS/{HOOK_KEY}")).await;
    let err = tx.send("down", 1, json!({"text": "hello", "webhook": "DOWN"})).await.expect_err("refused");
    assert_eq!((err.code.as_str(), err.retryable), ("HTTP_CONNECT_ERROR", true), "{}", err.message);
    assert_clean(&err);
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    let slack = Slack::start();
    let tx = Sender::new(&slack);
    tx.secret("SLACK_WEBHOOK_URL", &slack.hook(HOOK_KEY)).await;
    let section = |n: usize| json!({"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(n)}});
    let dividers: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    let cases = [
        (json!({"text": "x".repeat(40_001)}), "SLACK_MESSAGE_TOO_LONG", "/text"),
        (json!({"text": "t", "blocks": dividers}), "SLACK_MESSAGE_TOO_LONG", "/blocks"),
        (json!({"blocks": [section(3001)]}), "SLACK_MESSAGE_TOO_LONG", "/blocks/0/text/text"),
        (
            json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]}),
            "SLACK_MESSAGE_TOO_LONG",
            "/blocks/0/text/text",
        ),
        (json!({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}), "SLACK_INVALID_PAYLOAD", "/blocks/0/text/type"),
        (json!({"blocks": [{"type": "modal"}]}), "SLACK_INVALID_PAYLOAD", "/blocks/0/type"),
        (json!({"text": "   "}), "SLACK_INVALID_PAYLOAD", "/text"),
        (json!({"blocks": []}), "SLACK_INVALID_PAYLOAD", "/text"),
    ];
    for (i, (input, code, path)) in cases.iter().enumerate() {
        let err = tx.send(&format!("v{i}"), 1, input.clone()).await.expect_err(code);
        assert_eq!((err.code.as_str(), err.details["path"].as_str().unwrap_or("")), (*code, *path), "{}", err.message);
    }
    // Limits are inclusive.
    tx.send("ok", 1, json!({"text": "x".repeat(40_000), "blocks": [section(3000)]})).await.expect("at the limits");
    for input in [
        json!({"text": "t", "channel": "C0AOS1"}),
        json!({"text": "t", "token": "SLACK_BOT_TOKEN"}),
        json!({"text": "t", "token": "A", "webhook": "B", "channel": "C0AOS1"}),
        json!({"text": "t", "webhook": "../LEAK"}),
        json!({"text": "t", "thread_ts": "yesterday"}),
        json!({"text": "t", "url": "https://hooks.slack.com/services/x"}),
    ] {
        assert_eq!(tx.send("bad", 1, input.clone()).await.expect_err("invalid").code, "SKILL_INPUT_INVALID", "{input}");
    }
    assert_eq!(slack.received().await.len(), 1, "only the message at the limits reached Slack");
}

#[tokio::test]
async fn chat_post_message_with_a_bot_token() {
    let slack = Slack::start();
    let tx = Sender::new(&slack);
    tx.secret("SLACK_BOT_TOKEN", TOKEN).await;
    let input = json!({"text": "deploy done", "token": "SLACK_BOT_TOKEN", "channel": "C0AOS1", "thread_ts": "1700000000.000100"});
    let out = tx.send("post", 3, input).await.expect("posted");
    assert_eq!(out["ok"], true);
    assert_eq!(out["via"], "chat.postMessage");
    assert_eq!(out["channel"], "C0AOS1");
    assert!(out["ts"].as_str().unwrap().contains('.'));
    let got = slack.received().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["path"], "/api/chat.postMessage");
    assert_eq!(got[0]["headers"]["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(got[0]["headers"]["content-type"], "application/json; charset=utf-8");
    let sent = &got[0]["json"];
    assert_eq!(
        (sent["channel"].as_str(), sent["text"].as_str(), sent["thread_ts"].as_str()),
        (Some("C0AOS1"), Some("deploy done"), Some("1700000000.000100"))
    );
    assert_eq!(sent["metadata"], json!({"event_type": "aos_step", "event_payload": {"run_id": "run-1", "step_id": "post", "attempt": 3}}));
    assert!(!out.to_string().contains(TOKEN));

    let cases = [
        ("C_UNKNOWN", "SLACK_CHANNEL_NOT_FOUND", false),
        ("C_ARCHIVED", "SLACK_CHANNEL_ARCHIVED", false),
        ("C_NOTIN", "SLACK_NOT_IN_CHANNEL", false),
        ("C_RATE", "SLACK_RATE_LIMITED", true),
    ];
    for (i, (channel, code, retryable)) in cases.iter().enumerate() {
        let err =
            tx.send(&format!("e{i}"), 1, json!({"text": "t", "token": "SLACK_BOT_TOKEN", "channel": channel})).await.expect_err(channel);
        assert_eq!((err.code.as_str(), err.retryable), (*code, *retryable), "{channel}: {}", err.message);
        assert_eq!(err.details["via"], "Slack's chat.postMessage");
        assert_clean(&err);
    }
    let err = tx.send("rate", 1, json!({"text": "t", "token": "SLACK_BOT_TOKEN", "channel": "C_RATE"})).await.expect_err("429");
    assert_eq!(err.details["retry_after_ms"], 2000);
    tx.secret("OLD_TOKEN", "xoxb-revoked-0000").await;
    let err = tx.send("auth", 1, json!({"text": "t", "token": "OLD_TOKEN", "channel": "C0AOS1"})).await.expect_err("invalid_auth");
    assert_eq!((err.code.as_str(), err.details["slack_error"].as_str()), ("SLACK_INVALID_AUTH", Some("invalid_auth")));
    assert!(!err.message.contains("xoxb-revoked"));
    tx.secret("BROKEN_TOKEN", "xoxb-line\r\nX-Injected: 1").await;
    let err = tx.send("inj", 1, json!({"text": "t", "token": "BROKEN_TOKEN", "channel": "C0AOS1"})).await.expect_err("not a token");
    assert_eq!(err.code, "SLACK_INVALID_AUTH");
    let err = tx.send("none", 1, json!({"text": "t", "token": "NO_TOKEN", "channel": "C0AOS1"})).await.expect_err("missing");
    assert_eq!(err.code, "SECRET_NOT_FOUND");
    assert_eq!(slack.received().await.len(), 7, "the refused token and the missing one never reached Slack");
}

#[tokio::test]
async fn webhook_secrets_that_are_not_slack_urls() {
    let slack = Slack::start();
    let tx = Sender::new(&slack);
    let cases = [
        ("not a url at all", "SLACK_WEBHOOK_URL_INVALID"),
        ("http://hooks.example.com/services/T/B/Zq8fHkL2mNpR4sTvWxY7aBcD", "SLACK_WEBHOOK_URL_INVALID"),
        ("ftp://hooks.example.com/services/T/B/Zq8fHkL2mNpR4sTvWxY7aBcD", "SLACK_WEBHOOK_URL_INVALID"),
        ("https://user:Zq8fHkL2mNpR4sTvWxY7aBcD@hooks.example.com/services/x", "SLACK_WEBHOOK_URL_INVALID"),
        ("https://169.254.169.254/services/T/B/Zq8fHkL2mNpR4sTvWxY7aBcD", "HTTP_BLOCKED_ADDRESS"),
        ("https://10.1.2.3/services/T/B/Zq8fHkL2mNpR4sTvWxY7aBcD", "HTTP_BLOCKED_ADDRESS"),
    ];
    for (i, (value, code)) in cases.iter().enumerate() {
        tx.secret("SLACK_WEBHOOK_URL", value).await;
        let err = tx.send(&format!("u{i}"), 1, json!({"text": "t"})).await.expect_err(value);
        assert_eq!(err.code, *code, "{value}: {}", err.message);
        assert_clean(&err);
        assert!(!err.message.contains("hooks.example.com") && !err.message.contains("169.254"), "{}", err.message);
    }
    let err = tx.send("missing", 1, json!({"text": "t", "webhook": "NOPE"})).await.expect_err("missing");
    assert_eq!(err.code, "SECRET_NOT_FOUND");
    assert!(slack.received().await.is_empty());
}
