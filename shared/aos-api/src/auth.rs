//! Authentication, permissions and abuse limits. Every `/api/v1` route (and `/metrics`) sits
//! behind [`authenticate`]: a request without a verified principal never reaches a handler. The
//! principal comes from an API key (`aos_...`) or an OpenID Connect token, or — in AWS — from the
//! authorizer Lambda's verified context; the tenant comes only from it. Permissions are declared
//! once, in the `permissions!` table below. A handler states its permission once, in its
//! signature (`Auth<need::X>`): a role lacking it gets 403, and the route's OpenAPI `security`
//! scope is made from the same type ([`document_permission`]); `docs/rbac.md` is generated from
//! the table and the document, and `cli/tests/rbac.rs` calls every route as every role.

use crate::error::ApiError;
use crate::AppState;
use aos_runtime::audit::AuditAction;
use aos_runtime::auth::{Principal, PrincipalKind, Role};
use aos_runtime::oidc::{OidcVerifier, TokenError};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};
use serde_json::json;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// Declares every permission once, in one row: its name, its OpenAPI scope, what it covers, and
/// the roles that hold it. Everything else is made from the rows: the [`Permission`] enum with
/// [`Permission::ALL`], [`Permission::scope`] and [`Permission::holders`], the `need::X` marker a
/// handler names in `Auth<need::X>` (from which its route's OpenAPI security scope is made, see
/// [`document_permission`]), the role matrix [`allows`], and `docs/rbac.md` (generated from the
/// matrix and the document by `tests/rbac_doc.rs`).
macro_rules! permissions {
    ($($(#[doc = $doc:literal])* $name:ident = $scope:literal: [$($role:ident),*],)+) => {
        /// What a route needs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Permission {
            $($(#[doc = $doc])* $name,)+
        }

        impl Permission {
            /// Every permission, in declaration order (the order of `docs/rbac.md`).
            pub const ALL: [Permission; [$(stringify!($name)),+].len()] = [$(Permission::$name),+];

            /// The OpenAPI security scope naming the permission, e.g. `runs:write`.
            pub fn scope(self) -> &'static str {
                match self {
                    $(Permission::$name => $scope,)+
                }
            }

            /// The roles that hold the permission.
            pub fn holders(self) -> &'static [Role] {
                match self {
                    $(Permission::$name => &[$(Role::$role),*],)+
                }
            }
        }

        /// The types handlers name to demand a permission: `Auth<need::RunsWrite>`.
        pub mod need {
            $(
                #[doc = concat!("Demands `", $scope, "`.")]
                pub struct $name;
                impl super::NeedsPermission for $name {
                    const PERMISSION: super::Permission = super::Permission::$name;
                }
            )+
        }
    };
}

permissions! {
    RunsRead = "runs:read": [Admin, Operator, Developer, Viewer, Machine],
    RunsWrite = "runs:write": [Admin, Operator, Developer, Machine],
    /// Raw step inputs and outputs (and replay, whose divergences show them). Without it, runs
    /// are shown with sensitive fields and anything derived from secrets redacted, and so are
    /// the messages of the failures of steps that used a secret.
    RunsReadRaw = "runs:read_raw": [Admin, Operator, Developer, Machine],
    WorkflowsRead = "workflows:read": [Admin, Operator, Developer, Viewer, Machine],
    WorkflowsWrite = "workflows:write": [Admin, Operator, Developer, Machine],
    SkillsRead = "skills:read": [Admin, Operator, Developer, Viewer, Machine],
    SecretsWrite = "secrets:write": [Admin, Operator, Developer],
    /// Secret names (never values: no route returns a secret's value).
    SecretsRead = "secrets:read": [Admin, Operator, Developer, Viewer, Machine],
    FailuresRead = "failures:read": [Admin, Operator, Developer, Viewer, Machine],
    /// Runs the failure aggregation now (`POST /api/v1/failures/aggregate`): it reads every
    /// tenant's failures (each tenant still sees only its own result), so operating roles only.
    FailuresAggregate = "failures:aggregate": [Admin, Operator],
    CatalogRead = "catalog:read": [Admin, Operator, Developer, Viewer, Machine],
    /// The process's Prometheus metrics: aggregates over every tenant the process serves (no
    /// tenant labels), so only operating roles and scrapers (machine keys) get it.
    MetricsRead = "metrics:read": [Admin, Operator, Machine],
    /// Recovery suggestions and candidates (reading them; a suggestion may propose a candidate).
    RecoveryRead = "recovery:read": [Admin, Operator, Developer, Viewer],
    /// Approve, reject and retire recovery candidates: decisions that later change how runs recover.
    RecoveryReview = "recovery:review": [Admin, Operator],
    /// Create, list, rotate and revoke the tenant's API keys.
    KeysManage = "keys:manage": [Admin],
    AuditRead = "audit:read": [Admin],
    /// Who am I: every role.
    ProfileRead = "profile:read": [Admin, Operator, Developer, Viewer, Machine],
}

impl Permission {
    pub fn from_scope(scope: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.scope() == scope)
    }
}

