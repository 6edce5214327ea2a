//! The skills registry: `/api/v1/skills[...]`, each skill describing itself.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_core::skill::SkillSpec;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(list_skills)).api(api_routes!(get_skill))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkillList {
    pub skills: Vec<SkillSpec>,
}

/// Every skill this deployment offers.
#[utoipa::path(get, path = "/api/v1/skills", tag = "skills", responses((status = 200, body = SkillList)))]
async fn list_skills(State(s): State<AppState>, _auth: Auth<need::SkillsRead>) -> Json<SkillList> {
    Json(SkillList { skills: s.rt.skill_specs() })
}

/// One skill's description: schemas, side effects, determinism, cost model, failure modes.
#[utoipa::path(get, path = "/api/v1/skills/{id}", tag = "skills", params(("id" = String, Path, description = "Skill id")),
    responses((status = 200, body = SkillSpec), (status = 404, body = ErrorBody)))]
async fn get_skill(State(s): State<AppState>, _auth: Auth<need::SkillsRead>, Path(id): Path<String>) -> Result<Json<SkillSpec>, ApiError> {
    Ok(Json(s.rt.skill_spec(&id)?))
}
