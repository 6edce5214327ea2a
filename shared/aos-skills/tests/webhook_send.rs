//! webhook_send against a real receiver: `tests/stack/protocol_receiver.py` verifies every request
//! with the Standard Webhooks reference library (`standardwebhooks`), answers 401 to one that does
//! not verify, and lets the test replay a recorded request later than the tolerance window. Needs
//! the `protocols` test env (`bash tests/stack/python-env.sh protocols`): missing it is a failure,
//! never a skip.

use aos_core::ports::{Secrets, StoreError};
use aos_core::skill::{Skill, SkillContext, TenantScope};
use aos_skills::{SkillsConfig, WebhookSend};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

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

struct Receiver {
    child: Child,
    base: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env = std::env::var("AOS_TEST_ENV").map(PathBuf::from).unwrap_or_else(|_| root.join(".test-env"));
    let python = env.join("protocols/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the webhook tests need the Standard Webhooks reference library; run `bash tests/stack/python-env.sh protocols`",
        python.display()
    );
    python
}

fn receiver() -> Receiver {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/stack/protocol_receiver.py");
    let mut child = Command::new(python())
        .arg(script)
        .args(["--port", "0", "--webhook-secret", KEY])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the receiver's first line");
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected receiver output {line:?}")).to_string();
    Receiver { child, base }
}

impl Receiver {
    async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_received", self.base)).await.expect("GET /_received").json().await.expect("JSON")
    }
    async fn reverify(&self, index: usize, shift_s: i64) -> Value {
        let url = format!("{}/_verify?index={index}&shift={shift_s}", self.base);
        reqwest::Client::new().post(url).send().await.expect("POST /_verify").json().await.expect("JSON")
    }
}

struct Sender {
    skill: WebhookSend,
    secrets: Arc<MapSecrets>,
    store: Arc<dyn aos_core::ports::Store>,
    _dir: tempfile::TempDir,
}

impl Sender {
    fn new(allow_local: bool) -> Self {
        let mut config = SkillsConfig::default();
        if allow_local {
            config.http_allow_hosts = vec!["127.0.0.1".into()];
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let db = aos_store::EmbeddedDb::open(&dir.path().join("aos.db"), aos_store::Durability::Relaxed).expect("db");
        let secrets = Arc::new(MapSecrets(Mutex::new(HashMap::new())));
        Self { skill: WebhookSend::new(&config), secrets, store: Arc::new(aos_store::EmbeddedStore::new(db)), _dir: dir }
    }

    async fn secret(&self, name: &str, value: &str) {
        self.secrets.put("acme", name, value).await.expect("put secret");
    }

    async fn send(&self, step: &str, attempt: u32, input: Value) -> Result<Value, aos_core::outcome::StepError> {
        let scope = Arc::new(TenantScope::new("acme", "webhook_send", self.store.clone(), self.secrets.clone()));
        let ctx = SkillContext::new("run-1", step, attempt, 1, 0, 10_000).with_scope(scope);
        self.skill.execute(&ctx, input).await.map(|o| o.output)
    }
}

#[tokio::test]
async fn signed_webhooks_verify_with_the_reference_library() {
    let rx = receiver();
    let tx = Sender::new(true);
    tx.secret("WEBHOOK_SECRET", KEY).await;
    let payload = json!({"type": "price.changed", "data": {"sku": "A-1", "price": 19.5, "note": "ünïcødé \"quoted\""}});
    let url = format!("{}/hook/prices", rx.base);
    let out = tx.send("notify", 1, json!({"url": url, "payload": payload, "headers": {"X-Tenant-Ref": "r-7"}})).await.expect("sent");
    assert_eq!(out["status"], 200);
    let id = out["webhook_id"].as_str().expect("id").to_string();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(out["response"], json!({"received": id}));

    let got = rx.received().await;
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req["verified"], true, "the reference library rejected the signature: {}", req["error"]);
    assert_eq!(req["headers"]["webhook-id"], id);
    assert_eq!(req["headers"]["content-type"], "application/json");
    assert_eq!(req["headers"]["x-tenant-ref"], "r-7");
    assert!(req["headers"]["webhook-signature"].as_str().unwrap().starts_with("v1,"));
    let ts: i64 = req["headers"]["webhook-timestamp"].as_str().unwrap().parse().expect("seconds");
    assert_eq!(ts, out["timestamp"].as_i64().unwrap());
    assert_eq!(serde_json::from_str::<Value>(req["body"].as_str().unwrap()).unwrap(), payload);

