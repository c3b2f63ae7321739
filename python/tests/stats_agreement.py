# SPDX-License-Identifier: Apache-2.0
"""Agreement check: the Rust statistics of A/B experiments (crates/stats) against scipy and
statsmodels on fixed inputs.

Run by crates/stats/tests/agreement.rs as

    python/.venv/bin/python python/tests/stats_agreement.py < cases.json

The input is one JSON object, ``{"tolerance": 1e-6, "cases": [...]}``; each case has a ``name``,
a ``kind``, its ``input`` and what Rust computed from that input (``rust``). For every number
in ``rust`` this script computes the same quantity with the reference library:

- ``wilson``: statsmodels ``proportion_confint(method="wilson")``;
- ``proportions``: statsmodels ``proportions_ztest`` (pooled z, two-sided and both one-sided
  p-values) and ``confint_proportions_2indep`` (the difference by ``wald``, the ratio by
  ``log``, as a lift: ratio − 1);
- ``welch_values``: scipy ``ttest_ind(equal_var=False)`` (t, df, p-values, the confidence
  interval of the difference) and the mean and variance (numpy, ddof=1);
- ``welch_summary``: scipy ``ttest_ind_from_stats(equal_var=False)`` (t, p-values); df by the
  Welch–Satterthwaite formula and the interval through ``scipy.stats.t.ppf``;
- ``srm``: scipy ``chisquare`` against total × weight / Σ weights;
- ``msprt``: the variance and τ² recomputed from the counts or summaries, and ln Λ as
  ``norm.logpdf(θ̂; 0, V + τ²) − norm.logpdf(θ̂; 0, V)`` (the mixture's marginal likelihood of
  the estimate against the null's: the definition, not the closed form Rust uses);
- ``normal_cdf``, ``normal_quantile``, ``t_cdf``, ``t_quantile``, ``chi2_sf``: scipy.stats.

A number agrees when |rust − reference| ≤ tolerance · max(|reference|, floor), floor 1e-300 for
probabilities (so tiny p-values are held to relative precision) and 1e-9 for everything else
(interval ends, statistics, quantiles: relative down to 1e-9, below which rounding noise of
order-one intermediates, ~1e-16, would count; statsmodels' Wilson interval at 0 conversions
starts at 1.4e-17 where the exact value, Rust's, is 0).
Where the reference is undefined (statsmodels' z-test with every unit converted or none; a lift
with no conversions in an arm) the check is Rust's documented convention instead.

Prints one JSON object on stdout, ``{"ok": true, "checks": n, "max_relative_error": e, "worst":
{...}, ...}``, and exits 0; exits 1 with ``"ok": false`` and the failures; exits 2 when scipy or
statsmodels is not installed (python/setup.sh installs both).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from typing import Any

try:
    import numpy as np
    from scipy import stats
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        proportion_confint,
        proportions_ztest,
    )
except ImportError as e:  # pragma: no cover - depends on the venv
    print(json.dumps({"ok": False, "error": f"missing package: {e}; run bash python/setup.sh"}))
    sys.exit(2)

PROBABILITY_FLOOR = 1e-300
VALUE_FLOOR = 1e-9


class Checker:
    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.checks = 0
        self.failures: list[dict[str, Any]] = []
        self.max_relative_error = 0.0
        self.max_absolute_error = 0.0
        self.worst: dict[str, Any] | None = None
        self.kind = ""
        self.max_relative_error_by_kind: dict[str, float] = {}
        self.worst_by_kind: dict[str, str] = {}

    def close(self, case: str, field: str, rust: Any, reference: float, probability: bool) -> None:
        self.checks += 1
        reference = float(reference)
        if not isinstance(rust, (int, float)) or not math.isfinite(rust) or not math.isfinite(reference):
            self.failures.append({"case": case, "field": field, "rust": rust, "reference": repr(reference)})
            return
        floor = PROBABILITY_FLOOR if probability else VALUE_FLOOR
        absolute = abs(rust - reference)
        relative = absolute / max(abs(reference), floor)
        self.max_absolute_error = max(self.max_absolute_error, absolute)
        by_kind = self.max_relative_error_by_kind
        if relative >= by_kind.get(self.kind, 0.0):
            by_kind[self.kind] = relative
            self.worst_by_kind[self.kind] = f"{case}: {field}"

        if relative > self.max_relative_error or self.worst is None:
            self.max_relative_error = max(relative, self.max_relative_error)
            self.worst = {"case": case, "field": field, "rust": rust, "reference": reference,
                          "relative_error": relative}
        if relative > self.tolerance:
            self.failures.append({"case": case, "field": field, "rust": rust, "reference": reference,
                                  "relative_error": relative})

    def convention(self, case: str, field: str, ok: bool, detail: Any) -> None:
        self.checks += 1
        if not ok:
            self.failures.append({"case": case, "field": field, "convention": detail})


def wilson(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    low, upp = proportion_confint(i["conversions"], i["exposures"], alpha=i["alpha"], method="wilson")
    c.close(name, "lower", r["lower"], low, probability=False)
    c.close(name, "upper", r["upper"], upp, probability=False)


def proportions(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    (xc, nc), (xt, nt), alpha = i["control"], i["treatment"], i["alpha"]
    counts, nobs = np.array([xt, xc], dtype=float), np.array([nt, nc], dtype=float)
    pooled = (xc + xt) / (nc + nt)
    if pooled in (0.0, 1.0):
        # statsmodels divides 0 by 0 here; Rust says z = 0, p = 1 (nothing to test).
        c.convention(name, "z, p_value", r["z"] == 0.0 and r["p_value"] == 1.0, r)
    else:
        z, p = proportions_ztest(counts, nobs)
        _, p_smaller = proportions_ztest(counts, nobs, alternative="smaller")
        _, p_larger = proportions_ztest(counts, nobs, alternative="larger")
        c.close(name, "z", r["z"], z, probability=False)
        c.close(name, "p_value", r["p_value"], p, probability=True)
        c.close(name, "p_value_lower", r["p_value_lower"], p_smaller, probability=True)
        c.close(name, "p_value_higher", r["p_value_higher"], p_larger, probability=True)
    low, upp = confint_proportions_2indep(xt, nt, xc, nc, compare="diff", method="wald", alpha=alpha)
    c.close(name, "difference_lower", r["difference_lower"], low, probability=False)
    c.close(name, "difference_upper", r["difference_upper"], upp, probability=False)
    if xc == 0 or xt == 0:
        c.convention(name, "lift", r["lift_lower"] is None and r["lift_upper"] is None, r)
    else:
        low, upp = confint_proportions_2indep(xt, nt, xc, nc, compare="ratio", method="log", alpha=alpha)
        c.close(name, "lift_lower", r["lift_lower"], low - 1.0, probability=False)
        c.close(name, "lift_upper", r["lift_upper"], upp - 1.0, probability=False)


def welch_values(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    control, treatment = np.array(i["control"], dtype=float), np.array(i["treatment"], dtype=float)
    for arm, values in (("control", control), ("treatment", treatment)):
        c.close(name, f"{arm}_mean", r[f"{arm}_mean"], np.mean(values), probability=False)
        c.close(name, f"{arm}_variance", r[f"{arm}_variance"], np.var(values, ddof=1), probability=False)
    res = stats.ttest_ind(treatment, control, equal_var=False)
    c.close(name, "t", r["t"], res.statistic, probability=False)
    c.close(name, "df", r["df"], res.df, probability=False)
    c.close(name, "p_value", r["p_value"], res.pvalue, probability=True)
    less = stats.ttest_ind(treatment, control, equal_var=False, alternative="less").pvalue
    greater = stats.ttest_ind(treatment, control, equal_var=False, alternative="greater").pvalue
    c.close(name, "p_value_lower", r["p_value_lower"], less, probability=True)
    c.close(name, "p_value_higher", r["p_value_higher"], greater, probability=True)
    ci = res.confidence_interval(confidence_level=1.0 - i["alpha"])
    c.close(name, "difference_lower", r["difference_lower"], ci.low, probability=False)
    c.close(name, "difference_upper", r["difference_upper"], ci.high, probability=False)


def welch_summary(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    ctl, trt = i["control"], i["treatment"]
    args = (trt["mean"], math.sqrt(trt["variance"]), trt["n"],
            ctl["mean"], math.sqrt(ctl["variance"]), ctl["n"])
    res = stats.ttest_ind_from_stats(*args, equal_var=False)
    c.close(name, "t", r["t"], res.statistic, probability=False)
    c.close(name, "p_value", r["p_value"], res.pvalue, probability=True)
    less = stats.ttest_ind_from_stats(*args, equal_var=False, alternative="less").pvalue
    greater = stats.ttest_ind_from_stats(*args, equal_var=False, alternative="greater").pvalue
    c.close(name, "p_value_lower", r["p_value_lower"], less, probability=True)
    c.close(name, "p_value_higher", r["p_value_higher"], greater, probability=True)
    vc, vt = ctl["variance"] / ctl["n"], trt["variance"] / trt["n"]
    df = (vc + vt) ** 2 / (vc**2 / (ctl["n"] - 1) + vt**2 / (trt["n"] - 1))
    c.close(name, "df", r["df"], df, probability=False)
    half = stats.t.ppf(1.0 - i["alpha"] / 2.0, df) * math.sqrt(vc + vt)
    difference = trt["mean"] - ctl["mean"]
    c.close(name, "difference_lower", r["difference_lower"], difference - half, probability=False)
    c.close(name, "difference_upper", r["difference_upper"], difference + half, probability=False)


def srm(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    observed = np.array(i["observed"], dtype=float)
    weights = np.array(i["weights"], dtype=float)
    expected = observed.sum() * weights / weights.sum()
    res = stats.chisquare(observed, expected)
    c.close(name, "statistic", r["statistic"], res.statistic, probability=False)
    c.close(name, "p_value", r["p_value"], res.pvalue, probability=True)
    c.convention(name, "df", r["df"] == len(observed) - 1, r)


def msprt(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    sd = i["effect_sd"]
    if "control" in i and isinstance(i["control"], list):
        (xc, nc), (xt, nt) = i["control"], i["treatment"]
        pooled = (xc + xt) / (nc + nt)
        unit = pooled * (1.0 - pooled)
        variance = unit * (1.0 / nc + 1.0 / nt)
        difference = xt / nt - xc / nc
    else:
        ctl, trt = i["control"], i["treatment"]
        variance = ctl["variance"] / ctl["n"] + trt["variance"] / trt["n"]
        unit = ((ctl["n"] - 1) * ctl["variance"] + (trt["n"] - 1) * trt["variance"]) / (ctl["n"] + trt["n"] - 2)
        difference = trt["mean"] - ctl["mean"]
    tau_squared = sd * sd * unit
    c.close(name, "difference", r["difference"], difference, probability=False)
    c.close(name, "variance", r["variance"], variance, probability=False)
    c.close(name, "tau_squared", r["tau_squared"], tau_squared, probability=False)
    ln_lr = (stats.norm.logpdf(difference, 0.0, math.sqrt(variance + tau_squared))
             - stats.norm.logpdf(difference, 0.0, math.sqrt(variance)))
    c.close(name, "ln_likelihood_ratio", r["ln_likelihood_ratio"], ln_lr, probability=False)
    c.close(name, "look_p_value", r["look_p_value"], min(1.0, math.exp(-ln_lr)), probability=True)


def normal_cdf(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    c.close(name, "value", r["value"], stats.norm.cdf(i["z"]), probability=True)


def normal_quantile(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    c.close(name, "value", r["value"], stats.norm.ppf(i["p"]), probability=False)


def t_cdf(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    c.close(name, "value", r["value"], stats.t.cdf(i["t"], i["df"]), probability=True)


def t_quantile(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    c.close(name, "value", r["value"], stats.t.ppf(i["p"], i["df"]), probability=False)


def chi2_sf(c: Checker, name: str, i: dict[str, Any], r: dict[str, Any]) -> None:
    c.close(name, "value", r["value"], stats.chi2.sf(i["x"], i["k"]), probability=True)


KINDS = {
    "wilson": wilson,
    "proportions": proportions,
    "welch_values": welch_values,
    "welch_summary": welch_summary,
    "srm": srm,
    "msprt": msprt,
    "normal_cdf": normal_cdf,
    "normal_quantile": normal_quantile,
    "t_cdf": t_cdf,
    "t_quantile": t_quantile,
    "chi2_sf": chi2_sf,
}


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else None
    document = json.load(open(source) if source else sys.stdin)
    checker = Checker(float(document["tolerance"]))
    kinds: dict[str, int] = {}
    for case in document["cases"]:
        kind = case["kind"]
        if kind not in KINDS:
            checker.failures.append({"case": case["name"], "error": f"unknown kind {kind}"})
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        checker.kind = kind
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            KINDS[kind](checker, case["name"], case["input"], case["rust"])
    ok = not checker.failures and checker.checks > 0
    print(json.dumps({
        "ok": ok,
        "cases": len(document["cases"]),
        "kinds": kinds,
        "checks": checker.checks,
        "tolerance": checker.tolerance,
        "max_relative_error": checker.max_relative_error,
        "max_absolute_error": checker.max_absolute_error,
        "max_relative_error_by_kind": checker.max_relative_error_by_kind,
        "worst_by_kind": checker.worst_by_kind,
        "worst": checker.worst,
        "failures": checker.failures,
        "versions": {"scipy": __import__("scipy").__version__,
                     "statsmodels": __import__("statsmodels").__version__,
                     "numpy": np.__version__},
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
