//! Test support for the Lambda handlers: a fresh DynamoDB table and SQS queues on moto per test,
//! the sample events from `events/`, and invocations shaped as Lambda makes them (API Gateway
//! payloads through `lambda_http`'s adapter, SQS batches as the event source mapping builds them).

#![allow(dead_code)]

use aos_core::ports::QueueSpec;
use aos_core::skill::SkillRegistry;
use aos_runtime::auth::Role;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::Runtime;
use aos_skills::{builtin_registry, SkillsConfig};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Values the sample events carry, replaced by each test with real ones.
pub const TENANT: &str = "acme";
pub const SAMPLE_KEY: &str = "aos_example_replace-with-your-api-key";
pub const SAMPLE_RUN_A: &str = "r_6f1c0e8d2b7a4c3e9d5f0a1b2c3d4e5f";
pub const SAMPLE_RUN_B: &str = "r_0b9e4d7c1a2f4e6b8c3d5e7f9a1b3c5d";

/// The moto server's URL. These tests exist to exercise the real AWS adapters, so a missing
/// emulator is a failure, never a skip.
pub fn moto_url() -> String {
    match std::env::var("AOS_TEST_MOTO_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AOS_TEST_MOTO_URL is not set. The aos-lambda tests run the Lambda handlers against a moto server \
             (DynamoDB, SQS, Secrets Manager). Start one and point the tests at it:\n  \
             bash tests/stack/moto.sh start 5599\n  \
             AOS_TEST_MOTO_URL=http://127.0.0.1:5599 cargo test -p aos-lambda\n  \
             bash tests/stack/moto.sh stop 5599"
        ),
    }
}

/// The SDK configuration the functions build (`aos_aws::env_sdk_config`), from variables given
/// here rather than the process environment.
pub async fn sdk_config(url: &str) -> aos_aws::SdkConfig {
    let vars = [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_ENDPOINT_URL", url)];
    aos_aws::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("SDK configuration for moto")
}

/// The queues a deployment has: the orchestrator's and one per skill, each with a dead-letter queue.
pub fn queue_specs(skills: &SkillRegistry) -> Vec<QueueSpec> {
    let mut names = vec![ORCHESTRATOR_QUEUE.to_string()];
    names.extend(skills.specs().iter().map(|s| skill_queue(&s.id)));
    names
        .into_iter()
        .flat_map(|n| {
            let dlq = format!("{n}.dlq");
            [
                QueueSpec { name: n, max_receives: 5, dead_letter: Some(dlq.clone()) },
                QueueSpec { name: dlq, max_receives: u32::MAX, dead_letter: None },
            ]
        })
        .collect()
}

/// One test's AWS resources and the runtime every function would build over them.
pub struct Stack {
    pub rt: Arc<Runtime>,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub queue_urls: HashMap<String, String>,
}

impl Stack {
    pub async fn new() -> Stack {
        let config = sdk_config(&moto_url()).await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (ddb, sqs) = (aws_sdk_dynamodb::Client::new(&config), aws_sdk_sqs::Client::new(&config));
        let table = format!("aos-test-{id}");
        aos_aws::create_table(&ddb, &table).await.expect("create the table on moto");
        let skills = Arc::new(builtin_registry(&SkillsConfig::default()));
        let queue_urls =
            aos_aws::create_queues(&sqs, &format!("t{}-", &id[..12]), &queue_specs(&skills)).await.expect("create the queues on moto");
        let settings =
            aos_aws::AwsSettings { table: table.clone(), queue_urls: queue_urls.clone(), secrets_prefix: format!("aos-test/{id}") };
        let rt = Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, skills)));
        Stack { rt, sqs, ddb, table, queue_urls }
    }

    /// An admin API key of the sample events' tenant.
    pub async fn api_key(&self) -> String {
        self.rt.keys().create(TENANT, Role::Admin).await.expect("create an API key").0
    }

    fn url(&self, queue: &str) -> &str {
        self.queue_urls.get(queue).map(String::as_str).unwrap_or_else(|| panic!("no queue {queue}"))
    }

    /// Receives until `want` messages are in hand or two seconds pass (moto may return fewer than
    /// are visible in one call). The messages stay in flight for 30 s, as under Lambda.
    pub async fn receive(&self, queue: &str, want: usize) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = Vec::new();
        while out.len() < want && Instant::now() < deadline {
            let got = self
                .sqs
                .receive_message()
                .queue_url(self.url(queue))
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive from moto");
            let batch = got.messages.unwrap_or_default();
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            out.extend(batch);
        }
        out
    }

    /// Receives and deletes everything visible on `queue` (a lost message, for recovery tests).
    pub async fn drain(&self, queue: &str) -> usize {
        let messages = self.receive(queue, usize::MAX).await;
        for m in &messages {
            self.delete(queue, m).await;
        }
        messages.len()
    }

    pub async fn delete(&self, queue: &str, message: &Message) {
        let receipt = message.receipt_handle.as_deref().expect("receipt handle");
        self.sqs.delete_message().queue_url(self.url(queue)).receipt_handle(receipt).send().await.expect("delete from moto");
    }

    /// Feeds what is visible on `queue` to its function over `rt` (the orchestrator's, or the
    /// skill's the queue is named after), then deletes what the function did not report as failed,
    /// as the SQS event source mapping does. Returns how many messages there were.
    #[allow(dead_code)] // not every test binary drives runs through the queues
    pub async fn pump_with(&self, rt: &Arc<Runtime>, queue: &str) -> usize {
        let messages = self.receive(queue, 1).await;
        if messages.is_empty() {
            return 0;
        }
        let event = self.sqs_event(queue, &messages);
        let response = match queue.strip_prefix("skill.") {
            None => aos_lambda::orchestrator::handle(rt.clone(), event).await,
            Some(skill) => aos_lambda::skill::handle(rt.clone(), skill, event).await,
        };
        let failed = failures(&response.expect("handled"));
        for m in messages.iter().filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id.as_deref())) {
            self.delete(queue, m).await;
        }
        messages.len()
    }

    /// [`Stack::pump_with`] over the stack's own runtime.
    #[allow(dead_code)]
    pub async fn pump(&self, queue: &str) -> usize {
        let rt = self.rt.clone();
        self.pump_with(&rt, queue).await
    }

    /// The batch event the SQS event source mapping would deliver for these messages.
    pub fn sqs_event(&self, queue: &str, messages: &[Message]) -> LambdaEvent<SqsEvent> {
        let arn = format!("arn:aws:sqs:us-east-1:123456789012:{}", self.url(queue).rsplit('/').next().unwrap_or(queue));
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<String, String> =
                    m.attributes.clone().unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_string(), v)).collect();
                json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                    "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
                })
            })
            .collect();
        lambda_event(serde_json::from_value(json!({"Records": records})).expect("an SQS event"))
    }

    /// The stored run item, read straight from DynamoDB (not through the adapter).
    pub async fn run_item(&self, run_id: &str) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let key = HashMap::from([("pk".to_string(), S(format!("t#{TENANT}#run#{run_id}"))), ("sk".to_string(), S("run".into()))]);
        let out =
            self.ddb.get_item().table_name(&self.table).set_key(Some(key)).consistent_read(true).send().await.expect("get item from moto");
        out.item
    }
}

