//! Every plan in `examples/` runs to success against a real `aos serve`, driven through the `aos`
//! CLI the way a person would, with local stand-ins for the outside world.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn examples_dir() -> PathBuf {
    repo().join("examples")
}

/// Runs the `aos` CLI against `app` and returns (exit code, stdout).
fn aos(app: &App, args: &[&str]) -> (i32, String) {
    let out = Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .env("AOS_LOG", "error")
        .output()
        .expect("run aos");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        eprintln!("aos {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code().unwrap_or(-1), stdout)
}

fn submit_and_wait(app: &App, plan: &str, inputs: &Value) -> Value {
    let file = examples_dir().join(plan);
    let (code, out) = aos(app, &["--json", "runs", "submit", file.to_str().unwrap(), "--inputs", &inputs.to_string(), "--wait"]);
    assert_eq!(code, 0, "{plan}: {out}");
    serde_json::from_str(&out).expect("--json prints the run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_plan_succeeds_through_the_cli() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let dir = examples_dir();

    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("hello-transform.inputs.json")).unwrap()).unwrap();
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        let inputs = inputs.clone();
        move || {
            let app = App::detached(app_base, key);
            submit_and_wait(&app, "hello-transform.json", &inputs)
        }
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(step(&run, "summary")["output"], json!({"orders": 3, "revenue": 151.5, "top": "B-7"}));

    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("triage-with-fallback.inputs.json")).unwrap()).unwrap();
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        move || submit_and_wait(&App::detached(app_base, key), "triage-with-fallback.json", &inputs)
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    let strict = step(&run, "strict_score");
    assert_eq!(strict["fallback"], true);
    assert_eq!(strict["output"], json!(50));
    assert_eq!(step(&run, "page")["output"], json!("page on-call for T-1042 (score 50)"));
    assert_eq!(step(&run, "queue")["status"], "skipped");

    // The 5-step plan with a parallel branch, against local stand-ins: the status endpoint fails
    // twice, so its retries show in the run.
    let inputs = json!({"price_url": format!("{}/price", target.base), "status_url": format!("{}/flaky/status/2", target.base)});
    let run = tokio::task::spawn_blocking({
        let app_base = app.base.clone();
        let key = app.key.clone();
        move || submit_and_wait(&App::detached(app_base, key), "btc-price.json", &inputs)
    })
    .await
    .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(step(&run, "status")["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(step(&run, "message")["output"], json!("BTC = 43210.5 USD (2314 sats per dollar)"));
    let run_id = run["run_id"].as_str().unwrap().to_string();

    // The rest of the CLI, as a person would use it.
    let (app_base, key) = (app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let app = App::detached(app_base, key);
        let (code, out) = aos(&app, &["runs", "get", &run_id]);
        assert_eq!(code, 0);
        assert!(out.contains("status succeeded") && out.contains("message") && out.contains("trace root"), "{out}");
        let (code, out) = aos(&app, &["runs", "list"]);
        assert_eq!(code, 0);
        assert_eq!(out.lines().filter(|l| l.contains("succeeded")).count(), 3, "{out}");
        let (code, out) = aos(&app, &["--json", "runs", "list", "--status", "succeeded", "--limit", "2"]);
        assert_eq!(code, 0);
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(list["runs"].as_array().unwrap().len(), 2);
        assert!(list["next_cursor"].is_string());
        let (code, out) = aos(&app, &["replay", &run_id]);
        assert_eq!(code, 0);
        assert!(out.starts_with("parity: true"), "{out}");
        let (code, out) = aos(&app, &["simulate", examples_dir().join("btc-price.json").to_str().unwrap()]);
        assert_eq!(code, 0);
        assert!(out.contains("history") && out.contains("feasible: true"), "{out}");
        let (code, out) = aos(&app, &["skills", "list"]);
        assert_eq!(code, 0);
        assert!(out.contains("http_call") && out.contains("json_transform"), "{out}");
        let (code, out) = aos(&app, &["--json", "skills", "show", "http_call"]);
        assert_eq!(code, 0);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["id"], "http_call");
        let (code, _) = aos(&app, &["workflows", "create", "triage", examples_dir().join("triage-with-fallback.json").to_str().unwrap()]);
        assert_eq!(code, 0);
        let (code, out) = aos(&app, &["workflows", "list"]);
        assert!(code == 0 && out.contains("triage"), "{out}");
        let (code, out) = aos(
            &app,
            &["--json", "runs", "submit", "--workflow", "triage", "--inputs", r#"{"ticket":{"id":"T-9","labels":["sev1"]}}"#, "--wait"],
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["workflow"]["name"], "triage");
        // Errors are explained and exit non-zero.
        let (code, _) = aos(&app, &["runs", "get", "r_missing"]);
        assert_eq!(code, 1);
        let bad = std::env::temp_dir().join(format!("aos-bad-plan-{}.json", std::process::id()));
        std::fs::write(&bad, r#"{"name":"x","steps":[{"id":"a","skill":"nope"}]}"#).unwrap();
        let out = Command::new(aos_bin())
            .args(["runs", "submit", bad.to_str().unwrap()])
            .env("AOS_URL", &app.base)
            .env("AOS_API_KEY", &app.key)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("PLAN_UNKNOWN_SKILL") && err.contains("steps[0].skill"), "{err}");
        let out =
            Command::new(aos_bin()).args(["skills", "list"]).env("AOS_URL", &app.base).env("AOS_API_KEY", "aos_bad_key").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("UNAUTHENTICATED"));
    })
    .await
    .unwrap();
}

