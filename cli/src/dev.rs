//! `aos dev`: `aos serve` for trying plans on one machine. The skills that call out (`http_call`,
//! `webhook_send`, `slack_send`, `email_send`) may reach loopback addresses, which `aos serve` refuses
//! unless `AOS_HTTP_ALLOW_HOSTS` says otherwise (a loud banner on stderr says so), and built-in
//! stand-ins are served on local ports and printed at start:
//!
//! - HTTP (`--stand-in-port`, 8081): `/echo` (the request, as JSON), `/flaky` (503, then 429 with
//!   `Retry-After: 1`, then 200, over and over, counted per path), `/price` (a CoinGecko simple
//!   price), `/status` (a Statuspage status), `/slack/webhook` (a Slack incoming webhook),
//!   `/slack/api/chat.postMessage` (the Slack Web API call `slack_send` makes with a bot token),
//!   `/hooks/...` (a webhook receiver for `webhook_send`), `/received` (what the sinks received);
//! - SMTP (`--smtp-port`, 2525): accepts every message (no TLS, no authentication) for `email_send`.
//!
//! What the sinks receive is printed on stdout. The dev tenant's secrets `SLACK_WEBHOOK_URL`,
//! `SLACK_BOT_TOKEN`, `SMTP_URL` and `WEBHOOK_SECRET` are set to the stand-ins when it has none of
//! that name, so the examples run offline as they are. The server listens on loopback only.

use anyhow::Context;
use aos_cli::{ServeArgs, ServeSettings, Server};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Port of the HTTP stand-ins (echo, flaky, price, status, Slack, webhooks); 0 picks a free one.
    #[arg(long, default_value_t = 8081)]
    pub stand_in_port: u16,
    /// Port of the SMTP stand-in for email_send; 0 picks a free one.
    #[arg(long, default_value_t = 2525)]
    pub smtp_port: u16,
}

/// Hosts the outbound skills may reach in development mode.
const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "::1"];
/// What the sinks keep (the oldest go first).
const MAX_RECEIVED: usize = 200;
/// Largest e-mail the SMTP stand-in takes.
const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;
/// Longest SMTP command line.
const MAX_LINE_BYTES: u64 = 4096;
/// An SMTP session ends after this long without a command.
const SMTP_IDLE: Duration = Duration::from_secs(60);
/// The dev tenant's webhook signing key when it has none (`whsec_` + base64 of "aos-dev-webhook-signing-key!").
const DEV_WEBHOOK_SECRET: &str = "whsec_YW9zLWRldi13ZWJob29rLXNpZ25pbmcta2V5IQ==";

#[derive(Default)]
struct Sinks {
    received: Mutex<VecDeque<Value>>,
    flaky_calls: Mutex<HashMap<String, u64>>,
    seq: Mutex<u64>,
}

impl Sinks {
    fn record(&self, kind: &str, summary: &str, entry: Value) {
        println!("[stand-in] {kind}: {summary}");
        let mut r = self.received.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() >= MAX_RECEIVED {
            r.pop_front();
        }
        let mut entry = entry;
        entry["kind"] = json!(kind);
        r.push_back(entry);
    }

    fn next(&self) -> u64 {
        let mut s = self.seq.lock().unwrap_or_else(|e| e.into_inner());
        *s += 1;
        *s
    }
}

pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let mut settings = ServeSettings::from_env()?;
    args.serve.apply(&mut settings);
    let loopback_host = settings.host == "localhost" || settings.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback_host {
        anyhow::bail!("aos dev listens on loopback only (its skills may reach this machine's services); got --host {}", settings.host);
    }
    for host in LOOPBACK {
        if !settings.skills.http_allow_hosts.iter().any(|h| h == host) {
            settings.skills.http_allow_hosts.push(host.to_string());
        }
    }
    let http = TcpListener::bind(("127.0.0.1", args.stand_in_port))
        .await
        .with_context(|| format!("binding the HTTP stand-ins to 127.0.0.1:{} (choose another with --stand-in-port)", args.stand_in_port))?;
    let smtp = TcpListener::bind(("127.0.0.1", args.smtp_port))
        .await
        .with_context(|| format!("binding the SMTP stand-in to 127.0.0.1:{} (choose another with --smtp-port)", args.smtp_port))?;
    let http_base = format!("http://{}", http.local_addr()?);
    let smtp_addr = smtp.local_addr()?;
    settings.skills.slack_api_url = format!("{http_base}/slack/api");

    let sinks = Arc::new(Sinks::default());
    let app = stand_ins(sinks.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app).await {
            tracing::error!(error = %e, "the HTTP stand-ins stopped");
        }
    });
    tokio::spawn(smtp_sink(smtp, sinks));

    let server = Server::build(settings).await?;
    let (addr, data_dir) = (server.addr(), server.data_dir().to_path_buf());
    banner();
    println!("AOS listening on http://{addr}  (data dir {})  [development mode]", data_dir.display());
    let secrets = [
        ("SLACK_WEBHOOK_URL", format!("{http_base}/slack/webhook")),
        ("SLACK_BOT_TOKEN", "xoxb-aos-dev".to_string()),
        ("SMTP_URL", format!("smtp://{smtp_addr}?tls=none&from=aos-dev%40localhost")),
        ("WEBHOOK_SECRET", DEV_WEBHOOK_SECRET.to_string()),
    ];
    let setup = async {
        let stand_ins = [
            ("echo", format!("{http_base}/echo")),
            ("flaky (503, 429 Retry-After: 1, 200, ...)", format!("{http_base}/flaky")),
            ("price (CoinGecko simple price)", format!("{http_base}/price")),
            ("status (Statuspage)", format!("{http_base}/status")),
            ("Slack incoming webhook", format!("{http_base}/slack/webhook")),
            ("Slack chat.postMessage", format!("{http_base}/slack/api/chat.postMessage")),
            ("webhook receiver", format!("{http_base}/hooks/<any path>")),
            ("what the sinks received", format!("{http_base}/received")),
            ("SMTP (no TLS, no login)", format!("smtp://{smtp_addr}")),
        ];
        println!("Stand-ins:");
        for (what, url) in stand_ins {
            println!("  {url:<52} {what}");
        }
        match seed_secrets(&addr.to_string(), &data_dir, &secrets).await {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => eprintln!("aos dev: could not set the dev tenant's stand-in secrets: {e:#}"),
        }
        println!(
            "Ready: try `aos runs submit examples/hello-transform.json --inputs \"$(cat examples/hello-transform.inputs.json)\" --wait`"
        );
    };
    let (result, ()) = tokio::join!(server.run(aos_cli::serve::shutdown_signal()), setup);
    result
}

/// The warning `aos dev` starts with, on stderr (red and bold on a terminal).
fn banner() {
    let lines = [
        "AOS DEVELOPMENT MODE: not for production.",
        "http_call, webhook_send, slack_send and email_send may reach LOOPBACK addresses",
        "(127.0.0.1, localhost, ::1): a plan can call any service on this machine.",
        "Local stand-ins answer for Slack, SMTP, webhooks and a few HTTP APIs (listed on stdout).",
    ];
    let width = lines.iter().map(|l| l.len()).max().unwrap_or(0) + 6;
    let (on, off) = if crate::style::stderr_colours() { ("\x1b[1;31m", "\x1b[0m") } else { ("", "") };
    let mut out = format!("{on}{}\n", "!".repeat(width));
    for l in lines {
        out.push_str(&format!("!! {l:<w$} !!\n", w = width - 6));
    }
    out.push_str(&format!("{}{off}\n", "!".repeat(width)));
    eprint!("{out}");
}

/// Sets each secret the dev tenant lacks, through the API with its admin key.
async fn seed_secrets(addr: &str, data_dir: &std::path::Path, secrets: &[(&str, String)]) -> anyhow::Result<Vec<String>> {
    let key = std::fs::read_to_string(data_dir.join("admin.key")).context("reading the dev tenant's admin.key")?;
    let key = key.trim();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1/secrets");
    let names: Value = http.get(&base).bearer_auth(key).send().await?.error_for_status()?.json().await?;
    let have: Vec<&str> = names["names"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut lines = Vec::new();
    for (name, value) in secrets {
        if have.contains(name) {
            lines.push(format!("Secret {name}: kept (the dev tenant has one)"));
            continue;
        }
        http.put(format!("{base}/{name}")).bearer_auth(key).json(&json!({ "value": value })).send().await?.error_for_status()?;
        lines.push(format!("Secret {name}: set to the stand-in"));
    }
    Ok(lines)
}

fn stand_ins(sinks: Arc<Sinks>) -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/flaky", any(flaky))
        .route("/flaky/{*rest}", any(flaky))
        .route("/price", get(|| async { Json(json!({"bitcoin": {"usd": 43210.5}})) }))
        .route("/status", get(|| async { Json(json!({"status": {"indicator": "none", "description": "All Systems Operational"}})) }))
        .route("/slack/webhook", post(slack_webhook))
        .route("/slack/api/chat.postMessage", post(slack_post_message))
        .route("/hooks/{*rest}", post(hook))
        .route("/received", get(received))
        .fallback(
            |uri: OriginalUri| async move { (StatusCode::NOT_FOUND, Json(json!({"error": format!("no stand-in at {}", uri.0.path())}))) },
        )
        .with_state(sinks)
}

