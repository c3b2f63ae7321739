//! The `steward` binary: parses the command line and hands off to one module per command.

mod client;
mod commands;
mod error;
mod logging;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::CliError;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "Customer-event platform that remembers only what it may"
)]
struct Cli {
    /// Log format for server commands.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

/// Where a client command finds the server.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// Server URL.
    #[arg(long, env = "STEWARD_URL", default_value = "http://127.0.0.1:7700")]
    pub url: String,
    /// API key (tenant key, or the operator key for tenant commands).
    #[arg(long, env = "STEWARD_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory with its master key and operator key.
    Init {
        #[arg(long)]
        data: PathBuf,
        /// Print {"operator_key", "data_dir"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the server.
    Serve(commands::serve::ServeArgs),
    /// Init (if needed) + serve + a demo tenant with generated events; prints URL and keys.
    Demo(commands::demo::DemoArgs),
    /// Manage tenants (operator key).
    #[command(subcommand)]
    Tenant(commands::admin::TenantCommand),
    /// Manage a tenant's API keys (admin key).
    #[command(subcommand)]
    Key(commands::admin::KeyCommand),
    /// Read, replace and dry-run a tenant's Cedar policies (admin key).
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Manage event schemas.
    #[command(subcommand)]
    Schema(commands::admin::SchemaCommand),
    /// Send events from an NDJSON or CSV file (resumable; duplicates are skipped).
    Ingest(commands::ingest::IngestArgs),
    /// Print a subject's timeline.
    Events(commands::events::EventsArgs),
    /// SQL over a tenant's events for a purpose: an interactive shell, or one statement (-c).
    Sql(commands::sql::SqlArgs),
    /// Write a synthetic music-streaming data set (deterministic by seed).
    Gen(commands::generate::GenArgs),
    /// Train models from data set versions, list them, move aliases, cancel jobs.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Record, read and import subjects' consents per purpose.
    #[command(subcommand)]
    Consent(commands::consent::ConsentCommand),
    /// Erase a subject (right to be forgotten) and follow the request.
    #[command(subcommand)]
    Erasure(commands::erasure::ErasureCommand),
    /// Verify an erasure receipt offline.
    #[command(subcommand)]
    Receipt(commands::receipt::ReceiptCommand),
    /// Search a stopped data directory for personal data with the master key (offline).
    #[command(subcommand)]
    Forensics(commands::forensics::ForensicsCommand),
    /// A sealed, verified backup of a data directory (online when a server holds it).
    Backup(commands::backup::BackupArgs),
    /// A new data directory from a backup, with the erasure ledger replayed before it serves.
    Restore(commands::backup::RestoreArgs),
    /// Verify or export a tenant's audit log (offline).
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Key management of a data directory (offline).
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log_format);
    let result: Result<(), CliError> = match cli.command {
        Command::Init { data, json } => commands::init::run(&data, json),
        Command::Serve(args) => commands::serve::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Tenant(cmd) => commands::admin::tenant(cmd),
        Command::Key(cmd) => commands::admin::key(cmd),
        Command::Schema(cmd) => commands::admin::schema(cmd),
        Command::Policy(cmd) => commands::policy::run(cmd),
        Command::Ingest(args) => commands::ingest::run(args),
        Command::Events(args) => commands::events::run(args),
        Command::Sql(args) => commands::sql::run(args),
        Command::Gen(args) => commands::generate::run(args),
        Command::Keys(cmd) => commands::keys::run(cmd),
        Command::Audit(cmd) => commands::audit::run(cmd),
        Command::Erasure(cmd) => commands::erasure::run(cmd),
        Command::Consent(cmd) => commands::consent::run(cmd),
        Command::Model(cmd) => commands::model::run(cmd),
        Command::Receipt(cmd) => match commands::receipt::run(cmd) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Backup(args) => commands::backup::backup_run(args),
        Command::Restore(args) => commands::backup::restore_run(args),
        Command::Forensics(cmd) => match commands::forensics::run(cmd) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
