//! Recovery on the serverless side, over DynamoDB and SQS on moto: runs driven through the
//! api-runs, orchestrator and skill handlers record their recoveries as evidence (counter items
//! written in the orchestrator's save transaction); the `api-recovery` handler suggests from that
//! history, proposes candidates with the thresholds of the function's settings, and records
//! people's decisions (and their audit events); the aggregator's nightly pass proposes candidates
//! from the stored failures and evidence. `docs/recovery.md`, `docs/dynamodb.md` (patterns 31–37).
//!
//! Every store operation a handler makes is recorded and checked against its function's
//! DynamoDB policy in `template.yaml`, `dynamodb:LeadingKeys` conditions included: the ministack
//! test proves the actions are granted, but the emulator does not evaluate those conditions.

#![cfg(feature = "api")]

mod support;

use aos_core::ports::{Condition, Item, Page, Query, Store, StoreError, WriteOp};
use aos_lambda::api;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::{Runtime, RuntimeSettings};
use aos_skills::{builtin_registry, SkillsConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use support::*;

const HTTP: &str = "http_call";
/// The failure id the sample suggest event asks about.
const SAMPLE_FAILURE: &str = "1767261722000#r_6f1c0e8d2b7a4c3e9d5f0a1b2c3d4e5f#status#0001";

/// The settings of a function whose environment lowers the candidate thresholds so that one
/// observation is enough (as the ministack test sets them on the api-recovery function).
fn eager_settings() -> RuntimeSettings {
    let env = [("AOS_RECOVERY_MIN_EVIDENCE", "1"), ("AOS_RECOVERY_CANDIDATE_LOWER", "0.5")];
    RuntimeSettings::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("settings")
}

/// One test's stack: `http_call` may reach the local service on 127.0.0.1; `stack.rt` has the
/// default settings, `eager` (over the same table and queues) [`eager_settings`]; both go through
/// one recording store.
struct Env {
    stack: Stack,
    eager: Arc<Runtime>,
    /// Drift windows of [`SHORT_WINDOW_MS`] (`AOS_RECOVERY_WINDOW_MS`), as an aggregator could be
    /// configured.
    short_window: Arc<Runtime>,
    ops: Arc<Recorder>,
}

/// The drift window of [`Env::short_window`].
const SHORT_WINDOW_MS: u64 = 15_000;

async fn env() -> Env {
    let config = sdk_config(&moto_url()).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (ddb, sqs) = (aws_sdk_dynamodb::Client::new(&config), aws_sdk_sqs::Client::new(&config));
    let table = format!("aos-test-{id}");
    aos_aws::create_table(&ddb, &table).await.expect("create the table on moto");
    let skills = Arc::new(builtin_registry(&SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() }));
    let queue_urls =
        aos_aws::create_queues(&sqs, &format!("t{}-", &id[..12]), &queue_specs(&skills)).await.expect("create the queues on moto");
    let settings = aos_aws::AwsSettings { table: table.clone(), queue_urls: queue_urls.clone(), secrets_prefix: format!("aos-test/{id}") };
    let mut ports = aos_aws::ports(&config, &settings, skills);
    let ops = Arc::new(Recorder { inner: ports.store.clone(), function: Mutex::new(None), seen: Mutex::new(BTreeSet::new()) });
    ports.store = ops.clone();
    let rt = Arc::new(aos_lambda::runtime_with(ports.clone()));
    let eager = Arc::new(aos_lambda::init::runtime_with_settings(ports.clone(), eager_settings()));
    let window = SHORT_WINDOW_MS.to_string();
    let short = RuntimeSettings::from_lookup(|k| (k == "AOS_RECOVERY_WINDOW_MS").then(|| window.clone())).expect("settings");
    let short_window = Arc::new(aos_lambda::init::runtime_with_settings(ports, short));
    Env { stack: Stack { rt, sqs, ddb, table, queue_urls }, eager, short_window, ops }
}

impl Env {
    /// Invokes the API function `function` (a package name) with `rt` as its runtime.
    async fn call_with(&self, rt: &Arc<Runtime>, function: &str, event: &str) -> (u16, Value) {
        let app = api::app(rt.clone(), group(function)).expect("app");
        self.ops.within(function, invoke_api(app, event)).await
    }

    async fn call(&self, function: &str, event: &str) -> (u16, Value) {
        self.call_with(&self.stack.rt, function, event).await
    }

