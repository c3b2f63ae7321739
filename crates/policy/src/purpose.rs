//! Purposes: the six built in, and the ones a tenant defines by naming them in its policies.

use std::fmt;

/// The purposes every tenant has.
pub const BUILTIN_PURPOSES: [&str; 6] = [
    "analytics",
    "model_training",
    "personalization",
    "support",
    "security",
    "legal",
];

/// Longest purpose name; names are stored in keys, logs and audit records.
pub const MAX_PURPOSE_LEN: usize = 32;

/// A well-formed purpose name: `^[a-z][a-z0-9_]{0,31}$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purpose(String);

/// Why a purpose was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PurposeError {
    /// Not of the form `[a-z][a-z0-9_]*`, at most 32 characters. The text is not echoed: it
    /// came from a request and ends up in logs.
    #[error("a purpose is 1 to 32 characters of a-z, 0-9 and _, starting with a letter")]
    Malformed,
    /// Well-formed, but neither built in nor named by the tenant's policies. The text is kept
    /// for the caller but not printed.
    #[error("unknown purpose: use a built-in purpose or one the tenant's policies name")]
    Unknown(String),
}

impl Purpose {
    /// Checks the form only; see [`crate::PolicyEngine::purpose`] for "is it known here".
    pub fn parse(text: &str) -> Result<Purpose, PurposeError> {
        if is_well_formed(text) {
            Ok(Purpose(text.to_owned()))
        } else {
            Err(PurposeError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_builtin(&self) -> bool {
        BUILTIN_PURPOSES.contains(&self.0.as_str())
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn is_well_formed(text: &str) -> bool {
    let bytes = text.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z'))
        && bytes.len() <= MAX_PURPOSE_LEN
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_names() {
        for ok in ["analytics", "a", "fraud_review2", &"a".repeat(32)] {
            assert!(Purpose::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Analytics",
            "1x",
            "_x",
            "a-b",
            "a b",
            &"a".repeat(33),
            "é",
        ] {
            assert_eq!(Purpose::parse(bad), Err(PurposeError::Malformed), "{bad}");
        }
    }
}
