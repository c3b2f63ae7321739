//! Seeded simulations of whole experiments, checking the error rates the tests promise: A/A
//! false positives of the fixed-horizon z and Welch tests (read once, at the planned size)
//! inside the central 99% binomial interval around α; the mSPRT looked at 10 or 20 times (and
//! 100 times with a sharper mixing) at or below that interval's upper end, while the
//! fixed-horizon z-test read at the same 20 looks lands far above it (the reason the sequential
//! test exists); the sequential guardrail's false "worse" rate likewise; power against known
//! lifts; sample-ratio mismatch caught at 52/48 and quiet at 50/50 at its own α of 0.001.
//! Fixed seeds and our own PRNG, so every run sees the same draws; the rates are printed
//! (`cargo test -p steward-stats --test simulation -- --nocapture`). The package is built
//! with opt-level 3 in the dev profile (root Cargo.toml), which keeps this file near a second.

use steward_stats::special::ln_gamma;
use steward_stats::{
    Alpha, Better, FIRST_LOOK_P_VALUE, Guardrail, Mixing, Proportion, SRM_ALPHA_DEFAULT, Welford,
    compare_means, compare_proportions, msprt_means, msprt_proportions, sample_ratio_mismatch,
};

const ALPHA: Alpha = Alpha::FIVE_PERCENT;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for Monte Carlo here.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Successes in `n` Bernoulli(p) trials.
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.uniform() < p).count() as u64
    }

    /// Successes in `n` fair coin flips, 64 at a time.
    fn fair_binomial(&mut self, n: u64) -> u64 {
        let mut heads = 0;
        let mut left = n;
        while left >= 64 {
            heads += u64::from(self.next_u64().count_ones());
            left -= 64;
        }
        if left > 0 {
            heads += u64::from((self.next_u64() >> (64 - left)).count_ones());
        }
        heads
    }

    /// Revenue-like: 0 with probability 0.9, else lognormal(3, 1) (Box–Muller): skewed and
    /// mostly zeros, the hard case for a t-test.
    fn revenue(&mut self, scale: f64) -> f64 {
        if self.uniform() < 0.9 {
            return 0.0;
        }
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        scale * (3.0 + normal).exp()
    }
}

/// Each tail of [`binomial_interval`]: a central 99% interval.
const TAIL: f64 = 0.005;

/// The central 99% interval of the rejection rate of `trials` independent tests that each
/// reject with probability `p`: [k_lo, k_hi] / trials with P(X < k_lo), P(X > k_hi) ≤ 0.005,
/// from the exact binomial distribution.
fn binomial_interval(trials: u64, p: f64) -> (f64, f64) {
    let n = trials as f64;
    let ln_choose = |k: f64| {
        ln_gamma(n + 1.0).unwrap() - ln_gamma(k + 1.0).unwrap() - ln_gamma(n - k + 1.0).unwrap()
    };
    let pmf: Vec<f64> = (0..=trials)
        .map(|k| {
            let k = k as f64;
            (ln_choose(k) + k * p.ln() + (n - k) * (1.0 - p).ln()).exp()
        })
        .collect();
    let mut below = 0.0;
    let mut lo = 0;
    while below + pmf[lo] <= TAIL {
        below += pmf[lo];
        lo += 1;
    }
    let mut above = 0.0;
    let mut hi = trials as usize;
    while above + pmf[hi] <= TAIL {
        above += pmf[hi];
        hi -= 1;
    }
    (lo as f64 / n, hi as f64 / n)
}

fn arm(conversions: u64, exposures: u64) -> Proportion {
    Proportion::new(conversions, exposures).unwrap()
}

/// The sharper mixing of the many-looks runs: τ = 0.05 σ puts the mSPRT's best sensitivity
/// near 6,000 exposures per arm (r = τ²/V = 1.25e-3 n at equal arms), inside the looks below.
fn sharp_mixing() -> Mixing {
    Mixing::standardized(0.05).unwrap()
}

/// What happened across many simulated conversion experiments, each looked at `looks` times.
#[derive(Debug, Default)]
struct Peeking {
    experiments: u64,
    /// The mSPRT (default mixing) rejected at some look.
    sequential: u64,
    /// The mSPRT with [`sharp_mixing`] rejected at some look.
    sequential_sharp: u64,
    /// The sequential guardrail (higher is better, default mixing) said "worse" at some look.
    sequential_worse: u64,
    /// The fixed-horizon z-test had p ≤ α at some look (the naive peeker).
    naive_any_look: u64,
    /// The fixed-horizon z-test had p ≤ α at the final look only (as designed).
    fixed_final: u64,
    /// Same, with the treatment better (p ≤ α and difference > 0).
    fixed_final_right_direction: u64,
    /// mSPRT rejections (default mixing) with the treatment better at the rejecting look.
    sequential_right_direction: u64,
    /// mSPRT rejections (sharp mixing) with the treatment better at the rejecting look.
    sequential_sharp_right_direction: u64,
}