/// The role → permission matrix (`docs/rbac.md` is generated from it by a test).
pub fn allows(role: Role, p: Permission) -> bool {
    p.holders().contains(&role)
}

/// Every permission `role` holds, by scope.
pub fn scopes_of(role: Role) -> Vec<&'static str> {
    Permission::ALL.into_iter().filter(|p| allows(role, *p)).map(Permission::scope).collect()
}

/// Per-principal request limits: a token bucket per key or user (`governor`, GCRA), answering 429
/// with `Retry-After` and `X-RateLimit-*` headers. Per process: in AWS each API function
/// container limits on its own, and API Gateway's route throttling caps the total.
pub struct RateLimits {
    limiter: Option<RateLimiter<String, governor::state::keyed::DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>>,
    per_minute: u32,
    /// Callers already recorded in the audit log as limited, this minute.
    audited: Mutex<(i64, HashSet<String>)>,
}

/// The `X-RateLimit-*` headers of an answer.
type RateHeaders = Vec<(&'static str, String)>;

impl RateLimits {
    /// `per_minute` requests a minute with bursts of `burst`; `per_minute == 0` turns limits off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n).allow_burst(NonZeroU32::new(burst).unwrap_or(n));
            // A fixed number of shards rather than dashmap's default, sized from the CPU count it
            // reads from the cgroup files at first use: a tenth of an API function's cold start.
            let store = governor::state::keyed::DefaultKeyedStateStore::<String>::with_hasher_and_shard_amount(Default::default(), 32);
            RateLimiter::<_, _, _, StateInformationMiddleware>::new(quota, store, DefaultClock::default())
        });
        Self { limiter, per_minute, audited: Mutex::default() }
    }

    pub fn off() -> Self {
        Self::new(0, 0)
    }

    /// From `AOS_RATE_LIMIT_PER_MINUTE` (default 6000, `0` turns limits off) and
    /// `AOS_RATE_LIMIT_BURST` (default 300).
    pub fn from_env() -> Result<Self, String> {
        let read = |name: &str, default: u32| -> Result<u32, String> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name} must be a whole number, not `{v}`")),
                _ => Ok(default),
            }
        };
        Ok(Self::new(read("AOS_RATE_LIMIT_PER_MINUTE", 6000)?, read("AOS_RATE_LIMIT_BURST", 300)?))
    }

    /// Takes one request from the caller's bucket: `Ok(headers)` or `Err(response)` (429).
    fn check(&self, actor: &str) -> Result<RateHeaders, (u64, RateHeaders)> {
        let Some(limiter) = &self.limiter else { return Ok(Vec::new()) };
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        let key = actor.to_string();
        match limiter.check_key(&key) {
            Ok(snapshot) => Ok(vec![
                ("x-ratelimit-limit", self.per_minute.to_string()),
                ("x-ratelimit-remaining", snapshot.remaining_burst_capacity().to_string()),
            ]),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err((
                    secs.max(1),
                    vec![
                        ("x-ratelimit-limit", self.per_minute.to_string()),
                        ("x-ratelimit-remaining", "0".into()),
                        ("x-ratelimit-reset", secs.max(1).to_string()),
                    ],
                ))
            }
        }
    }

    /// True the first time `actor` is limited in a minute (so the audit log gets one record).
    fn first_this_minute(&self, actor: &str) -> bool {
        let minute = aos_runtime::runs::now_ms() / 60_000;
        let mut a = self.audited.lock().unwrap_or_else(|e| e.into_inner());
        if a.0 != minute {
            *a = (minute, HashSet::new());
        }
        a.1.insert(actor.to_string())
    }
}