    /// Feeds what is visible on `queue` to its function and deletes what it did not report as
    /// failed, as the event source mapping does. Returns how many messages were handled.
    async fn pump(&self, queue: &str) -> usize {
        let stack = &self.stack;
        let messages = stack.receive(queue, 1).await;
        if messages.is_empty() {
            return 0;
        }
        let event = stack.sqs_event(queue, &messages);
        let response = if queue == ORCHESTRATOR_QUEUE {
            self.ops.within("orchestrator", aos_lambda::orchestrator::handle(stack.rt.clone(), event)).await
        } else {
            let skill = queue.strip_prefix("skill.").unwrap_or(HTTP);
            let function = format!("skill-{}", skill.replace('_', "-"));
            self.ops.within(&function, aos_lambda::skill::handle(stack.rt.clone(), skill, event)).await
        };
        let failed = failures(&response.expect("handled"));
        for m in messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id.as_deref())) {
            stack.delete(queue, m).await;
        }
        messages.len()
    }
}

// ---------------------------------------------------------------- what each function does to the table

/// A store that records, per function, each DynamoDB action the adapter may issue for an
/// operation (`docs/dynamodb.md`, "How each port operation is written") and the partition key
/// it is issued on.
struct Recorder {
    inner: Arc<dyn Store>,
    /// The package of the function whose handler is running; `None`: the test itself.
    function: Mutex<Option<String>>,
    seen: Mutex<BTreeSet<(String, &'static str, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The requests `put` with `condition` may take: a conditional PutItem, or an in-place
/// UpdateItem with a PutItem when the item turns out expired.
fn put_actions(condition: &Condition) -> &'static [&'static str] {
    match condition {
        Condition::NotExists | Condition::VersionIs(_) => &["PutItem"],
        Condition::Exists => &["UpdateItem"],
        Condition::Always => &["UpdateItem", "PutItem"],
    }
}

/// `Add` (and `increment`): an UpdateItem, or a GetItem and a whole-item PutItem.
const ADD_ACTIONS: &[&str] = &["UpdateItem", "GetItem", "PutItem"];

impl Recorder {
    /// Runs `work` as the handler of `function`.
    async fn within<T>(&self, function: &str, work: impl Future<Output = T>) -> T {
        *lock(&self.function) = Some(function.to_string());
        let out = work.await;
        *lock(&self.function) = None;
        out
    }

    fn note(&self, actions: &[&'static str], pk: &str) {
        let Some(function) = lock(&self.function).clone() else { return };
        let mut seen = lock(&self.seen);
        for a in actions {
            seen.insert((function.clone(), a, pk.to_string()));
        }
    }

    fn note_op(&self, op: &WriteOp) {
        match op {
            WriteOp::Put { item, condition } => self.note(put_actions(condition), &item.pk),
            WriteOp::Delete { pk, .. } => self.note(&["DeleteItem"], pk),
            WriteOp::Check { pk, .. } => self.note(&["ConditionCheckItem"], pk),
            WriteOp::Add { item, .. } => self.note(ADD_ACTIONS, &item.pk),
        }
    }

    /// Every recorded (function, action, key) must be allowed by that function's statements in
    /// template.yaml. Keys of the API keys are left out for the API functions: on AWS the
    /// authorizer authenticates (its own policy), and the functions take its verdict.
    fn check_policies(&self) {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).expect("template.yaml");
        let seen = lock(&self.seen).clone();
        assert!(!seen.is_empty(), "no handler touched the table");
        let mut problems = Vec::new();
        for (function, action, pk) in &seen {
            if function.starts_with("api-") && (pk.starts_with("apikey#") || glob("t#*#keys", pk)) {
                continue;
            }
            let id = logical_id(function);
            let statements = statements(&template, &id);
            let allowed = statements.iter().any(|s| {
                s.actions.iter().any(|a| a == action) && s.leading_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| glob(k, pk)))
            });
            if !allowed {
                problems.push(format!("{id}: dynamodb:{action} on a key `{pk}`"));
            }
        }
        assert!(problems.is_empty(), "template.yaml does not allow what the functions do:\n  {}", problems.join("\n  "));
    }
}

#[async_trait::async_trait]
impl Store for Recorder {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.note(&["GetItem"], pk);
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.note(put_actions(&condition), &item.pk);
        self.inner.put(item, condition).await
    }
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.note(put_actions(&condition), &item.pk);
        self.inner.put_relaxed(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.note(&["DeleteItem"], pk);
        self.inner.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.note(&["Query"], &query.pk);
        self.inner.query(query).await
    }
    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.note(&["Query"], &query.pk);
        self.inner.query_index(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        ops.iter().for_each(|op| self.note_op(op));
        self.inner.transact_write(ops).await
    }
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        self.note(ADD_ACTIONS, pk);
        self.inner.increment(pk, sk, field, delta).await
    }
    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.note(ADD_ACTIONS, &item.pk);
        self.inner.add(item, counters).await
    }
}

