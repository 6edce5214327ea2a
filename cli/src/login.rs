//! `aos login` / `aos logout`: people sign in through Amazon Cognito (USER_PASSWORD_AUTH over the
//! cognito-idp JSON API, no AWS credentials needed) and the ID token is kept, with its expiry, in
//! `$XDG_CONFIG_HOME/aos/credentials.json` (directory 0700, file 0600). The other commands send it
//! when no `--api-key` / `AOS_API_KEY` is given, and refuse it once it has expired.
//!
//! The ID token is kept (not the access token) because Cognito puts the user's custom attributes,
//! and so the `custom:tenant` claim AOS reads, only into ID tokens. No refresh token is stored.

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

/// What `aos login` stores.
#[derive(Debug, Serialize, Deserialize)]
pub struct Credentials {
    /// The bearer token sent to the API.
    pub token: String,
    /// When it stops being accepted (ms since the epoch).
    pub expires_at_ms: i64,
    /// Where it came from, e.g. `cognito:us-east-1:<client id>`.
    pub provider: String,
    pub username: String,
    /// The AOS API the user logged in for (`--url` at login), used when no `--url` is given later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `$XDG_CONFIG_HOME/aos/credentials.json` (or `~/.config/aos/credentials.json`).
pub fn credentials_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .context("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep credentials")?,
        )
        .join(".config"),
    };
    Ok(base.join("aos").join("credentials.json"))
}

/// The stored credentials, if any (an unreadable or corrupt file is an error, not "logged out").
pub fn load() -> anyhow::Result<Option<Credentials>> {
    let path = credentials_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid: run `aos logout` and `aos login` again", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save(c: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    let dir = path.parent().expect("credentials path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(c)?.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The Cognito user pool's region, e.g. `eu-west-1`.
    #[arg(long, env = "AOS_COGNITO_REGION")]
    pub region: String,
    /// The user pool's app client id (a public client, with USER_PASSWORD_AUTH allowed).
    #[arg(long, env = "AOS_COGNITO_CLIENT_ID")]
    pub client_id: String,
    /// The user's name in the pool.
    #[arg(long)]
    pub username: String,
    /// Read the password from the first line of standard input instead of a prompt (or `AOS_PASSWORD`).
    #[arg(long)]
    pub password_stdin: bool,
    /// The cognito-idp endpoint, for emulators (default `https://cognito-idp.<region>.amazonaws.com`).
    #[arg(long, env = "AOS_COGNITO_ENDPOINT")]
    pub endpoint: Option<String>,
}

fn password(args: &LoginArgs) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(p) = std::env::var("AOS_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: give --password-stdin or AOS_PASSWORD when standard input is not a terminal");
    }
    rpassword::prompt_password(format!("Password for {}: ", args.username)).context("reading the password")
}

/// Signs in with USER_PASSWORD_AUTH and stores the ID token.
pub async fn login(args: LoginArgs, url: Option<String>, json_out: bool) -> anyhow::Result<()> {
    let password = password(&args)?;
    if password.is_empty() {
        bail!("the password is empty");
    }
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://cognito-idp.{}.amazonaws.com", args.region))
        .trim_end_matches('/')
        .to_string();
    let body = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": args.client_id, "AuthParameters": {"USERNAME": args.username, "PASSWORD": password}});
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
        .header("Content-Type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("cannot reach Cognito at {endpoint}"))?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        // `__type` is e.g. `NotAuthorizedException` or `com.amazonaws...#UserNotFoundException`.
        let kind = answer["__type"].as_str().unwrap_or("error").rsplit('#').next().unwrap_or("error");
        let message = answer["message"].as_str().or_else(|| answer["Message"].as_str()).unwrap_or("");
        bail!("Cognito refused the login ({status} {kind}): {message}");
    }
    if let Some(challenge) = answer["ChallengeName"].as_str() {
        bail!("Cognito asks for the {challenge} challenge, which `aos login` does not answer: complete it in the hosted UI or with the AWS CLI first");
    }
    let result = &answer["AuthenticationResult"];
    let token = result["IdToken"].as_str().context("Cognito's answer has no IdToken")?.to_string();
    let expires_at_ms = jwt_exp_ms(&token).unwrap_or_else(|| now_ms() + result["ExpiresIn"].as_i64().unwrap_or(3600) * 1000);
    let creds = Credentials {
        token,
        expires_at_ms,
        provider: format!("cognito:{}:{}", args.region, args.client_id),
        username: args.username.clone(),
        url,
    };
    let path = save(&creds)?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"username": creds.username, "provider": creds.provider, "expires_at_ms": creds.expires_at_ms, "credentials": path})
            )?
        );
    } else {
        println!(
            "logged in as {} (token valid for {} min, kept in {})",
            creds.username,
            (creds.expires_at_ms - now_ms()) / 60_000,
            path.display()
        );
    }
    Ok(())
}

/// The `exp` of a JWT, read without verifying it (the API verifies; this only tells the user).
fn jwt_exp_ms(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["exp"].as_i64().map(|s| s * 1000)
}

pub fn logout(json_out: bool) -> anyhow::Result<()> {
    let path = credentials_path()?;
    let removed = match std::fs::remove_file(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    };
    if json_out {
        println!("{}", json!({"logged_out": removed}));
    } else if removed {
        println!("logged out ({} removed)", path.display());
    } else {
        println!("not logged in");
    }
    Ok(())
}
