"""The pt-mini budget check of Table 1 (docs/datasets.md, "Next: is pt-mini's
budget the reason?"), applied to scores that `benchmarks.lm_task_criterion
--max-steps S --out FILE` wrote. Torch-free: it only reads the JSON lines.

    python -m benchmarks.lm_budget_check docs/lm-budget-check.jsonl [more.jsonl ...]

The rule, fixed before any run of it: over the (candidate, seed) cells, the
60-step cap has converged when neither 120 nor 240 steps is significantly
better on validation accuracy (one-sided paired Wilcoxon, Holm over the two,
alpha 0.05) and 240 steps lower the mean training loss by less than 0.05
nats. Then: not converged -> the smaller cap not significantly worse than
240; converged with the training loss at 60 below 0.1 nats -> the training
set is fitted, so the training-set cap is the next lever; converged with the
loss still high -> PT does not fit these tasks.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.convergence import ALPHA, MAX_LOSS_DROP   # the CoOp rule (docs/mini-scale.md section 2)

BASE, LONGER = 60, (120, 240)
FITTED_LOSS = 0.1        # nats: below it the training examples are fitted


def read_cells(paths) -> dict:
    """(max_steps, candidate, seed) -> {"val_accuracy", "train_loss", "val_loss"}."""
    cells = {}
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            for i, seed in enumerate(rec["seeds"]):
                key = (rec["max_steps"], rec["candidate"], seed)
                if key in cells:
                    raise ValueError(f"{path}:{n}: {key} scored twice")
                cells[key] = {m: rec[m][i] for m in ("val_accuracy", "train_loss", "val_loss")}
    return cells


def check(cells: dict) -> tuple[list[str], str]:
    """Lines of the verdict, and the branch of the rule that applies."""
    from reports.stats import holm_gains_over, wilcoxon_test

    pairs = sorted({(c, s) for (_, c, s) in cells})
    missing = [(steps, c, s) for steps in (BASE, *LONGER) for c, s in pairs if (steps, c, s) not in cells]
    if missing:
        raise ValueError(f"cells without a score: {missing}")

    def values(steps, metric):
        return [cells[(steps, c, s)][metric] for c, s in pairs]

    def mean(xs):
        return sum(xs) / len(xs)

    adjusted = holm_gains_over(values(BASE, "val_accuracy"),
                               {steps: values(steps, "val_accuracy") for steps in LONGER})
    base_loss = mean(values(BASE, "train_loss"))
    lines = [f"{len(pairs)} (candidate, seed) cells; mean validation accuracy / training loss / "
             f"validation loss at {BASE} steps: {mean(values(BASE, 'val_accuracy')):.2f} % / "
             f"{base_loss:.4f} / {mean(values(BASE, 'val_loss')):.4f}"]
    significant = False
    for steps in LONGER:
        gain = mean(values(steps, "val_accuracy")) - mean(values(BASE, "val_accuracy"))
        significant |= adjusted[steps] < ALPHA
        lines.append(f"{steps} vs {BASE} steps: validation accuracy {gain:+.2f} points (Wilcoxon one-sided, "
                     f"Holm p = {adjusted[steps]:.3f}); mean training loss "
                     f"{mean(values(steps, 'train_loss')) - base_loss:+.4f} nats, validation loss "
                     f"{mean(values(steps, 'val_loss')) - mean(values(BASE, 'val_loss')):+.4f}")
    drop = base_loss - mean(values(LONGER[-1], "train_loss"))
    converged = not significant and drop < MAX_LOSS_DROP
    if not converged:
        worse = wilcoxon_test(values(LONGER[0], "val_accuracy"), values(LONGER[-1], "val_accuracy"),
                              alternative="less").pvalue
        cap = LONGER[0] if worse >= ALPHA else LONGER[-1]
        branch = (f"NOT converged (240 steps lower the training loss by {drop:.4f} nats"
                  f"{'; a longer cap is significantly better' if significant else ''}): the cap becomes "
                  f"{cap}; re-apply the LM-task criterion with it")
    elif base_loss < FITTED_LOSS:
        branch = ("converged, training set fitted at 60 steps: the step cap is not the reason; "
                  "the training-set cap is the next lever")
    else:
        branch = "converged with the training loss still high: PT does not fit these tasks"
    return lines, branch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm_budget_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", nargs="+", type=Path, help="JSON lines of benchmarks.lm_task_criterion")
    args = parser.parse_args(argv)
    try:
        lines, branch = check(read_cells(args.scores))
    except (ValueError, KeyError, json.JSONDecodeError, FileNotFoundError) as err:
        print(f"lm_budget_check: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines + [branch]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