/// The template's logical id of a function package: `api-recovery` → `ApiRecoveryFunction`,
/// `skill-http-call` → `HttpCallFunction`.
fn logical_id(package: &str) -> String {
    let name = package.strip_prefix("skill-").unwrap_or(package);
    let camel: String = name.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
    format!("{camel}Function")
}

/// One `Allow` statement's DynamoDB actions (without `dynamodb:`) and its `LeadingKeys` patterns.
#[derive(Debug)]
struct Statement {
    actions: Vec<String>,
    leading_keys: Option<Vec<String>>,
}

/// The DynamoDB statements of a function's `Policies` in template.yaml, read from the text as the
/// template writes them (`- Effect: Allow`, `Action: ...`, `dynamodb:LeadingKeys: [...]`, and
/// `DynamoDBCrudPolicy`).
fn statements(template: &str, logical_id: &str) -> Vec<Statement> {
    let lines: Vec<&str> = template.lines().collect();
    let start = lines.iter().position(|l| *l == format!("  {logical_id}:")).unwrap_or_else(|| panic!("no {logical_id} in template.yaml"));
    let indent = |l: &str| l.len() - l.trim_start().len();
    let resource: Vec<&str> = lines[start + 1..].iter().take_while(|l| l.trim().is_empty() || indent(l) > 2).copied().collect();
    let policies = resource.iter().position(|l| l.trim() == "Policies:").unwrap_or_else(|| panic!("{logical_id} has no Policies"));
    let depth = indent(resource[policies]);
    let mut out: Vec<Statement> = Vec::new();
    for line in resource[policies + 1..].iter().take_while(|l| l.trim().is_empty() || l.trim().starts_with('#') || indent(l) > depth) {
        let t = line.trim();
        if t.starts_with("- DynamoDBCrudPolicy") {
            let crud =
                ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem", "ConditionCheckItem"];
            out.push(Statement { actions: crud.map(String::from).to_vec(), leading_keys: None });
        } else if let Some(effect) = t.strip_prefix("- Effect:") {
            assert!(effect.trim_start().starts_with("Allow"), "{logical_id}: only Allow statements are expected: {t}");
            out.push(Statement { actions: Vec::new(), leading_keys: None });
        } else if let Some(actions) = t.strip_prefix("Action:") {
            let list = actions.trim().trim_start_matches('[').trim_end_matches(']');
            let current = out.last_mut().unwrap_or_else(|| panic!("{logical_id}: an Action outside a statement"));
            current.actions = list.split(',').filter_map(|a| a.trim().strip_prefix("dynamodb:")).map(String::from).collect();
        } else if let Some(keys) = t.strip_prefix("dynamodb:LeadingKeys:") {
            let keys: Vec<String> = serde_json::from_str(keys.trim()).unwrap_or_else(|e| panic!("{logical_id}: LeadingKeys {keys}: {e}"));
            out.last_mut().unwrap_or_else(|| panic!("{logical_id}: a condition outside a statement")).leading_keys = Some(keys);
        }
    }
    out
}

/// IAM's `StringLike`: `*` stands for any run of characters, `?` for one.
fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &s.chars().collect::<Vec<_>>())
}

#[test]
fn the_policy_reader_sees_the_templates_statements() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).expect("template.yaml");
    let metrics = statements(&template, "ApiMetricsFunction");
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    assert_eq!(
        (metrics[1].actions.clone(), metrics[1].leading_keys.clone()),
        (vec!["Query".to_string()], Some(vec!["metrics#*".to_string()]))
    );
    assert!(statements(&template, "ApiRunsFunction").iter().any(|s| s.actions.contains(&"Query".to_string()) && s.leading_keys.is_none()));
    assert!(glob("t#*#evid#*", "t#acme#evid#HTTP_SERVICE_UNAVAILABLE") && !glob("t#*#evid#*", "t#acme#rcand"));
    assert!(glob("t#*#rcand", "t#acme#rcand") && glob("metrics#*", "metrics#") && !glob("a?c", "ac"));
    assert_eq!(logical_id("skill-http-call"), "HttpCallFunction");
}

// ---------------------------------------------------------------- the outside world and the runs

