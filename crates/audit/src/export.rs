//! `steward audit export`: the log and its signed heads as JSON files an external verifier can
//! check with a few lines of code (`python/audit_verify/verify.py`), plus the JSON form of
//! proofs and of signed heads, and the parser of a head a monitor saved. The only JSON in the
//! crate lives here, at the edge.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};

use crate::error::Tamper;
use crate::error::{AuditError, HeadJsonError, io_error};
use crate::frame::{HEADS_FILE, RECORDS_FILE};
use crate::hash::{Hash, to_hex};
use crate::head::{HeadsStop, SignedHead, head_message, read_heads};
use crate::marker::{ShutdownState, shutdown_state};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::record::AuditRecord;
use crate::scan::{Opened, ScanStop, Scanner};

/// Name of the export format, written into `heads.json`.
pub const EXPORT_FORMAT: &str = "steward-audit-export-v1";
/// Files written by [`export`].
pub const EXPORT_RECORDS_FILE: &str = "records.ndjson";
pub const EXPORT_HEADS_FILE: &str = "heads.json";

/// What [`export`] wrote.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub records: u64,
    pub heads: usize,
    /// The log's shutdown markers, also written into `heads.json`.
    pub shutdown: ShutdownState,
}

/// Writes `records.ndjson` (one object per record: index, leaf bytes, leaf hash and the decoded
/// fields) and `heads.json` (tenant, public key, shutdown state, every signed head with its
/// signed message) into `out_dir`. Stops at a torn tail of a log marked open; fails on any
/// damaged record or head (a torn tail included, unless the log is marked open), since an
/// export is meant to be verified and a damaged log is for `verify_dir` to diagnose.
pub fn export(
    dir: &Path,
    out_dir: &Path,
    tenant: &str,
    key: &VerifyingKey,
) -> Result<ExportReport, AuditError> {
    let shutdown = shutdown_state(dir).map_err(io_error("read shutdown markers", dir))?;
    let tolerate_torn = shutdown.tolerates_torn_tail();
    let heads_path = dir.join(HEADS_FILE);
    let heads = match read_heads(&heads_path, tolerate_torn) {
        Ok(file) => file.heads,
        Err(HeadsStop::Io(source)) => {
            return Err(AuditError::Io {
                op: "read",
                path: heads_path,
                source,
            });
        }
        Err(HeadsStop::NotAuditFile) => {
            return Err(AuditError::Corrupted {
                file: heads_path,
                offset: 0,
                index: None,
                reason: "not a heads file".into(),
            });
        }
        Err(HeadsStop::Bad {
            head,
            offset,
            reason,
        }) => {
            return Err(AuditError::Corrupted {
                file: heads_path,
                offset,
                index: None,
                reason: format!("signed head #{head}: {reason}"),
            });
        }
    };
    if heads.iter().any(|h| h.tenant != tenant) {
        return Err(AuditError::TenantMismatch);
    }
    std::fs::create_dir_all(out_dir).map_err(io_error("create directory", out_dir))?;
    let records = export_records(
        &dir.join(RECORDS_FILE),
        &out_dir.join(EXPORT_RECORDS_FILE),
        tolerate_torn,
    )?;
    let document = json!({
        "format": EXPORT_FORMAT,
        "tenant": tenant,
        "public_key": to_hex(key.as_bytes()),
        "hash": "sha256",
        "records": records,
        "shutdown": shutdown.as_str(),
        "heads": heads.iter().map(head_json).collect::<Vec<_>>(),
    });
    let heads_out = out_dir.join(EXPORT_HEADS_FILE);
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    std::fs::write(&heads_out, text + "\n").map_err(io_error("write", &heads_out))?;
    Ok(ExportReport {
        records,
        heads: heads.len(),
        shutdown,
    })
}

