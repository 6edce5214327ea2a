//! Fault injection on the AWS path: the Lambda handlers (api-runs, orchestrator, the skill
//! functions, the sweeper) over DynamoDB and SQS on moto, reached through a proxy that answers a
//! configured share of calls with DynamoDB's `ProvisionedThroughputExceededException`, SQS's
//! `RequestThrottled`, a connection closed before the request reached moto, or one closed after
//! moto acted but before its answer came back. Queue messages are redelivered the way the event
//! source mapping does it: what a batch reports as failed (or what a failed invocation held) shows
//! up again after the visibility timeout.
//!
//! Checked: every submission ends with a run (a client retries a refused submission with its
//! idempotency key) and every run finishes; the target's POST happened once per run, never twice
//! (counted by the `Idempotency-Key` `http_call` sends, `<run>/<step>/<attempt>`); a run that did not
//! succeed failed only with `STEP_INTERRUPTED` on the POST (its claim's answer was lost, so the
//! runtime refuses to guess whether the call happened); the SDK's retries are in the stored
//! metrics (`aws_sdk_retries_total`, by service) and add up with the faults injected; a finished
//! run is counted at most once in `runs_total` (once, unless the answer to its final save was lost).
//!
//! `AOS_TEST_FAULT_RATE` (default 0.04) is the share of calls given each kind of fault (throttling,
//! a dropped request, a dropped answer), `AOS_TEST_FAULT_RUNS` (default 12) the number of runs and
//! `AOS_TEST_FAULT_SEED` the draws. Whatever the draws, each service is throttled at least once (at
//! its eighth call, if no draw has throttled it before): a short run makes few SQS calls, and the
//! order of concurrent calls decides which call gets which draw. The design: docs/operations.md, "Load, soak and faults";
//! figures of longer runs in docs/performance.md.

mod support;

use aos_aws::{AwsSettings, DynamoCounters};
use aos_core::ports::Clock;
use aos_lambda::Invocation;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::metric_store::{MetricStore, SeriesValue};
use aos_runtime::Runtime;
use aos_skills::{builtin_registry, SkillsConfig};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the proxy did, by kind.
#[derive(Default, Debug)]
struct Injected {
    forwarded: AtomicU64,
    dynamodb_throttled: AtomicU64,
    sqs_throttled: AtomicU64,
    dropped_requests: AtomicU64,
    dropped_responses: AtomicU64,
    /// Requests moto did not answer (a connection error or a body cut short): the connection is
    /// closed, which the SDK sees and retries like an injected drop.
    upstream_lost: AtomicU64,
    /// Calls seen per service (not faults): each is throttled at least once.
    dynamodb_calls: AtomicU64,
    sqs_calls: AtomicU64,
}

