//! The crate against the reference implementations: a fixed table of inputs (small and large
//! counts, no conversions, every unit converted, unequal variances and sizes, two-value
//! samples, p-values down to 1e-200, degrees of freedom from 0.5 to 1e9) is computed here and
//! sent as JSON to `python/tests/stats_agreement.py`, which recomputes every number with scipy
//! and statsmodels (pinned in python/requirements.txt) and fails unless each agrees within
//! 1e-6, relative (see the script for the exact rule). A second run with one number nudged by
//! 1e-5 must fail, so the check is known to bite.
//!
//! Needs python/.venv (`bash python/setup.sh`): skipped with a note without it, a failure when
//! `CI` or `STEWARD_TEST_PEERS` is set (scripts/test.sh sets the latter).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use steward_stats::special::{
    chi_square_sf, normal_cdf, normal_quantile, student_t_cdf, student_t_quantile,
};
use steward_stats::{
    Alpha, MeanComparison, MeanSummary, Mixing, Proportion, SRM_ALPHA_DEFAULT, compare_means,
    compare_proportions, msprt_means, msprt_proportions, sample_ratio_mismatch, wilson_interval,
};

const TOLERANCE: f64 = 1e-6;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's interpreter, or `None` (skip) outside CI when it is missing.
fn python() -> Option<PathBuf> {
    let python = root().join("python/.venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        peers_optional(),
        "python/.venv is missing in CI: scripts/test.sh runs python/setup.sh"
    );
    eprintln!("SKIPPED: run `bash python/setup.sh` to create python/.venv (scipy, statsmodels)");
    None
}

fn peers_optional() -> bool {
    std::env::var_os("CI").is_none() && std::env::var_os("STEWARD_TEST_PEERS").is_none()
}

/// Runs the agreement script on `document`: its exit code and its JSON verdict.
fn run_script(python: &PathBuf, document: &Value) -> (Option<i32>, Value) {
    let mut child = Command::new(python)
        .arg(root().join("python/tests/stats_agreement.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let verdict = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "agreement script printed no JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), verdict)
}

/// The table of cases, each with what this crate computes for it.
#[derive(Default)]
struct Cases(Vec<Value>);

impl Cases {
    fn push(&mut self, name: String, kind: &str, input: Value, rust: Value) {
        self.0
            .push(json!({ "name": name, "kind": kind, "input": input, "rust": rust }));
    }
}

/// (conversions, exposures).
type Counts = (u64, u64);
/// (n, mean, variance).
type Summary = (u64, f64, f64);

fn arm(conversions: u64, exposures: u64) -> Proportion {
    Proportion::new(conversions, exposures).unwrap()
}

fn alpha(a: f64) -> Alpha {
    Alpha::new(a).unwrap()
}

fn wilson_cases(cases: &mut Cases) {
    let counts = [
        (0, 1),
        (1, 1),
        (0, 50),
        (50, 50),
        (5, 20),
        (3, 7),
        (30, 1_000),
        (1, 1_000_000),
        (999_999, 1_000_000),
        (123_456, 10_000_000),
    ];
    for a in [0.05, 0.01, 0.1, 0.001] {
        for (x, n) in counts {
            let w = wilson_interval(arm(x, n), alpha(a));
            cases.push(
                format!("wilson {x}/{n} alpha {a}"),
                "wilson",
                json!({ "conversions": x, "exposures": n, "alpha": a }),
                json!({ "lower": w.interval.lower, "upper": w.interval.upper }),
            );
        }
    }
}

fn proportion_cases(cases: &mut Cases) {
    let pairs: [(Counts, Counts, f64); 14] = [
        ((100, 2_000), (130, 2_000), 0.05),
        ((0, 100), (5, 100), 0.05),
        ((5, 100), (0, 100), 0.05),
        ((0, 100), (0, 120), 0.05),
        ((7, 7), (9, 9), 0.05),
        ((1, 10), (9, 12), 0.05),
        ((1, 1), (0, 1), 0.05),
        ((3, 7), (4, 9), 0.1),
        ((5_000, 100_000), (5_100, 100_000), 0.05),
        ((10, 1_000_000), (30, 1_000_000), 0.01),
        ((450, 9_000), (60, 1_000), 0.05),
        // z ≈ 25: a two-sided p-value near 1e-140.
        ((100, 10_000), (900, 10_000), 0.05),
        (
            (49_000_000, 1_000_000_000),
            (49_050_000, 1_000_000_000),
            0.001,
        ),
        ((500, 10_000), (445, 10_000), 0.05),
    ];
    for ((xc, nc), (xt, nt), a) in pairs {
        let c = compare_proportions(arm(xc, nc), arm(xt, nt), alpha(a));
        cases.push(
            format!("proportions {xc}/{nc} vs {xt}/{nt} alpha {a}"),
            "proportions",
            json!({ "control": [xc, nc], "treatment": [xt, nt], "alpha": a }),
            json!({
                "z": c.z,
                "p_value": c.p_value,
                "p_value_lower": c.p_value_lower,
                "p_value_higher": c.p_value_higher,
                "difference_lower": c.difference_interval.lower,
                "difference_upper": c.difference_interval.upper,
                "lift_lower": c.lift.map(|l| l.interval.lower),
                "lift_upper": c.lift.map(|l| l.interval.upper),
            }),
        );
    }
}

