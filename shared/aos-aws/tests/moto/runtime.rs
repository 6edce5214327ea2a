//! The secrets cache, and the runtime's own repositories (API keys, workflows, active runs,
//! secrets) wired through `aos_aws::ports` over moto.

use super::support::{config, unique};
use aos_aws::{create_table, AwsSettings, SecretsManagerSecrets};
use aos_core::ports::Secrets;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_are_cached_for_their_ttl() {
    let config = config().await;
    let prefix = unique("cache");
    let client = || aws_sdk_secretsmanager::Client::new(&config);
    let writer = SecretsManagerSecrets::new(client(), &prefix);
    let cached = SecretsManagerSecrets::new(client(), &prefix);
    let short = SecretsManagerSecrets::new(client(), &prefix).with_cache_ttl(Duration::from_secs(1));
    let uncached = SecretsManagerSecrets::new(client(), &prefix).with_cache_ttl(Duration::ZERO);

    assert_eq!(cached.get("t", "k").await.expect("get"), None);
    writer.put("t", "k", "v1").await.expect("put");
    assert_eq!(cached.get("t", "k").await.expect("get").as_deref(), Some("v1"), "a miss is not cached");
    assert_eq!(short.get("t", "k").await.expect("get").as_deref(), Some("v1"));
    writer.put("t", "k", "v2").await.expect("put");
    assert_eq!(writer.get("t", "k").await.expect("get").as_deref(), Some("v2"), "own writes are seen at once");
    assert_eq!(cached.get("t", "k").await.expect("get").as_deref(), Some("v1"), "served from the cache");
    assert_eq!(uncached.get("t", "k").await.expect("get").as_deref(), Some("v2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(short.get("t", "k").await.expect("get").as_deref(), Some("v2"), "the cache expires");
    assert!(!format!("{cached:?}").contains("v1"), "Debug must not show values");
    assert_eq!(writer.names("t").await.expect("names"), ["k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runtime_repositories_run_on_dynamodb() {
    let config = config().await;
    let table = unique("table");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table).await.expect("table");
    let settings = AwsSettings { table, queue_urls: HashMap::new(), secrets_prefix: unique("rt") };
    let ports = aos_aws::ports(&config, &settings, Arc::new(aos_core::skill::SkillRegistry::new()));

    let keys = aos_runtime::auth::ApiKeys::new(ports.store.clone());
    let (key, record) = keys.create("acme", aos_runtime::auth::Role::Admin).await.expect("create key");
    let principal = keys.authenticate(&key).await.expect("authenticate").expect("a known key");
    assert_eq!((principal.tenant.as_str(), principal.id), ("acme", record.key_id.clone()));
    // Authenticating recorded the key's last use; otherwise the listed record is the created one.
    let listed = keys.list("acme").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at_ms.is_some(), "last use recorded: {listed:?}");
    assert_eq!(aos_runtime::auth::ApiKeyRecord { last_used_at_ms: None, ..listed[0].clone() }, record);
    let revoked = keys.revoke("acme", &record.key_id).await.expect("revoke");
    assert!(revoked.revoked_at_ms.is_some());
    assert!(keys.authenticate(&key).await.expect("authenticate").is_none(), "a revoked key no longer authenticates");

    let workflows = aos_runtime::workflows::Workflows::new(ports.store.clone());
    let plan: aos_core::plan::Plan = serde_json::from_str(include_str!("../../../../examples/hello-transform.json")).expect("plan");
    workflows.create("acme", "hello", plan.clone()).await.expect("v1");
    let v2 = workflows.create("acme", "hello", plan).await.expect("v2");
    assert_eq!(workflows.get("acme", "hello", None).await.expect("latest"), Some(v2));
    let deadline = Instant::now() + Duration::from_secs(10);
    while workflows.list("acme").await.expect("list").len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(workflows.list("acme").await.expect("list").iter().map(|w| w.version).collect::<Vec<_>>(), [1, 2]);
    assert!(aos_runtime::runs::RunRepo::new(ports.store.clone()).active().await.expect("active").is_empty());
    ports.secrets.put("acme", "token", "s3cr3t").await.expect("secret");
    assert_eq!(ports.secrets.get("acme", "token").await.expect("secret").as_deref(), Some("s3cr3t"));
}
