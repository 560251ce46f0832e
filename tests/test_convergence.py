"""The convergence criterion of the mini recipe (benchmarks/convergence.py)."""
from benchmarks.convergence import verdict

CELLS = [(d, k, s) for d in ("a", "b") for k in (1, 4, 16) for s in (1, 2, 3)]


def _rows(gain_2x, gain_4x, loss_1x=0.10, loss_4x=0.08):
    rows = []
    for i, (d, k, s) in enumerate(CELLS):
        base = 80.0 + i % 5
        for m, gain, loss in ((1, 0.0, loss_1x), (2, gain_2x, loss_1x), (4, gain_4x, loss_4x)):
            rows.append({"dataset": d, "shots": k, "seed": s, "multiplier": m,
                         "test_accuracy": base + gain + 0.01 * i, "train_loss": loss})
    return rows


def test_longer_budget_that_gains_everywhere_fails():
    lines = verdict(_rows(gain_2x=1.0, gain_4x=1.5))
    assert lines[-1].startswith("NOT converged") and "FAILS" in lines[0]


def test_no_gain_and_a_small_loss_drop_meets_it():
    lines = verdict(_rows(gain_2x=0.0, gain_4x=0.0))
    assert lines[-1] == "converged"


def test_a_large_training_loss_drop_fails_even_without_accuracy_gain():
    lines = verdict(_rows(gain_2x=0.0, gain_4x=0.0, loss_1x=0.5, loss_4x=0.1))
    assert lines[-1].startswith("NOT converged") and "FAILS" in lines[1]


def test_docs_quote_the_verdict_of_the_committed_csvs():
    # docs/mini-scale.md's recipe table gives the Holm p-values that
    # `--verdict` computes from the committed CSVs (no runs).
    import re
    from pathlib import Path

    from benchmarks.convergence import read_rows

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "mini-scale.md").read_text()
    for name in ("convergence-epochs30.csv", "convergence.csv"):
        row = next(line for line in doc.splitlines() if f"`docs/{name}`" in line)
        quoted = re.findall(r"Holm p = ([0-9.]+)", row)
        assert len(quoted) == 2, name
        computed = [re.search(r"Holm p = ([0-9.]+)", line).group(1)
                    for line in verdict(read_rows(root / "docs" / name))[:2]]
        assert [float(q) for q in quoted] == [round(float(c), len(q.split(".")[1])) for q, c in
                                              zip(quoted, computed)], name
