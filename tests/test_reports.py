"""Tests for reports/ (statistics, tables, MLflow loading, CLI). Offline, fast."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from reports import stats
from reports.method_table import AVG
from reports.paper_numbers import PAPER, TABLE3_METHODS, paper_average
from reports.table3 import build_table, write_all

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# stats
# --------------------------------------------------------------------------
def test_holm_hand_worked():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005, 0.01, 0.03, 0.04
    #   0.005*4 = 0.02 ; 0.01*3 = 0.03 ; 0.03*2 = 0.06 ; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])


def test_holm_gains_over_is_one_sided_and_holm_adjusted():
    base = [50.0 + i for i in range(10)]
    up = [b + 1 + i / 10 for i, b in enumerate(base)]           # every cell gains
    down = [b - 1 - i / 10 for i, b in enumerate(base)]         # every cell loses
    adj = stats.holm_gains_over(base, {"up": up, "down": down})
    assert list(adj) == ["up", "down"]
    raw_up = st.wilcoxon(np.subtract(up, base), alternative="greater").pvalue
    assert adj["up"] == pytest.approx(2 * raw_up)                # the smaller of two: x2
    assert adj["down"] == pytest.approx(1.0)


def test_holm_caps_and_nan():
    adj = stats.holm([0.5, np.nan, 0.3])
    # m = 2 (NaN excluded): 0.3*2 = 0.6 ; 0.5*1 = 0.5 -> 0.6
    assert math.isnan(adj[1])
    np.testing.assert_allclose(adj[[0, 2]], [0.6, 0.6])
    np.testing.assert_allclose(stats.holm([0.9, 0.8]), [1.0, 1.0])
    assert stats.holm([]).size == 0


def test_wilcoxon_and_t_match_scipy():
    a = np.array([71.2, 69.8, 73.5, 70.1, 72.9, 68.4, 71.7, 74.0])
    b = np.array([70.0, 70.3, 71.1, 68.2, 72.0, 65.9, 71.3, 70.5])
    w = stats.wilcoxon_test(a, b)
    ref = st.wilcoxon(a - b, method="exact")
    assert w.method == "exact" and w.n == 8
    assert w.statistic == pytest.approx(ref.statistic)
    assert w.pvalue == pytest.approx(ref.pvalue)
    t = stats.paired_t_test(a, b)
    tref = st.ttest_rel(a, b)
    assert t.statistic == pytest.approx(tref.statistic)
    assert t.pvalue == pytest.approx(tref.pvalue)


def test_wilcoxon_ties_exact_signflip():
    d = np.array([1.2, -0.5, 2.4, 1.9, 0.9, 2.5, 0.5, 3.5])  # |0.5| tied
    w = stats.wilcoxon_test(d)
    assert w.method == "exact-ties" and "tied" in w.note
    # brute force: mid-ranks 1..8 with 1.5, 1.5 for the tie; T+ = 36 - 1.5 = 34.5
    assert w.statistic == pytest.approx(1.5)
    ranks = st.rankdata(np.abs(d))
    signs = np.array([[(i >> j) & 1 for j in range(8)] for i in range(256)])
    null = signs @ ranks
    assert w.pvalue == pytest.approx(np.mean(np.abs(null - 18) >= 16.5))
    # large tied samples fall back to scipy's normal approximation
    big = np.tile([1.0, 2.0, -0.5, 3.0, 2.0], 6)
    wb = stats.wilcoxon_test(big)
    assert wb.method == "approx"
    assert wb.pvalue == pytest.approx(st.wilcoxon(big, method="approx").pvalue)


def test_wilcoxon_drops_zeros():
    d = np.array([0.0, 1.0, 2.0, -0.5, 3.0, 4.0, 0.0])
    w = stats.wilcoxon_test(d)
    ref = st.wilcoxon(d[d != 0], method="exact")
    assert w.n == 5 and w.pvalue == pytest.approx(ref.pvalue)
    assert "zero" in w.note


@pytest.mark.parametrize("d", [np.zeros(6), np.array([]), np.array([1.5]), np.full(5, 2.0), np.zeros(1)])
def test_degenerate_inputs_do_not_crash(d):
    w = stats.wilcoxon_test(d)
    t = stats.paired_t_test(d)
    ci = stats.bootstrap_ci(d)
    c = stats.paired_comparison(d, np.zeros_like(d))
    assert c.n_pairs == d.size
    if d.size and np.all(d == 0):
        assert w.pvalue == 1.0 and w.note
    if d.size == 0:
        assert math.isnan(w.pvalue) and w.note == "no pairs"
        assert math.isnan(ci.low)
    if d.size == 1:
        assert math.isnan(t.pvalue) and t.note
        assert ci.method == "none"
    if d.size == 5:  # all equal, non-zero
        assert ci.method == "degenerate" and ci.low == ci.high == 2.0
        assert w.pvalue == pytest.approx(stats.min_wilcoxon_p(5))  # 0.0625
        assert math.isnan(t.pvalue) and "variance" in t.note


def test_bootstrap_deterministic_and_contains_mean():
    rng = np.random.default_rng(3)
    d = rng.normal(1.0, 0.5, size=12)
    a = stats.bootstrap_ci(d, random_state=0)
    b = stats.bootstrap_ci(d, random_state=0)
    assert (a.low, a.high, a.method) == (b.low, b.high, b.method)
    assert a.method == "BCa"
    assert a.low < d.mean() < a.high


def test_min_wilcoxon_p():
    assert stats.min_wilcoxon_p(5) == 0.0625
    assert stats.min_wilcoxon_p(6) == 0.03125
    assert stats.min_wilcoxon_p(0) == 1.0
    assert stats.min_n_for_alpha(0.05, 1) == 6
    assert stats.min_n_for_alpha(0.05, 6) == 8
    # Matches scipy's exact test when all signs agree.
    assert st.wilcoxon(np.arange(1, 6, dtype=float), method="exact").pvalue == pytest.approx(0.0625)


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------
OFFSETS = {"single_start": 0.0, "multi_start": 1.0, "multi_start_perturbed": 1.5, "llm_only": -20.0,
           "combined": 3.0}


def synthetic(seeds=(1, 2, 3), shots=(1, 4, 16), datasets=("ds_a", "ds_b")) -> pd.DataFrame:
    rows = []
    for m, off in OFFSETS.items():
        for di, ds in enumerate(datasets):
            for s in shots:
                for sd in seeds:
                    # deterministic "noise" that differs per cell
                    noise = ((sd * 7 + s * 3 + di * 5 + len(m)) % 11) / 10.0
                    rows.append(dict(method=m, dataset=ds, shots=s, seed=sd, scale="mini",
                                     test_accuracy=60.0 + 5 * di + off + noise))
    return pd.DataFrame(rows)


def test_table_means_stds_markers():
    df = synthetic()
    res = build_table(df)
    s = res.summary.set_index(["method", "dataset"])
    for m in OFFSETS:
        for ds in ("ds_a", "ds_b"):
            x = df[(df.method == m) & (df.dataset == ds)]
            per_seed = x.groupby("seed").test_accuracy.mean()  # shot average per seed
            assert s.loc[(m, ds), "mean"] == pytest.approx(x.test_accuracy.mean())
            assert s.loc[(m, ds), "std"] == pytest.approx(per_seed.std(ddof=1))
            assert s.loc[(m, ds), "n"] == 3 and s.loc[(m, ds), "n_cells"] == 9
        assert s.loc[(m, AVG), "mean"] == pytest.approx(
            np.mean([s.loc[(m, "ds_a"), "mean"], s.loc[(m, "ds_b"), "mean"]]))
    # Combined is best everywhere -> bold; 18 pairs, combined better in every pair.
    assert s.loc[("combined", "ds_a"), "best"] and s.loc[("combined", AVG), "best"]
    sig = res.significance.set_index("baseline")
    assert list(sig.index) == ["single_start", "multi_start", "multi_start_perturbed", "llm_only"]
    assert (sig["n_pairs"] == 18).all()
    assert list(sig["marker"]) == ["†1", "†2", "†3", "†4"] and (sig["verdict"] == "better").all()
    assert s.loc[("combined", "ds_a"), "marker"] == "†1,2,3,4"  # the winner is marked, not the losers
    np.testing.assert_allclose(sig["holm_p"], stats.holm(sig["wilcoxon_p"]))
    md = (res.caption, res.ordering)
    assert "n = 18" in md[0] and "Holm" in md[0] and "Wilcoxon" in md[0]
    assert "identical" in md[1]  # same order as the paper (LLM-only worst, combined best)


def test_table_small_n_and_reverse_marker():
    df = synthetic(seeds=(1,), shots=(16,), datasets=("ds_a",))  # n = 1 pair per baseline
    res = build_table(df)
    assert (res.significance["marker"] == "").all()
    assert "can never be marked" in res.caption
    # A baseline that beats the reference significantly is the marked winner.
    df = synthetic()
    df.loc[df.method == "multi_start", "test_accuracy"] += 10
    res = build_table(df)
    sig = res.significance.set_index("baseline")
    assert sig.loc["multi_start", "marker"] == "†2" and sig.loc["multi_start", "verdict"] == "worse"
    assert dict(zip(res.summary["method"], res.summary["marker"]))["multi_start"] == "†2"
    assert "differ" in res.ordering


def test_table_missing_method_and_bold_markdown():
    df = synthetic()
    df = df[df.method != "llm_only"]
    res = build_table(df)
    md = __import__("reports.method_table", fromlist=["x"]).render_markdown(res)
    assert "LLM-based optimization only | – |" in md
    assert "**" in md and "±" in md
    assert "Paper" in md and "71.39" in md
    tex = __import__("reports.method_table", fromlist=["x"]).render_latex(res)
    assert "\\textbf{" in tex and "\\pm" in tex and "\\toprule" in tex


def _shot_heavy() -> pd.DataFrame:
    """Accuracy driven by the shot setting (+10 per step), tiny seed noise."""
    rows = []
    for m, off in OFFSETS.items():
        for di, ds in enumerate(("ds_a", "ds_b")):
            for si, k in enumerate((1, 4, 16)):
                for sd in (1, 2, 3):
                    rows.append(dict(method=m, dataset=ds, shots=k, seed=sd, scale="mini",
                                     test_accuracy=50.0 + off + 5 * di + 10 * si + 0.1 * sd * (di + 1)))
    return pd.DataFrame(rows)


def test_pm_is_over_seeds_of_the_shot_average():
    """Issue 9 item 9: ± is the std over seeds of the per-seed shot average,
    not the std of the pooled (shots, seed) cells (which would be ~8.7 here)."""
    from reports.method_table import render_latex, render_markdown

    res = build_table(_shot_heavy())
    s = res.summary.set_index(["method", "dataset"])
    # per-seed shot averages on ds_a: 60 + 0.1*sd -> std over seeds 0.1; ds_b: 65 + 0.2*sd -> 0.2
    assert s.loc[("combined", "ds_a"), "mean"] == pytest.approx(63.2)
    assert s.loc[("combined", "ds_a"), "std"] == pytest.approx(0.1)
    assert s.loc[("combined", "ds_b"), "std"] == pytest.approx(0.2)
    assert s.loc[("combined", "ds_a"), "n"] == 3
    # Average: per seed mean over datasets and shots (65.5 + 0.15*sd), then std over seeds
    assert s.loc[("combined", AVG), "mean"] == pytest.approx(65.8)
    assert s.loc[("combined", AVG), "std"] == pytest.approx(0.15)
    assert s.loc[("combined", AVG), "n"] == 3
    md = render_markdown(res)
    assert "| Combined (ours) †1,2,3,4 | **63.20 ± 0.10** | **68.40 ± 0.20** | **65.80 ± 0.15** |" in md
    assert "Average (n=3)" in md
    assert "over the shot settings {1, 4, 16}; then mean ± sample std (ddof = 1) over seeds" in res.caption
    assert "seed-to-seed spread" in res.caption and "\\pm" in render_latex(res)
    # per-shot block: rows methods, columns dataset x shots, mean over seeds
    assert "#### Per shot setting" in md
    assert "| Method | ds_a 1-shot | ds_a 4-shot | ds_a 16-shot | ds_b 1-shot |" in md
    assert "| Combined (ours) | 53.20 | 63.20 | 73.20 | 58.40 | 68.40 | 78.40 |" in md
    # cells file keeps every (method, dataset, shots, seed) value; the tests stay paired over cells
    assert len(res.cells) == len(_shot_heavy())
    assert (res.significance["n_pairs"] == 18).all()


def test_pm_single_shot_is_plain_std_over_seeds_and_incomplete_seeds_dropped():
    df = _shot_heavy()
    one = df[df.shots == 4]
    res = build_table(one)
    s = res.summary.set_index(["method", "dataset"])
    x = one[(one.method == "llm_only") & (one.dataset == "ds_b")].test_accuracy
    assert s.loc[("llm_only", "ds_b"), "std"] == pytest.approx(x.std(ddof=1))
    assert "at 4 shots, mean ± sample std (ddof = 1) over seeds (n = 3 seeds" in res.caption
    assert "Per shot setting" not in __import__("reports.method_table", fromlist=["x"]).render_markdown(res)
    # a seed without every shot setting has no shot average: left out of the entry, noted, still paired
    part = df.drop(df[(df.method == "combined") & (df.dataset == "ds_a") & (df.shots == 16)
                      & (df.seed == 3)].index)
    res = build_table(part)
    s = res.summary.set_index(["method", "dataset"])
    assert s.loc[("combined", "ds_a"), "n"] == 2 and s.loc[("combined", "ds_a"), "mean"] == pytest.approx(63.15)
    assert s.loc[("combined", AVG), "n"] == 2
    assert any("seed(s) 3 lack a shot setting of {1, 4, 16}" in n for n in res.notes)
    assert res.significance.set_index("baseline")["n_pairs"].eq(17).all()


def s0_best(res) -> bool:
    return bool(res.summary.set_index(["method", "dataset"]).loc[("combined", "ds_a"), "best"])


def test_majority_reference_row():
    """Issue 9 item 8: a reference row from test_majority_accuracy; never bold, not tested."""
    from reports.method_table import render_latex, render_markdown

    df = synthetic()
    res0 = build_table(df)  # older stores: no metric -> no row
    assert res0.majority is None
    assert "Majority class" not in render_markdown(res0) and "Majority class" not in render_latex(res0)
    df["test_majority_accuracy"] = df.dataset.map({"ds_a": 90.0, "ds_b": 78.07})  # above every method
    res = build_table(df)
    md, tex = render_markdown(res), render_latex(res)
    assert "| Majority class (reference) | 90.00 | 78.07 | 84.03 |" in md
    assert "Majority class (reference) & 90.00 & 78.07 & 84.03 \\\\" in tex
    assert "most frequent class" in res.caption
    # tests unchanged by the reference row; bold only above it (decision 79): every method is
    # below 90.00 on ds_a, so nothing is bold there, and the ordering paragraph says so
    s = res.summary.set_index(["method", "dataset"])
    assert s.loc[("combined", "ds_a"), "below_majority"] and not s.xs("ds_a", level="dataset")["best"].any()
    assert s0_best(res0) and "is below the majority-class rate on average" in res.ordering
    assert "majority" not in " ".join(res.significance["baseline"])
    assert res.significance.equals(res0.significance)


def test_csv_byte_identical(tmp_path):
    df = synthetic()
    p1 = write_all(build_table(df), tmp_path / "a")
    p2 = write_all(build_table(df.sample(frac=1.0, random_state=1)), tmp_path / "b")
    for x, y in zip(p1, p2):
        assert x.read_bytes() == y.read_bytes(), x.name
    names = sorted(p.name for p in p1)
    assert names == ["table3.csv", "table3.md", "table3.tex", "table3_cells.csv", "table3_significance.csv"]
    cells = pd.read_csv(tmp_path / "a" / "table3_cells.csv")
    assert list(cells.columns) == ["method", "dataset", "shots", "seed", "test_accuracy"]
    assert len(cells) == len(df)


def test_paper_numbers():
    t3 = PAPER["table3"]["rows"]
    assert t3["combined"] == {"EuroSAT": 71.39, "DTD": 56.70, "Oxford_Flowers": 86.64}
    assert t3["llm_only"]["DTD"] == 44.16
    assert PAPER["table4"]["rows"]["td_ot"]["DTD"] == 56.98
    assert PAPER["table5"]["rows"]["N1"]["EuroSAT"] == 72.51
    assert PAPER["table6"]["rows"]["m1000"]["Oxford_Flowers"] == 82.31
    assert paper_average("table3", "combined") == pytest.approx((71.39 + 56.70 + 86.64) / 3)
    assert [k for k, _ in TABLE3_METHODS] == list(t3)
    # Table 1 Avg. is the mean of its five columns (sanity check of the parse).
    r = PAPER["table1"]["rows"]["combined"]
    assert np.mean([r[d] for d in PAPER["table1"]["datasets"]]) == pytest.approx(r["Avg."], abs=0.01)


# --------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------
def _make_store(tmp_path: Path) -> str:
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table3-mini")
    t = 1_700_000_000_000

    def add(method, ds, shots, seed, acc, status="FINISHED", start=0, extra=None, tags=None):
        base = {"table": "table3", "method": method, "dataset": ds, "shots": str(shots),
                "seed": str(seed), "scale": "mini"}
        base.update(tags or {})
        run = client.create_run(exp, start_time=t + start, tags=base)
        if acc is not None:
            client.log_metric(run.info.run_id, "test_accuracy", acc)
        for k, v in (extra or {}).items():
            client.log_metric(run.info.run_id, k, v)
        client.set_terminated(run.info.run_id, status=status, end_time=t + start + 1)
        return run.info.run_id

    i = 0
    for m, off in OFFSETS.items():
        for ds in ("ds_a", "ds_b"):
            for sd in (1, 2, 3):
                i += 1
                add(m, ds, 16, sd, 60 + off + sd * 0.1 + (0.05 if ds == "ds_b" else 0), start=i,
                    extra={"train_loss_final": 0.5,
                           "test_majority_accuracy": 78.08 if ds == "ds_b" else 40.0})
    # failed run for a new cell -> ignored
    add("combined", "ds_a", 16, 4, 99.0, status="FAILED", start=500)
    # newer duplicate of an existing cell -> replaces it
    add("combined", "ds_a", 16, 1, 77.7, start=1000, extra={"llm_fallbacks": 2})
    # older duplicate -> dropped
    add("single_start", "ds_a", 16, 1, 11.1, start=-1000)
    # wrong table tag -> ignored
    add("combined", "ds_b", 16, 9, 50.0, start=5, tags={"table": "table4"})
    # missing metric -> skipped with a warning
    add("combined", "ds_b", 16, 8, None, start=6)
    return uri


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory):
    return _make_store(tmp_path_factory.mktemp("mlflow"))


def test_load_runs_real_store(store_uri):
    from reports.runs import ExperimentNotFound, load_runs

    uri = store_uri
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = load_runs(uri, "table3", "mini")
    msgs = " ".join(str(x.message) for x in w)
    assert "duplicate" in msgs and "(combined, ds_a, 16, 1)" in msgs
    assert "test_accuracy" in msgs  # the run without the metric
    assert list(df.columns[:6]) == ["method", "dataset", "shots", "seed", "scale", "test_accuracy"]
    assert {"train_loss_final", "llm_fallbacks", "test_majority_accuracy", "run_id"} <= set(df.columns)
    assert len(df) == 5 * 2 * 3
    assert not df.duplicated(["method", "dataset", "shots", "seed"]).any()
    row = df[(df.method == "combined") & (df.dataset == "ds_a") & (df.seed == 1)]
    assert row.test_accuracy.item() == pytest.approx(77.7)
    row = df[(df.method == "single_start") & (df.dataset == "ds_a") & (df.seed == 1)]
    assert row.test_accuracy.item() == pytest.approx(60.1)
    assert df.shots.dtype.kind == "i" and df.seed.dtype.kind == "i"
    assert 4 not in set(df.seed) and 9 not in set(df.seed)
    with pytest.raises(ExperimentNotFound, match="maao-table3-paper"):
        load_runs(uri, "table3", "paper")


def _cli(args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_table3(tmp_path, store_uri):
    uri = store_uri
    out = tmp_path / "out"
    r = _cli(["table3", "--tracking-uri", uri, "--scale", "mini", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Combined (ours)" in r.stdout and "wrote:" in r.stdout
    assert "| Majority class (reference) | 40.00 | 78.08 | 59.04 |" in r.stdout
    for n in ("table3.md", "table3.csv", "table3.tex", "table3_cells.csv", "table3_significance.csv"):
        assert (out / n).exists(), n
    # missing experiment: one-line error naming experiment and URI
    r = _cli(["table3", "--tracking-uri", uri, "--scale", "paper", "--out", str(out)], tmp_path)
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "maao-table3-paper" in err[0] and uri in err[0]


def test_no_torch_import():
    code = ("import reports, reports.table3, reports.runs, reports.stats, reports.ablations, reports.table2, "
            "reports.claims, reports.health, reports.fixture, reports.verdict, reports.__main__, sys; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_empty_experiment_and_cli_error(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from reports.runs import NoFinishedRuns, load_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table3-mini")
    run = client.create_run(exp, tags={"table": "table3", "method": "combined", "dataset": "x",
                                       "shots": "1", "seed": "1", "scale": "mini"})
    client.log_metric(run.info.run_id, "test_accuracy", 50.0)
    client.set_terminated(run.info.run_id, status="FAILED")
    with pytest.raises(NoFinishedRuns, match="no finished runs"):
        load_runs(uri, "table3", "mini")
    r = _cli(["table3", "--tracking-uri", uri], tmp_path)
    assert r.returncode == 2 and "maao-table3-mini" in r.stderr and "no finished runs" in r.stderr


def test_ablation_spec_builds():
    from reports.ablations import SPECS
    from reports.method_table import build_table as generic_build, render_markdown

    spec = SPECS["table4"]
    rows = []
    for i, (k, _) in enumerate(spec.methods):
        for sd in range(1, 9):
            rows.append(dict(method=k, dataset="ds", shots=16, seed=sd, test_accuracy=60 + i + 0.1 * sd))
    res = generic_build(pd.DataFrame(rows), spec)
    assert list(res.significance["baseline"]) == ["none", "td_mp", "td_ot"]
    assert list(res.significance["marker"]) == ["†1", "†2", "†3"]  # 8 pairs, all in favour, 3 comparisons
    md = render_markdown(res)
    assert "TD + MP + OT" in md and "70.33" in md



def test_mini_table6_has_its_own_rows_beside_the_papers():
    """Mini Table 6 ablates m = 5/10/20 (decision 17): those rows are reported,
    the paper's m = 10/100/1000 printed beside them, orderings not compared."""
    from reports.ablations import SPECS, table_spec
    from reports.method_table import build_table as generic_build, render_markdown

    spec = table_spec("table6", "mini", SPECS["table6"])
    assert table_spec("table6", "paper", SPECS["table6"]) is SPECS["table6"]
    rows = [dict(method=k, dataset="ds", shots=4, seed=sd, test_accuracy=60 + i + 0.1 * sd)
            for i, (k, _) in enumerate(spec.methods) for sd in (1, 2, 3)]
    md = render_markdown(generic_build(pd.DataFrame(rows), spec))
    assert "| m = 5 |" in md and "| m = 20 |" in md and "| m = 1000 |" in md
    assert "Only 1 of this table's rows is also a row of the paper's table" in md