// The credentials the skills' examples read from the tenant's secrets. Each stand-in checks its own
// (the Slack token, the SMTP password, the webhook signing key), so a run that succeeds used them.
const SLACK_HOOK_KEY: &str = "ex4mple-hook-key-5c1f0e";
const SLACK_TOKEN: &str = "xoxb-ex4mple-bot-token-77d2";
const SMTP_PASSWORD: &str = "ex4mple-smtp-pw-3b9a";
const WEBHOOK_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The Python of the `protocols` test env (aiosmtpd, standardwebhooks), made by `tests/run.sh`.
fn protocols_python() -> PathBuf {
    let env = std::env::var("AOS_TEST_ENV").map(PathBuf::from).unwrap_or_else(|_| repo().join(".test-env"));
    let python = env.join("protocols/bin/python");
    assert!(python.exists(), "{} is missing: run `bash tests/stack/python-env.sh protocols`", python.display());
    python
}

/// A real server of a skill's protocol from `tests/stack/` in a child process: it prints
/// `listening on <address>` once it accepts connections, and records what it receives.
struct StandIn {
    child: Child,
    addr: String,
}

impl StandIn {
    fn start(python: &Path, script: &str, args: &[&str]) -> StandIn {
        let mut child = Command::new(python)
            .arg(repo().join("tests/stack").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the stand-in's first line");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{script}: unexpected output {line:?}")).to_string();
        StandIn { child, addr }
    }

    /// What an HTTP stand-in recorded (`GET /_received`).
    async fn received(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_received", self.addr)).await.expect("GET /_received").json().await.expect("JSON")
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI off the test's runtime (the price target is served on it).
async fn cli(app: &App, args: &[&str]) -> (i32, String) {
    let (base, key) = (app.base.clone(), app.key.clone());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || aos(&App::detached(base, key), &args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

async fn run_example(app: &App, plan: &'static str, inputs: Value) -> Value {
    let (base, key) = (app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || submit_and_wait(&App::detached(base, key), plan, &inputs)).await.unwrap()
}

fn example_inputs(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(examples_dir().join(name)).unwrap()).unwrap()
}

fn statuses(run: &Value) -> Vec<(String, String)> {
    run["step_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step_id"].as_str().unwrap().into(), s["status"].as_str().unwrap().into()))
        .collect()
}

/// The workflows of the skills that act on the world — `price-alert.json` (http_call,
/// json_transform, kv_store, fs, slack_send, email_send), `order-webhook.json` (json_transform,
/// kv_store, fs, webhook_send, email_send) and `file-digest.json` (fs, json_transform, kv_store,
/// slack_send by chat.postMessage) — through the CLI against `aos serve`, with a real server of each
/// protocol standing in for the outside world: a Slack (incoming webhook and Web API), an SMTP
/// server (aiosmtpd) requiring a password, a receiver verifying Standard Webhooks signatures with
/// the reference library, and the price target. What each stand-in received is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skill_examples_reach_each_stand_in() {
    let python = protocols_python();
    let slack = StandIn::start(Path::new("python3"), "protocol_slack.py", &["--token", SLACK_TOKEN, "--channel", "C0AOS1"]);
    let mail_dir = tempfile::tempdir().unwrap();
    let mail = mail_dir.path().join("mail.jsonl");
    let smtp =
        StandIn::start(&python, "protocol_smtp.py", &["--out", mail.to_str().unwrap(), "--auth", &format!("mailer:{SMTP_PASSWORD}")]);
    let receiver = StandIn::start(&python, "protocol_receiver.py", &["--webhook-secret", WEBHOOK_KEY]);
    let target = spawn_target().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&tmp.path().join("data"));
    settings.skills.slack_api_url = format!("{}/api", slack.addr);
    let app = spawn_in_process(settings).await;

