//! Recorded failures: `/api/v1/failures` lists them (filtered, paginated across day partitions),
//! `/api/v1/failures/stats` aggregates them, `/api/v1/failures/candidates` serves the latest
//! catalog candidates and `POST /api/v1/failures/aggregate` computes them now. The tenant is the
//! caller's; nothing else is visible.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{check_time, ApiQuery};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_core::failure::FailureKind;
use aos_core::outcome::Category;
use aos_runtime::failures::aggregate::{CandidatePage, CandidateReport};
use aos_runtime::failures::query::{FailureFilter, TimeRange};
use aos_runtime::failures::record::FailureRecord;
use aos_runtime::failures::stats::FailureStats;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Narrowest and widest time-series bucket of `/api/v1/failures/stats`.
pub const MIN_BUCKET_MS: i64 = 1_000;
pub const MAX_BUCKET_MS: i64 = 30 * DAY_MS;
/// Most buckets one statistics request may ask for.
pub const MAX_BUCKETS: i64 = 1_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .api(api_routes!(list_failures))
        .api(api_routes!(get_failure_stats))
        .api(api_routes!(list_failure_candidates))
        .api(api_routes!(aggregate_failures))
        .api(api_routes!(get_failure_drift))
}

/// Drift: per (skill, failure code), the share of the skill's attempts that failed that way in the
/// last day against the seven days before (one-sided two-proportion z-test: drifting at z ≥ 3 with
/// at least 5 failures and a rate at least 10 points higher; docs/recovery.md). Evaluated now, and
/// stored as the tenant's latest evaluation (the nightly aggregation evaluates every tenant).
#[utoipa::path(get, path = "/api/v1/failures/drift", tag = "failures",
    responses((status = 200, body = aos_runtime::recovery::drift::DriftReport),
        (status = 400, description = "A query parameter was given: the route takes none (`INVALID_QUERY`).", body = ErrorBody)))]
async fn get_failure_drift(
    State(s): State<AppState>,
    auth: Auth<need::FailuresRead>,
    ApiQuery(_none): ApiQuery<NoQuery>,
) -> Result<Json<aos_runtime::recovery::drift::DriftReport>, ApiError> {
    Ok(Json(s.rt.evaluate_drift(auth.tenant()).await?))
}

/// A route without query parameters: any parameter is refused (400 `INVALID_QUERY`), as every
/// other route refuses parameters it does not know.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListFailuresQuery {
    /// Failures at or after this time (ms since the epoch); default `to` minus 7 days.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub from: Option<i64>,
    /// Failures at or before this time (ms since the epoch); default now. At most 366 days after `from`.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub to: Option<i64>,
    /// An error code (`HTTP_503`) or a catalog entry code (`HTTP_SERVICE_UNAVAILABLE`).
    pub code: Option<String>,
    pub category: Option<Category>,
    pub skill: Option<String>,
    /// Only failures the catalog matched (`true`) or did not (`false`).
    pub matched: Option<bool>,
    /// Only failures whose recovery succeeded (`true`), or all others (`false`).
    pub recovered: Option<bool>,
    pub kind: Option<FailureKind>,
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (with the same other parameters).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailureList {
    /// Newest first.
    pub failures: Vec<FailureRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List the tenant's recorded failures, newest first.
#[utoipa::path(get, path = "/api/v1/failures", tag = "failures", params(ListFailuresQuery),
    responses((status = 200, body = FailureList), (status = 400, body = ErrorBody),
        (status = 422, description = "The cursor is not valid (`INVALID_CURSOR`).", body = ErrorBody)))]
