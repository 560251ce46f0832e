"""What a paired comparison can say: equivalence, detectable effect, a verdict word.

Beside the Wilcoxon + Holm test of ``reports.stats`` every comparison gets

* a TOST equivalence test of the paired differences at +-``margin`` accuracy
  points (statsmodels ``ttost_paired``; the margin is a setting of the
  table's spec, ``TableSpec.equivalence_margin``, default 1.0, decided before
  any result was read; level ``alpha``, i.e. the 90 % CI lies inside the
  margin at alpha = 0.05);
* the minimum detectable effect (MDE): the difference a two-sided paired
  t-test detects with 80 % power at the level Holm applies to this
  comparison, given n pairs and the SD of the differences measured here
  (statsmodels ``TTestPower``).  The tests reported are Wilcoxon; the MDE is
  the paired-t approximation of their power;
* the floor flag: the exact Wilcoxon test cannot go below 2/2^n (n non-zero
  differences); when that is above the comparison's Holm level, or no
  comparison of the family can pass Holm's first step (alpha/m), the
  comparison cannot be significant whatever the data;
* one verdict word: ``better`` / ``worse`` (Holm p < alpha; first minus
  second), ``equivalent`` (not significant, TOST p < alpha), else
  ``inconclusive`` with the MDE ("could detect >= X");
* wins / ties / losses of the first over the second over the paired cells;
* the pairs a run would need to detect a given effect (e.g. the paper's) at
  80 % power (``pairs_needed``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from .stats import min_wilcoxon_p

__all__ = ["POWER", "DEFAULT_MARGIN", "VERDICT_COLUMNS", "tost_p", "mde", "pairs_needed", "holm_levels",
           "wins_ties_losses", "winner_marks", "verdict_word", "verdict_text", "add_verdicts", "method_text"]

POWER = 0.8
DEFAULT_MARGIN = 1.0
_DECIMALS = 9  # as reports.stats: float noise does not make a tie a win
VERDICT_COLUMNS = ["sd_diff", "tost_p", "margin", "holm_level", "mde", "floor", "wins", "ties", "losses",
                   "verdict"]


def _d(diffs) -> np.ndarray:
    return np.round(np.asarray(diffs, dtype=float).ravel(), _DECIMALS)


def tost_p(diffs, margin: float) -> float:
    """TOST p of "the mean paired difference lies within (-margin, +margin)"; NaN below 2 pairs."""
    d = _d(diffs)
    if d.size < 2:
        return math.nan
    if np.all(d == d[0]):  # zero variance: t is infinite; decide by the value itself
        return 0.0 if abs(d[0]) < margin else 1.0
    p, _, _ = ttost_paired(d, np.zeros_like(d), -margin, margin)
    return float(p)


def mde(sd: float, n: int, alpha: float, power: float = POWER) -> float:
    """Smallest |mean difference| a two-sided paired t-test of n pairs detects with
    ``power`` at ``alpha``, given the SD of the differences; NaN when undefined."""
    if n < 2 or not np.isfinite(sd) or not np.isfinite(alpha) or alpha <= 0:
        return math.nan
    if sd == 0:
        return 0.0
    es = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                  alternative="two-sided")
    # Some (n, alpha) come back as a 1-element array (statsmodels' fallback root
    # finder; e.g. n = 48 at 0.05/6): squeeze, as benchmarks/power_design.py does.
    return float(np.squeeze(es)) * float(sd)


def pairs_needed(effect: float, sd: float, alpha: float, power: float = POWER) -> float:
    """Pairs a two-sided paired t-test needs to detect ``effect`` with ``power`` at
    ``alpha`` given the SD of the differences (ceiling; NaN when undefined, inf for 0)."""
    if not (np.isfinite(effect) and np.isfinite(sd)) or sd <= 0 or alpha <= 0:
        return math.nan
    if effect == 0:
        return math.inf
    es, tp = abs(effect) / sd, TTestPower()

    def enough(n: int) -> bool:
        return tp.power(effect_size=es, nobs=n, alpha=alpha, alternative="two-sided") >= power

    # the smallest n with enough power: doubling, then bisection (statsmodels' power function;
    # its solve_power root finder fails for effects far above the SD)
    hi = 2
    while not enough(hi):
        hi *= 2
        if hi > 1 << 30:
            return math.inf
    lo = hi // 2 if hi > 2 else 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return float(hi)


def holm_levels(pvalues, alpha: float) -> np.ndarray:
    """The level Holm's step-down applied to each p-value in this family: a rejected
    p-value at rank r (0 = smallest) was tested at alpha/(m - r); Holm stops at the first
    p-value it keeps, so that one and every later one face alpha/(m - s), s = the number
    rejected (the level they would have to reach now).  NaN p-values get NaN, not in m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    order = idx[np.argsort(p[idx], kind="stable")]
    s = 0
    while s < m and p[order[s]] < alpha / (m - s):
        s += 1
    for rank, i in enumerate(order):
        out[i] = alpha / (m - min(rank, s))
    return out


