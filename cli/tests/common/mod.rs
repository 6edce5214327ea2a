//! Test helpers: start the real server on a random port with its own data dir — in this process
//! through the library (`aos_cli::Server::build`, zero2prod's `spawn_app`), or as the `aos serve`
//! binary in a child process where a test needs a process (kill -9, restarts, the log, the
//! command line) — talk to it over HTTP, and run a small local HTTP target that skills can call.
#![allow(dead_code)]

use aos_cli::{ServeSettings, Server};
#[allow(unused_imports)]
pub use aos_testkit::{five_step_plan, spawn_target};
use serde_json::{json, Value};
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
    /// Stops a server running in this process (dropped: it stops too), and its thread.
    in_process: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn aos_bin() -> &'static str {
    env!("CARGO_BIN_EXE_aos")
}

/// Starts the server in this process on a free port with a fresh data dir, configured as
/// [`test_settings`] says.
pub async fn spawn_app() -> App {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut app = spawn_in_process(test_settings(&tmp.path().join("data"))).await;
    app._tmp = Some(tmp);
    app
}

/// What the test servers run with: a free port, the given data dir, a second tenant (`other`),
/// `http_call` allowed to reach 127.0.0.1 (the local targets), and no rate limit (tests drive
/// more requests per second through one key than the default allows).
pub fn test_settings(dir: &Path) -> ServeSettings {
    let mut s = ServeSettings { data_dir: dir.to_path_buf(), port: 0, extra_tenants: vec!["other".into()], ..ServeSettings::default() };
    s.rate_limits.per_minute = 0;
    s.skills.http_allow_hosts = vec!["127.0.0.1".into()];
    s
}

/// Builds a server from `settings` and runs it in this process until the `App` is dropped. The
/// server gets a runtime (two worker threads) of its own, as `aos serve` has: a test may then
/// block its own thread — on a CLI command, say — without stopping the server.
pub async fn spawn_in_process(settings: ServeSettings) -> App {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, built) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime for the server");
        runtime.block_on(async move {
            let server = match Server::build(settings).await {
                Ok(server) => server,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let _ = ready.send(Ok((server.addr(), server.data_dir().to_path_buf())));
            if let Err(e) = server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
            {
                eprintln!("the test server stopped with an error: {e:#}");
            }
        });
    });
    let (addr, data_dir) = built.await.expect("the server thread").expect("build the server");
    let key = std::fs::read_to_string(data_dir.join("admin.key")).expect("admin.key written").trim().to_string();
    App {
        base: format!("http://{addr}"),
        key,
        data_dir,
        http: reqwest::Client::new(),
        child: None,
        in_process: Some((stop, thread)),
        _tmp: None,
    }
}

/// Starts `aos serve` in a child process over an existing (or new) data dir, with extra environment.
pub async fn spawn_app_in(dir: &Path, env: &[(&str, &str)]) -> App {
    spawn_app_logging(dir, env, Stdio::inherit()).await
}

/// Starts `aos serve` with its log (stderr) sent to `log`. Rate limits are off unless `env` sets
/// them: tests drive more requests per second through one key than the default allows.
pub async fn spawn_app_logging(dir: &Path, env: &[(&str, &str)], log: Stdio) -> App {
    let mut cmd = Command::new(aos_bin());
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
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
    App { base, key, data_dir: dir.to_path_buf(), http: reqwest::Client::new(), child: Some(child), in_process: None, _tmp: None }
}

impl App {
    /// A handle on a server owned by another `App` (for use on other threads); does not stop it.
    pub fn detached(base: String, key: String) -> App {
        App { base, key, data_dir: PathBuf::new(), http: reqwest::Client::new(), child: None, in_process: None, _tmp: None }
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

    /// Stops the server gracefully and waits until it has: SIGTERM to a child process, the
    /// shutdown signal to a server in this process (whose thread is then joined).
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.in_process.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
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
