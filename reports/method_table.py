"""Generic "methods x datasets" result table with paired significance tests.

Used by Table 3 (``reports.table3``) and reusable for the ablations (Tables
4-6): rows are methods (or ablation variants) in a fixed order, columns are
datasets plus an Average column, cells are mean ± sample std over seeds of
the per-seed shot-averaged accuracy (``reports.spread``).  One row is the
*reference* (the combined method); every other row is compared with it,
paired over (dataset, shots, seed).  A spec may instead list explicit
``pairs`` ((row, baseline), ...), e.g. Table 8's "combined vs gradient at
each prompt length": then exactly those comparisons are made (row −
baseline), Holm-adjusted over the pairs.  Every comparison also gets its
verdict (``reports.verdict``); the layout is ``reports.method_layout`` (the
table model of ``reports.model``), rendered by ``reports.render``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as _st

from . import coverage, render, spread, stats, verdict
from .claim_list import claims_of
from .method_layout import below_majority_text, document
from .model import AVG, DAGGER, DDAGGER, csv_text as _csv_text, fmt_num as _f, fmt_p  # noqa: F401 (re-exported)
from .paper_numbers import PAPER

__all__ = [
    "TableSpec",
    "TableResult",
    "build_table",
    "write_markdown",
    "write_csv",
    "write_cells_csv",
    "write_significance_csv",
    "write_latex",
    "write_all",
    "render_markdown",
    "render_latex",
    "DEFAULT_OUT",
]

DEFAULT_OUT = Path(__file__).resolve().parent  # reports/table3.md etc. are committed


@dataclass(frozen=True)
class TableSpec:
    name: str  # file stem, e.g. "table3"
    title: str
    methods: tuple  # ((key, label), ...) in row order
    reference: str | None  # key of the method every other row is compared with (None: use pairs)
    paper: str | None = None  # key into paper_numbers.PAPER
    datasets: tuple | None = None  # column order; default: sorted names in the data
    value: str = "test_accuracy"
    pair_on: tuple = ("dataset", "shots", "seed")
    alpha: float = 0.05
    confidence: float = 0.95
    n_resamples: int = 9999
    random_state: int = 0
    decimals: int = 2
    # ((row, baseline), ...): compare exactly these pairs (row − baseline) instead of the
    # reference against every other row; Holm over the pairs.  None: reference mode.
    pairs: tuple | None = None
    # Rows of the paper's table whose published numbers are missing (printed as "–").
    paper_missing: tuple = ()
    # TOST margin (accuracy points) of the "equivalent" verdict, fixed before any result
    # was read (docs/decisions.md, decision 75).
    equivalence_margin: float = verdict.DEFAULT_MARGIN

    @property
    def labels(self) -> dict:
        return dict(self.methods)

    @property
    def baselines(self) -> list:
        return [k for k, _ in self.methods if k != self.reference]

    @property
    def comparisons(self) -> list:
        """[(row, baseline), ...]: each test's difference is row − baseline."""
        if self.pairs is not None:
            return [(a, b) for a, b in self.pairs]
        return [(self.reference, b) for b in self.baselines]


@dataclass
class TableResult:
    spec: TableSpec
    scale: str
    datasets: list  # column order (without Average)
    cells: pd.DataFrame  # method, dataset, shots, seed, value; sorted
    summary: pd.DataFrame  # method, label, dataset (+Average), n (seeds), n_cells, mean, std, best, marker
    significance: pd.DataFrame  # one row per baseline (see stats.compare_to_reference); with pairs: + "row"
    paper: pd.DataFrame | None  # method, label, dataset (+Average), mean, best
    caption: str
    ordering: str
    notes: list = field(default_factory=list)
    by_shots: pd.DataFrame | None = None  # method, dataset, shots, n (seeds), mean, std
    majority: pd.DataFrame | None = None  # dataset (+Average), n (runs), mean; None: metric not logged
    missing: list = field(default_factory=list)  # cells of the spec without a run (reports.coverage)
    health: pd.DataFrame | None = None  # per-round mechanism health of its LLM runs (reports.health)


