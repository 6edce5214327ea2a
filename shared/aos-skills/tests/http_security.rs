//! SSRF protection of http_call. Only loopback servers are used; blocked requests must be
//! refused before a connection is made, which the server's hit counter and the speed confirm.

mod common;

use aos_core::outcome::Category;
use aos_skills::http::guard::blocked_reason;
use aos_skills::HttpCall;
use common::{call, config, start};
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn assert_blocked(err: &aos_core::outcome::StepError, host: &str) {
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("HTTP_BLOCKED_ADDRESS", Category::Security, false), "{err:?}");
    assert!(err.message.contains(host), "message names the host: {}", err.message);
    assert!(err.details["address"].is_string(), "{:?}", err.details);
}

#[tokio::test]
async fn loopback_is_blocked_by_default() {
    let server = start().await;
    let skill = HttpCall::new(&config(&[]));
    let err = call(&skill, json!({"url": server.url("/json")})).await.expect_err("blocked");
    assert_blocked(&err, "127.0.0.1");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn localhost_resolving_to_loopback_is_blocked() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let err = call(&skill, json!({"url": format!("http://localhost:{}/json", server.port())})).await.expect_err("blocked");
    assert_blocked(&err, "localhost");
    assert_eq!(server.hits(), 0);

    let open = HttpCall::new(&config(&["localhost"]));
    let out = call(&open, json!({"url": format!("http://localhost:{}/json", server.port())})).await.expect("allowed by name");
    assert_eq!(out["status"], 200);
}

#[tokio::test]
async fn mapped_ipv6_loopback_is_blocked() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    let err = call(&skill, json!({"url": format!("http://[::ffff:127.0.0.1]:{}/json", server.port())})).await.expect_err("blocked");
    assert_blocked(&err, "::ffff:127.0.0.1");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn metadata_addresses_are_refused_before_connecting() {
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    for (url, host) in [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"),
    ] {
        let started = Instant::now();
        let err = call(&skill, json!({"url": url, "timeout_ms": 60_000})).await.expect_err("blocked");
        assert_blocked(&err, host);
        assert!(started.elapsed() < Duration::from_millis(500), "{url} was refused without waiting on a connection");
    }
}

#[tokio::test]
async fn redirects_to_blocked_addresses_are_blocked() {
    let server = start().await;
    let skill = HttpCall::new(&config(&["127.0.0.1"]));
    for target in [
        format!("http://localhost:{}/json", server.port()),
        format!("http://[::1]:{}/json", server.port()),
        "http://169.254.169.254/".to_string(),
    ] {
        let err = call(&skill, json!({"url": server.url("/redirect"), "query": {"to": target}})).await.expect_err("blocked");
        assert_eq!(err.code, "HTTP_BLOCKED_ADDRESS", "{target}: {err:?}");
    }
    assert_eq!(server.hits(), 3, "only the redirecting requests reached the server");
}

#[test]
fn address_classification() {
    let blocked = [
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "::2",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "2001:db8::1",
    ];
    for ip in blocked {
        assert!(blocked_reason(ip.parse::<IpAddr>().expect(ip)).is_some(), "{ip} must be blocked");
    }
    let public =
        ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"];
    for ip in public {
        assert_eq!(blocked_reason(ip.parse::<IpAddr>().expect(ip)), None, "{ip} is public");
    }
}