impl Injected {
    fn faults(&self) -> u64 {
        self.dynamodb_throttled.load(Ordering::SeqCst)
            + self.sqs_throttled.load(Ordering::SeqCst)
            + self.dropped_requests.load(Ordering::SeqCst)
            + self.dropped_responses.load(Ordering::SeqCst)
            + self.upstream_lost.load(Ordering::SeqCst)
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(Mutex<u64>);

impl Rng {
    fn next(&self) -> f64 {
        let mut s = self.0.lock().expect("rng");
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Proxy {
    upstream: String,
    rate: f64,
    rng: Rng,
    injected: Arc<Injected>,
    client: reqwest::Client,
}

const DYNAMODB_THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#;
const SQS_THROTTLED: &str = r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."}"#;

/// One HTTP/1.1 request as read off the socket.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let request = Request { method, path, headers, body: Vec::new() };
    assert!(request.header("transfer-encoding").is_none(), "the SDK sends bodies with a length");
    let length: usize = request.header("content-length").map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request { body, ..request })
}

fn response(status: u16, reason: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json_error(content_type: &str, body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    response(400, "Bad Request", &headers, body.as_bytes())
}

impl Proxy {
    /// Serves one client connection: each request is faulted or forwarded to moto.
    async fn connection(self: Arc<Self>, socket: TcpStream) {
        let mut reader = BufReader::new(socket);
        while let Some(request) = read_request(&mut reader).await {
            let target = request.header("x-amz-target").unwrap_or_default().to_string();
            let draw = self.rng.next();
            let rate = self.rate;
            // Four equal shares: [0, r) throttle, [r, 2r) drop the request, [2r, 3r) drop the
            // answer; SQS and DynamoDB each get their own throttling error.
            let (dynamodb, sqs) = (target.starts_with("DynamoDB_"), target.starts_with("AmazonSQS."));
            let eighth = |calls: &AtomicU64, throttled: &AtomicU64| {
                calls.fetch_add(1, Ordering::SeqCst) == 7 && throttled.load(Ordering::SeqCst) == 0
            };
            let forced = (dynamodb && eighth(&self.injected.dynamodb_calls, &self.injected.dynamodb_throttled))
                || (sqs && eighth(&self.injected.sqs_calls, &self.injected.sqs_throttled));
            if (draw < rate || forced) && dynamodb {
                self.injected.dynamodb_throttled.fetch_add(1, Ordering::SeqCst);
                let reply = json_error("application/x-amz-json-1.0", DYNAMODB_THROTTLED, &[]);
                if reader.get_mut().write_all(&reply).await.is_err() {
                    return;
                }
                continue;
            }
            if (draw < rate || forced) && sqs {
                self.injected.sqs_throttled.fetch_add(1, Ordering::SeqCst);
                let reply = json_error("application/x-amz-json-1.0", SQS_THROTTLED, &[("x-amzn-query-error", "RequestThrottled;Sender")]);
                if reader.get_mut().write_all(&reply).await.is_err() {
                    return;
                }
                continue;
            }
            if (rate..2.0 * rate).contains(&draw) {
                // Closed before the request reaches moto: nothing happened there.
                self.injected.dropped_requests.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let url = format!("{}{}", self.upstream, request.path);
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
            let mut forward = self.client.request(method, url).body(request.body.clone());
            for (n, v) in &request.headers {
                if !matches!(n.to_ascii_lowercase().as_str(), "host" | "content-length" | "connection") {
                    forward = forward.header(n, v);
                }
            }
            let answer = match forward.send().await {
                Ok(a) => a,
                Err(_) => {
                    self.injected.upstream_lost.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            };
            let status = answer.status();
            let headers: Vec<(String, String)> = answer
                .headers()
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "content-length" | "transfer-encoding" | "connection"))
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = match answer.bytes().await {
                Ok(b) => b,
                Err(_) => {
                    self.injected.upstream_lost.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            };
            if (2.0 * rate..3.0 * rate).contains(&draw) {
                // Moto acted; its answer is lost (the SDK retries a call that already happened).
                self.injected.dropped_responses.fetch_add(1, Ordering::SeqCst);
                return;
            }
            self.injected.forwarded.fetch_add(1, Ordering::SeqCst);
            let reply = response(status.as_u16(), status.canonical_reason().unwrap_or("Status"), &headers, &body);
            if reader.get_mut().write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

/// Starts the proxy in front of `upstream`; returns its URL and its tallies.
async fn spawn_proxy(upstream: &str, rate: f64, seed: u64) -> (String, Arc<Injected>) {
    let injected = Arc::new(Injected::default());
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        rate,
        rng: Rng(Mutex::new(seed.max(1))),
        injected: injected.clone(),
        client: reqwest::Client::builder().http1_only().build().expect("client"),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(proxy.clone().connection(socket));
        }
    });
    (url, injected)
}

/// The system clock plus an offset the test moves forward when only time can make progress
/// (a claim's lease, an overdue dispatch), instead of sleeping through it.
#[derive(Default)]
struct SkewedClock(AtomicI64);

#[async_trait::async_trait]
impl Clock for SkewedClock {
    fn now_ms(&self) -> i64 {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as i64;
        wall + self.0.load(Ordering::SeqCst)
    }
    async fn sleep_until(&self, at_ms: i64) {
        let wait = at_ms.saturating_sub(self.now_ms());
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
}

/// The local target: `POST /hook` answers 200 and counts the call by its Idempotency-Key.
async fn spawn_target() -> (String, Arc<Mutex<HashMap<String, u32>>>) {
    use axum::http::HeaderMap;
    let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("none").to_string();
                *seen.lock().expect("calls").entry(key).or_default() += 1;
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("target") });
    (format!("http://{addr}/hook"), calls)
}

fn plan(url: &str) -> Value {
    json!({"name": "faulted", "steps": [
        {"id": "totals", "skill": "json_transform", "input": {"data": [{"qty": 2, "price": 3}, {"qty": 1, "price": 10}], "expr": "map(.qty * .price)"}},
        {"id": "sum", "skill": "json_transform", "depends_on": ["totals"], "input": {"data": "{{ steps.totals.output }}", "expr": "add"}},
        {"id": "notify", "skill": "http_call", "depends_on": ["sum"], "input": {"url": url, "method": "POST", "body": {"total": "{{ steps.sum.output }}"}, "timeout_ms": 5000}},
        {"id": "status", "skill": "json_transform", "depends_on": ["notify"], "input": {"data": "{{ steps.notify.output }}", "expr": ".status"}},
        {"id": "done", "skill": "json_transform", "depends_on": ["status"], "input": {"data": "{{ steps.status.output }}", "expr": ". == 200"}}
    ]})
}

/// Counts of the test's own redelivery machinery.
#[derive(Default, Debug)]
struct Deliveries {
    invocations: u64,
    messages: u64,
    reported_failed: u64,
    failed_invocations: u64,
}

/// Visibility timeout of every receive: what a batch reports as failed comes back after it.
const VISIBILITY_S: i32 = 2;

/// Feeds what is visible on `queue` to its function as one invocation and deletes what the
/// function did not report as failed (all of it stays when the invocation itself failed), as the
/// event source mapping does. The test's own receives and deletes go straight to moto.
async fn pump(stack: &Stack, rt: &Arc<Runtime>, queue: &str, tally: &mut Deliveries) -> usize {
    let received = stack
        .sqs
        .receive_message()
        .queue_url(&stack.queue_urls[queue])
        .max_number_of_messages(10)
        .visibility_timeout(VISIBILITY_S)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive from moto");
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return 0;
    }
    let event = stack.sqs_event(queue, &messages);
    let response = match queue.strip_prefix("skill.") {
        None => Invocation::new("orchestrator", aos_lambda::orchestrator::Handler(rt.clone())).invoke(event).await,
        Some(skill) => {
            let skill = aos_skills::builtin(skill).expect("a built-in skill").id;
            Invocation::new("skill", aos_lambda::skill::Handler { rt: rt.clone(), skill }).invoke(event).await
        }
    };
    tally.invocations += 1;
    tally.messages += messages.len() as u64;
    let Ok(response) = response else {
        tally.failed_invocations += 1;
        return messages.len();
    };
    let failed = failures(&response);
    tally.reported_failed += failed.len() as u64;
    for m in messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id.as_deref())) {
        stack.delete(queue, m).await;
    }
    messages.len()
}

