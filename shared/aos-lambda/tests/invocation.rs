//! The wrapper every function's invocations go through (`aos_lambda::Invocation`, started by
//! `aos_lambda::run`), over DynamoDB on moto: the metrics an invocation recorded reach the
//! DynamoDB totals and the EMF lines before its result is returned — including the aggregator's
//! (the time of its last successful pass, which the staleness alert watches), a failed invocation's
//! and a panicked one's — a panic becomes the invocation's error, and every log line of an
//! invocation carries the function's name.
//!
//! The recorder and the log subscriber are process-wide: this file holds one test.

mod support;

use aos_aws::DynamoCounters;
use aos_lambda::{Handler, Invocation};
use aos_runtime::metric_store::{MetricStore, SeriesValue};
use lambda_runtime::{FunctionResponse, LambdaEvent, Service};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::*;

/// Where the EMF lines and the logs go: kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take_json(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().expect("sink"));
        String::from_utf8(bytes).expect("UTF-8").lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// A handler that records a finished run, then fails or panics as told.
struct Misbehaving;

impl Handler for Misbehaving {
    type Event = Value;
    type Response = Value;

    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, aos_lambda::Error> {
        aos_runtime::telemetry::run_finished("cancelled");
        tracing::info!("handling");
        match event.payload.as_str() {
            Some("panic") => panic!("a bug in the handler"),
            Some("fail") => Err("storage unavailable".into()),
            _ => Ok(Value::Null),
        }
    }
}

fn cancelled(stored: &[aos_runtime::metric_store::Series]) -> u64 {
    stored.iter().find(|s| s.labels.get("status").map(String::as_str) == Some("cancelled")).map_or(0, |s| match s.value {
        SeriesValue::Counter(n) => n,
        _ => panic!("runs_total is a counter"),
    })
}

#[tokio::test]
async fn every_invocation_flushes_its_metrics_before_returning_names_the_function_and_survives_panics() {
    let stack = Stack::new().await;
    let counters = Arc::new(DynamoCounters::new(stack.ddb.clone(), &stack.table));
    let emf = Captured::default();
    aos_lambda::recorder::install(Some(counters.clone()), Box::new(emf.clone()), Some("aos-test-function".into()))
        .expect("install the recorder");
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .flatten_event(true)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("a log subscriber");

    // The aggregator, through the wrapper as `aos_lambda::run` serves it: the gauge of its last
    // successful pass is in DynamoDB and in the EMF lines as soon as the invocation returns.
    let before = aos_runtime::runs::now_ms() as f64 / 1000.0;
    let aggregator = Invocation::new("aggregator", aos_lambda::aggregator::Handler(stack.rt.clone()));
    let event: Value = serde_json::from_str(&event_text("aggregator-schedule.json")).expect("JSON");
    let summary = aggregator.invoke(lambda_event(event)).await.expect("aggregated");
    assert_eq!(summary.tenants, 0, "{summary:?}");
    let gauge = aos_runtime::telemetry::AGGREGATION_LAST_SUCCESS;
    let stored = counters.series(gauge).await.expect("read the metric items");
    let [series] = stored.as_slice() else { panic!("one stored {gauge}: {stored:?}") };
    let SeriesValue::Gauge(at) = series.value else { panic!("{gauge} is a gauge: {series:?}") };
    assert!(at >= before.floor() && at <= before + 60.0, "{gauge} = {at}, the pass ran at {before}");
    let lines = emf.take_json();
    let line = lines.iter().find(|l| l.get(gauge).is_some()).unwrap_or_else(|| panic!("no EMF line with {gauge}: {lines:?}"));
    assert_eq!(
        (line[gauge].as_f64(), &line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"]),
        (Some(at), &Value::from("Seconds")),
        "{line}"
    );

    // A failed invocation and a panicked one: their metrics count too, the panic is the
    // invocation's error (the process goes on serving), and their log lines name the function.
    let misbehaving = Invocation::new("misbehaving", Misbehaving);
    let err = misbehaving.invoke(lambda_event(Value::from("fail"))).await.expect_err("an error");
    assert_eq!(err.error_message, "storage unavailable");
    assert_eq!(cancelled(&counters.series("runs_total").await.expect("read")), 1, "the failed invocation's metrics were flushed");
    let err = misbehaving.invoke(lambda_event(Value::from("panic"))).await.expect_err("a panic is an error");
    assert_eq!((err.error_type.as_str(), err.error_message.as_str()), ("Panic", "the handler panicked: a bug in the handler"));
    assert_eq!(cancelled(&counters.series("runs_total").await.expect("read")), 2, "the panicked invocation's metrics were flushed");
    assert!(misbehaving.invoke(lambda_event(Value::Null)).await.is_ok(), "the next invocation is served");
    assert_eq!(cancelled(&counters.series("runs_total").await.expect("read")), 3);
    // As the Lambda runtime calls it (a buffered response).
    let mut service = misbehaving.clone();
    assert!(matches!(service.call(lambda_event(Value::Null)).await, Ok(FunctionResponse::BufferedResponse(Value::Null))));

    let logs = logs.take_json();
    let in_function =
        |l: &Value| l["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "invocation" && s["function"] == "misbehaving"));
    let handling: Vec<&Value> = logs.iter().filter(|l| l["message"] == "handling").collect();
    assert_eq!(handling.len(), 4, "{logs:?}");
    assert!(handling.iter().all(|l| in_function(l)), "every line of an invocation is in its function's span: {handling:?}");
    let panicked = logs.iter().find(|l| l["message"] == "the handler panicked").expect("the panic is logged");
    assert!(in_function(panicked) && panicked["panic"] == "a bug in the handler", "{panicked}");
    let cold: Vec<bool> =
        logs.iter().filter(|l| l["message"] == "handling").filter_map(|l| l["spans"][0]["cold_start"].as_bool()).collect();
    assert_eq!(cold, [true, false, false, false], "only the first invocation of an environment is a cold start");
}
