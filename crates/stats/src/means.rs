//! Means (revenue per exposure, session length): an arm's sufficient statistics
//! ([`MeanSummary`], accumulated with [`Welford`]) and Welch's t-test of treatment against
//! control, with the interval of the difference and the relative lift.

use crate::alpha::Alpha;
use crate::error::{StatsError, finite};
use crate::interval::{Interval, Lift};
use crate::special::{student_t_cdf, student_t_quantile};

/// One arm's sufficient statistics: count, mean and the unbiased sample variance (n − 1 in the
/// denominator). This form rather than sums and sums of squares: it is what SQL's `AVG` and
/// `VAR_SAMP` return, and Σx² − (Σx)²/n cancels catastrophically when the mean is large
/// against the spread. Valid by construction: n ≥ 2, finite mean, finite variance ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSummary {
    n: u64,
    mean: f64,
    variance: f64,
}

impl MeanSummary {
    pub fn new(n: u64, mean: f64, variance: f64) -> Result<Self, StatsError> {
        if n < 2 {
            return Err(StatsError::TooFewObservations {
                what: "a sample variance",
                n,
                min: 2,
            });
        }
        let mean = finite("mean", mean)?;
        let variance = finite("variance", variance)?;
        if variance < 0.0 {
            return Err(StatsError::Domain {
                what: "variance",
                value: variance,
                domain: ">= 0",
            });
        }
        Ok(MeanSummary { n, mean, variance })
    }

    /// The summary of `values` (Welford's one pass).
    pub fn from_values(values: &[f64]) -> Result<Self, StatsError> {
        let mut acc = Welford::new();
        for &v in values {
            acc.push(v)?;
        }
        acc.summary()
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Unbiased sample variance.
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// Variance of the mean, s²/n.
    pub(crate) fn variance_of_mean(&self) -> f64 {
        self.variance / self.n as f64
    }
}

/// Welford's running mean and sum of squared deviations: one pass, no cancellation, and
/// mergeable (Chan et al.), so partial summaries from shards or days combine exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Welford {
    n: u64,
    mean: f64,
    /// Σ (x − mean)².
    m2: f64,
}

impl Welford {
    pub fn new() -> Self {
        Welford::default()
    }

    /// Adds one observation; a NaN or infinite value is refused and leaves the state as it was.
    pub fn push(&mut self, value: f64) -> Result<(), StatsError> {
        let value = finite("value", value)?;
        self.n += 1;
        let delta = value - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (value - self.mean);
        Ok(())
    }

    /// Folds in another accumulator, as if its values had been pushed here.
    pub fn merge(&mut self, other: &Welford) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.n += other.n;
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// The summary so far; needs at least two values.
    pub fn summary(&self) -> Result<MeanSummary, StatsError> {
        if self.n < 2 {
            return Err(StatsError::TooFewObservations {
                what: "a sample variance",
                n: self.n,
                min: 2,
            });
        }
        MeanSummary::new(self.n, self.mean, self.m2.max(0.0) / (self.n - 1) as f64)
    }
}

/// Treatment against control on a mean, by Welch's t-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanComparison {
    pub control_mean: f64,
    pub treatment_mean: f64,
    /// treatment mean − control mean.
    pub difference: f64,
    /// difference ± t(1 − α/2; df) · se.
    pub difference_interval: Interval,
    /// `None` when the control mean is 0 (the ratio is undefined).
    pub lift: Option<Lift>,
    /// Welch's t, difference / √(s_t²/n_t + s_c²/n_c).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (fractional).
    pub df: f64,
    /// Two-sided p-value of `t`.
    pub p_value: f64,
    /// One-sided p-value for "treatment below control", P(T ≤ t).
    pub p_value_lower: f64,
    /// One-sided p-value for "treatment above control", P(T ≥ t).
    pub p_value_higher: f64,
}

