//! Time-dependent paths on a manual clock, without sleeping: claim leases, API-key expiry,
//! idempotency-record and failure-record expiry (retention), and long polls. The store and the
//! runtime share the clock, as a deployment's do.

use aos_core::ports::{Clock, Condition, QueueSpec, Store};
use aos_runtime::auth::{NewKey, Role};
use aos_runtime::clock::ManualClock;
use aos_runtime::failures::query::{FailureFilter, TimeRange};
use aos_runtime::messages::{skill_queue, StepTask, ORCHESTRATOR_QUEUE, STEP_TASK_VERSION};
use aos_runtime::runs::AttemptItem;
use aos_runtime::service::SubmitRun;
use aos_runtime::worker::Handled;
use aos_runtime::{LongPoll, Ports, Runtime, RuntimeSettings, Topology};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

struct Setup {
    rt: Arc<Runtime>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn setup(topology: Topology, settings: RuntimeSettings, long_poll: Option<LongPoll>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_system_time();
    let db = EmbeddedDb::open(&dir.path().join("aos.db"), Durability::Relaxed).unwrap();
    let skills = Arc::new(builtin_registry(&SkillsConfig::default()));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
    specs.extend(skills.specs().iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()).with_clock(clock.clone()));
    let ports = Ports {
        store,
        queue: Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap()),
        secrets: Arc::new(EmbeddedSecrets::new(db)),
        skills,
    };
    let mut builder = Runtime::builder(ports, topology).owner("this-worker").settings(settings).clock(clock.clone());
    if let Some(lp) = long_poll {
        builder = builder.long_poll(lp);
    }
    Setup { rt: Arc::new(builder.build()), clock, _dir: dir }
}

fn task(run_id: &str) -> StepTask {
    serde_json::from_value(json!({"v": STEP_TASK_VERSION, "tenant": "t", "run_id": run_id, "step_id": "notify", "attempt": 1, "skill": "http_call",
        "fallback": false, "input": {"url": "http://127.0.0.1:9/hook", "method": "POST"}, "timeout_ms": 30_000, "seed": 1, "logical_time_ms": 0}))
    .unwrap()
}

fn plan() -> serde_json::Value {
    json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}}]})
}

/// Across processes another worker's claim is live until its lease passes by the clock; then the
/// attempt is recorded as interrupted, at the clock's time.
#[tokio::test]
async fn a_claim_is_live_until_its_lease_passes() {
    let s = setup(Topology::Distributed, RuntimeSettings::default(), None);
    let lease_until = s.clock.now_ms() + 90_000;
    let claim = AttemptItem::Claimed { owner: "another-worker".into(), lease_until_ms: lease_until };
    s.rt.runs().put_attempt("t", "r1", "notify", 1, &claim, Condition::NotExists, false).await.unwrap();
    assert_eq!(s.rt.execute_step(&task("r1")).await.unwrap(), Handled::InProgress);
    s.clock.advance(Duration::from_millis(90_000));
    assert_eq!(s.rt.execute_step(&task("r1")).await.unwrap(), Handled::InProgress, "at the lease's end it still holds");
    s.clock.advance(Duration::from_millis(1));
    assert_eq!(s.rt.execute_step(&task("r1")).await.unwrap(), Handled::Done);
    let (item, _) = s.rt.runs().get_attempt("t", "r1", "notify", 1).await.unwrap().expect("recorded");
    let AttemptItem::Done { record } = item else { panic!("not done: {item:?}") };
    assert_eq!(record.outcome.error().map(|e| e.code.as_str()), Some("STEP_INTERRUPTED"));
    assert_eq!(record.started_at_ms, lease_until + 1);

    // In one process every other owner is an earlier instance: dead whatever its lease.
    let s = setup(Topology::SingleProcess, RuntimeSettings::default(), None);
    let claim = AttemptItem::Claimed { owner: "serve-before-restart".into(), lease_until_ms: s.clock.now_ms() + 90_000 };
    s.rt.runs().put_attempt("t", "r1", "notify", 1, &claim, Condition::NotExists, false).await.unwrap();
    assert_eq!(s.rt.execute_step(&task("r1")).await.unwrap(), Handled::Done);
}

#[tokio::test]
async fn api_keys_expire_by_the_clock() {
    let s = setup(Topology::SingleProcess, RuntimeSettings::default(), None);
    let new = NewKey { expires_at_ms: Some(s.clock.now_ms() + DAY.as_millis() as i64), ..NewKey::new(Role::Viewer, "dashboards", "test") };
    let (key, _) = s.rt.create_key("t", new).await.unwrap();
    assert!(s.rt.authenticate_key(&key).await.unwrap().is_some());
    s.clock.advance(DAY - Duration::from_secs(1));
    assert!(s.rt.authenticate_key(&key).await.unwrap().is_some(), "a second before expiry");
    s.clock.advance(Duration::from_secs(2));
    assert!(s.rt.authenticate_key(&key).await.unwrap().is_none(), "expired");
}

