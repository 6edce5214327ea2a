//! Recovery suggestions and their review: `POST /api/v1/recovery/suggest` ranks what to do about a
//! failure from the catalog's advice and the tenant's history, and proposes the good ones as
//! candidates; `/api/v1/recovery/candidates[...]` lists them and records people's decisions
//! (approve, reject, retire), each an audit event. The tenant is the caller's.

use crate::auth::{need, Auth, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_runtime::recovery::candidates::{CandidateFilter, CandidateStatus, Decision, RecoveryCandidate};
use aos_runtime::recovery::policies::{Policy, RecoverySettingsView};
use aos_runtime::recovery::{SuggestRequest, SuggestResponse};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .api(api_routes!(suggest_recovery))
        .api(api_routes!(list_recovery_candidates))
        .api(api_routes!(get_recovery_candidate))
        .api(api_routes!(approve_recovery_candidate))
        .api(api_routes!(reject_recovery_candidate))
        .api(api_routes!(retire_recovery_candidate))
        .api(api_routes!(get_recovery_settings, put_recovery_settings))
        .api(api_routes!(list_policies))
        .api(api_routes!(get_policy))
        .api(api_routes!(disable_policy))
}

/// What to do about a failure: the catalog's match and the recoveries worth trying, best first by
/// the lower bound of their success chance, learned from the tenant's history (Beta-Binomial,
/// decayed; `docs/recovery.md`). Give a stored failure's id, or the failure's facts. Suggestions
/// with enough history, a lower bound past the threshold and a concrete step patch are proposed as
/// recovery candidates (their ids in `candidates`).
#[utoipa::path(post, path = "/api/v1/recovery/suggest", tag = "recovery", request_body = SuggestRequest,
    responses((status = 200, body = SuggestResponse), (status = 400, body = ErrorBody),
        (status = 404, description = "No failure with this id (`NOT_FOUND`).", body = ErrorBody),
        (status = 422, description = "A field is not acceptable (`INVALID_FIELD`, `UNKNOWN_SKILL`; `details.field` names it).", body = ErrorBody)))]
async fn suggest_recovery(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryRead>,
    ApiJson(req): ApiJson<SuggestRequest>,
) -> Result<Json<SuggestResponse>, ApiError> {
    Ok(Json(s.rt.suggest_recovery(auth.tenant(), &req).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCandidatesQuery {
    pub status: Option<CandidateStatus>,
    /// A catalog code (`HTTP_SERVICE_UNAVAILABLE`) or `sig:<signature>`.
    #[param(min_length = 1, max_length = 200)]
    pub code: Option<String>,
    #[param(min_length = 1, max_length = 100)]
    pub skill: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (with the same filters).
    #[param(pattern = "^rc_[0-9a-f]{16}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCandidateList {
    /// In id order.
    pub candidates: Vec<RecoveryCandidate>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The tenant's recovery candidates, filtered by status, code and skill.
#[utoipa::path(get, path = "/api/v1/recovery/candidates", tag = "recovery", params(ListCandidatesQuery),
    responses((status = 200, body = RecoveryCandidateList), (status = 400, body = ErrorBody),
        (status = 422, description = "The cursor is not valid (`INVALID_CURSOR`).", body = ErrorBody)))]
async fn list_recovery_candidates(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryRead>,
    ApiQuery(q): ApiQuery<ListCandidatesQuery>,
) -> Result<Json<RecoveryCandidateList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit must be between 1 and 200", "limit"));
    }
    for (name, value, max) in [("code", &q.code, 200), ("skill", &q.skill, 100)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.chars().count() > max) {
            return Err(ApiError::bad_request("INVALID_QUERY", format!("{name} must be 1 to {max} characters"), name));
        }
    }
    let filter = CandidateFilter { status: q.status, code: q.code, skill: q.skill };
    let (mut candidates, next_cursor) = s.rt.recovery_candidates(auth.tenant(), &filter, limit, q.cursor.as_deref()).await?;
    for c in &mut candidates {
        redact_for(&auth, c);
    }
    Ok(Json(RecoveryCandidateList { candidates, next_cursor }))
}

/// Callers without `runs:read_raw` (viewers) see the candidates' example messages redacted: they
/// come from failures whose messages may carry data of the runs.
fn redact_for<P>(auth: &Auth<P>, c: &mut RecoveryCandidate) {
    if !auth.may(Permission::RunsReadRaw) {
        for e in &mut c.examples {
            e.message = aos_runtime::redact::REDACTED.to_string();
        }
    }
}

/// One recovery candidate, with its decisions.
#[utoipa::path(get, path = "/api/v1/recovery/candidates/{id}", tag = "recovery",
    params(("id" = String, Path, description = "Candidate id (`rc_` and 16 hex digits)")),
    responses((status = 200, body = RecoveryCandidate), (status = 404, body = ErrorBody)))]
async fn get_recovery_candidate(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryRead>,
    Path(id): Path<String>,
) -> Result<Json<RecoveryCandidate>, ApiError> {
    let mut c = s.rt.recovery_candidate(auth.tenant(), &id).await?;
    redact_for(&auth, &mut c);
    Ok(Json(c))
}

/// A decision's note.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionNote {
    /// Why (kept with the decision and in the audit log).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

async fn decide<P>(
    s: &AppState,
    auth: &Auth<P>,
    id: &str,
    decision: Decision,
    note: DecisionNote,
) -> Result<Json<RecoveryCandidate>, ApiError> {
    let note = note.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let actor = auth.principal.actor();
    let mut c = s.rt.decide_recovery_candidate(auth.tenant(), id, decision, &actor, auth.principal.role.as_str(), note).await?;
    redact_for(auth, &mut c);
    Ok(Json(c))
}

