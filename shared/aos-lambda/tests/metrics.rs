//! Metrics in AWS, over DynamoDB and SQS on moto: runs driven through the real handlers (api-runs,
//! orchestrator, skill functions) with the Lambda recorder installed add exactly their increments
//! to the DynamoDB counters at the end of each invocation, print valid CloudWatch EMF lines, and
//! the `api-metrics` handler serves the totals as Prometheus text (checked by `promtool` and
//! parsed) to a key with `MetricsRead` only.
//!
//! The recorder is process-wide: this file holds one test that installs it (nextest runs every
//! test in its own process) and tests that do not need it.

mod support;

use aos_aws::{AwsSettings, DynamoCounters};
use aos_lambda::api;
use aos_lambda::Invocation;
use aos_runtime::auth::Role;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::metric_store::{MetricStore, Series, SeriesValue};
use aos_runtime::Runtime;
use aos_skills::{builtin_registry, SkillsConfig};
use lambda_http::request::LambdaRequest;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// The EMF sink: what the recorder would print to stdout, kept for the test to read.
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
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("sink").clone()).expect("UTF-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("an EMF line is not JSON ({e}): {l}"))).collect()
    }
}

/// An HTTP target: `/flaky/<key>` answers 503 the first time per key and 200 after, `/missing`
/// 404, `/teapot` 418.
async fn spawn_target() -> String {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/flaky/{key}",
            axum::routing::get(|State(seen): State<Arc<Mutex<HashMap<String, u32>>>>, Path(key): Path<String>| async move {
                let mut seen = seen.lock().expect("seen");
                let n = seen.entry(key).or_default();
                *n += 1;
                if *n == 1 {
                    (StatusCode::SERVICE_UNAVAILABLE, "busy")
                } else {
                    (StatusCode::OK, "{\"ok\": true}")
                }
            }),
        )
        .route("/missing", axum::routing::get(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route("/teapot", axum::routing::get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("target") });
    format!("http://{addr}")
}

/// The runtime every function would build over the stack's table and queues, with `http_call`
/// allowed to reach the local target.
async fn runtime(stack: &Stack) -> Arc<Runtime> {
    let config = sdk_config(&moto_url()).await;
    let skills = Arc::new(builtin_registry(&SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() }));
    let settings = AwsSettings {
        table: stack.table.clone(),
        queue_urls: stack.queue_urls.clone(),
        secrets_prefix: format!("aos-test/{}", stack.table),
    };
    Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)))
}

/// Submits `plan` through the `api-runs` handler (its sample event with this body); returns the
/// status and body.
async fn submit(rt: &Arc<Runtime>, key: &str, plan: Value) -> (u16, Value) {
    let body = json!({"plan": plan, "inputs": {}}).to_string();
    let mut event: Value = serde_json::from_str(&event_with("api-runs-submit.json", &[(SAMPLE_KEY, key)])).expect("JSON");
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["body"] = json!(body);
    invoke_api(api::app(rt.clone(), group("api-runs")).expect("app"), &event.to_string()).await
}

fn plan(url: &str) -> Value {
    json!({"name": "metered", "steps": [
        {"id": "call", "skill": "http_call", "input": {"url": url}, "retry": {"max_attempts": 3, "initial_delay_ms": 10}},
        {"id": "shape", "skill": "json_transform", "depends_on": ["call"], "input": {"data": "{{ steps.call.output }}", "expr": "{status}"}}
    ]})
}

/// Feeds what is visible on `queue` to its function as one invocation, then deletes what the
/// function did not report as failed, as the event source mapping does.
async fn pump(stack: &Stack, rt: &Arc<Runtime>, queue: &str) -> usize {
    // One receive, without waiting for messages to show up: `finish` polls again.
    let received = stack
        .sqs
        .receive_message()
        .queue_url(&stack.queue_urls[queue])
        .max_number_of_messages(10)
        .visibility_timeout(30)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive from moto");
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return 0;
    }
    // Through the wrapper every function's invocations go through, which flushes the metrics.
    let event = stack.sqs_event(queue, &messages);
    let response = match queue.strip_prefix("skill.") {
        None => Invocation::new("orchestrator", aos_lambda::orchestrator::Handler(rt.clone())).invoke(event).await,
        Some(skill) => {
            let skill = aos_skills::builtin(skill).expect("a built-in skill").id;
            Invocation::new("skill", aos_lambda::skill::Handler { rt: rt.clone(), skill }).invoke(event).await
        }
    };
    let failed = failures(&response.expect("handled"));
    for m in messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id.as_deref())) {
        stack.delete(queue, m).await;
    }
    messages.len()
}

