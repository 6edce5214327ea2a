//! Runs, replay and simulation: `/api/v1/runs[...]` and `/api/v1/simulate`.

use crate::auth::{need, Auth, Permission};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{from_value, ApiJson, ApiQuery};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_core::plan::Plan;
use aos_core::run::{Run, RunStatus, WorkflowRef};
use aos_runtime::replay::ReplayReport;
use aos_runtime::runs::RunFilter;
use aos_runtime::service::{RedriveRequest, RerunRequest, RunView, SubmitRun, Submitted};
use aos_runtime::simulate::Simulation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .api(api_routes!(submit_run, list_runs))
        .api(api_routes!(get_run))
        .api(api_routes!(cancel_run))
        .api(api_routes!(replay_run))
        .api(api_routes!(rerun_run))
        .api(api_routes!(redrive_run))
        .api(api_routes!(simulate_plan))
}

/// Start a run of an inline plan or a saved workflow.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs",
    request_body(content = SubmitRun, example = json!({"plan": {"name": "double", "steps": [{"id": "double", "skill": "json_transform", "input": {"data": [1, 2, 3], "expr": "map(. * 2)"}}]}})),
    responses((status = 202, body = Submitted, links(
            ("GetRun" = (operation_id = "get_run", parameters(("id" = "$response.body#/run_id")), description = "The run.")),
            ("CancelRun" = (operation_id = "cancel_run", parameters(("id" = "$response.body#/run_id")), description = "Cancel the run.")),
            ("ReplayRun" = (operation_id = "replay_run", parameters(("id" = "$response.body#/run_id")), description = "Replay the run.")),
            ("RerunRun" = (operation_id = "rerun_run", parameters(("id" = "$response.body#/run_id")), description = "Run its plan again.")),
            ("RedriveRun" = (operation_id = "redrive_run", parameters(("id" = "$response.body#/run_id")), description = "Redrive the run.")))), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The idempotency key was used for a run of a different plan or inputs (`IDEMPOTENCY_MISMATCH`).")))]
async fn submit_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsWrite>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Extension<RunCreated>, Json<Submitted>), ApiError> {
    // A body that is not a submission is a rejected run too, recorded like any other.
    let req: SubmitRun = match from_value(body) {
        Ok(req) => req,
        Err(e) => {
            let field = e.details["field"].as_str().unwrap_or_default().to_string();
            s.rt.record_rejected_body(auth.tenant(), &e.message, &field).await;
            return Err(e);
        }
    };
    let out = s.rt.submit(auth.tenant(), req).await?;
    Ok((StatusCode::ACCEPTED, Extension(RunCreated(out.run_id.clone())), Json(out)))
}

/// On the response of a request that created (or found, by its idempotency key) a run: the run's
/// id, for layers that tell where a request went (the API Lambdas' X-Ray subsegments).
#[derive(Debug, Clone)]
pub struct RunCreated(pub String);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListRunsQuery {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs created at or after this time (ms since the epoch).
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub created_after: Option<i64>,
    /// Only runs created at or before this time (ms since the epoch).
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub created_before: Option<i64>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A run in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub plan_name: String,
    pub status: RunStatus,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl From<Run> for RunSummary {
    fn from(r: Run) -> Self {
        Self {
            run_id: r.run_id,
            plan_name: r.plan.name,
            status: r.status,
            created_at_ms: r.created_at_ms,
            finished_at_ms: r.finished_at_ms,
            cost_usd: r.cost_usd,
            workflow: r.workflow,
            error_code: r.error.map(|e| e.code),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(ListRunsQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "The cursor is not valid (`INVALID_CURSOR`).", body = ErrorBody)))]
async fn list_runs(
    State(s): State<AppState>,
    auth: Auth<need::RunsRead>,
    ApiQuery(q): ApiQuery<ListRunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit must be between 1 and 200", "limit"));
    }
    crate::extract::check_time("created_after", q.created_after)?;
    crate::extract::check_time("created_before", q.created_before)?;
    let filter = RunFilter { status: q.status, created_after_ms: q.created_after, created_before_ms: q.created_before };
    let (runs, next) = s.rt.list(auth.tenant(), &filter, limit, q.cursor).await?;
    Ok(Json(RunList { runs: runs.into_iter().map(RunSummary::from).collect(), next_cursor: next }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetRunQuery {
    /// Long polling: wait up to this many ms (at most 30000) for the run to finish before answering.
    #[param(maximum = 30000)]
    pub wait_ms: Option<u64>,
}

/// A run's whole execution context: status, steps with every attempt, cost, trace. Callers
/// without `runs:read_raw` (viewers) get sensitive fields and secret-derived values redacted.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path, description = "Run id"), GetRunQuery),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsRead>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<GetRunQuery>,
) -> Result<axum::response::Response, ApiError> {
    let wait = match q.wait_ms.unwrap_or(0) {
        ms if ms <= 30_000 => std::time::Duration::from_millis(ms),
        _ => return Err(ApiError::bad_request("INVALID_QUERY", "wait_ms must be at most 30000", "wait_ms")),
    };
    // Viewers see sensitive fields and whatever derives from secrets redacted.
    let redacted = !auth.may(Permission::RunsReadRaw);
    Ok(json_bytes(s.rt.get_view_json(auth.tenant(), &id, wait, redacted).await?))
}

/// A JSON body already serialized.
fn json_bytes(body: bytes::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    ([(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"))], body).into_response()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelResult {
    pub run_id: String,
    pub status: RunStatus,
}

/// Cancel an unfinished run.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = CancelResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsWrite>,
    Path(id): Path<String>,
) -> Result<Json<CancelResult>, ApiError> {
    let status = s.rt.cancel(auth.tenant(), &id).await?;
    Ok(Json(CancelResult { run_id: id, status }))
}

/// Verify a finished run by replaying it: pure skills re-execute, side-effecting ones are fed
/// their recorded outputs.
#[utoipa::path(post, path = "/api/v1/runs/{id}/replay", tag = "runs", params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = ReplayReport), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsReadRaw>,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    Ok(Json(s.rt.replay(auth.tenant(), &id).await?))
}

/// A body that may be left out: no body (and no `Content-Type`) reads as `T::default()`;
/// otherwise as [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> axum::extract::FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return ApiJson::<T>::from_request(req, state).await.map(|ApiJson(v)| OptionalJson(v));
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", "request body is too large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_BODY", e.body_text())
            }
        })?;
        if !bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        Ok(OptionalJson(T::default()))
    }
}

