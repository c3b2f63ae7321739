//! `steward consent set | get | import`: record subjects' decisions per purpose (by external
//! id; the CLI resolves it to the pseudonym over the API), read them, import them in bulk.

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::PathBuf;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

/// Lines sent per import request (the server's bound is 10,000).
const IMPORT_CHUNK_LINES: usize = 5_000;

#[derive(clap::Subcommand)]
pub enum ConsentCommand {
    /// Grant or deny a purpose for a subject.
    Set {
        #[arg(long)]
        tenant: String,
        /// The subject's external id.
        #[arg(long)]
        subject: String,
        #[arg(long)]
        purpose: String,
        #[arg(long, action = clap::ArgAction::Set)]
        granted: bool,
        /// api, gpc or import.
        #[arg(long, default_value = "api")]
        source: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// A subject's consents in force and their history.
    Get {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        subject: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Import NDJSON lines {"external_id", "purpose", "granted", "source"?, "at"?}.
    Import {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
}

fn pseudonym(client: &Client, tenant: &str, external_id: &str) -> Result<String, CliError> {
    let answer = client.send_json(
        "POST",
        &format!("/v1/tenants/{tenant}/subjects/resolve"),
        &json!({"external_id": external_id}),
    )?;
    answer["subject"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Http("resolve answered without a subject".into()))
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn run(command: ConsentCommand) -> Result<(), CliError> {
    match command {
        ConsentCommand::Set {
            tenant,
            subject,
            purpose,
            granted,
            source,
            remote,
        } => {
            let client = Client::new(&remote);
            let p = pseudonym(&client, &tenant, &subject)?;
            print(&client.send_json(
                "PUT",
                &format!("/v1/tenants/{tenant}/subjects/{p}/consents/{purpose}"),
                &json!({"granted": granted, "source": source}),
            )?);
        }
        ConsentCommand::Get {
            tenant,
            subject,
            remote,
        } => {
            let client = Client::new(&remote);
            let p = pseudonym(&client, &tenant, &subject)?;
            print(&client.get(&format!("/v1/tenants/{tenant}/subjects/{p}/consents"))?);
        }
        ConsentCommand::Import {
            tenant,
            file,
            remote,
        } => {
            let client = Client::new(&remote);
            let reader = std::io::BufReader::new(
                std::fs::File::open(&file).map_err(CliError::io(file.display()))?,
            );
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("importing consents {pos} lines {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            let (mut accepted, mut rejected, mut offset) = (0u64, Vec::new(), 0usize);
            let mut chunk = String::new();
            let mut lines_in_chunk = 0;
            let mut send =
                |chunk: &mut String, lines: usize, offset: &mut usize| -> Result<(), CliError> {
                    let answer = client
                        .post_ndjson(&format!("/v1/tenants/{tenant}/consents"), chunk.as_bytes())?;
                    accepted += answer["accepted"].as_u64().unwrap_or(0);
                    for r in answer["rejected"].as_array().into_iter().flatten() {
                        let mut r = r.clone();
                        r["line"] = json!(r["index"].as_u64().unwrap_or(0) as usize + *offset + 1);
                        rejected.push(r);
                    }
                    *offset += lines;
                    chunk.clear();
                    Ok(())
                };
            for line in reader.lines() {
                let line = line.map_err(CliError::io(file.display()))?;
                chunk.push_str(&line);
                chunk.push('\n');
                lines_in_chunk += 1;
                bar.inc(1);
                if lines_in_chunk == IMPORT_CHUNK_LINES {
                    send(&mut chunk, lines_in_chunk, &mut offset)?;
                    lines_in_chunk = 0;
                }
            }
            if lines_in_chunk > 0 {
                send(&mut chunk, lines_in_chunk, &mut offset)?;
            }
            bar.finish_and_clear();
            print(
                &json!({"accepted": accepted, "rejected_count": rejected.len(), "rejected": rejected}),
            );
        }
    }
    Ok(())
}
