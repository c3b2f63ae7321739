//! `steward erasure request | get`: file a subject's erasure and follow it to done.

use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum ErasureCommand {
    /// Erase a subject: its key is destroyed and its rows hidden before this returns; the
    /// purge follows (at the server's deadline, or at once with --now).
    Request {
        #[arg(long)]
        tenant: String,
        /// The subject's external id (sent in the body, never in a URL).
        #[arg(long)]
        subject: String,
        #[arg(long)]
        now: bool,
        /// Refuse the subject's future events.
        #[arg(long)]
        block_future: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Fetch the signed receipt of a done erasure (JSON on stdout).
    Receipt {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show an erasure request: state and history.
    Get {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn run(command: ErasureCommand) -> Result<(), CliError> {
    let answer = match command {
        ErasureCommand::Request {
            tenant,
            subject,
            now,
            block_future,
            remote,
        } => Client::new(&remote).send_json(
            "POST",
            &format!("/v1/tenants/{tenant}/erasures"),
            &json!({"external_id": subject, "now": now, "block_future": block_future}),
        )?,
        ErasureCommand::Get { tenant, id, remote } => {
            Client::new(&remote).get(&format!("/v1/tenants/{tenant}/erasures/{id}"))?
        }
        ErasureCommand::Receipt { tenant, id, remote } => {
            Client::new(&remote).get(&format!("/v1/tenants/{tenant}/erasures/{id}/receipt"))?
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_default()
    );
    Ok(())
}
