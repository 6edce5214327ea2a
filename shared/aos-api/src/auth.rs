//! Authentication and permissions. Every `/api/v1` route needs a verified principal (a bearer API
//! key today; OIDC tokens plug in through the same `Principal`); the tenant comes only from it.
//! Handlers state their permission in their signature with `Auth<P>`; a role lacking it gets 403.

use crate::error::ApiError;
use crate::AppState;
use aos_runtime::auth::{Principal, Role};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::marker::PhantomData;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    RunsRead,
    RunsWrite,
    WorkflowsRead,
    WorkflowsWrite,
    SkillsRead,
    SecretsWrite,
    SecretsRead,
    FailuresRead,
    /// Runs the failure aggregation now (`POST /api/v1/failures/aggregate`): it reads every
    /// tenant's failures (each tenant still sees only its own result), so operating roles only.
    FailuresAggregate,
    CatalogRead,
    /// The process's Prometheus metrics: aggregates over every tenant the process serves (no
    /// tenant labels), so only operating roles and scrapers (machine keys) get it.
    MetricsRead,
}

/// The role → permission matrix (see `docs/api.md`).
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin | Role::Operator => true,
        Role::Developer => !matches!(p, MetricsRead | FailuresAggregate),
        Role::Machine => !matches!(p, SecretsWrite | FailuresAggregate),
        Role::Viewer => matches!(p, RunsRead | WorkflowsRead | SkillsRead | SecretsRead | FailuresRead | CatalogRead),
    }
}

/// Resolves the bearer credential to a principal, or answers 401.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| unauthenticated("missing `Authorization: Bearer <api key>` header"))?;
    let principal = state
        .rt
        .keys
        .authenticate(token)
        .await
        .map_err(|e| ApiError::from(aos_core::DomainError::Storage(e.to_string())))?
        .ok_or_else(|| unauthenticated("the API key is not valid"))?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
}

pub trait NeedsPermission {
    const PERMISSION: Permission;
}

macro_rules! permission_markers {
    ($($name:ident),*) => {
        pub mod need {
            $(pub struct $name;
              impl super::NeedsPermission for $name { const PERMISSION: super::Permission = super::Permission::$name; })*
        }
    };
}
permission_markers!(RunsRead, RunsWrite, WorkflowsRead, WorkflowsWrite, SkillsRead, SecretsWrite, SecretsRead, FailuresRead, FailuresAggregate, CatalogRead, MetricsRead);

/// The verified caller, holding permission `P`.
pub struct Auth<P> {
    pub principal: Principal,
    _p: PhantomData<P>,
}

impl<P> Auth<P> {
    pub fn tenant(&self) -> &str {
        &self.principal.tenant
    }
}

impl<S: Send + Sync, P: NeedsPermission> FromRequestParts<S> for Auth<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let principal = parts.extensions.get::<Principal>().cloned().ok_or_else(|| unauthenticated("authentication required"))?;
        if !allows(principal.role, P::PERMISSION) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", format!("role {:?} lacks permission {:?}", principal.role, P::PERMISSION)));
        }
        Ok(Auth { principal, _p: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_read_failures_and_the_catalog_and_only_operating_roles_read_metrics() {
        use Permission::*;
        for p in [FailuresRead, CatalogRead] {
            assert!([Role::Admin, Role::Operator, Role::Developer, Role::Machine, Role::Viewer].iter().all(|r| allows(*r, p)), "{p:?}");
        }
        let metrics: Vec<Role> = [Role::Admin, Role::Operator, Role::Developer, Role::Machine, Role::Viewer].into_iter().filter(|r| allows(*r, MetricsRead)).collect();
        assert_eq!(metrics, [Role::Admin, Role::Operator, Role::Machine]);
        assert!(!allows(Role::Viewer, RunsWrite) && !allows(Role::Machine, SecretsWrite), "the existing matrix is unchanged");
        let aggregate: Vec<Role> = [Role::Admin, Role::Operator, Role::Developer, Role::Machine, Role::Viewer].into_iter().filter(|r| allows(*r, FailuresAggregate)).collect();
        assert_eq!(aggregate, [Role::Admin, Role::Operator], "only operating roles run the aggregation");
    }
}
