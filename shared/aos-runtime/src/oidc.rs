//! People log in through an OpenID Connect provider (Cognito in AWS, any issuer locally); AOS
//! verifies the JWTs it issues against the provider's JWKS.
//!
//! Checked: signature (RS256/RS384/RS512/ES256/ES384 only — `none` and HMAC are refused before
//! any key is looked at), the key id against the JWKS (refetched when an unknown `kid` appears, so
//! key rotation needs no restart, at most once per [`OidcConfig::refetch_after`], 30 s by default), issuer, audience (`aud`,
//! or `client_id` for Cognito access tokens), expiry and not-before (with a small leeway). The
//! tenant comes from a claim of the verified token (or the configured default), the role from its
//! groups claim. The JWKS URL is configured apart from the issuer because emulators keep AWS's
//! issuer string but serve keys locally.

use crate::auth::{Principal, PrincipalKind, Role};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// Keys are refreshed after this long even when every `kid` is known.
pub const JWKS_TTL: Duration = Duration::from_secs(600);
/// An unknown `kid` triggers a refetch at most this often (a flood of forged tokens must not
/// turn into a flood of JWKS requests).
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
const ALLOWED: [Algorithm; 5] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256, Algorithm::ES384];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The `iss` every token must carry, e.g. `https://cognito-idp.us-east-1.amazonaws.com/<pool>`.
    pub issuer: String,
    /// Accepted `aud` / `client_id` values (the app client ids); at least one.
    pub audiences: Vec<String>,
    /// Where the signing keys are; by default `<issuer>/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The claim holding the user's groups (roles), `cognito:groups` by default.
    pub groups_claim: String,
    /// The claim holding the user's tenant, `custom:tenant` by default.
    pub tenant_claim: String,
    /// The tenant of users whose token has no tenant claim; without it such tokens are refused.
    pub default_tenant: Option<String>,
    /// How soon after a fetch an unknown `kid` may trigger another one ([`REFETCH_AFTER`] by default).
    pub refetch_after: Duration,
}

impl OidcConfig {
    pub fn new(issuer: &str, audiences: Vec<String>) -> Self {
        let issuer = issuer.trim_end_matches('/').to_string();
        Self {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            audiences,
            groups_claim: "cognito:groups".into(),
            tenant_claim: "custom:tenant".into(),
            default_tenant: None,
            refetch_after: REFETCH_AFTER,
        }
    }

    /// From `AOS_OIDC_*` ([`OidcSettings::from_env`]); `None` when no issuer is configured (API
    /// keys only).
    pub fn from_env() -> Result<Option<Self>, crate::settings::ConfigError> {
        OidcSettings::from_env()?.config()
    }

    pub fn check(&self) -> Result<(), String> {
        if !self.issuer.starts_with("https://") && !self.issuer.starts_with("http://") {
            return Err(format!("AOS_OIDC_ISSUER must be an http(s) URL, not `{}`", self.issuer));
        }
        if self.audiences.is_empty() {
            return Err("AOS_OIDC_AUDIENCE must name the accepted app client id(s) when AOS_OIDC_ISSUER is set".into());
        }
        if !self.jwks_url.starts_with("https://") && !self.jwks_url.starts_with("http://") {
            return Err(format!("AOS_OIDC_JWKS_URL must be an http(s) URL, not `{}`", self.jwks_url));
        }
        if let Some(t) = &self.default_tenant {
            if !valid_tenant(t) {
                return Err(format!("AOS_OIDC_DEFAULT_TENANT is not a valid tenant name: `{t}`"));
            }
        }
        Ok(())
    }
}