async fn list_failures(
    State(s): State<AppState>,
    auth: Auth<need::FailuresRead>,
    ApiQuery(q): ApiQuery<ListFailuresQuery>,
) -> Result<Json<FailureList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit must be between 1 and 200", "limit"));
    }
    check_time("from", q.from)?;
    check_time("to", q.to)?;
    let range = TimeRange::new(q.from, q.to, s.rt.now_ms(), 7 * DAY_MS).map_err(bad_query)?;
    let filter =
        FailureFilter { code: q.code, category: q.category, skill: q.skill, matched: q.matched, recovered: q.recovered, kind: q.kind };
    let (mut failures, next_cursor) =
        s.rt.list_failures(auth.tenant(), &range, &filter, limit, q.cursor.as_deref()).await.map_err(bad_query)?;
    // Viewers do not see the messages of failures of steps that used a secret (or their output).
    if !auth.may(crate::auth::Permission::RunsReadRaw) {
        aos_runtime::redact::failures_for_viewer(s.rt.runs(), auth.tenant(), &mut failures).await?;
    }
    Ok(Json(FailureList { failures, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FailureStatsQuery {
    /// Start of the range (ms since the epoch); default `to` minus 24 hours.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub from: Option<i64>,
    /// End of the range (ms since the epoch); default now. At most 366 days after `from`.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub to: Option<i64>,
    /// Width of the time-series buckets in ms, from 1 second to 30 days; default one hour (or a
    /// thousandth of a longer range). At most 1000 buckets.
    #[param(minimum = 1000, maximum = 2592000000i64)]
    pub bucket_ms: Option<i64>,
    /// Count only failures with this error or catalog entry code.
    pub code: Option<String>,
    pub category: Option<Category>,
    pub skill: Option<String>,
    pub kind: Option<FailureKind>,
}

/// Statistics of the tenant's failures: totals, match rate, counts by code, category and skill,
/// recovery success per mode, and a time series.
#[utoipa::path(get, path = "/api/v1/failures/stats", tag = "failures", params(FailureStatsQuery),
    responses((status = 200, body = FailureStats), (status = 400, body = ErrorBody)))]
async fn get_failure_stats(
    State(s): State<AppState>,
    auth: Auth<need::FailuresRead>,
    ApiQuery(q): ApiQuery<FailureStatsQuery>,
) -> Result<Json<FailureStats>, ApiError> {
    check_time("from", q.from)?;
    check_time("to", q.to)?;
    let range = TimeRange::new(q.from, q.to, s.rt.now_ms(), DAY_MS).map_err(bad_query)?;
    // Both ends are checked times, at most 366 days apart: nothing below can overflow.
    let span = range.to_ms - range.from_ms + 1;
    let bucket_ms = q.bucket_ms.unwrap_or_else(|| HOUR_MS.max((span + MAX_BUCKETS - 1) / MAX_BUCKETS));
    check_bucket(bucket_ms, span)?;
    let filter = FailureFilter { code: q.code, category: q.category, skill: q.skill, matched: None, recovered: None, kind: q.kind };
    Ok(Json(s.rt.failure_stats(auth.tenant(), &range, bucket_ms, &filter).await.map_err(bad_query)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandidatesQuery {
    /// Page size, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The tenant's latest catalog candidates, most frequent first: its unmatched and low-confidence
/// failures of the aggregation window grouped by signature, with counts, skills, redacted
/// examples, first and last seen, and a suggested category and recovery mode with the reason.
/// Computed nightly and by `POST /api/v1/failures/aggregate`; `generated_at_ms` is `null` before
/// the first aggregation.
#[utoipa::path(get, path = "/api/v1/failures/candidates", tag = "failures", params(CandidatesQuery),
    responses((status = 200, body = CandidatePage), (status = 400, body = ErrorBody), (status = 422, description = "The cursor is not valid, or the candidates were computed again since it was given (`INVALID_CURSOR`).", body = ErrorBody)))]
async fn list_failure_candidates(
    State(s): State<AppState>,
    auth: Auth<need::FailuresRead>,
    ApiQuery(q): ApiQuery<CandidatesQuery>,
) -> Result<Json<CandidatePage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit must be between 1 and 200", "limit"));
    }
    Ok(Json(s.rt.failure_candidates(auth.tenant(), limit, q.cursor.as_deref()).await.map_err(bad_query)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AggregateQuery {
    /// Days of failures to read, back from now: 1..=366 (default 7, or `AOS_AGGREGATE_DAYS`).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
    /// Matched failures below this confidence are candidates (default 0.75, or
    /// `AOS_AGGREGATE_LOW_CONFIDENCE`); unmatched ones always are. Above 0, at most 1.
    #[param(exclusive_minimum = 0, maximum = 1)]
    pub low_confidence: Option<f64>,
}

/// Run the failure aggregation now, over every tenant, and return the caller's result (its own
/// failures and examples only; the same as `GET /api/v1/failures/candidates` afterwards, whole).
#[utoipa::path(post, path = "/api/v1/failures/aggregate", tag = "failures", params(AggregateQuery),
    responses((status = 200, body = CandidateReport), (status = 400, body = ErrorBody)))]
async fn aggregate_failures(
    State(s): State<AppState>,
    auth: Auth<need::FailuresAggregate>,
    ApiQuery(q): ApiQuery<AggregateQuery>,
) -> Result<Json<CandidateReport>, ApiError> {
    // Parameters not given take the deployment's settings (read once, at start).
    Ok(Json(s.rt.aggregate_failures_for(auth.tenant(), q.days, q.low_confidence).await.map_err(bad_query)?))
}

/// `bucket_ms` from [`MIN_BUCKET_MS`] to [`MAX_BUCKET_MS`], making at most [`MAX_BUCKETS`]
/// buckets of `span` ms; otherwise 400 `INVALID_QUERY` naming it.
fn check_bucket(bucket_ms: i64, span: i64) -> Result<(), ApiError> {
    if !(MIN_BUCKET_MS..=MAX_BUCKET_MS).contains(&bucket_ms) {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("bucket_ms must be from {MIN_BUCKET_MS} (1 second) to {MAX_BUCKET_MS} (30 days)"),
            "bucket_ms",
        ));
    }
    let buckets = (span + bucket_ms - 1) / bucket_ms;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("bucket_ms {bucket_ms} makes {buckets} buckets of the range ({span} ms); at most {MAX_BUCKETS} are allowed"),
            "bucket_ms",
        ));
    }
    Ok(())
}

/// Problems with query parameters are 400 `INVALID_QUERY` naming the parameter; a cursor that is
/// not valid is 422 `INVALID_CURSOR`, as for runs.
fn bad_query(e: aos_core::DomainError) -> ApiError {
    match e {
        aos_core::DomainError::Invalid(errors) if errors.iter().all(|f| f.code != "INVALID_CURSOR") => {
            let first = errors.into_iter().next();
            let code = first.as_ref().map(|f| f.code.clone()).unwrap_or_else(|| "INVALID_QUERY".into());
            let message = first.as_ref().map(|f| f.message.clone()).unwrap_or_default();
            let field = first.and_then(|f| f.field).unwrap_or_default();
            ApiError::bad_request(&code, message, &field)
        }
        other => other.into(),
    }
}
