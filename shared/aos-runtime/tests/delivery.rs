//! At-least-once delivery: with every queue message delivered twice, each run still completes once,
//! every side effect happens once, and replay detects tampering with a record.

use aos_core::ports::{
    Condition, Item, OutgoingMessage, Page, Query, Queue, QueueError, QueueSpec, ReceivedMessage, Store, StoreError, WriteOp,
};
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::service::SubmitRun;
use aos_runtime::{Ports, Runtime, Topology};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A queue that sends every message twice.
struct Duplicating(Arc<dyn Queue>);

#[async_trait]
impl Queue for Duplicating {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        let doubled: Vec<_> = messages.iter().cloned().chain(messages.iter().cloned()).collect();
        self.0.send(queue, doubled).await
    }
    async fn receive(&self, q: &str, max: usize, vis: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.0.receive(q, max, vis, wait).await
    }
    async fn delete(&self, q: &str, r: &str) -> Result<(), QueueError> {
        self.0.delete(q, r).await
    }
    async fn change_visibility(&self, q: &str, r: &str, v: Duration) -> Result<(), QueueError> {
        self.0.change_visibility(q, r, v).await
    }
    async fn depth(&self, q: &str) -> Result<usize, QueueError> {
        self.0.depth(q).await
    }
}

fn runtime(dir: &std::path::Path, duplicate: bool) -> (Arc<Runtime>, Arc<dyn Store>) {
    let db = EmbeddedDb::open(&dir.join("aos.db"), Durability::Relaxed).unwrap();
    let cfg = SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() };
    let skills = Arc::new(builtin_registry(&cfg));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
    for s in skills.specs() {
        specs.push(QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None });
    }
    let inner: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap());
    let queue: Arc<dyn Queue> = if duplicate { Arc::new(Duplicating(inner)) } else { inner };
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()));
    let ports = Ports { store: store.clone(), queue, secrets: Arc::new(EmbeddedSecrets::new(db)), skills };
    (Arc::new(Runtime::builder(ports, Topology::SingleProcess).owner("test").build()), store)
}

async fn wait(rt: &Runtime, run_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let view = rt.get("t", run_id).await.unwrap();
        if view.run.status.is_terminal() {
            return serde_json::to_value(&view).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_delivered_twice_still_runs_each_side_effect_once() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = runtime(dir.path(), true);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let target = aos_testkit::spawn_target().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let plan = json!({"name": "dup", "steps": [
            {"id": "compute", "skill": "json_transform", "input": {"data": i, "expr": ". * 10"}},
            {"id": "notify", "skill": "http_call", "depends_on": ["compute"],
             "input": {"method": "POST", "url": format!("{}/sink", target.base), "body": {"n": "{{ steps.compute.output }}"}}},
            {"id": "done", "skill": "json_transform", "depends_on": ["notify"], "input": {"data": "{{ steps.notify.output.status }}", "expr": "."}}
        ]});
        let req = SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() };
        ids.push(rt.submit("t", req).await.unwrap().run_id);
    }
    for id in &ids {
        let run = wait(&rt, id).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        for s in run["step_details"].as_array().unwrap() {
            assert_eq!(s["attempts"].as_array().unwrap().len(), 1, "one attempt per step: {s}");
        }
    }
    let seen = target.seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 20, "each POST happened exactly once");
    let mut keys = seen.idempotency_keys.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20);
    let mut ns: Vec<i64> = seen.requests.iter().map(|r| r.2["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (0..20).map(|i| i * 10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_where_a_tampered_record_diverges() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, store) = runtime(dir.path(), false);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let plan = json!({"name": "r", "steps": [
        {"id": "a", "skill": "json_transform", "input": {"data": 2, "expr": ". + 1"}},
        {"id": "b", "skill": "json_transform", "depends_on": ["a"], "input": {"data": "{{ steps.a.output }}", "expr": ". * 3"}}
    ]});
    let req = SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() };
    let id = rt.submit("t", req).await.unwrap().run_id;
    let run = wait(&rt, &id).await;
    assert_eq!(run["status"], "succeeded");
    assert!(rt.replay("t", &id).await.unwrap().parity);

    // Tamper with step a's recorded output: replay re-executes it and sees the difference.
    let pk = aos_runtime::keys::run_pk("t", &id);
    let sk = aos_runtime::keys::attempt_sk("a", 1);
    let mut item: Item = store.get(&pk, &sk).await.unwrap().unwrap();
    item.data["record"]["outcome"]["output"] = json!(4);
    store.put(item, aos_core::ports::Condition::Always).await.unwrap();
    let report = rt.replay("t", &id).await.unwrap();
    assert!(!report.parity);
    let d = report.divergence.unwrap();
    assert_eq!((d.step.as_str(), d.reason.as_str()), ("a", "output_mismatch"));
    assert_eq!(d.expected["output"], json!(4));
    assert_eq!(d.actual["output"], json!(3));
}

