//! The authorizer function and the API functions behind it, on moto: `events/authorizer-request.json`
//! carrying real API keys from the DynamoDB table and real ID tokens from moto's Cognito, and API
//! Gateway events carrying the authorizer's context into the API functions — where permissions
//! are still checked and nothing a client sends can set the tenant.

mod support;

use aos_lambda::api;
use aos_lambda::authorizer::{context_of, Authorizer, AuthorizerResponse};
use aos_runtime::auth::{NewKey, Principal, PrincipalKind, Role};
use aos_runtime::oidc::OidcConfig;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{json, Value};
use std::sync::Arc;
use support::*;

fn request(credential: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
    let mut event: Value = serde_json::from_str(&event_text("authorizer-request.json")).expect("JSON");
    match credential {
        Some(c) => {
            let text = event.to_string().replace(&format!("Bearer {SAMPLE_KEY}"), &format!("Bearer {c}"));
            event = serde_json::from_str(&text).expect("JSON");
        }
        None => {
            event["identitySource"] = json!([]);
            event["headers"].as_object_mut().expect("headers").remove("authorization");
        }
    }
    serde_json::from_value(event).expect("an authorizer request")
}

async fn authorize(a: &Authorizer, credential: Option<&str>) -> AuthorizerResponse {
    a.handle(lambda_event(request(credential))).await.expect("the authorizer answers")
}

fn ctx(r: &AuthorizerResponse) -> Value {
    Value::Object(r.context.clone())
}

