//! `steward audit verify | export`: check a tenant's audit log offline (optionally against a
//! head saved earlier, as a Certificate Transparency monitor does), or write it out for an
//! external verifier (format: crates/audit/FORMAT.md; Python verifier: python/audit_verify).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use steward_audit::{SignedHead, SigningKey, VerifyError, VerifyReport, VerifyingKey};

use crate::error::CliError;

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the tree, check every signed head; exit 1 naming the first bad record (or the
    /// bad signed head). In a log closed cleanly any damage fails, the last head included; in a
    /// log its writer left open (a crash) a torn final frame is reported as a warning.
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// The tenant, or `_system` for the deployment's own log (tenants created and listed).
        #[arg(long)]
        tenant: String,
        /// A signed head saved earlier: the `signed` object of `GET /v1/tenants/{t}/audit/head`,
        /// or that whole response. Also proves (RFC 9162 consistency proof) that today's log
        /// extends it; exit 1 if the log was rewritten or cut since.
        #[arg(long, value_name = "FILE")]
        since_head: Option<PathBuf>,
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
    let bytes = steward_audit_hex(text.trim())
        .ok_or_else(|| CliError::Usage(format!("{}: not 64 hex digits", path.display())))?;
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

/// Reads a saved head (`--since-head`): the head JSON or the whole head response.
fn saved_head(path: &Path, tenant: &str) -> Result<SignedHead, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::io(path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", path.display())))?;
    SignedHead::from_json(&value, tenant)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

/// The success line of `verify`: what was checked, and what is not proven.
fn report_json(tenant: &str, report: &VerifyReport) -> Value {
    json!({"ok": true, "tenant": tenant, "records": report.records, "root": steward_audit::to_hex(&report.root),
           "signed_heads": report.heads, "signed_size": report.signed_size, "shutdown": report.shutdown.as_str(),
           "warnings": report.warnings()})
}

fn verify(data: &Path, tenant: &str, since_head: Option<&Path>) -> Result<(), CliError> {
    let key = public_key(data)?;
    let dir = log_dir(data, tenant);
    let outcome = match since_head {
        None => {
            steward_audit::verify_dir(&dir, tenant, &key).map(|report| report_json(tenant, &report))
        }
        Some(path) => {
            let saved = saved_head(path, tenant)?;
            steward_audit::verify_consistent_with(&dir, tenant, &key, &saved).map(|consistent| {
                let mut line = report_json(tenant, &consistent.current);
                line["since_head"] = json!({"size": saved.size, "root": steward_audit::to_hex(&saved.root), "time_us": saved.time_us});
                line["consistency"] = consistent.proof.to_json();
                line
            })
        }
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            for warning in line["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                eprintln!("warning: {warning}");
            }
            Ok(())
        }
        Err(error) => {
            println!(
                "{}",
                json!({"ok": false, "tenant": tenant, "first_bad_index": error.first_bad_index(), "bad_head": error.bad_head(),
                       "error": error.to_string()})
            );
            let what = match error {
                VerifyError::SavedHead { .. }
                | VerifyError::RolledBack { .. }
                | VerifyError::Inconsistent { .. } => "is not consistent with the saved head",
                _ => "does not verify",
            };
            // A verification failure exits 1 (usage errors exit 2).
            Err(CliError::Engine(steward_engine::EngineError::Audit(
                format!("the log of {tenant} {what}: {error}"),
            )))
        }
    }
}

pub fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            data,
            tenant,
            since_head,
        } => verify(&data, &tenant, since_head.as_deref()),
        AuditCommand::Export { data, tenant, out } => {
            let key = public_key(&data)?;
            let dir = log_dir(&data, &tenant);
            let report = steward_audit::export(&dir, &out, &tenant, &key)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!("exported to {}: {report:?}", out.display());
            Ok(())
        }
    }
}
