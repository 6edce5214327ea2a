//! Skill workers: execute one step attempt exactly once in effect. Deterministic, side-effect-free
//! skills may run again on redelivery (harmless); side-effecting ones first claim the attempt with a
//! conditional write, so a duplicate delivery never repeats the side effect. Panics, timeouts and
//! budget breaches become outcomes, and every failed outcome is classified against the failure
//! catalog and recorded with its match.

use crate::executor::StepExecutor;
use crate::messages::StepTask;
use crate::orchestrator::send_advance;
use crate::runs::{AttemptItem, RunRepo};
use crate::service::Topology;
use crate::telemetry;
use aos_core::outcome::{Category, Outcome, StepError};
use aos_core::ports::{Clock, Condition, Queue, StoreError};
use aos_core::run::AttemptRecord;
use aos_core::skill::SideEffects;
use aos_core::DomainError;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Lease on a claimed attempt beyond its timeout, after which the claimant is presumed dead.
const LEASE_MARGIN_MS: i64 = 60_000;

/// Between the process's owner name and the delivery's own id in a claim's owner.
pub(crate) const CLAIM_SEPARATOR: char = '/';

pub struct SkillWorker {
    pub(crate) runs: RunRepo,
    pub(crate) queue: Arc<dyn Queue>,
    /// Runs the attempts (the same code the orchestrator runs pure attempts with).
    pub(crate) exec: StepExecutor,
    /// Identifies this process in the claims it takes.
    pub(crate) owner: String,
    /// Decides when another worker's claim is dead ([`Topology::claim_is_dead`]).
    pub(crate) topology: Topology,
    /// Where recorded outcomes go (follows from the topology).
    pub(crate) handoff: Handoff,
    /// Claim leases.
    pub(crate) clock: Arc<dyn Clock>,
}

/// How a worker tells the orchestrator an outcome is recorded ([`Topology::hands_off_inline`]):
/// in one process it calls the orchestrator directly; across processes (Lambda) it sends an
/// `Advance` through the orchestrator queue. A crash between the two is covered by the sweeper
/// either way.
pub(crate) enum Handoff {
    Inline(Arc<crate::orchestrator::Orchestrator>),
    Queue,
}

/// Caps on what step attempts may return, so one run cannot fill the store or make its own view
/// too large to read (`AOS_MAX_STEP_OUTPUT_BYTES`, `AOS_MAX_RUN_OUTPUT_BYTES`, read by
/// `crate::settings::RuntimeSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes of one attempt's serialized outcome.
    pub step_bytes: u64,
    /// Bytes of all of a run's attempt outcomes together.
    pub run_bytes: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self { step_bytes: 1 << 20, run_bytes: 16 << 20 }
    }
}

/// What became of a delivery.
#[derive(Debug, PartialEq)]
pub enum Handled {
    /// Outcome recorded (now or earlier); the message can be deleted.
    Done,
    /// Another live worker holds the claim; leave the message for redelivery.
    InProgress,
}

impl SkillWorker {
    /// Parses a skill-queue message body and executes it (tests; the consumers go through
    /// `Runtime::handle_step_task`, which also decides what becomes of the message).
    pub async fn handle(&self, body: &str) -> Result<Handled, DomainError> {
        let task: StepTask = crate::delivery::parse_message(body)
            .map_err(|e| DomainError::invalid(aos_core::FieldError::new("INVALID_MESSAGE", e.to_string())))?;
        self.execute(&task).await
    }

    pub async fn execute(&self, task: &StepTask) -> Result<Handled, DomainError> {
        let store_err = DomainError::from;
        let existing = self.runs.get_attempt(&task.tenant, &task.run_id, &task.step_id, task.attempt).await.map_err(store_err)?;
        let side_effects = match self.exec.skills.get(&task.skill) {
            // A failed template runs nothing: its outcome is recomputed alike on every delivery.
            Some(_) if task.template_failure().is_some() => SideEffects::None,
            Some(s) => s.side_effects_of(&task.input),
            None => SideEffects::Write,
        };
        let condition = match existing {
            Some((AttemptItem::Done { .. }, _)) => return self.notify(task).await,
            Some((AttemptItem::Claimed { owner, lease_until_ms }, version)) => {
                if !self.topology.claim_is_dead(&owner, lease_until_ms, &self.owner, self.clock.now_ms()) {
                    return Ok(Handled::InProgress);
                }
                // The claimant died mid-attempt: the side effect may or may not have happened, so
                // it is not repeated; the outcome says so and the step's policies decide.
                let err = StepError::new("STEP_INTERRUPTED", Category::Transient, false, "the worker executing this attempt stopped before recording its outcome; the attempt is not repeated because it may have had side effects")
                    .with_details(json!({"previous_owner": owner}));
                let record = self.exec.record(task, Outcome::err(err), self.clock.now_ms(), 0, 0.0);
                return self.finish(task, record, Condition::VersionIs(version), false).await;
            }
            None if side_effects == SideEffects::Write => {
                let lease =
                    self.clock.now_ms().saturating_add(i64::try_from(task.timeout_ms).unwrap_or(i64::MAX)).saturating_add(LEASE_MARGIN_MS);
                // The claim names this process and this delivery: a claim whose write succeeded
                // but whose answer was lost (the store's client then retries and meets it) is
                // recognized as this delivery's own, not taken for another worker's.
                let owner = format!("{}{CLAIM_SEPARATOR}{}", self.owner, uuid::Uuid::new_v4().simple());
                let claim = AttemptItem::Claimed { owner: owner.clone(), lease_until_ms: lease };
                match self
                    .runs
                    .put_attempt(&task.tenant, &task.run_id, &task.step_id, task.attempt, &claim, Condition::NotExists, false)
                    .await
                {
                    Ok(v) => Condition::VersionIs(v),
                    Err(StoreError::ConditionFailed) => {
                        match self.runs.get_attempt(&task.tenant, &task.run_id, &task.step_id, task.attempt).await.map_err(store_err)? {
                            Some((AttemptItem::Claimed { owner: o, .. }, version)) if o == owner => Condition::VersionIs(version),
                            // Someone else claimed or finished it between our read and write.
                            _ => return Ok(Handled::InProgress),
                        }
                    }
                    Err(e) => return Err(store_err(e)),
                }
            }
            None => Condition::NotExists,
        };
        let record = self.exec.attempt(task).await;
        telemetry::step_finished(&task.skill, record.duration_ms);
        self.finish(task, record, condition, side_effects == SideEffects::None).await
    }

    async fn finish(&self, task: &StepTask, record: AttemptRecord, condition: Condition, relaxed: bool) -> Result<Handled, DomainError> {
        let failure = record.failure.clone();
        let item = AttemptItem::Done { record };
        match self.runs.put_attempt(&task.tenant, &task.run_id, &task.step_id, task.attempt, &item, condition, relaxed).await {
            Ok(_) => {
                // Counted once: only the delivery whose outcome was recorded.
                if let Some(m) = &failure {
                    telemetry::attempt_classified(&task.skill, m);
                }
                self.notify(task).await
            }
            Err(StoreError::ConditionFailed) => self.notify(task).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn notify(&self, task: &StepTask) -> Result<Handled, DomainError> {
        match &self.handoff {
            Handoff::Inline(orchestrator) => orchestrator.advance(&task.tenant, &task.run_id, false).await?,
            Handoff::Queue => send_advance(self.queue.as_ref(), &task.tenant, &task.run_id, Duration::ZERO).await?,
        }
        Ok(Handled::Done)
    }
}
