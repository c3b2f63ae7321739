//! steward-audit: each tenant's append-only Merkle audit log (RFC 9162 hashing), with signed
//! tree heads, inclusion and consistency proofs, an offline verifier and an export for
//! third-party verifiers.
//!
//! Main types: [`AuditRecord`] (one decision; never personal data: subjects appear as keyed
//! [`subject_ref`]s, free strings are limited to `[A-Za-z0-9_:/.-]`, and the optional normalized
//! SQL `statement` to printable ASCII without quotes or backslashes), [`AuditLog`] (one
//! tenant's directory: `append_durable` for mutations, `append_batched` for reads, signed heads,
//! proofs, [`AuditLog::close`] at shutdown), [`MerkleTree`] (the in-memory tree), [`verify_dir`]
//! (the offline verifier), [`verify_consistent_with`] (a monitor's check against a head saved
//! earlier) and [`export()`]. The on-disk format, proofs and the export are specified in
//! `FORMAT.md`.
//!
//! Shutdown markers (`FORMAT.md` §4.4, [`ShutdownState`]): opening a log for writing creates
//! `open.marker`; [`AuditLog::close`] signs a head covering every record and renames it to
//! `closed.marker`. Only a log left marked open (a crash) may end in a torn frame, which
//! recovery cuts and the verifier reports; in a log closed cleanly, or one with no marker, a
//! damaged final frame (the last signed head included) is damage: verification fails naming
//! it, and open refuses the log. A log closed cleanly must have every record signed.
//!
//! The crate knows nothing of HTTP, the engine or where keys live: the caller passes the
//! deployment's Ed25519 key to sign heads and each subject's reference key to name subjects.

mod commit;
mod config;
mod error;
mod export;
mod files;
mod flusher;
mod frame;
mod frontier;
mod hash;
mod head;
mod log;
mod marker;
mod monitor;
mod proof;
mod record;
mod recovery;
mod scan;
mod subject;
mod tree;
mod verify;

pub mod limits;

pub use config::AuditConfig;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::{AuditError, HeadJsonError, ProofError, RecordError, Tamper, VerifyError};
pub use export::{
    EXPORT_FORMAT, EXPORT_HEADS_FILE, EXPORT_RECORDS_FILE, ExportReport, export, head_json,
    record_json,
};
pub use frame::{HEADS_FILE, RECORDS_FILE};
pub use frontier::Frontier;
pub use hash::{Hash, empty_root, leaf_hash, node_hash, to_hex};
pub use head::{HEAD_SIGNING_CONTEXT, HeadsPage, SignedHead, TreeHead, head_message};
pub use log::{AuditLog, for_each_record};
pub use marker::{CLOSED_MARKER_FILE, OPEN_MARKER_FILE, ShutdownState, shutdown_state};
pub use monitor::{ConsistencyReport, verify_consistent_with};
pub use proof::{ConsistencyProof, InclusionProof, verify_consistency, verify_inclusion};
pub use record::{
    AuditRecord, Decision, RECORD_VERSION, RECORD_VERSION_STATEMENT, SubjectRef, is_audit_char,
    is_statement_char,
};
pub use subject::{subject_ref, subject_ref_key};
pub use tree::MerkleTree;
pub use verify::{VerifyReport, verify_dir};