/// Approve a pending candidate (with an optional note).
#[utoipa::path(post, path = "/api/v1/recovery/candidates/{id}/approve", tag = "recovery", request_body = DecisionNote,
    params(("id" = String, Path, description = "Candidate id")),
    responses((status = 200, body = RecoveryCandidate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The candidate is not pending (`CANDIDATE_STATE_CONFLICT`).", body = ErrorBody),
        (status = 422, description = "The note is too long (`INVALID_NOTE`).", body = ErrorBody)))]
async fn approve_recovery_candidate(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryReview>,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<DecisionNote>,
) -> Result<Json<RecoveryCandidate>, ApiError> {
    decide(&s, &auth, &id, Decision::Approve, note).await
}

/// Reject a pending candidate (with an optional note).
#[utoipa::path(post, path = "/api/v1/recovery/candidates/{id}/reject", tag = "recovery", request_body = DecisionNote,
    params(("id" = String, Path, description = "Candidate id")),
    responses((status = 200, body = RecoveryCandidate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The candidate is not pending (`CANDIDATE_STATE_CONFLICT`).", body = ErrorBody),
        (status = 422, description = "The note is too long (`INVALID_NOTE`).", body = ErrorBody)))]
async fn reject_recovery_candidate(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryReview>,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<DecisionNote>,
) -> Result<Json<RecoveryCandidate>, ApiError> {
    decide(&s, &auth, &id, Decision::Reject, note).await
}

/// Retire an approved candidate (with an optional note).
#[utoipa::path(post, path = "/api/v1/recovery/candidates/{id}/retire", tag = "recovery", request_body = DecisionNote,
    params(("id" = String, Path, description = "Candidate id")),
    responses((status = 200, body = RecoveryCandidate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The candidate is not approved (`CANDIDATE_STATE_CONFLICT`).", body = ErrorBody),
        (status = 422, description = "The note is too long (`INVALID_NOTE`).", body = ErrorBody)))]
async fn retire_recovery_candidate(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryReview>,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<DecisionNote>,
) -> Result<Json<RecoveryCandidate>, ApiError> {
    decide(&s, &auth, &id, Decision::Retire, note).await
}

/// The tenant's automatic approval of recovery candidates: `off` (people decide), `shadow`
/// (candidates past the thresholds become shadow policies: runs record what they would have
/// changed) or `active` (approved automatically and applied), with the thresholds.
#[utoipa::path(get, path = "/api/v1/recovery/settings", tag = "recovery",
    responses((status = 200, body = RecoverySettingsView)))]
async fn get_recovery_settings(State(s): State<AppState>, auth: Auth<need::RecoveryRead>) -> Result<Json<RecoverySettingsView>, ApiError> {
    Ok(Json(s.rt.recovery_settings(auth.tenant()).await?))
}

/// Change the tenant's automatic-approval settings (audited).
#[utoipa::path(put, path = "/api/v1/recovery/settings", tag = "recovery", request_body = RecoverySettingsView,
    responses((status = 200, body = RecoverySettingsView), (status = 400, body = ErrorBody),
        (status = 422, description = "A threshold out of range (`INVALID_FIELD` naming it).", body = ErrorBody)))]
async fn put_recovery_settings(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryReview>,
    ApiJson(body): ApiJson<RecoverySettingsView>,
) -> Result<Json<RecoverySettingsView>, ApiError> {
    let actor = auth.principal.actor();
    Ok(Json(s.rt.put_recovery_settings(auth.tenant(), body, &actor, auth.principal.role.as_str()).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// In id order, with each policy's outcomes of the last 7 days.
    pub policies: Vec<Policy>,
}

/// The tenant's recovery policies: approved candidates compiled into plans at submission.
#[utoipa::path(get, path = "/api/v1/policies", tag = "recovery",
    responses((status = 200, body = PolicyList)))]
async fn list_policies(State(s): State<AppState>, auth: Auth<need::RecoveryRead>) -> Result<Json<PolicyList>, ApiError> {
    Ok(Json(PolicyList { policies: s.rt.recovery_policies(auth.tenant()).await? }))
}

/// One recovery policy with its history and outcomes.
#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "recovery",
    params(("id" = String, Path, description = "Policy id (`pol_` and 16 hex digits)")),
    responses((status = 200, body = Policy), (status = 404, body = ErrorBody)))]
async fn get_policy(State(s): State<AppState>, auth: Auth<need::RecoveryRead>, Path(id): Path<String>) -> Result<Json<Policy>, ApiError> {
    Ok(Json(s.rt.recovery_policy(auth.tenant(), &id).await?))
}

/// Disable a policy (active, shadow or suspended): runs stop taking it. Audited.
#[utoipa::path(post, path = "/api/v1/policies/{id}/disable", tag = "recovery", request_body = DecisionNote,
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, body = Policy), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The policy is already disabled (`POLICY_STATE_CONFLICT`).", body = ErrorBody),
        (status = 422, description = "The note is too long (`INVALID_NOTE`).", body = ErrorBody)))]
async fn disable_policy(
    State(s): State<AppState>,
    auth: Auth<need::RecoveryReview>,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<DecisionNote>,
) -> Result<Json<Policy>, ApiError> {
    let note = note.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::from(aos_core::DomainError::invalid(
            aos_core::FieldError::new("INVALID_NOTE", "note must be at most 1000 characters").field("note"),
        )));
    }
    let actor = auth.principal.actor();
    Ok(Json(s.rt.disable_policy(auth.tenant(), &id, &actor, auth.principal.role.as_str(), note).await?))
}