    // A replay of the recorded request inside the window verifies; outside it (5 minutes) it is rejected.
    assert_eq!(rx.reverify(0, 60).await["ok"], true);
    let late = rx.reverify(0, 6 * 60).await;
    assert_eq!(late["ok"], false, "a replay 6 minutes later must be refused: {late}");
    assert!(late["error"].as_str().unwrap().contains("too old"), "{late}");

    // The id is the step's: another attempt (a retry) sends the same id, another step another one.
    let again = tx.send("notify", 2, json!({"url": url, "payload": payload})).await.expect("retry");
    assert_eq!(again["webhook_id"], id);
    let other = tx.send("notify-2", 1, json!({"url": url, "payload": payload})).await.expect("other step");
    assert_ne!(other["webhook_id"], id);
    // No secret in what comes back.
    for o in [&out, &again, &other] {
        assert!(!o.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}

#[tokio::test]
async fn keys_rotation_and_secret_failures() {
    let rx = receiver();
    let tx = Sender::new(true);
    let url = format!("{}/hook/k", rx.base);
    // Signed with another key: the receiver refuses it (401), which is an AUTH failure, not retried.
    tx.secret("WRONG", OTHER_KEY).await;
    let err = tx.send("a", 1, json!({"url": url, "payload": 1, "secret": "WRONG"})).await.expect_err("401");
    assert_eq!((err.code.as_str(), err.retryable), ("HTTP_401", false));
    // Rotation: the new key and the old one; the receiver still has the old one.
    tx.secret("ROTATING", &format!("{OTHER_KEY} {KEY}")).await;
    let ok = tx.send("b", 1, json!({"url": url, "payload": 2, "secret": "ROTATING"})).await.expect("rotation");
    assert_eq!(ok["status"], 200);
    let got = rx.received().await;
    assert_eq!(got[1]["verified"], true);
    assert_eq!(got[1]["headers"]["webhook-signature"].as_str().unwrap().split(' ').count(), 2);
    // A raw base64 key (without whsec_) works too.
    tx.secret("RAW", KEY.trim_start_matches("whsec_")).await;
    assert_eq!(tx.send("c", 1, json!({"url": url, "payload": 3, "secret": "RAW"})).await.expect("raw key")["status"], 200);

    let err = tx.send("d", 1, json!({"url": url, "payload": 1, "secret": "MISSING"})).await.expect_err("missing");
    assert_eq!(err.code, "SECRET_NOT_FOUND");
    tx.secret("GARBAGE", "not base64 at all!").await;
    let err = tx.send("e", 1, json!({"url": url, "payload": 1, "secret": "GARBAGE"})).await.expect_err("garbage");
    assert_eq!(err.code, "WEBHOOK_SECRET_INVALID");
    assert!(!err.message.contains("not base64 at all"), "the secret's value is not in the message: {}", err.message);
    let err = tx.send("f", 1, json!({"url": url, "payload": 1})).await.expect_err("no default secret");
    assert_eq!(err.code, "SECRET_NOT_FOUND");
    assert_eq!(rx.received().await.len(), 3, "only the signed sends reached the receiver");
}

#[tokio::test]
async fn statuses_limits_and_the_address_guard() {
    let rx = receiver();
    let tx = Sender::new(true);
    tx.secret("WEBHOOK_SECRET", KEY).await;
    let send = |path: &str| json!({"url": format!("{}{path}", rx.base), "payload": {"n": 1}});
    let err = tx.send("a", 1, send("/status/429")).await.expect_err("429");
    assert_eq!((err.code.as_str(), err.retryable, err.details["retry_after_ms"].clone()), ("HTTP_429", true, json!(7000)));
    let err = tx.send("b", 1, send("/status/503")).await.expect_err("503");
    assert_eq!((err.code.as_str(), err.retryable), ("HTTP_503", true));
    let err = tx.send("c", 1, send("/status/302")).await.expect_err("302");
    assert_eq!((err.code.as_str(), err.retryable), ("HTTP_302", false));
    assert!(!rx.received().await.iter().any(|r| r["path"] == "/hook/redirected"), "a redirect is not followed");
    let err = tx.send("d", 1, send("/status/400")).await.expect_err("400");
    assert_eq!(err.code, "HTTP_400");

    let big = json!({"url": format!("{}/hook/big", rx.base), "payload": "x".repeat(256 * 1024)});
    assert_eq!(tx.send("e", 1, big).await.expect_err("too large").code, "WEBHOOK_PAYLOAD_TOO_LARGE");
    for bad in [
        json!({"url": "x", "payload": 1, "headers": {"webhook-id": "mine"}}),
        json!({"url": "x", "payload": 1, "headers": {"Content-Type": "text/plain"}}),
        json!({"url": "x", "payload": 1, "extra": true}),
        json!({"url": "x"}),
        json!({"url": "x", "payload": 1, "secret": "../../etc/passwd"}),
    ] {
        assert_eq!(tx.send("f", 1, bad.clone()).await.expect_err("invalid").code, "SKILL_INPUT_INVALID", "{bad}");
    }
    let before = rx.received().await.len();
    // Without the deployment's allowance, the loopback receiver and the metadata address are refused.
    let guarded = Sender::new(false);
    guarded.secret("WEBHOOK_SECRET", KEY).await;
    for url in [format!("{}/hook/x", rx.base), "http://169.254.169.254/latest/meta-data".into(), "http://[::1]:9/".into()] {
        let err = guarded.send("g", 1, json!({"url": url, "payload": 1})).await.expect_err("blocked");
        assert_eq!(err.code, "HTTP_BLOCKED_ADDRESS", "{url}");
    }
    let err = guarded.send("h", 1, json!({"url": "ftp://example.com/x", "payload": 1})).await.expect_err("scheme");
    assert_eq!(err.code, "HTTP_INVALID_URL");
    assert_eq!(rx.received().await.len(), before, "refused sends never reached the receiver");
}

/// The signature vectors both SDKs' verification helpers are tested against
/// (`tests/vectors/webhooks.json`), computed here and checked against the reference library.
#[test]
fn signature_vectors_are_current_and_verify_with_the_reference_library() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/webhooks.json");
    let cases = [
        ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330_i64, r#"{"test": 2432232314}"#, KEY),
        ("msg_2f1b0f5f8d9e4c3b", 1767261721, r#"{"type":"price.changed","data":{"sku":"A-1","price":19.5}}"#, KEY),
        ("msg_unicode", 1767261800, r#"{"note":"ünïcødé \"q\" \\ /"}"#, OTHER_KEY),
    ];
    let vectors: Vec<Value> = cases
        .iter()
        .map(|(id, ts, body, key)| {
            let signature = aos_skills::webhook_send::sign(key, id, *ts, body.as_bytes()).expect("sign");
            json!({"secret": key, "id": id, "timestamp": ts, "body": body, "signature": signature})
        })
        .collect();
    // The specification's own example (id, timestamp, body and key from standard-webhooks' README).
    assert_eq!(vectors[0]["signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    let text = serde_json::to_string_pretty(&json!({"description": "Standard Webhooks signatures computed by aos-skills' webhook_send (shared/aos-skills/tests/webhook_send.rs); each SDK's verification helper must accept them (and reject them with any byte changed).", "vectors": vectors})).unwrap() + "\n";
    if std::env::var("AOS_UPDATE_VECTORS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write vectors");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(committed, text, "tests/vectors/webhooks.json is stale: AOS_UPDATE_VECTORS=1 cargo test -p aos-skills --test webhook_send");
    // The reference library accepts each vector (its clock moved to the vector's time).
    let check = r#"
import json, sys
from datetime import datetime, timezone
import standardwebhooks.webhooks as swh
for v in json.load(open(sys.argv[1]))["vectors"]:
    class At(swh.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(v["timestamp"], tz=timezone.utc)
    swh.datetime = At
    swh.Webhook(v["secret"]).verify(v["body"], {"webhook-id": v["id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": v["signature"]})
print("ok")
"#;
    let out = Command::new(python()).args(["-c", check]).arg(&path).output().expect("python");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&out.stderr));
}
