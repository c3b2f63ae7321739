//! The always-valid sequential test: mSPRT with a normal mixing distribution (Johari, Pekelis,
//! Walsh, "Always valid inference: bringing sequential analysis to A/B testing", 2017, the
//! "peeking" paper), for the difference of two rates or two means. Its p-value may be looked
//! at after every batch and acted on the first time it falls below α, with the false-positive
//! rate still at most α; a fixed-horizon test looked at that way is not (tests/simulation.rs
//! measures both).
//!
//! State: the always-valid p-value is the running minimum of 1/Λₙ over the looks, so each look
//! takes the previous p-value ([`FIRST_LOOK_P_VALUE`] at the first) and returns the new one for
//! the caller to store beside the experiment. Looks are cumulative: each passes the running
//! totals of both arms, never a batch alone.

use crate::alpha::Alpha;
use crate::error::{StatsError, finite};
use crate::means::MeanSummary;
use crate::proportions::{Proportion, pooled_variances};

/// The previous p-value to pass at an experiment's first look.
pub const FIRST_LOOK_P_VALUE: f64 = 1.0;

/// The default spread of the mixing distribution, in standard deviations of one observation.
///
/// With τ² = r·V (V the variance of the estimated difference), Λ ≥ 1/α needs
/// z² ≥ 2 (1 + r)/r · (ln(1/α) + ½ ln(1 + r)): at α = 0.05, |z| ≥ 3.66 at r = 1, 3.26 at r = 2,
/// 3.04 at r = 8 (the best), 3.12 at r = 30, 3.43 at r = 300 (the fixed-horizon test needs
/// 1.96, the price of looking at every step). With τ = 0.02 σ and equal arms of n,
/// r = 0.0002·n: the test is sharpest near 40,000 exposures per arm and within 0.4 of its best
/// from 10,000 to 1,500,000, the sizes of typical product experiments. Pass [`Mixing::standardized`] or [`Mixing::absolute`] when
/// prior experiments say what effects to expect.
pub const MIXING_EFFECT_SD_DEFAULT: f64 = 0.02;

/// The normal mixing distribution N(0, τ²) over the true difference θ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mixing(MixingScale);

#[derive(Debug, Clone, Copy, PartialEq)]
enum MixingScale {
    /// τ² in the metric's squared units.
    Absolute(f64),
    /// τ = this many standard deviations of one observation.
    Standardized(f64),
}

impl Mixing {
    /// τ² in the metric's own squared units: 1e-4 spreads a rate difference over about ±1
    /// percentage point. Finite and > 0.
    pub fn absolute(tau_squared: f64) -> Result<Self, StatsError> {
        positive("tau squared", tau_squared).map(|v| Mixing(MixingScale::Absolute(v)))
    }

    /// τ = `effect_sd` · σ, σ² the pooled variance of one observation (p̄(1 − p̄) for rates, the
    /// pooled sample variance for means), so one setting fits metrics of any scale: effects are
    /// in standard deviations (Cohen's d). Finite and > 0.
    pub fn standardized(effect_sd: f64) -> Result<Self, StatsError> {
        positive("effect sd", effect_sd).map(|v| Mixing(MixingScale::Standardized(v)))
    }

    /// τ² for a look whose per-observation variance is `unit_variance`.
    fn tau_squared(self, unit_variance: f64) -> f64 {
        match self.0 {
            MixingScale::Absolute(tau_squared) => tau_squared,
            // (sd σ)², not sd² σ²: sd² may overflow where σ² is 0 (∞ · 0 = NaN).
            MixingScale::Standardized(sd) => {
                let tau = sd * unit_variance.sqrt();
                tau * tau
            }
        }
    }
}

impl Default for Mixing {
    /// [`MIXING_EFFECT_SD_DEFAULT`] standard deviations.
    fn default() -> Self {
        Mixing(MixingScale::Standardized(MIXING_EFFECT_SD_DEFAULT))
    }
}

