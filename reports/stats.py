"""Paired significance tests for method comparisons.

Everything here is a pure, deterministic function of numpy arrays or
DataFrames.  Degenerate inputs (no pairs, one pair, all differences zero,
zero variance) never raise: they return ``p = 1.0`` or ``NaN`` together with
a human-readable ``note`` saying why.

Pairing is done over cells ``(dataset, shots, seed)``: both methods must have
a finished run for the same cell.  See ``reports/README.md`` for why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, asdict
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "TestResult",
    "CIResult",
    "PairedComparison",
    "holm",
    "wilcoxon_test",
    "paired_t_test",
    "bootstrap_ci",
    "min_wilcoxon_p",
    "min_n_for_alpha",
    "paired_comparison",
    "pair_cells",
    "compare_to_reference",
]

# Differences are rounded to this many decimals before rank tests, so that
# float noise (71.39 - 70.33 vs 1.06) does not break ties artificially.
_ROUND_DECIMALS = 9


@dataclass(frozen=True)
class TestResult:
    statistic: float
    pvalue: float
    n: int  # pairs used by the test (for Wilcoxon: non-zero differences)
    method: str  # "exact", "approx", "t", or "none"
    note: str = ""  # why the result is degenerate, empty if it is not


@dataclass(frozen=True)
class CIResult:
    low: float
    high: float
    method: str  # "BCa", "percentile", "degenerate", or "none"
    note: str = ""


@dataclass(frozen=True)
class PairedComparison:
    n_pairs: int
    mean_diff: float
    ci: CIResult
    wilcoxon: TestResult
    ttest: TestResult

    def as_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs,
            "mean_diff": self.mean_diff,
            "ci_low": self.ci.low,
            "ci_high": self.ci.high,
            "ci_method": self.ci.method,
            "wilcoxon_stat": self.wilcoxon.statistic,
            "wilcoxon_p": self.wilcoxon.pvalue,
            "wilcoxon_n_nonzero": self.wilcoxon.n,
            "wilcoxon_method": self.wilcoxon.method,
            "wilcoxon_note": self.wilcoxon.note,
            "ttest_t": self.ttest.statistic,
            "ttest_p": self.ttest.pvalue,
            "ttest_note": self.ttest.note,
        }


# --------------------------------------------------------------------------
# Multiple-comparison correction
# --------------------------------------------------------------------------
def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values.

    ``p_adj[(i)] = max_{j <= i} min(1, (m - j + 1) * p[(j)])`` over the
    ascending order of the p-values.  NaN entries are left NaN and are not
    counted in the family size ``m``.  Ties keep their input order (stable
    sort), which does not change the adjusted values.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    idx = np.flatnonzero(ok)
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):  # rank 0 is the smallest p
        adj = min(1.0, (m - rank) * p[i])
        running = max(running, adj)
        out[i] = running
    return out



def holm_gains_over(base: Sequence[float], others: dict) -> dict:
    """For each key of `others` (paired with `base` cell for cell): the
    Holm-adjusted p of a one-sided Wilcoxon test that it is greater than
    `base`. The budget checks' question: does a longer budget gain anything?
    (benchmarks/convergence.py, benchmarks/lm_budget_check.py)."""
    raw = [wilcoxon_test(values, base, alternative="greater").pvalue for values in others.values()]
    return dict(zip(others, holm(raw)))

# --------------------------------------------------------------------------
# Exact small-n limits of the Wilcoxon signed-rank test
# --------------------------------------------------------------------------
def min_wilcoxon_p(n: int, alternative: str = "two-sided") -> float:
    """Smallest p-value the exact Wilcoxon signed-rank test can give for n
    non-zero, untied differences: all signs agreeing, ``P = 1/2**n`` one
    sided, ``2/2**n`` two sided (capped at 1)."""
    if n <= 0:
        return 1.0
    one = 0.5**n
    if alternative == "two-sided":
        return min(1.0, 2.0 * one)
    return one


def min_n_for_alpha(alpha: float = 0.05, k: int = 1, alternative: str = "two-sided") -> int:
    """Smallest n for which the exact Wilcoxon test can reach ``alpha / k``
    (the smallest Holm threshold among k comparisons)."""
    thr = alpha / max(1, k)
    n = 1
    while min_wilcoxon_p(n, alternative) > thr:
        n += 1
    return n


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------
def _diff(a, b=None) -> np.ndarray:
    a = np.asarray(a, dtype=float).ravel()
    if b is None:
        d = a
    else:
        b = np.asarray(b, dtype=float).ravel()
        if a.shape != b.shape:
            raise ValueError(f"paired arrays differ in length: {a.size} vs {b.size}")
        d = a - b
    if np.isnan(d).any():
        raise ValueError("paired arrays contain NaN")
    return np.round(d, _ROUND_DECIMALS)


def wilcoxon_test(a, b=None, alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test on differences ``a - b`` (or on ``a`` when
    ``b`` is None).  Zero differences are dropped (Wilcoxon's convention);
    the exact null distribution is used when there are at most 50 non-zero
    differences and no ties among their absolute values, otherwise the
    normal approximation."""
    d = _diff(a, b)
    if d.size == 0:
        return TestResult(math.nan, math.nan, 0, "none", "no pairs")
    nz = d[d != 0]
    if nz.size == 0:
        return TestResult(0.0, 1.0, 0, "none", f"all {d.size} differences are zero")
    absd = np.abs(nz)
    ties = np.unique(absd).size < absd.size
    note = ""
    if nz.size < d.size:
        note = f"{d.size - nz.size} zero difference(s) dropped"
    if ties and nz.size <= _MAX_SIGNFLIP_N:
        # The normal approximation can undercut the exact minimum p at small
        # n; enumerate all sign flips of the mid-ranks instead (exact).
        stat, p = _signflip_wilcoxon(nz, alternative)
        note = (note + "; " if note else "") + "tied absolute differences: exact sign-flip over mid-ranks"
        return TestResult(stat, p, int(nz.size), "exact-ties", note)
    method = "exact" if (nz.size <= 50 and not ties) else "approx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _st.wilcoxon(nz, zero_method="wilcox", alternative=alternative, method=method)
    if ties:
        note = (note + "; " if note else "") + "tied absolute differences: normal approximation"
    return TestResult(float(res.statistic), float(res.pvalue), int(nz.size), method, note)


