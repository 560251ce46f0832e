"""Is the mini budget long enough? The paper's M means "till convergence".

Criterion (stated before any method was compared, docs/mini-scale.md): the
recipe has converged when single-start given 2x and 4x its budget (N*m + M
steps, the cosine horizon stretched with it) is not significantly better on
test accuracy (paired Wilcoxon over the spec's (dataset, shots, seed) cells,
Holm over the two comparisons, alpha 0.05) and lowers the mean training loss
by less than 0.05 nats (absolute: few-shot training losses end near zero,
where a relative change says nothing).

    python -m benchmarks.convergence [--spec table3] [--seeds 1] [--out docs/convergence.csv]
    python -m benchmarks.convergence --verdict docs/convergence.csv   # the verdict of committed data
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

MULTIPLIERS = (1, 2, 4)
ALPHA = 0.05
MAX_LOSS_DROP = 0.05


def run_single_start(config, multiplier: int) -> dict:
    """Single-start with `multiplier` times the run's budget, without MLflow."""
    import torch

    from maao.methods import Budget, RunContext, RunLog, get_method
    from maao.runner import build_problem, evaluate_result, resolve

    problem = build_problem(config)
    config = resolve(config, problem)
    b = config.budget
    budget = Budget(b.rounds, b.steps_per_round, multiplier * b.total_steps - b.rounds * b.steps_per_round)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    ctx = RunContext(problem, config.gradient, budget, generator, RunLog(), config.config_hash())
    result = get_method("single_start").from_dict(config.method_settings).run(ctx)
    return {"steps": budget.total_steps, **evaluate_result(problem, result)}


def verdict(rows: list[dict]) -> list[str]:
    from reports.stats import holm_gains_over

    def values(k, metric):
        return [r[metric] for r in sorted(rows, key=lambda r: (r["dataset"], r["shots"], r["seed"]))
                if r["multiplier"] == k]

    base_acc, base_loss = values(1, "test_accuracy"), values(1, "train_loss")
    adjusted = holm_gains_over(base_acc, {k: values(k, "test_accuracy") for k in MULTIPLIERS[1:]})
    lines, converged = [], True
    for k in MULTIPLIERS[1:]:
        acc = values(k, "test_accuracy")
        loss_drop = (sum(base_loss) - sum(values(k, "train_loss"))) / len(base_loss)
        gain = sum(acc) / len(acc) - sum(base_acc) / len(base_acc)
        ok = adjusted[k] >= ALPHA and loss_drop < MAX_LOSS_DROP
        converged &= ok
        lines.append(f"{k}x budget vs 1x: test accuracy {gain:+.2f} points (Wilcoxon one-sided, "
                     f"Holm p = {adjusted[k]:.3f}), mean train loss {-loss_drop:+.4f} nats "
                     f"-> {'meets' if ok else 'FAILS'} the criterion")
    lines.append("converged" if converged else "NOT converged: lengthen the recipe")
    return lines


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV written by main (floats as written: six decimals)."""
    with open(path, newline="") as f:
        return [{k: v if k == "dataset" else int(v) if k in ("shots", "seed", "multiplier", "steps")
                 else float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="table3")
    parser.add_argument("--out", default="docs/convergence.csv")
    parser.add_argument("--seeds", nargs="+", type=int, help="default: the spec's")
    parser.add_argument("--verdict", metavar="CSV", help="print the verdict of a CSV this script wrote; no runs")
    args = parser.parse_args(argv)
    if args.verdict:
        print("\n".join(verdict(read_rows(Path(args.verdict)))))
        return 0

    import torch

    from maao.spec import expand, load_spec

    torch.set_num_threads(1)
    rows = []
    for config in expand(load_spec(args.spec), "mini", seeds=args.seeds, methods=["single_start"]):
        for k in MULTIPLIERS:
            r = run_single_start(config, k)
            rows.append({"dataset": config.dataset, "shots": config.shots, "seed": config.seed,
                         "multiplier": k, **r})
            print(f"{config.dataset} {config.shots}-shot seed {config.seed} x{k}: "
                  f"{r['steps']} steps, test {r['test_accuracy']:.2f}, train loss "
                  f"{r['train_loss']:.4f}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in r.items()}
                         for r in rows)
    print("\n".join(verdict(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
