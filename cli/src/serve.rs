//! `aos serve`: API, orchestrator, skill workers, sweeper and the embedded durable store and queue
//! in one process. On first start it creates the `dev` tenant's admin key, prints it once and
//! writes it to `<data dir>/admin.key` (mode 0600) for local tools and examples. It installs the
//! process's Prometheus recorder and serves it at `GET /metrics`.

use aos_api::{app, AppState};
use aos_core::ports::QueueSpec;
use aos_runtime::auth::Role;
use aos_runtime::consumers::{spawn_all, ConsumerConfig};
use aos_runtime::messages::{skill_queue, ORCHESTRATOR_QUEUE};
use aos_runtime::telemetry;
use aos_runtime::{Ports, Runtime};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use aos_skills::{builtin_registry, SkillsConfig};
use aos_store::{Durability, EmbeddedDb, EmbeddedQueue, EmbeddedSecrets, EmbeddedStore};
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
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let db = EmbeddedDb::open(&args.data_dir.join("aos.db"), durability).map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;
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
    let state = AppState::new(rt).with_metrics(Arc::new(move || {
        let text = metrics.render();
        Box::pin(async move { Ok(text) })
    }));
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = upkeep.await;
    drop(lock);
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
