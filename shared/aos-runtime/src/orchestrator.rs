//! The orchestrator: loads a run and its attempts, applies the pure engine rules, saves the new
//! state under optimistic concurrency, together with the failure records the decision produced,
//! then dispatches step attempts to the skill queues. The same code runs in `aos serve` and in the
//! orchestrator Lambda.
//!
//! Pure attempts (a skill without side effects, deterministic, executed by this process, with no
//! secret and no delay) are not sent through a queue: the orchestrator runs them itself, through
//! the same [`StepExecutor`] as the workers, advances the engine over their outcomes, and saves
//! their records in the run's own transaction. A chain of transforms then costs one load and one
//! commit instead of a queue round trip, an attempt write and a run save per step. Nothing is
//! weaker for it: until the save, no one has seen the outcomes, and a crash before it leaves the
//! run as it was, to be advanced (and the attempts computed) again. Bounded per advance by count
//! ([`MAX_INLINE_ATTEMPTS`]) and time ([`INLINE_TIME`]), and per attempt ([`INLINE_ATTEMPT_MS`]:
//! one that needs longer is handed to its queue); whatever is left goes to the queues as before.
//! `AOS_INLINE_ATTEMPT_MS=0` turns it off.

use crate::executor::StepExecutor;
use crate::failures::classify::classify_error;
use crate::failures::record::{puts, records_for_events};
use crate::failures::FailureLog;
use crate::messages::{skill_queue, Advance, StepTask, ORCHESTRATOR_QUEUE, STEP_TASK_VERSION};
use crate::runs::{AttemptItem, Created, LoadedRun, RunRepo};
use crate::telemetry;
use crate::worker::OutputLimits;
use aos_core::engine::{advance, dispatch_input, step_input, Decision, Dispatch, EngineEnv};
use aos_core::failure::{FailureEvent, FailureMatch};
use aos_core::outcome::StepError;
use aos_core::ports::{Clock, Condition, OutgoingMessage, Queue, StoreError, WriteOp};
use aos_core::run::{AttemptRecord, Run, StepStatus};
use aos_core::skill::SkillRegistry;
use aos_core::DomainError;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra time past a step's timeout before a dispatched attempt without outcome is dispatched again
/// (its message was lost between the run's save and the send).
pub const REDISPATCH_GRACE_MS: i64 = 30_000;

/// Failure records saved in the run's own transaction at most (DynamoDB allows 100 operations;
/// the run and its active marker take two). More, which takes dozens of parallel steps failing at
/// once, are written just before it.
const MAX_RECORDS_IN_SAVE: usize = 90;
/// Extra writes (failure records, then recovery evidence) in the run's transaction at most.
const MAX_OPS_IN_SAVE: usize = 97;

/// Pure attempts one advance runs inline at most (their records share the run's transaction).
pub const MAX_INLINE_ATTEMPTS: usize = 32;
/// Time one advance spends running pure attempts inline at most; the rest go to the queues.
pub const INLINE_TIME: Duration = Duration::from_millis(250);
/// Pure attempts allowed longer than this go straight to their queue: a step given more time is
/// expected to take it.
pub const INLINE_MAX_TIMEOUT_MS: u64 = 5_000;
/// The time an attempt is given inline by default (`RuntimeSettings::inline_attempt_ms`). One
/// that does not finish in it (or finds the sandbox busy) goes to its queue, to run with its
/// step's whole timeout: so a slow or hostile program holds an advance, and the consumer slot it
/// runs in, this long at most.
pub const INLINE_ATTEMPT_MS: u64 = 200;
/// An inline attempt's record larger than this is written just before the save rather than in its
/// transaction (which DynamoDB caps at 4 MB). A crash in between leaves the record of an attempt the
/// run does not show as started; the attempt, being pure, is then run again and the record replaced.
const INLINE_RECORD_IN_SAVE_BYTES: usize = 64 * 1024;

/// What one advance saved.
enum Saved {
    /// Nothing: the run is gone, finished, or had nothing to change.
    Nothing,
    /// A new state of a run that existed.
    Existing,
    /// A run's creation with its first advance (or the idempotency key's earlier run, with
    /// nothing written), and the status it was created with.
    Created(Created, aos_core::run::RunStatus),
}

/// An advance's error, and whether it came after the save committed (the run's status as saved).
enum AdvanceError {
    BeforeCommit(DomainError),
    AfterCommit(DomainError, aos_core::run::RunStatus),
}

