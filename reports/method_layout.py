"""Layout of a "methods x datasets" table (Tables 1, 3-8) in the table model.

``document(res, claims)`` turns a ``method_table.TableResult`` into a
``reports.model.Doc``: the design paragraph (what the table can detect, read
before any p-value), the main table with the majority-class reference row,
the caption, the per-shot block, the numbered paired comparisons with their
verdicts, the paper's numbers, the ordering paragraph, the mechanism-health
section (where the result carries one) and the verdict paragraph in the
claims ledger's words.  It reads the result's fields only and imports no
builder, so the builder -> layout -> model/render imports point one way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .claim_list import both_below_majority, claim_result, ledger_words
from .health import health_text
from .model import AVG, MAJORITY_LABEL, Cell, Doc, Table, Text, fmt_p
from .paper_numbers import PAPER
from .stats import min_wilcoxon_p

__all__ = ["document", "design_text", "verdict_paragraph", "below_majority_text"]


def below_majority_text(summary: pd.DataFrame, labels: dict, avg: str = AVG) -> str:
    """A sentence when every row with an Average lies below the majority-class rate."""
    s = summary[(summary["dataset"] == avg) & np.isfinite(summary["mean"].to_numpy(dtype=float))]
    if "below_majority" not in s.columns or s.empty or not bool(s["below_majority"].all()):
        return ""
    rows = ", ".join(labels.get(k, k) for k in s["method"])
    return (f"Every row ({rows}) is below the majority-class rate on average: no method here beats always "
            f"predicting the most frequent class, so their order says nothing for or against the paper's "
            f"claim, whatever the sign of the difference.")


def design_text(sig: pd.DataFrame, alpha: float, margin: float) -> str:
    """What a table's design can detect: floor, MDE range, margin (read before any p-value)."""
    ok = sig[np.isfinite(sig["mean_diff"].to_numpy(dtype=float))] if len(sig) else sig
    if not len(ok):
        return "**What this design can detect.** No comparison has paired cells."
    k = int(np.isfinite(sig["wilcoxon_p"].to_numpy(dtype=float)).sum())
    ns = sorted(set(int(n) for n in ok["n_pairs"]))
    n_txt = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    mdes = ok["mde"].to_numpy(dtype=float)
    mdes = mdes[np.isfinite(mdes)]
    mde_txt = ("n/a" if not mdes.size else f"{mdes.min():.1f}" if round(mdes.min(), 1) == round(mdes.max(), 1)
               else f"{mdes.min():.1f}-{mdes.max():.1f}")
    out = [f"**What this design can detect.** {len(ok)} comparison(s) of {n_txt} paired cells, Holm over "
           f"{k}."]
    if bool(ok["floor"].all()):
        worst = int(ok["wilcoxon_n_nonzero"].max())
        out.append(f"No comparison can be significant whatever the data: with at most {worst} non-zero "
                   f"differences the exact two-sided Wilcoxon p cannot go below 2/2^{worst} = "
                   f"{min_wilcoxon_p(worst):.4g}, above Holm's first threshold {alpha}/{k} = "
                   f"{alpha / max(k, 1):.4g}.")
    elif bool(ok["floor"].any()):
        out.append(f"{int(ok['floor'].sum())} comparison(s) cannot be significant whatever the data "
                   f"(column floor).")
    out.append(f"At 80% power (paired t approximation, at each comparison's Holm level) it detects "
               f"differences of {mde_txt} accuracy points; smaller true differences are likely missed. "
               f"Equivalence margin ±{margin:g} (TOST).")
    return " ".join(out)


def verdict_paragraph(sig: pd.DataFrame, claims, decimals: int = 2, summary=None) -> str:
    lines = [ledger_words(c, claim_result(c, sig), decimals, both_below_majority(c, summary)) for c in claims]
    if not lines:
        return ""
    return ("**Verdict (claims ledger, reports/claims.md).** " + "; ".join(lines) + ".")


def _modal_n(summary: pd.DataFrame, ds: str):
    ns = summary.loc[(summary["dataset"] == ds) & (summary["n"] > 0), "n"]
    if ns.empty:
        return None
    return int(ns.value_counts().sort_index().idxmax())


def _entry(row, decimals: int, modal_n) -> Cell:
    if row["n"] == 0 or not np.isfinite(row["mean"]):
        return Cell("–")
    s = f"{row['mean']:.{decimals}f}"
    if np.isfinite(row["std"]):
        s += f" ± {row['std']:.{decimals}f}"
    if modal_n is not None and row["n"] != modal_n:
        s += f" (n={int(row['n'])})"
    return Cell(s, bool(row["best"]))


def _main_table(res) -> Table:
    spec, s, d = res.spec, res.summary, res.spec.decimals
    cols = res.datasets + [AVG]
    modal = {ds: _modal_n(s, ds) for ds in cols}
    rows = []
    for key, label in spec.methods:
        r = s[s["method"] == key].set_index("dataset")
        mk = r["marker"].iloc[0] if len(r) else ""
        rows.append([label + (f" {mk}" if mk else "")] + [_entry(r.loc[ds], d, modal[ds]) for ds in cols])
    rules = ()
    if res.majority is not None:
        m = res.majority.set_index("dataset")["mean"]
        rules = (len(rows),)
        rows.append([MAJORITY_LABEL] + [f"{m[ds]:.{d}f}" if ds in m.index and np.isfinite(m[ds]) else "–"
                                        for ds in cols])
    heads = [f"{ds} (n={modal[ds]})" if modal[ds] is not None else ds for ds in cols]
    return Table(["Method"] + heads, rows, "l" + "r" * len(cols), rules=rules)


