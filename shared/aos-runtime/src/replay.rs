//! Replay: verifies a finished run by walking its trace in order, recomputing each attempt's input
//! from the plan and the replayed upstream outputs, re-executing replayable (pure, deterministic)
//! skills and feeding recorded outcomes for the rest — so no side effect is ever repeated.

use crate::messages::StepTask;
use crate::runs::LoadedRun;
use crate::worker::SkillWorker;
use aos_core::canonical::hash_value;
use aos_core::engine::{dispatch_input, step_input, template_error_input};
use aos_core::trace::root_hash;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Divergence {
    /// The step where replay first differed (empty for a root-hash mismatch with no step at fault).
    pub step: String,
    #[serde(default)]
    #[schema(required = true)]
    pub attempt: u32,
    /// `input_mismatch`, `output_mismatch`, `record_mismatch` (a recorded outcome no longer matches its
    /// hash), `missing_attempt`, `trace_mismatch` or `root_mismatch`.
    pub reason: String,
    pub expected: Value,
    pub actual: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReplayReport {
    pub parity: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
    /// Attempts re-executed (pure, deterministic skills).
    pub reexecuted: usize,
    /// Attempts whose recorded outcome was used (skills with side effects or non-determinism, and
    /// attempts a redrive copied from an earlier run).
    pub recorded: usize,
    /// Of `recorded`, the attempts a redrive copied from an earlier run (`seeded_from`): checked
    /// against their recorded hashes, not executed; replaying that run re-executes them.
    #[serde(default)]
    #[schema(required = true)]
    pub seeded: usize,
    pub trace_root: String,
}

pub async fn replay(loaded: &LoadedRun, worker: &SkillWorker) -> ReplayReport {
    let run = &loaded.run;
    let by_key: HashMap<(&str, u32), _> = loaded.attempts.iter().map(|a| ((a.step_id.as_str(), a.attempt), a)).collect();
    let mut outputs: HashMap<String, Value> = HashMap::new();
    let mut entries = Vec::new();
    let (mut reexecuted, mut recorded, mut seeded) = (0, 0, 0);
    let diverge = |step: &str, attempt: u32, reason: &str, expected: Value, actual: Value, (reexecuted, recorded, seeded)| ReplayReport {
        parity: false,
        divergence: Some(Divergence { step: step.to_string(), attempt, reason: reason.to_string(), expected, actual }),
        reexecuted,
        recorded,
        seeded,
        trace_root: run.trace_root.clone().unwrap_or_default(),
    };
    for expected in &run.trace {
        let (step_id, n) = (expected.step_id.as_str(), expected.attempt);
        let Some(rec) = by_key.get(&(step_id, n)) else {
            return diverge(step_id, n, "missing_attempt", json!(expected), Value::Null, (reexecuted, recorded, seeded));
        };
        let Some(step) = run.plan.step(step_id) else {
            return diverge(step_id, n, "missing_attempt", json!(expected), Value::Null, (reexecuted, recorded, seeded));
        };
        // The engine's own resolution of the attempt's input, in the form its record keeps.
        let (input, secrets) = dispatch_input(step_input(run, step, rec.fallback, &outputs));
        let (input, template_error) = StepTask::input_fields(input);
        let expected_input = match &template_error {
            Some(message) => template_error_input(message),
            None => input.clone(),
        };
        let input_hash = hash_value(&expected_input);
        if input_hash != rec.input_hash {
            return diverge(step_id, n, "input_mismatch", json!(rec.input), expected_input, (reexecuted, recorded, seeded));
        }
        // An attempt stopped by the run's output limit depended on what other branches had
        // returned by then (not only on its input): its recorded outcome is fed, not re-run.
        let over_run_limit = rec.outcome.error().is_some_and(|e| e.code == "OUTPUT_LIMIT_EXCEEDED");
        // An attempt a redrive copied ran in the earlier run, with that run's id and logical
        // time in its context: its recorded outcome is fed (replaying that run re-executes it).
        let copied = rec.seeded_from.is_some();
        let replayable = !over_run_limit && !copied && worker.exec.skills.get(&rec.skill).is_some_and(|s| s.spec().replayable());
        let outcome = if replayable {
            reexecuted += 1;
            let task = StepTask {
                tenant: run.tenant.clone(),
                run_id: run.run_id.clone(),
                step_id: step_id.to_string(),
                attempt: n,
                skill: rec.skill.clone(),
                fallback: rec.fallback,
                input,
                template_error,
                timeout_ms: step
                    .timeout_ms
                    .unwrap_or_else(|| worker.exec.skills.get(&rec.skill).map(|s| s.spec().default_timeout_ms).unwrap_or(30_000)),
                seed: run.seed,
                logical_time_ms: run.created_at_ms,
                cost_limit_usd: None,
                v: crate::messages::STEP_TASK_VERSION,
                secrets,
                max_output_bytes: None,
            };
            let (outcome, _) = worker.exec.run_skill(&task).await;
            let actual_hash = hash_value(&serde_json::to_value(&outcome).unwrap_or(Value::Null));
            let recorded_hash = hash_value(&serde_json::to_value(&rec.outcome).unwrap_or(Value::Null));
            if actual_hash != recorded_hash || actual_hash != rec.output_hash {
                return diverge(step_id, n, "output_mismatch", json!(rec.outcome), json!(outcome), (reexecuted, recorded, seeded));
            }
            outcome
        } else {
            recorded += 1;
            seeded += usize::from(copied);
            let recorded_hash = hash_value(&serde_json::to_value(&rec.outcome).unwrap_or(Value::Null));
            if recorded_hash != rec.output_hash {
                return diverge(
                    step_id,
                    n,
                    "record_mismatch",
                    json!(rec.output_hash),
                    json!(recorded_hash),
                    (reexecuted, recorded, seeded),
                );
            }
            rec.outcome.clone()
        };
        let mut entry = rec.trace_entry();
        entry.input_hash = input_hash;
        entry.output_hash = hash_value(&serde_json::to_value(&outcome).unwrap_or(Value::Null));
        if &entry != expected {
            return diverge(step_id, n, "trace_mismatch", json!(expected), json!(entry), (reexecuted, recorded, seeded));
        }
        if let Some(out) = outcome.output() {
            outputs.insert(step_id.to_string(), out.clone());
        }
        entries.push(entry);
    }
    let root = root_hash(&entries);
    if Some(&root) != run.trace_root.as_ref() {
        return diverge("", 0, "root_mismatch", json!(run.trace_root), json!(root), (reexecuted, recorded, seeded));
    }
    ReplayReport { parity: true, divergence: None, reexecuted, recorded, seeded, trace_root: root }
}

#[cfg(test)]
mod tests {
    use crate::consumers::{spawn_all, ConsumerConfig};
    use crate::keys::{attempt_sk, run_pk};
    use crate::messages::{skill_queue, ORCHESTRATOR_QUEUE};
    use crate::service::SubmitRun;
    use crate::{Ports, Runtime};
    use aos_core::canonical::hash_value;
    use aos_core::ports::{Condition, QueueSpec, Store};
    use aos_skills::{builtin_registry, SkillsConfig};
    use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
    use serde_json::{json, Value};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn runtime(dir: &std::path::Path) -> (Arc<Runtime>, Arc<dyn Store>) {
        let db = EmbeddedDb::open(&dir.join("aos.db"), Durability::Relaxed).unwrap();
        let skills = Arc::new(builtin_registry(&SkillsConfig::default()));
        let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: 20, dead_letter: None }];
        specs.extend(skills.specs().iter().map(|s| QueueSpec { name: skill_queue(&s.id), max_receives: 5, dead_letter: None }));
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::new(db.clone()));
        let ports = Ports {
            store: store.clone(),
            queue: Arc::new(EmbeddedQueue::open(db.clone(), specs).unwrap()),
            secrets: Arc::new(EmbeddedSecrets::new(db)),
            skills,
        };
        (Arc::new(Runtime::builder(ports, crate::service::Topology::SingleProcess).owner("test").build()), store)
    }

    async fn attempt_record(store: &dyn Store, run_id: &str, step: &str, attempt: u32) -> Value {
        store.get(&run_pk("t", run_id), &attempt_sk(step, attempt)).await.unwrap().expect("attempt recorded").data["record"].clone()
    }

    /// A fallback whose template does not resolve travels as a typed error, and its attempt is
    /// recorded exactly as every earlier release recorded it (input `{"__template_error": ...}`),
    /// so runs recorded before and after replay alike; a queued message of the previous release
    /// (the error inside its input) is recorded the same way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fallback_template_is_recorded_and_replayed_as_every_release_did() {
        let dir = tempfile::tempdir().unwrap();
        let (rt, store) = runtime(dir.path());
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        spawn_all(rt.clone(), ConsumerConfig::default(), stop_rx);
        let plan = json!({"name": "fallback-template", "steps": [
            {"id": "b", "skill": "json_transform", "input": {"data": {"x": 1}, "expr": "."}},
            {"id": "a", "skill": "json_transform", "depends_on": ["b"], "retry": {"max_attempts": 1},
             "input": {"data": 1, "expr": "error(\"boom\")"},
             "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": "{{ steps.b.output.nope }}", "expr": "."}}}
        ]});
        let req = SubmitRun { plan: Some(serde_json::from_value(plan).unwrap()), ..Default::default() };
        let id = rt.submit("t", req).await.unwrap().run_id;
        let start = Instant::now();
        while !rt.get("t", &id).await.unwrap().run.status.is_terminal() {
            assert!(start.elapsed() < Duration::from_secs(30), "run did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let record = attempt_record(store.as_ref(), &id, "a", 2).await;
        let message = "`{{ steps.b.output.nope }}` does not resolve: no such field in the step's output";
        let previous_release_input = json!({"__template_error": message});
        assert_eq!(record["input"], previous_release_input, "{record}");
        assert_eq!(record["input_hash"], json!(hash_value(&previous_release_input)));
        assert_eq!(record["outcome"]["error"]["code"], "TEMPLATE_UNRESOLVED");
        assert_eq!(record["outcome"]["error"]["message"], message);
        let report = rt.replay("t", &id).await.unwrap();
        assert!(report.parity, "{report:?}");

        // The attempt again, as a message queued by the previous release delivers it.
        store.delete(&run_pk("t", &id), &attempt_sk("a", 2), Condition::Always).await.unwrap();
        let old_message = json!({"v": 2, "tenant": "t", "run_id": id, "step_id": "a", "attempt": 2, "skill": "json_transform", "fallback": true,
            "input": {"__template_error": message}, "timeout_ms": 30000, "seed": 1, "logical_time_ms": 0});
        rt.worker().handle(&old_message.to_string()).await.unwrap();
        let again = attempt_record(store.as_ref(), &id, "a", 2).await;
        for field in ["input", "input_hash", "outcome", "output_hash", "fallback", "skill"] {
            assert_eq!(again[field], record[field], "{field}");
        }
        assert!(rt.replay("t", &id).await.unwrap().parity);
    }
}