/// Token ids this process has seen, for recording each login once (bounded).
#[derive(Default)]
pub struct SeenSessions(Mutex<HashSet<String>>);

impl SeenSessions {
    fn first(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= 10_000 {
            seen.clear();
        }
        seen.insert(id.to_string())
    }
}

/// How credentials are verified: API keys always, OIDC tokens when an issuer is configured.
#[derive(Clone, Default)]
pub struct Authn {
    pub oidc: Option<Arc<OidcVerifier>>,
    pub limits: Arc<RateLimits>,
    pub sessions: Arc<SeenSessions>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::off()
    }
}

/// Why a credential was refused: 401, or 403 for a verified user entitled to nothing.
pub enum AuthFailure {
    Unauthenticated(String),
    NoRole(String),
    /// The key store or the identity provider could not answer (503), or a key record is
    /// corrupt (500 `CORRUPT_RECORD`).
    Unavailable(aos_core::DomainError),
}

/// Verifies a bearer credential: an API key (`aos_...`) or, when configured, a JWT.
pub async fn verify_bearer(state: &AppState, token: &str) -> Result<(Principal, Option<String>), AuthFailure> {
    if token.starts_with("aos_") {
        return match state.rt.authenticate_key(token).await {
            Ok(Some(p)) => Ok((p, None)),
            Ok(None) => Err(AuthFailure::Unauthenticated("the API key is not valid (unknown, revoked or expired)".into())),
            Err(e) => Err(AuthFailure::Unavailable(e)),
        };
    }
    let Some(oidc) = &state.authn.oidc else {
        return Err(AuthFailure::Unauthenticated(
            "the credential is not an AOS API key, and this deployment accepts no identity-provider tokens".into(),
        ));
    };
    match oidc.verify(token).await {
        Ok(v) => Ok((v.principal, v.token_id)),
        Err(TokenError::NoRole(c)) => Err(AuthFailure::NoRole(TokenError::NoRole(c).to_string())),
        Err(TokenError::Jwks(e)) => Err(AuthFailure::Unavailable(aos_core::DomainError::Storage(e))),
        Err(e) => {
            tracing::info!(reason = e.reason(), "refused a token");
            Err(AuthFailure::Unauthenticated(e.to_string()))
        }
    }
}

/// The credential of an `Authorization` header value: `Bearer <credential>` (either case of
/// `Bearer`), trimmed; `None` for any other scheme.
pub fn bearer_token(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}

/// [`verify_bearer`], then records a person's first request with a token in the audit log (once
/// per token and process). What both the `authenticate` middleware and the AWS authorizer
/// function run on a bearer credential.
pub async fn resolve_bearer(state: &AppState, token: &str) -> Result<Principal, AuthFailure> {
    let (principal, session) = verify_bearer(state, token).await?;
    if let (PrincipalKind::User, Some(id)) = (principal.kind, session.as_deref()) {
        if state.authn.sessions.first(id) {
            let detail = json!({"name": principal.name, "expires_at_ms": principal.expires_at_ms});
            state
                .rt
                .record_audit(&principal.tenant, AuditAction::Login, &principal.actor(), principal.role.as_str(), "session", detail)
                .await;
        }
    }
    Ok(principal)
}

