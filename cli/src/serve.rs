//! `aos serve`: API, orchestrator, skill workers, sweeper, the nightly failure aggregation and the
//! embedded durable store and queue in one process. On first start it creates the `dev` tenant's admin key, prints it once and
//! writes it to `<data dir>/admin.key` (mode 0600) for local tools and examples. It installs the
//! process's Prometheus recorder and serves it at `GET /metrics`.

use aos_api::auth::RateLimits;
use aos_api::{app, AppState};
use aos_core::ports::QueueSpec;
use aos_runtime::auth::Role;
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::telemetry;
use aos_runtime::{Ports, Runtime};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore, OpenCheck};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DEV_TENANT: &str = "dev";
/// Receives before a message is dead-lettered.
const MAX_RECEIVES: u32 = 5;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where the embedded database and the admin key live.
    #[arg(long, env = "AOS_DATA_DIR", default_value = "./.aos")]
    pub data_dir: PathBuf,
    #[arg(long, env = "AOS_HOST", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, env = "AOS_PORT", default_value_t = 8080)]
    pub port: u16,
    /// `fsync` (commit = fsync, the default) or `relaxed` (survives a process crash, not an OS crash).
    #[arg(long, env = "AOS_DURABILITY", default_value = "fsync")]
    pub durability: String,
    /// More tenants to create on first start (comma-separated); each gets an admin key written to
    /// `<data dir>/<tenant>.key`. For local multi-tenant testing.
    #[arg(long, env = "AOS_EXTRA_TENANTS", value_delimiter = ',')]
    pub extra_tenants: Vec<String>,
    /// Concurrent handlers per queue.
    #[arg(long, env = "AOS_WORKER_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// Days to keep failure records (1 to 3650).
    #[arg(long, env = "AOS_FAILURE_RETENTION_DAYS", default_value_t = aos_runtime::failures::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub failure_retention_days: u32,
    /// How often the failure aggregation runs (`30s`, `15m`, `6h`, `1d`; `off` to never run it).
    /// Its days and threshold come from `AOS_AGGREGATE_DAYS` and `AOS_AGGREGATE_LOW_CONFIDENCE`.
    #[arg(long, env = "AOS_AGGREGATE_EVERY", default_value = "24h", value_parser = parse_every)]
    pub aggregate_every: Every,
    /// The UTC time of day (`HH:MM`) runs are aligned to: they happen at this time plus whole
    /// multiples of `--aggregate-every`.
    #[arg(long, env = "AOS_AGGREGATE_AT", default_value = "02:00", value_parser = parse_time_of_day)]
    pub aggregate_at: u32,
    /// Requests a minute per API key or user (a token bucket each); 0 turns the limit off.
    #[arg(long, env = "AOS_RATE_LIMIT_PER_MINUTE", default_value_t = 6000)]
    pub rate_limit_per_minute: u32,
    /// The bucket's size: how many requests may come at once.
    #[arg(long, env = "AOS_RATE_LIMIT_BURST", default_value_t = 300)]
    pub rate_limit_burst: u32,
    /// Milliseconds a client has to send a request's line and headers, counted from when the
    /// connection starts waiting for it (so also the longest an idle keep-alive connection stays
    /// open); then the connection is closed.
    #[arg(long, env = "AOS_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body after its headers; then the
    /// request answers 408 `REQUEST_TIMEOUT` and the connection is closed.
    #[arg(long, env = "AOS_BODY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Skip the check of the database file's structure at start (`PRAGMA quick_check`, one read
    /// of the whole file: about 0.15 s per 300 MB cached, seconds from a cold disk). For very large
    /// databases only: damage then shows as 500 `CORRUPT_RECORD` on the requests that meet it.
    #[arg(long, env = "AOS_SKIP_INTEGRITY_CHECK")]
    pub skip_integrity_check: bool,
    /// Most client connections open at once; further ones wait to be accepted.
    #[arg(long, env = "AOS_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// People log in through an OpenID Connect provider: its tokens are accepted besides API keys.
