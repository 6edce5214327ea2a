//! The other resources through the facade: workflows, secrets, the skills registry and recorded
//! failures (listing, statistics, catalog candidates and the aggregation that computes them).

use super::Runtime;
use crate::failures::aggregate::{AggregateOptions, AggregateRun, CandidatePage, CandidateReport};
use crate::failures::query::{FailureFilter, TimeRange};
use crate::failures::record::FailureRecord;
use crate::failures::stats::FailureStats;
use crate::workflows::Workflow;
use aos_core::plan::Plan;
use aos_core::skill::SkillSpec;
use aos_core::{DomainError, FieldError};

impl Runtime {
    /// Saves `plan` (validated) as the next version of workflow `name`.
    pub async fn save_workflow(&self, tenant: &str, name: &str, plan: Plan) -> Result<Workflow, DomainError> {
        if name.is_empty() || name.len() > 100 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(DomainError::invalid(
                FieldError::new("INVALID_WORKFLOW_NAME", "workflow name must be 1-100 letters, digits, `_` or `-`").field("name"),
            ));
        }
        self.validate(tenant, &plan).await?;
        self.workflows.create(tenant, name, plan).await
    }

    /// Every version of every workflow of the tenant, by name then version.
    pub async fn list_workflows(&self, tenant: &str) -> Result<Vec<Workflow>, DomainError> {
        self.workflows.list(tenant).await
    }

    /// One workflow version (the latest when `version` is `None`); `NotFound` when there is none.
    pub async fn workflow(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Workflow, DomainError> {
        self.workflows.get(tenant, name, version).await?.ok_or_else(|| DomainError::NotFound(format!("workflow {name}")))
    }

    /// Creates or replaces a secret.
    pub async fn put_secret(&self, tenant: &str, name: &str, value: &str) -> Result<(), DomainError> {
        if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(DomainError::invalid(
                FieldError::new("INVALID_SECRET_NAME", "secret name must be 1-128 letters, digits or `_`").field("name"),
            ));
        }
        Ok(self.ports.secrets.put(tenant, name, value).await?)
    }

    /// The names of the tenant's secrets, sorted (never their values).
    pub async fn secret_names(&self, tenant: &str) -> Result<Vec<String>, DomainError> {
        let mut names = self.ports.secrets.names(tenant).await?;
        names.sort();
        Ok(names)
    }

    /// Every skill this deployment offers.
    pub fn skill_specs(&self) -> Vec<SkillSpec> {
        self.ports.skills.specs().into_iter().cloned().collect()
    }

    /// One skill's description; `NotFound` when the deployment has no such skill.
    pub fn skill_spec(&self, id: &str) -> Result<SkillSpec, DomainError> {
        self.ports.skills.get(id).map(|s| s.spec().clone()).ok_or_else(|| DomainError::NotFound(format!("skill {id}")))
    }

    /// Whether this deployment's registry has the skill `id`.
    pub fn has_skill(&self, id: &str) -> bool {
        self.ports.skills.get(id).is_some()
    }

    /// A page of the tenant's failures, newest first.
    pub async fn list_failures(
        &self,
        tenant: &str,
        range: &TimeRange,
        filter: &FailureFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<FailureRecord>, Option<String>), DomainError> {
        self.failures.list(tenant, range, filter, limit, cursor).await
    }

    /// Statistics of the tenant's failures in `range`, bucketed by `bucket_ms`.
    pub async fn failure_stats(
        &self,
        tenant: &str,
        range: &TimeRange,
        bucket_ms: i64,
        filter: &FailureFilter,
    ) -> Result<FailureStats, DomainError> {
        self.failures.stats(tenant, range, bucket_ms, filter).await
    }

    /// A page of the tenant's latest catalog candidates.
    pub async fn failure_candidates(&self, tenant: &str, limit: usize, cursor: Option<&str>) -> Result<CandidatePage, DomainError> {
        self.failures.candidates(tenant, limit, cursor).await
    }

    /// The aggregation the deployment schedules (nightly): every tenant, with the configured days
    /// and threshold, as of now by the runtime's clock.
    /// Each tenant's recovery candidates are proposed from its failures of the same window.
    pub async fn aggregate_failures(&self) -> Result<AggregateRun, DomainError> {
        let now = self.clock.now_ms();
        let mut run = self.failures.aggregate(&self.settings.aggregate, now, None).await?;
        run.summary.recovery_candidates = self.propose_recovery_candidates(&run.tenants, run.summary.window, now).await?;
        Ok(run)
    }

    async fn propose_recovery_candidates(
        &self,
        tenants: &[String],
        window: crate::failures::aggregate::AggregationWindow,
        now: i64,
    ) -> Result<usize, DomainError> {
        let range = TimeRange::new(Some(window.from_ms), Some(window.to_ms), now, 0)?;
        let mut proposed = 0;
        for tenant in tenants {
            let ids = self.recovery.propose_from_failures(tenant, &range, now).await?;
            proposed += ids.len();
            self.after_proposals(tenant, &ids).await?;
        }
        tracing::info!(tenants = tenants.len(), proposed, "recovery candidates proposed");
        self.drift_pass(tenants).await?;
        Ok(proposed)
    }

    /// An aggregation asked for by `tenant` (`POST /api/v1/failures/aggregate`): every tenant, with
    /// the given days and threshold or else the configured ones; returns the caller's own result.
    pub async fn aggregate_failures_for(
        &self,
        tenant: &str,
        days: Option<u32>,
        low_confidence: Option<f64>,
    ) -> Result<CandidateReport, DomainError> {
        let mut opts = AggregateOptions::new(days, low_confidence)?;
        if days.is_none() {
            opts.days = self.settings.aggregate.days;
        }
        if low_confidence.is_none() {
            opts.fold.low_confidence = self.settings.aggregate.fold.low_confidence;
        }
        let now = self.clock.now_ms();
        let run = self.failures.aggregate(&opts, now, Some(tenant)).await?;
        self.propose_recovery_candidates(&run.tenants, run.summary.window, now).await?;
        run.requested.ok_or_else(|| DomainError::Storage("the caller's result is missing".into()))
    }
}
