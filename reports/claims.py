"""The claims ledger: reports/claims.md and claims.csv, one row per claim of the paper.

Each claim (``reports.claim_list``) is one comparison of one table, read
from the table's committed outputs (``<table>_significance.csv``, ``.csv``,
``_cells.csv``, ``_health.csv``), so the ledger and the tables cannot
disagree; a table not yet written by this version (no verdict column) shows
its claims as not run.  Per claim: the paper's evidence,
the mini effect (first − second) with its 95% CI, the verdict word
(``reports.verdict``), n paired cells, wins/ties/losses, the minimum
detectable effect at 80% power at the comparison's Holm level, the pairs
(cells) and seeds a run would need to detect the paper's own effect at 80%
power given the SD of the differences measured here (paired t approximation,
statsmodels TTestPower), and the mechanism's health of the LLM row.

Figure 2's claim is about spread, not a mean: per dataset, the seed-to-seed
SD of the final test accuracy (reports/figure2.csv, last step) of random
init vs combined, with a two-sided F test of the variance ratio (scipy).

    python -m reports claims
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from scipy import stats as _st

from . import verdict
from .claim_list import CLAIMS, both_below_majority, claim_result, ledger_words
from .health import method_summary, summary_words
from .model import Doc, Table, Text, csv_text, fmt_num
from .render import markdown

__all__ = ["build_ledger", "write_ledger", "ledger_markdown", "ledger_csv_text", "summary_text"]

DEFAULT_DIR = Path(__file__).resolve().parent
TABLES = ("table1", "table2", "table3", "table4", "table5", "table6", "table7", "table8")


def _figure2(d: Path, alpha: float = 0.05) -> dict | None:
    p = d / "figure2.csv"
    if not p.is_file():
        return None
    last = {}
    for r in csv.DictReader(open(p, encoding="utf-8")):
        k = (r["dataset"], r["method"])
        if k not in last or int(r["step"]) > int(last[k]["step"]):
            last[k] = r
    parts, diffs, ps, crit = [], [], [], []
    for ds in sorted({k[0] for k in last}):
        a, b = last.get((ds, "random_init")), last.get((ds, "combined"))
        if a is None or b is None:
            continue
        sa, sb, na, nb = float(a["std"]), float(b["std"]), int(a["n"]), int(b["n"])
        diffs.append(sa - sb)
        # two-sided F test of var(random) / var(combined); the ratio it needs to reach alpha
        f = (sa ** 2) / (sb ** 2) if sb > 0 else math.inf
        p_f = 2 * min(_st.f.sf(f, na - 1, nb - 1), _st.f.cdf(f, na - 1, nb - 1)) if math.isfinite(f) else math.nan
        ps.append(p_f)
        crit.append(math.sqrt(_st.f.ppf(1 - alpha / 2, na - 1, nb - 1)))
        parts.append(f"{ds}: SD {sa:.2f} (random init) vs {sb:.2f} (combined), n = {na}/{nb} seeds")
    if not diffs:
        return None
    finite = [x for x in ps if np.isfinite(x)]
    sig = bool(finite) and max(finite) < alpha / len(ps)
    word = "better" if sig and all(x > 0 for x in diffs) else "inconclusive"
    detect = f"SD ratio ≥ {min(crit):.1f}" if crit else "n/a"
    text = word if word != "inconclusive" else f"inconclusive (could detect {detect})"
    return dict(mean_diff=float(np.mean(diffs)), verdict=text, n=len(diffs), detail="; ".join(parts),
                p=", ".join("F test undefined (an SD is 0)" if not np.isfinite(x) else f"F test p = {x:.3f}"
                            for x in ps), detect=detect)


class _TableOutputs:
    """A table's committed outputs, as the ledger reads them."""

    def __init__(self, d: Path, table: str):
        import pandas as pd

        from .health import read_health_csv

        self.significance = pd.read_csv(d / f"{table}_significance.csv", keep_default_na=False,
                                        na_values=[""])
        self.significance["verdict"] = self.significance["verdict"].astype(str)
        summary = pd.read_csv(d / f"{table}.csv", keep_default_na=False, na_values=[""])
        summary = summary[summary["source"] != "paper"]
        self.summary = None
        if "below_majority" in summary.columns:
            summary = summary.assign(below_majority=summary["below_majority"].fillna(0).astype(int).astype(bool))
            if table == "table2":
                summary = summary[summary["shots"].astype(str) == "Avg."]
            self.summary = summary[["method", "dataset", "below_majority"]]
        cells = pd.read_csv(d / f"{table}_cells.csv")
        self.cells_per_seed = int(len(cells.drop_duplicates(["dataset", "shots"])))
        h = d / f"{table}_health.csv"
        self.health = read_health_csv(h) if h.is_file() else None