/// The outside world: `/flaky` answers 503 on its first call and 200 after (the ministack
/// scenario's status endpoint); `/slow` answers 200 after 400 ms.
struct Service {
    base: String,
    flaky_calls: Arc<AtomicUsize>,
    /// What `/hook` received: each request's headers and body.
    hooks: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

/// `/degrading` answers 200 this many times, then 503 for good.
const HEALTHY_CALLS: usize = 10;

async fn service() -> Service {
    use axum::http::StatusCode;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let calls = flaky_calls.clone();
    let degrading = Arc::new(AtomicUsize::new(0));
    let hooks: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let received = hooks.clone();
    let hooks = received.clone();
    let app = axum::Router::new()
        .route(
            "/flaky",
            get(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n == 1 {
                        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": "try later"})))
                    } else {
                        (StatusCode::OK, axum::Json(json!({"status": "ok"})))
                    }
                }
            }),
        )
        .route(
            "/degrading",
            get(move || {
                let n = degrading.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if n <= HEALTHY_CALLS {
                        (StatusCode::OK, axum::Json(json!({"status": "ok"})))
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": "degraded"})))
                    }
                }
            }),
        )
        .route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                hooks.lock().unwrap_or_else(PoisonError::into_inner).push((headers, body));
                async { StatusCode::NO_CONTENT }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                axum::Json(json!({"report": "ready"}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Service { base, flaky_calls, hooks: received }
}

/// An API Gateway event for `method path?query` with `body`, in the sample event's shape.
fn api_event(key: &str, method: &str, path: &str, query: &str, body: Option<Value>) -> String {
    let mut e: Value = serde_json::from_str(&event_with("api-recovery-suggest.json", &[(SAMPLE_KEY, key)])).expect("JSON");
    e["rawPath"] = json!(path);
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["http"]["method"] = json!(method);
    e["rawQueryString"] = json!(query);
    match body {
        Some(b) => {
            let text = b.to_string();
            e["headers"]["content-length"] = json!(text.len().to_string());
            e["body"] = json!(text);
        }
        None => {
            e["headers"]["content-length"] = json!("0");
            e.as_object_mut().expect("object").remove("body");
        }
    }
    e.to_string()
}

/// Submits a one-step plan through the api-runs handler and drives it through the orchestrator
/// and http_call handlers until it finishes; returns the run id and its final status.
async fn run_step(env: &Env, key: &str, plan: &str, step: Value) -> (String, String) {
    let plan = json!({"name": plan, "steps": [step]});
    let event = api_event(key, "POST", "/api/v1/runs", "", Some(json!({"plan": plan, "inputs": {}})));
    let (status, body) = env.call("api-runs", &event).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().expect("run_id").to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let run = env.stack.rt.get(TENANT, &run_id).await.expect("run").run;
        if run.status.is_terminal() {
            return (run_id, run.status.as_str().to_string());
        }
        assert!(Instant::now() < deadline, "run {run_id} did not finish: {}", run.status.as_str());
        env.pump(ORCHESTRATOR_QUEUE).await;
        env.pump(&skill_queue(HTTP)).await;
    }
}

/// Submits `n` runs of a one-step plan through the api-runs handler, then drives them together
/// until all have finished; returns their final statuses.
async fn run_many(env: &Env, key: &str, plan: &str, step: &Value, n: usize) -> Vec<String> {
    let plan = json!({"name": plan, "steps": [step]});
    let mut ids = Vec::new();
    for _ in 0..n {
        let event = api_event(key, "POST", "/api/v1/runs", "", Some(json!({"plan": plan, "inputs": {}})));
        let (status, body) = env.call("api-runs", &event).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["run_id"].as_str().expect("run_id").to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut statuses = Vec::new();
        for id in &ids {
            let run = env.stack.rt.get(TENANT, id).await.expect("run").run;
            if run.status.is_terminal() {
                statuses.push(run.status.as_str().to_string());
            }
        }
        if statuses.len() == n {
            return statuses;
        }
        assert!(Instant::now() < deadline, "{} of {n} runs finished", statuses.len());
        env.pump(ORCHESTRATOR_QUEUE).await;
        env.pump(&skill_queue(HTTP)).await;
    }
}

/// A run whose `http_call` step gets a 503, is retried after 100 ms and succeeds: one recovery.
async fn recovered_run(env: &Env, key: &str, service: &Service) -> String {
    let step = json!({
        "id": "status", "skill": HTTP, "input": {"url": format!("{}/flaky", service.base), "timeout_ms": 5000},
        "retry": {"max_attempts": 4, "initial_delay_ms": 100, "max_delay_ms": 1000, "retry_on": ["TRANSIENT", "RATE_LIMIT"]},
    });
    let (run_id, status) = run_step(env, key, "status-check", step).await;
    assert_eq!(status, "succeeded");
    assert_eq!(service.flaky_calls.load(Ordering::SeqCst), 2, "one 503, then 200");
    run_id
}