pub fn lambda_event<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, Context::default())
}

/// The text of `events/<name>`.
pub fn event_text(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A sample event with the given text replacements (real key, real run ids).
pub fn event_with(name: &str, replacements: &[(&str, &str)]) -> String {
    replacements.iter().fold(event_text(name), |text, (from, to)| text.replace(from, to))
}

/// The router group an API function serves.
pub fn group(function: &str) -> aos_api::routers::Group {
    *aos_api::routers::ALL.iter().find(|g| g.function == function).unwrap_or_else(|| panic!("no router group {function}"))
}

/// Invokes an API function the way `aos_lambda::run` does: the API Gateway event through the
/// invocation wrapper and `lambda_http`'s adapter into the axum app, and the response as Lambda
/// would return it.
pub async fn invoke_api(app: axum::Router, event: &str) -> (u16, Value) {
    let request: LambdaRequest = serde_json::from_str(event).expect("an API Gateway event");
    let handler = aos_lambda::api::Handler { app };
    let response = aos_lambda::Invocation::new("api", handler).invoke(lambda_event(request)).await.expect("the app answers");
    let response = serde_json::to_value(response).expect("a serializable response");
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    assert_eq!(response["isBase64Encoded"], json!(false), "JSON bodies go back as text: {response}");
    let body = response["body"].as_str().map(|b| serde_json::from_str(b).expect("a JSON body")).unwrap_or(Value::Null);
    (status, body)
}

/// The message ids a batch response asks SQS to deliver again.
pub fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

/// The ids of the records of a sample SQS event, in order.
pub fn message_ids(event: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(event).expect("JSON");
    v["Records"].as_array().expect("Records").iter().map(|r| r["messageId"].as_str().expect("messageId").to_string()).collect()
}
