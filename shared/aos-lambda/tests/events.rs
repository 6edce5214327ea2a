//! The sample events under `events/`, fed to the same handlers the functions hand to the Lambda
//! runtime, over DynamoDB and SQS on moto: what each event does to the stored state and the queues,
//! how batch failures are reported, and one run driven to completion through the queues.

mod support;

use aos_core::ports::{Condition, Item, OutgoingMessage, Page, Query, Queue, QueueError, ReceivedMessage, Store, StoreError, WriteOp};
use aos_lambda::api;
use aos_runtime::messages::{skill_queue, Advance, ORCHESTRATOR_QUEUE};
use aos_runtime::runs::{now_ms, AttemptItem};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const TRANSFORM: &str = "json_transform";

/// Submits the sample run through the `api-runs` handler and returns its id.
async fn submit(stack: &Stack, key: &str) -> String {
    let (status, body) =
        invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &event_with("api-runs-submit.json", &[(SAMPLE_KEY, key)]))
            .await;
    assert_eq!(status, 202, "{body}");
    body["run_id"].as_str().expect("run_id").to_string()
}

async fn run_status(stack: &Stack, run_id: &str) -> String {
    stack.rt.get(TENANT, run_id).await.expect("run").run.status.as_str().to_string()
}

fn parse<T: serde::de::DeserializeOwned>(message: &aws_sdk_sqs::types::Message) -> T {
    serde_json::from_str(message.body.as_deref().expect("body")).expect("a queue message body")
}

#[tokio::test]
async fn submit_event_answers_202_stores_the_run_and_queues_an_advance() {
    let stack = Stack::new().await;
    let run_id = submit(&stack, &stack.api_key().await).await;
    let item = stack.run_item(&run_id).await.expect("the run item is in DynamoDB");
    assert!(item.contains_key("data") && item.contains_key("version"), "{item:?}");
    let advances = stack.receive(ORCHESTRATOR_QUEUE, 1).await;
    assert_eq!(advances.len(), 1);
    assert_eq!(parse::<Advance>(&advances[0]), Advance { tenant: TENANT.into(), run_id: run_id.clone() });
    assert_eq!(run_status(&stack, &run_id).await, "queued");
}

#[tokio::test]
async fn api_events_answer_401_for_an_unknown_api_key() {
    let stack = Stack::new().await;
    stack.api_key().await;
    let cases = [
        ("api-runs-submit.json", group("api-runs")),
        ("api-runs-get.json", group("api-runs")),
        ("api-skills-list.json", group("api-skills")),
        ("api-secrets-list.json", group("api-secrets")),
        ("api-failures-stats.json", group("api-failures")),
        ("api-recovery-suggest.json", group("api-recovery")),
    ];
    for (event, resources) in cases {
        // The samples carry a placeholder key, which no tenant has.
        let (status, body) = invoke_api(api::app(stack.rt.clone(), resources).expect("app"), &event_text(event)).await;
        assert_eq!(status, 401, "{event}: {body}");
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{event}: {body}");
    }
    assert!(stack.run_item(SAMPLE_RUN_A).await.is_none());
}