/// The items of a partition, read straight from DynamoDB (not through the adapter).
async fn partition(stack: &Stack, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
    let out = stack
        .ddb
        .query()
        .table_name(&stack.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query moto");
    out.items.unwrap_or_default()
}

fn n(item: &HashMap<String, AttributeValue>, attr: &str) -> Option<i64> {
    item.get(attr).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// The id of the stored failure of `step` in the run (through the api-failures handler).
async fn failure_id(env: &Env, key: &str, run_id: &str, step: &str) -> String {
    let (status, body) = env.call("api-failures", &api_event(key, "GET", "/api/v1/failures", "kind=attempt", None)).await;
    assert_eq!(status, 200, "{body}");
    let mine: Vec<&Value> =
        body["failures"].as_array().expect("failures").iter().filter(|f| f["run_id"] == run_id && f["step_id"] == step).collect();
    assert_eq!(mine.len(), 1, "{body}");
    mine[0]["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn suggest_event_answers_from_history_and_a_candidate_is_approved_once() {
    let env = env().await;
    let stack = &env.stack;
    let key = stack.api_key().await;
    let service = service().await;
    let run_id = recovered_run(&env, &key, &service).await;

    // The evidence item, as the orchestrator's save transaction added it (pattern 31): one
    // observation of a sub-second retry after HTTP_SERVICE_UNAVAILABLE, followed by success.
    let evidence_pk = format!("t#{TENANT}#evid#HTTP_SERVICE_UNAVAILABLE");
    let items = partition(stack, &evidence_pk).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let sk = items[0]["sk"].as_s().expect("sk").clone();
    assert!(sk.starts_with("http_call#retry.short#"), "{sk}");
    assert_eq!((n(&items[0], "n_attempts"), n(&items[0], "n_successes")), (Some(1), Some(1)), "{items:?}");
    assert_eq!(items[0].get("counters"), Some(&AttributeValue::Bool(true)));
    assert!(n(&items[0], "expires_at").is_some(), "evidence expires");
    // The finished run's Advance delivered again changes nothing: the decision is saved once.
    let again = event_with("orchestrator-sqs.json", &[(SAMPLE_RUN_A, &run_id), (SAMPLE_RUN_B, &run_id)]);
    let event = lambda_event(serde_json::from_str(&again).expect("SQS event"));
    let response = env.ops.within("orchestrator", aos_lambda::orchestrator::handle(stack.rt.clone(), event)).await.expect("handled");
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(n(&partition(stack, &evidence_pk).await[0], "n_attempts"), Some(1), "counted once");

    // Suggest through the api-recovery handler, with the sample event and the run's failure.
    let failure = failure_id(&env, &key, &run_id, "status").await;
    let suggest = event_with("api-recovery-suggest.json", &[(SAMPLE_KEY, &key)]);
    let mut suggest: Value = serde_json::from_str(&suggest).expect("JSON");
    let body = json!({"failure_id": failure}).to_string();
    suggest["headers"]["content-length"] = json!(body.len().to_string());
    suggest["body"] = json!(body);
    let suggest = suggest.to_string();
    let (status, body) = env.call("api-recovery", &suggest).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["match"]["code"], &body["key"]),
        (&json!("HTTP_SERVICE_UNAVAILABLE"), &json!({"code": "HTTP_SERVICE_UNAVAILABLE", "skill": HTTP}))
    );
    let top = &body["suggestions"][0];
    assert_eq!(
        (&top["action"], &top["params"], &top["source"]),
        (&json!("retry"), &json!({"backoff": "short"}), &json!("history")),
        "{body}"
    );
    assert_eq!(top["evidence"]["observed"], json!(1), "{top}");
    assert!(top["patch"]["retry"].is_object(), "{top}");
    // With the default thresholds (3 observations, lower bound 0.6) one observation proposes nothing.
    assert_eq!(body["candidates"], json!([]), "{body}");
    let (status, body) = env.call("api-recovery", &api_event(&key, "GET", "/api/v1/recovery/candidates", "", None)).await;
    assert_eq!((status, body["candidates"].as_array().map(Vec::len)), (200, Some(0)), "{body}");

    // A function configured with AOS_RECOVERY_MIN_EVIDENCE=1, AOS_RECOVERY_CANDIDATE_LOWER=0.5 proposes it.
    let (status, body) = env.call_with(&env.eager, "api-recovery", &suggest).await;
    assert_eq!(status, 200, "{body}");
    let lower = body["suggestions"][0]["confidence"]["lower"].as_f64().expect("lower");
    assert!((0.5..0.6).contains(&lower), "one success after the catalog's advice: {lower}");
    let ids: Vec<String> = serde_json::from_value(body["candidates"].clone()).expect("ids");
    assert_eq!(ids.len(), 1, "{body}");
    let id = ids[0].clone();
    let stored = partition(stack, &format!("t#{TENANT}#rcand")).await;
    assert_eq!(stored.iter().map(|i| i["sk"].as_s().expect("sk").as_str()).collect::<Vec<_>>(), [id.as_str()], "pattern 36");

    let (status, body) = env.call("api-recovery", &api_event(&key, "GET", "/api/v1/recovery/candidates", "status=pending", None)).await;
    assert_eq!(status, 200, "{body}");
    let listed = &body["candidates"][0];
    assert_eq!(
        (&listed["id"], &listed["status"], &listed["code"], &listed["skill"], &listed["action"], &listed["source"]),
        (&json!(id), &json!("pending"), &json!("HTTP_SERVICE_UNAVAILABLE"), &json!(HTTP), &json!("retry"), &json!("suggest")),
        "{body}"
    );
    assert_eq!(listed["examples"][0]["failure_id"], json!(failure), "{listed}");

    // Approve with a note, then again: the second decision is a conflict.
    let approve =
        api_event(&key, "POST", &format!("/api/v1/recovery/candidates/{id}/approve"), "", Some(json!({"note": "retry 503s sooner"})));
    let (status, body) = env.call("api-recovery", &approve).await;
    assert_eq!((status, &body["status"]), (200, &json!("approved")), "{body}");
    let history = body["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{body}");
    assert_eq!(
        (&history[0]["from"], &history[0]["to"], &history[0]["role"], &history[0]["note"]),
        (&json!("pending"), &json!("approved"), &json!("admin"), &json!("retry 503s sooner"))
    );
    assert!(history[0]["actor"].as_str().is_some_and(|a| a.starts_with("key:")), "{history:?}");
    let (status, body) = env.call("api-recovery", &approve).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("CANDIDATE_STATE_CONFLICT")), "{body}");
    let (status, body) = env.call("api-recovery", &api_event(&key, "GET", &format!("/api/v1/recovery/candidates/{id}"), "", None)).await;
    assert_eq!((status, &body["status"], body["history"].as_array().map(Vec::len)), (200, &json!("approved"), Some(1)), "{body}");

    // The decision is in the tenant's audit log (served by api-secrets).
    let (status, body) = env.call("api-secrets", &api_event(&key, "GET", "/api/v1/audit", "action=recovery.approved", None)).await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(
        (&events[0]["target"], &events[0]["detail"]["note"], &events[0]["detail"]["code"]),
        (&json!(format!("recovery_candidate:{id}")), &json!("retry 503s sooner"), &json!("HTTP_SERVICE_UNAVAILABLE")),
        "{body}"
    );
    env.ops.check_policies();
}