fn positive(what: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::Domain {
            what,
            value,
            domain: "finite and > 0",
        })
    }
}

/// One look of the sequential test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialResult {
    /// Estimated difference, treatment − control.
    pub difference: f64,
    /// Its variance V at this look.
    pub variance: f64,
    /// τ² of the mixing distribution at this look.
    pub tau_squared: f64,
    /// ln Λ, the log mixture likelihood ratio (in logs: Λ overflows for strong effects).
    pub ln_likelihood_ratio: f64,
    /// min(1, 1/Λ) at this look alone. Also always valid (Ville's inequality bounds the chance
    /// that 1/Λ ever reaches α), and unlike `p_value` it belongs to this look's `difference`,
    /// so a one-sided reading (the guardrail) takes its direction from the same look.
    pub look_p_value: f64,
    /// The always-valid p-value, min(previous, 1/Λ): store it for the next look.
    pub p_value: f64,
    /// p-value ≤ α: stop, the arms differ.
    pub reject: bool,
}

/// A look at a conversion-rate experiment from the running totals of both arms.
///
/// V is the pooled variance of the difference, p̄(1 − p̄)(1/n_t + 1/n_c): the variance under
/// the null, which is what keeps the false-positive rate (the plug-in unpooled variance is near
/// zero at early looks with few conversions and lets noise through). When every unit so far
/// converted, or none did, V = 0 and the difference is 0 too: Λ = 1, no evidence either way.
pub fn msprt_proportions(
    control: Proportion,
    treatment: Proportion,
    previous_p_value: f64,
    mixing: Mixing,
    alpha: Alpha,
) -> Result<SequentialResult, StatsError> {
    let previous = check_previous(previous_p_value)?;
    let (variance, unit) = pooled_variances(control, treatment);
    let difference = treatment.rate() - control.rate();
    Ok(look(
        difference,
        variance,
        mixing.tau_squared(unit),
        previous,
        alpha,
    ))
}

/// A look at a mean experiment from the running summaries of both arms: V = s_t²/n_t +
/// s_c²/n_c, the plug-in variance of Welch's test; for standardized mixing σ² is the pooled
/// sample variance. Fails when both arms have zero variance (the evidence is undefined).
pub fn msprt_means(
    control: &MeanSummary,
    treatment: &MeanSummary,
    previous_p_value: f64,
    mixing: Mixing,
    alpha: Alpha,
) -> Result<SequentialResult, StatsError> {
    let previous = check_previous(previous_p_value)?;
    let variance = control.variance_of_mean() + treatment.variance_of_mean();
    if variance <= 0.0 {
        return Err(StatsError::Undefined {
            what: "the mSPRT likelihood ratio",
            reason: "both arms have zero variance",
        });
    }
    // Summaries near f64::MAX overflow here; refused rather than carried as ∞ or NaN.
    let variance = finite("variance of the difference", variance)?;
    let difference = finite("difference of the means", treatment.mean() - control.mean())?;
    // The pooled variance as a weighted mean of the two (weights (n − 1)/(n_c + n_t − 2)), which
    // cannot overflow where the variances themselves are finite.
    let (nc, nt) = (control.n() as f64, treatment.n() as f64);
    let pooled_df = nc + nt - 2.0;
    let unit =
        (nc - 1.0) / pooled_df * control.variance() + (nt - 1.0) / pooled_df * treatment.variance();
    Ok(look(
        difference,
        variance,
        mixing.tau_squared(unit),
        previous,
        alpha,
    ))
}

/// 0 is a valid previous p-value: 1/Λ underflows once the evidence is overwhelming.
fn check_previous(p: f64) -> Result<f64, StatsError> {
    if (0.0..=1.0).contains(&p) {
        // −0.0 passes the range check; stored and printed as 0.
        Ok(if p == 0.0 { 0.0 } else { p })
    } else {
        Err(StatsError::Domain {
            what: "previous p-value",
            value: p,
            domain: "0 <= p <= 1 (1 at the first look)",
        })
    }
}

