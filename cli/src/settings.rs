//! `aos serve`'s settings: read once from the environment ([`ServeSettings::from_env`], through
//! the same parsers the Lambda functions use for the runtime, the skills, the identity provider
//! and the rate limits), then overridden by the command line's flags ([`ServeArgs::apply`]).
//! A test builds a `ServeSettings` directly and hands it to `Server::build`.

use aos_runtime::oidc::{split_list, OidcSettings};
use aos_runtime::settings::{RateLimitSettings, Vars};
use aos_runtime::{ConfigError, RuntimeSettings};
use aos_skills::SkillsConfig;
use aos_store::{Durability, OpenCheck};
use std::path::PathBuf;
use std::time::Duration;

/// Everything `aos serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Where the embedded database and the key files live (`AOS_DATA_DIR`, `./.aos`).
    pub data_dir: PathBuf,
    /// `AOS_HOST` (`127.0.0.1`).
    pub host: String,
    /// `AOS_PORT` (8080; 0 picks a free port).
    pub port: u16,
    /// `AOS_DURABILITY`: `fsync` (default) or `relaxed`.
    pub durability: Durability,
    /// `AOS_EXTRA_TENANTS`: more tenants to create on first start, each with an admin key in
    /// `<data dir>/<tenant>.key`.
    pub extra_tenants: Vec<String>,
    /// `AOS_WORKER_CONCURRENCY`: messages handled at once per queue (64).
    pub concurrency: usize,
    /// `AOS_AGGREGATE_EVERY`: how often the failure aggregation runs (24 h); `None`: never.
    pub aggregate_every: Option<Duration>,
    /// `AOS_AGGREGATE_AT`: the UTC time of day runs are aligned to, in seconds (02:00).
    pub aggregate_at_secs: u32,
    /// `AOS_HEADER_TIMEOUT_MS` (10 s), `AOS_BODY_TIMEOUT_MS` (30 s), `AOS_MAX_CONNECTIONS` (512).
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: u32,
    /// `AOS_SKIP_INTEGRITY_CHECK`: skip `PRAGMA quick_check` at start.
    pub skip_integrity_check: bool,
    /// The runtime's own settings (retention, output limits, aggregation days and threshold).
    pub runtime: RuntimeSettings,
    /// The built-in skills' settings (`AOS_HTTP_*`).
    pub skills: SkillsConfig,
    /// The identity provider (`AOS_OIDC_*`), checked when the server is built.
    pub oidc: OidcSettings,
    /// `AOS_RATE_LIMIT_PER_MINUTE`, `AOS_RATE_LIMIT_BURST`.
    pub rate_limits: RateLimitSettings,
}

impl Default for ServeSettings {
    /// The settings with no variable and no flag: what `aos serve` does out of the box.
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./.aos"),
            host: "127.0.0.1".into(),
            port: 8080,
            durability: Durability::Fsync,
            extra_tenants: Vec::new(),
            concurrency: 64,
            aggregate_every: Some(Duration::from_secs(86_400)),
            aggregate_at_secs: 2 * 3600,
            header_timeout: Duration::from_millis(10_000),
            body_timeout: Duration::from_millis(30_000),
            max_connections: 512,
            skip_integrity_check: false,
            runtime: RuntimeSettings::default(),
            skills: SkillsConfig::default(),
            oidc: OidcSettings::default(),
            rate_limits: RateLimitSettings::default(),
        }
    }
}

