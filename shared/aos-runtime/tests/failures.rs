//! Failure records over the real `Store` port (the embedded adapter): written by the runtime for
//! every failure with its match and recovery outcome, once each even when every message is
//! delivered twice; listed across day partitions with filters and cursors; aggregated; and kept
//! per tenant.

use aos_core::failure::{FailureKind, FailureMatch, MatchType, RecoveryMode};
use aos_core::outcome::{Category, StepError};
use aos_core::ports::{Condition, OutgoingMessage, Queue, QueueError, QueueSpec, ReceivedMessage, Store};
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::failures::query::{FailureFilter, TimeRange};
use aos_runtime::failures::record::{FailureRecord, Subject};
use aos_runtime::failures::FailureLog;
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::service::SubmitRun;
use aos_runtime::{Ports, Runtime, RuntimeSettings, Topology};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use async_trait::async_trait;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000;
/// 2025-01-10T00:00:00Z.
const T0: i64 = 1_736_467_200_000;

fn store(dir: &std::path::Path) -> (Arc<EmbeddedDb>, Arc<dyn Store>) {
    let db = EmbeddedDb::open(&dir.join("aos.db"), Durability::Relaxed).unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()));
    (db, store)
}

fn matched(code: &str, mode: RecoveryMode) -> FailureMatch {
    FailureMatch {
        matched: true,
        code: Some(code.into()),
        category: Some(Category::Transient),
        retryable: Some(true),
        severity: None,
        recovery_mode: Some(mode),
        confidence: 0.93,
        match_type: MatchType::HttpStatus,
        signature: "0123456789abcdef".into(),
    }
}

/// A record as the orchestrator writes it: attempt `n` of step `s` of `run` at `at_ms`.
fn record(tenant: &str, run: &str, at_ms: i64, code: &str, m: &FailureMatch, recovered: Option<bool>) -> FailureRecord {
    let s = Subject {
        kind: FailureKind::Attempt,
        tenant,
        subject: run,
        run_id: Some(run),
        step_id: Some("s"),
        attempt: 1,
        skill: Some("http_call"),
        at_ms,
    };
    let mut r = FailureRecord::new(&s, &StepError::new(code, Category::Transient, true, format!("{code} happened")), m, 3650);
    r.recovery_attempted = recovered.is_some();
    r.recovery_mode = recovered.map(|_| RecoveryMode::RetryExponential);
    r.recovery_succeeded = recovered;
    r
}

async fn seed(store: &Arc<dyn Store>) -> Vec<FailureRecord> {
    let hit = matched("HTTP_SERVICE_UNAVAILABLE", RecoveryMode::RetryExponential);
    let miss = FailureMatch::unmatched("fedcba9876543210");
    let recs = vec![
        record("t", "r1", T0 + 1000, "HTTP_503", &hit, Some(true)),
        record("t", "r2", T0 + 2000, "HTTP_503", &hit, Some(false)),
        record("t", "r3", T0 + DAY + 10, "ODD", &miss, None),
        record("t", "r4", T0 + DAY + 20, "HTTP_503", &hit, None),
        record("t", "r5", T0 + 3 * DAY + 5, "ODD", &miss, None),
        record("u", "r9", T0 + 1500, "HTTP_503", &hit, Some(true)),
    ];
    for r in &recs {
        store.put(r.item(), Condition::Always).await.unwrap();
    }
    recs
}