/// Submits through the api-runs handler, as a client would: a refusal other than 202 (storage
/// unavailable after the SDK's retries) is retried with the same idempotency key.
async fn submit(rt: &Arc<Runtime>, key: &str, plan: &Value, idempotency_key: &str, refusals: &mut u64) -> String {
    let body = json!({"plan": plan, "inputs": {}, "idempotency_key": idempotency_key}).to_string();
    let mut event: Value = serde_json::from_str(&event_with("api-runs-submit.json", &[(SAMPLE_KEY, key)])).expect("JSON");
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["body"] = json!(body);
    for _ in 0..20 {
        let app = aos_lambda::api::app(rt.clone(), group("api-runs")).expect("app");
        let (status, answer) = invoke_api(app, &event.to_string()).await;
        if status == 202 {
            return answer["run_id"].as_str().expect("run_id").to_string();
        }
        assert!(status >= 500, "a refusal that retrying cannot fix: {status} {answer}");
        *refusals += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("submission {idempotency_key} refused 20 times");
}

fn stored_counter(series: &[aos_runtime::metric_store::Series], labels: &[(&str, &str)]) -> u64 {
    series
        .iter()
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| match s.value {
            SeriesValue::Counter(n) => n,
            ref other => panic!("{} is not a counter: {other:?}", s.name),
        })
        .sum()
}

