"""Markdown and LaTeX rendering of a ``method_table.TableResult``.

Split out of ``reports.method_table`` (which builds the table and writes the
CSVs).  Besides the main table, the paired-comparison table and the paper's
numbers, the Markdown has a per-shot block (mean over seeds per dataset x
shots) when the run set has more than one shot setting, and both formats
print a "Majority class (reference)" row when the runs logged
``test_majority_accuracy``.  With explicit ``spec.pairs`` (Table 8) the
significance block lists each (row, baseline) pair; published rows whose
numbers are missing (``spec.paper_missing``) print "–".
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .paper_numbers import PAPER

if TYPE_CHECKING:  # pragma: no cover
    from .method_table import TableResult

__all__ = ["AVG", "DAGGER", "DDAGGER", "MAJORITY_LABEL", "fmt_p", "render_markdown", "render_latex"]

AVG = "Average"
DAGGER, DDAGGER = "†", "‡"
MAJORITY_LABEL = "Majority class (reference)"


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return "<0.0001"
    return f"{p:.4f}"



def _cell_text(row, decimals: int, modal_n: int | None, bold, pm: str = " ± ") -> str:
    ds = row.name  # the dataset (index label of the summary row)
    if row["n"] == 0 or not np.isfinite(row["mean"]):
        return "–"
    s = f"{row['mean']:.{decimals}f}"
    if np.isfinite(row["std"]):
        s += f"{pm}{row['std']:.{decimals}f}"
    s = bold(s) if row["best"] else s
    if modal_n is not None and row["n"] != modal_n:
        s += f" (n={int(row['n'])})"
    return s


def _modal_n(summary: pd.DataFrame, ds: str) -> int | None:
    ns = summary.loc[(summary["dataset"] == ds) & (summary["n"] > 0), "n"]
    if ns.empty:
        return None
    return int(ns.value_counts().sort_index().idxmax())


def _sig_rows(res: "TableResult") -> list:
    d = res.spec.decimals
    out = []
    for _, r in res.significance.iterrows():
        ci = "n/a" if not np.isfinite(r["ci_low"]) else f"[{r['ci_low']:+.{d}f}, {r['ci_high']:+.{d}f}]"
        diff = "n/a" if not np.isfinite(r["mean_diff"]) else f"{r['mean_diff']:+.{d}f}"
        note = r["wilcoxon_note"] or ""
        row = r["row"] if res.spec.pairs is not None else None  # explicit pairs: row − baseline
        out.append(dict(
            label=res.spec.labels.get(r["baseline"], r["baseline"]), n=int(r["n_pairs"]), diff=diff, ci=ci,
            row=res.spec.labels.get(row, row) if row is not None else None,
            w=fmt_p(r["wilcoxon_p"]), t=fmt_p(r["ttest_p"]), holm=fmt_p(r["holm_p"]),
            marker=r["marker"], note=note,
        ))
    return out


def render_markdown(res: "TableResult") -> str:
    spec, s, d = res.spec, res.summary, res.spec.decimals
    cols = res.datasets + [AVG]
    heads = []
    modal = {}
    for ds in cols:
        mn = _modal_n(s, ds)
        modal[ds] = mn
        heads.append(f"{ds} (n={mn})" if mn is not None else ds)
    out = io.StringIO()
    out.write(f"### {spec.title} — {res.scale} scale\n\n")
    out.write("| Method | " + " | ".join(heads) + " |\n")
    out.write("|---|" + "---:|" * len(cols) + "\n")
    for key, label in spec.methods:
        rows = s[s["method"] == key].set_index("dataset")
        mk = rows["marker"].iloc[0] if len(rows) else ""
        cells = [_cell_text(rows.loc[ds], d, modal[ds], lambda x: f"**{x}**") for ds in cols]
        out.write(f"| {label}{(' ' + mk) if mk else ''} | " + " | ".join(cells) + " |\n")
    if res.majority is not None:
        out.write(f"| {MAJORITY_LABEL} | " + " | ".join(_majority_cells(res, cols)) + " |\n")
    out.write("\n" + res.caption + "\n")
    out.write(_shots_markdown(res))

    if len(res.significance) and spec.pairs is not None:
        out.write(f"\n#### Paired comparisons within pairs: row − baseline "
                  f"(Holm over the {len(res.significance)} pairs)\n\n")
        out.write("| Row | Baseline | n pairs | mean diff | 95% CI | Wilcoxon p | paired t p | "
                  "Holm p (Wilcoxon) | | note |\n")
        out.write("|---|---|---:|---:|---|---:|---:|---:|---|---|\n")
        for r in _sig_rows(res):
            out.write(
                f"| {r['row']} | {r['label']} | {r['n']} | {r['diff']} | {r['ci']} | {r['w']} | {r['t']} | "
                f"{r['holm']} | {r['marker']} | {r['note']} |\n"
            )
    elif len(res.significance):
        ref = spec.labels.get(spec.reference, spec.reference)
        out.write(f"\n#### Paired comparison: {ref} − row\n\n")
        out.write("| Row | n pairs | mean diff | 95% CI | Wilcoxon p | paired t p | Holm p (Wilcoxon) | | note |\n")
        out.write("|---|---:|---:|---|---:|---:|---:|---|---|\n")
        for r in _sig_rows(res):
            out.write(
                f"| {r['label']} | {r['n']} | {r['diff']} | {r['ci']} | {r['w']} | {r['t']} | "
                f"{r['holm']} | {r['marker']} | {r['note']} |\n"
            )

    if res.paper is not None:
        p = PAPER[spec.paper]
        pcols = list(p["datasets"]) + [AVG]
        out.write(
            f"\n#### Paper ({spec.paper}, published; paper's datasets {', '.join(p['datasets'])} — "
            f"not the {res.scale}-scale datasets)\n\n"
        )
        out.write("| Method | " + " | ".join(pcols) + " |\n")
        out.write("|---|" + "---:|" * len(pcols) + "\n")
        for label, cells in _paper_rows(res, pcols, lambda t: f"**{t}**"):
            out.write(f"| {label} | " + " | ".join(cells) + " |\n")
        if not p.get("reliable", True):
            out.write(f"\nParsing caveat: {p.get('note', '')}\n")

    out.write("\n" + res.ordering + "\n")
    if res.notes:
        out.write("\nNotes: " + "; ".join(res.notes) + ".\n")
    return out.getvalue()


def _majority_cells(res: "TableResult", cols: list) -> list:
    """The reference row's cells: plain values, never bold, no ± and no marker."""
    d = res.spec.decimals
    m = res.majority.set_index("dataset")["mean"]
    return [f"{m[ds]:.{d}f}" if ds in m.index and np.isfinite(m[ds]) else "–" for ds in cols]