# --------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------
def _round(x: float, d: int) -> float:
    return float(np.round(x, d)) if np.isfinite(x) else math.nan


def _best_flags(means: pd.Series, decimals: int) -> pd.Series:
    r = means.map(lambda v: _round(v, decimals))
    if r.notna().sum() == 0:
        return pd.Series(False, index=means.index)
    return r == r.max()


def _summarise(cells: pd.DataFrame, spec: TableSpec, datasets: list, majority=None) -> tuple:
    """(summary, notes): entries as defined in ``reports.spread``, plus best flags and
    ``below_majority``.  A value below the column's majority-class rate is never best:
    bold marks the best of the values above that reference line (none when all are below)."""
    s, notes = spread.summarise(cells, spec.methods, spec.value, datasets)
    line = {} if majority is None else dict(zip(majority["dataset"], majority["mean"]))
    s["below_majority"] = [bool(np.isfinite(line.get(ds, math.nan)) and np.isfinite(m)
                                and _round(m, spec.decimals) < _round(line[ds], spec.decimals))
                           for ds, m in zip(s["dataset"], s["mean"])]
    s["best"] = False
    for ds in datasets + [AVG]:
        idx = s["dataset"] == ds
        means = s.loc[idx, "mean"].where(~s.loc[idx, "below_majority"])
        s.loc[idx, "best"] = _best_flags(means, spec.decimals).to_numpy()
    return s, notes


def _paper_frame(spec: TableSpec) -> pd.DataFrame | None:
    if not spec.paper or spec.paper not in PAPER:
        return None
    p = PAPER[spec.paper]
    labels = dict(p.get("labels", {}))
    labels.update(spec.labels)
    rows = []
    items = list(p["rows"].items())
    if spec.paper_missing:  # published rows without numbers, in the spec's row order
        nan = {d: math.nan for d in p["datasets"]}
        known = dict(items)
        keys = [k for k, _ in spec.methods if k in known or k in spec.paper_missing]
        keys += [k for k in known if k not in keys]
        keys += [k for k in spec.paper_missing if k not in keys]
        items = [(k, known.get(k, nan)) for k in keys]
    for key, vals in items:
        ds_vals = [vals[d] for d in p["datasets"]]
        for d in p["datasets"]:
            rows.append(dict(method=key, label=labels.get(key, key), dataset=d, mean=float(vals[d])))
        rows.append(dict(method=key, label=labels.get(key, key), dataset=AVG, mean=float(np.mean(ds_vals))))
    f = pd.DataFrame(rows)
    f["best"] = False
    for d in list(p["datasets"]) + [AVG]:
        idx = f["dataset"] == d
        f.loc[idx, "best"] = _best_flags(f.loc[idx, "mean"], 2).to_numpy()
    return f


def _order_string(means: dict, labels: dict, decimals: int) -> str:
    items = sorted(means.items(), key=lambda kv: (-kv[1], kv[0]))
    out = labels.get(items[0][0], items[0][0])
    for (k0, v0), (k1, v1) in zip(items, items[1:]):
        sep = " = " if _round(v0, decimals) == _round(v1, decimals) else " > "
        out += sep + labels.get(k1, k1)
    return out