#[derive(clap::Args, Debug, Default)]
pub struct OidcArgs {
    /// The issuer (`iss`) of accepted tokens, e.g. `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    #[arg(long, env = "AOS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Accepted audiences / app client ids (comma-separated).
    #[arg(long, env = "AOS_OIDC_AUDIENCE", value_delimiter = ',')]
    pub oidc_audience: Vec<String>,
    /// Where the provider's signing keys are (default `<issuer>/.well-known/jwks.json`).
    #[arg(long, env = "AOS_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// The claim listing the user's groups, named after AOS roles (`admin`, `operator`, ... or `aos-admin`, ...).
    #[arg(long, env = "AOS_OIDC_GROUPS_CLAIM", default_value = "cognito:groups")]
    pub oidc_groups_claim: String,
    /// The claim naming the user's tenant.
    #[arg(long, env = "AOS_OIDC_TENANT_CLAIM", default_value = "custom:tenant")]
    pub oidc_tenant_claim: String,
    /// The tenant of users whose token names none (otherwise such tokens are refused).
    #[arg(long, env = "AOS_OIDC_DEFAULT_TENANT")]
    pub oidc_default_tenant: Option<String>,
    /// Seconds after a JWKS fetch before a token with an unknown key id may trigger another fetch.
    #[arg(long, env = "AOS_OIDC_JWKS_REFETCH_SECONDS", default_value_t = 30)]
    pub oidc_jwks_refetch_seconds: u64,
}

impl OidcArgs {
    /// The verified configuration, or `None` when no issuer is set.
    pub fn config(&self) -> anyhow::Result<Option<aos_runtime::oidc::OidcConfig>> {
        let Some(issuer) = self.oidc_issuer.as_deref().filter(|i| !i.trim().is_empty()) else { return Ok(None) };
        let mut cfg = aos_runtime::oidc::OidcConfig::new(issuer.trim(), self.oidc_audience.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect());
        if let Some(url) = &self.oidc_jwks_url {
            cfg.jwks_url = url.clone();
        }
        cfg.groups_claim = self.oidc_groups_claim.clone();
        cfg.tenant_claim = self.oidc_tenant_claim.clone();
        cfg.default_tenant = self.oidc_default_tenant.clone();
        cfg.refetch_after = std::time::Duration::from_secs(self.oidc_jwks_refetch_seconds);
        cfg.check().map_err(anyhow::Error::msg)?;
        Ok(Some(cfg))
    }
}

/// An interval, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub Option<std::time::Duration>);

