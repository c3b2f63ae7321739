//! `steward audit verify | export`: check a tenant's audit log offline, or write it out for an
//! external verifier (format: crates/audit/FORMAT.md; Python verifier: python/audit_verify).

use serde_json::json;
use std::path::{Path, PathBuf};
use steward_audit::{SigningKey, VerifyingKey};

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the tree, check every signed head; exit 1 naming the first bad record.
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// The tenant, or `_system` for the deployment's own log (tenants created and listed).
        #[arg(long)]
        tenant: String,
    },
    /// Write records.ndjson and heads.json for a third-party verifier.
    Export {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// The deployment's public head key, from its signing key file in the data directory.
fn public_key(data: &Path) -> Result<VerifyingKey, CliError> {
    let path = data.join("audit-signing.key");
    let text = std::fs::read_to_string(&path).map_err(CliError::io(path.display()))?;
    let bytes = steward_audit_hex(text.trim()).ok_or_else(|| CliError::Usage(format!("{}: not 64 hex digits", path.display())))?;
    Ok(SigningKey::from_bytes(&bytes).verifying_key())
}

fn steward_audit_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Where a log lives: a tenant's under `tenants/<t>/audit`; the deployment's own (tenant
/// administration by the operator) is `--tenant _system`, under `audit`.
fn log_dir(data: &Path, tenant: &str) -> PathBuf {
    if tenant == steward_engine::SYSTEM_AUDIT_LOG {
        data.join("audit")
    } else {
        data.join("tenants").join(tenant).join("audit")
    }
}

pub fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify { data, tenant } => {
            let key = public_key(&data)?;
            let dir = log_dir(&data, &tenant);
            match steward_audit::verify_dir(&dir, &tenant, &key) {
                Ok(report) => {
                    println!(
                        "{}",
                        json!({"ok": true, "tenant": tenant, "records": report.records, "root": steward_audit::to_hex(&report.root),
                               "signed_heads": report.heads, "signed_size": report.signed_size})
                    );
                    if report.heads == 0 {
                        eprintln!("warning: no signed head yet; records are protected by their frames only");
                    }
                    Ok(())
                }
                Err(error) => {
                    println!("{}", json!({"ok": false, "tenant": tenant, "first_bad_index": error.first_bad_index(), "error": error.to_string()}));
                    Err(CliError::Usage(format!("audit log of {tenant} does not verify: {error}")))
                }
            }
        }
        AuditCommand::Export { data, tenant, out } => {
            let key = public_key(&data)?;
            let dir = log_dir(&data, &tenant);
            let report = steward_audit::export(&dir, &out, &tenant, &key).map_err(|e| CliError::Usage(e.to_string()))?;
            println!("exported to {}: {report:?}", out.display());
            Ok(())
        }
    }
}