def _shots_table(res) -> Table | None:
    b, d = res.by_shots, res.spec.decimals
    if b is None or b.empty or b["shots"].nunique() < 2:
        return None
    cols = [(ds, k) for ds in res.datasets for k in sorted(set(b.loc[b["dataset"] == ds, "shots"]))]
    ns = b.loc[b["n"] > 0, "n"]
    modal = int(ns.value_counts().sort_index().idxmax()) if len(ns) else 0
    idx = b.set_index(["method", "dataset", "shots"])
    rows = []
    for key, label in res.spec.methods:
        cells = []
        for ds, k in cols:
            if (key, ds, k) not in idx.index or idx.loc[(key, ds, k), "n"] == 0:
                cells.append("–")
                continue
            r = idx.loc[(key, ds, k)]
            cells.append(f"{r['mean']:.{d}f}" + (f" (n={int(r['n'])})" if int(r["n"]) != modal else ""))
        rows.append([label] + cells)
    return Table(["Method"] + [f"{ds} {k}-shot" for ds, k in cols], rows, "l" + "r" * len(cols),
                 heading=f"Per shot setting (mean over seeds, n = {modal} unless marked; every run is in "
                         f"{res.spec.name}_cells.csv)", latex=False)


def comparison_table(sig: pd.DataFrame, labels: dict, decimals: int, margin: float, heading: str) -> Table:
    """The numbered paired comparisons with their verdict columns (also Table 2's)."""
    d = decimals
    rows = []
    for k, (_, r) in enumerate(sig.iterrows(), 1):
        ok = np.isfinite(r["mean_diff"])
        ci = "n/a" if not np.isfinite(r["ci_low"]) else f"[{r['ci_low']:+.{d}f}, {r['ci_high']:+.{d}f}]"
        mde = f"{r['mde']:.2f}" if np.isfinite(r["mde"]) else "n/a"
        rows.append([str(k), labels.get(r["row"], r["row"]), labels.get(r["baseline"], r["baseline"]),
                     str(int(r["n_pairs"])), f"{r['mean_diff']:+.{d}f}" if ok else "n/a", ci,
                     f"{int(r['wins'])}/{int(r['ties'])}/{int(r['losses'])}", fmt_p(r["wilcoxon_p"]),
                     fmt_p(r["ttest_p"]), fmt_p(r["holm_p"]), f"{r['holm_level']:.4g}", mde,
                     "cannot reach" if r["floor"] else "", fmt_p(r["tost_p"]), r["verdict"], r["marker"],
                     r["wilcoxon_note"] or ""])
    head = ["#", "First", "Second", "n pairs", "first − second", "95% CI", "W/T/L", "Wilcoxon p",
            "paired t p", "Holm p", "Holm level", "MDE (80%)", "floor", f"TOST p (±{margin:g})", "verdict",
            "mark", "note"]
    return Table(head, rows, "rllrrlrrrrrrlrll" + "l", heading=heading)


def _paper_table(res) -> tuple[Table, str]:
    p = PAPER[res.spec.paper]
    pcols = list(p["datasets"]) + [AVG]
    rows = []
    for key in dict.fromkeys(res.paper["method"]):
        r = res.paper[res.paper["method"] == key].set_index("dataset")
        rows.append([r["label"].iloc[0]] + [
            Cell(f"{r.loc[ds, 'mean']:.2f}", bool(r.loc[ds, "best"])) if np.isfinite(r.loc[ds, "mean"])
            else Cell("–") for ds in pcols])
    heading = (f"Paper ({res.spec.paper}, published; paper's datasets {', '.join(p['datasets'])} — "
               f"not the {res.scale}-scale datasets)")
    caveat = "" if p.get("reliable", True) else f"Parsing caveat: {p.get('note', '')}"
    return Table(["Method"] + pcols, rows, "l" + "r" * len(pcols), heading=heading), caveat


def document(res, claims=()) -> Doc:
    spec = res.spec
    blocks = [Text(design_text(res.significance, spec.alpha, spec.equivalence_margin)), _main_table(res),
              Text(res.caption)]
    shots = _shots_table(res)
    if shots is not None:
        blocks.append(shots)
    if len(res.significance):
        k = len(res.significance)
        what = ("within pairs: row − baseline" if spec.pairs is not None
                else f"{spec.labels.get(spec.reference, spec.reference)} − row")
        blocks.append(comparison_table(res.significance, spec.labels, spec.decimals, spec.equivalence_margin,
                                       f"Paired comparisons ({what}; Holm over the {k})"))
    if res.paper is not None:
        table, caveat = _paper_table(res)
        blocks.append(table)
        if caveat:
            blocks.append(Text(caveat))
    blocks.append(Text(res.ordering))
    health = health_text(res.health, spec.labels)
    if health:
        blocks.append(Text(health, heading="Mechanism health (from each LLM run's rounds.json)"))
    v = verdict_paragraph(res.significance, claims, spec.decimals, res.summary)
    if v:
        blocks.append(Text(v))
    if res.notes:
        blocks.append(Text("Notes: " + "; ".join(res.notes) + "."))
    return Doc(f"{spec.title} — {res.scale} scale", res.caption, f"tab:{spec.name}-{res.scale}", blocks)
