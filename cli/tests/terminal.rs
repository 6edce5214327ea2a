//! The terminal view of runs and failures, driven through the `aos` binary against a real
//! `aos serve`: `runs get` (outputs, attempts, delays, fallbacks, the catalog's advice, `--full`,
//! `--json` exactly the API's), `runs list` paging and time filters, `failures list|stats|show`,
//! `catalog list|show|match`, a server that is not AOS, and `runs get --watch` in a pseudo-terminal
//! across a restart of the server.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `aos` against `base` with `key`: (exit code, stdout, stderr). Colours are never asked for.
fn aos_at(base: &str, key: &str, args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(aos_bin()).args(args).env("AOS_URL", base).env("AOS_API_KEY", key).env("AOS_LOG", "error").output().expect("aos");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

async fn aos(app: &App, args: &[&str]) -> (i32, String, String) {
    let (base, key) = (app.base.clone(), app.key.clone());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || aos_at(&base, &key, &args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

fn parse(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_get_shows_outputs_attempts_delays_fallbacks_and_the_catalogs_advice() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let t = &target.base;
    let big = "x".repeat(400);
    let plan = json!({"name": "seeing", "steps": [
        {"id": "big", "skill": "json_transform", "input": {"data": big, "expr": "{text: .}"}},
        {"id": "flaky", "skill": "http_call", "input": {"url": format!("{t}/flaky/see/1")}, "retry": {"max_attempts": 3, "initial_delay_ms": 200}},
        {"id": "lookup", "skill": "http_call", "input": {"url": format!("{t}/status/404")},
         "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}}},
        {"id": "final", "skill": "http_call", "depends_on": ["big", "flaky", "lookup"], "input": {"url": format!("{t}/status/503")},
         "retry": {"max_attempts": 2, "initial_delay_ms": 50}}
    ]});
    let run_id = app.submit(plan, json!({})).await;
    let api = app.wait_run(&run_id, Duration::from_secs(30)).await;
    assert_eq!(api["status"], "failed", "{api}");

    let (code, out, err) = aos(&app, &["runs", "get", &run_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\x1b'), "no colours when stdout is not a terminal: {out:?}");
    for expected in [
        "status failed",
        "error HTTP_503:",
        "catalog HTTP_SERVICE_UNAVAILABLE (TRANSIENT, recovery retry_after",
        "suggestion: Retry after the Retry-After delay",
        "flaky  http_call  succeeded  2 attempts",
        "attempt 1  failed",
        "[catalog HTTP_SERVICE_UNAVAILABLE]  → retried after",
        "attempt 2  ok",
        "lookup  http_call  succeeded by fallback json_transform",
        "[catalog HTTP_NOT_FOUND]  → fallback to json_transform",
        "attempt 2 (fallback json_transform)  ok",
        "output 2",
        "final  http_call  failed  2 attempts",
        "bytes; --full for all)",
        "trace root ",
    ] {
        assert!(out.contains(expected), "`runs get` lacks `{expected}`:\n{out}");
    }
    // The delay shown is the one observed between the attempts, as the run records them.
    let attempts = step(&api, "flaky")["attempts"].as_array().unwrap().clone();
    let observed = attempts[1]["started_at_ms"].as_i64().unwrap() - attempts[0]["finished_at_ms"].as_i64().unwrap();
    let delay = out.split("→ retried after ").nth(1).and_then(|r| r.split(" ms").next()).and_then(|n| n.parse::<i64>().ok());
    assert_eq!(delay, Some(observed), "{out}");
    let (_, full, _) = aos(&app, &["runs", "get", &run_id, "--full"]).await;
    assert!(full.contains(&big) && !full.contains("--full for all"), "{full}");
    // --json is the API's answer, byte for byte the same value.
    let (code, json_out, _) = aos(&app, &["--json", "runs", "get", &run_id]).await;
    assert_eq!(code, 0);
    let (_, again) = app.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(parse(&json_out), again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_costs_zero_not_minus_zero() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let run_id = app
        .submit(
            json!({"name": "slow", "steps": [{"id": "s", "skill": "http_call", "input": {"url": format!("{}/slow/3000", target.base)}}]}),
            json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _, err) = aos(&app, &["runs", "cancel", &run_id]).await;
    assert_eq!(code, 0, "{err}");
    let run = app.wait_run(&run_id, Duration::from_secs(10)).await;
    assert_eq!(run["status"], "cancelled");
    let (_, out, _) = aos(&app, &["--json", "runs", "get", &run_id]).await;
    let cost = parse(&out)["cost_usd"].as_f64().unwrap();
    assert!(cost == 0.0 && cost.is_sign_positive(), "cost {cost:?}: {out}");
    let (_, view, _) = aos(&app, &["runs", "get", &run_id]).await;
    let (_, list, _) = aos(&app, &["runs", "list"]).await;
    assert!(view.contains("cost 0.000000 USD") && !view.contains("cost -0"), "{view}");
    assert!(list.contains(" 0.000000 ") && !list.contains("-0.0"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_pages_and_filters_by_time() {
    let app = spawn_app().await;
    let before = aos_cli_now() - 1;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = app
            .submit(
                json!({"name": format!("p{i}"), "steps": [{"id": "a", "skill": "json_transform", "input": {"data": i, "expr": "."}}]}),
                json!({}),
            )
            .await;
        app.wait_run(&id, Duration::from_secs(20)).await;
        ids.push(id);
    }
    let (code, out, err) = aos(&app, &["runs", "list", "--limit", "2"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("r_")).count(), 2, "{out}");
    assert!(out.contains("CREATED") && (out.contains("just now)") || out.contains(" s ago)")), "human-readable times: {out}");
    let cursor = err.split("--cursor ").nth(1).and_then(|r| r.split_whitespace().next()).expect("the next page's cursor").to_string();
    let (_, next, _) = aos(&app, &["--json", "runs", "list", "--limit", "2", "--cursor", &cursor]).await;
    assert_eq!(parse(&next)["runs"][0]["run_id"], json!(ids[0]), "the third-newest run is on page two");
    let (_, all, _) = aos(&app, &["--json", "runs", "list", "--limit", "1", "--all"]).await;
    let all = parse(&all);
    assert_eq!(all["runs"].as_array().unwrap().len(), 3, "{all}");
    assert!(all.get("next_cursor").is_none(), "{all}");
    let (_, since, _) = aos(&app, &["--json", "runs", "list", "--since", "1h"]).await;
    assert_eq!(parse(&since)["runs"].as_array().unwrap().len(), 3);
    let (_, until, _) = aos(&app, &["--json", "runs", "list", "--until", &before.to_string()]).await;
    assert_eq!(parse(&until)["runs"].as_array().unwrap().len(), 0);
    let (code, _, err) = aos(&app, &["runs", "list", "--since", "yesterday"]).await;
    assert!(code == 2 && err.contains("is not a time"), "{err}");
}

fn aos_cli_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_the_catalog_from_the_terminal_match_the_api() {
    let app = spawn_app().await;
    let target = spawn_target().await;
    let plan = json!({"name": "fails", "steps": [
        {"id": "call", "skill": "http_call", "input": {"url": format!("{}/status/503", target.base)}, "retry": {"max_attempts": 2, "initial_delay_ms": 20}}
    ]});
    let run_id = app.submit(plan, json!({})).await;
    app.wait_run(&run_id, Duration::from_secs(20)).await;

    let (_, api) = app.get("/api/v1/failures?limit=50").await;
    let (code, out, err) = aos(&app, &["--json", "failures", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse(&out), api);
    let (_, api_page) = app.get("/api/v1/failures?kind=attempt&skill=http_call&limit=1").await;
    let (_, out, _) = aos(&app, &["--json", "failures", "list", "--kind", "attempt", "--skill", "http_call", "--limit", "1"]).await;
    assert_eq!(parse(&out), api_page);
    let (_, all, _) = aos(&app, &["--json", "failures", "list", "--kind", "attempt", "--limit", "1", "--all"]).await;
    assert_eq!(parse(&all)["failures"].as_array().unwrap().len(), 2, "two failed attempts: {all}");
    let (_, table, _) = aos(&app, &["failures", "list", "--code", "HTTP_503"]).await;
    assert!(table.contains("HTTP_SERVICE_UNAVAILABLE") && table.contains(&run_id), "{table}");

    let (code, stats, err) = aos(&app, &["failures", "stats", "--since", "1h", "--bucket", "5m"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(stats.contains("3 failures, 3 matched") && stats.contains("by kind: attempt 2, run 1"), "{stats}");
    let (_, stats_json, _) = aos(&app, &["--json", "failures", "stats", "--kind", "attempt"]).await;
    assert_eq!(parse(&stats_json)["total"], 2);

    let id = api_page["failures"][0]["id"].as_str().unwrap().to_string();
    let (code, show, err) = aos(&app, &["failures", "show", &id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(show.contains(&run_id) && show.contains("HTTP_SERVICE_UNAVAILABLE") && show.contains("Retry after"), "{show}");
    let (code, suggested, err) = aos(&app, &["--json", "failures", "show", &id, "--suggest"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(parse(&suggested)["suggestions"]["suggestions"].as_array().is_some_and(|s| !s.is_empty()), "{suggested}");
    let (code, _, err) = aos(&app, &["failures", "show", "12#r_nope#a#0001"]).await;
    assert!(code == 1 && err.contains("no failure"), "{err}");

    let (_, catalog) = app.get("/api/v1/catalog").await;
    let (_, listed, _) = aos(&app, &["--json", "catalog", "list"]).await;
    assert_eq!(parse(&listed), catalog);
    let (_, limited, _) = aos(&app, &["--json", "catalog", "list", "--category", "rate_limit", "--limit", "2"]).await;
    let limited = parse(&limited);
    assert_eq!(limited["entries"].as_array().unwrap().len(), 2);
    assert!(limited["entries"].as_array().unwrap().iter().all(|e| e["category"] == "RATE_LIMIT"));
    let (_, shown, _) = aos(&app, &["catalog", "show", "HTTP_SERVICE_UNAVAILABLE"]).await;
    assert!(shown.contains("TRANSIENT") && shown.contains("http_status: 503"), "{shown}");
    let (_, api_match) =
        app.post("/api/v1/catalog/match", json!({"message": "upstream answered 503 Service Unavailable", "http_status": 503})).await;
    let (_, matched, _) =
        aos(&app, &["--json", "catalog", "match", "--message", "upstream answered 503 Service Unavailable", "--http-status", "503"]).await;
    assert_eq!(parse(&matched), api_match);
    let (code, _, err) = aos(&app, &["catalog", "show", "NO_SUCH_ENTRY"]).await;
    assert!(code == 1 && err.contains("404"), "{err}");
}

/// A server that answers, but is not AOS: the command fails and says so, instead of an empty table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_aos_is_named_as_such() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/api/v1/runs", get(|| async { axum::Json(json!({"hello": "world"})) }))
        .fallback(|| async { axum::response::Html("<html><body>a web page</body></html>") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let other = App::detached(base, "aos_key".into());
    for args in [&["runs", "list"][..], &["skills", "list"], &["failures", "list"], &["catalog", "list"]] {
        let (code, out, err) = aos(&other, args).await;
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(err.contains("is AOS_URL / --url the address of an AOS server?"), "{args:?}: {err}");
    }
}

/// A pseudo-terminal: the child gets its slave side as stdin, stdout and stderr; the returned text
/// grows with everything it prints.
fn spawn_in_pty(cmd: &mut Command) -> (Child, Arc<Mutex<String>>) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 60, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two fresh descriptors, owned from here on.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap())).stdout(Stdio::from(slave.try_clone().unwrap())).stderr(Stdio::from(slave));
    let child = cmd.spawn().expect("spawn in a pty");
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child (the last holder of the slave side) has exited.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, text)
}

/// `aos serve` on a fixed port over `dir`, so that a restart is found at the same address.
fn serve_on(dir: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(aos_bin())
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .env("AOS_HTTP_ALLOW_HOSTS", "127.0.0.1")
        .env("AOS_LOG", "warn")
        .env("AOS_RATE_LIMIT_PER_MINUTE", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("aos serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("AOS listening on ") => {
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return child;
            }
            Some(_) => {}
            None => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aos serve did not start on port {port}");
}

fn wait_for(text: &Arc<Mutex<String>>, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !text.lock().unwrap().contains(what) {
        assert!(Instant::now() < deadline, "no `{what}` within {within:?}; the terminal shows:\n{}", text.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_is_live_in_a_terminal_and_survives_a_server_restart() {
    let target = spawn_target().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let flaky = format!("{}/flaky/watch/2", target.base);
    tokio::task::spawn_blocking(move || {
        let mut server = serve_on(&dir, port);
        let key = std::fs::read_to_string(dir.join("admin.key")).unwrap().trim().to_string();
        // Two failures, each followed by a 3 s wait: time to see the countdown and to restart.
        let plan = json!({"name": "watched", "steps": [
            {"id": "fetch", "skill": "http_call", "input": {"url": flaky}, "retry": {"max_attempts": 3, "initial_delay_ms": 3000, "max_delay_ms": 3000, "multiplier": 1.0}},
            {"id": "after", "skill": "json_transform", "depends_on": ["fetch"], "input": {"data": "{{ steps.fetch.output.body.calls }}", "expr": "."}}
        ]});
        let file = tmp.path().join("plan.json");
        std::fs::write(&file, plan.to_string()).unwrap();
        let (code, out, err) = aos_at(&base, &key, &["--json", "runs", "submit", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let run_id = parse(&out)["run_id"].as_str().unwrap().to_string();

        let (mut watch, screen) = spawn_in_pty(
            Command::new(aos_bin())
                .args(["runs", "get", &run_id, "--watch"])
                .env("AOS_URL", &base)
                .env("AOS_API_KEY", &key)
                .env("AOS_LOG", "error")
                .env("COLUMNS", "200")
                .env_remove("NO_COLOR"),
        );
        wait_for(&screen, "next attempt in", Duration::from_secs(20));
        assert!(screen.lock().unwrap().contains("elapsed"), "{}", screen.lock().unwrap());
        // Redrawn in place (cursor up, clear) while the connection lasts; after a dropped one the
        // view starts afresh below the messages, so on a loaded machine the frames after the
        // restart may all be first ones.
        wait_for(&screen, "F\x1b[J", Duration::from_secs(20));
        server.kill().unwrap();
        server.wait().unwrap();
        wait_for(&screen, "connection lost", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1500));
        let mut server = serve_on(&dir, port);
        wait_for(&screen, "reconnected after", Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = watch.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the watch did not end:\n{}", screen.lock().unwrap());
            std::thread::sleep(Duration::from_millis(100));
        };
        std::thread::sleep(Duration::from_millis(200));
        let shown = screen.lock().unwrap().clone();
        assert_eq!(status.code(), Some(0), "{shown}");
        assert!(shown.contains("\x1b[32msucceeded\x1b[0m"), "colours on a terminal: {shown:?}");
        assert!(shown.contains("\x1b[") && shown.contains("F\x1b[J"), "the view is redrawn in place: {shown:?}");
        // The target counts its calls: the third succeeds. A GET reads, so it is not claimed: the
        // attempt that was waiting out its retry delay when the server died may be sent again by
        // the restart's recovery beside its own queued message, and run twice (its record is kept
        // once), which makes the successful call the fourth.
        assert!(shown.contains("attempt 3  ok") && (shown.contains("output 3") || shown.contains("output 4")), "{shown}");
        // Not a terminal: one line per change, no escape codes.
        let (code, piped, _) = aos_at(&base, &key, &["runs", "get", &run_id, "--watch"]);
        assert_eq!(code, 0);
        assert!(!piped.contains('\x1b') && piped.contains("status succeeded"), "{piped:?}");
        server.kill().unwrap();
        server.wait().unwrap();
    })
    .await
    .unwrap();
}