fn welch_json(c: &MeanComparison) -> Value {
    json!({
        "t": c.t,
        "df": c.df,
        "p_value": c.p_value,
        "p_value_lower": c.p_value_lower,
        "p_value_higher": c.p_value_higher,
        "difference_lower": c.difference_interval.lower,
        "difference_upper": c.difference_interval.upper,
    })
}

/// Deterministic samples: `n` values of `centre + spread · sin(k · 1.7)`.
fn wave(n: usize, centre: f64, spread: f64) -> Vec<f64> {
    (0..n)
        .map(|k| centre + spread * (k as f64 * 1.7).sin())
        .collect()
}

/// Revenue-like: mostly zeros, a few large values.
fn revenue(n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|k| {
            if k % 9 == 4 {
                scale * (20.0 + 15.0 * (k as f64 * 0.37).cos()).powi(2)
            } else {
                0.0
            }
        })
        .collect()
}

fn welch_cases(cases: &mut Cases) {
    let samples: Vec<(&str, Vec<f64>, Vec<f64>, f64)> = vec![
        (
            "scipy docs-sized",
            vec![2.0, 3.0, 5.0, 7.0, 9.0],
            vec![1.0, 2.0, 3.0, 4.5],
            0.05,
        ),
        ("two values each", vec![1.0, 2.0], vec![10.0, 30.0], 0.05),
        (
            "flat control",
            vec![3.0, 3.0, 3.0, 3.0],
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
            0.1,
        ),
        (
            "unequal variances and sizes",
            wave(40, 10.0, 0.5),
            wave(8, 12.0, 6.0),
            0.05,
        ),
        ("revenue", revenue(300, 1.0), revenue(280, 1.25), 0.05),
        // Σx² − (Σx)²/n would lose every digit of these variances. (Not 1e9: there the means
        // themselves, numpy's as much as ours, carry ~1e-7 of rounding, 2e-6 of a 0.05
        // difference, so no two implementations agree to 1e-6 on t.)
        (
            "large offset",
            wave(100, 1e6, 0.25),
            wave(120, 1e6 + 0.05, 0.3),
            0.01,
        ),
    ];
    for (name, control, treatment, a) in samples {
        let (c, t) = (
            MeanSummary::from_values(&control).unwrap(),
            MeanSummary::from_values(&treatment).unwrap(),
        );
        let r = compare_means(&c, &t, alpha(a)).unwrap();
        let mut rust = welch_json(&r);
        rust["control_mean"] = json!(c.mean());
        rust["control_variance"] = json!(c.variance());
        rust["treatment_mean"] = json!(t.mean());
        rust["treatment_variance"] = json!(t.variance());
        cases.push(
            format!("welch values: {name}"),
            "welch_values",
            json!({ "control": control, "treatment": treatment, "alpha": a }),
            rust,
        );
    }
    let summaries: [(Summary, Summary, f64); 7] = [
        ((1_000_000, 10.0, 4.0), (900_000, 10.01, 9.0), 0.05),
        ((50, 0.0, 1.0), (3, 5.0, 100.0), 0.05),
        ((2, 1.0, 0.5), (2, 3.0, 8.0), 0.05),
        ((10_000_000, 2.5, 30.0), (10_000_000, 2.5, 30.0), 0.05),
        // t ≈ 60 on ~400 degrees of freedom: a p-value near 1e-200.
        ((200, 100.0, 25.0), (200, 130.0, 25.0), 0.05),
        ((10_000, 5.0, 0.0), (20, 5.5, 2.0), 0.01),
        ((5_000, 200.0, 900.0), (5_000, 201.5, 1_100.0), 0.2),
    ];
    for ((nc, mc, vc), (nt, mt, vt), a) in summaries {
        let c = MeanSummary::new(nc, mc, vc).unwrap();
        let t = MeanSummary::new(nt, mt, vt).unwrap();
        let r = compare_means(&c, &t, alpha(a)).unwrap();
        cases.push(
            format!("welch summary: n {nc} mean {mc} var {vc} vs n {nt} mean {mt} var {vt}"),
            "welch_summary",
            json!({
                "control": { "n": nc, "mean": mc, "variance": vc },
                "treatment": { "n": nt, "mean": mt, "variance": vt },
                "alpha": a,
            }),
            welch_json(&r),
        );
    }
}