    // The tenant's credentials, set as a person would (the SMTP URL from standard input).
    for (name, value) in [
        ("SLACK_WEBHOOK_URL", format!("{}/services/T0AOS/B0AOS/{SLACK_HOOK_KEY}", slack.addr)),
        ("SLACK_BOT_TOKEN", SLACK_TOKEN.to_string()),
        ("WEBHOOK_SECRET", WEBHOOK_KEY.to_string()),
    ] {
        assert_eq!(cli(&app, &["secrets", "set", name, &value]).await, (0, format!("secret {name} set\n")));
    }
    let smtp_url = format!("smtp://mailer:{SMTP_PASSWORD}@{}?tls=none&from=AOS%20Alerts%20%3Calerts@aos.example%3E", smtp.addr);
    let mut set = Command::new(aos_bin())
        .args(["secrets", "set", "SMTP_URL"])
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(set.stdin.take().unwrap(), "{smtp_url}").unwrap();
    assert!(set.wait().unwrap().success());
    let (_, out) = cli(&app, &["--json", "whoami"]).await;
    let tenant = serde_json::from_str::<Value>(&out).unwrap()["tenant"].as_str().unwrap().to_string();
    let files = app.data_dir.join("files").join(&tenant);

    // The digest before anything was written: both reads fall back, and the bot posts zeros.
    let first_day = example_inputs("file-digest.inputs.json");
    let run = run_example(&app, "file-digest.json", first_day.clone()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!((step(&run, "reports")["fallback"].clone(), step(&run, "ledger")["fallback"].clone()), (json!(true), json!(true)));
    assert_eq!(step(&run, "digest")["output"], json!({"orders": 0, "revenue": 0, "reports": "none"}));

    // The price alert: fetched, transformed, deduplicated, written, posted and mailed; a second
    // run at the same price stops at the dedupe and sends nothing.
    let mut inputs = example_inputs("price-alert.inputs.json");
    inputs["price_url"] = json!(format!("{}/price", target.base));
    let alert = run_example(&app, "price-alert.json", inputs.clone()).await;
    assert_eq!(alert["status"], "succeeded", "{alert}");
    assert!(statuses(&alert).iter().all(|(_, s)| s == "succeeded"), "{:?}", statuses(&alert));
    assert_eq!(step(&alert, "dedupe")["output"], json!({"applied": true, "version": 1}));
    assert_eq!(step(&alert, "report")["output"]["path"], "reports/btc-usd.md");
    let again = run_example(&app, "price-alert.json", inputs).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(step(&again, "dedupe")["output"], json!({"applied": false, "version": 1}));
    for id in ["report", "slack", "email"] {
        assert_eq!(step(&again, id)["status"], "skipped", "{id} after a duplicate price");
    }
    assert_eq!(std::fs::read_to_string(files.join("reports/btc-usd.md")).unwrap(), "# BTC price\n\nBTC = 43210.5 USD\n");

    // Two orders: counted per customer, appended to the ledger, sent signed, receipted.
    let mut inputs = example_inputs("order-webhook.inputs.json");
    inputs["webhook_url"] = json!(format!("{}/hook/orders", receiver.addr));
    let first = run_example(&app, "order-webhook.json", inputs.clone()).await;
    inputs["order"]["id"] = json!("O-1002");
    inputs["order"]["items"] = json!([{"sku": "C-3", "qty": 3, "price": 1.5}]);
    let second = run_example(&app, "order-webhook.json", inputs).await;
    for run in [&first, &second] {
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    assert_eq!((step(&first, "count")["output"]["value"].clone(), step(&second, "count")["output"]["value"].clone()), (json!(1), json!(2)));
    assert_eq!(std::fs::read_to_string(files.join("ledger/orders.csv")).unwrap(), "O-1001,44.5\nO-1002,4.5\n");
    // Replay takes every step with an effect from the record; only the transform runs again.
    let (code, out) = cli(&app, &["replay", first["run_id"].as_str().unwrap()]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("parity: true  (1 re-executed, 4 recorded)"), "{out}");

    // The digest of another day sees both workflows' files; posted once per day.
    let mut day = first_day.clone();
    day["day"] = json!("2026-12-08");
    let digest = run_example(&app, "file-digest.json", day.clone()).await;
    assert_eq!(digest["status"], "succeeded", "{digest}");
    assert_eq!(step(&digest, "digest")["output"], json!({"orders": 2, "revenue": 49, "reports": "btc-usd.md"}));
    let repeat = run_example(&app, "file-digest.json", day).await;
    assert_eq!((repeat["status"].clone(), step(&repeat, "post")["status"].clone()), (json!("succeeded"), json!("skipped")));

    // Slack: one webhook post (the alert), two chat.postMessage calls with the bot's token.
    let slack_seen = slack.received().await;
    let hooks: Vec<&Value> = slack_seen.iter().filter(|r| r["path"].as_str().unwrap().starts_with("/services/")).collect();
    assert_eq!(hooks.len(), 1, "{slack_seen:?}");
    assert_eq!(hooks[0]["path"], format!("/services/T0AOS/B0AOS/{SLACK_HOOK_KEY}"));
    assert_eq!(hooks[0]["json"], json!({"text": "BTC = 43210.5 USD (report: reports/btc-usd.md)"}));
    let posts: Vec<&Value> = slack_seen.iter().filter(|r| r["path"] == "/api/chat.postMessage").collect();
    assert_eq!(posts.len(), 2, "{slack_seen:?}");
    for (post, (day, text, fields)) in posts.iter().zip([
        ("2026-12-07", "0 order(s), 0 USD", ["*Orders*\n0", "*Revenue*\n0 USD", "*Reports*\nnone"]),
        ("2026-12-08", "2 order(s), 49 USD", ["*Orders*\n2", "*Revenue*\n49 USD", "*Reports*\nbtc-usd.md"]),
    ]) {
        assert_eq!(
            (post["status"].clone(), post["headers"]["authorization"].clone()),
            (json!(200), json!(format!("Bearer {SLACK_TOKEN}")))
        );
        let msg = &post["json"];
        assert_eq!((msg["channel"].as_str(), msg["text"].as_str()), (Some("C0AOS1"), Some(format!("Digest for {day}: {text}").as_str())));
        assert_eq!(msg["blocks"][0]["text"]["text"], format!("Digest for {day}"));
        let got: Vec<&str> = msg["blocks"][1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
        assert_eq!(got, fields);
        assert_eq!(msg["metadata"]["event_type"], "aos_step");
    }

    // SMTP: the alert and two receipts, authenticated, the HTML autoescaped, Message-IDs as recorded.
    let mails: Vec<Value> = std::fs::read_to_string(&mail).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(mails.len(), 3, "{mails:?}");
    let part = |m: &Value, kind: &str| -> String {
        m["parts"].as_array().unwrap().iter().find(|p| p["content_type"] == kind).unwrap_or_else(|| panic!("no {kind} in {m}"))["content"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n")
    };
    for (m, run, step_id) in [(&mails[0], &alert, "email"), (&mails[1], &first, "receipt"), (&mails[2], &second, "receipt")] {
        assert_eq!(m["authenticated"], true);
        assert_eq!(m["content_type"], "multipart/alternative");
        assert_eq!(m["headers"]["from"], "AOS Alerts <alerts@aos.example>");
        assert_eq!(m["headers"]["message-id"], step(run, step_id)["output"]["message_id"]);
    }
    assert_eq!(
        (mails[0]["rcpt_tos"].clone(), mails[0]["headers"]["subject"].clone()),
        (json!(["ops@example.com"]), json!("BTC is 43210.5 USD"))
    );
    assert!(part(&mails[0], "text/plain").starts_with("BTC is 43210.5 USD.\nThe report is in reports/btc-usd.md."), "{}", mails[0]);
    assert!(part(&mails[0], "text/html").contains("<p>BTC is <b>43210.5</b> USD.</p>"), "{}", mails[0]);
    for (m, id, nth) in [(&mails[1], "O-1001", 1), (&mails[2], "O-1002", 2)] {
        assert_eq!(
            (m["rcpt_tos"].clone(), m["headers"]["subject"].clone()),
            (json!(["orders@smith.example"]), json!(format!("Your order {id}")))
        );
        assert!(part(m, "text/plain").starts_with("Thank you, Smith & Sons <Ltd>!\n"), "{m}");
        let html = part(m, "text/html");
        assert!(
            html.contains("Thank you, Smith &amp; Sons &lt;Ltd&gt;!") && html.contains(&format!("order number {nth} with us")),
            "{html}"
        );
    }

    // The webhook receiver verified both signatures with the reference library.
    let hooks = receiver.received().await;
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    for (hook, run, id, total, nth) in [(&hooks[0], &first, "O-1001", 44.5, 1), (&hooks[1], &second, "O-1002", 4.5, 2)] {
        assert_eq!((hook["path"].as_str(), hook["verified"].as_bool()), (Some("/hook/orders"), Some(true)), "{hook}");
        assert_eq!(hook["headers"]["webhook-id"], step(run, "fulfil")["output"]["webhook_id"]);
        let body: Value = serde_json::from_str(hook["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["type"], "order.received");
        assert_eq!(
            (body["order"]["id"].as_str(), body["order"]["total"].as_f64(), body["customer_orders"].as_i64()),
            (Some(id), Some(total), Some(nth))
        );
    }
    drop(app);
}