/// The request as JSON; credentials are not echoed (a plan's secret would land in its output).
fn describe(method: &Method, uri: &axum::http::Uri, headers: &HeaderMap, body: &Bytes) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            let secret = matches!(k.as_str(), "authorization" | "cookie" | "proxy-authorization");
            (k.to_string(), json!(if secret { "<not echoed>" } else { v.to_str().unwrap_or("<not UTF-8>") }))
        })
        .collect();
    let query: serde_json::Map<String, Value> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let body = serde_json::from_slice::<Value>(body).unwrap_or_else(|_| json!(String::from_utf8_lossy(body)));
    json!({"method": method.as_str(), "path": uri.path(), "query": query, "headers": headers, "body": body})
}

async fn echo(method: Method, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    Json(describe(&method, &uri.0, &headers, &body))
}

/// 503, then 429 with `Retry-After: 1`, then 200 (the request echoed), again and again, per path.
async fn flaky(State(sinks): State<Arc<Sinks>>, method: Method, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Response {
    let n = {
        let mut calls = sinks.flaky_calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.len() > 10_000 {
            calls.clear();
        }
        let n = calls.entry(uri.0.path().to_string()).or_insert(0);
        *n += 1;
        *n
    };
    match n % 3 {
        1 => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "flaky: unavailable", "call": n}))).into_response(),
        2 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({"error": "flaky: rate limited", "call": n})))
            .into_response(),
        _ => Json(json!({"ok": true, "call": n, "request": describe(&method, &uri.0, &headers, &body)})).into_response(),
    }
}

/// Slack's own check of a message: a JSON object with non-blank `text` or a list of `blocks`.
fn slack_message_error(msg: &Value) -> Option<&'static str> {
    if !msg.is_object() {
        return Some("invalid_payload");
    }
    let text_ok = msg["text"].as_str().is_some_and(|t| !t.trim().is_empty());
    let blocks_ok = msg["blocks"].as_array().is_some_and(|b| !b.is_empty());
    if !text_ok && !blocks_ok {
        return Some("no_text");
    }
    None
}

fn clip(s: &str) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() > 100 {
        one_line.chars().take(100).collect::<String>() + "…"
    } else {
        one_line
    }
}

async fn slack_webhook(State(sinks): State<Arc<Sinks>>, body: Bytes) -> Response {
    let msg = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    if let Some(err) = slack_message_error(&msg) {
        return (StatusCode::BAD_REQUEST, err).into_response();
    }
    sinks.record("slack webhook", &clip(msg["text"].as_str().unwrap_or("(blocks)")), json!({"message": msg}));
    (StatusCode::OK, "ok").into_response()
}

async fn slack_post_message(State(sinks): State<Arc<Sinks>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    let msg = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let error = if token.trim().is_empty() {
        Some("not_authed")
    } else if msg["channel"].as_str().is_none_or(|c| c.trim().is_empty()) {
        Some("channel_not_found")
    } else {
        slack_message_error(&msg)
    };
    if let Some(err) = error {
        return Json(json!({"ok": false, "error": err})).into_response();
    }
    let ts = format!("{}.{:06}", chrono::Utc::now().timestamp(), sinks.next() % 1_000_000);
    let channel = msg["channel"].clone();
    sinks.record(
        "slack chat.postMessage",
        &format!("{} {}", channel.as_str().unwrap_or(""), clip(msg["text"].as_str().unwrap_or("(blocks)"))),
        json!({"message": msg, "ts": ts}),
    );
    Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": msg["text"], "ts": ts}})).into_response()
}