#[tokio::test]
async fn idempotency_keys_are_remembered_for_seven_days() {
    let s = setup(Topology::SingleProcess, RuntimeSettings::default(), None);
    let submit =
        || SubmitRun { plan: Some(serde_json::from_value(plan()).unwrap()), idempotency_key: Some("k1".into()), ..Default::default() };
    let first = s.rt.submit("t", submit()).await.unwrap();
    s.clock.advance(7 * DAY - Duration::from_secs(1));
    let again = s.rt.submit("t", submit()).await.unwrap();
    assert_eq!((again.run_id.as_str(), again.created), (first.run_id.as_str(), false));
    s.clock.advance(Duration::from_secs(2));
    let later = s.rt.submit("t", submit()).await.unwrap();
    assert!(later.created && later.run_id != first.run_id, "the key expired: a new run");
}

#[tokio::test]
async fn failure_records_are_kept_for_the_retention() {
    let settings = RuntimeSettings { failure_retention_days: 2, ..Default::default() };
    let s = setup(Topology::SingleProcess, settings, None);
    let bad = SubmitRun {
        plan: Some(serde_json::from_value(json!({"name": "p", "steps": [{"id": "a", "skill": "no_such_skill", "input": {}}]})).unwrap()),
        ..Default::default()
    };
    assert!(s.rt.submit("t", bad).await.is_err(), "refused");
    let now = s.clock.now_ms();
    let range = TimeRange::new(Some(now - 3_600_000), Some(now + 3_600_000), now, 0).unwrap();
    let listed =
        |rt: Arc<Runtime>| async move { rt.list_failures("t", &range, &FailureFilter::default(), 10, None).await.unwrap().0.len() };
    assert_eq!(listed(s.rt.clone()).await, 1, "the refusal is recorded");
    s.clock.advance(2 * DAY - Duration::from_secs(3_600));
    assert_eq!(listed(s.rt.clone()).await, 1, "within the retention");
    s.clock.advance(Duration::from_secs(7_200));
    assert_eq!(listed(s.rt.clone()).await, 0, "past the retention");
}

fn view_of(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a run's view")
}

/// A long poll waits by the clock: to its cap when nothing happens (three reads, ten clock
/// seconds apart), at once when the run finishes in this process.
#[tokio::test]
async fn long_polls_wait_on_the_clock() {
    let long_poll = LongPoll { max_wait: Duration::from_secs(30), interval: Duration::from_secs(10) };
    let s = setup(Topology::SingleProcess, RuntimeSettings::default(), Some(long_poll));
    // A step allowed longer than the orchestrator runs pure steps inline: it waits in its queue,
    // which nothing consumes here, so the run cannot finish.
    let mut plan = plan();
    plan["steps"][0]["timeout_ms"] = json!(10_000);
    let submit = SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() };
    let run_id = s.rt.submit("t", submit).await.unwrap().run_id;
    // The submission's first advance runs in a task of its own: wait (in real time) until it has
    // handed the step to its queue, so the poll below times a run that is running.
    let real = Instant::now();
    while s.rt.get("t", &run_id).await.unwrap().run.status.as_str() != "running" {
        assert!(real.elapsed() < Duration::from_secs(10), "the run was never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (started, real) = (s.clock.now_ms(), Instant::now());
    let poll = {
        let (rt, id) = (s.rt.clone(), run_id.clone());
        tokio::spawn(async move { view_of(&rt.get_view_json("t", &id, Duration::from_secs(60), false).await.unwrap()) })
    };
    let mut moves = 0;
    while !poll.is_finished() {
        if s.clock.sleepers() > 0 {
            s.clock.advance(Duration::from_secs(10));
            moves += 1;
        }
        tokio::task::yield_now().await;
        assert!(real.elapsed() < Duration::from_secs(10), "the poll did not end");
    }
    let view = poll.await.unwrap();
    assert_eq!(view["status"], "running", "nothing finished the run");
    assert_eq!((moves, s.clock.now_ms() - started), (3, 30_000), "capped at max_wait, read every interval");

    let poll = {
        let (rt, id) = (s.rt.clone(), run_id.clone());
        tokio::spawn(async move { view_of(&rt.get_view_json("t", &id, Duration::from_secs(30), false).await.unwrap()) })
    };
    while s.clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
    s.rt.cancel("t", &run_id).await.unwrap();
    let view = tokio::time::timeout(Duration::from_secs(10), poll).await.expect("woken").unwrap();
    assert_eq!(view["status"], "cancelled");
    assert_eq!(s.clock.now_ms() - started, 30_000, "woken without the clock moving");
    // Cancelled with its attempt still queued: finished, not settled, so not kept.
    assert!(s.rt.views().get("t", &run_id, false).is_none());
}