def test_figure2_csv_svg(tmp_path):
    from reports import figure2

    rows = [dict(method=m, seed=sd, step=st_, value=50 + i * 5 + st_ * 0.5 + sd * 0.1)
            for i, m in enumerate(["random_init", "manual_init", "combined"])
            for sd in (1, 2, 3) for st_ in range(0, 11)]
    agg = figure2.aggregate(pd.DataFrame(rows))
    assert len(agg) == 3 * 11 and (agg["n"] == 3).all()
    assert agg.loc[(agg.method == "combined") & (agg.step == 0), "mean"].item() == pytest.approx(60.2)
    p1 = figure2.write_figure(agg, tmp_path / "a")
    p2 = figure2.write_figure(figure2.aggregate(pd.DataFrame(rows[::-1])), tmp_path / "b")
    for x, y in zip(p1, p2):
        assert x.read_bytes() == y.read_bytes()
    svg = p1[1].read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 3 and "manual_init" in svg


# --------------------------------------------------------------------------
# Tables 7 and 8; explicit pairs
# --------------------------------------------------------------------------
def _ablation_rows(spec, seeds=(1, 2, 3), datasets=("ds_a", "ds_b"), shift=None) -> pd.DataFrame:
    """4-shot runs for every row of ``spec``; ``shift`` adds a per-method offset."""
    rows = []
    for i, (k, _) in enumerate(spec.methods):
        for di, ds in enumerate(datasets):
            for sd in seeds:
                rows.append(dict(method=k, dataset=ds, shots=4, seed=sd, scale="mini",
                                 test_accuracy=60 + i + 5 * di + ((sd * 7 + i * 3 + di) % 11) / 10.0
                                 + (shift or {}).get(k, 0.0)))
    return pd.DataFrame(rows)