#[tokio::test]
async fn suggest_event_answers_401_without_a_known_key_and_404_for_an_unknown_failure() {
    let env = env().await;
    let stack = &env.stack;
    let (status, body) = env.call("api-recovery", &event_text("api-recovery-suggest.json")).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!("UNAUTHENTICATED")), "{body}");
    let key = stack.api_key().await;
    let (status, body) = env.call("api-recovery", &event_with("api-recovery-suggest.json", &[(SAMPLE_KEY, &key)])).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")), "no failure {SAMPLE_FAILURE}: {body}");
    // The recovery routes are api-recovery's own.
    let (status, _) = env.call("api-runs", &event_with("api-recovery-suggest.json", &[(SAMPLE_KEY, &key)])).await;
    assert_eq!(status, 404);
    env.ops.check_policies();
}

#[tokio::test]
async fn aggregator_event_proposes_recovery_candidates_from_stored_failures_and_evidence() {
    let env = env().await;
    let stack = &env.stack;
    let key = stack.api_key().await;
    let service = service().await;
    let run_id = recovered_run(&env, &key, &service).await;
    let schedule = || lambda_event(serde_json::from_str::<Value>(&event_text("aggregator-schedule.json")).expect("JSON"));

    // The default thresholds want three observations: nothing is proposed yet.
    let summary = env.ops.within("aggregator", aos_lambda::aggregator::handle(stack.rt.clone(), schedule())).await.expect("aggregated");
    assert_eq!((summary.tenants, summary.recovery_candidates), (1, 0), "{summary:?}");
    assert!(partition(stack, &format!("t#{TENANT}#rcand")).await.is_empty());

    // An aggregator configured with AOS_RECOVERY_MIN_EVIDENCE=1 proposes the recovered retry.
    let summary = env.ops.within("aggregator", aos_lambda::aggregator::handle(env.eager.clone(), schedule())).await.expect("aggregated");
    assert_eq!((summary.tenants, summary.recovery_candidates), (1, 1), "{summary:?}");
    let (status, body) = env.call("api-recovery", &api_event(&key, "GET", "/api/v1/recovery/candidates", "status=pending", None)).await;
    assert_eq!(status, 200, "{body}");
    let c = &body["candidates"].as_array().expect("candidates")[..];
    assert_eq!(c.len(), 1, "{body}");
    assert_eq!(
        (&c[0]["code"], &c[0]["skill"], &c[0]["action"], &c[0]["params"], &c[0]["source"], &c[0]["occurrences"]),
        (&json!("HTTP_SERVICE_UNAVAILABLE"), &json!(HTTP), &json!("retry"), &json!({"backoff": "short"}), &json!("aggregation"), &json!(1)),
        "{body}"
    );
    assert_eq!(c[0]["evidence"]["observed"], json!(1));
    assert_eq!(c[0]["examples"][0]["run_id"], json!(run_id), "{body}");
    let id = c[0]["id"].as_str().expect("id").to_string();

    // Another pass proposes the same recovery: still one candidate (deduplicated by code, skill and
    // action), not even rewritten (within a minute of its last refresh, and no new example).
    let summary = env.ops.within("aggregator", aos_lambda::aggregator::handle(env.eager.clone(), schedule())).await.expect("aggregated");
    assert_eq!(summary.recovery_candidates, 1, "{summary:?}");
    let stored = partition(stack, &format!("t#{TENANT}#rcand")).await;
    assert_eq!((stored.len(), n(&stored[0], "version")), (1, Some(1)), "deduplicated by (code, skill, action): {stored:?}");
    let (status, body) = env.call("api-recovery", &api_event(&key, "GET", &format!("/api/v1/recovery/candidates/{id}"), "", None)).await;
    assert_eq!((status, &body["occurrences"], &body["status"]), (200, &json!(1), &json!("pending")), "{body}");
    env.ops.check_policies();
}

