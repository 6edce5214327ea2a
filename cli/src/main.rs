//! `aos`: the AOS command line. `aos serve` runs everything locally; the other commands talk to an
//! AOS API (`AOS_URL`, `AOS_API_KEY`). Tables for people, `--json` for machines.

/// mimalloc: the engine allocates many small JSON values across threads, where it beats glibc malloc
/// (measured in docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod catalog;
mod client;
mod commands;
mod dev;
mod failures;
mod init;
mod keys_bootstrap;
mod login;
mod plan;
mod policies;
mod recovery;
mod runs;
mod style;
mod when;

use aos_cli::serve;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "aos", version, about = "AOS: run plans of skills deterministically; failures are data.")]
struct Cli {
    /// Print raw JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// API base URL, `http://` or `https://` [default: http://127.0.0.1:8080, or the one `aos login` stored].
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
    #[command(after_help = aos_cli::settings::ENVIRONMENT)]
    Serve(aos_cli::ServeArgs),
    /// `serve` for development: skills may reach loopback, with local stand-ins (echo, flaky, Slack, SMTP, webhooks).
    #[command(after_help = aos_cli::settings::ENVIRONMENT)]
    Dev(dev::DevArgs),
    /// Submit, inspect, list and cancel runs.
    #[command(subcommand)]
    Runs(runs::RunsCmd),
    /// Verify a finished run by replaying it.
    Replay {
        /// The run id (`r_...`).
        run_id: String,
    },
    /// Start a plan: a new directory with a starter plan, its inputs, its JSON Schema and a README.
    Init(init::InitArgs),
    /// Check plan files (every problem with its field path, and a "did you mean"); print their JSON Schema.
    #[command(subcommand)]
    Plan(plan::PlanCmd),
    /// Estimate a plan's cost, latency and risk without running it.
    Simulate {
        /// A plan JSON file.
        file: std::path::PathBuf,
    },
    /// Inspect the skills registry.
    #[command(subcommand)]
    Skills(commands::SkillsCmd),
    /// Save and inspect versioned workflows.
    #[command(subcommand)]
    Workflows(commands::WorkflowsCmd),
    /// Set and list tenant secrets.
    #[command(subcommand)]
    Secrets(commands::SecretsCmd),
    /// Failure records (list, stats, show) and the catalog candidates aggregated from them.
    #[command(subcommand)]
    Failures(failures::FailuresCmd),
    /// The failure catalog: list and show its entries, match a failure against it.
    #[command(subcommand)]
    Catalog(catalog::CatalogCmd),
    /// Recovery suggestions for failures, the review of recovery candidates, automatic approval.
    #[command(subcommand)]
    Recovery(policies::RecoveryCmd),
    /// Recovery policies (approved candidates applied to runs): list, show, disable.
    #[command(subcommand)]
    Policies(policies::PoliciesCmd),
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
    /// Print a shell completion script: `source <(aos completions bash)`, or see docs/api.md for zsh and fish.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AOS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(style::stderr_colours())
        .init();
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Dev(args) => dev::dev(args).await,
        Command::Openapi => {
            println!("{}", aos_api::openapi_json());
            Ok(())
        }
        Command::Init(args) => init::init(args),
        Command::Plan(plan::PlanCmd::Schema) => {
            println!("{}", plan::schema_json());
            Ok(())
        }
        Command::Login(args) => login::login(args, cli.url, cli.json).await,
        Command::Logout => login::logout(cli.json),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a closed pipe (`aos completions bash | head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "aos", &mut script);
            use std::io::Write;
            let _ = std::io::stdout().write_all(&script);
            Ok(())
        }
        Command::Keys(commands::KeysCmd::Bootstrap(args)) => keys_bootstrap::bootstrap(args).await,
        cmd => match client::Client::from_env(cli.url, cli.api_key) {
            Err(e) => Err(e),
            Ok(c) => {
                let out = commands::Output { json: cli.json };
                match cmd {
                    Command::Runs(r) => runs::runs(&c, &out, r).await,
                    Command::Replay { run_id } => commands::replay(&c, &out, &run_id).await,
                    Command::Simulate { file } => commands::simulate(&c, &out, &file).await,
                    Command::Plan(p) => plan::plan(&c, &out, p).await,
                    Command::Skills(s) => commands::skills(&c, &out, s).await,
                    Command::Workflows(w) => commands::workflows(&c, &out, w).await,
                    Command::Secrets(s) => commands::secrets(&c, &out, s).await,
                    Command::Failures(f) => failures::failures(&c, &out, f).await,
                    Command::Catalog(k) => catalog::catalog(&c, &out, k).await,
                    Command::Recovery(r) => policies::recovery(&c, &out, r).await,
                    Command::Policies(p) => policies::policies(&c, &out, p).await,
                    Command::Whoami => commands::whoami(&c, &out).await,
                    Command::Keys(k) => commands::keys(&c, &out, k).await,
                    Command::Serve(_)
                    | Command::Dev(_)
                    | Command::Init(_)
                    | Command::Openapi
                    | Command::Login(_)
                    | Command::Logout
                    | Command::Completions { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        },
    };
    if let Err(e) = result {
        // `--json`: the API's error envelope, whole (every problem of a plan), on stdout as well.
        if let Some(body) = e.downcast_ref::<client::StatusError>().map(|s| &s.body).filter(|b| json && !b.is_null()) {
            println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every argument of every command says what it is for in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "aos", &mut missing);
        // cli/src/recovery.rs is being reworked by the recovery issue; its arguments get their help
        // there. Listed by name so that the exemption fails (and must be removed) once they have it.
        const RECOVERY_PENDING: [&str; 7] = [
            "aos recovery candidates skill",
            "aos recovery show id",
            "aos recovery approve id",
            "aos recovery reject id",
            "aos recovery reject note",
            "aos recovery retire id",
            "aos recovery retire note",
        ];
        for pending in RECOVERY_PENDING {
            assert!(missing.iter().any(|m| m == pending), "`{pending}` has help now: remove it from RECOVERY_PENDING");
        }
        missing.retain(|m| !RECOVERY_PENDING.contains(&m.as_str()));
        assert!(missing.is_empty(), "arguments without help text: {missing:#?}");
        Cli::command().debug_assert();
    }
}