/// Tenant names: 1 to 64 letters, digits, `-` and `_`.
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The identity provider's settings as given (`AOS_OIDC_*`, which `aos serve`'s `--oidc-*` flags
/// override), before they are checked into an [`OidcConfig`]. Parsed once per process, by both
/// deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcSettings {
    /// `AOS_OIDC_ISSUER`; no provider when unset.
    pub issuer: Option<String>,
    /// `AOS_OIDC_AUDIENCE`, comma-separated.
    pub audiences: Vec<String>,
    /// `AOS_OIDC_JWKS_URL` (default `<issuer>/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// `AOS_OIDC_GROUPS_CLAIM` (default `cognito:groups`).
    pub groups_claim: Option<String>,
    /// `AOS_OIDC_TENANT_CLAIM` (default `custom:tenant`).
    pub tenant_claim: Option<String>,
    /// `AOS_OIDC_DEFAULT_TENANT`.
    pub default_tenant: Option<String>,
    /// `AOS_OIDC_JWKS_REFETCH_SECONDS` (default 30).
    pub refetch_seconds: Option<u64>,
}

impl OidcSettings {
    pub fn from_env() -> Result<Self, crate::settings::ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from any variable source; empty variables count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, crate::settings::ConfigError> {
        let var = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let refetch_seconds = match var("AOS_OIDC_JWKS_REFETCH_SECONDS") {
            Some(s) => Some(s.parse().map_err(|_| {
                crate::settings::ConfigError::invalid("AOS_OIDC_JWKS_REFETCH_SECONDS", &s, "expected a whole number of seconds")
            })?),
            None => None,
        };
        Ok(Self {
            issuer: var("AOS_OIDC_ISSUER"),
            audiences: split_list(&var("AOS_OIDC_AUDIENCE").unwrap_or_default()),
            jwks_url: var("AOS_OIDC_JWKS_URL"),
            groups_claim: var("AOS_OIDC_GROUPS_CLAIM"),
            tenant_claim: var("AOS_OIDC_TENANT_CLAIM"),
            default_tenant: var("AOS_OIDC_DEFAULT_TENANT"),
            refetch_seconds,
        })
    }

    /// The checked configuration, or `None` when no issuer is set.
    pub fn config(&self) -> Result<Option<OidcConfig>, crate::settings::ConfigError> {
        let Some(issuer) = self.issuer.as_deref().map(str::trim).filter(|i| !i.is_empty()) else { return Ok(None) };
        let mut cfg = OidcConfig::new(issuer, self.audiences.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect());
        if let Some(url) = &self.jwks_url {
            cfg.jwks_url = url.clone();
        }
        if let Some(c) = &self.groups_claim {
            cfg.groups_claim = c.clone();
        }
        if let Some(c) = &self.tenant_claim {
            cfg.tenant_claim = c.clone();
        }
        cfg.default_tenant = self.default_tenant.clone();
        if let Some(s) = self.refetch_seconds {
            cfg.refetch_after = Duration::from_secs(s);
        }
        cfg.check().map_err(|reason| {
            // `check` names the variable first.
            let name = reason.split_whitespace().next().unwrap_or("AOS_OIDC_ISSUER").to_string();
            crate::settings::ConfigError::Inconsistent { name, reason }
        })?;
        Ok(Some(cfg))
    }
}

/// A comma-separated list, trimmed, without empty entries.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Why a token was refused. The message never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("tokens signed with {0} are not accepted (RS256/RS384/RS512/ES256/ES384 only)")]
    Algorithm(String),
    #[error("the token's signing key `{0}` is not among the provider's keys")]
    UnknownKey(String),
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    Issuer,
    #[error("the token was issued for another audience")]
    Audience,
    #[error("the token carries no tenant (claim `{0}`)")]
    NoTenant(String),
    /// Authenticated but entitled to nothing: answered with 403.
    #[error("the token's groups grant no AOS role (claim `{0}`: admin, operator, developer, viewer or machine)")]
    NoRole(String),
    #[error("the identity provider's keys could not be fetched: {0}")]
    Jwks(String),
}

impl TokenError {
    /// A short machine-readable reason, for logs, metrics and the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm(_) => "algorithm",
            TokenError::UnknownKey(_) => "unknown_kid",
            TokenError::Signature => "signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::Issuer => "issuer",
            TokenError::Audience => "audience",
            TokenError::NoTenant(_) => "no_tenant",
            TokenError::NoRole(_) => "no_role",
            TokenError::Jwks(_) => "jwks_unavailable",
        }
    }
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