impl ServeSettings {
    /// The settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from any variable source; unset or empty variables keep the defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = Vars(&get);
        let mut s = Self::default();
        if let Some(dir) = var.get("AOS_DATA_DIR") {
            s.data_dir = PathBuf::from(dir);
        }
        if let Some(host) = var.get("AOS_HOST") {
            s.host = host;
        }
        if let Some(port) = var.parse("AOS_PORT", "a port number", |v| v.parse().ok())? {
            s.port = port;
        }
        if let Some(d) = var.parse("AOS_DURABILITY", "`fsync` or `relaxed`", parse_durability)? {
            s.durability = d;
        }
        if let Some(t) = var.get("AOS_EXTRA_TENANTS") {
            s.extra_tenants = split_list(&t);
        }
        if let Some(n) =
            var.parse("AOS_WORKER_CONCURRENCY", "a number of handlers of at least 1", |v| v.parse().ok().filter(|n| *n >= 1))?
        {
            s.concurrency = n;
        }
        if let Some(e) = var.get("AOS_AGGREGATE_EVERY") {
            s.aggregate_every = parse_every(&e).map_err(|reason| ConfigError::invalid("AOS_AGGREGATE_EVERY", &e, reason))?;
        }
        if let Some(a) = var.get("AOS_AGGREGATE_AT") {
            s.aggregate_at_secs = parse_time_of_day(&a).map_err(|reason| ConfigError::invalid("AOS_AGGREGATE_AT", &a, reason))?;
        }
        if let Some(ms) = var.parse("AOS_HEADER_TIMEOUT_MS", "a number of milliseconds of at least 1", positive_ms)? {
            s.header_timeout = ms;
        }
        if let Some(ms) = var.parse("AOS_BODY_TIMEOUT_MS", "a number of milliseconds of at least 1", positive_ms)? {
            s.body_timeout = ms;
        }
        if let Some(n) =
            var.parse("AOS_MAX_CONNECTIONS", "a number of connections of at least 1", |v| v.parse().ok().filter(|n| *n >= 1))?
        {
            s.max_connections = n;
        }
        if let Some(v) = var.get("AOS_SKIP_INTEGRITY_CHECK") {
            // As a command-line switch reads its variable: these words are false, anything else true.
            s.skip_integrity_check = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "n" | "f" | "off");
        }
        s.runtime = RuntimeSettings::from_lookup(&get)?;
        s.skills = SkillsConfig::from_lookup(&get).map_err(|e| ConfigError::invalid(e.var, e.value, e.reason))?;
        s.oidc = OidcSettings::from_lookup(&get)?;
        s.rate_limits = RateLimitSettings::from_lookup(&get)?;
        Ok(s)
    }

    /// What the embedded database is checked with at start.
    pub fn open_check(&self) -> OpenCheck {
        if self.skip_integrity_check {
            OpenCheck::Skip
        } else {
            OpenCheck::Quick
        }
    }
}