impl AdvanceError {
    fn into_inner(self) -> DomainError {
        match self {
            AdvanceError::BeforeCommit(e) | AdvanceError::AfterCommit(e, _) => e,
        }
    }
}

impl From<DomainError> for AdvanceError {
    fn from(e: DomainError) -> Self {
        AdvanceError::BeforeCommit(e)
    }
}

impl From<StoreError> for AdvanceError {
    fn from(e: StoreError) -> Self {
        AdvanceError::BeforeCommit(e.into())
    }
}

pub struct Orchestrator {
    pub(crate) runs: RunRepo,
    /// Runs pure attempts inline (the workers' executor).
    pub(crate) exec: StepExecutor,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) skills: Arc<SkillRegistry>,
    pub(crate) finished: Arc<FinishedRuns>,
    /// Where the view of each run this process finishes is kept, settled, for its readers here
    /// (one process only: elsewhere no reader is in this process).
    pub(crate) views: Option<Arc<crate::views::SettledViews>>,
    /// Serializes advances of one run inside this process, so concurrent outcomes of parallel
    /// steps do not fight over the run's version (which still guards across processes).
    pub(crate) locks: RunLocks,
    pub(crate) failures: FailureLog,
    pub(crate) limits: OutputLimits,
    /// Days recovery evidence is kept (`RecoverySettings::keep_days`).
    pub(crate) evidence_keep_days: u32,
    /// The evaluation window of the regression guard (`RecoverySettings::window_ms`).
    pub(crate) recovery_window_ms: i64,
    /// The time a pure attempt is given inline; 0: none runs inline.
    pub(crate) inline_attempt_ms: u64,
    /// The time decisions are made at (due retries, overdue dispatches, budget deadlines).
    pub(crate) clock: Arc<dyn Clock>,
}

/// Recoveries at start a run may go through without finishing one: a run whose advance brought
/// the process down that often is failed (`RUN_POISONED`) instead of being advanced again.
pub const MAX_RECOVERIES: u32 = 3;

#[derive(Default)]
pub struct RunLocks(std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RunLocks {
    fn get(&self, run_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().expect("run locks");
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(run_id.to_string()).or_default().clone()
    }
}

/// In-process notifications of finished runs, for long-polling readers.
#[derive(Default)]
pub struct FinishedRuns(std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>);

impl FinishedRuns {
    pub fn subscribe(&self, run_id: &str) -> Arc<tokio::sync::Notify> {
        let mut map = self.0.lock().expect("finished runs");
        if map.len() > 10_000 {
            map.retain(|_, n| Arc::strong_count(n) > 1);
        }
        map.entry(run_id.to_string()).or_default().clone()
    }
    pub fn finish(&self, run_id: &str) {
        if let Some(n) = self.0.lock().expect("finished runs").remove(run_id) {
            n.notify_waiters();
        }
    }
}

/// Engine environment: skill defaults from the registry, and the conditions evaluated so far
/// in this advance (the engine asks for the others).
pub struct RegistryEnv<'a> {
    pub skills: &'a SkillRegistry,
    pub conditions: &'a HashMap<String, Result<bool, StepError>>,
}

impl<'a> RegistryEnv<'a> {
    pub fn new(skills: &'a SkillRegistry, conditions: &'a HashMap<String, Result<bool, StepError>>) -> Self {
        Self { skills, conditions }
    }
}

impl EngineEnv for RegistryEnv<'_> {
    fn default_timeout_ms(&self, skill: &str) -> u64 {
        self.skills.get(skill).map(|s| s.spec().default_timeout_ms).unwrap_or(30_000)
    }
    fn eval_condition(&self, step_id: &str, _expr: &str, _context: &Value) -> Option<Result<bool, StepError>> {
        self.conditions.get(step_id).cloned()
    }
    fn classify(&self, error: &StepError, skill: Option<&str>) -> FailureMatch {
        classify_error(error, skill)
    }
}

impl Orchestrator {
    /// Advances a run. `recover` also re-dispatches every running attempt that has no outcome yet
    /// (after a restart; duplicates are harmless because workers are idempotent).
    pub async fn advance(&self, tenant: &str, run_id: &str, recover: bool) -> Result<(), DomainError> {
        self.advance_from(tenant, run_id, recover, None).await.map(drop).map_err(AdvanceError::into_inner)
    }