pub struct OidcVerifier {
    pub config: OidcConfig,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    fetching: Mutex<()>,
}

/// What a verified token says besides the principal: its id, for "first seen" login records.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// `jti` (or `origin_jti`), when the token has one.
    pub token_id: Option<String>,
}

impl OidcVerifier {
    pub fn new(config: OidcConfig) -> Self {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { config, http, cache: RwLock::new(KeyCache { keys: HashMap::new(), fetched_at: None }), fetching: Mutex::new(()) }
    }

    /// Verifies `token` and derives the principal from it.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        // A header naming an algorithm the library does not know (`none`) fails to decode: say which.
        let header = jsonwebtoken::decode_header(token).map_err(|_| alg_of(token).map_or(TokenError::Malformed, TokenError::Algorithm))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.clone().ok_or_else(|| TokenError::UnknownKey(String::new()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[&self.config.issuer]);
        // Cognito access tokens carry `client_id` instead of `aud`: checked below for both.
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidIssuer => TokenError::Issuer,
                K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) => TokenError::Signature,
                K::InvalidAlgorithm => TokenError::Algorithm(format!("{:?}", header.alg)),
                K::MissingRequiredClaim(c) if c == "iss" => TokenError::Issuer,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        if !self.audience_ok(&claims) {
            return Err(TokenError::Audience);
        }
        let principal = self.principal(&claims)?;
        let token_id = claims.get("origin_jti").or_else(|| claims.get("jti")).and_then(Value::as_str).map(str::to_string);
        Ok(VerifiedToken { principal, token_id })
    }

    fn audience_ok(&self, claims: &Value) -> bool {
        let accepted = |v: &str| self.config.audiences.iter().any(|a| a == v);
        match claims.get("aud") {
            Some(Value::String(a)) => accepted(a),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(accepted),
            _ => {
                claims.get("token_use").and_then(Value::as_str) == Some("access")
                    && claims.get("client_id").and_then(Value::as_str).is_some_and(accepted)
            }
        }
    }

    fn principal(&self, claims: &Value) -> Result<Principal, TokenError> {
        let tenant = claims
            .get(&self.config.tenant_claim)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.config.default_tenant.clone())
            .filter(|t| valid_tenant(t))
            .ok_or_else(|| TokenError::NoTenant(self.config.tenant_claim.clone()))?;
        let groups: Vec<&str> = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => s.split([',', ' ']).filter(|g| !g.is_empty()).collect(),
            _ => Vec::new(),
        };
        let role = Role::strongest(groups.iter().filter_map(|g| Role::parse(g.strip_prefix("aos-").unwrap_or(g))))
            .ok_or_else(|| TokenError::NoRole(self.config.groups_claim.clone()))?;
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = ["email", "cognito:username", "username", "preferred_username", "name"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .unwrap_or(&sub)
            .to_string();
        let expires_at_ms = claims.get("exp").and_then(Value::as_i64).map(|s| s * 1000);
        Ok(Principal { tenant, role, kind: PrincipalKind::User, id: sub, name, expires_at_ms })
    }

    /// The decoding key for `kid`, fetching the JWKS when it is stale or lacks the key.
    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < JWKS_TTL);
            if let (Some(k), true) = (cache.keys.get(kid), fresh) {
                return Ok(k.clone());
            }
        }
        let _one_fetch = self.fetching.lock().await;
        {
            // Another request may have fetched while this one waited.
            let cache = self.cache.read().await;
            let recent = cache.fetched_at.is_some_and(|t| t.elapsed() < self.config.refetch_after);
            match (cache.keys.get(kid), recent) {
                (Some(k), _) if cache.fetched_at.is_some_and(|t| t.elapsed() < JWKS_TTL) => return Ok(k.clone()),
                (None, true) => return Err(TokenError::UnknownKey(kid.to_string())),
                _ => {}
            }
        }
        let keys = match self.fetch().await {
            Ok(keys) => keys,
            Err(e) => {
                // Serve from the stale cache while the provider is unreachable.
                let cache = self.cache.read().await;
                return cache.keys.get(kid).cloned().ok_or(e);
            }
        };
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        cache.keys.get(kid).cloned().ok_or_else(|| TokenError::UnknownKey(kid.to_string()))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, TokenError> {
        let err = |e: &dyn std::fmt::Display| TokenError::Jwks(e.to_string());
        let resp = self.http.get(&self.config.jwks_url).send().await.map_err(|e| err(&e))?;
        if !resp.status().is_success() {
            return Err(TokenError::Jwks(format!("{} answered {}", self.config.jwks_url, resp.status())));
        }
        let set: JwkSet = resp.json().await.map_err(|e| err(&e))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Only public keys of the accepted families; a symmetric key in a JWKS is ignored.
            if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)) {
                continue;
            }
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else { continue };
            keys.insert(kid, key);
        }
        tracing::info!(url = %self.config.jwks_url, keys = keys.len(), "fetched the identity provider's signing keys");
        Ok(keys)
    }
}

