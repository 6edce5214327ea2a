//! The skill port: a self-describing unit of work. The runtime gives a skill its resolved input
//! and a deterministic context (time and randomness derived from seed, step and attempt), and, for
//! skills that keep data or hold credentials, a [`TenantScope`]: the run's tenant's view of the
//! store and of its secrets, from which no input can reach another tenant's.

use crate::outcome::{Category, StepError};
use crate::ports::{Condition, Item, Page, Query, Secrets, SkRange, Store, StoreError, WriteOp};
use crate::rng::SeededRng;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// Does running the skill change the world outside AOS?
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideEffects {
    /// Pure: may be re-executed freely (replay re-runs it).
    None,
    /// Reads the outside world but changes nothing (e.g. GET). Never repeated by replay.
    Read,
    /// Changes the outside world. Never executed twice for one attempt; never repeated by replay.
    Write,
}

/// Is the output a function of the input and context alone?
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Determinism {
    Deterministic,
    NonDeterministic,
}

/// How the skill's cost and latency are estimated when there is no history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CostModel {
    /// USD per call.
    pub usd_per_call: f64,
    pub latency_ms_p50: u64,
    pub latency_ms_p95: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FailureMode {
    pub code: String,
    pub category: Category,
    pub retryable: bool,
    pub description: String,
}

/// What a skill says about itself at `GET /api/v1/skills/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SkillSpec {
    pub id: String,
    pub version: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    #[schema(value_type = Object)]
    pub output_schema: Value,
    pub side_effects: SideEffects,
    pub determinism: Determinism,
    pub cost_model: CostModel,
    /// Default per-attempt timeout when the step gives none.
    pub default_timeout_ms: u64,
    pub failure_modes: Vec<FailureMode>,
    /// JSON pointers of the input fields where a plan may reference `{{ secrets.NAME }}` (the
    /// field and everything inside it, e.g. `/headers`). Anywhere else a secret reference is
    /// refused (`PLAN_SECRET_NOT_ALLOWED`): a skill that could compute on a secret (a transform)
    /// could also encode it past redaction, so only fields that hand the secret to the outside
    /// world as it is take one. Empty: the skill takes no secrets.
    #[serde(default)]
    pub secret_fields: Vec<String>,
}

impl SkillSpec {
    /// May a secret be referenced at `pointer` (an RFC 6901 pointer into the input)?
    pub fn accepts_secret_at(&self, pointer: &str) -> bool {
        self.secret_fields.iter().any(|f| pointer == f || pointer.strip_prefix(f.as_str()).is_some_and(|rest| rest.starts_with('/')))
    }

    /// Replay may re-execute this skill and expect identical output.
    pub fn replayable(&self) -> bool {
        self.side_effects == SideEffects::None && self.determinism == Determinism::Deterministic
    }
}

/// The deterministic context of one attempt.
#[derive(Debug)]
pub struct SkillContext {
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub seed: u64,
    /// Logical time in ms since the epoch: the run's creation time, identical on replay.
    pub logical_time_ms: i64,
    /// This attempt's time limit in ms (a duration, counted from when the skill is called). Skills
    /// use it for their own timeouts; the runtime enforces it too.
    pub timeout_ms: u64,
    /// A stable idempotency key for side effects of this attempt (`run/step/attempt`).
    pub idempotency_key: String,
    /// The run's tenant, for sharing resources fairly between tenants (e.g. the jq sandbox's
    /// workers); empty when the caller has none. Not an input: it must not change an output.
    pub tenant: String,
    rng: Mutex<SeededRng>,
    /// What the attempt may reach beyond its input (the worker sets it; replay and tests of pure
    /// skills have none).
    scope: Option<Arc<TenantScope>>,
}

impl SkillContext {
    pub fn new(run_id: &str, step_id: &str, attempt: u32, seed: u64, logical_time_ms: i64, timeout_ms: u64) -> Self {
        Self {
            run_id: run_id.to_string(),
            step_id: step_id.to_string(),
            attempt,
            seed,
            logical_time_ms,
            timeout_ms,
            idempotency_key: format!("{run_id}/{step_id}/{attempt}"),
            tenant: String::new(),
            rng: Mutex::new(SeededRng::derive(seed, step_id, attempt, "skill")),
            scope: None,
        }
    }

    /// The context with `scope`, whose tenant becomes the context's.
    pub fn with_scope(mut self, scope: Arc<TenantScope>) -> Self {
        self.tenant = scope.tenant.clone();
        self.scope = Some(scope);
        self
    }

    /// The tenant's store and secrets for this attempt, or `SKILL_RESOURCES_UNAVAILABLE` when the
    /// caller gave none (a skill that needs them is never replayed, so only a misbuilt caller).
    pub fn scope(&self) -> Result<&TenantScope, StepError> {
        self.scope.as_deref().ok_or_else(|| {
            StepError::new(
                "SKILL_RESOURCES_UNAVAILABLE",
                Category::Permanent,
                false,
                "this skill needs the tenant's store and secrets, which the caller did not provide",
            )
        })
    }

    /// The context for a run of `tenant`.
    pub fn for_tenant(mut self, tenant: &str) -> Self {
        self.tenant = tenant.to_string();
        self
    }

    /// The next value of this attempt's seeded generator.
    pub fn random_u64(&self) -> u64 {
        self.rng.lock().expect("rng lock").next_u64()
    }
}

/// A successful skill result: output and the cost it incurred.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillOutput {
    pub output: Value,
    pub cost_usd: f64,
}

