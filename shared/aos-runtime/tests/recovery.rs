//! Recovery evidence, suggestions and candidates over the real runtime (embedded store and queue,
//! every message delivered twice, a local flaky service): each recovery the engine carries out is
//! counted once; suggestions move from the catalog's advice to the tenant's history as runs
//! repeat; candidates are proposed, approved, retired and refused in the wrong state; `continue`
//! and fallbacks are evidence too; and another tenant sees none of it.

use aos_core::evidence::ActionKind;
use aos_core::ports::{OutgoingMessage, Queue, QueueError, QueueSpec, ReceivedMessage, Store};
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::recovery::candidates::{CandidateFilter, CandidateStatus, Decision};
use aos_runtime::recovery::suggest::Source;
use aos_runtime::recovery::{SuggestForMessage, SuggestRequest, SuggestResponse};
use aos_runtime::service::SubmitRun;
use aos_runtime::{Ports, Runtime, Topology};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

async fn runtime(dir: &std::path::Path) -> (Arc<Runtime>, tokio::sync::watch::Sender<bool>) {
    let db = EmbeddedDb::open(&dir.join("aos.db"), Durability::Relaxed).unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()));
    let skills = Arc::new(builtin_registry(&SkillsConfig { http_allow_hosts: vec!["127.0.0.1".into()], ..SkillsConfig::default() }));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
    specs.extend(skills.specs().into_iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
    let queue: Arc<dyn Queue> = Arc::new(Duplicating(Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap())));
    let ports = Ports { store, queue, secrets: Arc::new(EmbeddedSecrets::new(db)), skills };
    let rt = Arc::new(Runtime::builder(ports, Topology::SingleProcess).owner("test").build());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
    (rt, stop)
}