impl Peeking {
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.experiments as f64
    }
}

/// `experiments` conversion experiments with true rates `control` and `treatment`, each arm
/// receiving `batch` exposures between looks, `looks` times.
fn simulate(
    seed: u64,
    experiments: u64,
    control: f64,
    treatment: f64,
    looks: u32,
    batch: u64,
) -> Peeking {
    let mut rng = Rng(seed);
    let mut out = Peeking {
        experiments,
        ..Peeking::default()
    };
    for _ in 0..experiments {
        let (mut xc, mut xt, mut n) = (0, 0, 0);
        let mut p_sequential = [FIRST_LOOK_P_VALUE; 2];
        let mut rejected = [false; 2];
        let (mut worse, mut naive) = (false, false);
        for look in 1..=looks {
            xc += rng.binomial(batch, control);
            xt += rng.binomial(batch, treatment);
            n += batch;
            for (i, mixing) in [Mixing::default(), sharp_mixing()].into_iter().enumerate() {
                let s = msprt_proportions(arm(xc, n), arm(xt, n), p_sequential[i], mixing, ALPHA)
                    .unwrap();
                p_sequential[i] = s.p_value;
                if s.reject && !rejected[i] {
                    rejected[i] = true;
                    // The decision is taken at the first rejection: its direction is the one
                    // acted on.
                    let right = u64::from(s.difference > 0.0);
                    if i == 0 {
                        out.sequential += 1;
                        out.sequential_right_direction += right;
                    } else {
                        out.sequential_sharp += 1;
                        out.sequential_sharp_right_direction += right;
                    }
                }
                if i == 0 && !worse && s.is_worse(Better::Higher, ALPHA) {
                    worse = true;
                    out.sequential_worse += 1;
                }
            }
            let fixed = compare_proportions(arm(xc, n), arm(xt, n), ALPHA);
            if fixed.p_value <= ALPHA.get() {
                if !naive {
                    naive = true;
                    out.naive_any_look += 1;
                }
                if look == looks {
                    out.fixed_final += 1;
                    if fixed.difference > 0.0 {
                        out.fixed_final_right_direction += 1;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn aa_conversion_experiments_keep_their_false_positive_rates() {
    // 4,000 A/A experiments at 5% conversion, 20 looks of 1,000 exposures per arm.
    let r = simulate(0x5EED_0001, 4_000, 0.05, 0.05, 20, 1_000);
    let (lo, hi) = binomial_interval(r.experiments, ALPHA.get());
    eprintln!(
        "A/A conversions 5%, {} experiments x 20 looks of 1,000 per arm: fixed-horizon z \
         (one look, at 20,000 per arm) {:.4}; fixed-horizon z read at all 20 looks {:.4}; \
         mSPRT default mixing {:.4}, tau = 0.05 sd {:.4}; sequential guardrail 'worse' {:.4}; \
         99% binomial interval around 0.05: [{lo:.4}, {hi:.4}]",
        r.experiments,
        r.rate(r.fixed_final),
        r.rate(r.naive_any_look),
        r.rate(r.sequential),
        r.rate(r.sequential_sharp),
        r.rate(r.sequential_worse),
    );
    let fixed = r.rate(r.fixed_final);
    assert!(lo <= fixed && fixed <= hi, "fixed-horizon z-test: {fixed}");
    // Always valid: at most α whatever the looks (typically well below: Ville's bound is loose).
    let sequential = r.rate(r.sequential);
    assert!(sequential <= hi, "mSPRT with 20 looks: {sequential}");
    assert!(
        r.rate(r.sequential_sharp) <= hi,
        "{}",
        r.rate(r.sequential_sharp)
    );
    assert!(r.rate(r.sequential_worse) <= hi);
    // The control: the same looks with the fixed-horizon test inflate false positives well
    // past α (to roughly 4x with 20 looks).
    let naive = r.rate(r.naive_any_look);
    assert!(naive > 2.0 * hi, "naive peeking should inflate: {naive}");
}

#[test]
fn aa_conversion_experiments_looked_at_100_times() {
    // Near-continuous monitoring: 2,000 A/A experiments at 10%, 100 looks of 200 per arm. The
    // mSPRT's guarantee does not depend on the number of looks; the naive reading's inflation
    // grows with it.
    let r = simulate(0x5EED_0007, 2_000, 0.10, 0.10, 100, 200);
    let (lo, hi) = binomial_interval(r.experiments, ALPHA.get());
    eprintln!(
        "A/A conversions 10%, {} experiments x 100 looks of 200 per arm: fixed-horizon z \
         (one look) {:.4}; read at all 100 looks {:.4}; mSPRT default mixing {:.4}, \
         tau = 0.05 sd {:.4}; 99% interval [{lo:.4}, {hi:.4}]",
        r.experiments,
        r.rate(r.fixed_final),
        r.rate(r.naive_any_look),
        r.rate(r.sequential),
        r.rate(r.sequential_sharp),
    );
    let fixed = r.rate(r.fixed_final);
    assert!(lo <= fixed && fixed <= hi, "fixed-horizon z-test: {fixed}");
    assert!(r.rate(r.sequential) <= hi && r.rate(r.sequential_sharp) <= hi);
    assert!(
        r.rate(r.naive_any_look) > 3.0 * hi,
        "{}",
        r.rate(r.naive_any_look)
    );
}

#[test]
fn a_known_lift_is_detected() {
    // 5% → 6% (+20% relative), 20 looks of 1,000 per arm: at 20,000 per arm z ≈ 4.4.
    let r = simulate(0x5EED_0002, 1_000, 0.05, 0.06, 20, 1_000);
    eprintln!(
        "A/B 5% vs 6%, {} experiments x 20 looks of 1,000 per arm: power fixed-horizon z \
         (one look) {:.4}, mSPRT default mixing {:.4}, tau = 0.05 sd {:.4}",
        r.experiments,
        r.rate(r.fixed_final_right_direction),
        r.rate(r.sequential_right_direction),
        r.rate(r.sequential_sharp_right_direction),
    );
    assert!(r.rate(r.fixed_final_right_direction) >= 0.95);
    assert!(r.rate(r.sequential_right_direction) >= 0.8);
    assert!(r.rate(r.sequential_sharp_right_direction) >= 0.8);
    // And the wrong direction essentially never.
    assert!(r.sequential - r.sequential_right_direction <= 1);
    assert!(r.sequential_sharp - r.sequential_sharp_right_direction <= 1);
    // A harmful treatment (6% → 5%) trips the sequential guardrail as often.
    let harm = simulate(0x5EED_0003, 1_000, 0.06, 0.05, 20, 1_000);
    eprintln!(
        "A/B 6% vs 5%: sequential guardrail 'worse' {:.4}",
        harm.rate(harm.sequential_worse)
    );
    assert!(harm.rate(harm.sequential_worse) >= 0.8);
}

/// Revenue experiments (see [`Rng::revenue`]): `looks` looks of `batch` units per arm, the
/// treatment's revenue scaled by `lift`. Returns (Welch p ≤ α at the last look with the right
/// sign or any sign for an A/A, mSPRT rejections with the default mixing, with τ = 0.1 σ).
fn simulate_revenue(seed: u64, experiments: u64, lift: f64, looks: u32, batch: u32) -> [u64; 3] {
    let mut rng = Rng(seed);
    let tuned = Mixing::standardized(0.1).unwrap();
    let mut counts = [0u64; 3];
    for _ in 0..experiments {
        let (mut control, mut treatment) = (Welford::new(), Welford::new());
        let mut p = [FIRST_LOOK_P_VALUE; 2];
        let mut rejected = [false; 2];
        for look in 1..=looks {
            for _ in 0..batch {
                control.push(rng.revenue(1.0)).unwrap();
                treatment.push(rng.revenue(lift)).unwrap();
            }
            let (c, t) = (control.summary().unwrap(), treatment.summary().unwrap());
            for (i, mixing) in [Mixing::default(), tuned].into_iter().enumerate() {
                let s = msprt_means(&c, &t, p[i], mixing, ALPHA).unwrap();
                p[i] = s.p_value;
                if s.reject && !rejected[i] {
                    rejected[i] = true;
                    // Counted with the direction of the rejecting look (any, for an A/A).
                    counts[i + 1] += u64::from(lift == 1.0 || s.difference > 0.0);
                }
            }
            if look == looks {
                let welch = compare_means(&c, &t, ALPHA).unwrap();
                // A gain is never read as "worse".
                assert!(
                    !welch.is_worse(Better::Higher, ALPHA) || welch.difference < 0.0 || lift == 1.0
                );
                if welch.p_value <= ALPHA.get() && (lift == 1.0 || welch.difference > 0.0) {
                    counts[0] += 1;
                }
            }
        }
    }
    counts
}

#[test]
fn aa_revenue_experiments_keep_their_false_positive_rates() {
    // 2,000 A/A experiments on a skewed revenue metric, 10 looks of 200 units per arm.
    let experiments = 2_000u64;
    let [welch, default, tuned] = simulate_revenue(0x5EED_0004, experiments, 1.0, 10, 200)
        .map(|c| c as f64 / experiments as f64);
    let (lo, hi) = binomial_interval(experiments, ALPHA.get());
    eprintln!(
        "A/A revenue (90% zeros, lognormal), {experiments} experiments x 10 looks of 200 per \
         arm: Welch (one look, at 2,000 per arm) {welch:.4}; mSPRT default mixing {default:.4}, \
         tau = 0.1 sd {tuned:.4}; 99% interval [{lo:.4}, {hi:.4}]"
    );
    assert!(lo <= welch && welch <= hi, "Welch: {welch}");
    assert!(
        default <= hi && tuned <= hi,
        "mSPRT means: {default} {tuned}"
    );
}

#[test]
fn a_revenue_lift_is_detected() {
    // +30% revenue per exposure, 8 looks of 1,000 per arm (z ≈ 3.2 expected at the end).
    let experiments = 500u64;
    let [welch, default, tuned] = simulate_revenue(0x5EED_0005, experiments, 1.3, 8, 1_000)
        .map(|c| c as f64 / experiments as f64);
    eprintln!(
        "A/B revenue +30%, {experiments} experiments x 8 looks of 1,000 per arm: Welch power \
         (one look, at 8,000 per arm) {welch:.4}; mSPRT default mixing {default:.4}, \
         tau = 0.1 sd {tuned:.4}"
    );
    assert!(welch >= 0.8, "{welch}");
    assert!(tuned >= 0.5, "{tuned}");
}

#[test]
fn sample_ratio_mismatch_catches_a_skewed_split_and_not_a_fair_one() {
    let experiments = 4_000u64;
    let exposures = 20_000u64;
    let mut rng = Rng(0x5EED_0006);
    let (mut fair_alarms, mut fair_at_five_percent, mut skewed_caught) = (0u64, 0u64, 0u64);
    for _ in 0..experiments {
        let a = rng.fair_binomial(exposures);
        let fair =
            sample_ratio_mismatch(&[a, exposures - a], &[0.5, 0.5], SRM_ALPHA_DEFAULT).unwrap();
        fair_alarms += u64::from(fair.mismatch);
        fair_at_five_percent += u64::from(fair.p_value <= 0.05);
        // Units land in the first arm 52% of the time where 50% was configured.
        let b = rng.binomial(exposures, 0.52);
        let skewed =
            sample_ratio_mismatch(&[b, exposures - b], &[0.5, 0.5], SRM_ALPHA_DEFAULT).unwrap();
        skewed_caught += u64::from(skewed.mismatch);
    }
    let rate = |count: u64| count as f64 / experiments as f64;
    let (_, hi) = binomial_interval(experiments, SRM_ALPHA_DEFAULT.get());
    let (lo_5, hi_5) = binomial_interval(experiments, 0.05);
    let (false_alarm, detection) = (rate(fair_alarms), rate(skewed_caught));
    eprintln!(
        "SRM at {exposures} exposures, {experiments} experiments per split: 50/50 flagged at \
         the SRM alpha 0.001: {false_alarm:.4} (99% upper bound {hi:.4}); 50/50 with p <= 0.05: \
         {:.4} (99% interval [{lo_5:.4}, {hi_5:.4}]); 52/48 flagged at 0.001: {detection:.4}",
        rate(fair_at_five_percent),
    );
    assert!(false_alarm <= hi, "{false_alarm}");
    // Calibrated, not just quiet: at a level where the rate is measurable it is α.
    let five = rate(fair_at_five_percent);
    assert!(lo_5 <= five && five <= hi_5, "{five}");
    // The noncentral χ² (λ = 32) exceeds the 0.001 critical value 10.83 with probability
    // P(N(√32, 1) > 3.29) = 0.991.
    assert!(detection >= 0.98, "{detection}");
    // The split exactly at 52/48 (χ² = 32).
    let exact = sample_ratio_mismatch(&[10_400, 9_600], &[1.0, 1.0], SRM_ALPHA_DEFAULT).unwrap();
    assert!(exact.mismatch && exact.p_value < 1e-7);
}

#[test]
fn binomial_interval_is_right() {
    // Checks the helper the other tests rely on: for 2,000 trials at 0.05 the normal
    // approximation gives 0.05 ± 2.576 · 0.00487 = [0.0375, 0.0625]; for 4,000 trials at 0.001
    // the upper end is near 0.001 + 2.576 · 0.0005 = 0.0023 (the exact one is a little higher:
    // the binomial is skewed there).
    let (lo, hi) = binomial_interval(2_000, 0.05);
    assert!(
        (0.036..0.039).contains(&lo) && (0.061..0.064).contains(&hi),
        "{lo} {hi}"
    );
    let (lo, hi) = binomial_interval(4_000, 0.001);
    assert!(lo <= 0.0003 && (0.0022..0.0032).contains(&hi), "{lo} {hi}");
}
