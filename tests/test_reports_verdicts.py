"""Verdicts, the table model, the claims ledger and the committed reports' rebuild (issue 22)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from reports import verdict
from reports.method_table import TableSpec, build_table, render_latex, render_markdown

REPORTS = Path(__file__).resolve().parent.parent / "reports"
SPEC = TableSpec(name="tv", title="Test table", methods=(("a", "A"), ("b", "B")), reference="a",
                 n_resamples=999)


def cells(shift: float, n_seeds: int, noise: float, seed: int = 0, datasets=("d1", "d2")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for ds in datasets:
        for shots in (1, 4, 16):
            for s in range(1, n_seeds + 1):
                base = 70.0 + rng.normal(0, 3)
                rows.append(dict(method="b", dataset=ds, shots=shots, seed=s, test_accuracy=base))
                rows.append(dict(method="a", dataset=ds, shots=shots, seed=s,
                                 test_accuracy=base + shift + rng.normal(0, noise)))
    return pd.DataFrame(rows)


def test_known_shift_is_better_and_its_mirror_worse():
    r = build_table(cells(3.0, 5, 0.5), SPEC).significance.iloc[0]
    assert r["verdict"] == "better" and r["wins"] == 30 and r["losses"] == 0 and not r["floor"]
    r = build_table(cells(-3.0, 5, 0.5), SPEC).significance.iloc[0]
    assert r["verdict"] == "worse" and r["losses"] == 30


def test_identical_cells_with_small_noise_are_equivalent():
    r = build_table(cells(0.0, 5, 0.2), SPEC).significance.iloc[0]
    assert r["verdict"] == "equivalent (within ±1)" and r["tost_p"] < 0.05


def test_large_noise_is_inconclusive_with_its_detectable_effect():
    r = build_table(cells(0.0, 2, 4.0), SPEC).significance.iloc[0]
    assert r["verdict"].startswith("inconclusive (could detect ≥ ") and r["mde"] > 1.0
    assert r["verdict"] == f"inconclusive (could detect ≥ {r['mde']:.1f})"


def test_four_cells_cannot_reach_significance():
    df = cells(5.0, 2, 0.1, datasets=("d1",))
    df = df[df["shots"].isin([1, 4])]  # 2 shots x 2 seeds = 4 pairs: 2/2^4 = 0.125 > 0.05
    res = build_table(df, SPEC)
    r = res.significance.iloc[0]
    assert r["n_pairs"] == 4 and r["floor"] and r["verdict"].startswith("inconclusive")
    md = render_markdown(res)
    design = md.index("No comparison can be significant whatever the data")
    assert design < md.index("Wilcoxon p")  # the design is said before any p-value


def test_mde_and_tost_agree_with_independent_computations():
    d = np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.05, -0.1, 0.35, 0.2])
    # TOST = the larger of two one-sided t tests against -1 and +1
    lo = st.ttest_1samp(d, -1.0, alternative="greater").pvalue
    hi = st.ttest_1samp(d, 1.0, alternative="less").pvalue
    assert verdict.tost_p(d, 1.0) == pytest.approx(max(lo, hi), rel=1e-9)
    # at the MDE, a two-sided paired t test of n pairs has 80% power (noncentral t)
    n, sd, alpha = 18, 2.13, 0.05 / 6
    m = verdict.mde(sd, n, alpha)
    crit = st.t.ppf(1 - alpha / 2, n - 1)
    nc = m / sd * np.sqrt(n)
    power = st.nct.sf(crit, n - 1, nc) + st.nct.cdf(-crit, n - 1, nc)
    assert power == pytest.approx(0.8, abs=1e-5)
    assert m == pytest.approx(1.95, abs=0.01)  # issue 22: about 2.0 at Holm's first step over 6
    need = verdict.pairs_needed(m, sd, alpha)
    assert need in (18, 19)
    # Table 3's grid: statsmodels answers n = 48 at 0.05/6 with a 1-element array
    # (the report of the re-recording failed on it); checked the same way.
    m = verdict.mde(sd, 48, alpha)
    nc = m / sd * np.sqrt(48)
    crit = st.t.ppf(1 - alpha / 2, 47)
    assert isinstance(m, float)
    assert st.nct.sf(crit, 47, nc) + st.nct.cdf(-crit, 47, nc) == pytest.approx(0.8, abs=1e-5)


def test_holm_levels_follow_the_step_down():
    lv = verdict.holm_levels([0.001, 0.2, 0.01, np.nan], 0.05)
    # 0.001 < 0.05/3 rejected at 0.05/3; 0.01 < 0.05/2 rejected at 0.05/2; 0.2 kept, faces 0.05/1
    assert lv[0] == pytest.approx(0.05 / 3) and lv[2] == pytest.approx(0.025) and lv[1] == pytest.approx(0.05)
    assert np.isnan(lv[3])
    lv = verdict.holm_levels([0.3, 0.2, 0.4], 0.05)  # none rejected: all face the first step
    assert np.allclose(lv, 0.05 / 3)


def test_a_row_that_wins_twice_is_marked_with_both_comparisons():
    spec = TableSpec(name="tw", title="T", methods=(("a", "A"), ("b", "B"), ("c", "C")), reference=None,
                     pairs=(("a", "b"), ("c", "b"), ("a", "c")), n_resamples=999)
    rng = np.random.default_rng(1)
    rows = []
    for ds in ("d1", "d2", "d3"):
        for shots in (1, 4, 16):
            for s in (1, 2, 3):
                base = 60 + rng.normal(0, 3)
                for m, off in (("a", 4.0), ("b", 0.0), ("c", 0.1)):
                    rows.append(dict(method=m, dataset=ds, shots=shots, seed=s,
                                     test_accuracy=base + off + rng.normal(0, 0.3)))
    res = build_table(pd.DataFrame(rows), spec)
    marks = dict(zip(res.summary["method"], res.summary["marker"]))
    assert marks["a"] == "†1,3" and marks["b"] == ""  # the loser carries no mark
    assert "| A †1,3 |" in render_markdown(res)


def test_table1_never_bolds_below_the_majority_line_and_says_so():
    from reports.table1 import SPEC as T1

    rows = []
    for ds, maj in (("cause_and_effect", 53.333333333333336), ("winowhy", 56.853932584269664)):
        for s in (1, 2, 3):
            for m, v in (("gradient", 50.0 + s), ("combined", 48.0 + s)):
                rows.append(dict(method=m, dataset=ds, shots=32, seed=s, test_accuracy=v,
                                 test_majority_accuracy=maj))
    res = build_table(pd.DataFrame(rows), T1)
    md = render_markdown(res)
    ours = md[:md.index("#### Paper")]
    assert "**" not in ours.replace("**What this design can detect.**", "")
    assert "textbf" not in render_latex(res).split("Paper")[0]
    assert "Every row (PT, Ours) is below the majority-class rate" in md
    assert "Kendall" not in md  # two rows: no rank correlation


def test_reports_have_no_import_cycle():
    graph = {}
    for p in REPORTS.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                deps |= {n.split(".")[0] for n in names}
        graph[p.stem] = deps & {q.stem for q in REPORTS.glob("*.py")}

    def reach(start):
        seen, todo = set(), list(graph[start])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += graph.get(n, ())
        return seen

    cyclic = sorted(m for m in graph if m in reach(m) and m != "__main__")
    assert not cyclic, f"import cycle through {cyclic}"


def _rebuilt_tables():
    out = []
    for p in sorted(REPORTS.glob("table*_significance.csv")):
        if "verdict" in p.read_text(encoding="utf-8").splitlines()[0].split(","):
            out.append(p.name[: -len("_significance.csv")])
    return out


@pytest.mark.parametrize("table", _rebuilt_tables())
def test_committed_report_rebuilds_byte_identically_from_its_committed_inputs(table, tmp_path):
    from reports import fixture

    res = fixture.rebuild(table)
    if table == "table2":
        from reports.table2 import write_all
    else:
        from reports.method_table import write_all
    for p in write_all(res, tmp_path):
        assert p.read_bytes() == (REPORTS / p.name).read_bytes(), f"{p.name} differs from the committed one"


def test_claims_ledger_lists_every_claim_with_a_verdict_word():
    from reports.claim_list import CLAIMS

    text = (REPORTS / "claims.md").read_text(encoding="utf-8")
    for c in CLAIMS:
        assert f"| {c.id} |" in text
    words = ("better", "worse", "equivalent", "inconclusive", "not run at this scale")
    lines = [ln for ln in text.splitlines() if ln.startswith("| T") or ln.startswith("| F")]
    assert len(lines) == len(CLAIMS) and all(any(w in ln for w in words) for ln in lines)
    readme = (REPORTS.parent / "README.md").read_text(encoding="utf-8")
    from reports.claims import build_ledger, summary_text

    assert summary_text(build_ledger()) in readme


def test_round_health_of_recorded_round_entries():
    from maao.round_health import round_health

    entry = {"round": 1, "trajectory": [{"text": "a b", "loss": 1.0}, {"text": "a b", "loss": 1.0}],
             "shown": [{"text": "a b", "loss": 1.0}], "proposals": [{"text": "A, b {}.", "loss": 1.2}],
             "restart_from": "A, b {}.", "fallback": False, "dropped": [{"line": "x", "reason": "y"}]}
    h = round_health(entry)
    assert h == {"round": 1, "trajectory_distinct": 1, "shown_distinct": 1, "restart": "worse", "echo": True,
                 "dropped": 1, "fallback": False}
    h = round_health({**entry, "proposals": [], "fallback": True, "restart_from": "a b"})
    assert h["restart"] == "equal" and h["fallback"] and not h["echo"]