/// Resolves the caller to a principal (or answers 401), then applies the caller's rate limit.
/// A principal already attached by the deployment (the AWS authorizer's verified context) is used
/// as is; nothing in the request itself can attach one.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let principal = match req.extensions().get::<Principal>().cloned() {
        Some(p) => p,
        None => {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token)
                .ok_or_else(|| unauthenticated("missing `Authorization: Bearer <API key or token>` header"))?;
            let principal = match resolve_bearer(&state, token).await {
                Ok(p) => p,
                Err(AuthFailure::Unauthenticated(m)) => return Err(unauthenticated(&m)),
                Err(AuthFailure::NoRole(m)) => return Err(ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", m)),
                Err(AuthFailure::Unavailable(e)) => return Err(ApiError::from(e)),
            };
            req.extensions_mut().insert(principal.clone());
            principal
        }
    };
    let actor = principal.actor();
    let headers = match state.authn.limits.check(&actor) {
        Ok(h) => h,
        Err((retry, headers)) => {
            if state.authn.limits.first_this_minute(&actor) {
                let target = format!("{} {}", req.method(), req.uri().path());
                state
                    .rt
                    .record_audit(
                        &principal.tenant,
                        AuditAction::RateLimited,
                        &actor,
                        principal.role.as_str(),
                        &target,
                        json!({"limit_per_minute": state.authn.limits.per_minute}),
                    )
                    .await;
            }
            let mut resp =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", format!("too many requests from {actor}; retry in {retry} s"))
                    .retry_after(retry as u32)
                    .into_response();
            set_headers(&mut resp, &headers);
            return Ok(resp);
        }
    };
    let mut resp = next.run(req).await;
    set_headers(&mut resp, &headers);
    Ok(resp)
}

fn set_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
}

pub trait NeedsPermission {
    const PERMISSION: Permission;
}

/// The permission a handler demands, read from the type of its `Auth<need::X>` argument (the
/// first, or the second after `State`): the one statement of a route's permission, from which its
/// OpenAPI security scope is made ([`document_permission`]). `Args` is inferred.
pub trait HandlerPermission<Args> {
    const PERMISSION: Permission;
}

macro_rules! handler_permission {
    ($($t:ident),*) => {
        impl<F, Fut, P: NeedsPermission, $($t,)*> HandlerPermission<(Auth<P>, $($t,)*)> for F
        where
            F: FnOnce(Auth<P>, $($t,)*) -> Fut,
        {
            const PERMISSION: Permission = P::PERMISSION;
        }
        impl<F, Fut, S, P: NeedsPermission, $($t,)*> HandlerPermission<(State<S>, Auth<P>, $($t,)*)> for F
        where
            F: FnOnce(State<S>, Auth<P>, $($t,)*) -> Fut,
        {
            const PERMISSION: Permission = P::PERMISSION;
        }
    };
}
handler_permission!();
handler_permission!(T1);
handler_permission!(T1, T2);
handler_permission!(T1, T2, T3);
handler_permission!(T1, T2, T3, T4);

/// The permission `handler` demands (see [`HandlerPermission`]).
pub fn permission_of<F: HandlerPermission<Args>, Args>(_handler: &F) -> Permission {
    F::PERMISSION
}

/// Makes the OpenAPI security of the operations `methods` of `path` the bearer scope of
/// `permission` (a handler's, [`permission_of`]), so the document states exactly what the
/// handler's type enforces. An operation that declares a security of its own must declare the
/// same scope: a mismatch panics while the document is built (`aos openapi`, the tests).
#[cfg(feature = "openapi")]
pub fn document_permission(
    paths: &mut utoipa::openapi::path::Paths,
    path: &str,
    methods: &[utoipa::openapi::HttpMethod],
    permission: Permission,
) {
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::HttpMethod;
    let wanted = vec![SecurityRequirement::new("bearer", [permission.scope()])];
    let Some(item) = paths.paths.get_mut(path) else { panic!("{path} is not in the document") };
    for method in methods {
        let (name, op) = match method {
            HttpMethod::Get => ("GET", &mut item.get),
            HttpMethod::Post => ("POST", &mut item.post),
            HttpMethod::Put => ("PUT", &mut item.put),
            HttpMethod::Delete => ("DELETE", &mut item.delete),
            HttpMethod::Patch => ("PATCH", &mut item.patch),
            HttpMethod::Head => ("HEAD", &mut item.head),
            HttpMethod::Options => ("OPTIONS", &mut item.options),
            HttpMethod::Trace => ("TRACE", &mut item.trace),
        };
        let Some(op) = op.as_mut() else { panic!("{name} {path} is not in the document") };
        if let Some(declared) = &op.security {
            let (declared, scope) = (serde_json::to_value(declared).unwrap_or_default(), permission.scope());
            assert_eq!(
                declared,
                json!([{"bearer": [scope]}]),
                "{name} {path} declares a security other than its handler's `Auth<need::{permission:?}>` ({scope})"
            );
        }
        op.security = Some(wanted.clone());
    }
}