def _outputs(d: Path, table: str):
    if not (d / f"{table}_significance.csv").is_file():
        return None
    head = (d / f"{table}_significance.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    return _TableOutputs(d, table) if "verdict" in head else None


def build_ledger(d=DEFAULT_DIR) -> list:
    """One dict per claim, in CLAIMS order, from each table's committed outputs."""
    d = Path(d)
    results = {t: _outputs(d, t) for t in TABLES}
    rows = []
    for c in CLAIMS:
        row = dict(claim=c, result=None, res=None, health="", needed_pairs=math.nan, needed_seeds=math.nan,
                   figure=None, below=False)
        if c.table == "figure2":
            row["figure"] = _figure2(d)
            rows.append(row)
            continue
        res = results.get(c.table)
        if res is None:
            rows.append(row)
            continue
        r = claim_result(c, res.significance)
        row.update(result=r, res=res, below=both_below_majority(c, res.summary))
        if r is not None and np.isfinite(c.paper_effect) and c.paper_effect > 0:
            need = verdict.pairs_needed(c.paper_effect, r["sd_diff"], r["holm_level"])
            row["needed_pairs"] = need
            if np.isfinite(need) and res.cells_per_seed:
                row["needed_seeds"] = math.ceil(need / res.cells_per_seed)
        if res.health is not None and c.first in set(res.health["method"]):
            row["health"] = summary_words(method_summary(res.health[res.health["method"] == c.first])[c.first])
        rows.append(row)
    return rows


def _num(x, fmt="{:+.2f}") -> str:
    return fmt.format(x) if x is not None and np.isfinite(x) else "n/a"


def _verdict_of(row) -> str:
    if row["figure"] is not None:
        return row["figure"]["verdict"]
    r = row["result"]
    return "not run at this scale" if r is None else r["verdict"]


def summary_text(rows) -> str:
    """The ledger's summary, which README's results section opens with."""
    words = [_verdict_of(r).split(" (")[0] for r in rows]
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    floors = [r["claim"].id for r in rows if r["result"] is not None and r["result"]["floor"]]
    eq = [r["claim"].id for r in rows if _verdict_of(r).startswith("equivalent")]
    better = [r["claim"].id for r in rows if _verdict_of(r) == "better"]
    worse = [r["claim"].id for r in rows if _verdict_of(r) == "worse"]
    out = [f"{len(rows)} claims of the paper tested at mini scale: "
           + ", ".join(f"{n} {w}" for w, n in counts.items()) + "."]
    if better:
        out.append(f"Supported (significantly better): {', '.join(better)}.")
    if worse:
        out.append(f"Contradicted (significantly worse): {', '.join(worse)}.")
    if eq:
        out.append(f"Equivalent within the ±{verdict.DEFAULT_MARGIN:g}-point margin: {', '.join(eq)}.")
    if floors:
        out.append(f"By design these cannot reach significance whatever the data (too few pairs for "
                   f"Holm's level): {', '.join(floors)}.")
    out.append("An inconclusive verdict is not evidence of no effect: its row says the smallest effect the "
               "mini design could detect and the seeds a run would need to see the paper's.")
    return " ".join(out)


def ledger_csv_text(rows) -> str:
    head = ["id", "table", "claim", "first", "second", "paper_evidence", "paper_effect", "mini_effect",
            "ci_low", "ci_high", "verdict", "n_pairs", "wins", "ties", "losses", "mde", "floor",
            "pairs_needed_for_paper_effect", "seeds_needed_for_paper_effect", "mechanism_health",
            "both_rows_below_majority"]
    out = []
    for row in rows:
        c, r, fig = row["claim"], row["result"], row["figure"]
        base = [c.id, c.table, c.text, c.first, c.second, c.evidence, fmt_num(c.paper_effect)]
        if fig is not None:
            out.append(base + [fmt_num(fig["mean_diff"]), "", "", fig["verdict"], fig["n"], "", "", "", "",
                               "", "", "", fig["detail"] + "; " + fig["p"], ""])
        elif r is None:
            out.append(base + ["", "", "", _verdict_of(row)] + [""] * 9 + [row["health"], ""])
        else:
            out.append(base + [fmt_num(r["mean_diff"]), fmt_num(r["ci_low"]), fmt_num(r["ci_high"]), r["verdict"],
                               r["n_pairs"], r["wins"], r["ties"], r["losses"], fmt_num(r["mde"]),
                               int(r["floor"]), fmt_num(row["needed_pairs"], "{:.0f}"),
                               fmt_num(row["needed_seeds"], "{:.0f}"), row["health"], int(row["below"])])
    return csv_text(head, out)


def ledger_markdown(rows) -> str:
    trs = []
    for row in rows:
        c, r, fig = row["claim"], row["result"], row["figure"]
        if fig is not None:
            trs.append([c.id, c.text, c.evidence, "–", f"{fig['mean_diff']:+.2f} (SD reduction)", fig["verdict"],
                        f"{fig['n']} datasets", "–", fig["detect"], "n/a", fig["detail"] + "; " + fig["p"]])
            continue
        if r is None:
            trs.append([c.id, c.text, c.evidence, _num(c.paper_effect), "–", _verdict_of(row), "–", "–", "–",
                        "–", row["health"] or "–"])
            continue
        ci = "n/a" if not np.isfinite(r["ci_low"]) else f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        need = ("n/a" if not np.isfinite(row["needed_pairs"]) else
                f"{row['needed_pairs']:.0f} cells ({row['needed_seeds']:.0f} seeds)")
        trs.append([c.id, c.text, c.evidence, _num(c.paper_effect), f"{r['mean_diff']:+.2f} {ci}",
                    f"**{r['verdict']}**" + (" (both rows below the majority-class rate)" if row["below"] else ""), str(r["n_pairs"]) + (" (floor)" if r["floor"] else ""),
                    f"{r['wins']}/{r['ties']}/{r['losses']}", _num(r["mde"], "{:.2f}"), need,
                    row["health"] or "–"])
    head = ["Claim", "What the paper claims", "Paper's evidence", "Paper effect", "Mini effect [95% CI]",
            "Verdict", "n cells", "W/T/L", "MDE (80%)", "Needed for the paper's effect (80%)",
            "Mechanism health (LLM row)"]
    words = "; ".join(ledger_words(row["claim"], row["result"], below_majority=row["below"])
                      for row in rows if row["figure"] is None)
    doc = Doc("Claims ledger — the paper's claims at mini scale", "", "tab:claims", [
        Text("**Summary.** " + summary_text(rows)),
        Table(head, trs, "l" * 3 + "rr" + "l" + "rrr" + "ll"),
        Text("Effect: first − second as the claim states it (accuracy points), paired over (dataset, shots, "
             "seed) cells; verdict, floor, W/T/L and MDE as in each table's paired-comparison block "
             f"({verdict.method_text(0.05, verdict.DEFAULT_MARGIN)}) Needed: the cells (and seeds, at this "
             "table's datasets x shots per seed) a two-sided paired t-test needs to detect the paper's effect "
             "with 80% power at the comparison's Holm level, given the SD of the differences measured here; "
             "n/a where the paper publishes no positive effect. Paper effects are differences of the paper's "
             "averages on its own datasets and backbones, not comparable in size to the mini scale's; they are "
             "used only as the effect a replication should be able to see. Generated by `python -m reports "
             "claims` from each table's committed outputs (reports/<table>_significance.csv and beside it)."),
        Text("In the tables' words: " + words + "."),
    ])
    return markdown(doc)


def write_ledger(rows, out=None) -> list:
    d = Path(out) if out is not None else DEFAULT_DIR
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("claims.md", ledger_markdown(rows)), ("claims.csv", ledger_csv_text(rows))):
        p = d / name
        with open(p, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        paths.append(p)
    return paths