/// The new run of a rerun or redrive, as `GET /api/v1/runs/{id}` shows it: 201 when it was
/// created, 200 when an earlier request with the same idempotency key had created it.
async fn new_run_view(
    s: &AppState,
    auth: &Auth<need::RunsWrite>,
    out: Submitted,
) -> Result<(StatusCode, Extension<RunCreated>, Json<RunView>), ApiError> {
    let mut view = s.rt.get(auth.tenant(), &out.run_id).await?;
    if !auth.may(Permission::RunsReadRaw) {
        aos_runtime::redact::for_viewer(&mut view);
    }
    Ok((if out.created { StatusCode::CREATED } else { StatusCode::OK }, Extension(RunCreated(out.run_id)), Json(view)))
}

/// Rerun a run: a new run of the same plan (as submitted) and inputs, linked to it by
/// `rerun_of`. Any run of the tenant can be rerun, finished or not.
#[utoipa::path(post, path = "/api/v1/runs/{id}/rerun", tag = "runs", params(("id" = String, Path, description = "Run id")),
    request_body(content = RerunRequest, description = "Optional; no body is `{}`."),
    responses((status = 201, body = RunView, description = "The new run."),
        (status = 200, body = RunView, description = "The run an earlier rerun with the same idempotency key created."),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`IDEMPOTENCY_MISMATCH`, or `CONCURRENT_UPDATE` (retry)."),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The body's fields, or the plan no longer validates (a skill or secret gone)."),
        (status = 503, body = ErrorBody)))]
async fn rerun_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsWrite>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<RerunRequest>,
) -> Result<(StatusCode, Extension<RunCreated>, Json<RunView>), ApiError> {
    let out = s.rt.rerun(auth.tenant(), &id, req).await?;
    new_run_view(&s, &auth, out).await
}

/// Redrive a failed or cancelled run: a new run, linked by `redrive_of`, with the same inputs
/// and seed, in which the succeeded steps keep their recorded attempts and are not executed
/// again (`seeded_steps`), and every other step starts afresh, optionally patched.
#[utoipa::path(post, path = "/api/v1/runs/{id}/redrive", tag = "runs", params(("id" = String, Path, description = "Run id")),
    request_body(content = RedriveRequest, description = "Optional; no body is `{}`."),
    responses((status = 201, body = RunView, description = "The new run."),
        (status = 200, body = RunView, description = "The run an earlier redrive with the same idempotency key created."),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`RUN_NOT_FINISHED` (queued or running), `RUN_SUCCEEDED`, `IDEMPOTENCY_MISMATCH`, or `CONCURRENT_UPDATE` (retry)."),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`PATCH_UNKNOWN_STEP`, `PATCH_STEP_SUCCEEDED`, `PATCH_UNKNOWN_FIELD`, `PATCH_TOO_LARGE`, `INVALID_FIELD`, or a plan validation code, naming the field."),
        (status = 503, body = ErrorBody)))]
async fn redrive_run(
    State(s): State<AppState>,
    auth: Auth<need::RunsWrite>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<RedriveRequest>,
) -> Result<(StatusCode, Extension<RunCreated>, Json<RunView>), ApiError> {
    let out = s.rt.redrive(auth.tenant(), &id, req).await?;
    new_run_view(&s, &auth, out).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    pub plan: Plan,
}

/// Validate a plan and estimate its cost, latency, budget sufficiency and risk.
#[utoipa::path(post, path = "/api/v1/simulate", tag = "runs", request_body = SimulateRequest,
    responses((status = 200, body = Simulation), (status = 422, body = ErrorBody)))]
async fn simulate_plan(
    State(s): State<AppState>,
    auth: Auth<need::RunsRead>,
    ApiJson(req): ApiJson<SimulateRequest>,
) -> Result<Json<Simulation>, ApiError> {
    Ok(Json(s.rt.simulate(auth.tenant(), &req.plan).await?))
}
