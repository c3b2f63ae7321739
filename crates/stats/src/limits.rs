//! Every bound of the numerical code in one place, units last.

/// Terms of a power series (incomplete gamma) before it counts as not converging.
pub const SERIES_TERMS_MAX: u32 = 100_000;
/// Steps of a continued fraction (incomplete beta and gamma, Lentz's method). The incomplete
/// beta needs O(√max(a, b)) steps, so this covers Student t up to ~10¹⁰ degrees of freedom.
pub const CONTINUED_FRACTION_STEPS_MAX: u32 = 100_000;
/// Newton or bisection steps of a quantile search.
pub const QUANTILE_STEPS_MAX: u32 = 400;
/// Doublings when bracketing a quantile from above (2^2000 overflows to infinity long before).
pub const BRACKET_DOUBLINGS_MAX: u32 = 2_000;
/// Arms of one sample-ratio test (each a cell of the chi-square sum).
pub const SRM_ARMS_MAX: usize = 10_000;

const _: () = assert!(
    QUANTILE_STEPS_MAX >= 64,
    "bisection alone needs ~64 halvings"
);
const _: () = assert!(SERIES_TERMS_MAX >= 1_000 && CONTINUED_FRACTION_STEPS_MAX >= 1_000);
