//! kv_store against both stores it runs on: the embedded SQLite store (`aos serve`) and DynamoDB
//! (moto at `AOS_TEST_MOTO_URL`, required, never skipped). One suite, the same answers from both:
//! operations, versions, TTL, limits, tenant isolation, and writes applied once per step.

use aos_core::outcome::StepError;
use aos_core::ports::{Secrets, Store, StoreError};
use aos_core::skill::{Skill, SkillContext, TenantScope};
use aos_skills::KvStore;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct NoSecrets;

#[async_trait::async_trait]
impl Secrets for NoSecrets {
    async fn get(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    async fn put(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn names(&self, _: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

struct Kv {
    store: Arc<dyn Store>,
    skill: KvStore,
    /// Runs are unique per suite, so the suites can share one store.
    run: String,
}

impl Kv {
    fn new(store: Arc<dyn Store>) -> Self {
        Self { store, skill: KvStore::new(), run: format!("run-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]) }
    }

    fn ctx(&self, tenant: &str, step: &str, attempt: u32) -> SkillContext {
        let scope = Arc::new(TenantScope::new(tenant, "kv_store", self.store.clone(), Arc::new(NoSecrets)));
        SkillContext::new(&self.run, step, attempt, 1, 0, 10_000).with_scope(scope)
    }

    async fn at(&self, tenant: &str, step: &str, attempt: u32, input: Value) -> Result<Value, StepError> {
        self.skill.execute(&self.ctx(tenant, step, attempt), input).await.map(|o| o.output)
    }

    /// Each call its own step: a new write every time.
    async fn call(&self, input: Value) -> Result<Value, StepError> {
        let step = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.at("acme", &step, 1, input).await
    }

    async fn ok(&self, input: Value) -> Value {
        self.call(input.clone()).await.unwrap_or_else(|e| panic!("{input} failed: {e:?}"))
    }

    async fn code(&self, input: Value) -> String {
        match self.call(input.clone()).await {
            Ok(out) => panic!("{input} should fail, returned {out}"),
            Err(e) => e.code,
        }
    }
}

async fn suite(kv: &Kv) {
    // set, get, exists, delete, with versions
    assert_eq!(kv.ok(json!({"op": "get", "key": "a"})).await, json!({"found": false, "value": null, "version": null, "expires_at": null}));
    assert_eq!(kv.ok(json!({"op": "set", "key": "a", "value": {"x": [1, 2]}})).await, json!({"applied": true, "version": 1}));
    let got = kv.ok(json!({"op": "get", "key": "a"})).await;
    assert_eq!((got["found"].clone(), got["value"].clone(), got["version"].clone()), (json!(true), json!({"x": [1, 2]}), json!(1)));
    assert_eq!(kv.ok(json!({"op": "set", "key": "a", "value": null})).await, json!({"applied": true, "version": 2}));
    assert_eq!(kv.ok(json!({"op": "get", "key": "a"})).await["value"], Value::Null, "null is a value");
    assert_eq!(kv.ok(json!({"op": "exists", "key": "a"})).await, json!({"exists": true}));
    assert_eq!(kv.ok(json!({"op": "exists", "key": "a", "namespace": "other"})).await, json!({"exists": false}), "namespaces are apart");
    assert_eq!(kv.ok(json!({"op": "delete", "key": "a"})).await, json!({"deleted": true}));
    assert_eq!(kv.ok(json!({"op": "delete", "key": "a"})).await, json!({"deleted": false}));
    assert_eq!(kv.ok(json!({"op": "exists", "key": "a"})).await, json!({"exists": false}));

    // if_absent, compare-and-set
    assert_eq!(kv.ok(json!({"op": "set", "key": "d", "value": 1, "if_absent": true})).await, json!({"applied": true, "version": 1}));
    assert_eq!(kv.ok(json!({"op": "set", "key": "d", "value": 2, "if_absent": true})).await, json!({"applied": false, "version": 1}));
    assert_eq!(kv.ok(json!({"op": "get", "key": "d"})).await["value"], 1);
    assert_eq!(kv.ok(json!({"op": "set", "key": "d", "value": 3, "if_version": 1})).await, json!({"applied": true, "version": 2}));
    assert_eq!(kv.code(json!({"op": "set", "key": "d", "value": 4, "if_version": 1})).await, "KV_VERSION_CONFLICT");
    assert_eq!(kv.code(json!({"op": "set", "key": "nope", "value": 4, "if_version": 1})).await, "KV_VERSION_CONFLICT");
    assert_eq!(kv.code(json!({"op": "delete", "key": "d", "if_version": 1})).await, "KV_VERSION_CONFLICT");
    assert_eq!(kv.ok(json!({"op": "delete", "key": "d", "if_version": 2})).await, json!({"deleted": true}));

    // incr
    assert_eq!(kv.ok(json!({"op": "incr", "key": "n"})).await, json!({"value": 1, "version": 1}));
    assert_eq!(kv.ok(json!({"op": "incr", "key": "n", "by": 41})).await, json!({"value": 42, "version": 2}));
    assert_eq!(kv.ok(json!({"op": "incr", "key": "n", "by": -50})).await, json!({"value": -8, "version": 3}));
    assert_eq!(kv.code(json!({"op": "incr", "key": "n", "if_version": 1})).await, "KV_VERSION_CONFLICT");
    kv.ok(json!({"op": "set", "key": "s", "value": "text"})).await;
    assert_eq!(kv.code(json!({"op": "incr", "key": "s"})).await, "KV_NOT_A_NUMBER");
    kv.ok(json!({"op": "set", "key": "big", "value": i64::MAX})).await;
    assert_eq!(kv.code(json!({"op": "incr", "key": "big"})).await, "KV_NOT_A_NUMBER");

    // limits
    let long = "k".repeat(513);
    assert_eq!(kv.code(json!({"op": "get", "key": long})).await, "KV_KEY_INVALID");
    assert_eq!(kv.ok(json!({"op": "set", "key": "k".repeat(512), "value": 1})).await["applied"], true);
    assert_eq!(kv.code(json!({"op": "get", "key": ""})).await, "KV_KEY_INVALID");
    assert_eq!(kv.code(json!({"op": "get", "key": "a\u{0}b"})).await, "KV_KEY_INVALID");
    assert_eq!(kv.code(json!({"op": "get", "key": "a\nb"})).await, "KV_KEY_INVALID");
    assert_eq!(kv.code(json!({"op": "get", "key": "a", "namespace": "x#y"})).await, "KV_KEY_INVALID");
    assert_eq!(kv.code(json!({"op": "get", "key": "a", "namespace": "n".repeat(65)})).await, "KV_KEY_INVALID");
    let just_fits = "v".repeat(64 * 1024 - 2);
    assert_eq!(kv.ok(json!({"op": "set", "key": "v", "value": just_fits})).await["applied"], true);
    assert_eq!(kv.code(json!({"op": "set", "key": "v", "value": format!("{just_fits}v")})).await, "KV_VALUE_TOO_LARGE");
    for bad in [
        json!({"op": "get"}),
        json!({"op": "fetch", "key": "a"}),
        json!({"op": "get", "key": "a", "extra": 1}),
        json!({"op": "get", "key": "a", "value": 1}),
        json!({"op": "set", "key": "a"}),
        json!({"op": "set", "key": "a", "value": 1, "by": 2}),
        json!({"op": "set", "key": "a", "value": 1, "if_absent": true, "if_version": 1}),
        json!({"op": "set", "key": "a", "value": 1, "ttl_seconds": 0}),
        json!({"op": "set", "key": "a", "value": 1, "ttl_seconds": 400 * 86_400}),
        json!({"op": "delete", "key": "a", "ttl_seconds": 5}),
        json!({"op": "get", "key": 7}),
        json!(["get", "a"]),
    ] {
        assert_eq!(kv.code(bad.clone()).await, "SKILL_INPUT_INVALID", "{bad}");
    }

    // Tenants: the same namespace and key are another key for another tenant.
    kv.at("acme", "t1", 1, json!({"op": "set", "key": "shared", "value": "acme's"})).await.expect("acme set");
    let other = kv.at("globex", "t2", 1, json!({"op": "get", "key": "shared"})).await.expect("globex get");
    assert_eq!(other["found"], false, "another tenant's key is invisible");
    kv.at("globex", "t3", 1, json!({"op": "set", "key": "shared", "value": "globex's"})).await.expect("globex set");
    assert_eq!(kv.at("acme", "t4", 1, json!({"op": "get", "key": "shared"})).await.expect("acme get")["value"], "acme's");
    let raw = kv.store.get("t#acme#sd#kv_store#kv#default", "shared").await.expect("raw get").expect("stored under the tenant's prefix");
    assert_eq!(raw.data["value"], "acme's");
}

/// A write is applied once per step: a second delivery of the attempt, and a retry of the step
/// with the same input, return the first result without writing again.
async fn once_per_step(kv: &Kv) {
    let incr = json!({"op": "incr", "key": "once", "namespace": "idem"});
    assert_eq!(kv.at("acme", "count", 1, incr.clone()).await.expect("first"), json!({"value": 1, "version": 1}));
    assert_eq!(kv.at("acme", "count", 1, incr.clone()).await.expect("redelivered"), json!({"value": 1, "version": 1}));
    assert_eq!(kv.at("acme", "count", 2, incr.clone()).await.expect("retried"), json!({"value": 1, "version": 1}));
    assert_eq!(kv.at("acme", "other", 1, incr.clone()).await.expect("another step"), json!({"value": 2, "version": 2}));
    let set = json!({"op": "set", "key": "once-set", "namespace": "idem", "value": "v"});
    assert_eq!(kv.at("acme", "put", 1, set.clone()).await.expect("set"), json!({"applied": true, "version": 1}));
    assert_eq!(kv.at("acme", "put", 1, set.clone()).await.expect("set again"), json!({"applied": true, "version": 1}));
    let got = kv.at("acme", "read", 1, json!({"op": "get", "key": "once-set", "namespace": "idem"})).await.expect("get");
    assert_eq!(got["version"], 1, "the second delivery wrote nothing");
}

async fn ttl(kv: &Kv) {
    kv.ok(json!({"op": "set", "key": "short", "value": 1, "ttl_seconds": 1})).await;
    let got = kv.ok(json!({"op": "get", "key": "short"})).await;
    assert_eq!(got["found"], true);
    assert!(got["expires_at"].as_i64().is_some());
    kv.ok(json!({"op": "incr", "key": "window", "ttl_seconds": 1})).await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(kv.ok(json!({"op": "get", "key": "short"})).await["found"], false, "expired at read time, reaped or not");
    assert_eq!(kv.ok(json!({"op": "incr", "key": "window"})).await, json!({"value": 1, "version": 1}), "a new window");
    assert_eq!(kv.ok(json!({"op": "set", "key": "short", "value": 2, "if_absent": true})).await["applied"], true);
}

fn embedded() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = aos_store::EmbeddedDb::open(&dir.path().join("aos.db"), aos_store::Durability::Relaxed).expect("open db");
    (Arc::new(aos_store::EmbeddedStore::new(db)), dir)
}

async fn dynamo() -> Arc<dyn Store> {
    let endpoint = std::env::var("AOS_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("AOS_TEST_MOTO_URL is not set: kv_store's DynamoDB tests need moto (`bash tests/stack/moto.sh start 5599`)")
    });
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let config = aos_aws::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("SDK config");
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("aos-kv-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    aos_aws::create_table(&client, &table).await.expect("create table");
    Arc::new(aos_aws::DynamoStore::new(client, table))
}

#[tokio::test]
async fn embedded_store() {
    let (store, _dir) = embedded();
    let kv = Kv::new(store);
    suite(&kv).await;
    once_per_step(&kv).await;
    ttl(&kv).await;
}

#[tokio::test]
async fn dynamodb() {
    let kv = Kv::new(dynamo().await);
    suite(&kv).await;
    once_per_step(&kv).await;
    ttl(&kv).await;
}

/// Concurrent increments from many steps all count (optimistic rounds on the version).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_all_count() {
    let (store, _dir) = embedded();
    let kv = Arc::new(Kv::new(store));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.at("acme", &format!("step{i}"), 1, json!({"op": "incr", "key": "hot"})).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("incr");
    }
    assert_eq!(kv.ok(json!({"op": "get", "key": "hot"})).await["value"], 24);
}

/// Without a scope (a caller that gives none, e.g. replay) the skill refuses, naming why.
#[tokio::test]
async fn without_a_scope_it_refuses() {
    let err =
        KvStore::new().execute(&SkillContext::new("r", "s", 1, 1, 0, 1000), json!({"op": "get", "key": "a"})).await.expect_err("no scope");
    assert_eq!(err.code, "SKILL_RESOURCES_UNAVAILABLE");
}
