//! `functions/authorizer`: the HTTP API's Lambda authorizer (payload format 2.0, simple
//! responses). It verifies the `Authorization: Bearer` credential — an AOS API key or an
//! identity-provider token (Cognito) — with the same code the API's `authenticate` middleware runs
//! (`aos_api::auth::resolve_bearer`), and hands the verified principal to the API functions as the
//! authorizer context (`requestContext.authorizer.lambda`): `tenant`, `role`, `kind`, `id`,
//! `name` and, when the credential expires, `expires_at_ms`. The API functions turn that context
//! back into the principal ([`principal_from_context`], in `api.rs`) and still check every
//! permission themselves. The credential itself is never put in the context or logged.
//!
//! A refused credential is `isAuthorized: false` (the gateway answers 403); a verification that
//! could not be done (the table or the provider's keys unreachable) is an invocation error, so
//! the gateway answers 500 and caches nothing.

use aos_api::auth::{bearer_token, resolve_bearer, AuthFailure, RateLimits};
use aos_api::AppState;
use aos_runtime::auth::{Principal, PrincipalKind, Role};
use aos_runtime::oidc::{valid_tenant, OidcConfig};
use aos_runtime::Runtime;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The simple response of an HTTP API Lambda authorizer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub is_authorized: bool,
    pub context: Map<String, Value>,
}

impl AuthorizerResponse {
    pub fn deny() -> Self {
        Self { is_authorized: false, context: Map::new() }
    }

    pub fn allow(p: &Principal) -> Self {
        Self { is_authorized: true, context: context_of(p) }
    }
}

/// `functions/authorizer`.
pub struct Function;

impl crate::Function for Function {
    type Handler = Authorizer;

    fn name(&self) -> &'static str {
        "authorizer"
    }

    async fn init(self) -> Result<Authorizer, crate::Error> {
        let rt = crate::runtime_from_env(crate::registry::declared).await?;
        Authorizer::from_env(rt)
    }
}

impl crate::Handler for Authorizer {
    type Event = ApiGatewayV2CustomAuthorizerV2Request;
    type Response = AuthorizerResponse;

    async fn handle(&self, event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>) -> Result<AuthorizerResponse, crate::Error> {
        Authorizer::handle(self, event).await
    }
}

/// The verifier the function builds once per execution environment.
pub struct Authorizer {
    state: AppState,
}

impl Authorizer {
    /// API keys from the runtime's table; identity-provider tokens too when `oidc` is given.
    /// Rate limits are the API functions' business (they see every request; the authorizer sees
    /// one per credential and cache period).
    pub fn new(rt: Arc<Runtime>, oidc: Option<OidcConfig>) -> Self {
        let mut state = AppState::new(rt).with_rate_limits(RateLimits::off());
        if let Some(cfg) = oidc {
            state = state.with_oidc(cfg);
        }
        Self { state }
    }

    /// With the identity provider of `AOS_OIDC_*` (none when `AOS_OIDC_ISSUER` is unset).
    pub fn from_env(rt: Arc<Runtime>) -> Result<Self, lambda_runtime::Error> {
        Ok(Self::new(rt, OidcConfig::from_env()?))
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>,
    ) -> Result<AuthorizerResponse, lambda_runtime::Error> {
        let request = event.payload;
        let route = request.route_key.as_deref().unwrap_or("$default");
        // The identity source is `$request.header.Authorization`: its value, or the header itself.
        let header = request
            .identity_source
            .as_ref()
            .and_then(|values| values.first().cloned())
            .or_else(|| request.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string));
        let Some(token) = header.as_deref().and_then(bearer_token) else {
            tracing::info!(route, reason = "no_bearer_credential", "refused a request");
            return Ok(AuthorizerResponse::deny());
        };
        match resolve_bearer(&self.state, token).await {
            Ok(p) => {
                tracing::info!(route, tenant = %p.tenant, actor = %p.actor(), role = p.role.as_str(), "authorized");
                Ok(AuthorizerResponse::allow(&p))
            }
            Err(AuthFailure::Unauthenticated(reason)) | Err(AuthFailure::NoRole(reason)) => {
                tracing::info!(route, reason = %reason, "refused a credential");
                Ok(AuthorizerResponse::deny())
            }
            Err(AuthFailure::Unavailable(e)) => {
                tracing::error!(route, error = %e, "could not verify a credential");
                Err(format!("could not verify the credential: {e}").into())
            }
        }
    }
}

/// The authorizer context carrying a principal: strings, and `expires_at_ms` as a number.
pub fn context_of(p: &Principal) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("tenant".into(), Value::from(p.tenant.clone()));
    m.insert("role".into(), Value::from(p.role.as_str()));
    let kind = match p.kind {
        PrincipalKind::ApiKey => "api_key",
        PrincipalKind::User => "user",
    };
    m.insert("kind".into(), Value::from(kind));
    m.insert("id".into(), Value::from(p.id.clone()));
    m.insert("name".into(), Value::from(p.name.clone()));
    if let Some(exp) = p.expires_at_ms {
        m.insert("expires_at_ms".into(), Value::from(exp));
    }
    m
}

/// The principal of an authorizer context made by [`context_of`]; `None` when any field is
/// missing or not valid (the API function then verifies the credential itself). Numbers are
/// accepted as JSON numbers or decimal strings.
pub fn principal_from_context(fields: &HashMap<String, Value>) -> Option<Principal> {
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    let tenant = text("tenant").filter(|t| valid_tenant(t))?.to_string();
    let role = Role::parse(text("role")?)?;
    let kind = match text("kind")? {
        "api_key" => PrincipalKind::ApiKey,
        "user" => PrincipalKind::User,
        _ => return None,
    };
    let id = text("id").filter(|i| !i.is_empty())?.to_string();
    let name = text("name").unwrap_or_default().to_string();
    let expires_at_ms = match fields.get("expires_at_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64()?),
        Some(Value::String(s)) => Some(s.parse().ok()?),
        Some(_) => return None,
    };
    Some(Principal { tenant, role, kind, id, name, expires_at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_round_trips_every_kind_and_role() {
        for role in Role::ALL {
            for (kind, exp) in [(PrincipalKind::ApiKey, None), (PrincipalKind::User, Some(1_767_261_722_000))] {
                let p = Principal { tenant: "acme".into(), role, kind, id: "k1".into(), name: "ci".into(), expires_at_ms: exp };
                let ctx: HashMap<String, Value> = context_of(&p).into_iter().collect();
                assert_eq!(principal_from_context(&ctx), Some(p));
            }
        }
    }

    #[test]
    fn a_malformed_context_gives_no_principal() {
        let good: HashMap<String, Value> = [("tenant", "acme"), ("role", "viewer"), ("kind", "user"), ("id", "s"), ("name", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect();
        assert!(principal_from_context(&good).is_some());
        let with = |k: &str, v: Value| {
            let mut m = good.clone();
            m.insert(k.to_string(), v);
            principal_from_context(&m)
        };
        assert_eq!(with("expires_at_ms", Value::from("1767261722000")).and_then(|p| p.expires_at_ms), Some(1_767_261_722_000));
        assert!(with("tenant", Value::from("../other")).is_none());
        assert!(with("role", Value::from("root")).is_none());
        assert!(with("kind", Value::from("service")).is_none());
        assert!(with("id", Value::from("")).is_none());
        assert!(with("expires_at_ms", Value::from("soon")).is_none());
        assert!(with("tenant", Value::from(7)).is_none());
        let mut no_role = good.clone();
        no_role.remove("role");
        assert!(principal_from_context(&no_role).is_none());
    }
}
