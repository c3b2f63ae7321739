//! steward-stats: the statistics of A/B experiments (issue 12, item 5). A pure library: std
//! only, deterministic f64 arithmetic, every input validated into [`StatsError`] rather than a
//! panic. The server's experiment plumbing feeds it counts and summaries; it knows nothing of
//! tenants, storage or HTTP.
//!
//! Main types and functions, in the order an experiment report uses them:
//! - [`sample_ratio_mismatch`]: exposures per arm against the configured split (chi-square);
//!   check it first, a mismatch voids the rest.
//! - [`Proportion`] → [`compare_proportions`]: rates with Wilson intervals, the difference
//!   (Wald interval), the lift (delta method on the log ratio), the pooled z-test.
//! - [`MeanSummary`] (from [`Welford`]) → [`compare_means`]: Welch's t-test, the difference
//!   and lift intervals.
//! - [`msprt_proportions`], [`msprt_means`]: the always-valid sequential test (mSPRT); the
//!   caller stores its p-value between looks ([`FIRST_LOOK_P_VALUE`] at the first).
//! - [`Guardrail`]: is the treatment significantly worse, given which direction is [`Better`];
//!   implemented by both comparisons (one-sided fixed-horizon tests) and by
//!   [`SequentialResult`] (this look's always-valid evidence, on the harmful side only).
//! - [`special`]: the normal, Student t and chi-square distributions and the incomplete beta and
//!   gamma functions underneath, our own code.
//!
//! Fixed-horizon results (`compare_*`) are valid once, at the planned sample size; reading them
//! at every look inflates false positives (tests/simulation.rs measures it). Use the sequential
//! test for decisions taken while data arrives.

mod alpha;
mod error;
mod guardrail;
mod interval;
pub mod limits;
mod means;
mod proportions;
mod sequential;
pub mod special;
mod srm;

pub use alpha::Alpha;
pub use error::StatsError;
pub use guardrail::{Better, Guardrail};
pub use interval::{Interval, Lift};
pub use means::{MeanComparison, MeanSummary, Welford, compare_means};
pub use proportions::{
    Proportion, ProportionComparison, RateEstimate, compare_proportions, wilson_interval,
};
pub use sequential::{
    FIRST_LOOK_P_VALUE, MIXING_EFFECT_SD_DEFAULT, Mixing, SequentialResult, msprt_means,
    msprt_proportions,
};
pub use special::{chi_square_sf, normal_cdf, normal_quantile, student_t_cdf, student_t_quantile};
pub use srm::{SRM_ALPHA_DEFAULT, SrmResult, sample_ratio_mismatch};
