"""What a method-table entry and its "±" are, and the reference rows beside it.

An entry of a "methods x datasets" table is the paper's kind of number: for
each seed, the accuracy averaged over the shot settings the run set has (e.g.
{1, 4, 16}); then mean ± sample std (ddof = 1) over seeds, n = number of
seeds.  The ± is therefore seed-to-seed spread only; pooling the (shots,
seed) cells would add the (large) effect of the shot setting to it.  The
Average column does the same one level up: per seed, the unweighted mean over
datasets and shots, then mean ± std over seeds.  With a single shot setting
this is the plain mean ± std over seeds.

A seed that lacks one of a dataset's shot settings has no shot average; it
is left out of that entry (and of Average) and named in a note.  It still
counts in the per-shot block, the cells file and the paired tests.

Also here: the per-shot means (mean over seeds per method, dataset, shots)
and the majority-class reference row (run metric ``test_majority_accuracy``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .model import AVG, MAJORITY_LABEL

__all__ = ["MAJORITY_METRIC", "MAJORITY_TEXT", "summarise", "by_shots", "majority", "spread_text"]

MAJORITY_METRIC = "test_majority_accuracy"
MAJORITY_TEXT = (
    f"{MAJORITY_LABEL}: accuracy (%) of always predicting the test split's most frequent class "
    f"(run metric {MAJORITY_METRIC}, mean over the dataset's runs); a reference line, not a method: "
    f"never bold, not in the significance tests."
)


def _mean_std(x) -> tuple:
    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x)) if x.size else math.nan
    std = float(np.std(x, ddof=1)) if x.size >= 2 else math.nan
    return mean, std


def _fmt_set(xs) -> str:
    return "{" + ", ".join(str(int(x)) for x in sorted(xs)) + "}"


def summarise(cells: pd.DataFrame, methods, value: str, datasets: list) -> tuple:
    """(summary, notes).  summary: method, label, dataset (+Average), n (seeds),
    n_cells, mean, std; one row per (method, column), methods in ``methods`` order."""
    notes = []
    shots_of = {ds: set(cells.loc[cells["dataset"] == ds, "shots"]) for ds in datasets}
    rows = []
    for key, label in methods:
        m = cells[cells["method"] == key]
        per_seed = {}  # dataset -> {seed: shot-averaged value}
        for ds in datasets:
            c = m[m["dataset"] == ds]
            g = c.groupby("seed")
            means, k = g[value].mean(), g["shots"].nunique()  # cells are unique per (shots, seed)
            full = [sd for sd in means.index if k[sd] == len(shots_of[ds])]
            part = sorted(set(means.index) - set(full))
            if part:
                notes.append(
                    f"{label} on {ds}: seed(s) {', '.join(str(int(x)) for x in part)} lack a shot setting "
                    f"of {_fmt_set(shots_of[ds])}, left out of its mean ± std (kept in the paired tests)"
                )
            per_seed[ds] = {int(sd): float(means[sd]) for sd in full}
            mean, std = _mean_std(list(per_seed[ds].values()))
            rows.append(dict(method=key, label=label, dataset=ds, n=len(full), n_cells=int(len(c)),
                             mean=mean, std=std))
        seeds = set.intersection(*(set(v) for v in per_seed.values())) if per_seed else set()
        avg = [float(np.mean([per_seed[ds][sd] for ds in datasets])) for sd in sorted(seeds)]
        mean, std = _mean_std(avg)
        rows.append(dict(method=key, label=label, dataset=AVG, n=len(avg), n_cells=int(len(m)),
                         mean=mean, std=std))
    cols = ["method", "label", "dataset", "n", "n_cells", "mean", "std"]
    return pd.DataFrame(rows, columns=cols), notes


def by_shots(cells: pd.DataFrame, value: str) -> pd.DataFrame:
    """method, dataset, shots, n (seeds), mean, std over seeds; in ``cells`` order."""
    g = cells.groupby(["method", "dataset", "shots"], sort=False)[value]
    out = g.agg(n="size", mean="mean", std=lambda x: float(np.std(x, ddof=1)) if len(x) >= 2 else math.nan)
    return out.reset_index()


def majority(df: pd.DataFrame, datasets: list, decimals: int) -> tuple:
    """(frame, notes).  frame: dataset (+Average), n (runs), mean of
    ``test_majority_accuracy`` over the runs of each dataset; None when no run
    logged it (older stores)."""
    if MAJORITY_METRIC not in df.columns or not df[MAJORITY_METRIC].notna().any():
        return None, []
    notes, rows = [], []
    for ds in datasets:
        x = df.loc[(df["dataset"] == ds), MAJORITY_METRIC].dropna().to_numpy(dtype=float)
        rows.append(dict(dataset=ds, n=int(x.size), mean=float(x.mean()) if x.size else math.nan))
        if x.size and round(x.min(), decimals) != round(x.max(), decimals):
            notes.append(f"majority-class rate differs between the runs of {ds} "
                         f"({x.min():.{decimals}f}-{x.max():.{decimals}f}); the mean is shown")
    means = [r["mean"] for r in rows]
    avg = float(np.mean(means)) if means and np.all(np.isfinite(means)) else math.nan
    rows.append(dict(dataset=AVG, n=sum(r["n"] for r in rows), mean=avg))
    return pd.DataFrame(rows, columns=["dataset", "n", "mean"]), notes


def spread_text(shots, n_txt: str, name: str) -> str:
    """The caption's sentence on what an entry and its ± are."""
    shots = sorted(set(int(s) for s in shots))
    if len(shots) == 1:
        return (
            f"Test accuracy (%) at {shots[0]} shot{'' if shots[0] == 1 else 's'}, mean ± sample std (ddof = 1) over seeds "
            f"({n_txt} seeds per entry). Average: per seed, the unweighted mean over datasets; "
            f"then mean ± sample std over seeds."
        )
    return (
        f"Test accuracy (%). Entry: per seed, the accuracy averaged over the shot settings "
        f"{_fmt_set(shots)}; then mean ± sample std (ddof = 1) over seeds ({n_txt} seeds per entry), "
        f"so ± is seed-to-seed spread, not the spread between shot settings (per-shot means: "
        f"{name}.md, every run: {name}_cells.csv). Average: per seed, the unweighted mean over "
        f"datasets and shots; then mean ± sample std over seeds."
    )