/// The `alg` of a token whose header names an algorithm this library does not know (e.g. `none`).
fn alg_of(token: &str) -> Option<String> {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head.trim_end_matches('=')).ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    header.get("alg").and_then(Value::as_str).map(|a| a.chars().take(16).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> OidcVerifier {
        OidcVerifier::new(OidcConfig::new("https://issuer.example", vec!["client-1".into()]))
    }

    fn b64(v: &Value) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[tokio::test]
    async fn none_and_hmac_tokens_are_refused_before_any_key_is_fetched() {
        let v = verifier();
        let claims = b64(&serde_json::json!({"iss": "https://issuer.example", "sub": "u", "aud": "client-1", "exp": 4_000_000_000u64}));
        let none = format!("{}.{claims}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})));
        assert!(matches!(v.verify(&none).await, Err(TokenError::Algorithm(a)) if a == "none"));
        let hs = format!("{}.{claims}.c2ln", b64(&serde_json::json!({"alg": "HS256", "kid": "k"})));
        assert!(matches!(v.verify(&hs).await, Err(TokenError::Algorithm(a)) if a == "HS256"));
        assert_eq!(v.verify("not-a-jwt").await.unwrap_err(), TokenError::Malformed);
    }

    #[test]
    fn roles_come_from_groups_and_the_strongest_wins() {
        let v = verifier();
        let claims = serde_json::json!({"sub": "s1", "custom:tenant": "acme", "cognito:groups": ["viewer", "aos-operator"], "email": "a@example.com"});
        let p = v.principal(&claims).unwrap();
        assert_eq!((p.tenant.as_str(), p.role, p.name.as_str()), ("acme", Role::Operator, "a@example.com"));
        assert!(matches!(
            v.principal(&serde_json::json!({"sub": "s", "custom:tenant": "acme", "cognito:groups": ["staff"]})),
            Err(TokenError::NoRole(_))
        ));
        assert!(matches!(v.principal(&serde_json::json!({"sub": "s", "cognito:groups": ["admin"]})), Err(TokenError::NoTenant(_))));
        assert!(matches!(
            v.principal(&serde_json::json!({"sub": "s", "custom:tenant": "../x", "cognito:groups": ["admin"]})),
            Err(TokenError::NoTenant(_))
        ));
    }

    #[test]
    fn audience_is_aud_or_an_access_tokens_client_id() {
        let v = verifier();
        assert!(v.audience_ok(&serde_json::json!({"aud": "client-1"})));
        assert!(v.audience_ok(&serde_json::json!({"aud": ["x", "client-1"]})));
        assert!(!v.audience_ok(&serde_json::json!({"aud": "client-2"})));
        assert!(v.audience_ok(&serde_json::json!({"token_use": "access", "client_id": "client-1"})));
        assert!(!v.audience_ok(&serde_json::json!({"token_use": "id", "client_id": "client-1"})));
        assert!(!v.audience_ok(&serde_json::json!({})));
    }
}