/// Welch's t-test of treatment against control at confidence 1 − α: no equal-variance
/// assumption (arms of an experiment often differ in spread, and the unequal-variance test
/// loses little when they do not); same as scipy's `ttest_ind(equal_var=False)`.
///
/// The lift interval is the delta method on the ratio itself, m_t/m_c − 1 ± z·se with
/// se² = s_t²/(n_t m_c²) + m_t² s_c²/(n_c m_c⁴) and a normal z (the delta method is
/// asymptotic). Not on the log ratio, as for proportions: a mean may be zero or negative.
///
/// Fails when both arms have zero variance: the t statistic is then undefined.
pub fn compare_means(
    control: &MeanSummary,
    treatment: &MeanSummary,
    alpha: Alpha,
) -> Result<MeanComparison, StatsError> {
    let (vc, vt) = (control.variance_of_mean(), treatment.variance_of_mean());
    let variance = vc + vt;
    if variance <= 0.0 {
        return Err(StatsError::Undefined {
            what: "Welch's t",
            reason: "both arms have zero variance",
        });
    }
    // Summaries near f64::MAX: the sum of the variances or the difference of the means
    // overflows. Refused rather than carried as ∞ or NaN into the p-value.
    let variance = finite("variance of the difference", variance)?;
    let difference = finite("difference of the means", treatment.mean - control.mean)?;
    let se = variance.sqrt();
    let t = difference / se;
    let df = welch_df(control, treatment);
    let p_value_lower = student_t_cdf(t, df)?;
    let p_value_higher = student_t_cdf(-t, df)?;
    let t_alpha = student_t_quantile(1.0 - 0.5 * alpha.get(), df)?;
    let lift = mean_lift(control, treatment, alpha);
    Ok(MeanComparison {
        control_mean: control.mean,
        treatment_mean: treatment.mean,
        difference,
        difference_interval: Interval::around(difference, t_alpha * se),
        lift,
        t,
        df,
        p_value: (2.0 * p_value_lower.min(p_value_higher)).min(1.0),
        p_value_lower,
        p_value_higher,
    })
}

/// Welch–Satterthwaite, (v_c + v_t)² / (v_c²/(n_c − 1) + v_t²/(n_t − 1)) with v = s²/n, written
/// with the shares w = v / (v_c + v_t) so that tiny or huge variances neither underflow nor
/// overflow in the squares (1e-300² would give 0/0): 1 / (w_c²/(n_c − 1) + w_t²/(n_t − 1)).
/// Between min(n) − 1 and n_c + n_t − 2. Needs v_c + v_t > 0 and finite.
fn welch_df(control: &MeanSummary, treatment: &MeanSummary) -> f64 {
    let (vc, vt) = (control.variance_of_mean(), treatment.variance_of_mean());
    let total = vc + vt;
    let (wc, wt) = (vc / total, vt / total);
    1.0 / (wc * wc / (control.n - 1) as f64 + wt * wt / (treatment.n - 1) as f64)
}

