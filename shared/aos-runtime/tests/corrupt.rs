//! `aos serve`'s side of the queue decision (`aos_runtime::delivery`): a malformed message and a
//! message about a corrupt run record are dropped by the consumers, not retried into the
//! dead-letter queue; the sweeper reports a corrupt active run once, not every 30 s, and takes
//! it up again once the record is restored. (The Lambda side: `aos-lambda/tests/delivery.rs`.)

use aos_core::ports::{Condition, Item, OutgoingMessage, Queue, QueueSpec, Store};
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::keys::{run_pk, RUN_SK};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::service::SubmitRun;
use aos_runtime::{Ports, Runtime, Topology};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// Counts error-level log events.
struct Errors(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn malformed_and_corrupt_messages_are_dropped_and_a_corrupt_run_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = EmbeddedDb::open(&dir.path().join("aos.db"), Durability::Relaxed).unwrap();
    let skills = Arc::new(builtin_registry(&SkillsConfig::default()));
    let dlq = format!("{ORCHESTRATOR_QUEUE}.dlq");
    let mut specs = vec![
        QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: Some(dlq.clone()) },
        QueueSpec { name: dlq.clone(), max_receives: u32::MAX, dead_letter: None },
    ];
    specs.extend(skills.specs().iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()));
    let queue: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap());
    let ports = Ports { store: store.clone(), queue: queue.clone(), secrets: Arc::new(EmbeddedSecrets::new(db)), skills };
    // Across processes a submission queues its run's first `Advance` (in one process it would run
    // it itself, before the record could be damaged).
    let rt = Arc::new(Runtime::builder(ports, Topology::Distributed).build());

    // A run whose record is then damaged, its `Advance` still queued, and a message that is not one.
    let plan = json!({"name": "p", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ". + 1"}}]});
    let run_id =
        rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() }).await.unwrap().run_id;
    let good = store.get(&run_pk("t", &run_id), RUN_SK).await.unwrap().expect("stored");
    store.put(Item::new(run_pk("t", &run_id), RUN_SK, json!({"run_id": 7})), Condition::Always).await.unwrap();
    queue.send(ORCHESTRATOR_QUEUE, vec![OutgoingMessage::new("{\"tenant\": ")]).await.unwrap();
    assert_eq!(queue.depth(ORCHESTRATOR_QUEUE).await.unwrap(), 2);

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let consumers = spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    let start = Instant::now();
    // Retried, they would stay in the queue (hidden for the 60 s visibility timeout) and then
    // cycle to the dead-letter queue; dropped, they are gone at once.
    while queue.depth(ORCHESTRATOR_QUEUE).await.unwrap() > 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "the messages were not dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(queue.depth(&dlq).await.unwrap(), 0, "nothing dead-lettered");
    stop.send(true).unwrap();
    for c in consumers {
        c.await.unwrap();
    }

    // The sweeper: one error the first time, none on the sweeps after; the marker says since when.
    let errors = Arc::new(AtomicUsize::new(0));
    let _log = tracing::subscriber::set_default(tracing_subscriber::registry().with(Errors(errors.clone())));
    assert_eq!(rt.sweep().await.unwrap(), 1);
    assert_eq!(errors.load(Ordering::SeqCst), 1, "reported when first found");
    let marked = rt.runs().active_runs().await.unwrap();
    assert!(marked[0].corrupt_since_ms.is_some(), "{marked:?}");
    for _ in 0..3 {
        rt.sweep().await.unwrap();
    }
    assert_eq!(errors.load(Ordering::SeqCst), 1, "not reported again");

    // Restored from a backup: the next sweep clears the mark and the run goes on.
    store.put(good, Condition::Always).await.unwrap();
    rt.sweep().await.unwrap();
    let marker = rt.runs().active_runs().await.unwrap();
    assert!(marker.iter().all(|m| m.corrupt_since_ms.is_none()), "{marker:?}");
    let view = rt.get("t", &run_id).await.unwrap();
    assert_ne!(view.run.status.as_str(), "queued", "advanced again");
    assert_eq!(errors.load(Ordering::SeqCst), 1);
}