async fn hook(State(sinks): State<Arc<Sinks>>, uri: OriginalUri, headers: HeaderMap, body: Bytes) -> Response {
    let body_json = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    let signed: serde_json::Map<String, Value> = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()).map(|v| (h.to_string(), json!(v))))
        .collect();
    sinks.record(
        "webhook",
        &format!("POST {} ({} bytes)", uri.0.path(), body.len()),
        json!({"path": uri.0.path(), "headers": signed, "body": body_json}),
    );
    Json(json!({"ok": true})).into_response()
}

async fn received(State(sinks): State<Arc<Sinks>>) -> Json<Value> {
    let r = sinks.received.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({"received": r.iter().collect::<Vec<_>>()}))
}

/// Accepts SMTP sessions until the process ends.
async fn smtp_sink(listener: TcpListener, sinks: Arc<Sinks>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        let sinks = sinks.clone();
        tokio::spawn(async move {
            if let Err(e) = smtp_session(socket, &sinks).await {
                tracing::debug!(error = %e, "SMTP stand-in session ended");
            }
        });
    }
}

/// One line of at most [`MAX_LINE_BYTES`], or `None` at the end of the stream or after the idle time.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = match tokio::time::timeout(SMTP_IDLE, (&mut *reader).take(MAX_LINE_BYTES).read_until(b'\n', &mut line)).await {
        Ok(r) => r?,
        Err(_) => return Ok(None),
    };
    Ok((n > 0).then_some(line))
}

/// A minimal SMTP server (RFC 5321's commands, no extensions but 8BITMIME and SIZE): every message is
/// accepted and recorded.
async fn smtp_session(socket: tokio::net::TcpStream, sinks: &Sinks) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 aos-dev SMTP stand-in ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    while let Some(line) = read_line(&mut reader).await? {
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let arg = |prefix: &str| {
            text.get(prefix.len()..).unwrap_or("").trim().trim_start_matches('<').split('>').next().unwrap_or("").to_string()
        };
        let reply: Vec<u8> = match verb.as_str() {
            "EHLO" => format!("250-aos-dev\r\n250-8BITMIME\r\n250 SIZE {MAX_MESSAGE_BYTES}\r\n").into_bytes(),
            "HELO" => b"250 aos-dev\r\n".to_vec(),
            "MAIL" => {
                from = arg("MAIL FROM:");
                to.clear();
                b"250 OK\r\n".to_vec()
            }
            "RCPT" if to.len() < 100 => {
                to.push(arg("RCPT TO:"));
                b"250 OK\r\n".to_vec()
            }
            "RCPT" => b"452 too many recipients\r\n".to_vec(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                let mut too_large = false;
                loop {
                    let Some(l) = read_line(&mut reader).await? else { return Ok(()) };
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    if data.len() + l.len() > MAX_MESSAGE_BYTES {
                        too_large = true;
                    } else {
                        data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
                    }
                }
                if too_large {
                    b"552 message too large\r\n".to_vec()
                } else {
                    let message = String::from_utf8_lossy(&data).to_string();
                    let subject =
                        message.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").to_string();
                    let n = sinks.next();
                    sinks.record(
                        "email",
                        &format!("to {} \"{}\"", to.join(", "), clip(&subject)),
                        json!({"from": from, "to": to, "subject": subject, "message": message, "queued_as": format!("dev-{n}")}),
                    );
                    format!("250 OK queued as dev-{n}\r\n").into_bytes()
                }
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n".to_vec()
            }
            "NOOP" => b"250 OK\r\n".to_vec(),
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n".to_vec(),
        };
        write.write_all(&reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_messages_are_checked_as_slack_does() {
        assert_eq!(slack_message_error(&json!({"text": "hi"})), None);
        assert_eq!(slack_message_error(&json!({"blocks": [{"type": "divider"}]})), None);
        assert_eq!(slack_message_error(&json!({"text": "  "})), Some("no_text"));
        assert_eq!(slack_message_error(&json!("hi")), Some("invalid_payload"));
    }

    #[test]
    fn the_dev_webhook_secret_is_a_standard_webhooks_key() {
        use base64::Engine;
        let key = DEV_WEBHOOK_SECRET.strip_prefix("whsec_").unwrap();
        assert!(!base64::engine::general_purpose::STANDARD.decode(key).unwrap().is_empty());
    }
}
