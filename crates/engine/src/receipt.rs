//! Erasure receipts: when an erasure is done, a JSON document signed with the deployment's
//! Ed25519 key that says what was done, when, and proves (an RFC 9162 inclusion proof) that
//! the completion is in the tenant's audit log.
//!
//! The subject is named only by `SHA-256(salt ‖ pseudonym)`. The salt is random per request
//! and given only to the requester (in the answer that filed it), so the server's copy of a
//! receipt re-identifies no one; the requester can show the receipt is about them.
//!
//! Signed bytes: `RECEIPT_CONTEXT ‖ serde_json(body)`; `body` holds only strings, integers,
//! booleans, arrays and objects, whose serialization is stable through a parse and
//! re-serialization, so a verifier re-serializes the parsed body.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use steward_audit::InclusionProof;

use crate::erasure::ErasureRequest;

pub const RECEIPT_FORMAT: &str = "steward-erasure-receipt-v1";
const RECEIPT_CONTEXT: &[u8] = b"steward-erasure-receipt-v1\n";

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// `SHA-256(salt ‖ pseudonym)`, hex.
pub fn subject_hash(salt: &[u8], pseudonym: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(pseudonym);
    hex(&h.finalize())
}

pub(crate) fn build(
    key: &SigningKey,
    tenant: &str,
    request: &ErasureRequest,
    proof: &InclusionProof,
) -> Value {
    let body = json!({
        "request_id": request.id,
        "tenant": tenant,
        "subject_hash": request.subject_hash,
        "states": request.history.iter().map(|(s, at)| json!({"state": s.as_str(), "at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)})).collect::<Vec<_>>(),
        "no_data": request.no_data,
        "rows_removed": request.rows_removed,
        "segments_rewritten": request.segments_rewritten,
        "files_removed": request.files_removed,
        "derived_artifacts": request.derived_artifacts,
        "derived": request.derived,
        "audit": {
            "index": proof.index,
            "tree_size": proof.tree_size,
            "leaf_hash": hex(&proof.leaf_hash),
            "path": proof.path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
            "root": hex(&proof.root),
        },
        "public_key": hex(key.verifying_key().as_bytes()),
    });
    let signature = key.sign(&signed_bytes(&body));
    json!({"format": RECEIPT_FORMAT, "body": body, "signature": hex(&signature.to_bytes())})
}

fn signed_bytes(body: &Value) -> Vec<u8> {
    let mut out = RECEIPT_CONTEXT.to_vec();
    out.extend_from_slice(&serde_json::to_vec(body).unwrap_or_default());
    out
}

/// What a receipt check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptCheck {
    pub request_id: String,
    pub tenant: String,
    pub public_key: String,
    pub audit_index: u64,
}

/// Checks a receipt: format, signature (by `trusted` if given, else by the key it names),
/// and the inclusion proof of the completion record. Any change to the receipt fails it.
pub fn verify_receipt(
    receipt: &Value,
    trusted: Option<&VerifyingKey>,
) -> Result<ReceiptCheck, String> {
    if receipt["format"] != RECEIPT_FORMAT {
        return Err(format!("not a {RECEIPT_FORMAT} document"));
    }
    let body = &receipt["body"];
    let unhex = |v: &Value, what: &str| -> Result<Vec<u8>, String> {
        v.as_str()
            .and_then(|s| data_encoding::HEXLOWER.decode(s.as_bytes()).ok())
            .ok_or(format!("{what}: expected lowercase hex"))
    };
    let named: [u8; 32] = unhex(&body["public_key"], "public_key")?
        .try_into()
        .map_err(|_| "public_key: expected 32 bytes")?;
    let named = VerifyingKey::from_bytes(&named).map_err(|_| "public_key: not an Ed25519 key")?;
    if trusted.is_some_and(|t| t != &named) {
        return Err("signed by a key other than the trusted one".into());
    }
    let signature: [u8; 64] = unhex(&receipt["signature"], "signature")?
        .try_into()
        .map_err(|_| "signature: expected 64 bytes")?;
    named
        .verify(&signed_bytes(body), &Signature::from_bytes(&signature))
        .map_err(|_| "signature does not match the receipt")?;
    let audit = &body["audit"];
    let hash = |v: &Value, what: &str| -> Result<[u8; 32], String> {
        unhex(v, what)?
            .try_into()
            .map_err(|_| format!("{what}: expected 32 bytes"))
    };
    let path = audit["path"]
        .as_array()
        .ok_or("audit.path: expected an array")?
        .iter()
        .map(|h| hash(h, "audit.path"))
        .collect::<Result<Vec<_>, _>>()?;
    let index = audit["index"]
        .as_u64()
        .ok_or("audit.index: expected an integer")?;
    let tree_size = audit["tree_size"]
        .as_u64()
        .ok_or("audit.tree_size: expected an integer")?;
    if !steward_audit::verify_inclusion(
        &hash(&audit["leaf_hash"], "audit.leaf_hash")?,
        index,
        tree_size,
        &path,
        &hash(&audit["root"], "audit.root")?,
    ) {
        return Err("the audit inclusion proof does not hold".into());
    }
    if body["states"]
        .as_array()
        .and_then(|s| s.last())
        .map(|s| &s["state"])
        != Some(&json!("done"))
    {
        return Err("the receipt's last state is not done".into());
    }
    Ok(ReceiptCheck {
        request_id: body["request_id"].as_str().unwrap_or_default().to_owned(),
        tenant: body["tenant"].as_str().unwrap_or_default().to_owned(),
        public_key: hex(named.as_bytes()),
        audit_index: index,
    })
}
