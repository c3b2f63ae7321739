//! `steward policy`: read, replace and dry-run a tenant's Cedar policies (admin key).

use serde_json::{Value, json};
use std::path::PathBuf;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Print the policy text in force (or an older version) on stdout.
    Get {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace the tenant's policies with a Cedar file. Invalid text changes nothing; every
    /// problem is printed with its policy id, line and column.
    Put {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the policy versions: number, time, author.
    Versions {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Dry-run a request against the tenant's policies (or a draft file) and print the
    /// decision and the policies that made it, e.g.
    /// --request '{"role": "reader", "action": "read_timeline", "purpose": "support",
    /// "resource": {"kind": "Subject", "id": "p-1"}}'
    Check {
        #[arg(long)]
        tenant: String,
        /// The request as JSON: key_id or role (+ purposes), action, resource {kind, id},
        /// purpose, source_ip, time (Unix seconds).
        #[arg(long)]
        request: String,
        /// Check against this draft Cedar file instead of the policies in force.
        #[arg(long)]
        policies: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn run(command: PolicyCommand) -> Result<(), CliError> {
    match command {
        PolicyCommand::Get {
            tenant,
            version,
            remote,
        } => {
            let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
            let answer =
                Client::new(&remote).get(&format!("/v1/tenants/{tenant}/policies{query}"))?;
            eprintln!(
                "version {} ({} policies)",
                answer["version"],
                answer["policy_ids"].as_array().map_or(0, Vec::len)
            );
            print!("{}", answer["text"].as_str().unwrap_or_default());
        }
        PolicyCommand::Put {
            tenant,
            file,
            remote,
        } => {
            let text = std::fs::read_to_string(&file).map_err(CliError::io(file.display()))?;
            let answer = Client::new(&remote).send_text(
                "PUT",
                &format!("/v1/tenants/{tenant}/policies"),
                &text,
            )?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"version": answer["version"], "policy_ids": answer["policy_ids"]})
                )
                .unwrap_or_default()
            );
        }
        PolicyCommand::Versions { tenant, remote } => {
            let answer =
                Client::new(&remote).get(&format!("/v1/tenants/{tenant}/policies/versions"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
        }
        PolicyCommand::Check {
            tenant,
            request,
            policies,
            remote,
        } => {
            let mut body: Value = serde_json::from_str(&request)
                .map_err(|e| CliError::Usage(format!("--request is not JSON: {e}")))?;
            if !body.is_object() {
                return Err(CliError::Usage("--request must be a JSON object".into()));
            }
            if let Some(path) = policies {
                body["policies"] = Value::String(
                    std::fs::read_to_string(&path).map_err(CliError::io(path.display()))?,
                );
            }
            let answer = Client::new(&remote).send_json(
                "POST",
                &format!("/v1/tenants/{tenant}/policies/check"),
                &body,
            )?;
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
        }
    }
    Ok(())
}