#[async_trait]
pub trait Skill: Send + Sync {
    fn spec(&self) -> &SkillSpec;
    /// The side effects of one invocation, which may be milder than the skill's declared class
    /// (an HTTP GET only reads). `Write` invocations are claimed before they run, so a redelivered
    /// message never repeats them.
    fn side_effects_of(&self, _input: &Value) -> SideEffects {
        self.spec().side_effects
    }
    /// Does this process execute the skill (false: it only declares it, for validation and
    /// orchestration, and the skill's own function executes it)?
    fn executed_here(&self) -> bool {
        true
    }
    /// Runs one attempt. Errors are data: return a `StepError`, never panic (the runtime turns a
    /// panic into a `SKILL_PANIC` outcome anyway).
    async fn execute(&self, ctx: &SkillContext, input: Value) -> Result<SkillOutput, StepError>;
}

/// The set of skills a deployment offers, looked up by id.
#[derive(Default, Clone)]
pub struct SkillRegistry {
    skills: Vec<std::sync::Arc<dyn Skill>>,
}

impl SkillRegistry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, skill: std::sync::Arc<dyn Skill>) {
        self.skills.retain(|s| s.spec().id != skill.spec().id);
        self.skills.push(skill);
    }
    pub fn get(&self, id: &str) -> Option<&std::sync::Arc<dyn Skill>> {
        self.skills.iter().find(|s| s.spec().id == id)
    }
    pub fn specs(&self) -> Vec<&SkillSpec> {
        let mut v: Vec<&SkillSpec> = self.skills.iter().map(|s| s.spec()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

/// The run's tenant's resources, as one attempt of one skill sees them. The worker builds it from
/// the deployment's ports; the tenant and the skill are fixed then, and every key the skill names
/// is placed under `t#<tenant>#sd#<skill>#`, so a skill can reach neither another tenant's data nor
/// the runtime's own records (runs, keys, failures), whatever its input says. Secret values read
/// through it are remembered, so the worker masks them in the outcome like the plan's secrets.
pub struct TenantScope {
    tenant: String,
    skill: String,
    store: Arc<dyn Store>,
    secrets: Arc<dyn Secrets>,
    revealed: Mutex<Vec<String>>,
}

impl std::fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantScope").field("tenant", &self.tenant).field("skill", &self.skill).finish_non_exhaustive()
    }
}

impl TenantScope {
    pub fn new(tenant: &str, skill: &str, store: Arc<dyn Store>, secrets: Arc<dyn Secrets>) -> Self {
        Self { tenant: tenant.to_string(), skill: skill.to_string(), store, secrets, revealed: Mutex::new(Vec::new()) }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The tenant's secret `name`. The value is remembered for redaction.
    pub async fn secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        let value = self.secrets.get(&self.tenant, name).await?;
        if let Some(v) = &value {
            self.revealed.lock().expect("revealed lock").push(v.clone());
        }
        Ok(value)
    }

    /// Every secret value read through this scope so far.
    pub fn revealed(&self) -> Vec<String> {
        self.revealed.lock().expect("revealed lock").clone()
    }

    /// The skill's own partition `pk` of the tenant, as the store names it.
    fn key(&self, pk: &str) -> String {
        format!("t#{}#sd#{}#{pk}", self.tenant, self.skill)
    }

    /// An item as the skill sees it: its own partition name, no index key.
    fn unscoped(&self, mut item: Item) -> Item {
        let prefix = self.key("");
        if let Some(rest) = item.pk.strip_prefix(&prefix) {
            item.pk = rest.to_string();
        }
        item.gsi1 = None;
        item
    }

    fn scoped(&self, mut item: Item) -> Item {
        item.pk = self.key(&item.pk);
        // The index is the runtime's (a tenant's runs, attempts, workflows): skills do not write it.
        item.gsi1 = None;
        item
    }

    /// The item at (`pk`, `sk`) of the skill's data, unless absent or expired.
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        Ok(self.store.get(&self.key(pk), sk).await?.map(|i| self.unscoped(i)))
    }

    pub async fn put(&self, item: Item, condition: Condition) -> Result<u64, StoreError> {
        self.store.put(self.scoped(item), condition).await
    }

    pub async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.store.delete(&self.key(pk), sk, condition).await
    }

    /// Items of one of the skill's partitions, in sort-key order, paginated.
    pub async fn query(&self, pk: &str, sk: SkRange, limit: usize, cursor: Option<String>) -> Result<Page, StoreError> {
        let page = self.store.query(Query { pk: self.key(pk), sk, limit, cursor, descending: false }).await?;
        Ok(Page { items: page.items.into_iter().map(|i| self.unscoped(i)).collect(), next: page.next })
    }

    /// All operations or none, each on the skill's data.
    pub async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                WriteOp::Put { item, condition } => WriteOp::Put { item: self.scoped(item), condition },
                WriteOp::Delete { pk, sk, condition } => WriteOp::Delete { pk: self.key(&pk), sk, condition },
                WriteOp::Check { pk, sk, condition } => WriteOp::Check { pk: self.key(&pk), sk, condition },
                WriteOp::Add { item, counters } => WriteOp::Add { item: self.scoped(item), counters },
            })
            .collect();
        self.store.transact_write(ops).await
    }
}

/// Convenience for skills: a validation failure of the skill's own input.
pub fn input_error(message: impl Into<String>) -> StepError {
    StepError::new("SKILL_INPUT_INVALID", Category::Validation, false, message)
}