#[tokio::test]
async fn read_events_answer_from_their_own_function_only() {
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    stack.rt.put_secret(TENANT, "WEBHOOK_TOKEN", "s3cr3t-value").await.expect("put a secret");
    let (status, body) = invoke_api(
        api::app(stack.rt.clone(), group("api-skills")).expect("app"),
        &event_with("api-skills-list.json", &[(SAMPLE_KEY, &key)]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: BTreeSet<&str> = body["skills"].as_array().expect("skills").iter().filter_map(|s| s["id"].as_str()).collect();
    let every: BTreeSet<&str> = aos_skills::BUILTINS.iter().map(|b| b.id).collect();
    assert_eq!(ids, every, "api-skills lists every built-in skill");
    let (status, body) = invoke_api(
        api::app(stack.rt.clone(), group("api-secrets")).expect("app"),
        &event_with("api-secrets-list.json", &[(SAMPLE_KEY, &key)]),
    )
    .await;
    assert_eq!((status, body), (200, json!({"names": ["WEBHOOK_TOKEN"]})));
    let run_id = submit(&stack, &key).await;
    let get = event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)]);
    let (status, body) = invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &get).await;
    assert_eq!((status, body["run_id"].as_str(), body["status"].as_str()), (200, Some(run_id.as_str()), Some("queued")), "{body}");
    let (status, body) = invoke_api(
        api::app(stack.rt.clone(), group("api-failures")).expect("app"),
        &event_with("api-failures-stats.json", &[(SAMPLE_KEY, &key)]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], json!(0), "failure stats of a tenant without failures: {body}");
    // Each API function serves its own resources: the skills route is not part of api-runs.
    let (status, body) =
        invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &event_with("api-skills-list.json", &[(SAMPLE_KEY, &key)]))
            .await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")), "{body}");
}

#[tokio::test]
async fn long_polls_are_capped_below_api_gateways_limit_under_lambda() {
    let stack = Stack::new().await;
    // Every function's runtime answers a long poll by 25 s (API Gateway gives up at 30 s) and
    // re-reads the run every 500 ms.
    assert_eq!(stack.rt.long_poll(), aos_runtime::LongPoll::LAMBDA);
    assert!(aos_runtime::LongPoll::LAMBDA.max_wait < Duration::from_secs(29), "below the API functions' 29 s timeout");
    let key = stack.api_key().await;
    // No orchestrator runs here: the run stays queued, so the poll waits until the cap. The same
    // runtime over the same table with a cap of 1.2 s shows the cap applies to `wait_ms` through
    // the api-runs handler (30 s asked, 1.2 s waited).
    let run_id = submit(&stack, &key).await;
    let rt = aos_lambda::init::runtime_builder(stack.rt.ports().clone())
        .long_poll(aos_runtime::LongPoll { max_wait: Duration::from_millis(1200), ..aos_runtime::LongPoll::LAMBDA })
        .build();
    let mut get: Value =
        serde_json::from_str(&event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)])).expect("event");
    get["rawQueryString"] = json!("wait_ms=30000");
    get["queryStringParameters"] = json!({"wait_ms": "30000"});
    let started = Instant::now();
    let (status, body) = invoke_api(api::app(std::sync::Arc::new(rt), group("api-runs")).expect("app"), &get.to_string()).await;
    let waited = started.elapsed();
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")), "{body}");
    assert!(waited >= Duration::from_millis(1200) && waited < Duration::from_secs(10), "waited {waited:?}, capped at 1.2 s");
    // Above the API's own limit is still a 400, whatever the cap.
    get["rawQueryString"] = json!("wait_ms=30001");
    get["queryStringParameters"] = json!({"wait_ms": "30001"});
    let (status, body) = invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &get.to_string()).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("INVALID_QUERY")), "{body}");
}

#[tokio::test]
async fn orchestrator_event_runs_pure_steps_inline_and_finishes_the_runs() {
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    let (a, b) = (submit(&stack, &key).await, submit(&stack, &key).await);
    let text = event_with("orchestrator-sqs.json", &[(SAMPLE_RUN_A, &a), (SAMPLE_RUN_B, &b)]);
    let response = aos_lambda::orchestrator::handle(stack.rt.clone(), lambda_event(serde_json::from_str(&text).expect("SQS event")))
        .await
        .expect("handled");
    assert_eq!(failures(&response), Vec::<String>::new());
    // The sample's one step is a json_transform: the orchestrator runs it in the advance (the
    // record saved with the run), so nothing goes through the skill's queue.
    for run_id in [&a, &b] {
        assert_eq!(run_status(&stack, run_id).await, "succeeded");
        let attempt = stack.rt.runs().get_attempt(TENANT, run_id, "total", 1).await.expect("read the attempt");
        let Some((AttemptItem::Done { record }, _)) = attempt else { panic!("no recorded outcome: {attempt:?}") };
        assert_eq!(record.input["data"], json!({"sku": "A-1", "qty": 2, "price": 9.5}), "inputs are resolved into the attempt");
        assert_eq!(serde_json::to_value(&record.outcome).expect("outcome")["output"]["total"].as_f64(), Some(19.0));
    }
    assert!(stack.receive(&skill_queue(TRANSFORM), 1).await.is_empty());
}

