//! Saved workflows: `/api/v1/workflows[...]`. Versions are immutable; saving again adds a version.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_core::plan::Plan;
use aos_runtime::workflows::Workflow;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(create_workflow, list_workflows)).api(api_routes!(get_workflow))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkflow {
    /// 1 to 100 letters, digits, `_` or `-` (otherwise 422 `INVALID_WORKFLOW_NAME`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: String,
    pub plan: Plan,
}

/// Save a plan as the next version of a named workflow.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows",
    request_body(content = CreateWorkflow, example = json!({"name": "double", "plan": {"name": "double", "steps": [{"id": "double", "skill": "json_transform", "input": {"data": [1, 2, 3], "expr": "map(. * 2)"}}]}})),
    responses((status = 201, body = Workflow, links(
            ("GetWorkflow" = (operation_id = "get_workflow", parameters(("name" = "$response.body#/name"), ("version" = "$response.body#/version")), description = "This version of the workflow.")))),
        (status = 422, body = ErrorBody)))]
async fn create_workflow(
    State(s): State<AppState>,
    auth: Auth<need::WorkflowsWrite>,
    ApiJson(req): ApiJson<CreateWorkflow>,
) -> Result<(StatusCode, Json<Workflow>), ApiError> {
    let wf = s.rt.save_workflow(auth.tenant(), &req.name, req.plan).await?;
    Ok((StatusCode::CREATED, Json(wf)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowList {
    /// Every version of every workflow, by name then version.
    pub workflows: Vec<Workflow>,
}

/// List saved workflows.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = WorkflowList)))]
async fn list_workflows(State(s): State<AppState>, auth: Auth<need::WorkflowsRead>) -> Result<Json<WorkflowList>, ApiError> {
    Ok(Json(WorkflowList { workflows: s.rt.list_workflows(auth.tenant()).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A specific version; the latest when absent.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub version: Option<u32>,
}

/// One workflow (latest version unless `version` is given).
#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows", params(("name" = String, Path, description = "Workflow name"), VersionQuery),
    responses((status = 200, body = Workflow), (status = 404, body = ErrorBody)))]
async fn get_workflow(
    State(s): State<AppState>,
    auth: Auth<need::WorkflowsRead>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Json<Workflow>, ApiError> {
    Ok(Json(s.rt.workflow(auth.tenant(), &name, q.version).await?))
}
