//! The crate's error type.

use crate::PolicyDiagnostic;

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The tenant's policies do not parse or do not validate against the schema; every
    /// problem found, with its position in the tenant's text.
    #[error("invalid policies: {}", summary(.0))]
    Invalid(Vec<PolicyDiagnostic>),
    /// The text nests or chains expressions past the bounds of `limits.rs`; refused before
    /// parsing.
    #[error("policies too complex: {0}")]
    TooComplex(crate::PolicyTooComplex),
    /// The parsing thread could not start or panicked.
    #[error("{0}")]
    Parser(String),
    /// The shipped schema or platform policies are broken: a bug in this crate.
    #[error("the shipped Cedar schema does not load: {0}")]
    Schema(String),
}

fn summary(diagnostics: &[PolicyDiagnostic]) -> String {
    match diagnostics {
        [] => "no diagnostics".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}
