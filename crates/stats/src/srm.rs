//! Sample-ratio mismatch: Pearson's chi-square goodness-of-fit test of the exposures each arm
//! received against the split the experiment was configured with. A mismatch means assignment
//! or logging is broken, and the experiment's comparisons should not be trusted.

use crate::alpha::Alpha;
use crate::error::StatsError;
use crate::limits::SRM_ARMS_MAX;
use crate::special::chi_square_sf;

/// The usual threshold: flag a mismatch at p < 0.001. Strict, because the check runs on every
/// experiment at every look, and at experiment sizes even a 1% imbalance is far below it.
pub const SRM_ALPHA_DEFAULT: Alpha = Alpha::from_const(0.001);

/// The outcome of a sample-ratio test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SrmResult {
    /// Pearson's Σ (observed − expected)² / expected.
    pub statistic: f64,
    /// Degrees of freedom: arms − 1.
    pub df: u64,
    pub p_value: f64,
    /// p-value < threshold: the split is not what was configured.
    pub mismatch: bool,
}

/// Tests `observed` exposures per arm against `expected_weights` (any positive scale: `[1, 1]`
/// and `[0.5, 0.5]` both mean an even split), flagging a mismatch at p < `threshold`
/// ([`SRM_ALPHA_DEFAULT`] is usual). Same as scipy's `chisquare(observed, f_exp)` with
/// expected counts total × weight / Σ weights.
pub fn sample_ratio_mismatch(
    observed: &[u64],
    expected_weights: &[f64],
    threshold: Alpha,
) -> Result<SrmResult, StatsError> {
    if observed.len() != expected_weights.len() {
        return Err(StatsError::ArmCountMismatch {
            observed: observed.len(),
            expected: expected_weights.len(),
        });
    }
    if !(2..=SRM_ARMS_MAX).contains(&observed.len()) {
        return Err(StatsError::ArmCount {
            arms: observed.len(),
            min: 2,
            max: SRM_ARMS_MAX,
        });
    }
    for &w in expected_weights {
        if !(w.is_finite() && w > 0.0) {
            return Err(StatsError::Domain {
                what: "expected weight",
                value: w,
                domain: "finite and > 0",
            });
        }
    }
    // In u128: at most SRM_ARMS_MAX counts of at most u64::MAX each cannot overflow it.
    let total = observed.iter().map(|&o| u128::from(o)).sum::<u128>() as f64;
    if total == 0.0 {
        return Err(StatsError::TooFewObservations {
            what: "a sample-ratio test",
            n: 0,
            min: 1,
        });
    }
    // Weights scaled by the largest first, so their sum (≤ SRM_ARMS_MAX) cannot overflow.
    let largest = expected_weights.iter().copied().fold(0.0, f64::max);
    let weight_sum: f64 = expected_weights.iter().map(|w| w / largest).sum();
    let mut statistic = 0.0;
    for (&o, &w) in observed.iter().zip(expected_weights) {
        let expected = total * (w / largest) / weight_sum;
        if expected <= 0.0 {
            return Err(StatsError::Domain {
                what: "expected weight",
                value: w,
                domain: "large enough against the others for an expected count above 0",
            });
        }
        let d = o as f64 - expected;
        statistic += d * d / expected;
    }
    let df = observed.len() as u64 - 1;
    let p_value = chi_square_sf(statistic, df as f64)?;
    Ok(SrmResult {
        statistic,
        df,
        p_value,
        mismatch: p_value < threshold.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_split_by_hand() {
        // 10,400 / 9,600 against 50/50: χ² = 2 · 400² / 10,000 = 32, p = 2Φ(−√32) = 1.5417e-8.
        let r = sample_ratio_mismatch(&[10_400, 9_600], &[1.0, 1.0], SRM_ALPHA_DEFAULT).unwrap();
        assert!((r.statistic - 32.0).abs() < 1e-12);
        assert_eq!(r.df, 1);
        assert!(
            (r.p_value - 1.541_725_790_028e-8).abs() < 1e-19,
            "{}",
            r.p_value
        );
        assert!(r.mismatch);
        let fair = sample_ratio_mismatch(&[10_050, 9_950], &[0.5, 0.5], SRM_ALPHA_DEFAULT).unwrap();
        assert!((fair.statistic - 0.5).abs() < 1e-12 && !fair.mismatch);
    }

    #[test]
    fn three_arms_with_weights() {
        // Expected 5,000 / 2,500 / 2,500 for weights 2:1:1.
        let r = sample_ratio_mismatch(&[5_000, 2_500, 2_500], &[2.0, 1.0, 1.0], SRM_ALPHA_DEFAULT)
            .unwrap();
        assert_eq!(
            (r.statistic, r.df, r.p_value, r.mismatch),
            (0.0, 2, 1.0, false)
        );
        // k = 2 is exponential: p = e^(−χ²/2).
        let r = sample_ratio_mismatch(&[5_100, 2_450, 2_450], &[2.0, 1.0, 1.0], SRM_ALPHA_DEFAULT)
            .unwrap();
        let chi2 = 100.0 * 100.0 / 5000.0 + 2.0 * 50.0 * 50.0 / 2500.0;
        assert!((r.statistic - chi2).abs() < 1e-12);
        assert!((r.p_value - (-chi2 / 2.0f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn invalid_inputs() {
        let t = SRM_ALPHA_DEFAULT;
        assert!(matches!(
            sample_ratio_mismatch(&[1, 2], &[1.0], t),
            Err(StatsError::ArmCountMismatch { .. })
        ));
        assert!(matches!(
            sample_ratio_mismatch(&[1], &[1.0], t),
            Err(StatsError::ArmCount { .. })
        ));
        assert!(sample_ratio_mismatch(&[0, 0], &[1.0, 1.0], t).is_err());
        assert!(sample_ratio_mismatch(&[1, 2], &[1.0, 0.0], t).is_err());
        assert!(sample_ratio_mismatch(&[1, 2], &[1.0, f64::NAN], t).is_err());
        // Counts whose total overflows u64, weights whose sum overflows f64, a weight too small
        // for an expected count: numbers or errors, never a panic or NaN.
        let r = sample_ratio_mismatch(&[u64::MAX, u64::MAX], &[1.0, 1.0], t).unwrap();
        assert_eq!((r.statistic, r.p_value, r.mismatch), (0.0, 1.0, false));
        let r = sample_ratio_mismatch(&[10, 10], &[f64::MAX, f64::MAX], t).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        assert!(matches!(
            sample_ratio_mismatch(&[0, 2], &[1e-320, 1e300], t),
            Err(StatsError::Domain {
                what: "expected weight",
                ..
            })
        ));
    }
}