fn srm_cases(cases: &mut Cases) {
    let tables: [(&[u64], &[f64]); 10] = [
        (&[10_400, 9_600], &[1.0, 1.0]),
        (&[10_050, 9_950], &[0.5, 0.5]),
        (&[5_100, 2_450, 2_450], &[2.0, 1.0, 1.0]),
        (&[1, 0], &[0.5, 0.5]),
        (&[100, 90, 110, 95], &[1.0, 1.0, 1.0, 1.0]),
        (&[500_000_123, 499_999_877], &[1.0, 1.0]),
        (&[51_000, 49_000], &[1.0, 1.0]),
        (&[9_050, 950], &[0.9, 0.1]),
        (&[1_000, 1_000, 1_000, 1_000, 1_200], &[1.0; 5]),
        // χ² = 4,000: the p-value underflows to 0 in both.
        (&[60_000, 40_000], &[1.0, 1.0]),
    ];
    for (observed, weights) in tables {
        let r = sample_ratio_mismatch(observed, weights, SRM_ALPHA_DEFAULT).unwrap();
        cases.push(
            format!("srm {observed:?} against {weights:?}"),
            "srm",
            json!({ "observed": observed, "weights": weights }),
            json!({ "statistic": r.statistic, "p_value": r.p_value, "df": r.df }),
        );
    }
}

fn msprt_cases(cases: &mut Cases) {
    let proportions: [(Counts, Counts, f64); 4] = [
        ((100, 5_000), (130, 5_000), 0.02),
        ((500, 10_000), (430, 10_000), 0.05),
        ((3, 40), (9, 35), 0.3),
        // ln Λ > 745: 1/Λ underflows to 0.
        ((996, 1_005), (6_484, 45_798), 0.02),
    ];
    for ((xc, nc), (xt, nt), sd) in proportions {
        let mixing = Mixing::standardized(sd).unwrap();
        let r =
            msprt_proportions(arm(xc, nc), arm(xt, nt), 1.0, mixing, Alpha::FIVE_PERCENT).unwrap();
        cases.push(
            format!("msprt proportions {xc}/{nc} vs {xt}/{nt} sd {sd}"),
            "msprt",
            json!({ "control": [xc, nc], "treatment": [xt, nt], "effect_sd": sd }),
            json!({
                "difference": r.difference,
                "variance": r.variance,
                "tau_squared": r.tau_squared,
                "ln_likelihood_ratio": r.ln_likelihood_ratio,
                "look_p_value": r.look_p_value,
            }),
        );
    }
    let means: [(Summary, Summary, f64); 3] = [
        ((500, 1.0, 4.0), (500, 1.3, 4.0), 0.05),
        ((1_000, 200.0, 900.0), (1_000, 205.0, 900.0), 0.02),
        ((50, 3.0, 2.0), (5_000, 3.2, 10.0), 0.1),
    ];
    for ((nc, mc, vc), (nt, mt, vt), sd) in means {
        let c = MeanSummary::new(nc, mc, vc).unwrap();
        let t = MeanSummary::new(nt, mt, vt).unwrap();
        let mixing = Mixing::standardized(sd).unwrap();
        let r = msprt_means(&c, &t, 1.0, mixing, Alpha::FIVE_PERCENT).unwrap();
        cases.push(
            format!("msprt means n {nc} mean {mc} var {vc} vs n {nt} mean {mt} var {vt} sd {sd}"),
            "msprt",
            json!({
                "control": { "n": nc, "mean": mc, "variance": vc },
                "treatment": { "n": nt, "mean": mt, "variance": vt },
                "effect_sd": sd,
            }),
            json!({
                "difference": r.difference,
                "variance": r.variance,
                "tau_squared": r.tau_squared,
                "ln_likelihood_ratio": r.ln_likelihood_ratio,
                "look_p_value": r.look_p_value,
            }),
        );
    }
}

