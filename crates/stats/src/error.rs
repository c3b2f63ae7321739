//! The crate's one error type. Every variant but `NoConvergence` is the caller's input; the
//! messages carry only numbers and fixed words, so they are safe to show and to log.

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A value that must be a finite number was NaN or infinite.
    #[error("{what} must be a finite number, got {value}")]
    NotFinite { what: &'static str, value: f64 },
    /// A finite value outside the set the function is defined on.
    #[error("{what} = {value} is outside its domain ({domain})")]
    Domain {
        what: &'static str,
        value: f64,
        domain: &'static str,
    },
    /// An arm with more conversions than exposures.
    #[error("{conversions} conversions exceed {exposures} exposures")]
    ConversionsExceedExposures { conversions: u64, exposures: u64 },
    /// Too few observations: an arm with no exposures, or fewer than two values for a variance.
    #[error("{what} needs at least {min} observations, got {n}")]
    TooFewObservations {
        what: &'static str,
        n: u64,
        min: u64,
    },
    /// The data leave the statistic undefined (e.g. both arms without variance).
    #[error("{what} is undefined: {reason}")]
    Undefined {
        what: &'static str,
        reason: &'static str,
    },
    /// Observed counts and expected weights of a sample-ratio test do not pair up.
    #[error("{observed} observed arms but {expected} expected weights")]
    ArmCountMismatch { observed: usize, expected: usize },
    /// Too many or too few arms for a sample-ratio test.
    #[error("a sample-ratio test needs between {min} and {max} arms, got {arms}")]
    ArmCount { arms: usize, min: usize, max: usize },
    /// A series or continued fraction did not reach double precision within its step limit
    /// (`limits.rs`): a bug or an input far beyond the tested range; please report the inputs.
    #[error("{function} did not converge (internal; please report the inputs)")]
    NoConvergence { function: &'static str },
}

pub(crate) fn finite(what: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::NotFinite { what, value })
    }
}