_MAX_SIGNFLIP_N = 16


def _signflip_wilcoxon(nz: np.ndarray, alternative: str) -> tuple[float, float]:
    """Exact conditional Wilcoxon test with tied |d|: all 2**n sign patterns
    of the mid-ranks are equally likely under H0."""
    n = nz.size
    ranks = _st.rankdata(np.abs(nz))
    r_plus = float(ranks[nz > 0].sum())
    total = float(ranks.sum())
    signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    null = signs @ ranks  # T+ under every sign pattern
    eps = 1e-9 * max(1.0, total)
    if alternative == "two-sided":
        centre = total / 2
        p = np.mean(np.abs(null - centre) >= abs(r_plus - centre) - eps)
        stat = min(r_plus, total - r_plus)
    elif alternative == "greater":
        p, stat = np.mean(null >= r_plus - eps), r_plus
    else:
        p, stat = np.mean(null <= r_plus + eps), r_plus
    return float(stat), float(min(1.0, p))


def paired_t_test(a, b=None, alternative: str = "two-sided") -> TestResult:
    """Paired t-test on ``a - b`` (one-sample t-test of the differences)."""
    d = _diff(a, b)
    n = int(d.size)
    if n < 2:
        return TestResult(math.nan, math.nan, n, "none", f"n={n} < 2 pairs")
    if np.all(d == d[0]):
        if d[0] == 0:
            return TestResult(0.0, 1.0, n, "none", "all differences are zero")
        return TestResult(math.nan, math.nan, n, "none", "differences have zero variance")
    res = _st.ttest_1samp(d, 0.0, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), n, "t", "")


def _run_bootstrap(d: np.ndarray, method: str, confidence: float, n_resamples: int, seed: int):
    kwargs = dict(
        statistic=np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method=method,
        vectorized=True,
    )
    rng = np.random.default_rng(seed)
    try:
        return _st.bootstrap((d,), rng=rng, **kwargs)
    except TypeError:  # scipy < 1.15 spells it random_state
        return _st.bootstrap((d,), random_state=rng, **kwargs)