fn distribution_cases(cases: &mut Cases) {
    for z in [
        -38.0,
        -20.0,
        -10.0,
        -5.0,
        -3.0,
        -1.959_963_984_540_054,
        -0.5,
        0.0,
        0.3,
        1.0,
        2.5,
        5.0,
        8.0,
    ] {
        cases.push(
            format!("normal cdf {z}"),
            "normal_cdf",
            json!({ "z": z }),
            json!({ "value": normal_cdf(z) }),
        );
    }
    for p in [
        1e-300,
        1e-100,
        1e-10,
        1e-4,
        0.001,
        0.025,
        0.3,
        0.5,
        0.7,
        0.975,
        0.999,
        1.0 - 1e-10,
    ] {
        cases.push(
            format!("normal quantile {p}"),
            "normal_quantile",
            json!({ "p": p }),
            json!({ "value": normal_quantile(p).unwrap() }),
        );
    }
    let dfs = [0.5, 1.0, 2.5, 6.222_370_382_350_522_5, 30.0, 1e3, 1e6, 1e9];
    for df in dfs {
        for t in [-40.0, -5.0, -2.0, -0.5, 0.0, 1.3, 3.0, 10.0] {
            cases.push(
                format!("t cdf {t} df {df}"),
                "t_cdf",
                json!({ "t": t, "df": df }),
                json!({ "value": student_t_cdf(t, df).unwrap() }),
            );
        }
        for p in [1e-12, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999_999] {
            cases.push(
                format!("t quantile {p} df {df}"),
                "t_quantile",
                json!({ "p": p, "df": df }),
                json!({ "value": student_t_quantile(p, df).unwrap() }),
            );
        }
    }
    for (x, k) in [
        (0.5, 1.0),
        (3.841_458_820_694_124, 1.0),
        (32.0, 1.0),
        (200.0, 1.0),
        (1e3, 1.0),
        (10.0, 2.0),
        (11.070_497_693_516_351, 5.0),
        (50.0, 3.0),
        (1.0, 10.0),
        (30.0, 10.0),
        (100.0, 50.0),
        (1e4, 9_999.0),
        (12_000.0, 9_999.0),
    ] {
        cases.push(
            format!("chi-square sf {x} k {k}"),
            "chi2_sf",
            json!({ "x": x, "k": k }),
            json!({ "value": chi_square_sf(x, k).unwrap() }),
        );
    }
}

fn all_cases() -> Vec<Value> {
    let mut cases = Cases::default();
    wilson_cases(&mut cases);
    proportion_cases(&mut cases);
    welch_cases(&mut cases);
    srm_cases(&mut cases);
    msprt_cases(&mut cases);
    distribution_cases(&mut cases);
    cases.0
}

#[test]
fn agrees_with_scipy_and_statsmodels() {
    let Some(python) = python() else { return };
    let cases = all_cases();
    let document = json!({ "tolerance": TOLERANCE, "cases": cases });
    let (code, verdict) = run_script(&python, &document);
    if code == Some(2) {
        assert!(
            peers_optional(),
            "scipy or statsmodels missing from python/.venv in CI: {verdict}"
        );
        eprintln!("SKIPPED: {} (bash python/setup.sh)", verdict["error"]);
        return;
    }
    eprintln!(
        "agreement with scipy/statsmodels ({}): {} cases, {} checks, max relative error {:e} \
         (by kind: {}; where: {}), worst {}",
        verdict["versions"],
        verdict["cases"],
        verdict["checks"],
        verdict["max_relative_error"].as_f64().unwrap_or(f64::NAN),
        verdict["max_relative_error_by_kind"],
        verdict["worst_by_kind"],
        verdict["worst"],
    );
    assert_eq!(code, Some(0), "disagreements: {:#}", verdict["failures"]);
    assert_eq!(verdict["ok"], true);
    assert_eq!(verdict["cases"].as_u64(), Some(cases.len() as u64));
    assert!(verdict["max_relative_error"].as_f64().unwrap() <= TOLERANCE);

    // The check bites: one Wilson bound off by 1e-5, relative, fails and is named.
    let mut tampered = document.clone();
    let upper = tampered["cases"][4]["rust"]["upper"].as_f64().unwrap();
    tampered["cases"][4]["rust"]["upper"] = json!(upper * (1.0 + 1e-5));
    let (code, verdict) = run_script(&python, &tampered);
    assert_eq!(code, Some(1), "{verdict}");
    let failures = verdict["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{verdict}");
    assert_eq!(failures[0]["case"], cases[4]["name"]);
    assert_eq!(failures[0]["field"], "upper");
}
