//! Runs through the facade: validation and submission, reading a run back as its execution
//! context (at once or by long polling), listing, cancelling, replaying and simulating.

use super::Runtime;
use crate::orchestrator::send_advance;
use crate::replay::{replay, ReplayReport};
use crate::runs::{Created, LoadedRun, RunFilter};
use crate::simulate::{estimate_step, simulate, Simulation, HISTORY_WINDOW};
use aos_core::plan::Plan;
use aos_core::policy::{compile, AppliedPolicy, PolicyStatus};
use aos_core::run::{AttemptRecord, PreviousFailure, Run, RunStatus, StepState, WorkflowRef};
use aos_core::validate::{validate_inputs, validate_plan, ValidationContext};
use aos_core::{DomainError, FieldError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// An inline plan. Give either `plan` or `workflow`.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// A saved workflow's name.
    #[serde(default)]
    pub workflow: Option<String>,
    /// The workflow version; the latest when absent.
    #[serde(default)]
    #[schema(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub version: Option<u32>,
    /// The run's inputs, a JSON object; `{}` when absent or null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
    /// The same key returns the same run instead of starting a second one: 1 to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub idempotency_key: Option<String>,
    /// Fix the run's seed (below 2^53) for reproducibility; random when absent.
    #[serde(default)]
    #[schema(maximum = 9007199254740991_u64)]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    pub run_id: String,
    /// The run's status when the submission was answered. In one process the first advance is
    /// committed with the run, so a plan of pure steps can answer `succeeded` or `failed`; an
    /// earlier run's (same idempotency key) status as it is now.
    pub status: RunStatus,
    /// False when an earlier run with the same idempotency key was returned.
    pub created: bool,
}

/// One step of a run's execution context: its state and every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub step_id: String,
    #[serde(flatten)]
    pub state: StepState,
    /// The output of the step's final successful attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    pub attempts: Vec<AttemptRecord>,
}

/// `GET /api/v1/runs/{id}`: the whole execution context.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    /// Steps in plan order.
    pub step_details: Vec<StepView>,
}

pub const MAX_SEED: u64 = (1 << 53) - 1;

/// A run to create, checked: from a submission, a rerun or a redrive.
pub(super) struct NewRun {
    /// The plan as submitted (recovery policies not compiled in yet).
    pub plan: Plan,
    pub workflow: Option<WorkflowRef>,
    pub inputs: Value,
    pub idempotency_key: Option<String>,
    pub seed: Option<u64>,
    pub rerun_of: Option<String>,
    pub redrive: Option<super::redrive::Seeds>,
}

impl Runtime {
    pub async fn validate(&self, tenant: &str, plan: &Plan) -> Result<(), DomainError> {
        if plan.steps.len() > aos_core::validate::MAX_STEPS {
            // Refused before any other work (secret names, jq compilation).
            return validate_plan(
                plan,
                &ValidationContext { skills: &self.ports.skills, secret_names: &HashSet::new(), check_jq: &|_| Ok(()) },
            )
            .map_err(DomainError::Invalid);
        }
        let names: HashSet<String> = if aos_core::validate::names_a_secret(plan) {
            self.ports.secrets.names(tenant).await?.into_iter().collect()
        } else {
            HashSet::new()
        };
        // Conditions and literal jq programs (json_transform's `expr`) are compiled in the jq sandbox,
        // all in one round trip: compiling is user code too.
        let mut programs = aos_core::validate::jq_programs(plan);
        programs.sort();
        programs.dedup();
        let compiled: HashMap<String, Result<(), String>> = if programs.is_empty() {
            HashMap::new()
        } else {
            let results = aos_jq::sandbox::check(&programs).await;
            if let Some(busy) = results.iter().find_map(|r| r.as_ref().err().filter(|e| matches!(e, aos_jq::JqError::Busy { .. }))) {
                return Err(DomainError::Conflict(format!("jq programs could not be compiled now ({}); retry", busy.message())));
            }
            programs.into_iter().zip(results).map(|(c, r)| (c, r.map_err(|e| e.message().to_string()))).collect()
        };
        let check = |expr: &str| compiled.get(expr).cloned().unwrap_or(Ok(()));
        let cx = ValidationContext { skills: &self.ports.skills, secret_names: &names, check_jq: &check };
        validate_plan(plan, &cx).map_err(DomainError::Invalid)
    }

