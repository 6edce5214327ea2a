//! The web console at `/console`: the built files of `console/dist` embedded in the binary
//! (rust-embed, in debug builds too), served with their content types, caching by content hash,
//! a Content-Security-Policy, and the single-page app's fallback to `index.html`. The console is
//! static and public; every API call it makes carries the user's key or token.
//!
//! `/console/config.json` is written from the server's settings: the OpenID Connect provider users
//! sign in with (the same issuer and client the API accepts), or none.

use aos_api::error::ApiError;
use aos_runtime::oidc::OidcConfig;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;
use std::sync::Arc;

/// The console's build output (`cd console && npm run build`), committed so that `cargo build`
/// needs no Node (docs/console.md).
#[derive(RustEmbed)]
#[folder = "../console/dist/"]
struct Assets;

/// Where the console is mounted; Vite's `base` says the same (console/vite.config.ts).
pub const MOUNT: &str = "/console";

/// Overrides for the console's OpenID Connect sign-in, from the environment (read by `aos serve`
/// only; on AWS the deploy step writes `config.json` itself, docs/deploy.md).
pub const ENV_METADATA_URL: &str = "AOS_CONSOLE_OIDC_METADATA_URL";
pub const ENV_CLIENT_ID: &str = "AOS_CONSOLE_OIDC_CLIENT_ID";

/// What the console needs to know about this deployment.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConsoleConfig {
    /// `None`: the API at the console's own origin.
    pub api_base_url: Option<String>,
    pub oidc: Option<ConsoleOidc>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsoleOidc {
    /// The issuer; oidc-client-ts reads `<authority>/.well-known/openid-configuration`.
    pub authority: String,
    /// A public app client (authorization code with PKCE, no secret): one of the API's audiences.
    pub client_id: String,
    /// The discovery document's URL when it is not under the issuer (emulators such as moto).
    pub metadata_url: Option<String>,
}

impl ConsoleConfig {
    /// Sign-in through the provider the API accepts tokens from: its issuer and first audience,
    /// unless `AOS_CONSOLE_OIDC_CLIENT_ID` names another of the audiences.
    pub fn from_oidc(oidc: Option<&OidcConfig>, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let Some(oidc) = oidc else { return Ok(Self::default()) };
        let nonempty = |k: &str| lookup(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let client_id = match nonempty(ENV_CLIENT_ID) {
            Some(id) if oidc.audiences.contains(&id) => id,
            Some(id) => anyhow::bail!("{ENV_CLIENT_ID}={id} is not one of the accepted audiences (AOS_OIDC_AUDIENCE)"),
            None => oidc.audiences.first().cloned().unwrap_or_default(),
        };
        let metadata_url = nonempty(ENV_METADATA_URL);
        if let Some(url) = &metadata_url {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "{ENV_METADATA_URL} must be an http(s) URL: `{url}`"
            );
        }
        Ok(Self { api_base_url: None, oidc: Some(ConsoleOidc { authority: oidc.issuer.clone(), client_id, metadata_url }) })
    }

    /// The Content-Security-Policy of every console answer: scripts, styles and fonts from this
    /// origin only; requests to this origin (the API) and to the identity provider.
    fn csp(&self) -> String {
        let mut connect = vec!["'self'".to_string()];
        if let Some(o) = &self.oidc {
            for url in std::iter::once(&o.authority).chain(o.metadata_url.as_ref()) {
                if let Some(origin) = origin_of(url) {
                    if !connect.contains(&origin) {
                        connect.push(origin);
                    }
                }
            }
            // Cognito's token endpoint is on the user pool's domain, not on the issuer's host.
            if o.authority.contains(".amazonaws.com/") {
                connect.push("https://*.amazoncognito.com".into());
            }
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
             connect-src {}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            connect.join(" ")
        )
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    (!host.is_empty() && (scheme == "https" || scheme == "http")).then(|| format!("{scheme}://{host}"))
}

struct Served {
    config_json: Vec<u8>,
    csp: HeaderValue,
}

/// The console's routes: `/console`, `/console/` and everything under it. No authentication (the
/// files are public); nothing here reads tenant data.
pub fn router(config: &ConsoleConfig) -> Router {
    let served = Arc::new(Served {
        config_json: serde_json::to_vec(config).expect("the console config serializes"),
        csp: HeaderValue::from_str(&config.csp()).expect("the CSP is a valid header value"),
    });
    Router::new()
        .route(MOUNT, get(index))
        .route(&format!("{MOUNT}/"), get(index))
        .route(&format!("{MOUNT}/{{*path}}"), get(file))
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "the console's files are read with GET")
        })
        .with_state(served)
}

async fn index(State(s): State<Arc<Served>>, headers: HeaderMap) -> Response {
    asset(&s, "index.html", &headers)
}

