//! Runs the port conformance suites against moto (DynamoDB, SQS, Secrets Manager), plus checks of
//! what only the AWS services make hard (`moto/`). Needs a moto server at `AOS_TEST_MOTO_URL`;
//! every test uses its own table, queues or secret prefix, so they run in parallel on one server.

#[path = "moto/queue.rs"]
mod queue;
#[path = "moto/runtime.rs"]
mod runtime;
#[path = "moto/store.rs"]
mod store;
#[path = "moto/support.rs"]
mod support;

use aos_aws::SecretsManagerSecrets;
use aos_store::conformance;
use support::{config, new_queue, new_store, sqs_names, unique, OneWriterPerItem};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_conformance() {
    let config = config().await;
    let store = OneWriterPerItem::new(new_store(&config).await);
    conformance::store_suite(&store).await;
    // Concurrent suites use separate tables: moto rolls a cancelled transaction back by restoring
    // a snapshot of the whole table, undoing concurrent writes to other items (DynamoDB does not).
    let (a, b) = (OneWriterPerItem::new(new_store(&config).await), OneWriterPerItem::new(new_store(&config).await));
    futures::join!(conformance::store_suite(&a), conformance::store_suite(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_conformance() {
    let names = sqs_names("conf");
    let (queue, _) = new_queue(&config().await, &names.specs()).await;
    conformance::queue_suite(&queue, &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_conformance() {
    let client = aws_sdk_secretsmanager::Client::new(&config().await);
    conformance::secrets_suite(&SecretsManagerSecrets::new(client, &unique("secrets"))).await;
}