    /// The first advance of a run that is not written yet, committed with the run's creation in
    /// one transaction: a chain of pure steps is created already finished, in one write, with no
    /// active marker to put and delete. Nothing is promised before the commit: the caller answers
    /// the submission after it. The run's status as committed comes back with [`Created::New`];
    /// an idempotency key used before gives what [`RunRepo::create`] gives, and nothing of this
    /// advance is kept (except, when a key is raced, the records too large for the transaction,
    /// which are written before it: see [`INLINE_RECORD_IN_SAVE_BYTES`]).
    ///
    /// An error before the commit leaves nothing (the caller may create the run the usual way); an
    /// error after it (a lost dispatch) is handed to the queues as an `Advance`, and the sweeper
    /// finds the run through its active marker if even that send is lost.
    pub async fn create_and_advance(&self, run: aos_core::run::Run) -> Result<(Created, aos_core::run::RunStatus), DomainError> {
        let (tenant, run_id) = (run.tenant.clone(), run.run_id.clone());
        let new = LoadedRun { run, version: 0, attempts: Vec::new(), claimed: Vec::new() };
        match self.advance_from(&tenant, &run_id, false, Some(new)).await {
            Ok(Saved::Created(created, status)) => Ok((created, status)),
            Ok(Saved::Existing | Saved::Nothing) => Err(DomainError::Storage(format!("run {run_id} was not created"))),
            Err(AdvanceError::BeforeCommit(e)) => Err(e),
            Err(AdvanceError::AfterCommit(e, status)) => {
                tracing::debug!(run_id, error = %e, "the created run's first advance was not completed; it goes through the queue");
                if let Err(e) = send_advance(self.queue.as_ref(), &tenant, &run_id, Duration::ZERO).await {
                    tracing::warn!(run_id, error = %e, "advance not sent; the sweeper will pick the run up");
                }
                Ok((Created::New, status))
            }
        }
    }

    /// The first advance of a run this process has just created, from the run as written (version
    /// 1, no attempts): no read of what it wrote a moment ago. If someone else saved it meanwhile,
    /// the save fails its version check and the run is read from the store as usual.
    pub async fn advance_created(&self, run: aos_core::run::Run) -> Result<(), DomainError> {
        let (tenant, run_id) = (run.tenant.clone(), run.run_id.clone());
        let created = LoadedRun { run, version: 1, attempts: Vec::new(), claimed: Vec::new() };
        self.advance_from(&tenant, &run_id, false, Some(created)).await.map(drop).map_err(AdvanceError::into_inner)
    }

    /// One advance, from `created` when given (a run just written, version 1; or not yet written,
    /// version 0, which the save then creates); otherwise from the store.
    async fn advance_from(&self, tenant: &str, run_id: &str, recover: bool, mut created: Option<LoadedRun>) -> Result<Saved, AdvanceError> {
        let lock = self.locks.get(run_id);
        let _guard = lock.lock().await;
        for _ in 0..50 {
            let mut loaded = match created.take() {
                Some(created) => created,
                None => match self.runs.load(tenant, run_id).await? {
                    Some(loaded) => loaded,
                    None => return Ok(Saved::Nothing),
                },
            };
            if loaded.run.status.is_terminal() {
                return Ok(Saved::Nothing);
            }
            let creating = loaded.version == 0;
            let now = self.clock.now_ms();
            let before = statuses_of_remembered(&loaded.run);
            let mut decision = self.decide(&mut loaded, now).await?;
            let inlined = self.run_inline(&mut loaded, &mut decision).await?;
            let now = if inlined.is_empty() { now } else { self.clock.now_ms() };
            let redispatch = self.stale_dispatches(&loaded, now, recover);
            if !creating && !decision.changed && redispatch.is_empty() && decision.dispatches.is_empty() {
                return Ok(Saved::Nothing);
            }
            for d in &redispatch {
                if let Some(st) = loaded.run.steps.get_mut(&d.step_id) {
                    st.dispatched_at_ms = Some(now);
                }
            }
            let mut records =
                records_for_events(&loaded.run, &decision.failures, &loaded.attempts, self.failures.retention_days, &classify_error);
            // The day index first: it may then name a day without records, never miss one.
            self.failures.note_days(&records).await?;
            let mut ops = self.inline_records(&loaded.run, &inlined).await?;
            let in_save = records.split_off(records.len().saturating_sub(MAX_RECORDS_IN_SAVE.saturating_sub(ops.len())));
            for r in records {
                self.failures.store.put(r.item(), Condition::Always).await?;
            }
            ops.extend(puts(&in_save));
            let (mut extra, late_evidence) = self.with_evidence(&loaded, &before, &decision.failures, ops, now);
            let saved = if creating {
                match self.runs.create_with(&loaded.run, std::mem::take(&mut extra)).await? {
                    Created::New => Saved::Created(Created::New, loaded.run.status),
                    other => return Ok(Saved::Created(other, loaded.run.status)),
                }
            } else {
                match self.runs.save_with(&loaded.run, loaded.version, std::mem::take(&mut extra)).await {
                    Ok(_) => Saved::Existing,
                    Err(StoreError::ConditionFailed) => continue,
                    Err(e) => return Err(DomainError::from(e).into()),
                }
            };
            let status = loaded.run.status;
            self.after_save(tenant, run_id, loaded, decision, redispatch, inlined, late_evidence, now)
                .await
                .map_err(|e| AdvanceError::AfterCommit(e, status))?;
            return Ok(saved);
        }
        Err(DomainError::Conflict(format!("run {run_id} is being changed concurrently; will retry")).into())
    }