#[tokio::test]
async fn a_longer_timeout_in_the_next_run_of_a_plan_is_evidence_and_its_memory_is_forgotten() {
    let env = env().await;
    let stack = &env.stack;
    let key = stack.api_key().await;
    let service = service().await;
    let step = |timeout_ms: u64| json!({"id": "report", "skill": HTTP, "timeout_ms": timeout_ms, "input": {"url": format!("{}/slow", service.base)}, "retry": {"max_attempts": 1}});
    let memory = format!("t#{TENANT}#lastfail#plan:nightly-report");

    // The step times out for good: the orchestrator remembers it with its timeout (pattern 32).
    let (first, status) = run_step(&env, &key, "nightly-report", step(150)).await;
    assert_eq!(status, "failed");
    let remembered = partition(stack, &memory).await;
    assert_eq!(remembered.iter().map(|i| i["sk"].as_s().expect("sk").as_str()).collect::<Vec<_>>(), ["report"], "{remembered:?}");
    assert!(n(&remembered[0], "expires_at").is_some());

    // The next run of the plan reads the memory at submission (pattern 33) and succeeds with a
    // five times longer timeout: one observation of raise_timeout ×4, and the memory is marked
    // resolved (its codes kept for recovery policies).
    let (_, status) = run_step(&env, &key, "nightly-report", step(750)).await;
    assert_eq!(status, "succeeded");
    let resolved = partition(stack, &memory).await;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(format!("{:?}", resolved[0]).contains("resolved"), "marked resolved in the save transaction: {resolved:?}");
    // Asked about the first run's failure (the step's own timeout or http_call's, whichever
    // fired first), the suggestion puts the longer timeout first.
    let failure = failure_id(&env, &key, &first, "report").await;
    let suggest = api_event(&key, "POST", "/api/v1/recovery/suggest", "", Some(json!({"failure_id": failure})));
    let (status, body) = env.call("api-recovery", &suggest).await;
    assert_eq!(status, 200, "{body}");
    let code = body["key"]["code"].as_str().expect("code").to_string();
    let items = partition(stack, &format!("t#{TENANT}#evid#{code}")).await;
    let raised: Vec<_> = items.iter().filter(|i| i["sk"].as_s().is_ok_and(|s| s.starts_with("http_call#raise_timeout.x4#"))).collect();
    assert_eq!(raised.len(), 1, "{items:?}");
    assert_eq!((n(raised[0], "n_attempts"), n(raised[0], "n_successes")), (Some(1), Some(1)));
    let top = &body["suggestions"][0];
    assert_eq!(
        (&top["action"], &top["params"], &top["source"]),
        (&json!("raise_timeout"), &json!({"factor": 4}), &json!("history")),
        "{body}"
    );
    env.ops.check_policies();
}

