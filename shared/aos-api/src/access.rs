//! Access: who am I (`/api/v1/whoami`), the tenant's API keys (`/api/v1/keys[...]`: create,
//! list, rotate, revoke — admins only) and the audit log (`/api/v1/audit`, admins only).

use crate::auth::{need, scopes_of, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{check_time, ApiJson, ApiQuery};
use crate::ApiRouterExt as _;
use crate::AppState;
use aos_core::{DomainError, FieldError};
use aos_runtime::audit::{AuditAction, AuditEvent};
use aos_runtime::auth::{ApiKeyRecord, NewKey, Principal, PrincipalKind, Role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .api(api_routes!(whoami))
        .api(api_routes!(create_key, list_keys))
        .api(api_routes!(revoke_key))
        .api(api_routes!(rotate_key))
        .api(api_routes!(list_audit))
}

/// The caller as the API sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub tenant: String,
    pub role: Role,
    pub kind: PrincipalKind,
    /// The key id, or the identity provider's subject.
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The permissions (OpenAPI scopes) the role holds.
    pub permissions: Vec<String>,
}

/// Who the credential belongs to: tenant, role and permissions.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "access",
    responses((status = 200, body = WhoAmI)))]
async fn whoami(auth: Auth<need::ProfileRead>) -> Json<WhoAmI> {
    let Principal { tenant, role, kind, id, name, expires_at_ms } = auth.principal;
    Json(WhoAmI { tenant, role, kind, id, name, expires_at_ms, permissions: scopes_of(role).into_iter().map(str::to_string).collect() })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for, e.g. `ci-deploy`: 1 to 64 characters (after trimming), no control
    /// characters and no bidirectional formatting characters (U+061C, U+200E, U+200F,
    /// U+202A–U+202E, U+2066–U+2069). Otherwise 422 `INVALID_FIELD` with `details.field` `name`.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub role: Role,
    /// Days until the key stops working (1 to 3650); no expiry when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// A new key. `key` is shown this once: only its hash is stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

fn invalid(field: &str, message: &str) -> ApiError {
    DomainError::invalid(FieldError::new("INVALID_FIELD", message).field(field)).into()
}

/// Create an API key for a machine (or a person's script) in the caller's tenant.
#[utoipa::path(post, path = "/api/v1/keys", tag = "access",
    request_body(content = CreateKey, example = json!({"name": "ci-deploy", "role": "machine"})),
    responses((status = 201, body = CreatedKey, links(
            ("RevokeKey" = (operation_id = "revoke_key", parameters(("key_id" = "$response.body#/record/key_id")), description = "Revoke the key.")),
            ("RotateKey" = (operation_id = "rotate_key", parameters(("key_id" = "$response.body#/record/key_id")), description = "Rotate the key.")))), (status = 422, body = ErrorBody)))]
async fn create_key(
    State(s): State<AppState>,
    auth: Auth<need::KeysManage>,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let name = req.name.trim();
    aos_runtime::auth::check_key_name(name).map_err(|m| invalid("name", &m))?;
    let expires_at_ms = match req.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(s.rt.now_ms() + i64::from(d) * 86_400_000),
        Some(_) => return Err(invalid("expires_in_days", "expires_in_days must be from 1 to 3650")),
    };
    let actor = auth.principal.actor();
    let new = NewKey { role: req.role, name: name.to_string(), expires_at_ms, created_by: actor.clone() };
    let (key, record) = s.rt.create_key(auth.tenant(), new).await?;
    let detail = json!({"name": record.name, "role": record.role.as_str(), "expires_at_ms": record.expires_at_ms});
    s.rt.record_audit(
        auth.tenant(),
        AuditAction::KeyCreated,
        &actor,
        auth.principal.role.as_str(),
        &format!("key:{}", record.key_id),
        detail,
    )
    .await;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, record })))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    /// Newest first, revoked and expired keys included.
    pub keys: Vec<ApiKeyRecord>,
}

/// The tenant's API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/keys", tag = "access",
    responses((status = 200, body = KeyList)))]
async fn list_keys(State(s): State<AppState>, auth: Auth<need::KeysManage>) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList { keys: s.rt.list_keys(auth.tenant()).await? }))
}

/// Revoke a key: it stops working at once and stays listed as revoked.
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", tag = "access", params(("key_id" = String, Path, description = "Key id (the part after `aos_` in the prefix)")),
    responses((status = 200, body = ApiKeyRecord), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(s): State<AppState>,
    auth: Auth<need::KeysManage>,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKeyRecord>, ApiError> {
    let record = s.rt.revoke_key(auth.tenant(), &key_id).await?;
    s.rt.record_audit(
        auth.tenant(),
        AuditAction::KeyRevoked,
        &auth.principal.actor(),
        auth.principal.role.as_str(),
        &format!("key:{key_id}"),
        json!({"name": record.name}),
    )
    .await;
    Ok(Json(record))
}

/// Replace a key with a new one of the same role, name and expiry; the old one is revoked.
#[utoipa::path(post, path = "/api/v1/keys/{key_id}/rotate", tag = "access", params(("key_id" = String, Path, description = "Key id")),
    responses((status = 201, body = CreatedKey, links(
            ("RevokeKey" = (operation_id = "revoke_key", parameters(("key_id" = "$response.body#/record/key_id")), description = "Revoke the key.")),
            ("RotateKey" = (operation_id = "rotate_key", parameters(("key_id" = "$response.body#/record/key_id")), description = "Rotate the key.")))), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rotate_key(
    State(s): State<AppState>,
    auth: Auth<need::KeysManage>,
    Path(key_id): Path<String>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let actor = auth.principal.actor();
    let (key, record) = s.rt.rotate_key(auth.tenant(), &key_id, &actor).await?;
    let detail = json!({"new_key_id": record.key_id, "name": record.name});
    s.rt.record_audit(auth.tenant(), AuditAction::KeyRotated, &actor, auth.principal.role.as_str(), &format!("key:{key_id}"), detail).await;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, record })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events at or after this time (ms since the epoch); default 30 days before `to`.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub from: Option<i64>,
    /// Events at or before this time (ms since the epoch); default now.
    #[param(minimum = 0, maximum = 9999999999999i64)]
    pub to: Option<i64>,
    pub action: Option<AuditAction>,
    /// Page size, 1..=500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (with the same other parameters).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The tenant's audit log: key changes, permission denials, logins, rate-limit refusals.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_audit(
    State(s): State<AppState>,
    auth: Auth<need::AuditRead>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("INVALID_QUERY", "limit must be from 1 to 500", "limit"));
    }
    check_time("from", q.from)?;
    check_time("to", q.to)?;
    let to = q.to.unwrap_or_else(|| s.rt.now_ms());
    let from = q.from.unwrap_or_else(|| to.saturating_sub(30 * 86_400_000).max(0));
    if from > to {
        return Err(ApiError::bad_request("INVALID_QUERY", "from must not be after to", "from"));
    }
    let (events, next_cursor) = s.rt.audit_events(auth.tenant(), from, to, q.action, limit, q.cursor).await?;
    Ok(Json(AuditList { events, next_cursor }))
}
