//! `aos dev` as a newcomer runs it: the binary in a child process with no configuration of its own
//! (no `AOS_HTTP_ALLOW_HOSTS`), its banner on stderr, its stand-ins printed and reachable, the
//! README's quickstart command, and every example plan succeeding offline against the stand-ins
//! (the inputs' internet URLs pointed at them), with what the Slack, SMTP and webhook sinks received.

mod common;
use common::aos_bin;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Dev {
    child: Child,
    base: String,
    stand_ins: String,
    key: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn start_dev(data_dir: &Path) -> Dev {
    let mut child = Command::new(aos_bin())
        .args(["dev", "--port", "0", "--stand-in-port", "0", "--smtp-port", "0", "--data-dir"])
        .arg(data_dir)
        .env_remove("AOS_HTTP_ALLOW_HOSTS")
        .env_remove("AOS_SLACK_API_URL")
        .env("AOS_LOG", "warn")
        .env("AOS_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aos dev");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let lines = stdout.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("Ready:") {
                let _ = tx.send(());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let mut err = child.stderr.take().unwrap();
    let text = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("aos dev did not print `Ready:` within 60 s");
    let printed = stdout.lock().unwrap().join("\n");
    let url_after = |prefix: &str| {
        printed
            .lines()
            .find_map(|l| l.split_whitespace().find(|w| w.starts_with(prefix)).map(str::to_string))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{printed}"))
    };
    let base = url_after("http://").trim_end_matches('/').to_string();
    let echo = printed.lines().find_map(|l| l.split_whitespace().find(|w| w.ends_with("/echo")).map(str::to_string)).unwrap();
    let stand_ins = echo.trim_end_matches("/echo").to_string();
    let key = std::fs::read_to_string(data_dir.join("admin.key")).unwrap().trim().to_string();
    Dev { child, base, stand_ins, key, stdout, stderr }
}

impl Dev {
    fn aos(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(aos_bin())
            .args(args)
            .current_dir(repo())
            .env("AOS_URL", &self.base)
            .env("AOS_API_KEY", &self.key)
            .env("AOS_LOG", "error")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn run_example(&self, name: &str, edit: impl Fn(&mut Value)) -> Value {
        let mut inputs: Value =
            serde_json::from_str(&std::fs::read_to_string(repo().join(format!("examples/{name}.inputs.json"))).unwrap()).unwrap();
        edit(&mut inputs);
        let (code, out, err) =
            self.aos(&["--json", "runs", "submit", &format!("examples/{name}.json"), "--inputs", &inputs.to_string(), "--wait"]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let run: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));
        assert_eq!(run["status"], "succeeded", "{name}: {run:#}");
        run
    }
}

#[tokio::test]
async fn aos_dev_runs_the_quickstart_and_every_example_offline() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start_dev(&dir.path().join("data"));
    let started = Instant::now();

    // The banner, loud and on stderr.
    let banner = dev.stderr.lock().unwrap().clone();
    assert!(banner.contains("AOS DEVELOPMENT MODE") && banner.contains("LOOPBACK"), "{banner}");
    let printed = dev.stdout.lock().unwrap().join("\n");
    for expected in [
        "AOS listening on http://127.0.0.1:",
        "/flaky",
        "/slack/webhook",
        "/slack/api/chat.postMessage",
        "smtp://127.0.0.1:",
        "Secret SMTP_URL: set",
    ] {
        assert!(printed.contains(expected), "no `{expected}` in:\n{printed}");
    }

    // The stand-ins answer.
    let http = reqwest::Client::new();
    let echo: Value =
        http.post(format!("{}/echo/x?a=1", dev.stand_ins)).json(&json!({"hi": 1})).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["path"].as_str(), &echo["body"]["hi"], &echo["query"]["a"]),
        (Some("POST"), Some("/echo/x"), &json!(1), &json!("1"))
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(http.get(format!("{}/flaky/direct", dev.stand_ins)).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![503, 429, 200]);

    // The README's second command, as written.
    let (code, out, err) = dev.aos(&[
        "runs",
        "submit",
        "examples/hello-transform.json",
        "--inputs",
        &std::fs::read_to_string(repo().join("examples/hello-transform.inputs.json")).unwrap(),
        "--wait",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("status succeeded"), "{out}");

    // Every example, its outside world played by the stand-ins.
    let s = dev.stand_ins.clone();
    dev.run_example("btc-price", |i| {
        i["price_url"] = json!(format!("{s}/price"));
        i["status_url"] = json!(format!("{s}/status"));
    });
    dev.run_example("price-alert", |i| i["price_url"] = json!(format!("{s}/price")));
    dev.run_example("order-webhook", |i| i["webhook_url"] = json!(format!("{s}/hooks/orders")));
    dev.run_example("file-digest", |_| {});
    dev.run_example("triage-with-fallback", |_| {});
    dev.run_example("hello-transform", |_| {});
    let covered = ["btc-price", "price-alert", "order-webhook", "file-digest", "triage-with-fallback", "hello-transform"];
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if let Some(plan) = name.strip_suffix(".json").filter(|n| !n.ends_with(".inputs")) {
            assert!(covered.contains(&plan), "examples/{name} is not run by this test: add it");
        }
    }

    // A retried call to the flaky stand-in: 503, 429 (honouring Retry-After), then success.
    let flaky = json!({"name": "flaky", "steps": [{"id": "call", "skill": "http_call", "input": {"url": format!("{s}/flaky"), "method": "GET"},
        "retry": {"max_attempts": 3, "initial_delay_ms": 50}}]});
    let file = dir.path().join("flaky.json");
    std::fs::write(&file, flaky.to_string()).unwrap();
    let (code, out, err) = dev.aos(&["--json", "runs", "submit", file.to_str().unwrap(), "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["step_details"][0]["attempts"].as_array().unwrap().len(), 3, "{run:#}");

    // What the sinks received, also printed on stdout.
    let received: Value = http.get(format!("{s}/received")).send().await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> = received["received"].as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    for kind in ["slack webhook", "slack chat.postMessage", "email", "webhook"] {
        assert!(kinds.contains(&kind), "no {kind} among {kinds:?}");
    }
    let all = received["received"].to_string();
    assert!(all.contains("BTC = 43210.5 USD"), "{all}");
    assert!(all.contains("webhook-signature"), "{all}");
    let printed = dev.stdout.lock().unwrap().join("\n");
    assert!(printed.contains("[stand-in] email: to ops@example.com"), "{printed}");
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// Development mode listens on loopback only.
#[test]
fn aos_dev_refuses_a_non_loopback_host() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(aos_bin())
        .args(["dev", "--host", "0.0.0.0", "--port", "0", "--stand-in-port", "0", "--smtp-port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{}", String::from_utf8_lossy(&out.stderr));
}