#[tokio::test]
async fn an_api_key_from_the_table_is_authorized_with_its_principal_as_context() {
    let stack = Stack::new().await;
    let (key, rec) = stack.rt.keys().create_with(TENANT, NewKey::new(Role::Viewer, "dashboards", "bootstrap")).await.expect("create a key");
    let a = Authorizer::new(stack.rt.clone(), None);
    let r = authorize(&a, Some(&key)).await;
    assert!(r.is_authorized, "{r:?}");
    assert_eq!(ctx(&r), json!({"tenant": TENANT, "role": "viewer", "kind": "api_key", "id": rec.key_id, "name": "dashboards"}));
    // As the gateway serializes it: a simple response, and no trace of the credential.
    let wire = serde_json::to_string(&r).expect("JSON");
    assert!(wire.starts_with(r#"{"isAuthorized":true,"context":{"#), "{wire}");
    assert!(!wire.contains(&key) && !wire.contains(&key[rec.prefix.len()..]), "the key is not in the response: {wire}");
    // The lookup recorded the key's use, as a request to `aos serve` does.
    let listed = stack.rt.keys().get(TENANT, &rec.key_id).await.expect("read").expect("listed");
    assert!(listed.last_used_at_ms.is_some(), "{listed:?}");

    // A key with an expiry passes it on.
    let exp = aos_runtime::runs::now_ms() + 3_600_000;
    let new = NewKey { expires_at_ms: Some(exp), ..NewKey::new(Role::Machine, "ci", "bootstrap") };
    let (key, _) = stack.rt.keys().create_with(TENANT, new).await.expect("create a key");
    let r = authorize(&a, Some(&key)).await;
    assert_eq!((r.is_authorized, &ctx(&r)["role"], &ctx(&r)["expires_at_ms"]), (true, &json!("machine"), &json!(exp)));
}

#[tokio::test]
async fn revoked_unknown_and_missing_keys_are_not_authorized() {
    let stack = Stack::new().await;
    let (key, rec) = stack.rt.keys().create(TENANT, Role::Admin).await.expect("create a key");
    let a = Authorizer::new(stack.rt.clone(), None);
    assert!(authorize(&a, Some(&key)).await.is_authorized);
    stack.rt.keys().revoke(TENANT, &rec.key_id).await.expect("revoke");
    let denied = AuthorizerResponse::deny();
    assert_eq!(authorize(&a, Some(&key)).await, denied, "a revoked key");
    assert_eq!(authorize(&a, Some(SAMPLE_KEY)).await, denied, "a key no tenant has");
    assert_eq!(authorize(&a, None).await, denied, "no Authorization header");
    assert_eq!(authorize(&a, Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")).await, denied, "a token, with no identity provider configured");
    // Basic credentials are not bearer credentials.
    let text = serde_json::to_string(&request(Some(&key))).expect("JSON").replace(&format!("Bearer {key}"), "Basic dXNlcjpwYXNz");
    let r = a.handle(lambda_event(serde_json::from_str(&text).expect("request"))).await.expect("answers");
    assert_eq!(r, denied);
}

#[tokio::test]
async fn an_unreachable_table_is_an_error_not_a_cached_denial() {
    let stack = Stack::new().await;
    let config = sdk_config(&moto_url()).await;
    let settings = aos_aws::AwsSettings {
        table: "aos-test-no-such-table".into(),
        queue_urls: stack.queue_urls.clone(),
        secrets_prefix: "aos-test".into(),
    };
    let broken = Arc::new(aos_lambda::runtime_with(aos_aws::ports(&config, &settings, stack.rt.ports().skills.clone())));
    let key = stack.api_key().await;
    let err = Authorizer::new(broken, None).handle(lambda_event(request(Some(&key)))).await.expect_err("an invocation error");
    assert!(!err.to_string().contains(&key), "{err}");
}

// ---------------------------------------------------------------- Cognito (moto)

/// A user pool on moto's Cognito with an app client, the AOS groups and users.
struct Pool {
    http: reqwest::Client,
    url: String,
    id: String,
    client_id: String,
}

impl Pool {
    async fn call(http: &reqwest::Client, url: &str, action: &str, body: Value) -> Value {
        let resp = http
            .post(url)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("AWSCognitoIdentityProviderService.{action}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{action} on moto: {e}"));
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        assert!(status.is_success(), "{action}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn new() -> Pool {
        let (http, url) = (reqwest::Client::new(), moto_url());
        let schema = json!([{"Name": "tenant", "AttributeDataType": "String", "Mutable": true}]);
        let pool = Self::call(
            &http,
            &url,
            "CreateUserPool",
            json!({"PoolName": format!("aos-{}", uuid::Uuid::new_v4().simple()), "Schema": schema}),
        )
        .await;
        let id = pool["UserPool"]["Id"].as_str().expect("pool id").to_string();
        let flows =
            json!(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]);
        let client =
            Self::call(&http, &url, "CreateUserPoolClient", json!({"UserPoolId": id, "ClientName": "aos", "ExplicitAuthFlows": flows}))
                .await;
        let client_id = client["UserPoolClient"]["ClientId"].as_str().expect("client id").to_string();
        for g in Role::ALL {
            Self::call(&http, &url, "CreateGroup", json!({"UserPoolId": id, "GroupName": g.as_str()})).await;
        }
        Pool { http, url, id, client_id }
    }

    /// The configuration a deployment derives from the pool (`AOS_OIDC_*` in template.yaml),
    /// with the keys served by moto.
    fn oidc(&self) -> OidcConfig {
        let mut cfg = OidcConfig::new(&format!("https://cognito-idp.us-east-1.amazonaws.com/{}", self.id), vec![self.client_id.clone()]);
        cfg.jwks_url = format!("{}/{}/.well-known/jwks.json", self.url, self.id);
        cfg
    }

    /// Creates a user of `tenant` in `group` and returns an ID token from a password login.
    async fn id_token(&self, email: &str, tenant: &str, group: &str) -> String {
        let password = "Corr3ct-Horse-Battery!";
        let attrs = json!([{"Name": "email", "Value": email}, {"Name": "custom:tenant", "Value": tenant}]);
        Self::call(&self.http, &self.url, "AdminCreateUser", json!({"UserPoolId": self.id, "Username": email, "UserAttributes": attrs, "MessageAction": "SUPPRESS", "TemporaryPassword": "Temp-Passw0rd!"})).await;
        Self::call(
            &self.http,
            &self.url,
            "AdminSetUserPassword",
            json!({"UserPoolId": self.id, "Username": email, "Password": password, "Permanent": true}),
        )
        .await;
        Self::call(&self.http, &self.url, "AdminAddUserToGroup", json!({"UserPoolId": self.id, "Username": email, "GroupName": group}))
            .await;
        let auth = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": self.client_id, "AuthParameters": {"USERNAME": email, "PASSWORD": password}});
        let out = Self::call(&self.http, &self.url, "InitiateAuth", auth).await;
        out["AuthenticationResult"]["IdToken"].as_str().unwrap_or_else(|| panic!("no IdToken: {out}")).to_string()
    }
}

#[tokio::test]
async fn a_cognito_id_token_is_authorized_with_the_tenant_and_role_it_carries() {
    let stack = Stack::new().await;
    let pool = Pool::new().await;
    let a = Authorizer::new(stack.rt.clone(), Some(pool.oidc()));
    let token = pool.id_token("ops@example.com", TENANT, "operator").await;
    let r = authorize(&a, Some(&token)).await;
    assert!(r.is_authorized, "{r:?}");
    let c = ctx(&r);
    assert_eq!(
        (&c["tenant"], &c["role"], &c["kind"], &c["name"]),
        (&json!(TENANT), &json!("operator"), &json!("user"), &json!("ops@example.com")),
        "{c}"
    );
    assert!(
        c["id"].as_str().is_some_and(|s| !s.is_empty()) && c["expires_at_ms"].as_i64().is_some_and(|e| e > aos_runtime::runs::now_ms()),
        "{c}"
    );
    assert!(!serde_json::to_string(&r).expect("JSON").contains(&token));
    // The first request with a token is a login in the tenant's audit log, as with `aos serve`.
    let (events, _) = stack.rt.audit().list(TENANT, 0, i64::MAX / 2, None, 10, None).await.expect("audit log");
    assert_eq!(
        events.iter().map(|e| (e.action.as_str(), e.actor.clone())).collect::<Vec<_>>(),
        vec![("login", format!("user:{}", c["id"].as_str().unwrap()))]
    );

    // Another tenant's user gets that tenant; a user in no AOS group is refused.
    let other = pool.id_token("dev@example.org", "globex", "developer").await;
    let c = ctx(&authorize(&a, Some(&other)).await);
    assert_eq!((&c["tenant"], &c["role"]), (&json!("globex"), &json!("developer")));
    Pool::call(&pool.http, &pool.url, "CreateGroup", json!({"UserPoolId": pool.id, "GroupName": "staff"})).await;
    let nobody = pool.id_token("staff@example.com", TENANT, "staff").await;
    assert_eq!(authorize(&a, Some(&nobody)).await, AuthorizerResponse::deny());
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_not_authorized() {
    let stack = Stack::new().await;
    let pool = Pool::new().await;
    let a = Authorizer::new(stack.rt.clone(), Some(pool.oidc()));
    let token = pool.id_token("viewer@example.com", TENANT, "viewer").await;
    assert!(authorize(&a, Some(&token)).await.is_authorized);
    let denied = AuthorizerResponse::deny();

    // The payload rewritten to another tenant and role, the signature kept.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).expect("base64")).expect("claims");
    claims["custom:tenant"] = json!("globex");
    claims["cognito:groups"] = json!(["admin"]);
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims.to_string()), parts[2]);
    assert_eq!(authorize(&a, Some(&forged)).await, denied, "a rewritten payload");
    // One character of the signature changed.
    // (The second-to-last character: the last one's low bits can be padding. It is replaced by a
    // different character, whatever it was.)
    let mut sig = parts[2].to_string();
    let at = sig.len() - 2;
    let flipped = if &sig[at..at + 1] == "A" { "B" } else { "A" };
    sig.replace_range(at..at + 1, flipped);
    assert_ne!(sig, parts[2]);
    assert_eq!(authorize(&a, Some(&format!("{}.{}.{sig}", parts[0], parts[1]))).await, denied, "a changed signature");
    // Signed by the same provider for another app client: not this deployment's audience.
    let mut other = pool.oidc();
    other.audiences = vec!["another-client".into()];
    assert_eq!(authorize(&Authorizer::new(stack.rt.clone(), Some(other)), Some(&token)).await, denied, "another audience");
    // Keys still work next to tokens.
    assert!(authorize(&a, Some(&stack.api_key().await)).await.is_authorized);
}

// ---------------------------------------------------------------- behind the authorizer

/// An API Gateway event for `method path` as it reaches an API function behind the authorizer:
/// the authorizer's context in `requestContext.authorizer.lambda`, and no credential at all (so
/// only the context can authenticate it).
fn behind_authorizer(method: &str, path: &str, principal: Option<&Principal>, body: Option<&Value>) -> Value {
    let mut e: Value = serde_json::from_str(&event_text("api-runs-submit.json")).expect("JSON");
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    e["rawPath"] = json!(raw_path);
    e["rawQueryString"] = json!(query);
    e["requestContext"]["http"]["path"] = json!(raw_path);
    e["requestContext"]["http"]["method"] = json!(method);
    let headers = e["headers"].as_object_mut().expect("headers");
    headers.remove("authorization");
    match body {
        Some(b) => {
            headers.insert("content-length".into(), json!(b.to_string().len().to_string()));
            e["body"] = json!(b.to_string());
        }
        None => {
            headers.insert("content-length".into(), json!("0"));
            e["body"] = Value::Null;
        }
    }
    if let Some(p) = principal {
        e["requestContext"]["authorizer"] = json!({"lambda": Value::Object(context_of(p))});
    }
    e
}

fn viewer(tenant: &str) -> Principal {
    Principal {
        tenant: tenant.into(),
        role: Role::Viewer,
        kind: PrincipalKind::User,
        id: "sub-viewer".into(),
        name: "viewer@example.com".into(),
        expires_at_ms: None,
    }
}

fn run_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("runs: {body}"))
        .iter()
        .filter_map(|r| r["run_id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn behind_the_authorizer_the_context_is_the_principal_and_permissions_still_apply() {
    let stack = Stack::new().await;
    // One run in each of two tenants, submitted with each tenant's admin key.
    let submit = |key: String| {
        let app = api::app(stack.rt.clone(), group("api-runs")).expect("app");
        async move {
            let (status, body) = invoke_api(app, &event_with("api-runs-submit.json", &[(SAMPLE_KEY, &key)])).await;
            assert_eq!(status, 202, "{body}");
            body["run_id"].as_str().expect("run_id").to_string()
        }
    };
    let mine = submit(stack.api_key().await).await;
    let theirs = submit(stack.rt.keys().create("globex", Role::Admin).await.expect("key").0).await;
    let runs = || api::app(stack.rt.clone(), group("api-runs")).expect("app");
    let plan_body: Value = serde_json::from_str(event_text("api-runs-submit.json").as_str())
        .map(|e: Value| serde_json::from_str(e["body"].as_str().expect("body")).expect("JSON"))
        .expect("JSON");

    // A viewer of acme, as the authorizer passes it on: reads its tenant's runs only...
    let v = viewer(TENANT);
    let (status, body) = invoke_api(runs(), &behind_authorizer("GET", "/api/v1/runs?limit=50", Some(&v), None).to_string()).await;
    assert_eq!((status, run_ids(&body)), (200, vec![mine.clone()]), "{body}");
    let (status, _) = invoke_api(runs(), &behind_authorizer("GET", &format!("/api/v1/runs/{theirs}"), Some(&v), None).to_string()).await;
    assert_eq!(status, 404, "another tenant's run does not exist for it");
    // ... and may not write: the function checks the permission itself.
    let (status, body) = invoke_api(runs(), &behind_authorizer("POST", "/api/v1/runs", Some(&v), Some(&plan_body)).to_string()).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("FORBIDDEN")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("runs:write")), "{body}");
    // The denial is in acme's audit log under the authorizer's principal.
    let (events, _) = stack.rt.audit().list(TENANT, 0, i64::MAX / 2, None, 10, None).await.expect("audit");
    assert!(events.iter().any(|e| e.action.as_str() == "permission.denied" && e.actor == "user:sub-viewer"), "{events:?}");

    // Nothing a client sends moves the viewer to another tenant or role: tenant headers, a
    // forged context in headers, or a forged principal in the body.
    let (status, body) = invoke_api(runs(), &behind_authorizer("GET", "/api/v1/runs?tenant=globex", Some(&v), None).to_string()).await;
    assert_eq!((status, &body["error"]["details"]["field"]), (400, &json!("tenant")), "no query parameter names a tenant: {body}");
    let mut forged = behind_authorizer("GET", "/api/v1/runs?limit=50", Some(&v), None);
    let admin_of_globex = Principal { tenant: "globex".into(), role: Role::Admin, ..v.clone() };
    let headers = forged["headers"].as_object_mut().expect("headers");
    for (h, value) in [
        ("x-aos-tenant", json!("globex")),
        ("x-tenant", json!("globex")),
        ("x-amzn-authorizer-context", json!(Value::Object(context_of(&admin_of_globex)).to_string())),
        ("x-apigateway-context", json!(json!({"authorizer": {"lambda": context_of(&admin_of_globex)}}).to_string())),
    ] {
        headers.insert(h.into(), value);
    }
    let (status, body) = invoke_api(runs(), &forged.to_string()).await;
    assert_eq!((status, run_ids(&body)), (200, vec![mine.clone()]), "{body}");
    let (status, _) = invoke_api(
        runs(),
        &behind_authorizer(
            "POST",
            "/api/v1/runs",
            Some(&v),
            Some(&json!({"principal": context_of(&admin_of_globex), "plan": plan_body["plan"]})),
        )
        .to_string(),
    )
    .await;
    assert_eq!(status, 403);

    // Without the authorizer's context, the same forged headers authenticate nobody: the function
    // verifies the credential itself, and there is none.
    forged["requestContext"].as_object_mut().expect("context").remove("authorizer");
    let (status, body) = invoke_api(runs(), &forged.to_string()).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!("UNAUTHENTICATED")), "{body}");
    // Nor does a context whose credential has expired since it was cached, or a malformed one.
    let expired = Principal { expires_at_ms: Some(aos_runtime::runs::now_ms() - 1_000), ..v.clone() };
    let (status, _) = invoke_api(runs(), &behind_authorizer("GET", "/api/v1/runs", Some(&expired), None).to_string()).await;
    assert_eq!(status, 401, "an expired principal");
    let mut malformed = behind_authorizer("GET", "/api/v1/runs", Some(&v), None);
    malformed["requestContext"]["authorizer"]["lambda"]["role"] = json!("root");
    let (status, _) = invoke_api(runs(), &malformed.to_string()).await;
    assert_eq!(status, 401, "a context that is not a principal");
    // A direct invocation without a context but with a valid key still works (defense in depth).
    let mut direct = behind_authorizer("GET", "/api/v1/runs", None, None);
    direct["headers"]["authorization"] = json!(format!("Bearer {}", stack.api_key().await));
    let (status, body) = invoke_api(runs(), &direct.to_string()).await;
    assert_eq!((status, run_ids(&body)), (200, vec![mine]), "{body}");
}
