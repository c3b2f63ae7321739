//! Properties over random inputs: quantiles invert CDFs, symmetries hold, intervals contain
//! their estimates, swapping arms mirrors a comparison, Welford merges equal one pass, the
//! sequential p-value never rises, sample-ratio results ignore the scale of the weights, and
//! hostile inputs (NaN, ±∞, 0, subnormals, f64::MAX, u64::MAX) give an error or numbers, never
//! a panic or a NaN.

use proptest::prelude::*;
use steward_stats::special::{
    beta_reg, chi_square_sf, gamma_p, gamma_q, ln_gamma, normal_cdf, normal_quantile,
    student_t_cdf, student_t_quantile,
};
use steward_stats::{
    Alpha, Better, Guardrail, MeanSummary, Mixing, Proportion, Welford, compare_means,
    compare_proportions, msprt_means, msprt_proportions, sample_ratio_mismatch, wilson_interval,
};

fn alpha() -> impl Strategy<Value = Alpha> {
    (0.001f64..0.5).prop_map(|a| Alpha::new(a).unwrap())
}

/// (conversions, exposures) with exposures ≥ 1.
fn arm() -> impl Strategy<Value = Proportion> {
    (1u64..100_000)
        .prop_flat_map(|n| (0..=n, Just(n)))
        .prop_map(|(x, n)| Proportion::new(x, n).unwrap())
}

/// Any f64 (NaN and ±∞ included), with the edges drawn often.
fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            5e-324,
            f64::MIN_POSITIVE,
            1e-300,
            1e-150,
            1e150,
            1e300,
            f64::MAX,
            f64::MIN,
        ]),
        2 => -1e3f64..1e3,
    ]
}

/// Any u64, with the edges drawn often.
fn hostile_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => any::<u64>(),
        1 => prop::sample::select(vec![0, 1, 2, 3, u64::MAX, u64::MAX - 1, 1 << 53, (1 << 53) + 1]),
        2 => 0u64..1_000,
    ]
}

fn not_nan(values: &[f64]) -> bool {
    values.iter().all(|v| !v.is_nan())
}