#[tokio::test]
async fn json_transform_event_records_the_outcome_and_sends_an_advance() {
    let stack = Stack::new().await;
    let run_id = submit(&stack, &stack.api_key().await).await;
    stack.drain(ORCHESTRATOR_QUEUE).await;
    let text = event_with("skill-json-transform-sqs.json", &[(SAMPLE_RUN_A, &run_id)]);
    let response = aos_lambda::skill::handle(stack.rt.clone(), TRANSFORM, lambda_event(serde_json::from_str(&text).expect("SQS event")))
        .await
        .expect("handled");
    assert_eq!(failures(&response), Vec::<String>::new());
    let attempt = stack.rt.runs().get_attempt(TENANT, &run_id, "total", 1).await.expect("read the attempt");
    let Some((AttemptItem::Done { record }, _)) = attempt else { panic!("no recorded outcome: {attempt:?}") };
    let outcome = serde_json::to_value(&record.outcome).expect("outcome");
    // Compared as numbers: DynamoDB keeps no integer/float distinction (19.0 reads back as 19).
    assert_eq!(
        (&outcome["ok"], &outcome["output"]["sku"], outcome["output"]["total"].as_f64()),
        (&json!(true), &json!("A-1"), Some(19.0)),
        "{outcome}"
    );
    let advances = stack.receive(ORCHESTRATOR_QUEUE, 1).await;
    assert_eq!(advances.iter().map(parse::<Advance>).collect::<Vec<_>>(), vec![Advance { tenant: TENANT.into(), run_id }]);
}

#[tokio::test]
async fn batch_failures_name_in_progress_records_and_leave_out_malformed_ones() {
    let stack = Stack::new().await;
    // Another live worker holds the sample's http_call attempt: the record must come back later.
    let claim = AttemptItem::Claimed { owner: "another-worker".into(), lease_until_ms: now_ms() + 120_000 };
    stack.rt.runs().put_attempt(TENANT, SAMPLE_RUN_A, "notify", 1, &claim, Condition::NotExists, false).await.expect("claim");
    let mut event: Value = serde_json::from_str(&event_text("skill-http-call-sqs.json")).expect("JSON");
    let in_progress = event["Records"][0]["messageId"].as_str().expect("id").to_string();
    let template = event["Records"][0].clone();
    let wrong_skill: Value = serde_json::from_str(&event_text("skill-json-transform-sqs.json")).expect("JSON");
    let mut extra = vec![wrong_skill["Records"][0].clone()];
    for (id, body) in [
        ("5c2e9a10-0d3b-4f1e-9b6a-7c8d9e0f1a2b", json!("{\"tenant\": \"acme\", \"run_id\":")),
        ("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", Value::Null),
    ] {
        let mut r = template.clone();
        r["messageId"] = json!(id);
        r["body"] = body;
        extra.push(r);
    }
    event["Records"].as_array_mut().expect("records").extend(extra);
    let response =
        aos_lambda::skill::handle(stack.rt.clone(), "http_call", lambda_event(serde_json::from_value(event).expect("SQS event")))
            .await
            .expect("handled");
    // Only the in-progress record is retried; a malformed body, a missing body and another skill's
    // task can never succeed here, so they are logged and dropped rather than cycled to the DLQ.
    assert_eq!(failures(&response), vec![in_progress]);
    let attempt = stack.rt.runs().get_attempt(TENANT, SAMPLE_RUN_A, "notify", 1).await.expect("read");
    assert!(matches!(attempt, Some((AttemptItem::Claimed { .. }, _))), "the live claim is untouched: {attempt:?}");
    assert!(
        stack.rt.runs().get_attempt(TENANT, SAMPLE_RUN_A, "total", 1).await.expect("read").is_none(),
        "the json_transform task did not run"
    );
    assert!(stack.receive(ORCHESTRATOR_QUEUE, 1).await.is_empty());
    // A skill function refuses to start for a skill the deployment does not offer.
    assert!(aos_lambda::skill::require_skill(&stack.rt, "http_call").is_ok());
    assert!(aos_lambda::skill::require_skill(&stack.rt, "send_email").is_err());
}

