//! `aos serve`: API, orchestrator, skill workers, sweeper, the nightly failure aggregation and the
//! embedded durable store and queue in one process, as a library: [`Server::build`] takes
//! [`ServeSettings`] and does everything but serve (open and lock the data directory, build the
//! runtime, create the first keys, bind the port), [`Server::run`] serves until told to stop. The
//! `aos serve` command is clap → settings → build → run ([`serve`]); tests build a server in
//! their own process the same way (`cli/tests/common`).
//!
//! On first start it creates the `dev` tenant's admin key, prints it once and writes it to
//! `<data dir>/admin.key` (mode 0600) for local tools and examples. It installs the process's
//! Prometheus recorder (once per process) and serves it at `GET /metrics`.

use crate::console::{self, ConsoleConfig};
use crate::http_metrics;
use crate::listener::{self, ListenerLimits};
use crate::settings::{ServeArgs, ServeSettings};
use anyhow::Context;
use aos_api::auth::RateLimits;
use aos_api::{app, AppState};
use aos_core::ports::QueueSpec;
use aos_runtime::auth::{NewKey, Role};
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::schedule::{Cadence, Schedule};
use aos_runtime::telemetry;
use aos_runtime::{Ports, Runtime, Topology};
use aos_skills::builtin_registry;
use aos_store::{EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEV_TENANT: &str = "dev";
/// Receives before a message is dead-lettered.
const MAX_RECEIVES: u32 = 5;
/// How often the sweeper re-advances every unfinished run.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How often the Prometheus recorder's histograms are maintained.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// `aos serve`: the environment, the flags over it, then build and run until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = ServeSettings::from_env()?;
    args.apply(&mut settings);
    let server = Server::build(settings).await?;
    println!("AOS listening on http://{}  (data dir {})", server.addr(), server.data_dir().display());
    tracing::info!(addr = %server.addr(), "aos serve started");
    server.run(shutdown_signal()).await
}

/// A built server, bound and ready: [`Server::run`] serves it.
pub struct Server {
    settings: ServeSettings,
    rt: Arc<Runtime>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    metrics: PrometheusHandle,
    /// What the web console at `/console` is told about this deployment (its sign-in).
    console: ConsoleConfig,
    /// Held while the server lives: one process per data dir.
    lock: std::fs::File,
}

impl Server {
    /// Everything but serving: checks the settings, opens (and locks) the data directory and its
    /// database, builds the runtime over it, creates the first start's keys and binds the port.
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Server> {
        let oidc = settings.oidc.config()?;
        let console = ConsoleConfig::from_oidc(oidc.as_ref(), |k| std::env::var(k).ok())?;
        let data_dir = &settings.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
        // The database holds secrets and key hashes: only the owner may enter the directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", data_dir.display()))?;
        }
        // One process per data dir: two would deliver the same queue messages and take each other's
        // claims for dead ones. The lock dies with the process, so `kill -9` leaves nothing behind.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join("aos.lock"))
            .context("opening the lock file")?;
        if lock.try_lock().is_err() {
            anyhow::bail!("another `aos serve` is using {}; stop it first or choose another --data-dir", data_dir.display());
        }
        let db = EmbeddedDb::open_with(&data_dir.join("aos.db"), settings.durability, settings.open_check()).map_err(|e| match e {
            // The message names the file and what to do; refusing beats answering 503 forever.
            aos_core::ports::StoreError::Corrupt(m) => anyhow::anyhow!("{m}"),
            e => anyhow::anyhow!("opening the database: {e}"),
        })?;
        let skills = Arc::new(builtin_registry(&settings.skills.clone().with_default_fs_root(settings.data_dir.join("files"))));
        let mut specs = vec![QueueSpec {
            name: ORCHESTRATOR_QUEUE.into(),
            max_receives: MAX_RECEIVES * 4,
            dead_letter: Some(format!("{ORCHESTRATOR_QUEUE}.dlq")),
        }];
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
        let metrics = install_metrics()?;
        // Compile the failure catalog now rather than in the first failing attempt's worker.
        let warm = tokio::task::spawn_blocking(|| {
            let _ = aos_runtime::failures::classify::matcher();
        });
        let rt = Arc::new(Runtime::builder(ports, Topology::SingleProcess).settings(settings.runtime.clone()).build());
        ensure_admin_key(&rt, data_dir).await?;
        warm.await.context("compiling the failure catalog")?;
        for tenant in settings.extra_tenants.iter().filter(|t| !t.is_empty()) {
            ensure_tenant_key(&rt, data_dir, tenant).await?;
        }
        if let Some(cfg) = &oidc {
            tracing::info!(issuer = %cfg.issuer, jwks = %cfg.jwks_url, "accepting identity-provider tokens");
        }
        let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let addr = listener.local_addr()?;
        Ok(Server { settings, rt, listener, addr, metrics, console, lock })
    }

    /// The address the server listens on (the port chosen when the settings said 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    /// The server's runtime, for tests that look inside.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Serves until `shutdown` completes, then stops gracefully: the listener stops accepting,
    /// requests in flight finish (up to 35 s), consumers finish the handlers in progress (up to
    /// 30 s), the scheduled jobs stop, and the data directory's lock is released.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server { settings, rt, listener, metrics, console, lock, .. } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let cfg = ConsumerConfig { concurrency: settings.concurrency, ..Default::default() };
        let workers = spawn_all(rt.clone(), cfg, stop_rx.clone());
        let jobs = schedule(&rt, &settings, metrics.clone()).spawn(stop_rx);
        let mut state = AppState::new(rt.clone())
            .with_metrics(Arc::new(move || {
                let text = metrics.render();
                Box::pin(async move { Ok(text) })
            }))
            .with_rate_limits(RateLimits::new(settings.rate_limits.per_minute, settings.rate_limits.burst));
        if let Some(cfg) = settings.oidc.config()? {
            state = state.with_oidc(cfg);
        }
        let limits = ListenerLimits {
            header_timeout: settings.header_timeout,
            body_timeout: settings.body_timeout,
            max_connections: settings.max_connections as usize,
        };
        // The console's static files (cli/src/console.rs) beside the API, outside its metrics.
        let routes = http_metrics::instrument(app(state)).merge(console::router(&console));
        listener::serve_http(listener, routes, limits, shutdown).await;
        let _ = stop_tx.send(true);
        for task in workers.into_iter().chain(jobs) {
            let _ = task.await;
        }
        drop(rt);
        drop(lock);
        Ok(())
    }
}