    /// What follows a committed save: counts, recovery evidence, dispatches, the wake-up at the
    /// deadline, and for a finished run its waiters and kept view.
    #[allow(clippy::too_many_arguments)] // the advance's parts, moved out of its loop
    async fn after_save(
        &self,
        tenant: &str,
        run_id: &str,
        loaded: LoadedRun,
        mut decision: Decision,
        mut redispatch: Vec<Dispatch>,
        inlined: Vec<AttemptRecord>,
        late_evidence: Vec<WriteOp>,
        now: i64,
    ) -> Result<(), DomainError> {
        count(&loaded.run, &decision.failures, &loaded.attempts);
        for record in &inlined {
            if let Some(m) = &record.failure {
                telemetry::attempt_classified(&record.skill, m);
            }
        }
        self.add_late_evidence(late_evidence).await;
        decision.dispatches.append(&mut redispatch);
        let used = loaded.attempts.iter().map(|a| a.output_bytes).sum::<u64>();
        self.dispatch(&loaded.run, decision.dispatches, used).await?;
        // A run that started and finished in this advance needs no wake-up at its deadline.
        if let Some(at) = decision.wake_at_ms.filter(|_| !loaded.run.status.is_terminal()) {
            self.wake_at(tenant, run_id, at.saturating_sub(now)).await?;
        }
        if loaded.run.status.is_terminal() {
            tracing::info!(tenant, run_id, status = loaded.run.status.as_str(), "run finished");
            if let Some(views) = &self.views {
                keep_view(views, tenant, run_id, loaded);
            }
            self.finished.finish(run_id);
        }
        Ok(())
    }

    /// Runs the decision's pure attempts inline (see the module's docs), advancing the engine over
    /// their outcomes until it asks for none, or the advance's inline budget is spent; the attempts
    /// it asks for then stay in `decision.dispatches`, for the queues. So does an attempt that did
    /// not finish in the short time it was given inline or found the sandbox
    /// busy: its outcome is dropped, unseen, and its worker runs it with the step's whole timeout
    /// ([`INLINE_ATTEMPT_MS`]).
    /// Returns the records of the attempts run, which are in `loaded.attempts` too.
    async fn run_inline(&self, loaded: &mut LoadedRun, decision: &mut Decision) -> Result<Vec<AttemptRecord>, DomainError> {
        let started = Instant::now();
        let mut inlined: Vec<AttemptRecord> = Vec::new();
        let mut to_queue = Vec::new();
        loop {
            let mut now_inline = Vec::new();
            for d in std::mem::take(&mut decision.dispatches) {
                let room = inlined.len() + now_inline.len() < MAX_INLINE_ATTEMPTS && started.elapsed() < INLINE_TIME;
                // An attempt whose record a crashed advance already wrote (see
                // INLINE_RECORD_IN_SAVE_BYTES) is not run again: the engine takes its outcome as it
                // would a worker's, in the next round.
                let recorded = loaded.attempts.iter().any(|a| a.step_id == d.step_id && a.attempt == d.attempt);
                if room && self.runs_inline(&d) {
                    now_inline.push((d, recorded));
                } else {
                    to_queue.push(d);
                }
            }
            if now_inline.is_empty() {
                decision.dispatches = to_queue;
                return Ok(inlined);
            }
            let used = loaded.attempts.iter().map(|a| a.output_bytes).sum::<u64>();
            let left = self.limits.run_bytes.saturating_sub(used).min(self.limits.step_bytes);
            let run: &Run = &loaded.run;
            let runs = now_inline.iter().map(|(d, recorded)| async move {
                if *recorded {
                    return None;
                }
                let mut task = task(run, d.clone(), left);
                task.timeout_ms = task.timeout_ms.min(self.inline_attempt_ms);
                Some(self.exec.attempt(&task).await)
            });
            let records = futures::future::join_all(runs).await;
            for ((d, _), record) in now_inline.into_iter().zip(records) {
                match record {
                    None => {}
                    Some(r) if d.timeout_ms > self.inline_attempt_ms && unfinished(&r) => to_queue.push(d),
                    Some(r) => {
                        telemetry::step_finished(&r.skill, r.duration_ms);
                        loaded.attempts.push(r.clone());
                        inlined.push(r);
                    }
                }
            }
            let later = self.decide(loaded, self.clock.now_ms()).await?;
            decision.merge(later);
        }
    }