/// Every environment variable `aos serve` reads, shown under `aos serve --help`. A flag, where there
/// is one, overrides its variable. `cli/tests/help.rs` fails when a settings parser reads a variable
/// missing here.
pub const ENVIRONMENT: &str = "\
Environment (a flag above overrides its variable):
  Server:    AOS_DATA_DIR, AOS_HOST, AOS_PORT, AOS_DURABILITY, AOS_EXTRA_TENANTS,
             AOS_WORKER_CONCURRENCY, AOS_SKIP_INTEGRITY_CHECK, AOS_HEADER_TIMEOUT_MS,
             AOS_BODY_TIMEOUT_MS, AOS_MAX_CONNECTIONS, AOS_RATE_LIMIT_PER_MINUTE, AOS_RATE_LIMIT_BURST
  Log:       AOS_LOG (a tracing filter, default `info`; coloured only on a terminal, never with NO_COLOR)
  Runs:      AOS_MAX_STEP_OUTPUT_BYTES (1048576), AOS_MAX_RUN_OUTPUT_BYTES (16777216),
             AOS_INLINE_ATTEMPT_MS (200; 0 runs no pure step inline)
  Skills:    AOS_HTTP_ALLOW_HOSTS (loopback and private hosts http_call may reach, comma-separated),
             AOS_HTTP_MAX_RESPONSE_BYTES (5242880), AOS_HTTP_DEFAULT_TIMEOUT_MS (30000),
             AOS_SLACK_API_URL (https://slack.com/api), AOS_FS_ROOT (fs's files, under the data dir),
             AOS_FS_BUCKET (fs on AWS), AOS_FS_MAX_FILE_BYTES (10 MiB), AOS_FS_QUOTA_BYTES (100 MiB),
             AOS_FS_MAX_ENTRIES (10000)
  jq:        AOS_JQ_WORKERS (4 per core, 4 to 32), AOS_JQ_MEMORY_MB (a worker's memory cap)
  Failures:  AOS_FAILURE_RETENTION_DAYS (30), AOS_AGGREGATE_EVERY (24h), AOS_AGGREGATE_AT (02:00),
             AOS_AGGREGATE_DAYS (7), AOS_AGGREGATE_LOW_CONFIDENCE (0.75)
  Recovery:  AOS_RECOVERY_HALF_LIFE_DAYS (14), AOS_RECOVERY_CANDIDATE_LOWER (0.6), AOS_RECOVERY_MIN_EVIDENCE (3),
             AOS_RECOVERY_WINDOW_MS (a day)
  Logins:    AOS_OIDC_ISSUER, AOS_OIDC_AUDIENCE, AOS_OIDC_JWKS_URL, AOS_OIDC_GROUPS_CLAIM,
             AOS_OIDC_TENANT_CLAIM, AOS_OIDC_DEFAULT_TENANT, AOS_OIDC_JWKS_REFETCH_SECONDS
Every variable, its default and meaning: docs/operations.md.";

/// `aos serve`'s flags. Each overrides the variable named in its help; without it, the variable
/// (or the default) holds.
#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Where the embedded database and the admin key live [env: AOS_DATA_DIR] [default: ./.aos].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The address to listen on [env: AOS_HOST] [default: 127.0.0.1].
    #[arg(long)]
    pub host: Option<String>,
    /// The port to listen on; 0 picks a free one [env: AOS_PORT] [default: 8080].
    #[arg(long)]
    pub port: Option<u16>,
    /// `fsync` (commit = fsync, the default) or `relaxed` (survives a process crash, not an OS
    /// crash) [env: AOS_DURABILITY].
    #[arg(long, value_parser = parse_durability_flag)]
    pub durability: Option<Durability>,
    /// More tenants to create on first start (comma-separated); each gets an admin key written to
    /// `<data dir>/<tenant>.key`. For local multi-tenant testing [env: AOS_EXTRA_TENANTS].
    #[arg(long, value_delimiter = ',')]
    pub extra_tenants: Option<Vec<String>>,
    /// Concurrent handlers per queue [env: AOS_WORKER_CONCURRENCY] [default: 64].
    #[arg(long, value_parser = clap::value_parser!(usize))]
    pub concurrency: Option<usize>,
    /// Days to keep failure records, 1 to 3650 [env: AOS_FAILURE_RETENTION_DAYS] [default: 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub failure_retention_days: Option<u32>,
    /// How often the failure aggregation runs (`30s`, `15m`, `6h`, `1d`; `off` to never run it).
    /// Its days and threshold come from `AOS_AGGREGATE_DAYS` and `AOS_AGGREGATE_LOW_CONFIDENCE`
    /// [env: AOS_AGGREGATE_EVERY] [default: 24h].
    #[arg(long, value_parser = parse_every_flag)]
    pub aggregate_every: Option<Every>,
    /// The UTC time of day (`HH:MM`) runs are aligned to: they happen at this time plus whole
    /// multiples of `--aggregate-every` [env: AOS_AGGREGATE_AT] [default: 02:00].
    #[arg(long, value_parser = parse_time_of_day)]
    pub aggregate_at: Option<u32>,
    /// Requests a minute per API key or user (a token bucket each); 0 turns the limit off
    /// [env: AOS_RATE_LIMIT_PER_MINUTE] [default: 6000].
    #[arg(long)]
    pub rate_limit_per_minute: Option<u32>,
    /// The bucket's size: how many requests may come at once [env: AOS_RATE_LIMIT_BURST]
    /// [default: 300].
    #[arg(long)]
    pub rate_limit_burst: Option<u32>,
    /// Milliseconds a client has to send a request's line and headers, counted from when the
    /// connection starts waiting for it (so also the longest an idle keep-alive connection stays
    /// open); then the connection is closed [env: AOS_HEADER_TIMEOUT_MS] [default: 10000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request's whole body after its headers; then the
    /// request answers 408 `REQUEST_TIMEOUT` and the connection is closed
    /// [env: AOS_BODY_TIMEOUT_MS] [default: 30000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: Option<u64>,
    /// Skip the check of the database file's structure at start (`PRAGMA quick_check`, one read
    /// of the whole file: about 0.15 s per 300 MB cached, seconds from a cold disk). For very large
    /// databases only: damage then shows as 500 `CORRUPT_RECORD` on the requests that meet it
    /// [env: AOS_SKIP_INTEGRITY_CHECK].
    #[arg(long)]
    pub skip_integrity_check: bool,
    /// Most client connections open at once; further ones wait to be accepted
    /// [env: AOS_MAX_CONNECTIONS] [default: 512].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// People log in through an OpenID Connect provider: its tokens are accepted besides API keys.
#[derive(clap::Args, Debug, Default)]
pub struct OidcArgs {
    /// The issuer (`iss`) of accepted tokens, e.g. `https://cognito-idp.<region>.amazonaws.com/<pool id>`
    /// [env: AOS_OIDC_ISSUER].
    #[arg(long)]
    pub oidc_issuer: Option<String>,
    /// Accepted audiences / app client ids (comma-separated) [env: AOS_OIDC_AUDIENCE].
    #[arg(long, value_delimiter = ',')]
    pub oidc_audience: Option<Vec<String>>,
    /// Where the provider's signing keys are (default `<issuer>/.well-known/jwks.json`)
    /// [env: AOS_OIDC_JWKS_URL].
    #[arg(long)]
    pub oidc_jwks_url: Option<String>,
    /// The claim listing the user's groups, named after AOS roles (`admin`, `operator`, ... or
    /// `aos-admin`, ...) [env: AOS_OIDC_GROUPS_CLAIM] [default: cognito:groups].
    #[arg(long)]
    pub oidc_groups_claim: Option<String>,
    /// The claim naming the user's tenant [env: AOS_OIDC_TENANT_CLAIM] [default: custom:tenant].
    #[arg(long)]
    pub oidc_tenant_claim: Option<String>,
    /// The tenant of users whose token names none (otherwise such tokens are refused)
    /// [env: AOS_OIDC_DEFAULT_TENANT].
    #[arg(long)]
    pub oidc_default_tenant: Option<String>,
    /// Seconds after a JWKS fetch before a token with an unknown key id may trigger another fetch
    /// [env: AOS_OIDC_JWKS_REFETCH_SECONDS] [default: 30].
    #[arg(long)]
    pub oidc_jwks_refetch_seconds: Option<u64>,
}

impl ServeArgs {
    /// Lays the flags given over `settings`.
    pub fn apply(self, s: &mut ServeSettings) {
        fn set<T>(slot: &mut T, flag: Option<T>) {
            if let Some(v) = flag {
                *slot = v;
            }
        }
        set(&mut s.data_dir, self.data_dir);
        set(&mut s.host, self.host);
        set(&mut s.port, self.port);
        set(&mut s.durability, self.durability);
        set(&mut s.extra_tenants, self.extra_tenants);
        set(&mut s.concurrency, self.concurrency);
        set(&mut s.runtime.failure_retention_days, self.failure_retention_days);
        set(&mut s.aggregate_every, self.aggregate_every.map(|e| e.0));
        set(&mut s.aggregate_at_secs, self.aggregate_at);
        set(&mut s.rate_limits.per_minute, self.rate_limit_per_minute);
        set(&mut s.rate_limits.burst, self.rate_limit_burst);
        set(&mut s.header_timeout, self.header_timeout_ms.map(Duration::from_millis));
        set(&mut s.body_timeout, self.body_timeout_ms.map(Duration::from_millis));
        set(&mut s.max_connections, self.max_connections);
        s.skip_integrity_check |= self.skip_integrity_check;
        let o = self.oidc;
        set(&mut s.oidc.issuer, o.oidc_issuer.map(Some));
        set(&mut s.oidc.audiences, o.oidc_audience);
        set(&mut s.oidc.jwks_url, o.oidc_jwks_url.map(Some));
        set(&mut s.oidc.groups_claim, o.oidc_groups_claim.map(Some));
        set(&mut s.oidc.tenant_claim, o.oidc_tenant_claim.map(Some));
        set(&mut s.oidc.default_tenant, o.oidc_default_tenant.map(Some));
        set(&mut s.oidc.refetch_seconds, o.oidc_jwks_refetch_seconds.map(Some));
    }
}

/// An interval, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub Option<Duration>);

fn parse_every_flag(v: &str) -> Result<Every, String> {
    parse_every(v).map(Every)
}

/// `off`, or a number with a unit `s`, `m`, `h` or `d` (at least one second).
pub fn parse_every(v: &str) -> Result<Option<Duration>, String> {
    let v = v.trim();
    if v == "off" {
        return Ok(None);
    }
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("`{v}` is not `off` or a number with a unit (30s, 15m, 6h, 1d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{v}`: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("the interval must be at least 1s (or `off`)".into());
    }
    Ok(Some(Duration::from_secs(secs)))
}

/// `HH:MM` (UTC) as seconds after midnight.
pub fn parse_time_of_day(v: &str) -> Result<u32, String> {
    let bad = || format!("`{v}` is not a UTC time of day HH:MM");
    let (h, m) = v.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

fn parse_durability(v: &str) -> Option<Durability> {
    match v {
        "fsync" => Some(Durability::Fsync),
        "relaxed" => Some(Durability::Relaxed),
        _ => None,
    }
}

fn parse_durability_flag(v: &str) -> Result<Durability, String> {
    parse_durability(v).ok_or_else(|| format!("must be `fsync` or `relaxed`, not `{v}`"))
}

fn positive_ms(v: &str) -> Option<Duration> {
    v.parse::<u64>().ok().filter(|n| *n >= 1).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn from(vars: &[(&str, &str)]) -> Result<ServeSettings, ConfigError> {
        ServeSettings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn the_environment_is_read_once_and_flags_override_it() {
        let s = from(&[
            ("AOS_PORT", "9000"),
            ("AOS_DURABILITY", "relaxed"),
            ("AOS_FAILURE_RETENTION_DAYS", "7"),
            ("AOS_RATE_LIMIT_PER_MINUTE", "0"),
            ("AOS_EXTRA_TENANTS", "a, b,"),
            ("AOS_AGGREGATE_EVERY", "off"),
            ("AOS_HTTP_ALLOW_HOSTS", "127.0.0.1"),
            ("AOS_OIDC_AUDIENCE", "app"),
        ])
        .unwrap();
        assert_eq!((s.port, s.durability, s.runtime.failure_retention_days, s.rate_limits.per_minute), (9000, Durability::Relaxed, 7, 0));
        assert_eq!(
            (s.extra_tenants.clone(), s.aggregate_every, s.skills.http_allow_hosts.clone()),
            (vec!["a".to_string(), "b".to_string()], None, vec!["127.0.0.1".to_string()])
        );
        let mut s = s;
        let cli = Cli::try_parse_from([
            "serve",
            "--port",
            "0",
            "--failure-retention-days",
            "3650",
            "--aggregate-every",
            "15m",
            "--oidc-issuer",
            "https://idp.example",
        ])
        .unwrap();
        cli.args.apply(&mut s);
        assert_eq!((s.port, s.runtime.failure_retention_days, s.aggregate_every), (0, 3650, Some(Duration::from_secs(900))));
        assert_eq!(s.durability, Durability::Relaxed, "no flag: the variable holds");
        let oidc = s.oidc.config().unwrap().expect("an issuer from the flag, the audience from the variable");
        assert_eq!((oidc.issuer.as_str(), oidc.audiences.clone()), ("https://idp.example", vec!["app".to_string()]));
        assert!(from(&[]).unwrap().oidc.config().unwrap().is_none());
    }

    #[test]
    fn errors_name_the_variable_or_flag() {
        for (name, value) in [
            ("AOS_PORT", "http"),
            ("AOS_DURABILITY", "sometimes"),
            ("AOS_FAILURE_RETENTION_DAYS", "0"),
            ("AOS_AGGREGATE_EVERY", "5w"),
            ("AOS_AGGREGATE_AT", "24:00"),
            ("AOS_HEADER_TIMEOUT_MS", "0"),
            ("AOS_MAX_CONNECTIONS", "0"),
            ("AOS_HTTP_MAX_RESPONSE_BYTES", "-1"),
            ("AOS_RATE_LIMIT_BURST", "x"),
            ("AOS_OIDC_JWKS_REFETCH_SECONDS", "soon"),
        ] {
            let e = from(&[(name, value)]).expect_err(name);
            assert_eq!(e.name(), name, "{e}");
            assert!(e.to_string().contains(value), "{e}");
        }
        let e = from(&[("AOS_OIDC_ISSUER", "https://idp.example")]).unwrap().oidc.config().expect_err("no audience");
        assert_eq!(e.name(), "AOS_OIDC_AUDIENCE", "{e}");
        let e = Cli::try_parse_from(["serve", "--failure-retention-days", "0"]).err().expect("refused").to_string();
        assert!(e.contains("--failure-retention-days"), "{e}");
        assert!(Cli::try_parse_from(["serve", "--durability", "sometimes"]).is_err());
    }

    #[test]
    fn intervals_and_times_of_day() {
        assert_eq!(parse_every("off"), Ok(None));
        assert_eq!(parse_every("15m"), Ok(Some(Duration::from_secs(900))));
        assert!(parse_every("0s").is_err() && parse_every("5w").is_err() && parse_every("h").is_err());
        assert_eq!(parse_time_of_day("02:00"), Ok(7200));
        assert!(parse_time_of_day("24:00").is_err() && parse_time_of_day("2").is_err());
    }
}