def _ordering_paragraph(res_summary, paper, sig, spec: TableSpec, scale: str, n_note: str) -> str:
    labels = spec.labels
    ours = res_summary[(res_summary["dataset"] == AVG)].set_index("method")["mean"]
    ours = {k: float(v) for k, v in ours.items() if np.isfinite(v)}
    lines = [f"**Does the {scale} scale reproduce the paper's ordering?** "]
    below = below_majority_text(res_summary, labels, AVG)
    if below:
        lines.append(below + " ")

    def pairs_tail(missing=()) -> str:  # explicit pairs: the within-pair verdicts always follow
        tail = [_pairs_verdict(sig, paper, spec, scale)]
        if n_note:
            tail.append(n_note + " ")
        if missing:
            tail.append(f"Not compared (no results on every dataset): {', '.join(missing)}. ")
        if paper is not None:
            tail.append(
                f"Absolute values are not comparable: the paper uses its own datasets and backbone, "
                f"the {scale} scale uses different ones."
            )
        return "".join(tail)

    if paper is None:
        lines.append("No published numbers are recorded for this table, so no comparison is made.")
        if spec.pairs is not None:
            return ("".join(lines) + " " + pairs_tail()).strip()
        return "".join(lines)
    pav = paper[paper["dataset"] == AVG].set_index("method")["mean"]
    pav = pav[np.isfinite(pav.to_numpy(dtype=float))]  # rows of spec.paper_missing have no number
    common = [k for k, _ in spec.methods if k in ours and k in pav.index]
    missing = [labels[k] for k, _ in spec.methods if k not in ours]
    if len(common) < 2 and not missing:
        lines.append(
            f"Only {len(common)} of this table's rows is also a row of the paper's table (the {scale} "
            "scale ablates other settings), so the orderings are not compared."
        )
        if spec.pairs is not None:
            return ("".join(lines) + " " + pairs_tail()).strip()
        return "".join(lines)
    if len(common) < 2:
        lines.append(
            f"Too few methods have results on every dataset ({len(common)}) to compare orderings"
            f"; missing: {', '.join(missing)}."
        )
        if spec.pairs is not None:
            return ("".join(lines) + " " + pairs_tail()).strip()
        return "".join(lines)
    o = {k: ours[k] for k in common}
    p = {k: float(pav[k]) for k in common}
    o_order = sorted(common, key=lambda k: (-o[k], k))
    p_order = sorted(common, key=lambda k: (-p[k], k))
    lines.append(
        f"Ranking the {len(common)} methods by their average over datasets, the {scale} scale gives "
        f"{_order_string(o, labels, spec.decimals)}; the paper gives {_order_string(p, labels, 2)}. "
    )
    if o_order == p_order:
        lines.append("The orderings are identical. ")
    elif len(common) == 2:  # a rank correlation of two items is +-1 by construction: say it in words
        lines.append(f"The two rows swap places: the paper has {labels[p_order[0]]} above "
                     f"{labels[p_order[1]]}. ")
    else:
        tau = _st.kendalltau([o[k] for k in common], [p[k] for k in common]).statistic
        moved = [labels[k] for k in common if o_order.index(k) != p_order.index(k)]
        lines.append(
            f"The orderings differ (Kendall's tau = {tau:.2f}); rank changes for: {', '.join(moved)}. "
        )
    unpublished = [labels.get(k, k) for k in spec.paper_missing if k in ours]
    if unpublished:
        lines.append(f"The paper publishes no number for {', '.join(unpublished)}, so it is not ranked. ")
    if spec.pairs is not None:
        return ("".join(lines) + pairs_tail(missing)).strip()
    ref = spec.reference
    if ref in common:
        r_o, r_p = o_order.index(ref) + 1, p_order.index(ref) + 1
        lab = labels[ref]
        if r_o == 1 and r_p == 1:
            lines.append(f"{lab} is best on average in both. ")
        else:
            lines.append(
                f"{lab} ranks {r_o} of {len(common)} at {scale} scale and {r_p} of {len(common)} in the paper. "
            )
    # Significance summary
    if sig is not None and len(sig):
        ref_lab = labels.get(ref, ref)
        lines.append(f"{ref_lab} against each row (verdicts as in the paired-comparison table): "
                     + "; ".join(f"vs {labels.get(b, b)}: {v}" for b, v in zip(sig["baseline"], sig["verdict"]))
                     + ". ")
        if n_note:
            lines.append(n_note + " ")
    if missing:
        lines.append(f"Not compared (no results on every dataset): {', '.join(missing)}. ")
    lines.append(
        f"Absolute values are not comparable: the paper uses its own datasets and backbone, "
        f"the {scale} scale uses different ones."
    )
    return "".join(lines).strip()