def _shots_markdown(res: "TableResult") -> str:
    """Per-shot block: rows methods, columns dataset x shots, mean over seeds.

    Empty when the run set has a single shot setting (the main table is then
    already per shot).
    """
    b, d = res.by_shots, res.spec.decimals
    if b is None or b.empty or b["shots"].nunique() < 2:
        return ""
    cols = [(ds, k) for ds in res.datasets for k in sorted(set(b.loc[b["dataset"] == ds, "shots"]))]
    ns = b.loc[b["n"] > 0, "n"]
    modal = int(ns.value_counts().sort_index().idxmax()) if len(ns) else 0
    idx = b.set_index(["method", "dataset", "shots"])
    out = io.StringIO()
    out.write(f"\n#### Per shot setting (mean over seeds, n = {modal} unless marked; "
              f"every run is in {res.spec.name}_cells.csv)\n\n")
    out.write("| Method | " + " | ".join(f"{ds} {k}-shot" for ds, k in cols) + " |\n")
    out.write("|---|" + "---:|" * len(cols) + "\n")
    for key, label in res.spec.methods:
        cells = []
        for ds, k in cols:
            if (key, ds, k) not in idx.index or idx.loc[(key, ds, k), "n"] == 0:
                cells.append("–")
                continue
            r = idx.loc[(key, ds, k)]
            cells.append(f"{r['mean']:.{d}f}" + (f" (n={int(r['n'])})" if int(r["n"]) != modal else ""))
        out.write(f"| {label} | " + " | ".join(cells) + " |\n")
    return out.getvalue()


def _paper_rows(res: "TableResult", pcols: list, bold) -> list:
    """(label, cells) per published row, best per column wrapped by `bold`."""
    out = []
    for key in dict.fromkeys(res.paper["method"]):
        rows = res.paper[res.paper["method"] == key].set_index("dataset")
        cells = [f"{rows.loc[ds, 'mean']:.2f}" if np.isfinite(rows.loc[ds, "mean"]) else "–"
                 for ds in pcols]  # "–": published number missing (spec.paper_missing)
        cells = [bold(t) if rows.loc[ds, "best"] else t for t, ds in zip(cells, pcols)]
        out.append((rows["label"].iloc[0], cells))
    return out


_TEX_ESC = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}"}


