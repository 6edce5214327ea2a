//! `aos-target`: the local target server of the tests as a standalone process, for scripts
//! (tests/acceptance/traffic.py, tests/monitoring/prometheus_test.py) and for people trying AOS by
//! hand. Endpoints: `GET /price`, `GET /flaky/{key}/{n}` (503 for the first n calls per key),
//! `GET /limited/{key}/{n}/{retry_after_s}` (429 + Retry-After), `GET /status/{code}`,
//! `GET /slow/{ms}`, `POST /sink`.
//!
//! usage: aos-target [--port PORT] [--host HOST]   (default 127.0.0.1 and a free port)
//! Prints `AOS target listening on http://HOST:PORT` once it accepts connections, then serves
//! until SIGINT or SIGTERM.

use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut host, mut port) = ("127.0.0.1".to_string(), "0".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--port", Some(v)) => port = v,
            ("--host", Some(v)) => host = v,
            _ => {
                eprintln!("usage: aos-target [--port PORT] [--host HOST]");
                std::process::exit(2);
            }
        }
    }
    let target = match aos_testkit::spawn_target_on(&format!("{host}:{port}")).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("aos-target: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("AOS target listening on {}", target.base);
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