#[tokio::test]
async fn storage_errors_are_retried_record_by_record() {
    let stack = Stack::new().await;
    let config = sdk_config(&moto_url()).await;
    let settings = aos_aws::AwsSettings {
        table: "aos-test-no-such-table".into(),
        queue_urls: stack.queue_urls.clone(),
        secrets_prefix: "aos-test".into(),
    };
    let skills = stack.rt.ports().skills.clone();
    let broken = std::sync::Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)));
    let text = event_text("orchestrator-sqs.json");
    let response =
        aos_lambda::orchestrator::handle(broken, lambda_event(serde_json::from_str(&text).expect("SQS event"))).await.expect("handled");
    assert_eq!(failures(&response), message_ids(&text));
}

#[tokio::test]
async fn sweeper_event_re_advances_an_active_run_whose_advance_was_lost() {
    let stack = Stack::new().await;
    let run_id = submit(&stack, &stack.api_key().await).await;
    assert_eq!(stack.drain(ORCHESTRATOR_QUEUE).await, 1, "the submission's Advance, now lost");
    let event: Value = serde_json::from_str(&event_text("sweeper-schedule.json")).expect("JSON");
    let report = aos_lambda::sweeper::handle(stack.rt.clone(), lambda_event(event)).await.expect("swept");
    assert_eq!(report.active_runs, 1);
    // The sweep advanced it: its one (pure) step ran inline and the run finished.
    assert_eq!(run_status(&stack, &run_id).await, "succeeded");
}

#[tokio::test]
async fn a_two_step_run_succeeds_through_the_queues_and_handlers() {
    let stack = Stack::new().await;
    let key = stack.api_key().await;
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{}/../../examples/{p}", env!("CARGO_MANIFEST_DIR"))).expect("example"))
            .expect("JSON")
    };
    // The second step may take longer than a pure step the orchestrator runs inline (a longer
    // timeout), so it goes through the skill's queue and function; the first runs inline.
    let mut plan = read("hello-transform.json");
    plan["steps"][1]["timeout_ms"] = json!(aos_runtime::orchestrator::INLINE_MAX_TIMEOUT_MS + 1);
    let body = json!({"plan": plan, "inputs": read("hello-transform.inputs.json")}).to_string();
    let mut submit_event: Value = serde_json::from_str(&event_with("api-runs-submit.json", &[(SAMPLE_KEY, &key)])).expect("JSON");
    submit_event["headers"]["content-length"] = json!(body.len().to_string());
    submit_event["body"] = json!(body);
    let (status, submitted) = invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &submit_event.to_string()).await;
    assert_eq!(status, 202, "{submitted}");
    let run_id = submitted["run_id"].as_str().expect("run_id").to_string();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handled = 0;
    while run_status(&stack, &run_id).await != "succeeded" {
        assert!(Instant::now() < deadline, "run {run_id} did not finish: {}", run_status(&stack, &run_id).await);
        handled += stack.pump(ORCHESTRATOR_QUEUE).await + stack.pump(&skill_queue(TRANSFORM)).await;
    }
    // submit → advance (totals inline) → summary's task → advance: three hand-offs at least.
    assert!(handled >= 3, "{handled} messages handled");

    let get = event_with("api-runs-get.json", &[(SAMPLE_KEY, &key), (SAMPLE_RUN_A, &run_id)]);
    let (status, view) = invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &get).await;
    assert_eq!((status, view["status"].as_str()), (200, Some("succeeded")), "{view}");
    let summary = view["step_details"].as_array().expect("steps").iter().find(|s| s["step_id"] == "summary").expect("summary step");
    assert_eq!(summary["output"], json!({"orders": 3, "revenue": 151.5, "top": "B-7"}));

    // Replay through the same function verifies the run as stored in DynamoDB: hashes survive its
    // number representation, and the pure steps recompute the same outputs.
    let mut replay: Value = serde_json::from_str(&get).expect("JSON");
    let path = format!("/api/v1/runs/{run_id}/replay");
    replay["rawPath"] = json!(path);
    replay["requestContext"]["http"]["path"] = json!(path);
    replay["requestContext"]["http"]["method"] = json!("POST");
    let (status, report) = invoke_api(api::app(stack.rt.clone(), group("api-runs")).expect("app"), &replay.to_string()).await;
    assert_eq!((status, &report["parity"], &report["reexecuted"]), (200, &json!(true), &json!(2)), "{report}");
}

