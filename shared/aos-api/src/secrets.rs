//! Tenant secrets: `/api/v1/secrets[...]`. Values are write-only through the API; plans reference
//! them as `{{ secrets.NAME }}` and only skill workers read them.

use crate::auth::{need, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::ApiRouterExt as _;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().api(api_routes!(list_secrets)).api(api_routes!(put_secret))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    pub value: String,
}

/// Create or replace a secret.
#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path, description = "Secret name: 1 to 128 letters, digits or `_` (otherwise 422 `INVALID_SECRET_NAME`).", pattern = "^[A-Za-z0-9_]{1,128}$")), request_body = PutSecret,
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn put_secret(
    State(s): State<AppState>,
    auth: Auth<need::SecretsWrite>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PutSecret>,
) -> Result<StatusCode, ApiError> {
    s.rt.put_secret(auth.tenant(), &name, &req.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretNames {
    pub names: Vec<String>,
}

/// Names of the tenant's secrets (never their values).
#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets", responses((status = 200, body = SecretNames)))]
async fn list_secrets(State(s): State<AppState>, auth: Auth<need::SecretsRead>) -> Result<Json<SecretNames>, ApiError> {
    Ok(Json(SecretNames { names: s.rt.secret_names(auth.tenant()).await? }))
}
