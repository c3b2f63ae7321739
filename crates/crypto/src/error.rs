//! The one error type of the crypto crate.

/// Why a cryptographic operation failed. Deliberately vague about the cause of an
/// authentication failure: wrong key, wrong context and tampering look the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("authentication failed: wrong key, wrong context or tampered data")]
    Authentication,
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    #[error("invalid key material: {0}")]
    InvalidKey(String),
    #[error("key file {path}: {source}")]
    KeyFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A sealed file (`sealed_file`) whose structure is wrong: bad magic, a chunk size out of
    /// bounds, a declared length that does not match the file, a range past its end.
    #[error("sealed file: {reason}")]
    SealedFile { reason: String },
    #[error("sealed file I/O: {source}")]
    SealedFileIo { source: std::io::Error },
}