def _pairs_verdict(sig, paper, spec: TableSpec, scale: str) -> str:
    """One clause per pair: the mean difference row − baseline over paired cells, its CI,
    the Holm-adjusted Wilcoxon p and verdict, and the paper's difference of averages."""
    labels, d = spec.labels, spec.decimals
    pav = {}
    if paper is not None:
        pav = {k: float(v) for k, v in paper[paper["dataset"] == AVG].set_index("method")["mean"].items()}
    parts = []
    for _, r in sig.iterrows():
        a, b = r["row"], r["baseline"]
        la, lb = labels.get(a, a), labels.get(b, b)
        if not np.isfinite(r["mean_diff"]):
            parts.append(f"{la} − {lb}: no paired cells")
            continue
        ci = ("CI n/a" if not np.isfinite(r["ci_low"])
              else f"{int(spec.confidence * 100)}% CI [{r['ci_low']:+.{d}f}, {r['ci_high']:+.{d}f}]")
        txt = (f"{la} − {lb} = {r['mean_diff']:+.{d}f} ({ci}, n = {int(r['n_pairs'])} pairs, "
               f"Holm p = {fmt_p(r['holm_p'])}: {r['verdict']})")
        pa, pb = pav.get(a, math.nan), pav.get(b, math.nan)
        if np.isfinite(pa) and np.isfinite(pb):
            pdiff = pa - pb
            sp, so = np.sign(_round(pdiff, 2)), np.sign(_round(float(r["mean_diff"]), d))
            agree = "same sign" if sp == so else ("opposite sign" if sp * so < 0 else "one of them is zero")
            txt += f"; paper {pdiff:+.2f} ({agree})"
        elif paper is not None:
            txt += "; paper: no published difference"
        parts.append(txt)
    src = "; paper: difference of its published averages" if paper is not None else ""
    return (f"Within each pair, paired over (dataset, shots, seed) cells at {scale} scale (Holm-adjusted "
            f"Wilcoxon p, alpha = {spec.alpha}{src}): " + "; ".join(parts) + ". ")