def _tex(s: str) -> str:
    s = "".join(_TEX_ESC.get(c, c) for c in str(s))
    return (s.replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("‡", r"$^\ddagger$")
            .replace("−", "-").replace("–", "--").replace("≥", ">=")
            .replace(">=", "\x03").replace("<", r"$<$").replace(">", r"$>$").replace("\x03", r"$\geq$"))


def render_latex(res: "TableResult") -> str:
    spec, s, d = res.spec, res.summary, res.spec.decimals
    cols = res.datasets + [AVG]
    modal = {ds: _modal_n(s, ds) for ds in cols}
    pcols = (list(PAPER[spec.paper]["datasets"]) + [AVG]) if res.paper is not None else []
    width = max(len(cols), len(pcols))

    def pad(cells):
        return " & ".join(cells) + " &" * (width - len(cells))

    out = io.StringIO()
    out.write("% generated by reports.method_table; requires \\usepackage{booktabs}\n")
    out.write("\\begin{table}[t]\n\\centering\n\\small\n")
    out.write(f"\\caption{{{_tex(res.caption)}}}\n\\label{{tab:{spec.name}-{res.scale}}}\n")
    out.write("\\begin{tabular}{l" + "r" * width + "}\n\\toprule\n")
    heads = [_tex(ds) + (f" ($n={modal[ds]}$)" if modal[ds] is not None else "") for ds in cols]
    out.write("Method & " + pad(heads) + " \\\\\n\\midrule\n")
    for key, label in spec.methods:
        rows = s[s["method"] == key].set_index("dataset")
        mk = rows["marker"].iloc[0] if len(rows) else ""
        cells = [_tex(_cell_text(rows.loc[ds], d, modal[ds], lambda x: f"\x01{x}\x02"))
                 .replace("\x01", "\\textbf{").replace("\x02", "}") for ds in cols]
        out.write(f"{_tex(label)}{_tex(mk)} & " + pad(cells) + " \\\\\n")
    if res.majority is not None:
        out.write("\\midrule\n")
        out.write(f"{_tex(MAJORITY_LABEL)} & " + pad([_tex(c) for c in _majority_cells(res, cols)]) + " \\\\\n")
    if res.paper is not None:
        out.write("\\midrule\n")
        out.write(
            f"\\multicolumn{{{width + 1}}}{{l}}{{\\emph{{Paper (published), datasets: "
            f"{_tex(', '.join(pcols[:-1]))}}}}} \\\\\n"
        )
        out.write("Method & " + pad([_tex(c) for c in pcols]) + " \\\\\n")
        for label, cells in _paper_rows(res, pcols, lambda t: f"\\textbf{{{t}}}"):
            out.write(f"{_tex(label)} & " + pad([c.replace("–", "--") for c in cells]) + " \\\\\n")
    out.write("\\bottomrule\n\\end{tabular}\n")
    if len(res.significance) and spec.pairs is not None:
        out.write("\n\\vspace{0.5em}\n\\begin{tabular}{llrrlrrrl}\n\\toprule\n")
        out.write("Row & Baseline & $n$ & row $-$ baseline & 95\\% CI & Wilcoxon $p$ & $t$-test $p$ & "
                  "Holm $p$ & \\\\\n\\midrule\n")
        for r in _sig_rows(res):
            out.write(
                f"{_tex(r['row'])} & {_tex(r['label'])} & {r['n']} & {r['diff']} & {r['ci']} & {_tex(r['w'])} & "
                f"{_tex(r['t'])} & {_tex(r['holm'])} & {_tex(r['marker'])} \\\\\n"
            )
        out.write("\\bottomrule\n\\end{tabular}\n")
    elif len(res.significance):
        ref = spec.labels.get(spec.reference, spec.reference)
        out.write("\n\\vspace{0.5em}\n\\begin{tabular}{lrrlrrrl}\n\\toprule\n")
        out.write(f"Row & $n$ & {_tex(ref)} $-$ row & 95\\% CI & Wilcoxon $p$ & $t$-test $p$ & Holm $p$ & \\\\\n\\midrule\n")
        for r in _sig_rows(res):
            out.write(
                f"{_tex(r['label'])} & {r['n']} & {r['diff']} & {r['ci']} & {_tex(r['w'])} & {_tex(r['t'])} & "
                f"{_tex(r['holm'])} & {_tex(r['marker'])} \\\\\n"
            )
        out.write("\\bottomrule\n\\end{tabular}\n")
    out.write("\\end{table}\n")
    return out.getvalue()

