"""benchmarks/lm_budget_check.py (Table 1's pt-mini budget check, docs/datasets.md)
on fixed scores: each branch of the rule, and bad input as one line, exit 2."""

import json
from pathlib import Path

from benchmarks import lm_budget_check as bc

CANDIDATES = ("a", "b", "c")
ROOT = Path(__file__).resolve().parent.parent


def write(path, accuracy, train_loss, seeds=(1, 2, 3), drop=None):
    """One JSON line per (max_steps, candidate), as lm_task_criterion --out writes them."""
    with open(path, "w") as f:
        for steps in (60, 120, 240):
            for i, cand in enumerate(CANDIDATES):
                if (steps, cand) == drop:
                    continue
                accs = [accuracy(steps, i, s) for s in seeds]
                f.write(json.dumps({"candidate": cand, "seeds": list(seeds), "max_steps": steps,
                                    "val_accuracy": accs, "train_loss": [train_loss(steps)] * len(seeds),
                                    "val_loss": [1.0] * len(seeds)}) + "\n")
    return path


def test_fitted_at_60_steps_and_no_gain_is_converged(tmp_path):
    path = write(tmp_path / "s.jsonl", lambda steps, i, s: 50.0 + i + s, lambda steps: 0.05 - steps / 1e5)
    lines, branch = bc.check(bc.read_cells([path]))
    assert lines[0].startswith("9 (candidate, seed) cells")
    assert branch.startswith("converged, training set fitted")


def test_a_large_training_loss_drop_is_not_converged(tmp_path):
    # no accuracy gain, but 240 steps lower the training loss by 0.6 nats
    path = write(tmp_path / "s.jsonl", lambda steps, i, s: 50.0 + i + s, lambda steps: 0.8 if steps == 60 else 0.2)
    _, branch = bc.check(bc.read_cells([path]))
    assert branch.startswith("NOT converged") and "the cap becomes 120" in branch


def test_a_significant_gain_is_not_converged_and_keeps_the_longer_cap(tmp_path):
    # accuracy rises with every doubling, in every cell: 120 is worse than 240
    path = write(tmp_path / "s.jsonl", lambda steps, i, s: 40.0 + steps / 10 + i + s / 10,
                 lambda steps: 0.5, seeds=tuple(range(1, 6)))
    lines, branch = bc.check(bc.read_cells([path]))
    assert "significantly better" in branch and "the cap becomes 240" in branch
    assert "+18.00 points" in lines[2]


def test_converged_with_a_high_loss_says_pt_does_not_fit(tmp_path):
    path = write(tmp_path / "s.jsonl", lambda steps, i, s: 50.0 + i + s, lambda steps: 0.69)
    assert bc.check(bc.read_cells([path]))[1].startswith("converged with the training loss still high")


def test_a_missing_cell_is_one_line_and_exit_2(tmp_path, capsys):
    path = write(tmp_path / "s.jsonl", lambda steps, i, s: 50.0, lambda steps: 0.5, drop=(240, "b"))
    assert bc.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lm_budget_check: cells without a score") and err.count("\n") == 1


def test_the_committed_scores_give_the_verdict_docs_report():
    """docs/datasets.md quotes this output for docs/lm-budget-check.jsonl."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    lines, branch = bc.check(bc.read_cells([root / "docs" / "lm-budget-check.jsonl"]))
    doc = (root / "docs" / "datasets.md").read_text(encoding="utf-8")
    assert all(line in doc for line in lines + [branch])
    assert branch.startswith("NOT converged") and "the cap becomes 120" in branch


def test_the_docs_show_the_criterion_scores_of_the_committed_files():
    # docs/datasets.md's tables of the LM-task criterion are its --table output.
    from benchmarks.lm_task_criterion import table_rows

    docs = (ROOT / "docs" / "datasets.md").read_text()
    for scores in sorted((ROOT / "docs").glob("lm-criterion-*.jsonl")):
        rows = table_rows(scores)
        assert rows and all(row in docs for row in rows), scores.name