def _compare_pairs(cells: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``stats.compare_to_reference`` for explicit (row, baseline) pairs: one row per pair
    (column ``row`` first), differences row − baseline, Holm across the pairs."""
    keys = set(spec.labels)
    bad = [x for pr in spec.pairs for x in pr if x not in keys]
    if bad:
        raise ValueError(f"pairs name rows not in the table: {', '.join(bad)}")
    parts = []
    for a, b in spec.comparisons:
        one = stats.compare_to_reference(
            cells, a, [b], pair_on=spec.pair_on, value=spec.value, alpha=spec.alpha,
            confidence=spec.confidence, n_resamples=spec.n_resamples, random_state=spec.random_state,
        )
        one.insert(0, "row", a)
        parts.append(one)
    out = pd.concat(parts, ignore_index=True)
    out["holm_p"] = stats.holm(out["wilcoxon_p"].to_numpy(dtype=float))
    return out  # markers: _winner_marks, after the verdicts


def _paired_diffs(cells: pd.DataFrame, a: str, b: str, spec: TableSpec) -> np.ndarray:
    p = stats.pair_cells(cells, a, b, spec.pair_on, spec.value)
    return (p["a"] - p["b"]).to_numpy(dtype=float)


def build_table(df: pd.DataFrame, spec: TableSpec, expected: set | None = None) -> "TableResult":
    """Aggregate per-run rows (as returned by ``runs.load_runs``) into a table.

    ``df`` needs columns method, dataset, shots, seed and ``spec.value``
    (one row per cell; duplicates raise).  Methods not in ``spec.methods``
    are ignored (and noted). ``expected``: the (method, dataset, shots, seed)
    cells the experiment spec lists (``coverage.expected_cells``); cells
    without a run are named in the caption.
    """
    need = ["method", "dataset", "shots", "seed", spec.value]
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise ValueError(f"input lacks columns {miss}")
    notes = []
    keys = [k for k, _ in spec.methods]
    other = sorted(set(df["method"]) - set(keys))
    if other:
        notes.append(f"ignored methods not in this table: {', '.join(other)}")
    cells = df.loc[df["method"].isin(keys), need].copy()
    cells["shots"] = cells["shots"].astype(int)
    cells["seed"] = cells["seed"].astype(int)
    cells[spec.value] = cells[spec.value].astype(float)
    if cells.duplicated(["method", "dataset", "shots", "seed"]).any():
        raise ValueError("duplicate (method, dataset, shots, seed) cells; deduplicate first")
    order = {k: i for i, k in enumerate(keys)}
    cells["_o"] = cells["method"].map(order)
    cells = cells.sort_values(["_o", "dataset", "shots", "seed"], kind="mergesort").drop(columns="_o")
    cells = cells.reset_index(drop=True)

    scale = "mini"
    if "scale" in df.columns and df["scale"].notna().any():
        scale = ",".join(sorted(set(df["scale"].dropna().astype(str))))
    datasets = list(spec.datasets) if spec.datasets else sorted(set(cells["dataset"]))
    absent = [lab for k, lab in spec.methods if k not in set(cells["method"])]
    if absent:
        notes.append(f"no runs for: {', '.join(absent)}")

    majority, majority_notes = spread.majority(df, datasets, spec.decimals)
    summary, spread_notes = _summarise(cells, spec, datasets, majority)
    notes += spread_notes + majority_notes

    if spec.pairs is None:
        sig = stats.compare_to_reference(
            cells, spec.reference, spec.baselines, pair_on=spec.pair_on, value=spec.value,
            alpha=spec.alpha, confidence=spec.confidence, n_resamples=spec.n_resamples,
            random_state=spec.random_state,
        )
        sig.insert(0, "row", spec.reference)
    else:
        sig = _compare_pairs(cells, spec)
    diffs = [_paired_diffs(cells, a, b, spec) for a, b in spec.comparisons]
    sig = verdict.add_verdicts(sig, diffs, spec.alpha, spec.equivalence_margin)
    sig["marker"], winners = verdict.winner_marks(sig)
    summary["marker"] = summary["method"].map(lambda k: winners.get(k, ""))

    paper = _paper_frame(spec)

    # ---- caption ------------------------------------------------------------
    k = int(np.isfinite(sig["wilcoxon_p"].to_numpy(dtype=float)).sum()) if len(sig) else 0
    ns = sorted(set(int(n) for n in sig["n_pairs"])) if len(sig) else []
    nz = [int(n) for n in sig["wilcoxon_n_nonzero"]] if len(sig) else []
    ds_n = summary[(summary["dataset"] != AVG) & (summary["n"] > 0)]["n"]
    cell_n = sorted(set(int(x) for x in ds_n))
    n_txt = (f"n = {cell_n[0]}" if len(cell_n) == 1 else f"n = {min(cell_n)}-{max(cell_n)}") if cell_n else "n = 0"
    pairs_txt = (f"n = {ns[0]}" if len(ns) == 1 else "n = " + "/".join(str(x) for x in ns)) if ns else "n = 0"
    ref_lab = spec.labels.get(spec.reference, spec.reference)
    thr = spec.alpha / max(k, 1)
    n_note = ""
    if nz:
        worst = min(nz)
        minp = stats.min_wilcoxon_p(worst)
        need_n = stats.min_n_for_alpha(spec.alpha, max(k, 1))
        if minp > thr:
            n_note = (
                f"With as few as {worst} non-zero paired differences the smallest achievable exact two-sided "
                f"Wilcoxon p is {minp:.4g} > {thr:.4g} (= alpha/{max(k, 1)}, Holm's first threshold), so "
                f"such a comparison can never be marked; at least {need_n} pairs are needed. "
                f"The absence of a marker is then not evidence of no difference."
            )
    if spec.pairs is None:
        who = f"{ref_lab} vs each other row (difference: {ref_lab} − row)"
    else:
        lab = spec.labels
        who = ("only within the pairs " + "; ".join(f"{lab.get(a, a)} vs {lab.get(b, b)}"
                                                   for a, b in spec.comparisons)
               + " (difference: first − second)")
    marks = (f"{DAGGER}k on a row: that row won comparison k of the paired-comparison table "
             f"(significantly better there, Holm-adjusted).")
    bold = ("Bold: best per column among the values at or above the majority-class rate (none where "
            "every value is below it)." if majority is not None else "Bold: best per column.")
    caption = (
        f"{spec.title} ({scale} scale). {spread.spread_text(cells['shots'], n_txt, spec.name)} "
        f"{bold} Significance: {who}, paired over "
        f"(dataset, shots, seed) cells present for both ({pairs_txt} pairs); two-sided Wilcoxon "
        f"signed-rank test (zero differences dropped; exact null distribution, by sign-flip enumeration "
        f"over mid-ranks when absolute differences tie; normal approximation beyond 50 pairs, or beyond "
        f"16 with ties), Holm correction across the {k} comparison(s) applied to the "
        f"Wilcoxon p-values, alpha = {spec.alpha}. {marks} Paired t-test p and the "
        f"{int(spec.confidence * 100)}% paired bootstrap CI of the mean difference (BCa, percentile "
        f"fallback; {spec.n_resamples} resamples, seed {spec.random_state}) are reported alongside. "
        f"Equivalence margin: ±{spec.equivalence_margin:g} accuracy points (a setting of the table's "
        f"spec). {verdict.method_text(spec.alpha, spec.equivalence_margin)} "
        + (n_note if n_note else "")
    ).strip()
    if majority is not None:
        caption += " " + spread.MAJORITY_TEXT
    if paper is not None:
        p = PAPER[spec.paper]
        caption += (
            f" Paper numbers: {p['title']}, on the paper's datasets ({', '.join(p['datasets'])}), "
            f"which differ from the {scale}-scale datasets."
        )

    missing = coverage.missing_cells(cells, expected)
    if missing:
        caption = coverage.incomplete_text(missing, expected, spec.name, scale) + " " + caption
        notes.append(f"{len(missing)} cell(s) of the spec have no run")

    ordering = _ordering_paragraph(summary, paper, sig, spec, scale, n_note)
    return TableResult(spec, scale, datasets, cells, summary, sig, paper, caption, ordering, notes,
                       by_shots=spread.by_shots(cells, spec.value), majority=majority, missing=missing)


def _out_path(res: TableResult, path, suffix: str) -> Path:
    p = Path(path) if path is not None else DEFAULT_OUT / f"{res.spec.name}{suffix}"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _involvement(res: TableResult) -> dict:
    """{method: "k: verdict; ..."} over the comparisons the method takes part in."""
    out = {}
    for k, (_, r) in enumerate(res.significance.iterrows(), 1):
        for m in (r["row"], r["baseline"]):
            out.setdefault(m, []).append(f"{k}: {r['verdict']}")
    return {m: "; ".join(v) for m, v in out.items()}


def csv_text(res: TableResult) -> str:
    """Summary (ours + paper) in long form; byte-stable for the same input.  ``verdicts``:
    the numbered comparisons (paired-comparison table) the row takes part in."""
    rows = []
    inv = _involvement(res)
    for _, r in res.summary.iterrows():
        rows.append([res.scale, r["method"], r["label"], r["dataset"], int(r["n"]), _f(r["mean"]),
                     _f(r["std"]), int(bool(r["best"])), r["marker"], int(bool(r["below_majority"])),
                     inv.get(r["method"], "")])
    if res.paper is not None:
        for _, r in res.paper.iterrows():
            rows.append(["paper", r["method"], r["label"], r["dataset"], "", _f(r["mean"]), "",
                         int(bool(r["best"])), "", "", ""])
    return _csv_text(["source", "method", "label", "dataset", "n", "mean", "std", "best", "marker",
                      "below_majority", "verdicts"], rows)


SIGNIFICANCE_COLUMNS = [
    "row", "baseline", "n_pairs", "mean_diff", "ci_low", "ci_high", "ci_method", "wilcoxon_stat",
    "wilcoxon_p", "wilcoxon_n_nonzero", "wilcoxon_method", "min_possible_p", "ttest_t", "ttest_p",
    "holm_p", "marker", "wilcoxon_note", "ttest_note", "comparison", "sd_diff", "tost_p", "margin",
    "holm_level", "mde", "floor", "wins", "ties", "losses", "verdict"]


def significance_rows(sig: pd.DataFrame) -> list:
    """The rows of a significance CSV (``SIGNIFICANCE_COLUMNS``); also used by reports.table2."""
    g = "{:.6g}"
    rows = []
    for k, (_, r) in enumerate(sig.iterrows(), 1):
        rows.append([r["row"], r["baseline"], int(r["n_pairs"]), _f(r["mean_diff"]), _f(r["ci_low"]),
                     _f(r["ci_high"]), r["ci_method"], _f(r["wilcoxon_stat"], g), _f(r["wilcoxon_p"], g),
                     int(r["wilcoxon_n_nonzero"]), r["wilcoxon_method"], _f(r["min_possible_p"], g),
                     _f(r["ttest_t"], g), _f(r["ttest_p"], g), _f(r["holm_p"], g), r["marker"],
                     r["wilcoxon_note"], r["ttest_note"], k, _f(r["sd_diff"]), _f(r["tost_p"], g),
                     _f(r["margin"], g), _f(r["holm_level"], g), _f(r["mde"]), int(bool(r["floor"])),
                     int(r["wins"]), int(r["ties"]), int(r["losses"]), r["verdict"]])
    return rows


def significance_csv_text(res: TableResult) -> str:
    return _csv_text(SIGNIFICANCE_COLUMNS, significance_rows(res.significance))


def render_markdown(res: TableResult) -> str:
    return render.markdown(document(res, claims_of(res.spec.name)))


def render_latex(res: TableResult) -> str:
    return render.latex(document(res, claims_of(res.spec.name)))


def cells_csv_text(res: TableResult) -> str:
    """Every cell at full precision (repr): the committed fixture a report is rebuilt from."""
    v = res.spec.value
    rows = [[r.method, r.dataset, int(r.shots), int(r.seed), repr(float(getattr(r, v)))]
            for r in res.cells.itertuples(index=False)]
    return _csv_text(["method", "dataset", "shots", "seed", v], rows)


def majority_csv_text(majority: pd.DataFrame) -> str:
    """The majority-class rate per dataset (the reference row's input), for rebuilding."""
    rows = [[r.dataset, _f(float(r.mean), "{:.12g}")] for r in majority.itertuples(index=False) if r.dataset != AVG]
    return _csv_text(["dataset", spread.MAJORITY_METRIC], rows)


def _write(p: Path, text: str) -> Path:
    with open(p, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return p


def write_markdown(res: TableResult, path=None) -> Path:
    return _write(_out_path(res, path, ".md"), render_markdown(res))


def write_latex(res: TableResult, path=None) -> Path:
    return _write(_out_path(res, path, ".tex"), render_latex(res))


def write_csv(res: TableResult, path=None) -> Path:
    return _write(_out_path(res, path, ".csv"), csv_text(res))


def write_significance_csv(res: TableResult, path=None) -> Path:
    return _write(_out_path(res, path, "_significance.csv"), significance_csv_text(res))


def write_cells_csv(res: TableResult, path=None) -> Path:
    return _write(_out_path(res, path, "_cells.csv"), cells_csv_text(res))


def write_all(res: TableResult, out_dir=None) -> list:
    """Write <name>.md, .csv, .tex, _cells.csv and _significance.csv into ``out_dir``
    (default ``reports/``), plus _majority.csv and _health.csv where the result has them
    (with _cells.csv the inputs ``reports.fixture`` rebuilds the report from); returns the paths."""
    from .health import health_csv_text

    d = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    n = res.spec.name
    paths = [
        write_markdown(res, d / f"{n}.md"),
        write_csv(res, d / f"{n}.csv"),
        write_latex(res, d / f"{n}.tex"),
        write_cells_csv(res, d / f"{n}_cells.csv"),
        write_significance_csv(res, d / f"{n}_significance.csv"),
    ]
    if res.majority is not None:
        paths.append(_write(d / f"{n}_majority.csv", majority_csv_text(res.majority)))
    if res.health is not None:
        paths.append(_write(d / f"{n}_health.csv", health_csv_text(res.health)))
    return paths
