//! Keyed subject references: how a record names a subject without the pseudonym.
//!
//! `subject_ref = HMAC-SHA256(ref_key, "audit-subject-ref" ‖ pseudonym)`. The reference key is
//! per subject and must live and die with the subject's data key: while it exists, a
//! compliance report recomputes the reference and finds the subject's records; once erasure
//! destroys it, the references are 32 random-looking bytes that nobody (the operator included)
//! can link back to the pseudonym, while the records and the tree still verify.

use steward_crypto::{Key256, hmac_sha256};

use crate::record::SubjectRef;

/// Domain-separation label of subject references.
const SUBJECT_REF_LABEL: &[u8] = b"audit-subject-ref";
/// Label for deriving the reference key from the subject's data key.
const REF_KEY_LABEL: &[u8] = b"steward-audit-subject-ref-key-v1";

/// The reference that names a subject (by its pseudonym bytes) in audit records.
pub fn subject_ref(ref_key: &Key256, pseudonym: &[u8; 32]) -> SubjectRef {
    hmac_sha256(ref_key, &[SUBJECT_REF_LABEL, pseudonym])
}

/// Derives a subject's reference key from the subject's data key, so that the reference key
/// needs no storage of its own and is destroyed exactly when the data key is (crypto-erasure).
/// One-way: a reference key reveals nothing about the data key.
pub fn subject_ref_key(subject_data_key: &Key256) -> Key256 {
    Key256::from_bytes(hmac_sha256(subject_data_key, &[REF_KEY_LABEL]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_depend_on_key_and_pseudonym() {
        let data_key = Key256::from_bytes([1; 32]);
        let key = subject_ref_key(&data_key);
        assert_ne!(key.expose(), data_key.expose());
        let a = subject_ref(&key, &[2; 32]);
        assert_eq!(a, subject_ref(&subject_ref_key(&data_key), &[2; 32]));
        assert_ne!(a, subject_ref(&key, &[3; 32]));
        assert_ne!(a, subject_ref(&Key256::from_bytes([9; 32]), &[2; 32]));
        assert_ne!(&a, &[2; 32]);
    }
}