/// Drives the runs through the queues until each has finished.
async fn finish(stack: &Stack, rt: &Arc<Runtime>, runs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let queues = [ORCHESTRATOR_QUEUE.to_string(), skill_queue("http_call"), skill_queue("json_transform")];
    loop {
        let mut pending = Vec::new();
        for id in runs {
            let run = rt.get(TENANT, id).await.expect("run").run;
            if !run.status.is_terminal() {
                pending.push(format!("{id}: {}", run.status.as_str()));
            }
        }
        if pending.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not finish: {pending:?}");
        let mut handled = 0;
        for q in &queues {
            handled += pump(stack, rt, q).await;
        }
        if handled == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Every stored series of the runtime's metrics, read straight through the adapter.
async fn stored(counters: &DynamoCounters) -> BTreeMap<(String, BTreeMap<String, String>), SeriesValue> {
    let mut out = BTreeMap::new();
    for name in aos_lambda::recorder::catalog().keys() {
        for s in counters.series(name).await.expect("read the metric items") {
            out.insert((s.name, s.labels), s.value);
        }
    }
    out
}

fn counter(all: &BTreeMap<(String, BTreeMap<String, String>), SeriesValue>, name: &str, l: &[(&str, &str)]) -> u64 {
    match all.get(&(name.to_string(), labels(l))) {
        Some(SeriesValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn histogram_count(all: &BTreeMap<(String, BTreeMap<String, String>), SeriesValue>, name: &str, l: &[(&str, &str)]) -> u64 {
    match all.get(&(name.to_string(), labels(l))) {
        Some(SeriesValue::Histogram { count, buckets, .. }) => {
            assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "ascending cumulative buckets: {buckets:?}");
            assert!(buckets.last().is_some_and(|b| b.1 <= *count));
            *count
        }
        None => 0,
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// Invokes an API function whose answer may be text; returns the status and the body as text.
async fn invoke_text(app: axum::Router, event: &str) -> (u16, String, Value) {
    let request: LambdaRequest = serde_json::from_str(event).expect("an API Gateway event");
    let response = Invocation::new("api", api::Handler { app }).invoke(lambda_event(request)).await.expect("the app answers");
    let response = serde_json::to_value(response).expect("a serializable response");
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    (status, response["body"].as_str().unwrap_or_default().to_string(), response["headers"].clone())
}

/// `promtool check metrics`: the real Prometheus parser and its lint rules.
fn promtool_check(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed to check the exposition ({e}); install Debian's `prometheus` package (tests/run.sh does)")
        });
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics: {report}\n{text}");
}

#[tokio::test]
async fn invocations_add_exact_deltas_to_dynamodb_print_emf_and_api_metrics_serves_the_totals() {
    let stack = Stack::new().await;
    let rt = runtime(&stack).await;
    let counters = Arc::new(DynamoCounters::new(stack.ddb.clone(), &stack.table));
    let emf = Captured::default();
    aos_lambda::recorder::install(Some(counters.clone()), Box::new(emf.clone()), Some("aos-test-function".into()))
        .expect("install the recorder");
    let key = stack.api_key().await;
    let target = spawn_target().await;

    // First round: one run whose call fails once (503, matched, retried) and then succeeds.
    let (status, body) = submit(&rt, &key, plan(&format!("{target}/flaky/a"))).await;
    assert_eq!(status, 202, "{body}");
    let a = body["run_id"].as_str().expect("run_id").to_string();
    finish(&stack, &rt, &[&a]).await;
    assert_eq!(rt.get(TENANT, &a).await.expect("run").run.status.as_str(), "succeeded");
    let first = stored(&counters).await;
    let hit = [("category", "TRANSIENT"), ("code", "HTTP_SERVICE_UNAVAILABLE")];
    let recovery = [("code", "HTTP_SERVICE_UNAVAILABLE"), ("mode", "retry_after")];
    assert_eq!(counter(&first, "failure_match_hits_total", &hit), 1, "{first:?}");
    assert_eq!(counter(&first, "recovery_attempts_total", &recovery), 1, "{first:?}");
    assert_eq!(counter(&first, "recovery_success_total", &recovery), 1, "{first:?}");
    assert_eq!(counter(&first, "runs_total", &[("status", "succeeded")]), 1, "{first:?}");
    assert_eq!(histogram_count(&first, "step_duration_seconds", &[("skill", "http_call")]), 2, "{first:?}");
    assert_eq!(histogram_count(&first, "step_duration_seconds", &[("skill", "json_transform")]), 1, "{first:?}");

    // Second round: the same again, a run failing on a 404 and one on a 418 (matched, not
    // retried), and a submission refused with 422 (counted by api-runs).
    let (_, b) = submit(&rt, &key, plan(&format!("{target}/flaky/b"))).await;
    let (_, c) = submit(&rt, &key, plan(&format!("{target}/missing"))).await;
    let (_, d) = submit(&rt, &key, plan(&format!("{target}/teapot"))).await;
    let (status, refused) =
        submit(&rt, &key, json!({"name": "broken", "steps": [{"id": "x", "skill": "no_such_skill", "input": {}}]})).await;
    assert_eq!(status, 422, "{refused}");
    let ids: Vec<String> = [b, c, d].iter().map(|r| r["run_id"].as_str().expect("run_id").to_string()).collect();
    finish(&stack, &rt, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let second = stored(&counters).await;
    let moved = |name: &str, l: &[(&str, &str)]| counter(&second, name, l) - counter(&first, name, l);
    assert_eq!(moved("failure_match_hits_total", &hit), 1, "{second:?}");
    assert_eq!(moved("failure_match_hits_total", &[("category", "NOT_FOUND"), ("code", "HTTP_NOT_FOUND")]), 1, "{second:?}");
    assert_eq!(moved("failure_match_hits_total", &[("category", "VALIDATION"), ("code", "HTTP_CLIENT_ERROR")]), 1, "{second:?}");
    assert_eq!(counter(&second, "failure_match_misses_total", &[("skill", "http_call")]), 0, "every built-in failure is in the catalog");
    assert_eq!(moved("recovery_attempts_total", &recovery), 1, "{second:?}");
    assert_eq!(moved("recovery_success_total", &recovery), 1, "{second:?}");
    assert_eq!(moved("runs_total", &[("status", "succeeded")]), 1, "{second:?}");
    assert_eq!(moved("runs_total", &[("status", "failed")]), 2, "{second:?}");
    assert_eq!(moved("runs_total", &[("status", "rejected")]), 1, "{second:?}");
    // b: 503 then 200; c and d: one attempt each. Only b reaches its transform.
    assert_eq!(histogram_count(&second, "step_duration_seconds", &[("skill", "http_call")]), 2 + 4);
    assert_eq!(histogram_count(&second, "step_duration_seconds", &[("skill", "json_transform")]), 1 + 1);

    // EMF: every line is an EMF document of the AOS namespace, its dimensions and metrics present
    // as members, and the lines add up to the stored totals.
    let lines = emf.lines();
    assert!(!lines.is_empty());
    let mut emf_totals: BTreeMap<(String, BTreeMap<String, String>), u64> = BTreeMap::new();
    for line in &lines {
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
        assert_eq!(directives.len(), 1, "{line}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], "AOS", "{line}");
        let dimensions: Vec<&str> =
            directive["Dimensions"][0].as_array().expect("a dimension set").iter().map(|d| d.as_str().expect("dimension name")).collect();
        let line_labels: BTreeMap<String, String> = dimensions
            .iter()
            .map(|d| (d.to_string(), line[*d].as_str().unwrap_or_else(|| panic!("dimension {d} is not a member: {line}")).to_string()))
            .collect();
        assert_eq!(line["function"], "aos-test-function");
        for m in directive["Metrics"].as_array().expect("Metrics") {
            let name = m["Name"].as_str().expect("Name");
            let unit = m["Unit"].as_str().expect("Unit");
            let value = &line[name];
            let n = match value {
                Value::Number(n) => {
                    assert_eq!(unit, "Count", "{line}");
                    n.as_u64().expect("a count")
                }
                Value::Object(h) => {
                    assert_eq!(unit, "Seconds", "{line}");
                    let (values, counts) = (h["Values"].as_array().expect("Values"), h["Counts"].as_array().expect("Counts"));
                    assert_eq!(values.len(), counts.len(), "{line}");
                    let total: u64 = counts.iter().map(|c| c.as_u64().expect("count")).sum();
                    assert_eq!(h["Count"].as_u64(), Some(total), "{line}");
                    total
                }
                other => panic!("metric {name} has no value member: {other}"),
            };
            *emf_totals.entry((name.to_string(), line_labels.clone())).or_default() += n;
        }
    }
    for ((name, l), value) in &second {
        let expected = match value {
            SeriesValue::Counter(n) => *n,
            SeriesValue::Histogram { count, .. } => *count,
            SeriesValue::Gauge(_) => continue,
        };
        assert_eq!(emf_totals.get(&(name.clone(), l.clone())), Some(&expected), "EMF lines vs stored totals for {name}{l:?}");
    }

    // The metrics function: its sample event with a real key gets the totals as Prometheus text.
    let metrics_app = || api::app_with(rt.clone(), group("api-metrics"), Some(counters.clone())).expect("app");
    let (status, text, headers) = invoke_text(metrics_app(), &event_with("api-metrics.json", &[(SAMPLE_KEY, &key)])).await;
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"].as_str().is_some_and(|c| c.starts_with("text/plain; version=0.0.4")), "{headers}");
    promtool_check(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    let sample = |name: &str, l: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && l.iter().all(|(k, v)| s.labels.get(k) == Some(v)) && s.labels.len() == l.len())
            .map(|s| s.value.clone())
    };
    use prometheus_parse::Value as P;
    assert_eq!(sample("runs_total", &[("status", "succeeded")]), Some(P::Counter(2.0)), "{text}");
    assert_eq!(sample("runs_total", &[("status", "failed")]), Some(P::Counter(2.0)), "{text}");
    assert_eq!(sample("runs_total", &[("status", "rejected")]), Some(P::Counter(1.0)), "{text}");
    assert_eq!(
        sample("failure_match_hits_total", &[("code", "HTTP_SERVICE_UNAVAILABLE"), ("category", "TRANSIENT")]),
        Some(P::Counter(2.0)),
        "{text}"
    );
    assert_eq!(
        sample("failure_match_hits_total", &[("code", "HTTP_CLIENT_ERROR"), ("category", "VALIDATION")]),
        Some(P::Counter(1.0)),
        "{text}"
    );
    assert_eq!(
        sample("recovery_attempts_total", &[("mode", "retry_after"), ("code", "HTTP_SERVICE_UNAVAILABLE")]),
        Some(P::Counter(2.0)),
        "{text}"
    );
    assert_eq!(
        sample("recovery_success_total", &[("mode", "retry_after"), ("code", "HTTP_SERVICE_UNAVAILABLE")]),
        Some(P::Counter(2.0)),
        "{text}"
    );
    let Some(P::Histogram(buckets)) = sample("step_duration_seconds", &[("skill", "http_call")]) else {
        panic!("no step_duration_seconds histogram: {text}")
    };
    assert_eq!(buckets.len(), aos_runtime::telemetry::STEP_DURATION_BUCKETS.len() + 1, "every bucket and +Inf: {text}");
    assert!(buckets.windows(2).all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().map(|b| (b.less_than, b.count)), Some((f64::INFINITY, 6.0)));
    assert!(
        text.contains("step_duration_seconds_count{skill=\"http_call\"} 6\n")
            && text.contains("step_duration_seconds_sum{skill=\"http_call\"} "),
        "{text}"
    );
    for name in ["runs_total", "step_duration_seconds", "failure_match_hits_total"] {
        assert!(scrape.docs.contains_key(name), "HELP of {name}: {text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE of {name}: {text}");
    }

    // Only keys with MetricsRead: none (the sample's placeholder) is 401, a viewer's is 403.
    let (status, body, _) = invoke_text(metrics_app(), &event_text("api-metrics.json")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON error")["error"]["code"], "UNAUTHENTICATED");
    let (viewer, _) = rt.keys().create(TENANT, Role::Viewer).await.expect("a viewer key");
    let (status, body, _) = invoke_text(metrics_app(), &event_with("api-metrics.json", &[(SAMPLE_KEY, &viewer)])).await;
    assert_eq!(status, 403, "{body}");
    // The other API functions do not serve metrics.
    let (status, _, _) =
        invoke_text(api::app(rt.clone(), group("api-runs")).expect("app"), &event_with("api-metrics.json", &[(SAMPLE_KEY, &key)])).await;
    assert_eq!(status, 404);
}

/// Writes to one series, one at a time. DynamoDB applies each UpdateItem to an item atomically, so
/// concurrent `ADD`s all count; moto's threaded server reads, adds and writes without a lock and
/// loses some of them. The concurrency check goes through this shim so that it tests the adapter
/// and the flushes (one `ADD` per series, never a read-modify-write) rather than moto's races.
struct OneWriterPerSeries {
    counters: DynamoCounters,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[async_trait::async_trait]
impl MetricStore for OneWriterPerSeries {
    async fn add(&self, delta: &Series) -> Result<(), aos_core::ports::StoreError> {
        let key = format!("{}{}", delta.name, aos_runtime::metric_store::series_sk(&delta.labels));
        let lock = self.locks.lock().expect("locks").entry(key).or_default().clone();
        let _guard = lock.lock().await;
        self.counters.add(delta).await
    }
    async fn series(&self, name: &str) -> Result<Vec<Series>, aos_core::ports::StoreError> {
        self.counters.series(name).await
    }
}

#[tokio::test]
async fn concurrent_flushes_of_many_execution_environments_all_count() {
    let stack = Stack::new().await;
    let counters = DynamoCounters::new(stack.ddb.clone(), &stack.table);
    let store = Arc::new(OneWriterPerSeries { counters: counters.clone(), locks: Mutex::default() });
    // 24 execution environments (recorders, not installed), each recording its own amounts, then
    // flushing at the same time.
    let environments: Vec<_> = (1..=24u64)
        .map(|i| {
            let env =
                aos_lambda::recorder::LambdaMetrics::new(Some(store.clone() as Arc<dyn MetricStore>), Box::new(std::io::sink()), None);
            metrics::with_local_recorder(env.recorder(), || {
                for _ in 0..i {
                    aos_runtime::telemetry::run_finished("succeeded");
                }
                // Half the environments see a fast step (4 ms), every one a slow one (0.5 s).
                if i % 2 == 0 {
                    aos_runtime::telemetry::step_finished("json_transform", 4);
                }
                aos_runtime::telemetry::step_finished("json_transform", 500);
            });
            env
        })
        .collect();
    let flushed = futures::future::join_all(environments.iter().map(|env| env.flush())).await;
    assert!(flushed.iter().all(|f| f.failed_writes == 0 && f.series == 2), "{flushed:?}");

    let runs = counters.series("runs_total").await.expect("read");
    assert_eq!(
        runs,
        vec![Series { name: "runs_total".into(), labels: labels(&[("status", "succeeded")]), value: SeriesValue::Counter(24 * 25 / 2) }]
    );
    let steps = counters.series("step_duration_seconds").await.expect("read");
    let [Series { value: SeriesValue::Histogram { buckets, sum, count }, labels: l, .. }] = steps.as_slice() else { panic!("{steps:?}") };
    assert_eq!((l, *count), (&labels(&[("skill", "json_transform")]), 36));
    assert!((sum - (12.0 * 0.004 + 24.0 * 0.5)).abs() < 1e-9, "{sum}");
    let le = |bound: f64| buckets.iter().find(|b| b.0 == bound).map(|b| b.1);
    assert_eq!((le(0.001), le(0.005), le(0.25), le(0.5), le(300.0)), (Some(0), Some(12), Some(12), Some(36), Some(36)), "{buckets:?}");
    // The items are where docs/dynamodb.md says.
    let item = stack
        .ddb
        .get_item()
        .table_name(&stack.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("metrics#runs_total".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(r#"{"status":"succeeded"}"#.into()))
        .send()
        .await
        .expect("get item")
        .item
        .expect("the counter item");
    assert_eq!(item["value"].as_n().map(String::as_str), Ok("300"));
    assert_eq!(item["kind"].as_s().map(String::as_str), Ok("counter"));
}

#[tokio::test]
async fn a_failing_store_costs_the_totals_but_never_the_invocation() {
    // A recorder (not installed: this process may have one) whose table does not exist.
    let config = sdk_config(&moto_url()).await;
    let missing: Arc<dyn MetricStore> = Arc::new(DynamoCounters::new(aws_sdk_dynamodb::Client::new(&config), "aos-test-no-such-table"));
    let emf = Captured::default();
    let metrics = aos_lambda::recorder::LambdaMetrics::new(Some(missing), Box::new(emf.clone()), None);
    metrics::with_local_recorder(metrics.recorder(), || {
        aos_runtime::telemetry::run_finished("succeeded");
        aos_runtime::telemetry::step_finished("http_call", 120);
    });
    let flushed = metrics.flush().await;
    assert_eq!(flushed, aos_lambda::recorder::Flushed { series: 2, emf_lines: 2, failed_writes: 2 });
    // The EMF lines still carry the values.
    let lines = emf.lines();
    assert_eq!(lines.iter().filter_map(|l| l["runs_total"].as_u64()).sum::<u64>(), 1, "{lines:?}");
    assert!(lines.iter().all(|l| l.get("function").is_none()));
    assert_eq!(metrics.flush().await, aos_lambda::recorder::Flushed::default(), "nothing new, nothing written");
}