/// Λ = √(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²))): the likelihood ratio of θ̂ ~ N(θ, V)
/// with θ ~ N(0, τ²) against θ = 0. With equal arms of n and known σ², V = 2σ²/n and this is
/// the paper's two-sample formula.
///
/// Computed as ln Λ = ½ (θ̂ τ / (√(V + τ²) √V))² − ½ ln(1 + r), r = τ²/V: no product of two
/// variances is formed (V·(V + τ²) underflows to 0 at V ~ 1e-160, giving 0/0), and each
/// factor of the first term stays a number where the other would be 0 or ∞. `difference` and
/// `variance` are finite, `tau_squared` ≥ 0 (+∞ when a standardized mixing overflows).
fn look(
    difference: f64,
    variance: f64,
    tau_squared: f64,
    previous: f64,
    alpha: Alpha,
) -> SequentialResult {
    let ln_likelihood_ratio = if variance > 0.0 && tau_squared > 0.0 {
        let penalty = 0.5 * (tau_squared / variance).ln_1p();
        if penalty.is_infinite() {
            // r = ∞: the mixture is spread so wide against V that it carries no evidence.
            f64::NEG_INFINITY
        } else {
            let (sd, tau) = (variance.sqrt(), tau_squared.sqrt());
            let scaled = difference / sd.hypot(tau) * (tau / sd);
            0.5 * scaled * scaled - penalty
        }
    } else {
        0.0
    };
    let look_p_value = (-ln_likelihood_ratio).exp().min(1.0);
    let p_value = previous.min(look_p_value);
    SequentialResult {
        difference,
        variance,
        tau_squared,
        ln_likelihood_ratio,
        look_p_value,
        p_value,
        reject: p_value <= alpha.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(conversions: u64, exposures: u64) -> Proportion {
        Proportion::new(conversions, exposures).unwrap()
    }

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} != {expected} (tolerance {tolerance:e})"
        );
    }

    #[test]
    fn matches_the_papers_two_sample_formula() {
        // Equal arms of n with known σ²: Λ = √(2σ²/(2σ² + nτ²)) · exp(n²τ²Δ²/(4σ²(2σ² + nτ²))).
        // Means with s² = σ² = 4, n = 500, Δ = 0.3, τ² = 0.01.
        let (n, sigma2, delta, tau2) = (500.0, 4.0, 0.3, 0.01);
        let control = MeanSummary::new(500, 1.0, sigma2).unwrap();
        let treatment = MeanSummary::new(500, 1.0 + delta, sigma2).unwrap();
        let mixing = Mixing::absolute(tau2).unwrap();
        let r = msprt_means(&control, &treatment, 1.0, mixing, Alpha::FIVE_PERCENT).unwrap();
        let lambda = (2.0 * sigma2 / (2.0 * sigma2 + n * tau2)).sqrt()
            * (n * n * tau2 * delta * delta / (4.0 * sigma2 * (2.0 * sigma2 + n * tau2))).exp();
        close(r.ln_likelihood_ratio, lambda.ln(), 1e-12);
        close(r.p_value, (1.0 / lambda).min(1.0), 1e-12);
        // Standardized mixing scales τ² with the pooled variance.
        let r = msprt_means(
            &control,
            &treatment,
            1.0,
            Mixing::standardized(0.05).unwrap(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        close(r.tau_squared, 0.0025 * sigma2, 1e-15);
    }

    #[test]
    fn p_value_is_a_running_minimum() {
        let strong = msprt_proportions(
            arm(100, 5000),
            arm(200, 5000),
            1.0,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert!(strong.reject && strong.p_value < 1e-3, "{strong:?}");
        // A later look with no difference keeps the earlier, smaller p-value.
        let later = msprt_proportions(
            arm(300, 10_000),
            arm(300, 10_000),
            strong.p_value,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert_eq!(later.p_value, strong.p_value);
        assert!(later.ln_likelihood_ratio < 0.0);
        // No difference from the start: Λ < 1, p stays 1.
        let none = msprt_proportions(
            arm(50, 1000),
            arm(50, 1000),
            FIRST_LOOK_P_VALUE,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert_eq!((none.p_value, none.reject), (1.0, false));
    }

    #[test]
    fn overwhelming_evidence_underflows_to_zero_and_stays_usable() {
        let r = msprt_proportions(
            arm(996, 1005),
            arm(6484, 45_798),
            1.0,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert_eq!(r.p_value, 0.0);
        assert!(r.ln_likelihood_ratio > 745.0, "{r:?}");
        let next = msprt_proportions(
            arm(996, 1005),
            arm(6484, 45_798),
            r.p_value,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert_eq!((next.p_value, next.reject), (0.0, true));
    }

    #[test]
    fn degenerate_and_invalid() {
        let r = msprt_proportions(
            arm(0, 10),
            arm(0, 12),
            1.0,
            Mixing::default(),
            Alpha::FIVE_PERCENT,
        )
        .unwrap();
        assert_eq!((r.ln_likelihood_ratio, r.p_value), (0.0, 1.0));
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(
                msprt_proportions(
                    arm(1, 10),
                    arm(2, 10),
                    bad,
                    Mixing::default(),
                    Alpha::FIVE_PERCENT
                )
                .is_err()
            );
        }
        let flat = MeanSummary::new(10, 1.0, 0.0).unwrap();
        assert!(msprt_means(&flat, &flat, 1.0, Mixing::default(), Alpha::FIVE_PERCENT).is_err());
        for bad in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(Mixing::absolute(bad).is_err() && Mixing::standardized(bad).is_err());
        }
    }

    #[test]
    fn extreme_summaries_give_numbers_or_errors() {
        let a = Alpha::FIVE_PERCENT;
        // Tiny variances: V (V + τ²) underflows; the result must still be a number.
        let tiny = MeanSummary::new(10, 0.0, 1e-300).unwrap();
        let r = msprt_means(&tiny, &tiny, 1.0, Mixing::default(), a).unwrap();
        assert!(
            r.ln_likelihood_ratio.is_finite() && r.ln_likelihood_ratio < 0.0,
            "{r:?}"
        );
        assert_eq!(r.p_value, 1.0);
        let shifted = MeanSummary::new(10, 1e-149, 1e-300).unwrap();
        let r = msprt_means(&tiny, &shifted, 1.0, Mixing::standardized(1.0).unwrap(), a).unwrap();
        assert!(r.reject && r.ln_likelihood_ratio.is_finite(), "{r:?}");
        // Means that overflow their difference are refused.
        let up = MeanSummary::new(10, 1e308, 1e308).unwrap();
        let down = MeanSummary::new(10, -1e308, 1e308).unwrap();
        assert!(matches!(
            msprt_means(&up, &down, 1.0, Mixing::default(), a),
            Err(StatsError::NotFinite { .. })
        ));
        // τ² = ∞ (a huge absolute mixing over a tiny variance): no evidence, p stays.
        let huge_mixing = Mixing::absolute(f64::MAX).unwrap();
        let r = msprt_means(&tiny, &shifted, 0.3, huge_mixing, a).unwrap();
        assert_eq!((r.ln_likelihood_ratio, r.p_value), (f64::NEG_INFINITY, 0.3));
    }

    #[test]
    fn look_p_value_is_this_looks_evidence() {
        let a = Alpha::FIVE_PERCENT;
        let strong =
            msprt_proportions(arm(100, 5000), arm(200, 5000), 1.0, Mixing::default(), a).unwrap();
        assert_eq!(strong.look_p_value, strong.p_value);
        let later = msprt_proportions(
            arm(300, 10_000),
            arm(300, 10_000),
            strong.p_value,
            Mixing::default(),
            a,
        )
        .unwrap();
        assert_eq!(later.look_p_value, 1.0);
        assert_eq!(later.p_value, strong.p_value);
    }
}
