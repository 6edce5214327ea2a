//! X-Ray annotations of the SQS consumer (`aos_lambda::xray`): with Lambda's trace header of a
//! sampled invocation, every record about a run sends the daemon (here a local UDP socket, as
//! Lambda's daemon listens on one) a subsegment of the invocation's segment annotated with the
//! tenant, run, step and attempt; records without a run, and unsampled invocations, send nothing.
//! The API functions do the same for each request about a run (moto holds the runtime's tables).

mod support;

use aos_runtime::delivery::MessageError;
use aos_runtime::worker::Handled;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::time::Duration;
use support::*;

fn event(bodies: &[&str]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(body.to_string());
        event.records.push(m);
    }
    event
}

async fn consume(bodies: &[&str], outcome: fn(&str) -> Result<Handled, MessageError>) -> Vec<String> {
    let response = aos_lambda::sqs::consume_batch(event(bodies), |body| async move { outcome(&body) }).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

/// The datagrams the daemon socket received within a short wait, as (header, document).
fn received(daemon: &UdpSocket) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = daemon.recv(&mut buf) {
        let text = std::str::from_utf8(&buf[..n]).expect("utf-8 datagram");
        let (header, doc) = text.split_once('\n').expect("a header line, then the document");
        out.push((serde_json::from_str(header).unwrap(), serde_json::from_str(doc).unwrap()));
    }
    out
}

// One test: the environment variables are the process's, so the cases run in sequence.
#[tokio::test]
async fn sampled_records_about_a_run_carry_its_id_to_the_daemon() {
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let root = "1-5759e988-bd862e3fe1be46a994272793";
    std::env::set_var("AWS_XRAY_DAEMON_ADDRESS", format!("udp:{} tcp:127.0.0.1:1", daemon.local_addr().unwrap()));
    std::env::set_var("_X_AMZN_TRACE_ID", format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1"));

    let advance = r#"{"v":1,"tenant":"acme","run_id":"r_0001"}"#;
    let task = r#"{"v":1,"tenant":"acme","run_id":"r_0002","step_id":"fetch","attempt":2,"skill":"http_call","input":{}}"#;
    let failed = consume(&[advance, task, "not json", r#"{"v":1}"#], |_| Ok(Handled::Done)).await;
    assert!(failed.is_empty(), "{failed:?}");
    let mut docs = received(&daemon);
    docs.sort_by(|a, b| a.1["annotations"]["run_id"].as_str().cmp(&b.1["annotations"]["run_id"].as_str()));
    assert_eq!(docs.len(), 2, "one subsegment per record about a run: {docs:?}");
    for (header, doc) in &docs {
        assert_eq!(header, &serde_json::json!({"format": "json", "version": 1}));
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["trace_id"], root);
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["id"].as_str().map(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())), Some(true));
        assert!(doc["end_time"].as_f64() >= doc["start_time"].as_f64());
        assert_eq!(doc["error"], false);
    }
    assert_eq!(docs[0].1["annotations"], serde_json::json!({"tenant": "acme", "run_id": "r_0001"}));
    assert_eq!(docs[1].1["annotations"], serde_json::json!({"tenant": "acme", "run_id": "r_0002", "step_id": "fetch", "attempt": 2}));

    // A record SQS must deliver again is marked as an error.
    let failed = consume(&[advance], |_| Err(MessageError::Transient("storage unavailable".into()))).await;
    assert_eq!(failed, vec!["m0".to_string()]);
    let docs = received(&daemon);
    assert_eq!((docs.len(), &docs[0].1["error"]), (1, &Value::Bool(true)));

    // The API functions: a submission carries the run it created, a read the run in its path, a
    // request about no run sends nothing.
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    let runs = || aos_lambda::api::app(stack.rt.clone(), group("api-runs")).expect("app");
    let (status, body) = invoke_api(runs(), &event_with("api-runs-submit.json", &[(SAMPLE_KEY, &key)])).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().expect("run_id").to_string();
    let (status, _) = invoke_api(runs(), &event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)])).await;
    assert_eq!(status, 200);
    let (status, _) = invoke_api(runs(), &event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, "r_nosuchrun")])).await;
    assert_eq!(status, 404);
    let (status, _) = invoke_api(
        runs(),
        &event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (&format!("/api/v1/runs/{SAMPLE_RUN_A}"), "/api/v1/runs")]),
    )
    .await;
    assert_eq!(status, 200);
    let docs = received(&daemon);
    let seen: Vec<(String, Value, Value, Value)> = docs
        .iter()
        .map(|(_, d)| {
            (
                d["name"].as_str().unwrap_or_default().to_string(),
                d["annotations"]["run_id"].clone(),
                d["annotations"]["method"].clone(),
                d["annotations"]["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("api_request".to_string(), json!(run_id), json!("POST"), json!(202)),
            ("api_request".to_string(), json!(run_id), json!("GET"), json!(200)),
            ("api_request".to_string(), json!("r_nosuchrun"), json!("GET"), json!(404)),
        ],
        "{docs:?}"
    );
    assert!(docs.iter().all(|(_, d)| d["trace_id"] == root && d["error"] == false));

    // Not sampled, or outside Lambda: nothing is sent.
    std::env::set_var("_X_AMZN_TRACE_ID", format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=0"));
    consume(&[advance], |_| Ok(Handled::Done)).await;
    invoke_api(runs(), &event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)])).await;
    std::env::remove_var("_X_AMZN_TRACE_ID");
    consume(&[advance], |_| Ok(Handled::Done)).await;
    invoke_api(runs(), &event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)])).await;
    assert!(received(&daemon).is_empty());
}