    /// The plan compiled with the tenant's active recovery policies, what they changed, and what
    /// its shadow policies would have changed. A compiled plan that does not validate (a policy
    /// that no longer fits, e.g. a fallback skill gone) is not used: the run gets the plan as
    /// submitted. Policies are read through a cache of a few seconds.
    async fn with_policies(
        &self,
        tenant: &str,
        plan: Plan,
        previous: &BTreeMap<String, PreviousFailure>,
    ) -> (Plan, Vec<AppliedPolicy>, Vec<AppliedPolicy>) {
        if plan.policies == aos_core::policy::PolicyMode::Off {
            return (plan, Vec::new(), Vec::new());
        }
        let policies = match self.recovery.policies().cached(tenant, self.clock.now_ms()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "could not read the recovery policies; the run starts without them");
                return (plan, Vec::new(), Vec::new());
            }
        };
        let known: BTreeMap<String, Vec<String>> = previous.iter().map(|(id, p)| (id.clone(), p.codes.clone())).collect();
        if policies.is_empty() || known.is_empty() {
            return (plan, Vec::new(), Vec::new());
        }
        let rules = |status| policies.iter().filter(|p| p.status == status).map(|p| p.rule()).collect::<Vec<_>>();
        let skills = self.ports.skills.clone();
        let default_timeout = move |skill: &str| skills.get(skill).map_or(30_000, |s| s.spec().default_timeout_ms);
        let (_, shadow) = compile(&plan, &rules(PolicyStatus::Shadow), &known, &default_timeout);
        let (compiled, applied) = compile(&plan, &rules(PolicyStatus::Active), &known, &default_timeout);
        if applied.is_empty() {
            return (plan, applied, shadow);
        }
        match self.validate(tenant, &compiled).await {
            Ok(()) => (compiled, applied, shadow),
            Err(e) => {
                tracing::warn!(tenant, error = %e, "the plan compiled with recovery policies does not validate; the run starts without them");
                (plan, Vec::new(), shadow)
            }
        }
    }

    /// Starts a run. A refused submission (422) is recorded as a failure with no run.
    pub async fn submit(&self, tenant: &str, req: SubmitRun) -> Result<Submitted, DomainError> {
        let (plan, workflow) = match (req.plan, req.workflow) {
            (Some(plan), None) => (plan, None),
            (None, Some(name)) => match self.workflows.get(tenant, &name, req.version).await? {
                Some(wf) => (wf.plan, Some(WorkflowRef { name: wf.name, version: wf.version })),
                None => {
                    let missing = format!("no workflow `{name}`{}", req.version.map(|v| format!(" version {v}")).unwrap_or_default());
                    return Err(self
                        .rejected(tenant, DomainError::invalid(FieldError::new("WORKFLOW_NOT_FOUND", missing).field("workflow")), None)
                        .await);
                }
            },
            _ => {
                return Err(self
                    .rejected(
                        tenant,
                        DomainError::invalid(
                            FieldError::new("RUN_PLAN_REQUIRED", "give exactly one of `plan` or `workflow`").field("plan"),
                        ),
                        None,
                    )
                    .await)
            }
        };
        let inputs = req.inputs.unwrap_or_else(|| Value::Object(Default::default()));
        if let Err(e) = self.check_submission(tenant, &plan, &inputs, req.idempotency_key.as_deref(), req.seed).await {
            return Err(self.rejected(tenant, e, Some(&plan)).await);
        }
        let new = NewRun { plan, workflow, inputs, idempotency_key: req.idempotency_key, seed: req.seed, rerun_of: None, redrive: None };
        self.start_run(tenant, new).await
    }

    /// Creates a run (checked already) and sends its first advance: a submission's, a rerun's or
    /// a redrive's. The tenant's recovery policies compile into the plan here, except into the
    /// steps a redrive keeps, which stay exactly as they ran.
    pub(super) async fn start_run(&self, tenant: &str, new: NewRun) -> Result<Submitted, DomainError> {
        let NewRun { plan, workflow, inputs, idempotency_key, seed, rerun_of, redrive } = new;
        let run_id = format!("r_{}", uuid::Uuid::now_v7().simple());
        let previous_failures = crate::recovery::reruns::previous_failures(self.ports.store.as_ref(), tenant, &plan, workflow.as_ref())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(tenant, error = %e, "could not read the plan's earlier failures; the run starts without them");
                Default::default()
            });
        let (mut plan, mut applied_policies, mut shadow_policies) = self.with_policies(tenant, plan, &previous_failures).await;
        let mut steps: BTreeMap<String, StepState> = plan.steps.iter().map(|s| (s.id.clone(), StepState::pending(&s.skill))).collect();
        let (mut redrive_of, mut seeded_steps, mut patched_steps, mut seeded) = (None, Vec::new(), Vec::new(), Vec::new());
        if let Some(r) = redrive {
            for kept in r.kept {
                applied_policies.retain(|a| a.step_id != kept.step.id);
                shadow_policies.retain(|a| a.step_id != kept.step.id);
                applied_policies.extend(kept.applied);
                seeded_steps.push(kept.step.id.clone());
                steps.insert(kept.step.id.clone(), kept.state);
                if let Some(slot) = plan.steps.iter_mut().find(|s| s.id == kept.step.id) {
                    *slot = kept.step;
                }
            }
            (redrive_of, patched_steps, seeded) = (Some(r.of), r.patched, r.attempts);
        }
        let run = Run {
            run_id: run_id.clone(),
            tenant: tenant.to_string(),
            plan,
            inputs,
            seed: seed.unwrap_or_else(|| rand::random::<u64>() & MAX_SEED),
            status: RunStatus::Queued,
            created_at_ms: self.clock.now_ms(),
            started_at_ms: None,
            finished_at_ms: None,
            workflow,
            idempotency_key,
            steps,
            cost_usd: 0.0,
            error: None,
            failure: None,
            cancel_requested: false,
            trace: Vec::new(),
            trace_root: None,
            recoveries: 0,
            previous_failures,
            applied_policies,
            shadow_policies,
            rerun_of,
            redrive_of,
            seeded_steps,
            patched_steps,
        };
        // A redrive's kept attempts exist before its run does; not when the key already stands
        // for a run (which `create` then returns).
        let key_taken = match &run.idempotency_key {
            Some(key) if !seeded.is_empty() => self.runs.idempotency_taken(tenant, key).await?,
            _ => false,
        };
        if !seeded.is_empty() && !key_taken {
            self.runs.put_seeded_attempts(tenant, &run_id, &seeded).await?;
        }
        if seeded.is_empty() {
            if let Some(submitted) = self.create_and_start(&run).await? {
                return Ok(submitted);
            }
        }
        match self.runs.create(&run).await? {
            Created::Mismatch(id) => Err(idempotency_mismatch(&id)),
            Created::Existing(id) => self.earlier_run(tenant, id).await,
            Created::New => {
                // A redrive's run has attempts already: its first advance reads them.
                self.start(tenant, &run_id, if seeded.is_empty() { Some(run) } else { None }).await;
                Ok(Submitted { run_id, status: RunStatus::Queued, created: true })
            }
        }
    }

    /// The answer for the earlier run an idempotency key stands for: its id and status now.
    async fn earlier_run(&self, tenant: &str, id: String) -> Result<Submitted, DomainError> {
        let status = self.runs.get(tenant, &id).await?.map(|(r, _)| r.status).unwrap_or(RunStatus::Queued);
        Ok(Submitted { run_id: id, status, created: false })
    }

    /// In one process, creates a new run (not a redrive) together with its first advance, in one
    /// transaction, before the submission is answered: a chain of pure steps is then written
    /// once, finished. The advance runs in a task of its own (a caller that goes away does not
    /// stop it halfway), one of [`MAX_STARTING`](super::MAX_STARTING) at once. `None` when this
    /// does not apply (another topology, no room, a key used before) or the advance failed
    /// before its commit: the run is then created the usual way, and nothing of this attempt
    /// remains.
    async fn create_and_start(&self, run: &Run) -> Result<Option<Submitted>, DomainError> {
        if !self.topology.hands_off_inline() {
            return Ok(None);
        }
        let Ok(permit) = self.starting.clone().try_acquire_owned() else { return Ok(None) };
        // A key used before answers with its run, as `create` does; its check is one read.
        if let Some(key) = &run.idempotency_key {
            if self.runs.idempotency_taken(&run.tenant, key).await? {
                return Ok(None);
            }
        }
        let orchestrator = self.orchestrator.clone();
        let created = run.clone();
        let advanced = tokio::spawn(async move {
            let _permit = permit;
            orchestrator.create_and_advance(created).await
        });
        let run_id = run.run_id.clone();
        match advanced.await {
            Ok(Ok((Created::New, status))) => Ok(Some(Submitted { run_id, status, created: true })),
            Ok(Ok((Created::Existing(id), _))) => self.earlier_run(&run.tenant, id).await.map(Some),
            Ok(Ok((Created::Mismatch(id), _))) => Err(idempotency_mismatch(&id)),
            Ok(Err(e)) => {
                tracing::debug!(run_id, error = %e, "the run's first advance failed before it was created; it is created first");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(run_id, error = %e, "the run's first advance did not complete; it is created first");
                Ok(None)
            }
        }
    }

    /// Starts a new run's first advance: in one process, in a task of its own when there is room
    /// ([`MAX_STARTING`](super::MAX_STARTING) at once; no queue round trip); otherwise, or when that advance fails,
    /// through an `Advance` message. If the send is lost (a crash), the sweeper finds the run
    /// through its active marker.
    /// `created` is the run as it was just written, when it has no attempts yet (the advance then
    /// starts from it instead of reading it back).
    async fn start(&self, tenant: &str, run_id: &str, created: Option<Run>) {
        if self.topology.hands_off_inline() {
            if let Ok(permit) = self.starting.clone().try_acquire_owned() {
                let (orchestrator, queue) = (self.orchestrator.clone(), self.ports.queue.clone());
                let (tenant, run_id) = (tenant.to_string(), run_id.to_string());
                tokio::spawn(async move {
                    let _permit = permit;
                    let advanced = match created {
                        Some(run) => orchestrator.advance_created(run).await,
                        None => orchestrator.advance(&tenant, &run_id, false).await,
                    };
                    if let Err(e) = advanced {
                        tracing::debug!(run_id, error = %e, "first advance failed; it goes through the queue");
                        if let Err(e) = send_advance(queue.as_ref(), &tenant, &run_id, Duration::ZERO).await {
                            tracing::warn!(run_id, error = %e, "advance not sent; the sweeper will pick the run up");
                        }
                    }
                });
                return;
            }
        }
        if let Err(e) = send_advance(self.ports.queue.as_ref(), tenant, run_id, Duration::ZERO).await {
            tracing::warn!(run_id, error = %e, "advance not sent; the sweeper will pick the run up");
        }
    }

    pub(super) async fn check_submission(
        &self,
        tenant: &str,
        plan: &Plan,
        inputs: &Value,
        idempotency_key: Option<&str>,
        seed: Option<u64>,
    ) -> Result<(), DomainError> {
        self.validate(tenant, plan).await?;
        validate_inputs(plan, inputs).map_err(DomainError::Invalid)?;
        if idempotency_key.is_some_and(|key| key.is_empty() || key.chars().count() > 200) {
            return Err(DomainError::invalid(
                FieldError::new("INVALID_IDEMPOTENCY_KEY", "idempotency_key must be 1 to 200 characters").field("idempotency_key"),
            ));
        }
        if seed.is_some_and(|s| s > MAX_SEED) {
            return Err(DomainError::invalid(FieldError::new("INVALID_SEED", "seed must be below 2^53").field("seed")));
        }
        Ok(())
    }

    /// Records a refused submission as a failure, then hands its error back.
    async fn rejected(&self, tenant: &str, e: DomainError, plan: Option<&Plan>) -> DomainError {
        if let DomainError::Invalid(errors) = &e {
            self.failures.record_rejection(tenant, errors, plan).await;
        }
        e
    }

    /// Records a request body that did not even parse as a submission (HTTP 422 `INVALID_FIELD`).
    pub async fn record_rejected_body(&self, tenant: &str, message: &str, field: &str) {
        let error = FieldError::new("INVALID_FIELD", message).field(field);
        self.failures.record_rejection(tenant, &[error], None).await;
    }

    pub async fn get(&self, tenant: &str, run_id: &str) -> Result<RunView, DomainError> {
        Ok(self.get_settled(tenant, run_id).await?.0)
    }

    /// The run's view, and whether it is **settled**: finished, with a record for every attempt it
    /// ever dispatched and none claimed, so nothing will change it again (a late attempt of a
    /// failed or cancelled run still writes its record; such a run is not settled until then).
    /// A settled view may be kept and served again as it is ([`crate::views`]).
    pub async fn get_settled(&self, tenant: &str, run_id: &str) -> Result<(RunView, bool), DomainError> {
        let loaded = self.runs.load(tenant, run_id).await?.ok_or_else(|| DomainError::NotFound(format!("run {run_id}")))?;
        Ok(view_of(loaded))
    }

    /// The run's view as JSON (redacted for viewers when `redacted`): once it has finished, or as
    /// it is when `wait` (capped at the deployment's [`LongPoll::max_wait`](super::LongPoll)) has
    /// passed by the runtime's clock; `wait` zero answers at once. A settled run's view comes from
    /// [`crate::views`] when it is there, and is kept there when it was not. Finishing in this
    /// process wakes the caller at once (and keeps the view it finished with); a run finished
    /// elsewhere is seen at the next read, one every [`LongPoll::interval`](super::LongPoll).
    pub async fn get_view_json(&self, tenant: &str, run_id: &str, wait: Duration, redacted: bool) -> Result<Bytes, DomainError> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let deadline = self.clock.now_ms().saturating_add(ms(wait.min(self.long_poll.max_wait)));
        loop {
            if let Some(body) = self.views.get(tenant, run_id, redacted) {
                return Ok(body);
            }
            let notify = self.finished().subscribe(run_id);
            let notified = notify.notified();
            let (mut view, settled) = self.get_settled(tenant, run_id).await?;
            let now = self.clock.now_ms();
            if view.run.status.is_terminal() || now >= deadline {
                if redacted {
                    crate::redact::for_viewer(&mut view);
                }
                let body = Bytes::from(serde_json::to_vec(&view).map_err(|e| DomainError::Storage(e.to_string()))?);
                if settled {
                    self.views.put(tenant, run_id, redacted, body.clone());
                }
                return Ok(body);
            }
            let next_read = now.saturating_add(ms(self.long_poll.interval)).min(deadline);
            tokio::select! {
                _ = notified => {}
                _ = self.clock.sleep_until(next_read) => {}
            }
        }
    }

    pub async fn list(
        &self,
        tenant: &str,
        filter: &RunFilter,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Run>, Option<String>), DomainError> {
        self.runs.list(tenant, filter, limit, cursor).await
    }

    pub async fn cancel(&self, tenant: &str, run_id: &str) -> Result<RunStatus, DomainError> {
        for _ in 0..20 {
            let (mut run, version) = self.runs.get(tenant, run_id).await?.ok_or_else(|| DomainError::NotFound(format!("run {run_id}")))?;
            if run.status.is_terminal() {
                return Err(DomainError::InvalidState {
                    code: "RUN_ALREADY_FINISHED",
                    message: format!("run {run_id} already finished ({})", run.status.as_str()),
                });
            }
            run.cancel_requested = true;
            match self.runs.save(&run, version).await {
                Ok(_) => {
                    self.orchestrator.advance(tenant, run_id, false).await?;
                    return Ok(self.runs.get(tenant, run_id).await?.map(|(r, _)| r.status).unwrap_or(RunStatus::Cancelled));
                }
                Err(aos_core::ports::StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict("run is changing too fast to cancel; retry".into()))
    }

    pub async fn replay(&self, tenant: &str, run_id: &str) -> Result<ReplayReport, DomainError> {
        let loaded = self.runs.load(tenant, run_id).await?.ok_or_else(|| DomainError::NotFound(format!("run {run_id}")))?;
        if !loaded.run.status.is_terminal() {
            return Err(DomainError::InvalidState {
                code: "RUN_NOT_FINISHED",
                message: format!("run {run_id} has not finished ({}); replay verifies finished runs", loaded.run.status.as_str()),
            });
        }
        Ok(replay(&loaded, &self.worker).await)
    }

    pub async fn simulate(&self, tenant: &str, plan: &Plan) -> Result<Simulation, DomainError> {
        self.validate(tenant, plan).await?;
        let mut estimates = HashMap::new();
        let mut history: HashMap<&str, Vec<AttemptRecord>> = HashMap::new();
        for s in &plan.steps {
            if !history.contains_key(s.skill.as_str()) {
                let h = self.runs.skill_history(tenant, &s.skill, HISTORY_WINDOW).await?;
                history.insert(&s.skill, h);
            }
            let spec = self.ports.skills.get(&s.skill).expect("validated skill").spec();
            estimates.insert(s.id.clone(), estimate_step(&s.id, spec, &history[s.skill.as_str()]));
        }
        Ok(simulate(plan, estimates))
    }
}

/// The view of a loaded run, and whether it is settled (see [`Runtime::get_settled`]).
fn idempotency_mismatch(id: &str) -> DomainError {
    DomainError::InvalidState {
        code: "IDEMPOTENCY_MISMATCH",
        message: format!("idempotency_key was already used for run {id} with a different plan or inputs; use a new key"),
    }
}

pub(crate) fn view_of(loaded: LoadedRun) -> (RunView, bool) {
    let settled = loaded.run.status.is_terminal()
        && loaded.claimed.is_empty()
        && loaded
            .run
            .steps
            .iter()
            .all(|(id, st)| st.attempt == 0 || loaded.attempts.iter().any(|a| a.step_id == *id && a.attempt == st.attempt));
    let mut by_step: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for a in loaded.attempts {
        by_step.entry(a.step_id.clone()).or_default().push(a);
    }
    let run = loaded.run;
    let step_details = run
        .plan
        .steps
        .iter()
        .filter_map(|s| {
            let state = run.steps.get(&s.id)?.clone();
            let mut attempts = by_step.remove(&s.id).unwrap_or_default();
            attempts.sort_by_key(|a| a.attempt);
            let output = attempts
                .iter()
                .find(|a| a.attempt == state.attempt && state.status == aos_core::run::StepStatus::Succeeded)
                .and_then(|a| a.outcome.output().cloned());
            Some(StepView { step_id: s.id.clone(), state, output, attempts })
        })
        .collect();
    (RunView { run, step_details }, settled)
}