/// The raw path, not a decoded `Path`: the console's file names need no decoding, and any path
/// (even one that does not decode) is then either a file, a 404 or the app.
async fn file(State(s): State<Arc<Served>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().strip_prefix(MOUNT).unwrap_or_default().trim_start_matches('/');
    if path == "config.json" {
        return respond(&s, StatusCode::OK, "application/json", "no-cache", s.config_json.clone());
    }
    if Assets::get(path).is_some() {
        return asset(&s, path, &headers);
    }
    // A missing file (a hashed asset of another build, a typo) is a 404; any other path is a page
    // of the single-page app, whose router decides what it shows.
    let last = path.rsplit('/').next().unwrap_or_default();
    if path.starts_with("assets/") || last.contains('.') {
        return respond(&s, StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no-cache", b"no such console file\n".to_vec());
    }
    asset(&s, "index.html", &headers)
}

fn asset(s: &Served, path: &str, headers: &HeaderMap) -> Response {
    let Some(f) = Assets::get(path) else {
        // Only a binary built without `console/dist` gets here.
        let msg = b"the console was not built into this binary: run `cd console && npm ci && npm run build`, then rebuild\n";
        return respond(s, StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no-cache", msg.to_vec());
    };
    let etag = format!("\"{}\"", hex(&f.metadata.sha256_hash()[..16]));
    // Vite names every asset by its content hash: cached for good. index.html names the current
    // assets, so browsers ask again each time (and get 304 when nothing changed).
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mime = f.metadata.mimetype();
    let mime =
        if mime.starts_with("text/") || mime == "application/javascript" { format!("{mime}; charset=utf-8") } else { mime.to_string() };
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        let mut r = respond(s, StatusCode::NOT_MODIFIED, &mime, cache, Vec::new());
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
        return r;
    }
    let mut r = respond(s, StatusCode::OK, &mime, cache, f.data.into_owned());
    r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    r
}

fn respond(s: &Served, status: StatusCode, content_type: &str, cache: &'static str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, s.csp.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_path(app: &Router, path: &str, etag: Option<&str>) -> Response {
        let mut req = axum::http::Request::get(path);
        if let Some(t) = etag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap()
    }

    fn header_of(r: &Response, name: header::HeaderName) -> &str {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[tokio::test]
    async fn serves_index_assets_fallback_and_config() {
        let app = router(&ConsoleConfig::default());
        let index = get_path(&app, "/console", None).await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(header_of(&index, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header_of(&index, header::CACHE_CONTROL), "no-cache");
        assert!(header_of(&index, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        // A page of the app (deep link) is index.html too; 304 when the browser has it.
        let etag = header_of(&index, header::ETAG).to_string();
        let deep = get_path(&app, "/console/runs/r-123", Some(&etag)).await;
        assert_eq!(deep.status(), StatusCode::NOT_MODIFIED);
        // Every hashed asset: its type and cached for good.
        let js = Assets::iter().find(|p| p.starts_with("assets/") && p.ends_with(".js")).expect("a built script");
        let r = get_path(&app, &format!("/console/{js}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "public, max-age=31536000, immutable");
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        // Any path, even one that does not decode, is a file, a 404 or the app; other methods 405.
        assert_eq!(get_path(&app, "/console/runs/%FF%FE", None).await.status(), StatusCode::OK);
        let post = axum::http::Request::post("/console/runs").body(axum::body::Body::empty()).unwrap();
        assert_eq!(app.clone().oneshot(post).await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
        // A missing asset is 404, not the app.
        assert_eq!(get_path(&app, "/console/assets/gone-1234.js", None).await.status(), StatusCode::NOT_FOUND);
        let cfg = get_path(&app, "/console/config.json", None).await;
        assert_eq!(header_of(&cfg, header::CONTENT_TYPE), "application/json");
        let body = axum::body::to_bytes(cfg.into_body(), 1 << 16).await.unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap(), serde_json::json!({"api_base_url": null, "oidc": null}));
    }

    #[test]
    fn oidc_settings_become_the_console_config_and_its_csp() {
        let oidc = OidcConfig::new("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab", vec!["client1".into(), "client2".into()]);
        let env =
            |k: &str| (k == ENV_METADATA_URL).then(|| "http://127.0.0.1:5000/eu-west-1_Ab/.well-known/openid-configuration".to_string());
        let c = ConsoleConfig::from_oidc(Some(&oidc), env).unwrap();
        let o = c.oidc.as_ref().unwrap();
        assert_eq!((o.client_id.as_str(), o.authority.as_str()), ("client1", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"));
        let csp = c.csp();
        assert!(
            csp.contains(
                "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com http://127.0.0.1:5000 https://*.amazoncognito.com;"
            ),
            "{csp}"
        );
        let other = |k: &str| (k == ENV_CLIENT_ID).then(|| "client2".to_string());
        assert_eq!(ConsoleConfig::from_oidc(Some(&oidc), other).unwrap().oidc.unwrap().client_id, "client2");
        let stranger = |k: &str| (k == ENV_CLIENT_ID).then(|| "nope".to_string());
        assert!(ConsoleConfig::from_oidc(Some(&oidc), stranger).is_err());
        assert!(ConsoleConfig::from_oidc(None, |_| None).unwrap().oidc.is_none());
    }
}