#[tokio::test]
async fn aggregator_event_stores_each_tenants_candidates_and_the_platform_export() {
    use aos_core::FieldError;
    let stack = Stack::new().await;
    // Refused submissions with a code no catalog entry knows, recorded as the API records them.
    for (tenant, n) in [(TENANT, 3), ("globex", 1)] {
        for i in 0..n {
            let refusal = FieldError::new("PARTNER_ORDER_DECLINED", format!("partner declined order 4711{i}: api_key=zzzz-secret-value"))
                .field("inputs");
            stack.rt.failures().record_rejection(tenant, &[refusal], None).await;
        }
    }
    let event: Value = serde_json::from_str(&event_text("aggregator-schedule.json")).expect("JSON");
    let summary = aos_lambda::aggregator::handle(stack.rt.clone(), lambda_event(event)).await.expect("aggregated");
    assert_eq!((summary.tenants, summary.scanned, summary.considered, summary.candidates), (2, 4, 4, 1), "{summary:?}");
    let page = stack.rt.failures().candidates(TENANT, 50, None).await.expect("read back from DynamoDB");
    assert!(page.generated_at_ms.is_some());
    let c = &page.candidates[..];
    assert_eq!((c.len(), c[0].code.as_str(), c[0].count, c[0].tenant_count), (1, "PARTNER_ORDER_DECLINED", 3, None), "{c:?}");
    assert_eq!(c[0].examples.len(), 3);
    assert!(c[0].examples.iter().all(|e| e.message.contains("api_key=[REDACTED]") && !e.message.contains("secret")), "{:?}", c[0].examples);
    let theirs = stack.rt.failures().candidates("globex", 50, None).await.expect("read");
    assert_eq!(theirs.candidates.iter().map(|c| c.count).collect::<Vec<_>>(), [1], "each tenant's own failures only");
    let export = stack.rt.failures().platform_export().await.expect("read").expect("stored");
    assert_eq!((export.candidates[0].count, export.candidates[0].tenant_count), (4, Some(2)));
    // Again: the result is replaced, the previous generation deleted.
    let event: Value = serde_json::from_str(&event_text("aggregator-schedule.json")).expect("JSON");
    aos_lambda::aggregator::handle(stack.rt.clone(), lambda_event(event)).await.expect("aggregated again");
    let again = stack.rt.failures().candidates(TENANT, 50, None).await.expect("read");
    assert_eq!((again.total, again.candidates.len()), (1, 1));
    assert!(again.generated_at_ms >= page.generated_at_ms);
    // The api-failures function serves them, and runs the aggregation on demand.
    let key = stack.api_key().await;
    let get = event_with("api-failures-stats.json", &[(SAMPLE_KEY, &key), ("/api/v1/failures/stats", "/api/v1/failures/candidates")]);
    let (status, body) = invoke_api(api::app(stack.rt.clone(), group("api-failures")).expect("app"), &get).await;
    assert_eq!((status, body["total"].as_u64(), body["candidates"][0]["count"].as_u64()), (200, Some(1), Some(3)), "{body}");
    let post = event_with(
        "api-failures-stats.json",
        &[
            (SAMPLE_KEY, &key),
            ("/api/v1/failures/stats", "/api/v1/failures/aggregate"),
            ("\"GET\"", "\"POST\""),
            ("\"rawQueryString\": \"\"", "\"rawQueryString\": \"days=1\""),
        ],
    );
    let (status, body) = invoke_api(api::app(stack.rt.clone(), group("api-failures")).expect("app"), &post).await;
    assert_eq!((status, body["window"]["days"].as_u64(), body["candidates"][0]["count"].as_u64()), (200, Some(1), Some(3)), "{body}");
}

