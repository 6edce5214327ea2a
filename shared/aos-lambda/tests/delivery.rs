//! The Lambda side of the queue decision (`aos_runtime::delivery`), on moto: a malformed record
//! and a record about a corrupt run are not reported back to SQS (dropped, as `aos serve`'s
//! consumers drop them: `aos-runtime/tests/corrupt.rs`), unavailable storage is, and the sweeper
//! function reports a corrupt active run once.

use aos_core::ports::{Condition, Item, QueueSpec};
use aos_runtime::keys::{run_pk, RUN_SK};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::service::SubmitRun;
use aos_runtime::Runtime;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::Message;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "acme";

/// A fresh table and queues on moto (`AOS_TEST_MOTO_URL`, required) and the runtime a function
/// builds over them.
struct Stack {
    rt: Arc<Runtime>,
    sqs: aws_sdk_sqs::Client,
    queue_urls: HashMap<String, String>,
    config: aos_aws::SdkConfig,
}

fn moto_url() -> String {
    std::env::var("AOS_TEST_MOTO_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("AOS_TEST_MOTO_URL: these tests need a moto server (bash tests/stack/moto.sh start 5599)")
}

impl Stack {
    async fn new() -> Stack {
        let url = moto_url();
        let vars = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ENDPOINT_URL", url.as_str()),
        ];
        let config = aos_aws::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (ddb, sqs) = (aws_sdk_dynamodb::Client::new(&config), aws_sdk_sqs::Client::new(&config));
        let table = format!("aos-test-{id}");
        aos_aws::create_table(&ddb, &table).await.unwrap();
        let skills = Arc::new(aos_skills::builtin_registry(&aos_skills::SkillsConfig::default()));
        let mut names = vec![ORCHESTRATOR_QUEUE.to_string()];
        names.extend(skills.specs().iter().map(|s| skill_queue(&s.id)));
        let specs: Vec<QueueSpec> = names.into_iter().map(|name| QueueSpec { name, max_receives: 5, dead_letter: None }).collect();
        let queue_urls = aos_aws::create_queues(&sqs, &format!("d{}-", &id[..12]), &specs).await.unwrap();
        let settings = aos_aws::AwsSettings { table, queue_urls: queue_urls.clone(), secrets_prefix: format!("aos-test/{id}") };
        let rt = Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)));
        Stack { rt, sqs, queue_urls, config }
    }

    /// Receives until `want` messages are in hand or five seconds pass.
    async fn receive(&self, queue: &str, want: usize) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut out = Vec::new();
        while out.len() < want && Instant::now() < deadline {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_urls[queue])
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await
                .unwrap();
            out.extend(got.messages.unwrap_or_default());
        }
        out
    }

    /// The batch event the SQS event source mapping would deliver for these messages.
    fn sqs_event(&self, messages: &[Message]) -> LambdaEvent<SqsEvent> {
        let records: Vec<Value> = messages.iter().map(|m| json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body, "attributes": {}, "messageAttributes": {}})).collect();
        lambda_event(serde_json::from_value(json!({"Records": records})).unwrap())
    }
}

fn lambda_event<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, Context::default())
}

/// The message ids a batch response asks SQS to deliver again.
fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[tokio::test]
async fn malformed_and_corrupt_records_are_dropped_like_aos_serve_drops_them() {
    let stack = Stack::new().await;
    let rt = stack.rt.clone();
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}}]});
    let submit = || SubmitRun { plan: Some(serde_json::from_value(plan.clone()).unwrap()), ..Default::default() };
    let healthy = rt.submit(TENANT, submit()).await.unwrap().run_id;
    let corrupt = rt.submit(TENANT, submit()).await.unwrap().run_id;
    rt.ports().store.put(Item::new(run_pk(TENANT, &corrupt), RUN_SK, json!({"run_id": 7})), Condition::Always).await.unwrap();
    let url = stack.queue_urls[ORCHESTRATOR_QUEUE].clone();
    stack.sqs.send_message().queue_url(&url).message_body("{\"tenant\": ").send().await.unwrap();
    let messages = stack.receive(ORCHESTRATOR_QUEUE, 3).await;
    assert_eq!(messages.len(), 3);

    // Through the orchestrator function's handler.
    let response = aos_lambda::orchestrator::handle(rt.clone(), stack.sqs_event(&messages)).await.unwrap();
    assert_eq!(failures(&response), Vec::<String>::new(), "nothing to deliver again");
    assert_ne!(rt.get(TENANT, &healthy).await.unwrap().run.status.as_str(), "queued", "the healthy run advanced");

    // Through the SQS boundary with the runtime's own handler: the same decision.
    let response = aos_lambda::sqs::consume_batch(stack.sqs_event(&messages).payload, |body| {
        let rt = rt.clone();
        async move { rt.handle_advance(&body).await }
    })
    .await;
    assert_eq!(failures(&response), Vec::<String>::new());

    // The sweeper function: the corrupt run is marked once and the sweeps go on.
    let sweep = || aos_lambda::sweeper::handle(rt.clone(), lambda_event(json!({"id": "e1"})));
    sweep().await.expect("swept");
    let marked = rt.runs().active_runs().await.unwrap();
    let mark = marked.iter().find(|m| m.run_id == corrupt).and_then(|m| m.corrupt_since_ms).expect("marked");
    sweep().await.expect("swept again");
    let again = rt.runs().active_runs().await.unwrap();
    assert_eq!(again.iter().find(|m| m.run_id == corrupt).and_then(|m| m.corrupt_since_ms), Some(mark), "marked once");
}

/// A storage failure is reported, so SQS delivers the record again.
#[tokio::test]
async fn unavailable_storage_is_delivered_again() {
    let stack = Stack::new().await;
    let url = stack.queue_urls[ORCHESTRATOR_QUEUE].clone();
    let body = serde_json::to_string(&aos_runtime::messages::Advance::new(TENANT, "r_missing")).unwrap();
    stack.sqs.send_message().queue_url(&url).message_body(body).send().await.unwrap();
    let messages = stack.receive(ORCHESTRATOR_QUEUE, 1).await;
    // The runtime over a table that does not exist: every read fails as unavailable.
    let config = stack.config.clone();
    let settings =
        aos_aws::AwsSettings { table: "aos-no-such-table".into(), queue_urls: stack.queue_urls.clone(), secrets_prefix: "aos-test".into() };
    let skills = stack.rt.ports().skills.clone();
    let broken = std::sync::Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)));
    let response = aos_lambda::orchestrator::handle(broken, stack.sqs_event(&messages)).await.unwrap();
    assert_eq!(failures(&response), vec![messages[0].message_id.clone().unwrap()]);
}