/// A store whose answer to each attempt claim (a conditional put of an `att#` item) is lost after
/// the write: the caller sees `ConditionFailed`, as a client retrying the write meets it.
struct LostClaimAnswers {
    inner: Arc<dyn Store>,
    lost: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Store for LostClaimAnswers {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        let claim = item.sk.starts_with("att#") && condition == Condition::NotExists;
        let written = self.inner.put(item, condition).await?;
        if claim {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(StoreError::ConditionFailed);
        }
        Ok(written)
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query_index(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner.transact_write(ops).await
    }
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(pk, sk, field, delta).await
    }
    async fn add(&self, item: Item, counters: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.inner.add(item, counters).await
    }
}

/// A worker whose claim was written but whose answer was lost recognizes the claim as its own
/// (it names the delivery) and runs the attempt, instead of leaving it to expire as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_answer_was_lost_is_recognized_as_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, store) = runtime(dir.path(), false);
    let lossy = Arc::new(LostClaimAnswers { inner: store, lost: Default::default() });
    let mut ports = rt.ports().clone();
    ports.store = lossy.clone();
    let rt = Arc::new(Runtime::builder(ports, Topology::SingleProcess).owner("test").build());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let target = aos_testkit::spawn_target().await;
    let plan = json!({"name": "lost-claim", "steps": [
        {"id": "notify", "skill": "http_call", "input": {"method": "POST", "url": format!("{}/sink", target.base), "body": {"n": 1}}}
    ]});
    let req = SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() };
    let run_id = rt.submit("t", req).await.unwrap().run_id;
    let run = wait(&rt, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(lossy.lost.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the claim's answer was lost");
    assert_eq!(target.seen.lock().unwrap().requests.len(), 1, "the POST happened once");
}

/// A queue that counts the messages sent to each queue.
struct Tally(Arc<dyn Queue>, std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl Tally {
    fn sent(&self, queue: &str) -> usize {
        self.1.lock().unwrap().get(queue).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Queue for Tally {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        *self.1.lock().unwrap().entry(queue.to_string()).or_default() += messages.len();
        self.0.send(queue, messages).await
    }
    async fn receive(&self, q: &str, max: usize, vis: Duration, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.0.receive(q, max, vis, wait).await
    }
    async fn delete(&self, q: &str, r: &str) -> Result<(), QueueError> {
        self.0.delete(q, r).await
    }
    async fn change_visibility(&self, q: &str, r: &str, v: Duration) -> Result<(), QueueError> {
        self.0.change_visibility(q, r, v).await
    }
    async fn depth(&self, q: &str) -> Result<usize, QueueError> {
        self.0.depth(q).await
    }
}

/// A store that counts the writes it is asked for (a transaction is one).
struct Writes(Arc<dyn Store>, std::sync::atomic::AtomicUsize);

impl Writes {
    fn count(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn wrote(&self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Writes {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.0.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.wrote();
        self.0.put(item, condition).await
    }
    async fn put_relaxed(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.wrote();
        self.0.put_relaxed(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.wrote();
        self.0.delete(pk, sk, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.0.query(query).await
    }
    async fn query_index(&self, query: Query) -> Result<Page, StoreError> {
        self.0.query_index(query).await
    }
    async fn transact_write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.wrote();
        self.0.transact_write(ops).await
    }
    async fn increment(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        self.wrote();
        self.0.increment(pk, sk, field, delta).await
    }
}

/// The orchestrator runs pure steps inline (`aos_runtime::orchestrator`): a chain of transforms
/// finishes without a message to the skill's queue; a program slower than the time an attempt is
/// given inline is handed to its queue and runs there with its step's whole timeout (its inline
/// outcome never shows); a step whose own timeout is shorter than that gets its timeout inline,
/// as a worker would give it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pure_steps_run_inline_and_a_slow_one_is_handed_to_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = EmbeddedDb::open(&dir.path().join("aos.db"), Durability::Relaxed).unwrap();
    let skills = Arc::new(builtin_registry(&SkillsConfig::default()));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
    specs.extend(skills.specs().iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
    let tally = Arc::new(Tally(Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap()), Default::default()));
    let writes = Arc::new(Writes(Arc::new(EmbeddedStore::new(db.clone())), Default::default()));
    let ports = Ports { store: writes.clone(), queue: tally.clone(), secrets: Arc::new(EmbeddedSecrets::new(db)), skills };
    let rt = Arc::new(Runtime::builder(ports, Topology::SingleProcess).owner("test").build());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let submit = |plan: Value| {
        let rt = rt.clone();
        async move {
            rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() }).await.unwrap().run_id
        }
    };
    let transforms = skill_queue("json_transform");

    // In one process the submission runs the first advance before it answers, and commits the
    // run's creation with it: a chain of transforms is written once, already finished.
    let before = writes.count();
    let submitted = rt
        .submit("t", SubmitRun { plan: Some(serde_json::from_value(json!({"name": "chain", "steps": [
            {"id": "a", "skill": "json_transform", "input": {"data": [1, 2, 3], "expr": "map(. * 2)"}},
            {"id": "b", "skill": "json_transform", "depends_on": ["a"], "input": {"data": "{{ steps.a.output }}", "expr": "add"}},
            {"id": "c", "skill": "json_transform", "depends_on": ["b"], "input": {"data": "{{ steps.b.output }}", "expr": ". + 1"}}
        ]})).unwrap()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((submitted.status.as_str(), submitted.created), ("succeeded", true));
    assert_eq!(writes.count() - before, 1, "one transaction: the run, created finished, and its attempts' records");
    let chain = submitted.run_id;
    let run = wait(&rt, &chain).await;
    assert_eq!((run["status"].as_str(), &run["step_details"][2]["output"]), (Some("succeeded"), &json!(13)), "{run}");
    assert_eq!(tally.sent(&transforms), 0, "no step went through the queue");
    // No Advance at all: in one process the submission starts the first advance itself, and the
    // run started and finished in it (no wake-up at its deadline either).
    assert_eq!(tally.sent(ORCHESTRATOR_QUEUE), 0);
    // The advance that finished it kept its view, settled, exactly as the store answers it; the
    // redacted form is made on the first viewer's read and kept too.
    let kept = rt.views().get("t", &chain, false).expect("the finished run's view is kept");
    assert_eq!(serde_json::from_slice::<Value>(&kept).unwrap(), run);
    assert_eq!(rt.get_view_json("t", &chain, Duration::ZERO, false).await.unwrap(), kept);
    assert!(rt.views().get("t", &chain, true).is_none());
    let redacted = rt.get_view_json("t", &chain, Duration::ZERO, true).await.unwrap();
    assert_eq!(rt.views().get("t", &chain, true), Some(redacted));
    assert!(rt.get_view_json("other", &chain, Duration::ZERO, false).await.is_err(), "another tenant's run is not found");

    // A program that never ends, in a step allowed 3 s: inline it gets 200 ms, does not finish,
    // and is handed to its queue, where it gets the step's whole time (the jq limit is 4/5 of it).
    let slow = submit(json!({"name": "slow", "steps": [
        {"id": "loop", "skill": "json_transform", "timeout_ms": 3_000, "input": {"data": null, "expr": "def f: f; f"}}
    ]}))
    .await;
    let run = wait(&rt, &slow).await;
    let attempts = run["step_details"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!((run["status"].as_str(), attempts.len()), (Some("failed"), 1), "{run}");
    let message = run["step_details"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("time limit of 2400 ms"), "the step's own limit, not the inline one: {message}");
    assert_eq!(tally.sent(&transforms), 1, "handed to its queue once");

    // A step whose timeout is shorter than the inline time: its limit is final, inline.
    let bomb = submit(json!({"name": "bomb", "steps": [
        {"id": "loop", "skill": "json_transform", "timeout_ms": 150, "input": {"data": null, "expr": "def f: f; f"}}
    ]}))
    .await;
    let run = wait(&rt, &bomb).await;
    assert_eq!((run["status"].as_str(), run["step_details"][0]["error"]["code"].as_str()), (Some("failed"), Some("JQ_LIMIT_EXCEEDED")));
    let message = run["step_details"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("time limit of 100 ms"), "{message}");
    assert_eq!(tally.sent(&transforms), 1, "the bomb ran inline");
}
