//! Client commands for tenants, keys and schemas; answers are printed as JSON.

use serde_json::{Value, json};
use std::path::PathBuf;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum TenantCommand {
    Create {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Create a key; the secret is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// admin, writer, reader or privacy_officer.
        #[arg(long)]
        role: String,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
        /// Purposes the key may read for, comma-separated (default: any its role permits).
        #[arg(long, value_delimiter = ',')]
        purposes: Vec<String>,
        /// Its own rate limit, PER_SECOND:BURST (default: the server's).
        #[arg(long)]
        rate_limit: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Subcommand)]
pub enum SchemaCommand {
    /// Store a schema document (JSON file) as the next version of an event type.
    Put {
        #[arg(long)]
        tenant: String,
        #[arg(long = "type")]
        event_type: String,
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    Get {
        #[arg(long)]
        tenant: String,
        #[arg(long = "type")]
        event_type: String,
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn tenant(command: TenantCommand) -> Result<(), CliError> {
    match command {
        TenantCommand::Create { id, remote } => {
            print(&Client::new(&remote).send_json("POST", "/v1/tenants", &json!({"id": id}))?)
        }
        TenantCommand::List { remote } => print(&Client::new(&remote).get("/v1/tenants")?),
    }
    Ok(())
}

pub fn key(command: KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::Create {
            tenant,
            name,
            role,
            expires_at,
            purposes,
            rate_limit,
            remote,
        } => {
            let mut body =
                json!({"name": name, "role": role, "expires_at": expires_at, "purposes": purposes});
            if let Some(text) = rate_limit {
                let bad = || {
                    CliError::Usage(format!(
                        "--rate-limit: expected PER_SECOND:BURST, got {text:?}"
                    ))
                };
                let (rate, burst) = text.split_once(':').ok_or_else(bad)?;
                let (rate, burst): (u32, u32) = (
                    rate.parse().map_err(|_| bad())?,
                    burst.parse().map_err(|_| bad())?,
                );
                body["rate_limit"] = json!({"per_second": rate, "burst": burst});
            }
            print(&Client::new(&remote).send_json(
                "POST",
                &format!("/v1/tenants/{tenant}/keys"),
                &body,
            )?);
        }
        KeyCommand::List { tenant, remote } => {
            print(&Client::new(&remote).get(&format!("/v1/tenants/{tenant}/keys"))?)
        }
        KeyCommand::Revoke { tenant, id, remote } => {
            print(&Client::new(&remote).delete(&format!("/v1/tenants/{tenant}/keys/{id}"))?)
        }
    }
    Ok(())
}

pub fn schema(command: SchemaCommand) -> Result<(), CliError> {
    match command {
        SchemaCommand::Put {
            tenant,
            event_type,
            file,
            remote,
        } => {
            let text = std::fs::read_to_string(&file).map_err(CliError::io(file.display()))?;
            let document: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", file.display())))?;
            print(&Client::new(&remote).send_json(
                "PUT",
                &format!("/v1/tenants/{tenant}/schemas/{event_type}"),
                &document,
            )?);
        }
        SchemaCommand::Get {
            tenant,
            event_type,
            version,
            remote,
        } => {
            let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
            print(
                &Client::new(&remote)
                    .get(&format!("/v1/tenants/{tenant}/schemas/{event_type}{query}"))?,
            );
        }
    }
    Ok(())
}