/// The periodic jobs of `aos serve`, each declared here once: the sweeper (at start with recovery,
/// then every 30 s), the failure aggregation (`--aggregate-every`, aligned to `--aggregate-at`)
/// and the Prometheus recorder's upkeep.
fn schedule(rt: &Arc<Runtime>, settings: &ServeSettings, metrics: PrometheusHandle) -> Schedule {
    let sweep = {
        let rt = rt.clone();
        move |tick: aos_runtime::schedule::Tick| {
            let rt = rt.clone();
            async move {
                if tick.first {
                    match rt.resume_unfinished().await {
                        Ok(n) if n > 0 => tracing::info!(runs = n, "resumed unfinished runs"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "startup sweep failed"),
                    }
                } else if let Err(e) = rt.sweep().await {
                    tracing::warn!(error = %e, "sweep failed");
                }
            }
        }
    };
    let mut jobs = Schedule::new(rt.clock().clone()).job("sweep", Cadence::Every(SWEEP_EVERY), true, sweep).job(
        "metrics upkeep",
        Cadence::Every(METRICS_UPKEEP_EVERY),
        false,
        move |_| {
            metrics.run_upkeep();
            async {}
        },
    );
    if let Some(every) = settings.aggregate_every {
        let (rt, export) = (rt.clone(), settings.data_dir.join(EXPORT_FILE));
        jobs = jobs.job("failure aggregation", Cadence::Aligned { every, at_secs: settings.aggregate_at_secs }, false, move |_| {
            let (rt, export) = (rt.clone(), export.clone());
            async move {
                match rt.aggregate_failures().await {
                    Ok(run) => {
                        if let Err(e) = write_export(&export, &run.export) {
                            tracing::warn!(error = %e, "could not write the failure candidates export");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "failure aggregation failed"),
                }
            }
        });
    }
    jobs
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

/// The process's Prometheus recorder, installed at the first call (a process has one recorder;
/// servers built later in the same process, as tests do, share it), and the handle `GET /metrics`
/// renders from. Histograms need periodic upkeep, done by a scheduled job.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    // Held while installing: two servers built at once in one process (parallel tests) would
    // otherwise both find no recorder and the second install would fail.
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut slot = HANDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(telemetry::STEP_DURATION.into()), telemetry::STEP_DURATION_BUCKETS)
        .context("configuring metrics")?
        .set_buckets_for_metric(Matcher::Full(http_metrics::HTTP_DURATION.into()), http_metrics::HTTP_DURATION_BUCKETS)
        .context("configuring metrics")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    telemetry::describe();
    http_metrics::describe();
    *slot = Some(handle.clone());
    Ok(handle)
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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
        let known = rt.authenticate_key(existing.trim()).await.map_err(|e| anyhow::anyhow!("checking the admin key: {e}"))?;
        if known.is_some() {
            println!("Admin API key: in {} (created on first start)", path.display());
            return Ok(());
        }
        // The database was replaced or removed but the key file stayed: it opens nothing any more.
        std::fs::remove_file(&path).with_context(|| format!("replacing the stale {}", path.display()))?;
    }
    let (key, _) = rt
        .create_key(DEV_TENANT, NewKey::new(Role::Admin, "", "bootstrap"))
        .await
        .map_err(|e| anyhow::anyhow!("creating the admin key: {e}"))?;
    write_private(&path, &key)?;
    println!("Created tenant `{DEV_TENANT}` with admin API key (shown once; also saved to {}):\n  {key}", path.display());
    Ok(())
}

/// Creates an admin key for one of `--extra-tenants` unless its key file still opens something.
async fn ensure_tenant_key(rt: &Runtime, data_dir: &Path, tenant: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "tenant names are letters, digits, `-` and `_`: `{tenant}`"
    );
    let path: PathBuf = data_dir.join(format!("{tenant}.key"));
    let current = match std::fs::read_to_string(&path) {
        Ok(k) => rt.authenticate_key(k.trim()).await.map_err(|e| anyhow::anyhow!("checking {tenant}'s key: {e}"))?.is_some(),
        Err(_) => false,
    };
    if !current {
        let _ = std::fs::remove_file(&path);
        let (key, _) = rt
            .create_key(tenant, NewKey::new(Role::Admin, "", "bootstrap"))
            .await
            .map_err(|e| anyhow::anyhow!("creating a key for {tenant}: {e}"))?;
        write_private(&path, &key)?;
    }
    Ok(())
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