def _regression_cases() -> dict:
    from reports.ablations import SPECS, table_spec
    from reports.table3 import SPEC as T3

    maj = synthetic()
    maj["test_majority_accuracy"] = maj.dataset.map({"ds_a": 90.0, "ds_b": 78.07})
    rev = synthetic()
    rev.loc[rev.method == "multi_start", "test_accuracy"] += 10
    t6 = table_spec("table6", "mini", SPECS["table6"])
    return {
        "table3": (T3, synthetic()), "table3_majority": (T3, maj), "table3_reverse": (T3, rev),
        "table3_small": (T3, synthetic(seeds=(1,), shots=(16,), datasets=("ds_a",))),
        "table4": (SPECS["table4"], _ablation_rows(SPECS["table4"])),
        "table5": (SPECS["table5"], _ablation_rows(SPECS["table5"], seeds=tuple(range(1, 9)))),
        "table6": (SPECS["table6"], _ablation_rows(SPECS["table6"])),
        "table6_mini": (t6, _ablation_rows(t6)),
    }


# sha256[:16] of Markdown + LaTeX + the three CSVs, produced by the reference-only code
# before Tables 7/8 (explicit pairs, missing paper rows) were added.  Tables 3-6 must stay
# byte-identical; if a deliberate change to their output breaks this, regenerate the digests.
_REGRESSION_SHA = {  # regenerated for issue 22 (verdict columns, numbered marks, design paragraph)
    "table3": "ec7b073d73aeabf8", "table3_majority": "01660558f12abe67",
    "table3_reverse": "47a7168e70d8c96b", "table3_small": "e8a5708b70dcdcfe",
    "table4": "caf1e4bab881a3d7", "table5": "d166ce99408a3b9c", "table6": "6a28a7577ae002fd",
    "table6_mini": "dbfd915e272a469e",
}