/// The verified caller, holding permission `P`.
pub struct Auth<P> {
    pub principal: Principal,
    _p: PhantomData<P>,
}

impl<P> Auth<P> {
    pub fn tenant(&self) -> &str {
        &self.principal.tenant
    }

    /// Whether the caller also holds `p` (for responses that depend on it, e.g. redaction).
    pub fn may(&self, p: Permission) -> bool {
        allows(self.principal.role, p)
    }
}

impl<P: NeedsPermission> FromRequestParts<AppState> for Auth<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = parts.extensions.get::<Principal>().cloned().ok_or_else(|| unauthenticated("authentication required"))?;
        if !allows(principal.role, P::PERMISSION) {
            let target = format!("{} {}", parts.method, parts.uri.path());
            let detail = json!({"permission": P::PERMISSION.scope()});
            state
                .rt
                .record_audit(
                    &principal.tenant,
                    AuditAction::PermissionDenied,
                    &principal.actor(),
                    principal.role.as_str(),
                    &target,
                    detail,
                )
                .await;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("role {} lacks permission {}", principal.role.as_str(), P::PERMISSION.scope()),
            ));
        }
        Ok(Auth { principal, _p: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_keeps_keys_and_audit_to_admins_and_metrics_to_operating_roles() {
        use Permission::*;
        let holders = |p: Permission| -> Vec<Role> { Role::ALL.into_iter().filter(|r| allows(*r, p)).collect() };
        assert_eq!(holders(KeysManage), [Role::Admin]);
        assert_eq!(holders(AuditRead), [Role::Admin]);
        assert_eq!(holders(FailuresAggregate), [Role::Admin, Role::Operator]);
        assert_eq!(holders(MetricsRead), [Role::Admin, Role::Operator, Role::Machine]);
        assert_eq!(holders(RunsReadRaw), [Role::Admin, Role::Operator, Role::Developer, Role::Machine]);
        assert_eq!(holders(SecretsWrite), [Role::Admin, Role::Operator, Role::Developer]);
        for p in [FailuresRead, CatalogRead, RunsRead, ProfileRead] {
            assert_eq!(holders(p).len(), 5, "{p:?}");
        }
        assert!(!allows(Role::Viewer, RunsWrite) && !allows(Role::Viewer, WorkflowsWrite));
    }

    #[test]
    fn scopes_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_scope(p.scope()), Some(p));
        }
        assert_eq!(Permission::from_scope("runs:delete"), None);
    }

    #[test]
    fn the_limit_answers_with_a_retry_time_once_the_burst_is_spent() {
        let limits = RateLimits::new(60, 2);
        assert!(limits.check("key:a").is_ok());
        let h = limits.check("key:a").expect("second request of the burst");
        assert!(h.contains(&("x-ratelimit-remaining", "0".into())), "{h:?}");
        let (retry, _) = limits.check("key:a").expect_err("the third is refused");
        assert!((1..=2).contains(&retry), "{retry}");
        assert!(limits.check("key:b").is_ok(), "other callers have their own bucket");
        assert!(RateLimits::off().check("key:a").is_ok());
    }
}