/// `off`, or a number with a unit `s`, `m`, `h` or `d` (at least one second).
fn parse_every(v: &str) -> Result<Every, String> {
    let v = v.trim();
    if v == "off" {
        return Ok(Every(None));
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
    Ok(Every(Some(std::time::Duration::from_secs(secs))))
}

/// `HH:MM` (UTC) as seconds after midnight.
fn parse_time_of_day(v: &str) -> Result<u32, String> {
    let bad = || format!("`{v}` is not a UTC time of day HH:MM");
    let (h, m) = v.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

/// The first run time after `now_ms`: `at` seconds after a UTC midnight plus a whole number of
/// `every`.
fn next_run_ms(now_ms: i64, at_secs: u32, every: std::time::Duration) -> i64 {
    let every = (every.as_millis() as i64).max(1);
    let anchor = now_ms.div_euclid(86_400_000) * 86_400_000 + i64::from(at_secs) * 1000;
    anchor + ((now_ms - anchor).div_euclid(every) + 1) * every
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let oidc = args.oidc.config()?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    // The database holds secrets and key hashes: only the owner may enter the directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&args.data_dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("restricting {}", args.data_dir.display()))?;
    }
    // One process per data dir: two would deliver the same queue messages and take each other's
    // claims for dead ones. The lock dies with the process, so `kill -9` leaves nothing behind.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(args.data_dir.join("aos.lock")).context("opening the lock file")?;
    if lock.try_lock().is_err() {
        anyhow::bail!("another `aos serve` is using {}; stop it first or choose another --data-dir", args.data_dir.display());
    }
    let durability = match args.durability.as_str() {
        "fsync" => Durability::Fsync,
        "relaxed" => Durability::Relaxed,
        other => anyhow::bail!("AOS_DURABILITY must be `fsync` or `relaxed`, not `{other}`"),
    };
    let check = if args.skip_integrity_check { OpenCheck::Skip } else { OpenCheck::Quick };
    let db = EmbeddedDb::open_with(&args.data_dir.join("aos.db"), durability, check).map_err(|e| match e {
        // The message names the file and what to do; refusing beats answering 503 forever.
        aos_core::ports::StoreError::Corrupt(m) => anyhow::anyhow!("{m}"),
        e => anyhow::anyhow!("opening the database: {e}"),
    })?;
    let skills_config = SkillsConfig::from_env().map_err(|e| anyhow::anyhow!("skills configuration: {e}"))?;
    let skills = Arc::new(builtin_registry(&skills_config));
    let mut specs = vec![QueueSpec { name: ORCHESTRATOR_QUEUE.into(), max_receives: MAX_RECEIVES * 4, dead_letter: Some(format!("{ORCHESTRATOR_QUEUE}.dlq")) }];
    specs.push(QueueSpec { name: format!("{ORCHESTRATOR_QUEUE}.dlq"), max_receives: u32::MAX, dead_letter: None });
    for s in skills.specs() {
        let q = skill_queue(&s.id);
        specs.push(QueueSpec { name: q.clone(), max_receives: MAX_RECEIVES, dead_letter: Some(format!("{q}.dlq")) });
        specs.push(QueueSpec { name: format!("{q}.dlq"), max_receives: u32::MAX, dead_letter: None });
    }
    // Queue messages are derived state: the runtime rebuilds lost dispatches and advances from the
    // (fsynced) run records at startup, so sends need not pay an fsync of their own.
    let queue = EmbeddedQueue::open(db.clone(), specs).map_err(|e| anyhow::anyhow!("opening the queue: {e}"))?.relaxed_sends(true);
    let ports = Ports {
        store: Arc::new(EmbeddedStore::new(db.clone())),
        queue: Arc::new(queue),
        secrets: Arc::new(EmbeddedSecrets::new(db.clone())),
        skills,
    };
    let aggregate = aos_runtime::failures::aggregate::AggregateOptions::from_env().map_err(|e| anyhow::anyhow!(e))?;
    let metrics = install_metrics()?;
    // Compile the failure catalog now rather than in the first failing attempt's worker.
    let warm = tokio::task::spawn_blocking(|| {
        let _ = aos_runtime::failures::classify::matcher();
    });
    let owner = format!("serve-{}", uuid::Uuid::new_v4().simple());
    let rt = Arc::new(Runtime::with_retention(ports, owner, true, args.failure_retention_days));
    ensure_admin_key(&rt, &args.data_dir).await?;
    warm.await.context("compiling the failure catalog")?;
    for tenant in args.extra_tenants.iter().filter(|t| !t.is_empty()) {
        anyhow::ensure!(tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "tenant names are letters, digits, `-` and `_`: `{tenant}`");
        let path = args.data_dir.join(format!("{tenant}.key"));
        let current = match std::fs::read_to_string(&path) {
            Ok(k) => rt.keys.authenticate(k.trim()).await.map_err(|e| anyhow::anyhow!("checking {tenant}'s key: {e}"))?.is_some(),
            Err(_) => false,
        };
        if !current {
            let _ = std::fs::remove_file(&path);
            let (key, _) = rt.keys.create(tenant, Role::Admin).await.map_err(|e| anyhow::anyhow!("creating a key for {tenant}: {e}"))?;
            write_private(&path, &key)?;
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cfg = ConsumerConfig { concurrency: args.concurrency, ..Default::default() };
    let workers = spawn_all(rt.clone(), cfg, stop_rx);
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await.with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    println!("AOS listening on http://{addr}  (data dir {})", args.data_dir.display());
    tracing::info!(%addr, "aos serve started");
    let upkeep = {
        let (handle, mut stop) = (metrics.clone(), stop_tx.subscribe());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle.run_upkeep(),
                    _ = stop.changed() => return,
                }
            }
        })
    };
    let aggregator = args.aggregate_every.0.map(|every| {
        let (rt, mut stop, export) = (rt.clone(), stop_tx.subscribe(), args.data_dir.join(EXPORT_FILE));
        let at = args.aggregate_at;
        tokio::spawn(async move {
            loop {
                let now = aos_runtime::runs::now_ms();
                let wait = std::time::Duration::from_millis((next_run_ms(now, at, every) - now).max(0) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                match rt.failures.aggregate(&aggregate, aos_runtime::runs::now_ms(), None).await {
                    Ok(run) => {
                        if let Err(e) = write_export(&export, &run.export) {
                            tracing::warn!(error = %e, "could not write the failure candidates export");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "failure aggregation failed"),
                }
            }
        })
    });
    let mut state = AppState::new(rt).with_metrics(Arc::new(move || {
        let text = metrics.render();
        Box::pin(async move { Ok(text) })
    })).with_rate_limits(RateLimits::new(args.rate_limit_per_minute, args.rate_limit_burst));
    if let Some(cfg) = oidc {
        tracing::info!(issuer = %cfg.issuer, jwks = %cfg.jwks_url, "accepting identity-provider tokens");
        state = state.with_oidc(cfg);
    }
    let limits = ListenerLimits {
        header_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
        body_timeout: std::time::Duration::from_millis(args.body_timeout_ms),
        max_connections: args.max_connections as usize,
    };
    listener::serve_http(listener, app(state), limits, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = upkeep.await;
    if let Some(a) = aggregator {
        let _ = a.await;
    }
    drop(lock);
    Ok(())
}

/// How long clients may take and how many may connect at once (see [`listener`]).
pub struct ListenerLimits {
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    pub max_connections: usize,
}

/// The HTTP listener. `axum::serve` does not expose hyper's header read timeout, so connections
/// are served the way it serves them underneath: hyper's HTTP/1 connection builder (with a Tokio
/// timer, which enables `header_read_timeout`) over `hyper_util`'s `TowerToHyperService`, each
/// connection watched by `hyper_util`'s `GracefulShutdown` for the same graceful shutdown.
///
/// - Header read timeout: a request line and headers not complete within it close the
///   connection without an answer (slowloris). Hyper starts the timer whenever the connection
///   waits for a request, so it also closes idle keep-alive connections.
/// - Body read timeout: the body must arrive within it of the headers, else 408
///   `REQUEST_TIMEOUT` ([`aos_api::extract::with_body_deadline`]).
/// - At most `max_connections` connections; the accept loop waits for a slot.
/// - Requests hyper cannot parse (URI over 64 KiB, headers too large, a malformed request line)
///   get hyper's own bodyless 400/414/431, rewritten into the JSON error envelope on the way out
///   by [`listener::EnvelopeIo`].
mod listener {
    use super::ListenerLimits;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{ready, Context, Poll};
    use std::time::Duration;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// How long shutdown waits for requests in flight (long polls last up to 30 s).
    const DRAIN: Duration = Duration::from_secs(35);

    pub async fn serve_http(listener: tokio::net::TcpListener, app: axum::Router, limits: ListenerLimits, shutdown: impl Future<Output = ()>) {
        let body_timeout = limits.body_timeout;
        let app = app.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            next.run(aos_api::extract::with_body_deadline(req, body_timeout)).await
        }));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused) {
                            tracing::warn!(error = %e, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let conn = http.serve_connection(TokioIo::new(EnvelopeIo::new(stream)), TowerToHyperService::new(app.clone()));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after {DRAIN:?}; stopping anyway"),
        }
    }

    /// A connection's socket whose writes pass through unchanged, except the bodyless answers
    /// hyper writes by itself when it cannot parse a request (it never hands those requests to
    /// the application): those are replaced by the same status with the JSON error envelope.
    pub struct EnvelopeIo<T> {
        inner: T,
        /// A replacement answer still to be written, and how much of it has been.
        pending: Vec<u8>,
        written: usize,
    }

    impl<T> EnvelopeIo<T> {
        pub fn new(inner: T) -> Self {
            Self { inner, pending: Vec::new(), written: 0 }
        }
    }

    impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
        fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            while self.written < self.pending.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
            }
            Poll::Ready(Ok(()))
        }

        /// Takes `head` as written if it is one of hyper's own error answers.
        fn replace(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Option<io::Result<usize>> {
            let answer = enveloped(head)?;
            self.pending = answer;
            self.written = 0;
            match self.drain(cx) {
                Poll::Ready(Err(e)) => Some(Err(e)),
                // The rest goes out with the flush hyper does next.
                _ => Some(Ok(head.len())),
            }
        }
    }

    /// The enveloped replacement of hyper's answer to an unparsable request, or `None` for any
    /// other write. Hyper's answer is a lone head (`HTTP/1.1 400|414|431 ...`, `content-length: 0`);
    /// every answer of the application to those statuses has a JSON body, so none is mistaken.
    pub fn enveloped(head: &[u8]) -> Option<Vec<u8>> {
        // Cheap refusals first: this sees every write of every response.
        if head.len() > 512 || !head.starts_with(b"HTTP/1.1 4") {
            return None;
        }
        let text = std::str::from_utf8(head).ok()?;
        let (code, message) = match text.get(..13)? {
            "HTTP/1.1 400 " => ("INVALID_REQUEST", "the request line or a header could not be parsed"),
            "HTTP/1.1 414 " => ("URI_TOO_LONG", "the request target is longer than the server reads (64 KiB)"),
            "HTTP/1.1 431 " => ("HEADERS_TOO_LARGE", "the request's headers are too large or too many"),
            _ => return None,
        };
        let lines: Vec<&str> = text.strip_suffix("\r\n\r\n")?.split("\r\n").collect();
        if !lines.iter().any(|l| l.eq_ignore_ascii_case("content-length: 0")) {
            return None;
        }
        let body = serde_json::json!({"error": {"code": code, "message": message, "details": {}}}).to_string();
        let mut out = String::with_capacity(text.len() + body.len() + 100);
        for line in lines.iter().filter(|l| {
            let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
            !matches!(name.as_str(), "content-length" | "content-type" | "connection")
        }) {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()));
        Some(out.into_bytes())
    }

    impl<T: AsyncRead + Unpin> AsyncRead for EnvelopeIo<T> {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
        }
    }

    impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            ready!(this.drain(cx))?;
            if let Some(result) = this.replace(cx, buf) {
                return Poll::Ready(result);
            }
            Pin::new(&mut this.inner).poll_write(cx, buf)
        }

        fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            ready!(this.drain(cx))?;
            let mut parts = bufs.iter().filter(|b| !b.is_empty());
            if let (Some(only), None) = (parts.next(), parts.next()) {
                if let Some(result) = this.replace(cx, only) {
                    return Poll::Ready(result);
                }
            }
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            ready!(this.drain(cx))?;
            Pin::new(&mut this.inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            ready!(this.drain(cx))?;
            Pin::new(&mut this.inner).poll_shutdown(cx)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::enveloped;

        #[test]
        fn only_hyper_s_own_bodyless_error_heads_are_replaced() {
            let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
            let out = String::from_utf8(enveloped(head).expect("replaced")).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n") && head.contains("\r\ndate: ") && head.contains("connection: close"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], "URI_TOO_LONG");
            let out = enveloped(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n").expect("replaced");
            assert!(String::from_utf8(out).unwrap().contains(r#""code":"HEADERS_TOO_LARGE""#));
            // The application's answers have bodies; other statuses and partial writes pass.
            assert!(enveloped(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 80\r\n\r\n").is_none());
            assert!(enveloped(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
            assert!(enveloped(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
            assert!(enveloped(b"{\"error\": 1}").is_none());
        }
    }
}

/// The platform-wide candidates export, in the data dir: every tenant's candidates with tenant
/// counts and examples, so it is as private as the database (0600).
pub const EXPORT_FILE: &str = "failure-candidates.json";

/// Writes the export whole or not at all (a temporary file renamed over the old one).
fn write_export(path: &Path, report: &aos_runtime::failures::aggregate::CandidateReport) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &serde_json::to_string_pretty(report)?)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Installs the process's Prometheus recorder (once: `aos serve` runs once per process) and returns
/// the handle `GET /metrics` renders from. Histograms need periodic upkeep, done by the caller.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(telemetry::STEP_DURATION.into()), telemetry::STEP_DURATION_BUCKETS)
        .context("configuring metrics")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    telemetry::describe();
    Ok(handle)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Creates the dev tenant's admin key on first start.
async fn ensure_admin_key(rt: &Runtime, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("admin.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let known = rt.keys.authenticate(existing.trim()).await.map_err(|e| anyhow::anyhow!("checking the admin key: {e}"))?;
        if known.is_some() {
            println!("Admin API key: in {} (created on first start)", path.display());
            return Ok(());
        }
        // The database was replaced or removed but the key file stayed: it opens nothing any more.
        std::fs::remove_file(&path).with_context(|| format!("replacing the stale {}", path.display()))?;
    }
    let (key, _) = rt.keys.create(DEV_TENANT, Role::Admin).await.map_err(|e| anyhow::anyhow!("creating the admin key: {e}"))?;
    write_private(&path, &key)?;
    println!("Created tenant `{DEV_TENANT}` with admin API key (shown once; also saved to {}):\n  {key}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn schedules_align_to_the_time_of_day() {
        let day = 86_400_000i64;
        let at = parse_time_of_day("02:00").unwrap();
        let now = 20_000 * day + 3_600_000; // 01:00 UTC
        assert_eq!(next_run_ms(now, at, Duration::from_secs(86_400)), 20_000 * day + 7_200_000);
        assert_eq!(next_run_ms(20_000 * day + 7_200_000, at, Duration::from_secs(86_400)), 20_001 * day + 7_200_000, "strictly after now");
        assert_eq!(next_run_ms(now + 1, at, Duration::from_secs(1)), now + 1000);
        assert_eq!(parse_every("off"), Ok(Every(None)));
        assert_eq!(parse_every("15m"), Ok(Every(Some(Duration::from_secs(900)))));
        assert!(parse_every("0s").is_err() && parse_every("5w").is_err() && parse_every("h").is_err());
        assert!(parse_time_of_day("24:00").is_err() && parse_time_of_day("2").is_err());
    }
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