fn export_records(path: &Path, out: &Path, tolerate_torn: bool) -> Result<u64, AuditError> {
    let corrupted = |offset, index, reason: String| AuditError::Corrupted {
        file: path.to_path_buf(),
        offset,
        index,
        reason,
    };
    let file = File::create(out).map_err(io_error("create", out))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut scanner = match Scanner::open(path, true).map_err(io_error("open", path))? {
        Opened::Scanner(scanner) => scanner,
        Opened::NoHeader { .. } if tolerate_torn => return Ok(0),
        Opened::NoHeader { .. } => {
            return Err(corrupted(
                0,
                Some(0),
                "records file shorter than its header".into(),
            ));
        }
        Opened::NotAuditFile => return Err(corrupted(0, None, "not an audit records file".into())),
    };
    let mut count = 0;
    loop {
        let frame = match scanner.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(ScanStop::Torn {
                complete: false, ..
            }) if tolerate_torn => break,
            Err(ScanStop::Torn {
                index,
                offset,
                complete: false,
            }) => {
                return Err(corrupted(
                    offset,
                    Some(index),
                    Tamper::Incomplete.to_string(),
                ));
            }
            Err(ScanStop::Torn {
                index,
                offset,
                complete: true,
            }) => return Err(corrupted(offset, Some(index), "checksum mismatch".into())),
            Err(ScanStop::Bad {
                index,
                offset,
                tamper,
            }) => return Err(corrupted(offset, Some(index), tamper.to_string())),
            Err(ScanStop::Io(source)) => {
                return Err(AuditError::Io {
                    op: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let record = AuditRecord::decode(frame.leaf)
            .map_err(|e| corrupted(0, Some(frame.index), e.to_string()))?;
        let line = record_json(frame.index, frame.leaf, &frame.leaf_hash, &record);
        serde_json::to_writer(&mut writer, &line).map_err(|e| AuditError::Io {
            op: "write",
            path: out.to_path_buf(),
            source: e.into(),
        })?;
        writer.write_all(b"\n").map_err(io_error("write", out))?;
        count += 1;
    }
    writer.flush().map_err(io_error("write", out))?;
    Ok(count)
}

/// One line of `records.ndjson`; `statement` is `null` for a record without one (version 1).
pub fn record_json(index: u64, leaf: &[u8], leaf_hash: &Hash, record: &AuditRecord) -> Value {
    json!({
        "index": index,
        "leaf": to_hex(leaf),
        "leaf_hash": to_hex(leaf_hash),
        "time_us": record.time_us,
        "principal": record.principal,
        "action": record.action,
        "purpose": record.purpose,
        "resource": record.resource,
        "decision": record.decision.as_str(),
        "subject_count": record.subject_count,
        "subject_refs": record.subject_refs.iter().map(|r| to_hex(r)).collect::<Vec<_>>(),
        "policy_ids": record.policy_ids,
        "request_id": record.request_id,
        "result_rows": record.result_rows,
        "statement": record.statement,
    })
}

/// One signed head as exported (and as the API serves it in `signed`), with the exact signed
/// message for convenience: `{"size", "root", "time_us", "signature", "message"}`. The tenant
/// is not included (it is bound into `message`); [`SignedHead::from_json`] reads it back.
pub fn head_json(head: &SignedHead) -> Value {
    json!({
        "size": head.size,
        "root": to_hex(&head.root),
        "time_us": head.time_us,
        "signature": to_hex(&head.signature),
        "message": to_hex(&head.message()),
    })
}

impl SignedHead {
    /// Reads a head saved by a monitor: the object [`head_json`] writes (the `signed` field of
    /// `GET /v1/tenants/{t}/audit/head`), or that whole response (`{"size", "root", "signed",
    /// "public_key"}`, whose `signed` is then used). `tenant` is the log's tenant, which the
    /// JSON does not carry; a `tenant` field, if present, must equal it, and a `message`, if
    /// present, must be the message rebuilt from the fields. Does not check the signature (see
    /// [`SignedHead::verify`] and [`verify_consistent_with`](crate::verify_consistent_with)).
    pub fn from_json(value: &Value, tenant: &str) -> Result<SignedHead, HeadJsonError> {
        let bad = |field, reason| HeadJsonError { field, reason };
        let head = match value.get("signed") {
            Some(Value::Null) => {
                return Err(bad("signed", "the saved response holds no signed head yet"));
            }
            Some(signed) => signed,
            None => value,
        };
        if !head.is_object() {
            return Err(bad("head", "not a JSON object"));
        }
        if let Some(named) = head.get("tenant")
            && named.as_str() != Some(tenant)
        {
            return Err(bad("tenant", "not the tenant of this log"));
        }
        let size = head
            .get("size")
            .and_then(Value::as_u64)
            .ok_or(bad("size", "missing or not an unsigned integer"))?;
        let time_us = head
            .get("time_us")
            .and_then(Value::as_i64)
            .ok_or(bad("time_us", "missing or not an integer"))?;
        let root: Hash = hex_field(head, "root")?;
        let signature: [u8; 64] = hex_field(head, "signature")?;
        let parsed = SignedHead {
            tenant: tenant.to_owned(),
            size,
            root,
            time_us,
            signature,
        };
        if let Some(message) = head.get("message") {
            let rebuilt = to_hex(&head_message(tenant, size, &root, time_us));
            if message.as_str() != Some(rebuilt.as_str()) {
                return Err(bad(
                    "message",
                    "differs from the message rebuilt from the head's fields and the tenant",
                ));
            }
        }
        Ok(parsed)
    }
}

/// A fixed-length lowercase or uppercase hex field.
fn hex_field<const N: usize>(head: &Value, field: &'static str) -> Result<[u8; N], HeadJsonError> {
    let text = head
        .get(field)
        .and_then(Value::as_str)
        .ok_or(HeadJsonError {
            field,
            reason: "missing or not a string",
        })?;
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|_| HeadJsonError {
            field,
            reason: "not hex",
        })?;
    bytes.try_into().map_err(|_| HeadJsonError {
        field,
        reason: "wrong length",
    })
}

impl InclusionProof {
    /// `{"index", "tree_size", "leaf_hash", "path": [hex...], "root"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": to_hex(&self.leaf_hash),
            "path": self.path.iter().map(|h| to_hex(h)).collect::<Vec<_>>(),
            "root": to_hex(&self.root),
        })
    }
}

impl ConsistencyProof {
    /// `{"from", "to", "root_from", "root_to", "path": [hex...]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "from": self.from,
            "to": self.to,
            "root_from": to_hex(&self.root_from),
            "root_to": to_hex(&self.root_to),
            "path": self.path.iter().map(|h| to_hex(h)).collect::<Vec<_>>(),
        })
    }
}
