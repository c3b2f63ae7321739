//! Result pieces shared by the comparisons: a confidence [`Interval`] and a relative [`Lift`].

/// A two-sided confidence interval [lower, upper].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    /// `centre ± half_width`.
    pub(crate) fn around(centre: f64, half_width: f64) -> Self {
        Interval {
            lower: centre - half_width,
            upper: centre + half_width,
        }
    }

    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }

    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }
}

/// Relative lift of treatment over control, `treatment / control − 1` (0.05 = +5%), with its
/// confidence interval on the same scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    pub estimate: f64,
    pub interval: Interval,
}