def bootstrap_ci(
    a,
    b=None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
) -> CIResult:
    """Bootstrap CI of the mean paired difference ``a - b``.

    Resampling the differences is the paired bootstrap.  BCa is tried first;
    if it is undefined (degenerate data, NaN bounds) the percentile interval
    is used.  With a fixed ``random_state`` the output is reproducible.
    """
    d = _diff(a, b)
    n = int(d.size)
    if n == 0:
        return CIResult(math.nan, math.nan, "none", "no pairs")
    if n == 1:
        return CIResult(math.nan, math.nan, "none", "n=1: no interval")
    if np.all(d == d[0]):
        v = float(d[0])
        return CIResult(v, v, "degenerate", "all differences equal")
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = _run_bootstrap(d, method, confidence, n_resamples, random_state)
            except Exception:  # pragma: no cover - scipy edge cases
                continue
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            note = "" if method == "BCa" else "BCa undefined; percentile interval"
            return CIResult(lo, hi, method, note)
    return CIResult(math.nan, math.nan, "none", "bootstrap failed")


def paired_comparison(
    a,
    b,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
) -> PairedComparison:
    """All paired statistics for ``a - b`` in one record."""
    d = _diff(a, b)
    mean = float(np.mean(d)) if d.size else math.nan
    return PairedComparison(
        n_pairs=int(d.size),
        mean_diff=mean,
        ci=bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, random_state=random_state),
        wilcoxon=wilcoxon_test(d),
        ttest=paired_t_test(d),
    )


# --------------------------------------------------------------------------
# DataFrame level
# --------------------------------------------------------------------------
PAIR_ON = ("dataset", "shots", "seed")


def pair_cells(
    df: pd.DataFrame,
    method_a: str,
    method_b: str,
    pair_on: Sequence[str] = PAIR_ON,
    value: str = "test_accuracy",
) -> pd.DataFrame:
    """Inner-join two methods' rows on ``pair_on``; columns ``pair_on`` +
    ``a``, ``b``, sorted by ``pair_on`` (so the order is deterministic)."""
    keys = list(pair_on)
    sa = df.loc[df["method"] == method_a, keys + [value]].rename(columns={value: "a"})
    sb = df.loc[df["method"] == method_b, keys + [value]].rename(columns={value: "b"})
    if sa.duplicated(keys).any() or sb.duplicated(keys).any():
        raise ValueError("duplicate cells: keep one run per (method, " + ", ".join(keys) + ")")
    out = sa.merge(sb, on=keys, how="inner")
    return out.sort_values(keys, kind="mergesort").reset_index(drop=True)


def compare_to_reference(
    df: pd.DataFrame,
    reference: str,
    baselines: Sequence[str],
    pair_on: Sequence[str] = PAIR_ON,
    value: str = "test_accuracy",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
) -> pd.DataFrame:
    """Paired comparison of ``reference`` against each baseline.

    Differences are ``reference - baseline``.  Holm's correction is applied
    across the baselines to the two-sided Wilcoxon p-values (column
    ``holm_p``).  ``marker`` is "†" where ``holm_p < alpha`` and the reference
    is better, "‡" where the baseline is significantly better, else "".
    One row per baseline, in the given order.
    """
    rows = []
    for b in baselines:
        pairs = pair_cells(df, reference, b, pair_on, value)
        comp = paired_comparison(
            pairs["a"].to_numpy(), pairs["b"].to_numpy(),
            confidence=confidence, n_resamples=n_resamples, random_state=random_state,
        )
        row = {"baseline": b}
        row.update(comp.as_dict())
        rows.append(row)
    out = pd.DataFrame(rows, columns=["baseline"] + list(_EMPTY_COLS))
    out["holm_p"] = holm(out["wilcoxon_p"].to_numpy(dtype=float)) if len(out) else []
    markers = []
    for _, r in out.iterrows():
        m = ""
        if np.isfinite(r["holm_p"]) and r["holm_p"] < alpha:
            m = "†" if r["mean_diff"] > 0 else ("‡" if r["mean_diff"] < 0 else "")
        markers.append(m)
    out["marker"] = markers
    out["min_possible_p"] = [min_wilcoxon_p(int(n)) for n in out["wilcoxon_n_nonzero"]]
    return out


_EMPTY_COLS = tuple(
    PairedComparison(0, 0.0, CIResult(0, 0, ""), TestResult(0, 0, 0, ""), TestResult(0, 0, 0, "")).as_dict()
)
