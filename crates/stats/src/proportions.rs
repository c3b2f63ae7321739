//! Conversion rates: one arm's rate with its Wilson interval, and treatment against control —
//! the absolute difference (Wald interval), the relative lift (delta method on the log ratio)
//! and the pooled two-proportion z-test.

use crate::alpha::Alpha;
use crate::error::StatsError;
use crate::interval::{Interval, Lift};
use crate::special::normal_cdf;

/// One arm's binary outcome: how many of its exposed units converted. Valid by construction
/// (at least one exposure, no more conversions than exposures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proportion {
    conversions: u64,
    exposures: u64,
}

impl Proportion {
    pub fn new(conversions: u64, exposures: u64) -> Result<Self, StatsError> {
        if exposures == 0 {
            return Err(StatsError::TooFewObservations {
                what: "a conversion rate",
                n: 0,
                min: 1,
            });
        }
        if conversions > exposures {
            return Err(StatsError::ConversionsExceedExposures {
                conversions,
                exposures,
            });
        }
        Ok(Proportion {
            conversions,
            exposures,
        })
    }

    pub fn conversions(&self) -> u64 {
        self.conversions
    }

    pub fn exposures(&self) -> u64 {
        self.exposures
    }

    /// conversions / exposures.
    pub fn rate(&self) -> f64 {
        self.conversions as f64 / self.exposures as f64
    }

    /// Variance of the estimated rate, p(1 − p)/n (plug-in).
    pub(crate) fn rate_variance(&self) -> f64 {
        let p = self.rate();
        p * (1.0 - p) / self.exposures as f64
    }
}

/// One arm's rate with its Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateEstimate {
    pub rate: f64,
    pub interval: Interval,
}

/// The rate and its Wilson score interval at confidence 1 − α. Wilson rather than Wald: it
/// stays inside [0, 1] and keeps its coverage at small counts and rates near 0 or 1, where
/// conversion rates live (same as statsmodels' `proportion_confint(method="wilson")`).
pub fn wilson_interval(arm: Proportion, alpha: Alpha) -> RateEstimate {
    let z = alpha.two_sided_z();
    let n = arm.exposures as f64;
    let p = arm.rate();
    let z2n = z * z / n;
    let denominator = 1.0 + z2n;
    let centre = (p + 0.5 * z2n) / denominator;
    let half = z * (p * (1.0 - p) / n + 0.25 * z2n / n).sqrt() / denominator;
    // At p = 0 the lower end is 0 and at p = 1 the upper end is 1 exactly (centre ∓ half
    // simplify to them); rounding would leave 1e-17 or 1 − 1e-16, an interval missing its rate.
    let lower = if arm.conversions == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let upper = if arm.conversions == arm.exposures {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    RateEstimate {
        rate: p,
        interval: Interval { lower, upper },
    }
}

/// Treatment against control on a conversion rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProportionComparison {
    pub control: RateEstimate,
    pub treatment: RateEstimate,
    /// treatment rate − control rate.
    pub difference: f64,
    /// Wald interval with unpooled variances, p_t(1−p_t)/n_t + p_c(1−p_c)/n_c: the usual
    /// reporting interval; it has zero width when both rates are 0 or 1.
    pub difference_interval: Interval,
    /// `None` when either arm has no conversions: the log ratio is then undefined.
    pub lift: Option<Lift>,
    /// Pooled two-proportion z statistic, (p_t − p_c) / √(p̄(1−p̄)(1/n_t + 1/n_c)); 0 when the
    /// pooled rate is 0 or 1 (both arms identical, nothing to test).
    pub z: f64,
    /// Two-sided p-value of `z`, 2 Φ(−|z|).
    pub p_value: f64,
    /// One-sided p-value for "treatment below control", Φ(z).
    pub p_value_lower: f64,
    /// One-sided p-value for "treatment above control", Φ(−z).
    pub p_value_higher: f64,
}

/// Compares a treatment arm with the control arm at confidence 1 − α.
///
/// The test pools the arms (the variance under the null of equal rates: the textbook test,
/// statsmodels' `proportions_ztest`), while the difference interval does not (the variance
/// where the estimates are). The lift interval is the delta method on ln(p_t/p_c), whose
/// variance is (1−p_t)/(n_t p_t) + (1−p_c)/(n_c p_c), mapped back through exp − 1: unlike a
/// symmetric interval on the ratio it never goes below −100% and is right-skewed like the
/// ratio's sampling distribution (statsmodels' `confint_proportions_2indep(compare="ratio",
/// method="log")`, minus 1).
pub fn compare_proportions(
    control: Proportion,
    treatment: Proportion,
    alpha: Alpha,
) -> ProportionComparison {
    let z_alpha = alpha.two_sided_z();
    let (pc, pt) = (control.rate(), treatment.rate());
    let difference = pt - pc;
    let difference_se = (control.rate_variance() + treatment.rate_variance()).sqrt();
    let lift = (control.conversions > 0 && treatment.conversions > 0).then(|| {
        let log_ratio = (pt / pc).ln();
        let se = ((1.0 - pt) / (treatment.exposures as f64 * pt)
            + (1.0 - pc) / (control.exposures as f64 * pc))
            .sqrt();
        Lift {
            estimate: pt / pc - 1.0,
            interval: Interval {
                lower: (log_ratio - z_alpha * se).exp_m1(),
                upper: (log_ratio + z_alpha * se).exp_m1(),
            },
        }
    });
    let z = pooled_z(control, treatment);
    ProportionComparison {
        control: wilson_interval(control, alpha),
        treatment: wilson_interval(treatment, alpha),
        difference,
        difference_interval: Interval::around(difference, z_alpha * difference_se),
        lift,
        z,
        p_value: (2.0 * normal_cdf(-z.abs())).min(1.0),
        p_value_lower: normal_cdf(z),
        p_value_higher: normal_cdf(-z),
    }
}