#[tokio::test]
async fn records_page_newest_first_across_days_with_filters_and_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = store(dir.path());
    seed(&store).await;
    let log = FailureLog::new(store.clone(), 30);
    let range = TimeRange::new(Some(T0), Some(T0 + 4 * DAY), 0, 0).unwrap();
    let all = FailureFilter::default();

    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = log.list("t", &range, &all, 2, cursor.as_deref()).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|r| r.run_id.unwrap()));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["r5", "r4", "r3", "r2", "r1"], "newest first, across three day partitions and an empty one");

    let ids = |v: Vec<FailureRecord>| v.into_iter().map(|r| r.run_id.unwrap()).collect::<Vec<_>>();
    let by = |f: FailureFilter| {
        let log = log.clone();
        async move { ids(log.list("t", &range, &f, 50, None).await.unwrap().0) }
    };
    assert_eq!(by(FailureFilter { code: Some("HTTP_503".into()), ..Default::default() }).await, ["r4", "r2", "r1"]);
    assert_eq!(
        by(FailureFilter { code: Some("HTTP_SERVICE_UNAVAILABLE".into()), ..Default::default() }).await,
        ["r4", "r2", "r1"],
        "catalog code too"
    );
    assert_eq!(by(FailureFilter { matched: Some(false), ..Default::default() }).await, ["r5", "r3"]);
    assert_eq!(by(FailureFilter { recovered: Some(true), ..Default::default() }).await, ["r1"]);
    assert_eq!(by(FailureFilter { recovered: Some(false), ..Default::default() }).await, ["r5", "r4", "r3", "r2"]);
    assert_eq!(by(FailureFilter { kind: Some(FailureKind::Run), ..Default::default() }).await, Vec::<String>::new());
    assert_eq!(
        by(FailureFilter { skill: Some("http_call".into()), category: Some(Category::Transient), ..Default::default() }).await.len(),
        5
    );

    // Filtered pages continue exactly where they stopped.
    let f = FailureFilter { code: Some("HTTP_503".into()), ..Default::default() };
    let (p1, c1) = log.list("t", &range, &f, 2, None).await.unwrap();
    let (p2, c2) = log.list("t", &range, &f, 2, c1.as_deref()).await.unwrap();
    assert_eq!((ids(p1), ids(p2)), (vec!["r4".to_string(), "r2".into()], vec!["r1".to_string()]));
    assert!(c2.is_none());

    // A narrower range reads only its own days and times.
    let day2 = TimeRange::new(Some(T0 + DAY), Some(T0 + DAY + 15), 0, 0).unwrap();
    assert_eq!(ids(log.list("t", &day2, &all, 50, None).await.unwrap().0), ["r3"]);

    // Another tenant's records are another tenant's.
    assert_eq!(ids(log.list("u", &range, &all, 50, None).await.unwrap().0), ["r9"]);
    assert!(log.list("nobody", &range, &all, 50, None).await.unwrap().0.is_empty());

    let err = log.list("t", &range, &all, 2, Some("zz")).await.unwrap_err();
    assert!(format!("{err:?}").contains("INVALID_CURSOR"), "{err:?}");
    assert!(TimeRange::new(Some(5), Some(4), 0, 0).is_err());
    assert!(TimeRange::new(Some(0), Some(367 * DAY), 0, 0).is_err());
    let defaulted = TimeRange::new(None, None, T0, DAY).unwrap();
    assert_eq!((defaulted.from_ms, defaulted.to_ms), (T0 - DAY, T0));
}

