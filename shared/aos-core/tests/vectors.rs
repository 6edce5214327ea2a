//! Checks the shared test vectors in `tests/vectors/` — the bytes the Python and TypeScript SDKs
//! must reproduce. `AOS_WRITE_VECTORS=1 cargo test -p aos-core --test vectors` regenerates the
//! derived files (hashes, rng, backoff); `canonical.json` is hand-written from RFC 8785.

use aos_core::canonical::{hash_value, to_canonical_string};
use aos_core::plan::RetryPolicy;
use aos_core::retry::backoff_delay_ms;
use aos_core::rng::SeededRng;
use aos_core::trace::{root_hash, TraceEntry};
use serde_json::{json, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("reading tests/vectors/{name}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// Writes `value` when regenerating, otherwise asserts the committed file equals it.
fn check_or_write(name: &str, value: Value) {
    if std::env::var("AOS_WRITE_VECTORS").is_ok() {
        std::fs::write(dir().join(name), serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    }
    assert_eq!(load(name), value, "tests/vectors/{name} differs from what the Rust implementation computes");
}

#[test]
fn canonical_json_cases() {
    let cases = load("canonical.json");
    let cases = cases["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let input: Value = serde_json::from_str(case["input"].as_str().unwrap()).unwrap();
        let got = to_canonical_string(&input);
        assert_eq!(got, case["canonical"].as_str().unwrap(), "case {}", case["name"]);
        assert_eq!(hash_value(&input), case["sha256"].as_str().unwrap(), "hash of case {}", case["name"]);
    }
}

fn trace_sample() -> Vec<TraceEntry> {
    let outcomes = [
        json!({"ok": true, "output": {"price": 42000.5}}),
        json!({"ok": false, "error": {"code": "HTTP_503", "category": "TRANSIENT", "message": "503 Service Unavailable", "retryable": true, "details": null}}),
        json!({"ok": true, "output": "BTC 42000.5"}),
    ];
    let inputs = [
        json!({"url": "https://example.com/price", "method": "GET"}),
        json!({"url": "https://example.com/flaky"}),
        json!({"data": {"p": 42000.5}, "expr": "\"BTC \\(.p)\""}),
    ];
    let steps = [
        ("fetch", 1, "http_call", 0, 0),
        ("flaky", 1, "http_call", 1, 1),
        ("flaky", 2, "http_call", 1, 0),
        ("format", 1, "json_transform", 2, 2),
    ];
    steps
        .iter()
        .map(|(id, attempt, skill, inp, out)| {
            let outcome = if *out == 1 {
                &outcomes[1]
            } else if *id == "format" {
                &outcomes[2]
            } else {
                &outcomes[0]
            };
            TraceEntry {
                step_id: id.to_string(),
                attempt: *attempt,
                skill: skill.to_string(),
                input_hash: hash_value(&inputs[*inp]),
                output_hash: hash_value(outcome),
                ok: outcome["ok"] == json!(true),
            }
        })
        .collect()
}

#[test]
fn trace_hashes() {
    let entries = trace_sample();
    let mut chain = Vec::new();
    for i in 0..=entries.len() {
        chain.push(json!(root_hash(&entries[..i])));
    }
    let value = json!({
        "description": "step_hash = sha256(JCS({step_id, attempt, skill, input_hash, output_hash, ok})); root_0 = sha256(\"\"); root_i = sha256(root_{i-1} + step_hash_i) over lower-case hex text",
        "entries": entries.iter().map(|e| json!({"entry": e, "step_hash": e.hash()})).collect::<Vec<_>>(),
        "roots": chain,
        "root": root_hash(&entries),
    });
    check_or_write("trace.json", value);
}

#[test]
fn seeded_rng() {
    let mut cases = Vec::new();
    for (seed, step, attempt, stream) in [
        (0u64, "a", 1u32, "skill"),
        (42, "fetch", 1, "skill"),
        (42, "fetch", 2, "skill"),
        (9007199254740991, "format-step_2", 7, "backoff"),
    ] {
        let key = to_canonical_string(&json!([seed, step, attempt, stream]));
        let mut r = SeededRng::derive(seed, step, attempt, stream);
        let mut f = SeededRng::derive(seed, step, attempt, stream);
        cases.push(json!({
            "seed": seed, "step_id": step, "attempt": attempt, "stream": stream,
            "key": key,
            "u64": (0..5).map(|_| r.next_u64().to_string()).collect::<Vec<_>>(),
            "f64": (0..3).map(|_| f.next_f64()).collect::<Vec<_>>(),
        }));
    }
    let mut reference = SeededRng::from_state(1234567);
    let reference: Vec<String> = (0..3).map(|_| reference.next_u64().to_string()).collect();
    let value = json!({
        "description": "state = first 8 bytes big-endian of sha256(JCS([seed, step_id, attempt, stream])); SplitMix64; f64 = (next_u64 >> 11) * 2^-53. u64 values are decimal strings.",
        "splitmix64_from_state_1234567": reference,
        "cases": cases,
    });
    check_or_write("rng.json", value);
}

#[test]
fn backoff_schedule() {
    let policies = [
        RetryPolicy { max_attempts: 6, initial_delay_ms: 200, max_delay_ms: 10_000, multiplier: 2.0, retry_on: None },
        RetryPolicy { max_attempts: 5, initial_delay_ms: 1000, max_delay_ms: 3000, multiplier: 3.0, retry_on: None },
    ];
    let cases: Vec<Value> = policies
        .iter()
        .map(|p| {
            json!({
                "policy": p, "seed": 42, "step_id": "flaky",
                "delays_ms": (1..p.max_attempts).map(|a| backoff_delay_ms(p, 42, "flaky", a)).collect::<Vec<_>>(),
            })
        })
        .collect();
    check_or_write(
        "backoff.json",
        json!({
            "description": "delay after failed attempt n: base = min(max_delay_ms, initial_delay_ms * multiplier^(n-1)); u = first f64 of derive(seed, step_id, n, \"backoff\"); delay = floor(base/2 + u*base/2)",
            "cases": cases,
        }),
    );
}