/// Drift on the serverless side: a dependency that starts failing raises drift in the
/// aggregator's scheduled pass, which stores the evaluation (read on demand through
/// api-failures) and announces it through a signed `webhook_send` run that it submits under its
/// own role (`template.yaml`'s AggregatorFunction statements, checked here).
#[tokio::test]
async fn the_aggregator_announces_drift_through_a_webhook_send_run_under_its_own_role() {
    let env = env().await;
    let stack = &env.stack;
    let key = stack.api_key().await;
    let service = service().await;
    let step = json!({"id": "probe", "skill": HTTP, "input": {"url": format!("{}/degrading", service.base)}, "retry": {"max_attempts": 1}});

    // The baseline: the dependency answers.
    let started = Instant::now();
    assert_eq!(run_many(&env, &key, "probe", &step, HEALTHY_CALLS).await, vec!["succeeded"; HEALTHY_CALLS]);
    // One window later (the baseline's runs are then in the seven windows before the current
    // one), it fails every time.
    tokio::time::sleep(Duration::from_millis(SHORT_WINDOW_MS + 200)).await;
    assert_eq!(run_many(&env, &key, "probe", &step, 6).await, vec!["failed"; 6]);
    assert!(started.elapsed() < Duration::from_millis(7 * SHORT_WINDOW_MS), "the baseline's runs left its seven windows");

    // The tenant's drift webhook and its signing key.
    stack.rt.put_secret(TENANT, "WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await.expect("secret");
    let settings = json!({"mode": "off", "min_lower": 0.8, "min_evidence": 10, "drift_webhook_url": format!("{}/hook", service.base)});
    let (status, body) = env.call("api-recovery", &api_event(&key, "PUT", "/api/v1/recovery/settings", "", Some(settings))).await;
    assert_eq!(status, 200, "{body}");

    // The scheduled pass finds the drift, stores it and submits the announcement.
    let schedule = lambda_event(serde_json::from_str::<Value>(&event_text("aggregator-schedule.json")).expect("JSON"));
    env.ops.within("aggregator", aos_lambda::aggregator::handle(env.short_window.clone(), schedule)).await.expect("aggregated");
    // On demand, api-failures (configured with the same window) evaluates it alike.
    let (status, body) =
        env.call_with(&env.short_window, "api-failures", &api_event(&key, "GET", "/api/v1/failures/drift", "", None)).await;
    assert_eq!(status, 200, "{body}");
    let drifting: Vec<&Value> = body["items"].as_array().expect("items").iter().filter(|i| i["drifting"] == json!(true)).collect();
    assert_eq!(drifting.len(), 1, "{body}");
    assert_eq!(
        (&drifting[0]["skill"], &drifting[0]["current"]["failures"], &drifting[0]["baseline"]["failures"]),
        (&json!(HTTP), &json!(6), &json!(0)),
        "{body}"
    );
    let code = drifting[0]["code"].clone();

    // The announcement is a run like any other: the orchestrator and webhook_send deliver it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(&service.hooks).is_empty() {
        assert!(Instant::now() < deadline, "the drift webhook was not called");
        env.pump(ORCHESTRATOR_QUEUE).await;
        env.pump(&skill_queue("webhook_send")).await;
    }
    let (headers, body) = lock(&service.hooks)[0].clone();
    let payload: Value = serde_json::from_str(&body).expect("JSON payload");
    assert_eq!(payload["type"], json!("aos.failure_drift"), "{payload}");
    assert_eq!((&payload["drifting"][0]["skill"], &payload["drifting"][0]["code"]), (&json!(HTTP), &code), "{payload}");
    assert!(headers.get("webhook-signature").is_some_and(|v| v.to_str().is_ok_and(|s| s.starts_with("v1,"))), "signed: {headers:?}");
    env.ops.check_policies();
}
