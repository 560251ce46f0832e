"""benchmarks/power_design.py (docs/power.md) on fixed input: the rule's
pieces against hand-worked values, one table's design, the shared-run count."""

import math
import subprocess

import pandas as pd
import pytest

from benchmarks import power_design as pd_


def cells(diffs, row="l2", base="cosine", shots=4):
    """Cells of two rows over 2 datasets x len(diffs)/2 seeds, row − base = diffs."""
    out = []
    half = len(diffs) // 2
    for i, d in enumerate(diffs):
        ds, seed = ("ds_a", "ds_b")[i // half], i % half + 1
        out += [(base, ds, shots, seed, 80.0), (row, ds, shots, seed, 80.0 + d)]
    return pd.DataFrame(out, columns=["method", "dataset", "shots", "seed", "test_accuracy"])


def test_planned_sd_is_the_chi_square_upper_limit():
    # chi2.ppf(0.2, 5) = 2.342541 -> sqrt(5 / 2.342541) = 1.46097
    assert pd_.planned_sd(1.0, 6) == pytest.approx(1.46097, abs=1e-4)
    assert pd_.planned_sd(2.0, 18) == pytest.approx(2.0 * math.sqrt(17 / 12.00227), abs=1e-3)


def test_detectable_matches_the_normal_approximation_for_many_pairs():
    # (z_0.975 + z_0.8) / sqrt(400 * 3/pi) = 2.80158 / 19.5441 = 0.14335; t adds ~0.1 %
    assert pd_.detectable(1.0, 400, 0.05) == pytest.approx(0.14335, rel=5e-3)
    # a stricter Holm level or fewer pairs can only see larger differences
    assert pd_.detectable(1.0, 48, 0.05 / 6) > pd_.detectable(1.0, 48, 0.05) > pd_.detectable(1.0, 96, 0.05)


def test_pairs_needed_is_the_smallest_n_that_detects_the_target():
    for sd, target, level in ((2.65, 1.5, 0.05 / 6), (5.68, 3.0, 0.05 / 3), (0.9, 3.0, 0.05)):
        n = pd_.pairs_needed(sd, target, level)
        assert pd_.detectable(sd, n, level) <= target < pd_.detectable(sd, n - 1, level)


def test_min_p_of_the_exact_wilcoxon():
    assert pd_.min_p(6) == 2 / 64 and pd_.min_p(0) == 1.0 and pd_.min_p(1) == 1.0


def test_design_of_one_ablation_comparison():
    diffs = [1.0, 2.0, 0.0, 3.0, -1.0, 1.0]
    (x,) = pd_.design_table("table7", cells(diffs), pd_.Grid(2, (4,), 3))
    assert (x.row, x.baseline, x.role, x.n_now) == ("l2", "cosine", pd_.ABLATION, 6)
    assert x.mean == pytest.approx(1.0) and x.sd == pytest.approx(pd.Series(diffs).std())
    assert x.zero_share == pytest.approx(1 / 6) and x.level == 0.05 and x.target == 3.0
    # 6 grid pairs, 1/6 of them zero -> 5 non-zero: 2/32 = 0.0625 can never reach 0.05
    assert x.n_grid == 6 and x.n_nonzero == 5 and not x.reachable and not x.meets
    (y,) = pd_.design_table("table7", cells(diffs), pd_.Grid(2, (4,), 4))
    assert y.n_nonzero == 6 and y.reachable and y.mde == pytest.approx(
        pd_.detectable(pd_.planned_sd(x.sd, 6), 8, 0.05))


def test_minimal_seeds_meets_and_one_fewer_does_not():
    c = cells([2.0, -1.5, 3.0, 0.5, 4.0, -2.0])
    grid = pd_.Grid(2, (4,), 1)
    s = pd_.minimal_seeds("table7", c, grid)
    assert all(x.meets for x in pd_.design_table("table7", c, pd_.Grid(2, (4,), s)))
    assert not all(x.meets for x in pd_.design_table("table7", c, pd_.Grid(2, (4,), s - 1)))


def test_table3_roles_and_holm_family():
    rows = ["single_start", "multi_start", "multi_start_perturbed", "llm_only", "combined", "zopo"]
    comps = pd_.comparisons("table3", rows)
    assert len(comps) == 6
    assert {(a, b) for a, b, r in comps if r == pd_.HEADLINE} == {
        ("combined", b) for b in pd_.GRADIENT_BASELINES}


def test_shared_runs_are_counted_once():
    grid = {"table3": pd_.Grid(2, (1, 4), 2), "table7": pd_.Grid(2, (4,), 3),
            "table8": pd_.Grid(2, (4,), 1)}
    rows = {"table3": ["combined", "single_start"], "table7": ["l2", "cosine"],
            "table8": ["gradient_len4", "combined_len4"]}
    shared = pd_.shared_runs(grid, rows)
    # Table 7's l2 at 4 shots: seeds 1-2 are Table 3's combined runs; seed 3 is new.
    assert shared[("table7", "l2")] == 2 * 2
    # Table 8's length 4 rows at seed 1: already trained by Table 3 (and Table 7).
    assert shared[("table8", "combined_len4")] == 2 and shared[("table8", "gradient_len4")] == 2
    assert ("table7", "cosine") not in shared and shared[("table3", "combined")] == 0


def test_cost_counts_runs_calls_and_seconds():
    c = pd_.cost("table7", pd_.Grid(2, (4,), 5), {"l2": 3.0, "cosine": 3.0}, seconds_per_call=6.0)
    assert (c.rows, c.runs, c.llm_calls) == (2, 20, 60)
    assert c.train_s == 20 * pd_.SECONDS_PER_RUN["table7"] and c.record_s == c.train_s + 60 * 6.0


def _has_commit(rev: str) -> bool:
    done = subprocess.run(["git", "-C", str(pd_.ROOT), "cat-file", "-e", f"{rev}^{{commit}}"],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _has_commit(pd_.DESIGN_INPUTS),
                    reason="a clone without the design commit's history (shallow)")
def test_the_design_in_docs_is_reproduced_from_its_pinned_inputs():
    """docs/power.md pastes the script's output; the re-recording has since
    replaced its cells and responses, so the default reads them at DESIGN_INPUTS."""
    doc = (pd_.ROOT / "docs" / "power.md").read_text(encoding="utf-8")
    out = pd_.render(pd_.Inputs(pd_.ROOT, pd_.DESIGN_INPUTS))
    rows = [line for line in out.splitlines() if line.startswith("| table")]
    assert len(rows) > 20
    assert [r for r in rows if r not in doc] == []


def test_worktree_inputs_read_the_files_of_a_folder(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "table7_cells.csv").write_text("method,dataset\nl2,x\n")
    (tmp_path / "benchmarks" / "responses").mkdir(parents=True)
    for name in ("a-mini.jsonl", "mini.jsonl", "b-mini.manifest.json"):
        (tmp_path / "benchmarks" / "responses" / name).write_text("")
    inputs = pd_.Inputs(tmp_path)
    assert pd_._cells("table7", inputs)["method"].tolist() == ["l2"]
    assert inputs.glob("benchmarks/responses", "*-mini.jsonl") == ["benchmarks/responses/a-mini.jsonl"]


def test_an_unknown_revision_is_one_line_and_exit_2(capsys):
    assert pd_.main(["--inputs", "no-such-revision-of-the-design"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("power_design: git ") and "--inputs worktree" in err and "\n" not in err