    /// Whether the orchestrator runs this attempt itself: a fresh attempt (not delayed) of a pure,
    /// deterministic skill this process executes, with no secret and a timeout of at most
    /// [`INLINE_MAX_TIMEOUT_MS`] (a step given longer is expected to be slow); or one whose
    /// template did not resolve, which runs nothing.
    fn runs_inline(&self, d: &Dispatch) -> bool {
        let Some(skill) = self.skills.get(&d.skill) else { return false };
        if d.delay_ms > 0 || self.inline_attempt_ms == 0 {
            return false;
        }
        match &d.input {
            Err(_) => true,
            Ok(input) => {
                skill.executed_here()
                    && skill.spec().replayable()
                    && skill.side_effects_of(input) == aos_core::skill::SideEffects::None
                    && d.secrets.is_empty()
                    && d.timeout_ms <= INLINE_MAX_TIMEOUT_MS
            }
        }
    }

    /// The writes of the inline attempts' records for the run's save; a record too large for the
    /// transaction is written now, before it.
    async fn inline_records(&self, run: &Run, inlined: &[AttemptRecord]) -> Result<Vec<WriteOp>, DomainError> {
        let mut ops = Vec::new();
        for record in inlined {
            let (step, attempt) = (record.step_id.as_str(), record.attempt);
            let item = AttemptItem::Done { record: record.clone() };
            let item = RunRepo::attempt_item(&run.tenant, &run.run_id, step, attempt, &item)?;
            // The run's version condition makes the save exclusive: the record is the attempt's.
            if record.output_bytes as usize + record.input.to_string().len() <= INLINE_RECORD_IN_SAVE_BYTES {
                ops.push(WriteOp::Put { item, condition: Condition::Always });
            } else {
                self.runs.store.put_relaxed(item, Condition::Always).await?;
            }
        }
        Ok(ops)
    }

    /// The writes of a save: `ops` (the failure records) and the recovery evidence of the decision,
    /// as much of it as fits in the save's transaction (counted exactly once with the decision);
    /// the rest, which takes dozens of parallel steps recovering at once, is added after the save
    /// (at most once: a crash in between loses it).
    fn with_evidence(
        &self,
        loaded: &crate::runs::LoadedRun,
        before: &BTreeMap<String, StepStatus>,
        events: &[FailureEvent],
        mut ops: Vec<WriteOp>,
        now: i64,
    ) -> (Vec<WriteOp>, Vec<WriteOp>) {
        let run = &loaded.run;
        let finished = run.status.is_terminal();
        let mut observations = aos_core::evidence::observations(run, events, &loaded.attempts, finished, &classify_error);
        let default_timeout = |skill: &str| RegistryEnv::new(&self.skills, &HashMap::new()).default_timeout_ms(skill);
        if !run.previous_failures.is_empty() {
            observations.extend(aos_core::evidence::rerun_observations(run, before, &default_timeout, now));
        }
        let mut remember = crate::recovery::reruns::ops(run, events, &default_timeout, self.evidence_keep_days, now);
        if !run.applied_policies.is_empty() {
            let window = self.recovery_window_ms;
            remember.extend(crate::recovery::policies::outcome_ops(
                run,
                &loaded.attempts,
                before,
                self.evidence_keep_days,
                window,
                now,
                &classify_error,
            ));
        }
        if observations.is_empty() && remember.is_empty() {
            return (ops, Vec::new());
        }
        let mut evidence = crate::recovery::evidence::ops(&run.tenant, &observations, self.evidence_keep_days);
        evidence.extend(remember);
        let room = MAX_OPS_IN_SAVE.saturating_sub(ops.len());
        let late = evidence.split_off(evidence.len().min(room));
        ops.extend(evidence);
        (ops, late)
    }

