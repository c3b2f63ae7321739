//! Monitoring as a Certificate Transparency monitor does it: keep a signed head obtained earlier
//! (from `GET /v1/tenants/{t}/audit/head`, or from [`AuditLog::signed_heads_page`](crate::AuditLog::signed_heads_page)),
//! and later check that the log is a consistent extension of it with an RFC 9162 consistency
//! proof. This catches what no check inside the directory can: a rewrite or rollback of records
//! by someone who also removed the signed heads that covered them (and the markers that would
//! have betrayed it), since the saved head lives elsewhere.
//!
//! [`verify_consistent_with`] first verifies the log as [`verify_dir`](crate::verify_dir) does,
//! then computes the consistency proof from the saved size to the current size out of the
//! log's records, and verifies it with [`verify_consistency`] against the saved root and the
//! recomputed current root, exactly as a remote monitor verifies a proof a server handed it.

use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::error::VerifyError;
use crate::head::SignedHead;
use crate::proof::{ConsistencyProof, verify_consistency};
use crate::tree::MerkleTree;
use crate::verify::{VerifyReport, verify_dir_with};

/// What [`verify_consistent_with`] established.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    /// The saved head the log was checked against (its signature verified).
    pub saved: SignedHead,
    /// The verification of the log as it is now.
    pub current: VerifyReport,
    /// The consistency proof from `saved.size` (root `saved.root`) to `current.records` (root
    /// `current.root`), computed from the log and verified.
    pub proof: ConsistencyProof,
}

/// Checks that the log in `dir` for `tenant` is a consistent extension of `saved`, a head of
/// the same log obtained earlier: `saved`'s signature with `key`, the log itself (as
/// [`verify_dir`](crate::verify_dir)), then an RFC 9162 consistency proof from `saved.size` to
/// the current size.
///
/// Fails with [`VerifyError::SavedHead`] for a head not signed by `key` for `tenant`, with
/// [`VerifyError::RolledBack`] when the log holds fewer records than `saved` covers, with
/// [`VerifyError::Inconsistent`] when records `saved` covered were rewritten, and with any
/// error of [`verify_dir`](crate::verify_dir). Holds the leaf hashes in memory (32 B per
/// record), as the server does.
pub fn verify_consistent_with(
    dir: &Path,
    tenant: &str,
    key: &VerifyingKey,
    saved: &SignedHead,
) -> Result<ConsistencyReport, VerifyError> {
    if saved.tenant != tenant {
        return Err(VerifyError::SavedHead {
            reason: "signed for another tenant",
        });
    }
    if !saved.verify(key) {
        return Err(VerifyError::SavedHead {
            reason: "signature does not verify with the deployment key",
        });
    }
    let mut tree = MerkleTree::new();
    let (current, local_heads) = verify_dir_with(dir, tenant, key, |hash| tree.push(*hash))?;
    if current.records < saved.size {
        return Err(VerifyError::RolledBack {
            saved_size: saved.size,
            records: current.records,
        });
    }
    let inconsistent = || {
        // Records up to the last head still in the log below the saved size are proven
        // (verify_dir matched that head's root); the rewrite is after it.
        let first_unproven = local_heads
            .iter()
            .map(|h| h.size)
            .filter(|&size| size < saved.size)
            .max()
            .unwrap_or(0);
        VerifyError::Inconsistent {
            saved_size: saved.size,
            size: current.records,
            first_unproven,
        }
    };
    // The proof a server would hand a monitor: computed from the log, checked against the
    // saved root and the current root only.
    let path = tree
        .consistency_proof(saved.size, current.records)
        .map_err(|_| inconsistent())?;
    let root_to = tree.root();
    if root_to != current.root {
        return Err(inconsistent());
    }
    let proof = ConsistencyProof {
        from: saved.size,
        to: current.records,
        root_from: saved.root,
        root_to,
        path,
    };
    if !verify_consistency(
        proof.from,
        proof.to,
        &proof.root_from,
        &proof.root_to,
        &proof.path,
    ) {
        return Err(inconsistent());
    }
    Ok(ConsistencyReport {
        saved: saved.clone(),
        current,
        proof,
    })
}