/// What one run spends on the AWS path: DynamoDB requests, the items they write and the write
/// request units those cost (estimated from each item's JSON size: a unit per KB, twice that in a
/// transaction, and once more for an item written to the index), and SQS messages sent, counted at
/// the ports the functions call.
#[derive(Default, Debug)]
struct Spend {
    reads: AtomicU64,
    write_requests: AtomicU64,
    written_items: AtomicU64,
    write_units: AtomicU64,
    transactions: AtomicU64,
    messages: AtomicU64,
}

/// Write request units of writing `item` (see [`Spend`]).
fn units(item: &Item, transaction: bool) -> u64 {
    let bytes = serde_json::to_vec(&item.data).map_or(0, |b| b.len()) + item.pk.len() + item.sk.len();
    let kb = bytes.div_ceil(1024) as u64;
    kb * if transaction { 2 } else { 1 } + if item.gsi1.is_some() { kb } else { 0 }
}

struct Counting {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    spend: Arc<Spend>,
}

impl Counting {
    fn write(&self, items: usize, units: u64) {
        self.spend.write_requests.fetch_add(1, Ordering::SeqCst);
        self.spend.written_items.fetch_add(items as u64, Ordering::SeqCst);
        self.spend.write_units.fetch_add(units, Ordering::SeqCst);
    }
    fn read(&self) {
        self.spend.reads.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Store for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read();
        self.store.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.write(1, units(&item, false));
        self.store.put(item, condition).await
    }
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.write(1, units(&item, false));
        self.store.put_relaxed(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.write(1, 1);
        self.store.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.read();
        self.store.query(query).await
    }
    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.read();
        self.store.query_index(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let cost = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { item, .. } | WriteOp::Add { item, .. } => units(item, true),
                WriteOp::Delete { .. } | WriteOp::Check { .. } => 2,
            })
            .sum();
        self.write(ops.len(), cost);
        self.spend.transactions.fetch_add(1, Ordering::SeqCst);
        self.store.transact_write(ops).await
    }
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        self.write(1, 1);
        self.store.increment(pk, sk, field, delta).await
    }
    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.write(1, units(&item, false));
        self.store.add(item, counters).await
    }
}

#[async_trait::async_trait]
impl Queue for Counting {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        self.spend.messages.fetch_add(messages.len() as u64, Ordering::SeqCst);
        self.queue.send(queue, messages).await
    }
    async fn receive(&self, queue: &str, max: usize, visibility: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.queue.receive(queue, max, visibility, wait).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.queue.delete(queue, receipt).await
    }
    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.queue.change_visibility(queue, receipt, visibility).await
    }
    async fn depth(&self, queue: &str) -> Result<usize, QueueError> {
        self.queue.depth(queue).await
    }
}