#[tokio::test]
async fn throttling_and_dropped_connections_lose_nothing_and_run_nothing_twice() {
    let rate: f64 = env_or("AOS_TEST_FAULT_RATE", 0.04);
    let runs: usize = env_or("AOS_TEST_FAULT_RUNS", 12);
    let seed: u64 = env_or("AOS_TEST_FAULT_SEED", 0x00A0_5F00_D5EE_D001);
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    let (proxy, injected) = spawn_proxy(&moto_url(), rate, seed).await;
    let (target, calls) = spawn_target().await;

    // The functions' SDK configuration, pointed at the proxy; the standard retry strategy with its
    // default three attempts, its backoff shortened so the test does not sleep for seconds.
    let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(100));
    let config = sdk_config(&proxy).await.into_builder().retry_config(retry).build();
    let skills = Arc::new(builtin_registry(&SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() }));
    let settings = AwsSettings {
        table: stack.table.clone(),
        queue_urls: stack.queue_urls.clone(),
        secrets_prefix: format!("aos-test/{}", stack.table),
    };
    let clock = Arc::new(SkewedClock::default());
    let rt = Arc::new(aos_lambda::init::runtime_builder(aos_aws::ports(&config, &settings, skills)).clock(clock.clone()).build());

    // The metric totals go straight to moto, so the stored values are exactly what was flushed.
    let counters = Arc::new(DynamoCounters::new(stack.ddb.clone(), &stack.table));
    aos_lambda::recorder::install(Some(counters.clone()), Box::new(std::io::sink()), Some("aos-faults".into()))
        .expect("install the recorder");

    // The test's own reads go straight to moto.
    let direct = Arc::new(aos_lambda::runtime_with(aos_aws::ports(&sdk_config(&moto_url()).await, &settings, rt.ports().skills.clone())));
    let started = Instant::now();
    let plan = plan(&target);
    let mut refusals = 0;
    let mut ids = Vec::new();
    for i in 0..runs {
        ids.push(submit(&rt, &key, &plan, &format!("faults-{i}"), &mut refusals).await);
    }
    let submitted_in = started.elapsed();
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), runs, "every submission has its own run");

    // Drive the queues until every run has finished; the sweeper every few seconds, as its
    // schedule does; time moved on when nothing else is left to do.
    let queues = [ORCHESTRATOR_QUEUE.to_string(), skill_queue("http_call"), skill_queue("json_transform")];
    let mut tally = Deliveries::default();
    let (mut skews, mut sweeps, mut idle_since) = (0u32, 0u32, Instant::now());
    let mut last_sweep = Instant::now();
    let patience = Duration::from_secs(120 + 10 * runs as u64);
    let deadline = Instant::now() + patience;
    let mut pending = ids.clone();
    loop {
        let mut still = Vec::new();
        for id in &pending {
            // Read straight from moto: the check itself is not faulted.
            let status = direct.get(TENANT, id).await.expect("the run").run.status;
            if !status.is_terminal() {
                still.push(id.clone());
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "runs not finished after {patience:?}: {pending:?}; {tally:?}; {injected:?}");
        let mut handled = 0;
        for q in &queues {
            handled += pump(&stack, &rt, q, &mut tally).await;
        }
        if last_sweep.elapsed() > Duration::from_secs(5) {
            let _ = Invocation::new("sweeper", aos_lambda::sweeper::Handler(rt.clone())).invoke(lambda_event(json!({"id": "sweep"}))).await;
            sweeps += 1;
            last_sweep = Instant::now();
        }
        if handled > 0 {
            idle_since = Instant::now();
        } else if idle_since.elapsed() > Duration::from_secs(2 * VISIBILITY_S as u64 + 2) {
            // Only a lease or an overdue dispatch can move what is left: let 70 s pass.
            clock.0.fetch_add(70_000, Ordering::SeqCst);
            skews += 1;
            idle_since = Instant::now();
            last_sweep = Instant::now() - Duration::from_secs(10);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let elapsed = started.elapsed();

    // Outcomes, read through the runtime that talks to moto directly.
    let calls = calls.lock().expect("calls").clone();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut interrupted = Vec::new();
    for id in &ids {
        let view = direct.get(TENANT, id).await.expect("the run");
        let status = view.run.status.as_str().to_string();
        *statuses.entry(status.clone()).or_default() += 1;
        let own: Vec<(&String, &u32)> = calls.iter().filter(|(k, _)| k.starts_with(&format!("{id}/"))).collect();
        if status == "succeeded" {
            assert_eq!(own, [(&format!("{id}/notify/1"), &1)], "{id}: one POST, the first attempt's");
        } else {
            let code = view.run.error.as_ref().map(|e| e.code.clone()).unwrap_or_default();
            interrupted.push(format!("{id}: {code}, {} POST", own.len()));
            assert_eq!((status.as_str(), code.as_str()), ("failed", "STEP_INTERRUPTED"), "{id}: {:?}", view.run.error);
            assert!(own.iter().all(|(_, n)| **n == 1) && own.len() <= 1, "{id}: {own:?}");
        }
    }
    assert!(calls.values().all(|n| *n == 1), "a POST ran twice: {calls:?}");
    assert!(calls.keys().all(|k| ids.iter().any(|id| k.starts_with(&format!("{id}/")))), "calls of unknown runs: {calls:?}");

    // The retries are in the metrics: every injected fault is one SDK retry, or the last attempt
    // of a call that then failed (and was retried by redelivery or the client).
    let retries = counters.series(aos_aws::SDK_RETRIES).await.expect("read the retry counters");
    let (ddb_retries, sqs_retries) =
        (stored_counter(&retries, &[("service", "DynamoDB")]), stored_counter(&retries, &[("service", "SQS")]));
    let faults = injected.faults();
    let runs_total = counters.series(aos_runtime::telemetry::RUNS).await.expect("read runs_total");
    println!(
        "faults: {runs} runs at a fault rate of {rate} each kind (seed {seed:#x}) in {:.1} s (submissions {:.1} s): statuses {statuses:?} (not succeeded: {interrupted:?}); {} calls forwarded, \
         {} DynamoDB throttled, {} SQS throttled, {} requests dropped, {} answers dropped, {} lost by moto; SDK retries: DynamoDB {ddb_retries}, \
         SQS {sqs_retries}; {tally:?}; submissions refused and retried {refusals}; sweeps {sweeps}, clock moved {skews} times",
        elapsed.as_secs_f64(),
        submitted_in.as_secs_f64(),
        injected.forwarded.load(Ordering::SeqCst),
        injected.dynamodb_throttled.load(Ordering::SeqCst),
        injected.sqs_throttled.load(Ordering::SeqCst),
        injected.dropped_requests.load(Ordering::SeqCst),
        injected.dropped_responses.load(Ordering::SeqCst),
        injected.upstream_lost.load(Ordering::SeqCst),
    );
    assert!(injected.dynamodb_throttled.load(Ordering::SeqCst) > 0 && injected.sqs_throttled.load(Ordering::SeqCst) > 0, "{injected:?}");
    assert!(injected.dropped_requests.load(Ordering::SeqCst) > 0 && injected.dropped_responses.load(Ordering::SeqCst) > 0, "{injected:?}");
    assert!(ddb_retries > 0 && sqs_retries > 0, "retries in the metrics: {retries:?}");
    // ... and in what `GET /metrics` of the api-metrics function serves from those totals.
    let text = aos_lambda::exposition::scrape(counters.as_ref(), &aos_lambda::recorder::catalog()).await.expect("render the totals");
    assert!(text.contains("# TYPE aws_sdk_retries_total counter"), "{text}");
    for service in ["DynamoDB", "SQS"] {
        let label = format!("service=\"{service}\"");
        assert!(text.lines().any(|l| l.starts_with("aws_sdk_retries_total{") && l.contains(&label)), "{service} retries in:\n{text}");
    }
    // The SDK may also retry on its own a few times (an attempt that timed out on a loaded
    // machine, a pooled connection found closed): a tenth of the faults, and at least two, allowed.
    let slack = (faults / 10).max(2);
    assert!(
        ddb_retries + sqs_retries <= faults + slack,
        "more retries ({}) than faults ({faults}, {} of them moto's lost answers) and the slack of {slack}",
        ddb_retries + sqs_retries,
        injected.upstream_lost.load(Ordering::SeqCst)
    );
    assert!(
        2 * (ddb_retries + sqs_retries) >= faults,
        "most faults are absorbed by SDK retries: {} of {faults}",
        ddb_retries + sqs_retries
    );
    // `runs_total` is counted after the save that finished the run; when that save's answer is
    // lost, the retried save finds the run already final and nothing is counted: a run is counted
    // at most once, never twice.
    for status in ["succeeded", "failed"] {
        let finished = statuses.get(status).copied().unwrap_or(0) as u64;
        let counted = stored_counter(&runs_total, &[("status", status)]);
        assert!(counted <= finished, "runs_total{{status={status}}} is {counted} for {finished} runs: a run counted twice");
        assert!(
            counted + injected.dropped_responses.load(Ordering::SeqCst) >= finished,
            "runs_total{{status={status}}}: {counted} of {finished}"
        );
    }
}