async fn run(rt: &Runtime, tenant: &str, plan: Value) -> String {
    let sub = rt.submit(tenant, SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() }).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = rt.get(tenant, &sub.run_id).await.unwrap();
        if v.run.status.is_terminal() {
            // Let the duplicate deliveries come and go.
            tokio::time::sleep(Duration::from_millis(150)).await;
            return v.run.status.as_str().to_string();
        }
        assert!(Instant::now() < deadline, "run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn suggest(rt: &Runtime, tenant: &str, message: &str, status: u16) -> SuggestResponse {
    let req = SuggestRequest::Message(SuggestForMessage {
        message: message.into(),
        code: Some(format!("HTTP_{status}")),
        skill: Some("http_call".into()),
        http_status: Some(status),
        details: None,
    });
    rt.suggest_recovery(tenant, &req).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_is_counted_once_and_moves_suggestions_and_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _stop) = runtime(dir.path()).await;
    let target = aos_testkit::spawn_target().await;

    // No history: the catalog's advice.
    let before = suggest(&rt, "t", "GET http://x/ answered 503 Service Unavailable", 503).await;
    assert_eq!(before.key.code, "HTTP_SERVICE_UNAVAILABLE");
    assert!(before.suggestions.iter().all(|s| s.source == Source::Catalog));
    assert_eq!(before.suggestions[0].action, ActionKind::RetryAfter, "a 503 first waits as Retry-After says");
    assert!(before.candidates.is_empty());

    // A service that fails twice with 503, then answers: each run retries twice (short backoff)
    // and succeeds. Every message is delivered twice; each run is still one observation.
    let mut lowers = Vec::new();
    for round in 0..4 {
        let plan = json!({"name": "flaky", "steps": [{"id": "get", "skill": "http_call",
            "input": {"url": format!("{}/flaky/r{round}/2", target.base)},
            "retry": {"max_attempts": 4, "initial_delay_ms": 10, "max_delay_ms": 50}}]});
        assert_eq!(run(&rt, "t", plan).await, "succeeded");
        let s = suggest(&rt, "t", "GET http://x/ answered 503 Service Unavailable", 503).await;
        let retry = s.suggestions.iter().find(|x| x.action == ActionKind::Retry && x.params["backoff"] == "short").expect("observed retry");
        assert_eq!((retry.source, retry.evidence.observed), (Source::History, round + 1), "round {round}: counted once");
        lowers.push(retry.confidence.lower);
        if round + 1 >= 3 {
            assert!(!s.candidates.is_empty(), "round {round}: proposed once there is enough evidence ({retry:?})");
        }
    }
    assert!(lowers.windows(2).all(|w| w[1] > w[0]), "confidence grows with each success: {lowers:?}");
    let after = suggest(&rt, "t", "GET http://x/ answered 503 Service Unavailable", 503).await;
    assert_eq!((after.suggestions[0].action, after.suggestions[0].params.clone()), (ActionKind::Retry, json!({"backoff": "short"})));
    assert!(after.suggestions[0].patch.as_ref().is_some_and(|p| p["retry"]["max_attempts"] == 4));

    // The candidate: pending, then approved (once), then retired.
    let (list, _) = rt.recovery_candidates("t", &CandidateFilter::default(), 50, None).await.unwrap();
    assert_eq!(list.len(), 1, "one candidate per (code, skill, action): {list:?}");
    let c = &list[0];
    assert_eq!((c.status, c.code.as_str(), c.skill.as_deref()), (CandidateStatus::Pending, "HTTP_SERVICE_UNAVAILABLE", Some("http_call")));
    assert!(c.occurrences >= 1 && !c.examples.is_empty());
    let approved =
        rt.decide_recovery_candidate("t", &c.id, Decision::Approve, "key:k1", "operator", Some("looks right".into())).await.unwrap();
    assert_eq!((approved.status, approved.history.len()), (CandidateStatus::Approved, 1));
    assert_eq!(approved.history[0].note.as_deref(), Some("looks right"));
    let again = rt.decide_recovery_candidate("t", &c.id, Decision::Approve, "key:k1", "operator", None).await.unwrap_err();
    assert!(matches!(again, aos_core::DomainError::InvalidState { code: "CANDIDATE_STATE_CONFLICT", .. }), "{again:?}");
    let retired = rt.decide_recovery_candidate("t", &c.id, Decision::Retire, "key:k2", "admin", None).await.unwrap();
    assert_eq!(retired.status, CandidateStatus::Retired);
    let (events, _) = rt.audit_events("t", 0, i64::MAX / 2, None, 50, None).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"recovery.approved") && actions.contains(&"recovery.retired"), "{actions:?}");
    let pending = CandidateFilter { status: Some(CandidateStatus::Pending), ..Default::default() };
    assert!(rt.recovery_candidates("t", &pending, 50, None).await.unwrap().0.is_empty());

    // Another tenant: no evidence, no candidates.
    let other = suggest(&rt, "u", "GET http://x/ answered 503 Service Unavailable", 503).await;
    assert!(other.suggestions.iter().all(|s| s.source == Source::Catalog && s.evidence.observed == 0));
    assert!(rt.recovery_candidates("u", &CandidateFilter::default(), 50, None).await.unwrap().0.is_empty());
    assert!(rt.recovery_candidate("u", &c.id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_and_fallback_are_evidence_and_a_stored_failure_can_be_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _stop) = runtime(dir.path()).await;
    let target = aos_testkit::spawn_target().await;
    let plan = json!({"name": "soft", "steps": [
        {"id": "gone", "skill": "http_call", "input": {"url": format!("{}/status/404", target.base)}, "on_error": {"action": "continue"}},
        {"id": "busy", "skill": "http_call", "input": {"url": format!("{}/status/500", target.base)},
         "retry": {"max_attempts": 1}, "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": "."}}}
    ]});
    assert_eq!(run(&rt, "t", plan).await, "succeeded");
    let gone = suggest(&rt, "t", "GET http://x/ answered 404 Not Found", 404).await;
    let cont = gone.suggestions.iter().find(|s| s.action == ActionKind::Continue).expect("continue");
    assert_eq!((cont.source, cont.evidence.observed, cont.evidence.successes), (Source::History, 1, 1.0));
    assert_eq!(cont.patch, Some(json!({"on_error": {"action": "continue"}})));
    let busy = suggest(&rt, "t", "GET http://x/ answered 500 Internal Server Error", 500).await;
    let fb = busy.suggestions.iter().find(|s| s.action == ActionKind::Fallback).expect("fallback");
    assert_eq!((fb.params.clone(), fb.evidence.observed), (json!({"skill": "json_transform"}), 1));
    assert_eq!(fb.patch.as_ref().map(|p| p["on_error"]["skill"].clone()), Some(json!("json_transform")));

    // By stored failure id: the same key and evidence.
    let range = aos_runtime::failures::query::TimeRange::new(
        Some(aos_runtime::runs::now_ms() - 86_400_000),
        Some(aos_runtime::runs::now_ms() + 1000),
        0,
        0,
    )
    .unwrap();
    let (recs, _) = rt.list_failures("t", &range, &Default::default(), 50, None).await.unwrap();
    let rec = recs.iter().find(|r| r.code == "HTTP_404" && r.kind == aos_core::failure::FailureKind::Attempt).expect("a 404 record");
    let req = SuggestRequest::Failure(aos_runtime::recovery::SuggestForFailure { failure_id: rec.id.clone() });
    let by_id = rt.suggest_recovery("t", &req).await.unwrap();
    assert_eq!(by_id.key, gone.key);
    assert!(by_id.suggestions.iter().any(|s| s.action == ActionKind::Continue && s.evidence.observed == 1));
    assert!(rt.suggest_recovery("u", &req).await.is_err(), "another tenant's failure id is not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_with_a_longer_timeout_is_evidence_for_raising_it() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _stop) = runtime(dir.path()).await;
    let target = aos_testkit::spawn_target().await;
    let plan = |timeout_ms: u64| {
        json!({"name": "slow-report", "steps": [{"id": "fetch", "skill": "http_call", "timeout_ms": timeout_ms,
            "input": {"url": format!("{}/slow/400", target.base)}, "retry": {"max_attempts": 1}}]})
    };
    assert_eq!(run(&rt, "t", plan(150)).await, "failed");
    let now = aos_runtime::runs::now_ms();
    let range = aos_runtime::failures::query::TimeRange::new(Some(now - 60_000), Some(now + 1000), 0, 0).unwrap();
    let (recs, _) = rt.list_failures("t", &range, &Default::default(), 10, None).await.unwrap();
    let code = recs[0].catalog_code.clone().expect("a timeout the catalog knows");
    assert!(["STEP_TIMEOUT", "HTTP_TIMEOUT"].contains(&code.as_str()), "{code}");
    let ask = || {
        let req = SuggestRequest::Message(SuggestForMessage {
            message: recs[0].message.clone(),
            code: Some(recs[0].code.clone()),
            skill: Some("http_call".into()),
            http_status: None,
            details: None,
        });
        let rt = rt.clone();
        async move { rt.suggest_recovery("t", &req).await.unwrap() }
    };
    let first = ask().await;
    assert_eq!(first.suggestions[0].action, ActionKind::RaiseTimeout, "a timeout first suggests a longer one");
    assert_eq!(first.suggestions[0].source, Source::Catalog);

    // The same plan again with 5× the timeout: it succeeds, and that is evidence for ×4.
    assert_eq!(run(&rt, "t", plan(750)).await, "succeeded");
    let after = ask().await;
    let raised = after
        .suggestions
        .iter()
        .find(|s| s.action == ActionKind::RaiseTimeout && s.evidence.observed == 1)
        .expect("observed raise_timeout");
    assert_eq!((raised.params.clone(), raised.evidence.successes), (json!({"factor": 4}), 1.0));
    assert_eq!(after.suggestions[0].action, ActionKind::RaiseTimeout);
    // The success forgets the failure: a third run is not compared with it again.
    assert_eq!(run(&rt, "t", plan(750)).await, "succeeded");
    let third = ask().await;
    assert!(third.suggestions.iter().all(|s| s.evidence.observed <= 1), "counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_recoveries_become_policies_that_compile_into_plans() {
    use aos_core::policy::PolicyStatus;
    use aos_runtime::recovery::policies::{ApprovalMode, RecoverySettingsView};
    let dir = tempfile::tempdir().unwrap();
    let (rt, _stop) = runtime(dir.path()).await;
    let target = aos_testkit::spawn_target().await;
    // Teach: three runs whose 503s clear after two tries under a plan-level retry.
    for round in 0..3 {
        let plan = json!({"name": "teach", "steps": [{"id": "get", "skill": "http_call",
            "input": {"url": format!("{}/flaky/t{round}/2", target.base)}, "retry": {"max_attempts": 4, "initial_delay_ms": 10, "max_delay_ms": 50}}]});
        assert_eq!(run(&rt, "t", plan).await, "succeeded");
    }
    // Shadow mode first: the candidate becomes a shadow policy; runs only record it.
    let settings = RecoverySettingsView { mode: ApprovalMode::Shadow, min_lower: 0.6, min_evidence: 3, ..Default::default() };
    rt.put_recovery_settings("t", settings.clone(), "key:k", "admin").await.unwrap();
    let s = suggest(&rt, "t", "GET http://x/ answered 503 Service Unavailable", 503).await;
    assert_eq!(s.candidates.len(), 1, "{s:?}");
    let policies = rt.recovery_policies("t").await.unwrap();
    assert_eq!((policies.len(), policies[0].status), (1, PolicyStatus::Shadow));
    // A plan without retry settings: in shadow, its run is the plan as submitted; the record says
    // what the policy would have changed.
    // A plan whose step has met the failure: policies for it apply there (only there).
    let fragile = |key: &str| json!({"name": "fragile", "steps": [{"id": "get", "skill": "http_call", "input": {"url": format!("{}/flaky/{key}/1", target.base)}}]});
    let mut once = fragile("f0");
    once["steps"][0]["input"]["url"] = json!(format!("{}/status/503", target.base));
    once["steps"][0]["retry"] = json!({"max_attempts": 1});
    once["policies"] = json!("off");
    assert_eq!(run(&rt, "t", once).await, "failed", "the step meets HTTP_SERVICE_UNAVAILABLE");
    let sub = rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(fragile("s1")).unwrap()), ..Default::default() }).await.unwrap();
    let v = rt.get("t", &sub.run_id).await.unwrap();
    assert!(v.run.applied_policies.is_empty() && v.run.plan.steps[0].retry.is_none());
    assert_eq!(v.run.shadow_policies.len(), 1);
    assert_eq!(v.run.shadow_policies[0].patch["retry"]["max_attempts"], 4);

    // Active mode: the next proposal approves it automatically; runs take the patch.
    rt.put_recovery_settings("t", RecoverySettingsView { mode: ApprovalMode::Active, ..settings }, "key:k", "admin").await.unwrap();
    let c = rt.recovery_candidates("t", &Default::default(), 10, None).await.unwrap().0.remove(0);
    // The shadow policy blocks nothing: approval through the API turns it active.
    let approved = rt.decide_recovery_candidate("t", &c.id, Decision::Approve, "system:auto-approval", "system", None).await.unwrap();
    assert_eq!(approved.status, CandidateStatus::Approved);
    let policy = rt.recovery_policies("t").await.unwrap().remove(0);
    assert_eq!(policy.status, PolicyStatus::Active);
    tokio::time::sleep(Duration::from_millis(5100)).await; // the policy cache's lifetime
    let sub = rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(fragile("a1")).unwrap()), ..Default::default() }).await.unwrap();
    let v = rt.get("t", &sub.run_id).await.unwrap();
    assert_eq!(v.run.applied_policies.len(), 1, "{:?}", v.run.applied_policies);
    assert_eq!(v.run.applied_policies[0].replaced, json!({"retry": null}));
    assert_eq!(v.run.plan.steps[0].retry.as_ref().map(|r| r.max_attempts), Some(4));
    // The same submission again with the same idempotency key is the same run, policies or not.
    let keyed =
        SubmitRun { plan: Some(serde_json::from_value(fragile("a2")).unwrap()), idempotency_key: Some("k1".into()), ..Default::default() };
    let first = rt.submit("t", keyed.clone()).await.unwrap();
    assert_eq!(rt.submit("t", keyed).await.unwrap().run_id, first.run_id);
    // The run recovers thanks to the policy, and its outcome counts for the policy.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in [&sub.run_id, &first.run_id] {
        while !rt.get("t", id).await.unwrap().run.status.is_terminal() {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rt.get("t", id).await.unwrap().run.status.as_str(), "succeeded");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A step that hits the policy's failure and still fails counts against it (a step that never
    // hit the failure does not count: here, a duplicate delivery may have answered first).
    let mut always = fragile("x");
    always["steps"][0]["input"]["url"] = json!(format!("{}/status/503", target.base));
    always["steps"][0]["retry"] = json!({"max_attempts": 1});
    always["policies"] = json!("override");
    assert_eq!(run(&rt, "t", always).await, "failed");
    let p = rt.recovery_policy("t", &policy.id).await.unwrap();
    assert!(p.outcomes.steps <= 3 && p.outcomes.steps - p.outcomes.succeeded == 1, "{:?}", p.outcomes);
    // Opting out.
    let mut off = fragile("o1");
    off["policies"] = json!("off");
    let sub = rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(off).unwrap()), ..Default::default() }).await.unwrap();
    assert!(rt.get("t", &sub.run_id).await.unwrap().run.applied_policies.is_empty());
    // Disabled: no longer applied; disabling twice is a conflict.
    rt.disable_policy("t", &policy.id, "key:k", "operator", Some("enough".into())).await.unwrap();
    assert!(matches!(
        rt.disable_policy("t", &policy.id, "key:k", "operator", None).await,
        Err(aos_core::DomainError::InvalidState { code: "POLICY_STATE_CONFLICT", .. })
    ));
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let sub = rt.submit("t", SubmitRun { plan: Some(serde_json::from_value(fragile("d1")).unwrap()), ..Default::default() }).await.unwrap();
    assert!(rt.get("t", &sub.run_id).await.unwrap().run.applied_policies.is_empty());
    let (events, _) = rt.audit_events("t", 0, i64::MAX / 2, None, 50, None).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for a in ["recovery.settings", "recovery.shadowed", "recovery.approved", "policy.disabled"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // Another tenant has no policies.
    assert!(rt.recovery_policies("u").await.unwrap().is_empty());
}
