//! `aos`: the AOS command line. `aos serve` runs everything locally; the other commands talk to an
//! AOS API (`AOS_URL`, `AOS_API_KEY`). Tables for people, `--json` for machines.

/// mimalloc: the engine allocates many small JSON values across threads, where it beats glibc malloc
/// (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod commands;
mod keys_bootstrap;
mod login;
mod recovery;

use aos_cli::serve;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "aos", version, about = "AOS: run plans of skills deterministically; failures are data.")]
struct Cli {
    /// Print raw JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// API base URL.
    #[arg(long, global = true, env = "AOS_URL")]
    url: Option<String>,
    /// API key (Bearer); without it, the token stored by `aos login`.
    #[arg(long, global = true, env = "AOS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of `serve`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run API, orchestrator, skill workers and the embedded store in one process.
    Serve(aos_cli::ServeArgs),
    /// Submit, inspect, list and cancel runs.
    #[command(subcommand)]
    Runs(commands::RunsCmd),
    /// Verify a finished run by replaying it.
    Replay { run_id: String },
    /// Estimate a plan's cost, latency and risk without running it.
    Simulate { file: std::path::PathBuf },
    /// Inspect the skills registry.
    #[command(subcommand)]
    Skills(commands::SkillsCmd),
    /// Save and inspect versioned workflows.
    #[command(subcommand)]
    Workflows(commands::WorkflowsCmd),
    /// Set and list tenant secrets.
    #[command(subcommand)]
    Secrets(commands::SecretsCmd),
    /// Catalog candidates: aggregate unmatched and low-confidence failures, list the result.
    #[command(subcommand)]
    Failures(commands::FailuresCmd),
    /// Recovery suggestions for failures, and the review of recovery candidates.
    #[command(subcommand)]
    Recovery(recovery::RecoveryCmd),
    /// Print the OpenAPI document generated from the code.
    Openapi,
    /// Sign in through Amazon Cognito (user name and password); the token is kept for the other commands.
    Login(login::LoginArgs),
    /// Forget the token stored by `aos login`.
    Logout,
    /// Who the API takes you for: tenant, role, permissions.
    Whoami,
    /// Create, list, revoke and rotate the tenant's API keys (admins).
    #[command(subcommand)]
    Keys(commands::KeysCmd),
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AOS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Openapi => {
            println!("{}", aos_api::openapi_json());
            Ok(())
        }
        Command::Login(args) => login::login(args, cli.url, cli.json).await,
        Command::Logout => login::logout(cli.json),
        Command::Keys(commands::KeysCmd::Bootstrap(args)) => keys_bootstrap::bootstrap(args).await,
        cmd => match client::Client::from_env(cli.url, cli.api_key) {
            Err(e) => Err(e),
            Ok(c) => {
                let out = commands::Output { json: cli.json };
                match cmd {
                    Command::Runs(r) => commands::runs(&c, &out, r).await,
                    Command::Replay { run_id } => commands::replay(&c, &out, &run_id).await,
                    Command::Simulate { file } => commands::simulate(&c, &out, &file).await,
                    Command::Skills(s) => commands::skills(&c, &out, s).await,
                    Command::Workflows(w) => commands::workflows(&c, &out, w).await,
                    Command::Secrets(s) => commands::secrets(&c, &out, s).await,
                    Command::Failures(f) => commands::failures(&c, &out, f).await,
                    Command::Recovery(r) => recovery::recovery(&c, &out, r).await,
                    Command::Whoami => commands::whoami(&c, &out).await,
                    Command::Keys(k) => commands::keys(&c, &out, k).await,
                    Command::Serve(_) | Command::Openapi | Command::Login(_) | Command::Logout => unreachable!("handled above"),
                }
            }
        },
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