#[tokio::test]
async fn statistics_count_rates_modes_and_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = store(dir.path());
    seed(&store).await;
    let log = FailureLog::new(store.clone(), 30);
    let range = TimeRange::new(Some(T0), Some(T0 + 4 * DAY - 1), 0, 0).unwrap();
    let s = log.stats("t", &range, DAY, &FailureFilter::default()).await.unwrap();
    assert_eq!((s.total, s.matched), (5, 3));
    assert!((s.match_rate - 0.6).abs() < 1e-9);
    assert_eq!(s.by_code["HTTP_503"], 3);
    assert_eq!(s.by_code["ODD"], 2);
    assert_eq!(s.by_catalog_code["HTTP_SERVICE_UNAVAILABLE"], 3);
    assert_eq!((s.by_kind["attempt"], s.by_skill["http_call"], s.by_category["TRANSIENT"]), (5, 5, 5));
    assert_eq!((s.recovery.attempted, s.recovery.succeeded, s.recovery.failed), (2, 1, 1));
    assert_eq!(s.recovery_by_mode["retry_exponential"].success_rate, Some(0.5));
    assert_eq!(s.buckets.iter().map(|b| b.total).collect::<Vec<_>>(), [2, 2, 0, 1]);
    assert_eq!(s.buckets[0].recovered, 1);
    assert!(!s.truncated);
    assert!(log.stats("t", &range, 1, &FailureFilter::default()).await.is_err(), "too many buckets");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_records_each_failure_once_even_when_messages_arrive_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = store(dir.path());
    let skills = Arc::new(builtin_registry(&SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() }));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
    specs.extend(skills.specs().into_iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
    let queue: Arc<dyn Queue> = Arc::new(Duplicating(Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap())));
    let ports = Ports { store: store.clone(), queue, secrets: Arc::new(EmbeddedSecrets::new(db)), skills };
    let settings = RuntimeSettings { failure_retention_days: 7, ..Default::default() };
    let rt = Arc::new(Runtime::builder(ports, Topology::SingleProcess).owner("test").settings(settings).build());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let target = aos_testkit::spawn_target().await;

    // Fixed statuses, so that an attempt executed twice (a GET is a read) fails the same way.
    let plan = json!({"name": "f", "steps": [
        {"id": "busy", "skill": "http_call", "input": {"url": format!("{}/status/503", target.base)}, "retry": {"max_attempts": 2, "initial_delay_ms": 10},
         "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": "."}}},
        {"id": "gone", "skill": "http_call", "depends_on": ["busy"], "input": {"url": format!("{}/status/404", target.base)}}
    ]});
    let started = aos_runtime::runs::now_ms();
    let sub = rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() }).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let view = loop {
        let v = rt.get("t", &sub.run_id).await.unwrap();
        if v.run.status.is_terminal() {
            break v;
        }
        assert!(Instant::now() < deadline, "run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(view.run.status.as_str(), "failed");
    assert_eq!(view.run.failure.as_ref().and_then(|f| f.code.as_deref()), Some("HTTP_NOT_FOUND"));
    let gone = view.step_details.iter().find(|s| s.step_id == "gone").unwrap();
    assert_eq!(gone.attempts.len(), 1, "a 404 is not retried");
    assert_eq!(gone.attempts[0].failure.as_ref().and_then(|f| f.category), Some(Category::NotFound));

    // The orchestrator saves the run before it hands the last outcome back; give the duplicate
    // deliveries a moment to come and go, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let range = TimeRange::new(Some(started - 1000), Some(aos_runtime::runs::now_ms() + 1000), 0, 0).unwrap();
    let (recs, _) = rt.list_failures("t", &range, &FailureFilter::default(), 200, None).await.unwrap();
    let summary: Vec<_> = recs
        .iter()
        .rev()
        .map(|r| (r.kind, r.step_id.clone().unwrap_or_default(), r.attempt, r.code.clone(), r.recovery_mode, r.recovery_succeeded))
        .collect();
    assert_eq!(
        summary,
        [
            (FailureKind::Attempt, "busy".into(), 1, "HTTP_503".into(), Some(RecoveryMode::RetryAfter), Some(true)),
            (FailureKind::Attempt, "busy".into(), 2, "HTTP_503".into(), Some(RecoveryMode::Fallback), Some(true)),
            (FailureKind::Attempt, "gone".into(), 1, "HTTP_404".into(), None, None),
            (FailureKind::Run, "gone".into(), 1, "HTTP_404".into(), None, None),
        ],
        "one record per failure, none duplicated; the fallback's success recovers both attempts"
    );
    let busy = &recs[3];
    assert_eq!((busy.catalog_code.as_deref(), busy.recovery_attempted), (Some("HTTP_SERVICE_UNAVAILABLE"), true));
    assert_eq!(busy.expires_at, busy.at_ms / 1000 + 7 * 86_400, "retention of 7 days");
    assert!(rt.list_failures("other", &range, &FailureFilter::default(), 200, None).await.unwrap().0.is_empty());

    // A refused submission is a failure without a run.
    let bad = json!({"name": "bad", "steps": [{"id": "a", "skill": "no_such_skill"}]});
    assert!(rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(bad).unwrap()), ..Default::default() }).await.is_err());
    let f = FailureFilter { kind: Some(FailureKind::Rejected), ..Default::default() };
    let range = TimeRange::new(Some(started - 1000), Some(aos_runtime::runs::now_ms() + 1000), 0, 0).unwrap();
    let (rejected, _) = rt.list_failures("t", &range, &f, 10, None).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].run_id.as_ref(), rejected[0].step_id.as_deref(), rejected[0].category),
        (None, Some("a"), Category::Validation)
    );
}