/// The engine benchmark's plan (`cli/examples/bench_engine.rs`): five json_transform steps in a
/// chain, each `timeout_ms` long.
fn five_steps(timeout_ms: u64) -> Value {
    let step = |id: &str, after: Option<&str>, data: Value, expr: &str| {
        let mut s = json!({"id": id, "skill": TRANSFORM, "timeout_ms": timeout_ms, "input": {"data": data, "expr": expr}});
        if let Some(a) = after {
            s["depends_on"] = json!([a]);
        }
        s
    };
    json!({"name": "five-steps", "steps": [
        step("a", None, json!({"items": [1, 2, 3, 4, 5]}), ".items | map(. * 2)"),
        step("b", Some("a"), json!("{{ steps.a.output }}"), "add"),
        step("c", Some("b"), json!("{{ steps.b.output }}"), ". + 1"),
        step("d", Some("c"), json!({"v": "{{ steps.c.output }}"}), "{total: .v}"),
        step("e", Some("d"), json!("{{ steps.d.output }}"), ".total | tostring"),
    ]})
}

/// Submits `plan` through a runtime over counting ports and drives it to its end through the
/// orchestrator and skill handlers; returns what it spent.
async fn spend_of(stack: &Stack, plan: Value) -> Arc<Spend> {
    let spend = Arc::new(Spend::default());
    let ports = stack.rt.ports().clone();
    let counting = Arc::new(Counting { store: ports.store.clone(), queue: ports.queue.clone(), spend: spend.clone() });
    let rt = Arc::new(aos_lambda::runtime_with(aos_runtime::Ports { store: counting.clone(), queue: counting, ..ports }));
    let req = aos_runtime::service::SubmitRun { plan: Some(serde_json::from_value(plan).expect("a plan")), ..Default::default() };
    let run_id = rt.submit(TENANT, req).await.expect("submitted").run_id;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.rt.get(TENANT, &run_id).await.expect("run").run.status.as_str() != "succeeded" {
        assert!(Instant::now() < deadline, "run {run_id} did not finish");
        stack.pump_with(&rt, ORCHESTRATOR_QUEUE).await;
        stack.pump_with(&rt, &skill_queue(TRANSFORM)).await;
    }
    spend
}

/// docs/deploy.md's cost per million steps: a five-step chain of transforms run inline by the
/// orchestrator, against the same chain sent through the skill's queue (steps allowed longer than
/// the orchestrator runs inline), counted in the same test.
#[tokio::test]
async fn a_chain_of_pure_steps_costs_one_message_and_one_transaction() {
    let stack = Stack::new().await;
    let queued = spend_of(&stack, five_steps(aos_runtime::orchestrator::INLINE_MAX_TIMEOUT_MS + 1)).await;
    let inline = spend_of(&stack, five_steps(2_000)).await;
    eprintln!("five json_transform steps, through the queues: {queued:?}");
    eprintln!("five json_transform steps, inline:             {inline:?}");
    let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
    // Submission: the run, its active marker (one transaction) and one Advance. Then one advance
    // runs all five and saves the run with their records and the marker's removal (a second).
    assert_eq!(get(&inline.messages), 1, "{inline:?}");
    assert_eq!((get(&inline.write_requests), get(&inline.transactions)), (2, 2), "{inline:?}");
    assert_eq!(get(&inline.written_items), 2 + 1 + 5 + 1, "{inline:?}");
    // Through the queues: a task and an Advance per step besides the submission's, and the wake-up
    // at the run's deadline armed when it started.
    assert_eq!(get(&queued.messages), 1 + 5 + 5 + 1, "{queued:?}");
    assert!(get(&queued.write_requests) >= 2 + 5 + 5, "{queued:?}");
    // Transactional writes cost twice, yet one save of the finished run with five records costs
    // less than five saves of the run and five records on their own.
    assert!(get(&inline.write_units) < get(&queued.write_units), "{inline:?} {queued:?}");
}
