"""Golden values: recorded runs must replay to the recorded numbers.

A subset of the Table 3 mini sweep that fits in CI (every method, cheap
datasets) is re-run from scratch with every LLM call replayed from
benchmarks/responses/, and each final metric is compared with
benchmarks/golden/table3-mini.json.

Exact equality is required when the platform matches the one the goldens were
made on (CPU architecture, torch version, thread count: the things that change
float reduction order). Elsewhere, a documented tolerance applies: losses within
ABS_TOL_LOSS, accuracies within ACC_TOL_EXAMPLES test examples.

    python -m benchmarks.golden check     # what CI runs (through tests/)
    python -m benchmarks.golden update    # after an intended change; commit the diff
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "table3-mini.json"
SPEC, SCALE = "table3", "mini"
CELLS = [("intent_recognition", 1, 1), ("intent_recognition", 4, 1), ("intent_recognition", 16, 1),
         ("social_support", 4, 1)]
METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "llm_fallbacks", "llm_calls")
ABS_TOL_LOSS = 5e-3
# Thread count changes float reduction order: goldens (and the recordings) use 2.
THREADS = 2
ACC_TOL_EXAMPLES = 2


def platform_id() -> str:
    import torch

    return f"{platform.machine()}|torch {torch.__version__.split('+')[0]}|threads {THREADS}"


def compute(cells=CELLS) -> dict:
    """Run every method on `cells` in a throwaway MLflow store, replaying the LLM."""
    from maao.cli import _store
    from maao.runner import execute
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    import torch

    torch.set_num_threads(THREADS)
    spec = load_spec(SPEC)
    store = _store(spec.responses_path(SCALE), "replay")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/golden.db")
        for dataset, shots, seed in cells:
            for config in expand(spec, SCALE, [dataset], [shots], [seed]):
                summary = execute(config, tracker, store)
                name = f"{config.method}/{dataset}/{shots}shot/seed{seed}"
                results[name] = {m: summary.metrics[m] for m in METRICS if m in summary.metrics}
    return results


def n_test(dataset: str) -> int:
    from maao.datasets import load_dataset

    return len(load_dataset(dataset).test)


def compare(golden: dict, actual: dict, exact: bool) -> list[str]:
    """Readable lines for every metric that moved beyond what is allowed."""
    problems = []
    for name in sorted(set(golden) | set(actual)):
        if name not in actual:
            problems.append(f"{name}: missing from this run")
            continue
        if name not in golden:
            problems.append(f"{name}: not in the golden file (run `python -m benchmarks.golden update`)")
            continue
        acc_tol = 100.0 * ACC_TOL_EXAMPLES / n_test(name.split("/")[1])
        for metric in sorted(set(golden[name]) | set(actual[name])):
            want, got = golden[name].get(metric), actual[name].get(metric)
            if want is None or got is None:
                problems.append(f"{name} {metric}: golden {want} vs now {got}")
                continue
            tol = 0.0 if exact else acc_tol if "accuracy" in metric else \
                ABS_TOL_LOSS if "loss" in metric else 0.0
            if abs(want - got) > tol:
                problems.append(f"{name} {metric}: golden {want:.6f} -> now {got:.6f} "
                                f"(moved {got - want:+.6f}, allowed {tol:g})")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["check", "update"])
    args = parser.parse_args(argv)
    actual = compute()
    if args.action == "update":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps({"platform": platform_id(), "runs": actual}, indent=1,
                                     sort_keys=True) + "\n")
        print(f"wrote {GOLDEN} ({len(actual)} runs, platform {platform_id()})")
        return 0
    golden = json.loads(GOLDEN.read_text())
    exact = golden["platform"] == platform_id()
    problems = compare(golden["runs"], actual, exact)
    mode = "exact" if exact else f"tolerance (golden platform {golden['platform']!r}, here {platform_id()!r})"
    if problems:
        print(f"{len(problems)} metric(s) moved ({mode}):\n  " + "\n  ".join(problems))
        return 1
    print(f"all {len(actual)} golden runs replay to the recorded numbers ({mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
