//! email_send against a real SMTP server: `tests/stack/protocol_smtp.py` (aiosmtpd) records every
//! message it accepts, parsed by Python's `email` package, and answers 550/553/451/552 for
//! recipients that ask for them. Needs the `protocols` test env (`bash tests/stack/python-env.sh
//! protocols`): missing it is a failure, never a skip.

use aos_core::outcome::StepError;
use aos_core::ports::{Secrets, StoreError};
use aos_core::skill::{Skill, SkillContext, TenantScope};
use aos_skills::{EmailSend, SkillsConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "s3cr3t-smtp-pa55";

struct MapSecrets(Mutex<HashMap<String, String>>);

#[async_trait::async_trait]
impl Secrets for MapSecrets {
    async fn get(&self, _tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }
    async fn put(&self, _tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(name.to_string(), value.to_string());
        Ok(())
    }
    async fn names(&self, _: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let env = std::env::var("AOS_TEST_ENV").map(PathBuf::from).unwrap_or_else(|_| root().join(".test-env"));
    let python = env.join("protocols/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the email tests need aiosmtpd; run `bash tests/stack/python-env.sh protocols`",
        python.display()
    );
    python
}

struct Smtp {
    child: Child,
    addr: String,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(args: &[&str]) -> Smtp {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("mail.jsonl");
        let mut child = Command::new(python())
            .arg(root().join("tests/stack/protocol_smtp.py"))
            .arg("--out")
            .arg(&out)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected output {line:?}")).to_string();
        Smtp { child, addr, out, _dir: dir }
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }
}

struct Mailer {
    skill: EmailSend,
    secrets: Arc<MapSecrets>,
    store: Arc<dyn aos_core::ports::Store>,
    _dir: tempfile::TempDir,
}

impl Mailer {
    fn new(allow_local: bool, connection: &str) -> Self {
        let mut config = SkillsConfig::default();
        if allow_local {
            config.http_allow_hosts = vec!["127.0.0.1".into()];
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let db = aos_store::EmbeddedDb::open(&dir.path().join("aos.db"), aos_store::Durability::Relaxed).expect("db");
        let secrets = Arc::new(MapSecrets(Mutex::new(HashMap::from([("SMTP_URL".to_string(), connection.to_string())]))));
        Self { skill: EmailSend::new(&config), secrets, store: Arc::new(aos_store::EmbeddedStore::new(db)), _dir: dir }
    }

    async fn send(&self, step: &str, attempt: u32, input: Value) -> Result<Value, StepError> {
        let scope = Arc::new(TenantScope::new("acme", "email_send", self.store.clone(), self.secrets.clone()));
        let ctx = SkillContext::new("run-9", step, attempt, 1, 0, 10_000).with_scope(scope);
        self.skill.execute(&ctx, input).await.map(|o| o.output)
    }
}

fn plain(smtp: &Smtp) -> String {
    format!("smtp://mailer:{PASSWORD}@{}?tls=none&from=AOS%20Reports%20%3Creports@aos.example%3E", smtp.addr)
}

#[tokio::test]
async fn a_multipart_message_arrives_rendered_and_escaped() {
    let smtp = Smtp::start(&["--auth", &format!("mailer:{PASSWORD}")]);
    let mailer = Mailer::new(true, &plain(&smtp));
    let input = json!({
        "to": ["Ana <ana@example.com>", "bob@example.com"],
        "cc": ["carol@example.com"],
        "bcc": ["audit@example.com"],
        "reply_to": "support@aos.example",
        "subject": "Price of {{ sku }}: {{ price }} €",
        "text": "Hello {{ name }},\n{% for l in lines %}- {{ l }}\n{% endfor %}",
        "html": "<p>Hello {{ name }}</p><ul>{% for l in lines %}<li>{{ l }}</li>{% endfor %}</ul>",
        "data": {"sku": "A-1", "price": 19.5, "name": "<script>alert(1)</script> & Ünïcode", "lines": ["one", "two <b>"]}
    });
    let out = mailer.send("mail", 1, input.clone()).await.expect("sent");
    assert_eq!(out["recipients"], 4);
    assert!(out["reply"].as_str().unwrap().starts_with("250"), "{out}");
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["authenticated"], true);
    assert_eq!(m["mail_from"], "reports@aos.example");
    assert_eq!(m["rcpt_tos"], json!(["ana@example.com", "bob@example.com", "carol@example.com", "audit@example.com"]));
    let h = &m["headers"];
    assert_eq!(h["subject"], "Price of A-1: 19.5 €");
    assert_eq!(h["message-id"], out["message_id"]);
    assert!(h["from"].as_str().unwrap().contains("reports@aos.example"));
    assert!(h["to"].as_str().unwrap().contains("ana@example.com") && h["to"].as_str().unwrap().contains("bob@example.com"));
    assert_eq!(h["cc"], "carol@example.com");
    assert_eq!(h["reply-to"], "support@aos.example");
    assert!(h.get("bcc").is_none(), "Bcc is not a header of the message: {h}");
    assert!(h.get("date").is_some());
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(
        parts[0]["content"].as_str().unwrap().replace("\r\n", "\n"),
        "Hello <script>alert(1)</script> & Ünïcode,\n- one\n- two <b>\n"
    );
    assert_eq!(parts[1]["content_type"], "text/html");
    let html = parts[1]["content"].as_str().unwrap();
    assert!(html.contains("<p>Hello &lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Ünïcode</p>"), "{html}");
    assert!(html.contains("<li>two &lt;b&gt;</li>"), "{html}");

    // A redelivery of the attempt sends the same Message-ID (recognisable); another attempt another.
    let again = mailer.send("mail", 1, input.clone()).await.expect("again");
    assert_eq!(again["message_id"], out["message_id"]);
    let retry = mailer.send("mail", 2, input).await.expect("retry");
    assert_ne!(retry["message_id"], out["message_id"]);
    assert_eq!(smtp.messages()[1]["headers"]["message-id"], out["message_id"]);
    for o in [&out, &again, &retry] {
        assert!(!o.to_string().contains(PASSWORD));
    }
}

#[tokio::test]
async fn smtp_replies_map_to_their_codes() {
    let smtp = Smtp::start(&["--auth", &format!("mailer:{PASSWORD}")]);
    let mailer = Mailer::new(true, &plain(&smtp));
    let send = |to: &str| json!({"to": [to], "subject": "s", "text": "t"});
    let cases = [
        ("reject550@example.com", "EMAIL_RECIPIENT_REJECTED", false, "550"),
        ("reject553@example.com", "EMAIL_RECIPIENT_REJECTED", false, "553"),
        ("defer451@example.com", "EMAIL_DEFERRED", true, "451"),
        ("full552@example.com", "EMAIL_TOO_LARGE", false, "552"),
    ];
    for (to, code, retryable, smtp_code) in cases {
        let e = mailer.send("s", 1, send(to)).await.expect_err(to);
        assert_eq!((e.code.as_str(), e.retryable, e.details["smtp_code"].as_str()), (code, retryable, Some(smtp_code)), "{to}: {e:?}");
        assert!(!e.message.contains(PASSWORD), "{}", e.message);
    }
    let wrong = Mailer::new(true, &plain(&smtp).replace(PASSWORD, "wrong"));
    let e = wrong.send("s", 1, send("ana@example.com")).await.expect_err("bad password");
    assert_eq!((e.code.as_str(), e.retryable), ("EMAIL_AUTH_FAILED", false), "{e:?}");
    assert!(smtp.messages().is_empty(), "nothing was accepted");
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert, key)
}

#[tokio::test]
async fn tls_is_required_and_verified_and_the_guard_applies() {
    // STARTTLS with a certificate no root vouches for: refused, nothing sent.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let tls = Smtp::start(&["--tls", cert.to_str().unwrap(), key.to_str().unwrap()]);
    let mailer = Mailer::new(true, &format!("smtp://mailer:{PASSWORD}@{}?from=a@aos.example", tls.addr));
    let e = mailer.send("s", 1, json!({"to": ["x@example.com"], "subject": "s", "text": "t"})).await.expect_err("untrusted certificate");
    assert_eq!((e.code.as_str(), e.retryable), ("EMAIL_TLS_ERROR", false), "{e:?}");
    assert!(tls.messages().is_empty());
    // smtp:// requires STARTTLS: a server that does not offer it gets no credentials and no message.
    let bare = Smtp::start(&[]);
    let mailer = Mailer::new(true, &format!("smtp://mailer:{PASSWORD}@{}?from=a@aos.example", bare.addr));
    let e = mailer.send("s", 1, json!({"to": ["x@example.com"], "subject": "s", "text": "t"})).await.expect_err("no STARTTLS");
    assert_eq!(e.code, "EMAIL_TLS_ERROR", "{e:?}");
    assert!(bare.messages().is_empty());
    // Without the deployment's allowance, loopback is refused before any connection, and
    // plaintext is refused for any host it does not allow.
    let guarded = Mailer::new(false, &format!("smtps://mailer:{PASSWORD}@{}?from=a@aos.example", bare.addr));
    let e = guarded.send("s", 1, json!({"to": ["x@example.com"], "subject": "s", "text": "t"})).await.expect_err("blocked");
    assert_eq!(e.code, "EMAIL_BLOCKED_ADDRESS", "{e:?}");
    let guarded = Mailer::new(false, "smtp://u:p@mail.example.com:25?tls=none&from=a@aos.example");
    let e = guarded.send("s", 1, json!({"to": ["x@example.com"], "subject": "s", "text": "t"})).await.expect_err("plaintext");
    assert_eq!(e.code, "EMAIL_CONNECTION_INVALID", "{e:?}");
    let metadata = Mailer::new(false, "smtps://u:p@169.254.169.254:465?from=a@aos.example");
    let e = metadata.send("s", 1, json!({"to": ["x@example.com"], "subject": "s", "text": "t"})).await.expect_err("metadata");
    assert_eq!(e.code, "EMAIL_BLOCKED_ADDRESS");
}

#[tokio::test]
async fn inputs_templates_and_secrets_are_checked_before_connecting() {
    let smtp = Smtp::start(&[]);
    let mailer = Mailer::new(true, &format!("smtp://{}?tls=none&from=a@aos.example", smtp.addr));
    let base = json!({"to": ["x@example.com"], "subject": "s", "text": "t"});
    let with = |patch: Value| {
        let mut v = base.clone();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases = [
        (with(json!({"to": ["x@example.com\r\nBcc: evil@example.com"]})), "EMAIL_ADDRESS_INVALID"),
        (with(json!({"to": ["not an address"]})), "EMAIL_ADDRESS_INVALID"),
        (with(json!({"to": (0..51).map(|i| format!("u{i}@example.com")).collect::<Vec<_>>()})), "EMAIL_ADDRESS_INVALID"),
        (with(json!({"from": "evil\n@example.com"})), "EMAIL_ADDRESS_INVALID"),
        (with(json!({"subject": "{{ missing }}"})), "EMAIL_TEMPLATE_ERROR"),
        (with(json!({"text": "{% for %}"})), "EMAIL_TEMPLATE_ERROR"),
        (
            with(json!({"text": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"})),
            "EMAIL_TEMPLATE_ERROR",
        ),
        (with(json!({"subject": "a{{ '\\n' }}Bcc: evil@example.com"})), "EMAIL_TOO_LARGE"),
        (with(json!({"text": "{{ 'x' * 2000000 }}"})), "EMAIL_TEMPLATE_ERROR"),
        (with(json!({"text": "{% set a = s %}{{ a ~ a }}", "data": {"s": "x"}})), "EMAIL_TEMPLATE_ERROR"),
        (with(json!({"text": "{{ s + s }}", "data": {"s": "x"}})), "EMAIL_TEMPLATE_ERROR"),
        (with(json!({"text": "{% for i in range(10) %}x{% endfor %}"})), "EMAIL_TEMPLATE_ERROR"),
        (with(json!({"text": "{{ s | replace('x', s) }}", "data": {"s": "x"}})), "EMAIL_TEMPLATE_ERROR"),
        // Printing the data within loops grows only to the output cap.
        (
            with(json!({"text": "{% for i in n %}{{ s }}{% endfor %}", "data": {"s": "x".repeat(400_000), "n": [1, 2, 3]}})),
            "EMAIL_TOO_LARGE",
        ),
        (with(json!({"connection": "MISSING"})), "SECRET_NOT_FOUND"),
        (json!({"to": ["x@example.com"], "subject": "s"}), "SKILL_INPUT_INVALID"),
        (with(json!({"smtp_host": "evil"})), "SKILL_INPUT_INVALID"),
    ];
    for (input, code) in cases {
        let e = mailer.send("s", 1, input.clone()).await.expect_err("refused");
        assert_eq!(e.code, code, "{input}: {e:?}");
    }
    mailer.secrets.put("acme", "BAD", "mysql://root@db").await.unwrap();
    let e = mailer.send("s", 1, with(json!({"connection": "BAD"}))).await.expect_err("bad connection");
    assert_eq!(e.code, "EMAIL_CONNECTION_INVALID");
    assert!(smtp.messages().is_empty(), "no refused message reached the server");
    // The same server then takes a good one (so the checks above were not vacuous), with the
    // operators inside string literals and comments, which are text.
    let fine = with(
        json!({"text": "{# a ~ b * c #}{{ '1 + 1 ~ *' }} {{ n | length }} {% if n is sequence %}{{ n | join(', ') }}{% endif %}", "data": {"n": [1, 2]}}),
    );
    mailer.send("s", 1, fine).await.expect("a good message");
    assert_eq!(smtp.messages()[0]["parts"][0]["content"].as_str().unwrap().trim_end(), "1 + 1 ~ * 2 1, 2");
    assert_eq!(smtp.messages().len(), 1);
}