def wins_ties_losses(diffs) -> tuple[int, int, int]:
    d = _d(diffs)
    return int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())


def verdict_word(holm_p: float, mean_diff: float, tost: float, alpha: float) -> str:
    if np.isfinite(holm_p) and holm_p < alpha and mean_diff != 0:
        return "better" if mean_diff > 0 else "worse"
    if np.isfinite(tost) and tost < alpha:
        return "equivalent"
    return "inconclusive"


def verdict_text(word: str, mde_value: float, margin: float, decimals: int = 1) -> str:
    """The verdict as the reports print it."""
    if word == "equivalent":
        return f"equivalent (within ±{margin:g})"
    if word == "inconclusive":
        x = "n/a" if not np.isfinite(mde_value) else f"{mde_value:.{decimals}f}"
        return f"inconclusive (could detect ≥ {x})"
    return word


def add_verdicts(sig: pd.DataFrame, diffs: list, alpha: float, margin: float) -> pd.DataFrame:
    """``sig`` (one row per comparison, with mean_diff, n_pairs, wilcoxon_p,
    wilcoxon_n_nonzero, holm_p) plus VERDICT_COLUMNS; ``diffs``: each row's paired
    differences (first − second) in the same order."""
    out = sig.copy()
    levels = holm_levels(out["wilcoxon_p"].to_numpy(dtype=float), alpha) if len(out) else np.array([])
    m = int(np.isfinite(levels).sum())
    floors = [min_wilcoxon_p(int(n)) for n in out["wilcoxon_n_nonzero"]]
    nobody = bool(len(out)) and min(floors) > alpha / max(m, 1)  # nothing passes Holm's first step
    rows = []
    for i, (d, (_, r)) in enumerate(zip(diffs, out.iterrows())):
        d = _d(d)
        sd = float(np.std(d, ddof=1)) if d.size >= 2 else math.nan
        lvl = float(levels[i]) if np.isfinite(levels[i]) else alpha / max(m, 1)
        t = tost_p(d, margin)
        w, ti, lo = wins_ties_losses(d)
        mdv = mde(sd, int(d.size), lvl)
        word = verdict_word(float(r["holm_p"]), float(r["mean_diff"]), t, alpha)
        rows.append(dict(sd_diff=sd, tost_p=t, margin=margin, holm_level=lvl, mde=mdv,
                         floor=bool(nobody or floors[i] > lvl), wins=w, ties=ti, losses=lo,
                         verdict=verdict_text(word, mdv, margin)))
    extra = pd.DataFrame(rows, columns=VERDICT_COLUMNS, index=out.index)
    for c in VERDICT_COLUMNS:
        out[c] = extra[c]
    return out


def method_text(alpha: float, margin: float) -> str:
    """The caption's sentence on the new columns."""
    return (
        f"Verdict: better / worse = Holm-adjusted Wilcoxon p < {alpha} (first − second); equivalent = "
        f"not significant and a TOST equivalence test (statsmodels ttost_paired, level {alpha}) puts "
        f"the mean difference within ±{margin:g} points, the margin fixed in the table's spec before "
        f"any result was read; otherwise inconclusive, with the minimum detectable effect (MDE): the "
        f"difference a two-sided paired t-test (an approximation of the Wilcoxon test's power) detects "
        f"with {int(POWER * 100)}% power at the level Holm applied to that comparison (alpha/(m - r) "
        f"for the r-th rejection; alpha/(m - s) for the rest, s = the number rejected), given its n "
        f"pairs and the SD of its differences (statsmodels TTestPower). Floor: with n non-zero "
        f"differences the exact Wilcoxon p cannot go below 2/2^n; flagged where that is above the "
        f"comparison's Holm level or no comparison can pass Holm's first step (alpha/m), so the "
        f"comparison cannot be significant whatever the data. W/T/L: cells where the first wins, "
        f"ties, loses."
    )


def winner_marks(sig: pd.DataFrame, mark: str = "†") -> tuple[list, dict]:
    """Comparison k (1-based, the order of the paired-comparison table) marks the row that
    won it: "†k" on the winner (better: the first, ``row``; worse: the second,
    ``baseline``).  A row winning several comparisons gets "†1,3".  Returns (each
    comparison's mark, {method: mark})."""
    wins, marks = {}, []
    for k, (_, r) in enumerate(sig.iterrows(), 1):
        winner = r["row"] if r["verdict"] == "better" else (r["baseline"] if r["verdict"] == "worse" else None)
        marks.append(f"{mark}{k}" if winner else "")
        if winner:
            wins.setdefault(winner, []).append(str(k))
    return marks, {m: mark + ",".join(ks) for m, ks in wins.items()}