/// The delta-method lift interval: R = m_t/m_c, Var(R) ≈ (v_t + R² v_c) / m_c² (the same as
/// s_t²/(n_t m_c²) + m_t² s_c²/(n_c m_c⁴), without m_c⁴, which underflows for |m_c| < 1e-77).
/// `None` when the control mean is 0 or the ratio or its spread is not a finite number.
fn mean_lift(control: &MeanSummary, treatment: &MeanSummary, alpha: Alpha) -> Option<Lift> {
    let (mc, mt) = (control.mean, treatment.mean);
    if mc == 0.0 {
        return None;
    }
    let ratio = mt / mc;
    let se = (treatment.variance_of_mean() + ratio * ratio * control.variance_of_mean()).sqrt()
        / mc.abs();
    let half_width = alpha.two_sided_z() * se;
    (ratio.is_finite() && half_width.is_finite()).then(|| Lift {
        estimate: ratio - 1.0,
        interval: Interval::around(ratio - 1.0, half_width),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} != {expected} (tolerance {tolerance:e})"
        );
    }

    #[test]
    fn summary_validates() {
        assert!(MeanSummary::new(1, 0.0, 1.0).is_err());
        assert!(MeanSummary::new(5, f64::NAN, 1.0).is_err());
        assert!(MeanSummary::new(5, 0.0, -1.0).is_err());
        assert!(MeanSummary::new(5, 0.0, f64::INFINITY).is_err());
        assert!(MeanSummary::from_values(&[1.0]).is_err());
        assert!(MeanSummary::from_values(&[1.0, f64::NAN]).is_err());
        let mut w = Welford::new();
        w.push(1.0).unwrap();
        assert!(w.push(f64::INFINITY).is_err());
        assert_eq!(w.count(), 1);
    }

    #[test]
    fn welford_matches_two_pass_and_merges() {
        // A large offset: Σx² − (Σx)²/n would lose every digit here (Σx² ≈ 1e21, whose ulp is
        // 131,072). The reference is the variance of the offsets alone, exact in f64.
        let offsets: Vec<f64> = (0..1000).map(|i| f64::from(i % 17) * 0.25).collect();
        let values: Vec<f64> = offsets.iter().map(|o| 1e9 + o).collect();
        let mean = offsets.iter().sum::<f64>() / 1000.0;
        let var = offsets.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 999.0;
        let s = MeanSummary::from_values(&values).unwrap();
        close(s.mean(), 1e9 + mean, 1e-6);
        close(s.variance(), var, 1e-7 * var);
        let (mut a, mut b) = (Welford::new(), Welford::new());
        for v in &values[..300] {
            a.push(*v).unwrap();
        }
        for v in &values[300..] {
            b.push(*v).unwrap();
        }
        a.merge(&b);
        let merged = a.summary().unwrap();
        assert_eq!(merged.n(), 1000);
        close(merged.variance(), var, 1e-7 * var);
        let mut empty = Welford::new();
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    #[test]
    fn welch_by_hand() {
        // scipy.stats.ttest_ind([1, 2, 3, 4.5], [2, 3, 5, 7, 9], equal_var=False):
        // statistic −1.7371342338875375, p 0.13126544990790995, df 6.2223703823505225.
        let control = MeanSummary::from_values(&[2.0, 3.0, 5.0, 7.0, 9.0]).unwrap();
        let treatment = MeanSummary::from_values(&[1.0, 2.0, 3.0, 4.5]).unwrap();
        let c = compare_means(&control, &treatment, Alpha::FIVE_PERCENT).unwrap();
        close(c.t, -1.737_134_233_887_537_5, 1e-13);
        close(c.df, 6.222_370_382_350_522_5, 1e-12);
        close(c.p_value, 0.131_265_449_907_909_95, 1e-12);
        close(c.p_value_lower, 0.131_265_449_907_909_95 / 2.0, 1e-12);
        close(c.difference, 2.625 - 5.2, 1e-14);
        assert!(
            c.difference_interval.contains(c.difference) && c.difference_interval.contains(0.0)
        );
        let lift = c.lift.unwrap();
        close(lift.estimate, 2.625 / 5.2 - 1.0, 1e-14);
    }

    #[test]
    fn zero_variance_and_zero_mean() {
        let flat = MeanSummary::new(10, 3.0, 0.0).unwrap();
        assert!(matches!(
            compare_means(&flat, &flat, Alpha::FIVE_PERCENT),
            Err(StatsError::Undefined { .. })
        ));
        // One flat arm is fine: df is the other arm's n − 1.
        let spread = MeanSummary::new(21, 4.0, 2.0).unwrap();
        let c = compare_means(&flat, &spread, Alpha::FIVE_PERCENT).unwrap();
        close(c.df, 20.0, 1e-12);
        let zero = MeanSummary::new(10, 0.0, 1.0).unwrap();
        assert!(
            compare_means(&zero, &spread, Alpha::FIVE_PERCENT)
                .unwrap()
                .lift
                .is_none()
        );
    }

    #[test]
    fn extreme_summaries_give_numbers_or_errors() {
        let a = Alpha::FIVE_PERCENT;
        // Tiny variances: the squares in Satterthwaite's formula would underflow to 0/0.
        let tiny_c = MeanSummary::new(10, 1.0, 1e-300).unwrap();
        let tiny_t = MeanSummary::new(30, 1.0 + 1e-150, 4e-300).unwrap();
        let c = compare_means(&tiny_c, &tiny_t, a).unwrap();
        assert!(
            c.df >= 9.0 && c.df <= 38.0 && c.p_value.is_finite(),
            "{c:?}"
        );
        let same = compare_means(&tiny_c, &tiny_c, a).unwrap();
        close(same.df, 18.0, 1e-12);
        assert_eq!(same.p_value, 1.0);
        // Huge ones: the difference of the means overflows, refused.
        let huge_c = MeanSummary::new(10, 1e308, 1e308).unwrap();
        let huge_t = MeanSummary::new(10, -1e308, 1e308).unwrap();
        assert!(matches!(
            compare_means(&huge_c, &huge_t, a),
            Err(StatsError::NotFinite { .. })
        ));
        // A control mean near 0: the lift is None rather than ±∞ or NaN.
        let near_zero = MeanSummary::new(10, 1e-320, 1.0).unwrap();
        let one = MeanSummary::new(10, 1.0, 1.0).unwrap();
        assert!(compare_means(&near_zero, &one, a).unwrap().lift.is_none());
        // Tiny but representable means keep their lift (m_c⁴ would underflow).
        let small_c = MeanSummary::new(100, 1e-100, 1e-200).unwrap();
        let small_t = MeanSummary::new(100, 1.1e-100, 1e-200).unwrap();
        let lift = compare_means(&small_c, &small_t, a).unwrap().lift.unwrap();
        close(lift.estimate, 0.1, 1e-12);
        assert!(lift.interval.width() > 0.0 && lift.interval.contains(0.1));
    }
}
