//! The single-table key layout. Every tenant-owned key starts with `t#<tenant>#`, so no access
//! pattern can reach another tenant's items. Documented in `docs/architecture.md`.

pub fn run_pk(tenant: &str, run_id: &str) -> String {
    format!("t#{tenant}#run#{run_id}")
}
pub const RUN_SK: &str = "run";
pub fn attempt_sk(step_id: &str, attempt: u32) -> String {
    format!("att#{step_id}#{attempt:04}")
}
pub const ATTEMPT_PREFIX: &str = "att#";
/// Index partition listing a tenant's runs by creation time.
pub fn runs_index_pk(tenant: &str) -> String {
    format!("t#{tenant}#runs")
}
pub fn runs_index_sk(created_at_ms: i64, run_id: &str) -> String {
    format!("{created_at_ms:013}#{run_id}")
}
/// Index partition of a tenant's finished attempts of one skill, by finish time (simulation history).
pub fn skill_history_pk(tenant: &str, skill: &str) -> String {
    format!("t#{tenant}#skill#{skill}")
}
pub fn skill_history_sk(finished_at_ms: i64, run_id: &str, step_id: &str, attempt: u32) -> String {
    format!("{finished_at_ms:013}#{run_id}#{step_id}#{attempt:04}")
}
pub fn idempotency_pk(tenant: &str, key: &str) -> String {
    format!("t#{tenant}#idem#{key}")
}
pub const IDEMPOTENCY_SK: &str = "idem";
/// Unfinished runs, sharded so no single partition gets hot; the sweeper re-advances them.
pub const ACTIVE_SHARDS: u32 = 8;
pub fn active_pk(shard: u32) -> String {
    format!("active#{shard}")
}
pub fn active_shard(run_id: &str) -> u32 {
    run_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % ACTIVE_SHARDS
}
pub fn workflow_pk(tenant: &str, name: &str) -> String {
    format!("t#{tenant}#wf#{name}")
}
pub fn workflow_sk(version: u32) -> String {
    format!("v#{version:06}")
}
pub fn workflows_index_pk(tenant: &str) -> String {
    format!("t#{tenant}#workflows")
}
pub fn api_key_pk(key_hash: &str) -> String {
    format!("apikey#{key_hash}")
}
pub const API_KEY_SK: &str = "key";
pub fn tenant_keys_pk(tenant: &str) -> String {
    format!("t#{tenant}#keys")
}
/// A tenant's failure records of one UTC day (`yyyy-mm-dd`): a time range is a few partition
/// queries, and no partition grows past one day of one tenant's failures.
pub fn failures_pk(tenant: &str, day: &str) -> String {
    format!("t#{tenant}#fail#{day}")
}
/// `<at_ms>#<subject>#<step>#<attempt>`: time order within the day, and one key per failure so
/// that writing it again (a redelivered advance) overwrites instead of duplicating. The subject is
/// the run id (or the id of a rejected submission); the step is `*` for a run's own failure.
pub fn failure_sk(at_ms: i64, subject: &str, step: &str, attempt: u32) -> String {
    format!("{at_ms:013}#{subject}#{step}#{attempt:04}")
}
/// Stands for "no step" in failure keys; never a step id (those are letters, digits, `_`, `-`).
pub const NO_STEP: &str = "*";
/// A tenant's audit log, ordered by time.
pub fn audit_pk(tenant: &str) -> String {
    format!("t#{tenant}#audit")
}
/// Platform-level index of the tenants that had failures on one UTC day (`yyyy-mm-dd`): one item
/// per tenant, sort key = the tenant. Read only by the failure aggregation, which runs over all
/// tenants; it holds tenant names, never tenant data.
pub fn failure_days_pk(day: &str) -> String {
    format!("faildays#{day}")
}
/// A tenant's latest catalog candidates: a `head` item and `g#<generation>#<rank>` items.
pub fn failure_candidates_pk(tenant: &str) -> String {
    format!("t#{tenant}#failcand")
}
/// The platform-wide candidates export (every tenant's failures, with tenant counts): never
/// served to a tenant.
pub const PLATFORM_CANDIDATES_PK: &str = "failcand#platform";
/// A tenant's recovery evidence about one failure (catalog code, or `sig:<signature>`): one item
/// per skill, action and UTC day, sort key [`evidence_sk`], so a suggestion reads one partition.
pub fn evidence_pk(tenant: &str, code: &str) -> String {
    format!("t#{tenant}#evid#{code}")
}
/// `<skill>#<action key>#<day>`; the skill is a registered skill id (letters, digits, `_`).
pub fn evidence_sk(skill: &str, action_key: &str, day: &str) -> String {
    format!("{skill}#{action_key}#{day}")
}
/// A tenant's recovery candidates, sort key = the candidate's id.
pub fn recovery_candidates_pk(tenant: &str) -> String {
    format!("t#{tenant}#rcand")
}
/// The last final failure of each step of one plan (`plan:<name>`) or workflow (`wf:<name>`) of
/// a tenant, sort key = the step id: a later run of the same plan compares against it.
pub fn last_failures_pk(tenant: &str, plan: &str) -> String {
    format!("t#{tenant}#lastfail#{plan}")
}
/// A tenant's recovery policies, sort key = the policy's id.
pub fn policies_pk(tenant: &str) -> String {
    format!("t#{tenant}#policy")
}
/// Outcomes of the steps one policy changed: counters per UTC day (sort key `yyyy-mm-dd`).
pub fn policy_stats_pk(tenant: &str, policy_id: &str) -> String {
    format!("t#{tenant}#polstat#{policy_id}")
}
/// A tenant's recovery settings (automatic approval), sort key [`RECOVERY_SETTINGS_SK`].
pub fn recovery_settings_pk(tenant: &str) -> String {
    format!("t#{tenant}#rsettings")
}
pub const RECOVERY_SETTINGS_SK: &str = "settings";
/// A tenant's latest drift evaluation, sort key [`DRIFT_SK`].
pub fn drift_pk(tenant: &str) -> String {
    format!("t#{tenant}#drift")
}
pub const DRIFT_SK: &str = "latest";