/// The pooled z statistic; 0 when the pooled variance is 0 (every unit converted, or none).
fn pooled_z(control: Proportion, treatment: Proportion) -> f64 {
    let (variance, _) = pooled_variances(control, treatment);
    let se = variance.sqrt();
    if se > 0.0 {
        (treatment.rate() - control.rate()) / se
    } else {
        0.0
    }
}

/// The pooled variance of the rate difference under the null, p̄(1−p̄)(1/n_t + 1/n_c), and the
/// per-unit variance p̄(1−p̄); shared with the sequential test.
pub(crate) fn pooled_variances(control: Proportion, treatment: Proportion) -> (f64, f64) {
    let (nc, nt) = (control.exposures as f64, treatment.exposures as f64);
    // Summed as f64: two u64 counts may overflow u64.
    let pooled = (control.conversions as f64 + treatment.conversions as f64) / (nc + nt);
    let unit = pooled * (1.0 - pooled);
    (unit * (1.0 / nc + 1.0 / nt), unit)
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
    fn validates_counts() {
        assert!(matches!(
            Proportion::new(0, 0),
            Err(StatsError::TooFewObservations { .. })
        ));
        assert!(matches!(
            Proportion::new(11, 10),
            Err(StatsError::ConversionsExceedExposures { .. })
        ));
        assert_eq!(arm(10, 10).rate(), 1.0);
    }

    #[test]
    fn wilson_by_hand() {
        // 30 of 1000 at 95%: z = 1.959964, z²/n = 0.0038415, centre = (0.03 + 0.0019207)/1.0038415
        // = 0.0317987, half = z √(0.03·0.97/1000 + 0.0038415/4000) / 1.0038415 = 0.0107048.
        // statsmodels: (0.021093738828834696, 0.042503414147587126).
        let w = wilson_interval(arm(30, 1000), Alpha::FIVE_PERCENT);
        assert_eq!(w.rate, 0.03);
        close(w.interval.lower, 0.021_093_738_828_834_696, 1e-14);
        close(w.interval.upper, 0.042_503_414_147_587_126, 1e-14);
        // No conversions: the interval starts at 0 and still has width (Wald's would not).
        let zero = wilson_interval(arm(0, 50), Alpha::FIVE_PERCENT);
        assert_eq!(zero.interval.lower, 0.0);
        close(
            zero.interval.upper,
            3.841_458_820_694_124 / (50.0 + 3.841_458_820_694_124),
            1e-12,
        );
        let all = wilson_interval(arm(50, 50), Alpha::FIVE_PERCENT);
        assert_eq!(all.interval.upper, 1.0);
        assert!(all.interval.lower < 1.0);
    }

    #[test]
    fn comparison_by_hand() {
        // Control 100/2000 = 0.05, treatment 130/2000 = 0.065.
        let c = compare_proportions(arm(100, 2000), arm(130, 2000), Alpha::FIVE_PERCENT);
        close(c.difference, 0.015, 1e-15);
        let se = (0.05 * 0.95 / 2000.0 + 0.065 * 0.935 / 2000.0f64).sqrt();
        close(
            c.difference_interval.lower,
            0.015 - 1.959_963_984_540_054 * se,
            1e-14,
        );
        // Pooled: p̄ = 230/4000 = 0.0575, se = √(0.0575·0.9425·(2/2000)) = 0.0073616.
        let pooled_se = (0.0575 * 0.9425 * 0.001f64).sqrt();
        close(c.z, 0.015 / pooled_se, 1e-12);
        close(c.p_value, 2.0 * normal_cdf(-0.015 / pooled_se), 1e-15);
        close(c.p_value_lower + c.p_value_higher, 1.0, 1e-15);
        let lift = c.lift.unwrap();
        close(lift.estimate, 0.3, 1e-14);
        let log_se = (0.935 / (2000.0 * 0.065) + 0.95 / (2000.0 * 0.05f64)).sqrt();
        close(
            lift.interval.upper,
            (1.3f64.ln() + 1.959_963_984_540_054 * log_se).exp() - 1.0,
            1e-13,
        );
        assert!(lift.interval.lower > -1.0 && lift.interval.contains(lift.estimate));
    }

    #[test]
    fn degenerate_arms() {
        let c = compare_proportions(arm(0, 100), arm(0, 120), Alpha::FIVE_PERCENT);
        assert_eq!((c.z, c.p_value, c.lift), (0.0, 1.0, None));
        let c = compare_proportions(arm(0, 100), arm(5, 100), Alpha::FIVE_PERCENT);
        assert!(c.lift.is_none() && c.p_value < 0.05);
        let c = compare_proportions(arm(7, 7), arm(9, 9), Alpha::FIVE_PERCENT);
        assert_eq!((c.z, c.p_value), (0.0, 1.0));
    }
}
