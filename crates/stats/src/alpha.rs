//! [`Alpha`]: a significance level, validated once so the functions taking it cannot fail on it.

use crate::error::StatsError;
use crate::special::normal_quantile_open;

/// A significance level α, 1e-300 ≤ α < 1: a test rejects at p ≤ α, an interval covers 1 − α.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Alpha(f64);

impl Alpha {
    /// The common 5%: 95% intervals, two-sided tests at 0.05.
    pub const FIVE_PERCENT: Alpha = Alpha(0.05);

    /// The smallest accepted α. Far below any real use; what it excludes are the subnormal
    /// levels whose α/2 underflows to 0, where the interval multiplier would be infinite.
    pub const MIN: f64 = 1e-300;

    /// [`Alpha::MIN`] ≤ α < 1.
    pub fn new(alpha: f64) -> Result<Self, StatsError> {
        if (Self::MIN..1.0).contains(&alpha) {
            Ok(Alpha(alpha))
        } else {
            Err(StatsError::Domain {
                what: "alpha",
                value: alpha,
                domain: "1e-300 <= alpha < 1",
            })
        }
    }

    /// For the crate's own constants, known to be in range.
    pub(crate) const fn from_const(alpha: f64) -> Self {
        assert!(alpha >= Self::MIN && alpha < 1.0);
        Alpha(alpha)
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// z with P(Z > z) = α/2: the half-width multiplier of a two-sided 1 − α normal interval.
    /// Computed as −Φ⁻¹(α/2), which keeps full precision for small α.
    pub fn two_sided_z(self) -> f64 {
        -normal_quantile_open(0.5 * self.0)
    }
}

impl Default for Alpha {
    fn default() -> Self {
        Alpha::FIVE_PERCENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_gives_z() {
        for bad in [0.0, 5e-324, 1e-301, 1.0, -0.5, 2.0, f64::NAN, f64::INFINITY] {
            assert!(Alpha::new(bad).is_err(), "{bad}");
        }
        let z = Alpha::new(0.05).unwrap().two_sided_z();
        assert!((z - 1.959_963_984_540_054).abs() < 4e-15);
        assert_eq!(Alpha::default(), Alpha::FIVE_PERCENT);
    }
}