fn probability(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

proptest! {
    #[test]
    fn hostile_mean_inputs_give_errors_or_numbers(
        (nc, mc, vc) in (hostile_u64(), hostile_f64(), hostile_f64()),
        (nt, mt, vt) in (hostile_u64(), hostile_f64(), hostile_f64()),
        a in hostile_f64(), previous in hostile_f64(), sd in hostile_f64(),
    ) {
        let (Ok(c), Ok(t), Ok(alpha)) = (
            MeanSummary::new(nc, mc, vc),
            MeanSummary::new(nt, mt, vt),
            Alpha::new(a),
        ) else {
            return Ok(());
        };
        if let Ok(r) = compare_means(&c, &t, alpha) {
            prop_assert!(not_nan(&[r.t, r.df, r.difference, r.difference_interval.lower, r.difference_interval.upper]), "{r:?}");
            prop_assert!(probability(r.p_value) && probability(r.p_value_lower) && probability(r.p_value_higher), "{r:?}");
            prop_assert!(r.df >= 1.0, "{r:?}");
            if let Some(lift) = r.lift {
                prop_assert!(lift.estimate.is_finite() && not_nan(&[lift.interval.lower, lift.interval.upper]), "{r:?}");
            }
            prop_assert!(probability(r.worse_p_value(Better::Higher)));
        }
        for mixing in [Mixing::default(), Mixing::absolute(sd).unwrap_or_default(), Mixing::standardized(sd).unwrap_or_default()] {
            if let Ok(r) = msprt_means(&c, &t, previous, mixing, alpha) {
                prop_assert!(not_nan(&[r.difference, r.variance, r.tau_squared, r.ln_likelihood_ratio]), "{r:?}");
                prop_assert!(probability(r.p_value) && probability(r.look_p_value) && r.p_value <= previous, "{r:?}");
                prop_assert!(probability(r.worse_p_value(Better::Lower)));
            }
        }
    }

    #[test]
    fn hostile_proportion_inputs_give_errors_or_numbers(
        xc in hostile_u64(), nc in hostile_u64(), xt in hostile_u64(), nt in hostile_u64(),
        a in hostile_f64(), previous in hostile_f64(), sd in hostile_f64(),
    ) {
        let (Ok(c), Ok(t), Ok(alpha)) = (Proportion::new(xc, nc), Proportion::new(xt, nt), Alpha::new(a)) else {
            return Ok(());
        };
        let r = compare_proportions(c, t, alpha);
        prop_assert!(not_nan(&[r.z, r.difference, r.difference_interval.lower, r.difference_interval.upper]), "{r:?}");
        prop_assert!(probability(r.p_value) && probability(r.p_value_lower) && probability(r.p_value_higher), "{r:?}");
        for w in [r.control, r.treatment] {
            prop_assert!(probability(w.interval.lower) && probability(w.interval.upper) && w.interval.lower <= w.interval.upper, "{r:?}");
        }
        if let Some(lift) = r.lift {
            prop_assert!(not_nan(&[lift.estimate, lift.interval.lower, lift.interval.upper]), "{r:?}");
        }
        for mixing in [Mixing::default(), Mixing::absolute(sd).unwrap_or_default(), Mixing::standardized(sd).unwrap_or_default()] {
            if let Ok(r) = msprt_proportions(c, t, previous, mixing, alpha) {
                prop_assert!(not_nan(&[r.difference, r.variance, r.tau_squared, r.ln_likelihood_ratio]), "{r:?}");
                prop_assert!(probability(r.p_value) && probability(r.look_p_value), "{r:?}");
            }
        }
    }

    #[test]
    fn hostile_sample_ratio_inputs_give_errors_or_numbers(
        observed in prop::collection::vec(hostile_u64(), 0..6),
        weights in prop::collection::vec(hostile_f64(), 0..6),
        a in hostile_f64(),
    ) {
        let Ok(alpha) = Alpha::new(a) else { return Ok(()) };
        if let Ok(r) = sample_ratio_mismatch(&observed, &weights, alpha) {
            prop_assert!(!r.statistic.is_nan() && r.statistic >= 0.0 && probability(r.p_value), "{r:?}");
        }
    }

    #[test]
    fn hostile_special_function_inputs_give_errors_or_numbers(
        x in hostile_f64(), y in hostile_f64(), z in hostile_f64(),
    ) {
        let results = [
            normal_quantile(x),
            student_t_cdf(x, y),
            student_t_quantile(x, y),
            chi_square_sf(x, y),
            beta_reg(x, y, z),
            gamma_p(x, y),
            gamma_q(x, y),
            ln_gamma(x),
        ];
        for r in results.into_iter().flatten() {
            prop_assert!(!r.is_nan(), "{x} {y} {z}");
        }
        if !x.is_nan() {
            prop_assert!(probability(normal_cdf(x)));
        }
    }

    #[test]
    fn normal_quantile_inverts_and_is_symmetric(p in 1e-300f64..1.0) {
        prop_assume!(p < 1.0);
        let x = normal_quantile(p).unwrap();
        let back = normal_cdf(x);
        if p <= 0.5 {
            // Relative: in the tail Φ moves by ~|x| ulp(x) when x is rounded.
            prop_assert!((back / p - 1.0).abs() <= 8.0 * f64::EPSILON * (1.0 + x * x) + 1e-14);
        } else {
            prop_assert!((back - p).abs() <= 1e-15);
        }
        prop_assert!((normal_cdf(-x) - (1.0 - normal_cdf(x))).abs() < 1e-15);
    }

    #[test]
    fn student_t_is_symmetric_monotone_and_inverts(t in -50f64..50.0, dt in 0.0f64..5.0, df in 0.3f64..1e4) {
        let f = student_t_cdf(t, df).unwrap();
        prop_assert!((f + student_t_cdf(-t, df).unwrap() - 1.0).abs() < 1e-14);
        prop_assert!(student_t_cdf(t + dt, df).unwrap() >= f);
        // Invert from the lower tail, where the probability keeps its relative precision.
        let lower = student_t_cdf(-t.abs(), df).unwrap();
        // (Not below 1e-300, where the tail has lost its digits; skipped rather than
        // prop_assume'd, which aborts long runs on too many rejects.)
        if lower > 1e-300 {
            let back = -student_t_quantile(lower, df).unwrap();
            prop_assert!((back - t.abs()).abs() <= 1e-9 * (1.0 + t.abs()), "t {t} df {df}: {back}");
        }
    }

    #[test]
    fn incomplete_beta_symmetry(a in 0.1f64..2_000.0, b in 0.1f64..2_000.0, x in 0.0f64..=1.0) {
        let left = beta_reg(a, b, x).unwrap();
        let right = 1.0 - beta_reg(b, a, 1.0 - x).unwrap();
        prop_assert!((0.0..=1.0).contains(&left));
        prop_assert!((left - right).abs() < 1e-11, "{left} {right}");
    }

    #[test]
    fn wilson_contains_the_rate_and_widens_with_confidence(a in arm(), alpha in alpha()) {
        let w = wilson_interval(a, alpha);
        prop_assert!(0.0 <= w.interval.lower && w.interval.upper <= 1.0);
        prop_assert!(w.interval.contains(w.rate));
        let wider = wilson_interval(a, Alpha::new(alpha.get() / 2.0).unwrap());
        prop_assert!(wider.interval.lower <= w.interval.lower && wider.interval.upper >= w.interval.upper);
    }

    #[test]
    fn swapping_arms_mirrors_a_proportion_comparison(c in arm(), t in arm(), alpha in alpha()) {
        let ab = compare_proportions(c, t, alpha);
        let ba = compare_proportions(t, c, alpha);
        prop_assert!((0.0..=1.0).contains(&ab.p_value));
        prop_assert!(ab.difference_interval.contains(ab.difference));
        prop_assert!((ab.z + ba.z).abs() < 1e-9 * (1.0 + ab.z.abs()));
        prop_assert!((ab.p_value - ba.p_value).abs() < 1e-12);
        prop_assert!((ab.p_value_lower - ba.p_value_higher).abs() < 1e-12);
        if let Some(lift) = ab.lift {
            prop_assert!(lift.interval.contains(lift.estimate) && lift.interval.lower >= -1.0);
        }
    }

    #[test]
    fn swapping_arms_mirrors_a_mean_comparison(
        nc in 2u64..100_000, nt in 2u64..100_000,
        mc in -1e3f64..1e3, mt in -1e3f64..1e3,
        vc in 0.01f64..1e4, vt in 0.01f64..1e4,
        alpha in alpha(),
    ) {
        let c = MeanSummary::new(nc, mc, vc).unwrap();
        let t = MeanSummary::new(nt, mt, vt).unwrap();
        let ab = compare_means(&c, &t, alpha).unwrap();
        let ba = compare_means(&t, &c, alpha).unwrap();
        prop_assert!((ab.t + ba.t).abs() < 1e-9 * (1.0 + ab.t.abs()));
        prop_assert!((ab.df - ba.df).abs() < 1e-9 * ab.df);
        prop_assert!(ab.df >= ((nc.min(nt) - 1) as f64) * (1.0 - 1e-12));
        prop_assert!(ab.df <= (nc + nt - 2) as f64 * (1.0 + 1e-12));
        prop_assert!((ab.p_value - ba.p_value).abs() < 1e-12);
        prop_assert!(ab.difference_interval.contains(ab.difference));
        // The interval excludes 0 exactly when the test rejects.
        let excludes = !ab.difference_interval.contains(0.0);
        let margin = (ab.p_value - alpha.get()).abs();
        prop_assert!(margin < 1e-9 || excludes == (ab.p_value <= alpha.get()));
    }

    #[test]
    fn welford_merge_equals_one_pass(
        values in prop::collection::vec(-1e6f64..1e6, 2..300),
        split in 0usize..300,
    ) {
        let split = split.min(values.len());
        let whole = MeanSummary::from_values(&values).unwrap();
        let (mut a, mut b) = (Welford::new(), Welford::new());
        values[..split].iter().for_each(|v| a.push(*v).unwrap());
        values[split..].iter().for_each(|v| b.push(*v).unwrap());
        a.merge(&b);
        let merged = a.summary().unwrap();
        prop_assert_eq!(merged.n(), whole.n());
        prop_assert!((merged.mean() - whole.mean()).abs() <= 1e-9 * (1.0 + whole.mean().abs()));
        prop_assert!((merged.variance() - whole.variance()).abs() <= 1e-9 * (1.0 + whole.variance()));
    }

    #[test]
    fn sequential_p_value_never_rises(c in arm(), t in arm(), previous in 0.0f64..=1.0) {
        let r = msprt_proportions(c, t, previous, Mixing::default(), Alpha::FIVE_PERCENT).unwrap();
        prop_assert!(r.p_value >= 0.0 && r.p_value <= previous);
        prop_assert_eq!(r.reject, r.p_value <= 0.05);
    }

    #[test]
    fn srm_ignores_the_scale_of_the_weights(
        observed in prop::collection::vec(0u64..1_000_000, 2..8),
        scale in 1e-3f64..1e3,
    ) {
        prop_assume!(observed.iter().sum::<u64>() > 0);
        let weights: Vec<f64> = (0..observed.len()).map(|i| 1.0 + i as f64).collect();
        let scaled: Vec<f64> = weights.iter().map(|w| w * scale).collect();
        let a = sample_ratio_mismatch(&observed, &weights, Alpha::new(0.001).unwrap()).unwrap();
        let b = sample_ratio_mismatch(&observed, &scaled, Alpha::new(0.001).unwrap()).unwrap();
        prop_assert!((a.statistic - b.statistic).abs() <= 1e-9 * (1.0 + a.statistic));
        prop_assert!((a.p_value - b.p_value).abs() <= 1e-9);
        prop_assert!((0.0..=1.0).contains(&a.p_value));
        prop_assert_eq!(a.df, observed.len() as u64 - 1);
    }
}