    async fn add_late_evidence(&self, ops: Vec<WriteOp>) {
        for op in ops {
            let written = match op {
                WriteOp::Add { item, counters } => self.failures.store.add(item, counters).await,
                WriteOp::Put { item, condition } => self.failures.store.put(item, condition).await.map(drop),
                WriteOp::Delete { pk, sk, condition } => self.failures.store.delete(&pk, &sk, condition).await,
                WriteOp::Check { .. } => Ok(()),
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, "could not add recovery evidence");
            }
        }
    }

    /// The engine's decision, with the step conditions it asks for evaluated in the jq sandbox
    /// in between (each round settles at least one condition, so this ends).
    async fn decide(&self, loaded: &mut LoadedRun, now: i64) -> Result<Decision, DomainError> {
        let mut conditions = HashMap::new();
        let mut decision = advance(&mut loaded.run, &loaded.attempts, now, &RegistryEnv::new(&self.skills, &conditions));
        while !decision.conditions.is_empty() {
            for request in std::mem::take(&mut decision.conditions) {
                let result = crate::conditions::evaluate(&request, &loaded.run.tenant).await.map_err(|e| {
                    DomainError::Conflict(format!("condition of step `{}` not evaluated yet: {e}; will retry", request.step_id))
                })?;
                conditions.insert(request.step_id, result);
            }
            let later = advance(&mut loaded.run, &loaded.attempts, now, &RegistryEnv::new(&self.skills, &conditions));
            decision.merge(later);
        }
        Ok(decision)
    }

    /// Running attempts without an outcome whose dispatch is overdue (or all of them on recovery).
    fn stale_dispatches(&self, loaded: &crate::runs::LoadedRun, now: i64, recover: bool) -> Vec<Dispatch> {
        let run = &loaded.run;
        let mut out = Vec::new();
        for (id, st) in &run.steps {
            if st.status != aos_core::run::StepStatus::Running
                || loaded.attempts.iter().any(|a| &a.step_id == id && a.attempt == st.attempt)
            {
                continue;
            }
            let Some(step) = run.plan.step(id) else { continue };
            let timeout = step.timeout_ms.unwrap_or_else(|| RegistryEnv::new(&self.skills, &HashMap::new()).default_timeout_ms(&st.skill));
            let due = st.due_at_ms.unwrap_or(0).max(st.dispatched_at_ms.unwrap_or(0));
            if !recover && now < due.saturating_add(i64::try_from(timeout).unwrap_or(i64::MAX)).saturating_add(REDISPATCH_GRACE_MS) {
                continue;
            }
            let outputs = self.outputs(loaded);
            let (input, secrets) = dispatch_input(step_input(run, step, st.fallback, &outputs));
            out.push(Dispatch {
                step_id: id.clone(),
                attempt: st.attempt,
                skill: st.skill.clone(),
                fallback: st.fallback,
                input,
                secrets,
                delay_ms: st.due_at_ms.unwrap_or(now).saturating_sub(now).max(0) as u64,
                timeout_ms: timeout,
                cost_limit_usd: run.plan.budget.max_cost_usd.map(|m| (m - run.cost_usd).max(0.0)),
            });
        }
        out
    }

    fn outputs(&self, loaded: &crate::runs::LoadedRun) -> std::collections::HashMap<String, Value> {
        let by_key = loaded.attempts.iter().map(|a| ((a.step_id.as_str(), a.attempt), a)).collect();
        aos_core::engine::final_outputs(&loaded.run, &by_key)
    }

    /// Sends each dispatch to its skill's queue; `used_bytes` is what the run's attempts already
    /// returned, so each attempt may return at most what is left of the run's output limit.
    async fn dispatch(&self, run: &aos_core::run::Run, dispatches: Vec<Dispatch>, used_bytes: u64) -> Result<(), DomainError> {
        let left = self.limits.run_bytes.saturating_sub(used_bytes).min(self.limits.step_bytes);
        for d in dispatches {
            let delay = Duration::from_millis(d.delay_ms);
            let task = task(run, d, left);
            let body = serde_json::to_string(&task).map_err(|e| DomainError::Storage(e.to_string()))?;
            let msg = OutgoingMessage::new(body).delayed(delay);
            self.queue.send(&skill_queue(&task.skill), vec![msg]).await.map_err(|e| DomainError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Asks for an `Advance` of the run after `delay_ms` (capped by the queue's maximum delay; the
    /// orchestrator re-arms on each wake-up).
    pub async fn wake_at(&self, tenant: &str, run_id: &str, delay_ms: i64) -> Result<(), DomainError> {
        let delay = Duration::from_millis(delay_ms.clamp(0, aos_core::retry::MAX_DELAY_MS as i64) as u64);
        send_advance(self.queue.as_ref(), tenant, run_id, delay).await
    }

    /// Re-advances every unfinished run; with `recover`, re-dispatches in-flight attempts too.
    /// A run whose record is corrupt is reported once, when first found, and marked as such on
    /// its active marker; later sweeps still try it (so a restored record is picked up again)
    /// but say nothing more about it.
    pub async fn sweep(&self, recover: bool) -> Result<usize, DomainError> {
        let active = self.runs.active_runs().await?;
        for marker in &active {
            let (tenant, run_id) = (marker.tenant.as_str(), marker.run_id.as_str());
            let result = if recover { self.recover(tenant, run_id).await } else { self.advance(tenant, run_id, false).await };
            match (result, marker.corrupt_since_ms) {
                (Ok(()), None) => {}
                (Ok(()), Some(_)) => {
                    tracing::info!(tenant, run_id, "the run's record reads again: it is advanced as usual");
                    self.runs.mark_corrupt(marker, None).await;
                }
                (Err(DomainError::Corrupt(error)), None) => {
                    tracing::error!(tenant, run_id, error, "the run's record is corrupt: it cannot advance until the record is restored (docs/operations.md, \"Damaged storage\"); later sweeps skip it quietly");
                    self.runs.mark_corrupt(marker, Some(self.clock.now_ms())).await;
                }
                (Err(DomainError::Corrupt(error)), Some(since)) => {
                    tracing::debug!(tenant, run_id, error, corrupt_since_ms = since, "run still corrupt")
                }
                (Err(e), _) => tracing::warn!(tenant, run_id, error = %e, "sweep could not advance run"),
            }
        }
        Ok(active.len())
    }

    /// Advances a run after a restart. The run carries a count of recoveries begun and not
    /// finished, persisted before the advance: if advancing it ever brings the process down,
    /// the next starts see the count grow, and at [`MAX_RECOVERIES`] the run is failed with
    /// `RUN_POISONED` rather than advanced again, so one run cannot hold every restart hostage.
    pub async fn recover(&self, tenant: &str, run_id: &str) -> Result<(), DomainError> {
        for _ in 0..50 {
            let Some(mut loaded) = self.runs.load(tenant, run_id).await? else { return Ok(()) };
            if loaded.run.status.is_terminal() {
                return Ok(());
            }
            if loaded.run.recoveries >= MAX_RECOVERIES {
                let error = StepError::new(
                    "RUN_POISONED",
                    aos_core::Category::Permanent,
                    false,
                    format!("the run was being advanced when the server stopped {} times in a row; it is failed instead of being advanced again", loaded.run.recoveries),
                );
                let now = self.clock.now_ms();
                let decision = aos_core::engine::fail_run(
                    &mut loaded.run,
                    &loaded.attempts,
                    now,
                    error,
                    &RegistryEnv::new(&self.skills, &HashMap::new()),
                );
                let records =
                    records_for_events(&loaded.run, &decision.failures, &loaded.attempts, self.failures.retention_days, &classify_error);
                self.failures.note_days(&records).await?;
                let before = statuses_of_remembered(&loaded.run);
                let (extra, late_evidence) = self.with_evidence(&loaded, &before, &decision.failures, puts(&records), now);
                return match self.runs.save_with(&loaded.run, loaded.version, extra).await {
                    Ok(_) => {
                        self.add_late_evidence(late_evidence).await;
                        self.finished.finish(run_id);
                        tracing::warn!(tenant, run_id, "run failed as poisoned after repeated recoveries");
                        Ok(())
                    }
                    Err(StoreError::ConditionFailed) => continue,
                    Err(e) => Err(e.into()),
                };
            }
            loaded.run.recoveries += 1;
            match self.runs.save_with(&loaded.run, loaded.version, Vec::new()).await {
                Ok(_) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            self.advance(tenant, run_id, true).await?;
            // Survived: clear the count (unless the run finished or someone else saved it).
            if let Some(mut after) = self.runs.load(tenant, run_id).await? {
                if after.run.recoveries > 0 && !after.run.status.is_terminal() {
                    after.run.recoveries = 0;
                    let _ = self.runs.save_with(&after.run, after.version, Vec::new()).await;
                }
            }
            return Ok(());
        }
        Err(DomainError::Conflict(format!("run {run_id} is being changed concurrently; will retry")))
    }
}

/// Whether an inline attempt's outcome says it did not get to finish in the time it was given
/// inline (or could not start), rather than anything about the attempt itself.
fn unfinished(record: &AttemptRecord) -> bool {
    record.outcome.error().is_some_and(|e| match e.code.as_str() {
        "STEP_TIMEOUT" | "JQ_SANDBOX_BUSY" => true,
        "JQ_LIMIT_EXCEEDED" => e.details.get("limit").and_then(Value::as_str) == Some("time"),
        _ => false,
    })
}

/// The task of a dispatched attempt, as a worker receives it (and the inline path runs it);
/// `max_output_bytes` is what is left of the run's output limit.
fn task(run: &Run, d: Dispatch, max_output_bytes: u64) -> StepTask {
    let (input, template_error) = StepTask::input_fields(d.input);
    StepTask {
        v: STEP_TASK_VERSION,
        tenant: run.tenant.clone(),
        run_id: run.run_id.clone(),
        step_id: d.step_id,
        attempt: d.attempt,
        skill: d.skill,
        fallback: d.fallback,
        input,
        template_error,
        timeout_ms: d.timeout_ms,
        seed: run.seed,
        logical_time_ms: run.created_at_ms,
        cost_limit_usd: d.cost_limit_usd,
        secrets: d.secrets,
        max_output_bytes: Some(max_output_bytes),
    }
}

/// The statuses of the steps the run remembers an earlier failure of, and of the steps recovery
/// policies changed (empty for most runs).
fn statuses_of_remembered(run: &Run) -> BTreeMap<String, StepStatus> {
    run.previous_failures
        .keys()
        .chain(run.applied_policies.iter().map(|a| &a.step_id))
        .filter_map(|id| Some((id.clone(), run.steps.get(id)?.status)))
        .collect()
}

/// Metrics of a saved decision: finished runs, recoveries started and recoveries that succeeded.
fn count(run: &Run, events: &[FailureEvent], attempts: &[AttemptRecord]) {
    if run.status.is_terminal() {
        telemetry::run_finished(run.status.as_str());
    }
    for event in events {
        match event {
            FailureEvent::Failed(note) => {
                if let Some(mode) = note.recovery {
                    telemetry::recovery_attempted(mode.as_str(), note.failure.code.as_deref().unwrap_or(&note.error.code));
                }
            }
            FailureEvent::Recovered { step_id, attempts: recovered, succeeded: true, .. } => {
                for (n, mode) in recovered {
                    let rec = attempts.iter().find(|a| &a.step_id == step_id && a.attempt == *n);
                    let code = rec.and_then(|r| {
                        r.failure.as_ref().and_then(|f| f.code.clone()).or_else(|| r.outcome.error().map(|e| e.code.clone()))
                    });
                    telemetry::recovery_succeeded(mode.as_str(), code.as_deref().unwrap_or("unknown"));
                }
            }
            FailureEvent::Recovered { .. } => {}
        }
    }
}

pub async fn send_advance(queue: &dyn Queue, tenant: &str, run_id: &str, delay: Duration) -> Result<(), DomainError> {
    let body = serde_json::to_string(&Advance::new(tenant, run_id)).map_err(|e| DomainError::Storage(e.to_string()))?;
    queue.send(ORCHESTRATOR_QUEUE, vec![OutgoingMessage::new(body).delayed(delay)]).await.map_err(|e| DomainError::Storage(e.to_string()))
}

/// Keeps the raw view of a run this advance finished, when it is settled (as the store would
/// answer it: the run as saved and every attempt record, see `service::runs::view_of`).
fn keep_view(views: &crate::views::SettledViews, tenant: &str, run_id: &str, loaded: LoadedRun) {
    let (view, settled) = crate::service::view_of(loaded);
    if !settled {
        return;
    }
    match serde_json::to_vec(&view) {
        Ok(body) => views.put(tenant, run_id, false, body.into()),
        Err(e) => tracing::warn!(run_id, error = %e, "could not serialize the finished run's view"),
    }
}