def test_tables_3_to_6_output_unchanged():
    import hashlib

    from reports import method_table as mt

    got = {}
    for name, (spec, df) in _regression_cases().items():
        res = mt.build_table(df, spec)
        assert spec.pairs is None and set(res.significance["row"]) == {spec.reference}
        text = "".join(f(res) for f in (mt.render_markdown, mt.render_latex, mt.csv_text,
                                        mt.significance_csv_text, mt.cells_csv_text))
        got[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert got == _REGRESSION_SHA


def test_table7_builds():
    from reports.ablations import SPECS
    from reports.method_table import build_table as generic_build, render_markdown, significance_csv_text

    spec = SPECS["table7"]
    assert [k for k, _ in spec.methods] == ["l2", "cosine"] and spec.reference == "l2" and spec.pairs is None
    res = generic_build(_ablation_rows(spec, seeds=tuple(range(1, 9)), shift={"l2": 3.0}), spec)
    sig = res.significance
    assert list(sig["baseline"]) == ["cosine"] and (sig["n_pairs"] == 16).all()
    assert sig["holm_p"].iloc[0] == pytest.approx(sig["wilcoxon_p"].iloc[0])  # one comparison
    assert sig["marker"].iloc[0] == "†1" and sig["mean_diff"].iloc[0] > 0  # l2 − cosine
    md = render_markdown(res)
    assert "#### Paired comparisons (L2 − row; Holm over the 1)" in md and "| L2 †1 |" in md
    assert "71.39" in md and "87.09" in md  # paper's Table 7
    assert significance_csv_text(res).startswith("row,baseline,n_pairs,")


def _table8(drop=None, shift=None):
    from reports.ablations import SPECS
    from reports.method_table import build_table as generic_build

    spec = SPECS["table8"]
    df = _ablation_rows(spec, seeds=tuple(range(1, 9)), shift=shift)
    if drop:
        df = df[df.method != drop]
    return spec, generic_build(df, spec)


def test_table8_pairs_within_each_length():
    from reports.method_table import render_latex, render_markdown, significance_csv_text

    shift = {"combined_len4": 2.0, "combined_len8": 2.5, "combined_len16": -2.0}  # rows also step +1
    spec, res = _table8(shift=shift)
    sig = res.significance
    want = [("combined_len4", "gradient_len4"), ("combined_len8", "gradient_len8"),
            ("combined_len16", "gradient_len16")]
    assert list(zip(sig["row"], sig["baseline"])) == want == spec.comparisons
    np.testing.assert_allclose(sig["holm_p"], stats.holm(sig["wilcoxon_p"]))  # family of three
    assert np.nanmin(sig["holm_p"]) == pytest.approx(3 * np.nanmin(sig["wilcoxon_p"]))
    cells = res.cells
    for (a, b), diff in zip(want, sig["mean_diff"]):  # row − baseline over the paired cells
        x = cells[cells.method == a].test_accuracy.to_numpy() - cells[cells.method == b].test_accuracy.to_numpy()
        assert diff == pytest.approx(x.mean())
    assert (sig["n_pairs"] == 16).all()
    assert list(sig["marker"][:2]) == ["†1", "†2"]
    # the mark sits on each pair's winner
    mk = res.summary.drop_duplicates("method").set_index("method")["marker"]
    assert mk["combined_len4"] == "†1" and mk["gradient_len4"] == ""

    csv_lines = significance_csv_text(res).splitlines()
    assert csv_lines[0].startswith("row,baseline,n_pairs,")
    assert [ln.split(",")[:2] for ln in csv_lines[1:]] == [list(p) for p in want]
    md = render_markdown(res)
    assert "#### Paired comparisons (within pairs: row − baseline; Holm over the 3)" in md
    assert "| 1 | Ours (length 4) | Gradient-based (length 4) | 16 | +" in md
    assert "| 3 | Ours (length 16) | Gradient-based (length 16) | 16 | -" in md
    assert "Holm correction across the 3 comparison(s)" in res.caption
    assert "Ours (length 4) vs Gradient-based (length 4)" in res.caption
    assert "Ours (length 4) − Gradient-based (length 4) = +" in res.ordering
    assert "paper +1.86 (same sign)" in res.ordering  # 71.58 − 69.71
    assert "L2" not in md and "reference" not in res.ordering
    tex = render_latex(res)
    assert "\\# & First & Second & n pairs & first - second" in tex
    assert "2 & Ours (length 8) & Gradient-based (length 8) & 16 &" in tex


def test_table8_missing_paper_value_renders():
    from reports.method_table import csv_text, render_latex, render_markdown

    assert "combined_len16" not in PAPER["table8"]["rows"]
    spec, res = _table8()
    assert spec.paper_missing == ("combined_len16",)
    md = render_markdown(res)
    assert "| Ours (length 16) | – | – | – | – |" in md  # the published row, no numbers
    assert "Parsing caveat:" in md and "combined_len16 missing" in md
    assert "The paper publishes no number for Ours (length 16)" in res.ordering
    assert "Ranking the 5 methods" in res.ordering
    assert "Ours (length 16) & -- & -- & -- & -- \\\\" in render_latex(res)
    paper_rows = [ln for ln in csv_text(res).splitlines() if ln.startswith("paper,combined_len16,")]
    assert len(paper_rows) == 4 and all(",,," in ln for ln in paper_rows)  # empty n, mean, std
    # a pair whose row has no runs: no pairs, p = NaN, left out of Holm's family
    _, res = _table8(drop="combined_len16")
    sig = res.significance.set_index("row")
    assert sig.loc["combined_len16", "n_pairs"] == 0 and math.isnan(sig.loc["combined_len16", "holm_p"])
    assert sig.loc["combined_len4", "holm_p"] <= 2 * sig.loc["combined_len4", "wilcoxon_p"] + 1e-12
    assert "Ours (length 16) − Gradient-based (length 16): no paired cells" in res.ordering
    render_markdown(res), render_latex(res)


def test_pairs_must_name_table_rows():
    from dataclasses import replace

    from reports.ablations import SPECS
    from reports.method_table import build_table as generic_build

    spec = replace(SPECS["table8"], pairs=(("combined_len4", "nope"),))
    with pytest.raises(ValueError, match="nope"):
        generic_build(_ablation_rows(SPECS["table8"]), spec)


def test_cli_table8(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from reports.ablations import SPECS

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table8-mini")
    for i, (k, _) in enumerate(SPECS["table8"].methods):
        for sd in (1, 2):
            run = client.create_run(exp, tags={"table": "table8", "method": k, "dataset": "ds", "shots": "4",
                                               "seed": str(sd), "scale": "mini"})
            client.log_metric(run.info.run_id, "test_accuracy", 60.0 + i + sd)
            client.set_terminated(run.info.run_id)
    out = tmp_path / "out"
    r = _cli(["table8", "--tracking-uri", uri, "--scale", "mini", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| Ours (length 16) | – | – | – | – |" in r.stdout
    for n in ("table8.md", "table8.csv", "table8.tex", "table8_cells.csv", "table8_significance.csv"):
        assert (out / n).exists(), n
    r = _cli(["table7", "--tracking-uri", uri, "--scale", "mini", "--out", str(out)], tmp_path)
    assert r.returncode == 2 and "maao-table7-mini" in r.stderr  # a known table, no experiment
