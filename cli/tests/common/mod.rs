//! Test helpers: spawn the real `aos serve` binary on a random port with its own data dir, talk to
//! it over HTTP, and run a small local HTTP target that skills can call.
#![allow(dead_code)]

use serde_json::{json, Value};
#[allow(unused_imports)]
pub use aos_testkit::{five_step_plan, spawn_target};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct App {
    pub base: String,
    pub key: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn aos_bin() -> &'static str {
    env!("CARGO_BIN_EXE_aos")
}

/// Starts `aos serve` on a free port with a fresh data dir.
pub async fn spawn_app() -> App {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut app = spawn_app_in(&dir, &[]).await;
    app._tmp = Some(tmp);
    app
}

/// Starts `aos serve` over an existing (or new) data dir, with extra environment.
pub async fn spawn_app_in(dir: &Path, env: &[(&str, &str)]) -> App {
    spawn_app_logging(dir, env, Stdio::inherit()).await
}

/// Starts `aos serve` with its log (stderr) sent to `log`. Rate limits are off unless `env` sets
/// them: tests drive more requests per second through one key than the default allows.
pub async fn spawn_app_logging(dir: &Path, env: &[(&str, &str)], log: Stdio) -> App {
    let mut cmd = Command::new(aos_bin());
    cmd.args(["serve", "--port", "0", "--data-dir"]).arg(dir)
        .env("AOS_HTTP_ALLOW_HOSTS", "127.0.0.1")
        .env("AOS_EXTRA_TENANTS", "other")
        .env("AOS_LOG", "warn")
        .env("AOS_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::piped())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn aos serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("AOS listening on ") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("aos serve did not report its address within 30 s");
    let key = std::fs::read_to_string(dir.join("admin.key")).expect("admin.key written").trim().to_string();
    App { base, key, data_dir: dir.to_path_buf(), http: reqwest::Client::new(), child: Some(child), _tmp: None }
}

impl App {
    /// A handle on a server owned by another `App` (for use on other threads); does not stop it.
    pub fn detached(base: String, key: String) -> App {
        App { base, key, data_dir: PathBuf::new(), http: reqwest::Client::new(), child: None, _tmp: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn other_tenant_key(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("other.key")).expect("other.key").trim().to_string()
    }

    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None, Some(&self.key.clone())).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body), Some(&self.key.clone())).await
    }

    /// Submits a plan and returns the run id (asserting 202).
    pub async fn submit(&self, plan: Value, inputs: Value) -> String {
        let (status, body) = self.post("/api/v1/runs", json!({"plan": plan, "inputs": inputs})).await;
        assert_eq!(status, 202, "submit failed: {body}");
        body["run_id"].as_str().expect("run_id").to_string()
    }

    /// Polls until the run finishes; panics after `timeout`.
    pub async fn wait_run(&self, run_id: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (status, run) = self.get(&format!("/api/v1/runs/{run_id}")).await;
            assert_eq!(status, 200, "{run}");
            if ["succeeded", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or("")) {
                return run;
            }
            assert!(start.elapsed() < timeout, "run {run_id} did not finish in {timeout:?}: {run}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server with SIGKILL (no clean shutdown).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["step_details"].as_array().unwrap().iter().find(|s| s["step_id"] == json!(id)).unwrap_or_else(|| panic!("no step {id} in {run}"))
}

