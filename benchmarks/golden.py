"""Golden values: recorded runs must replay to the recorded numbers.

For every spec with recorded responses (Tables 1 to 8, Figure 2), a subset of
its mini sweep that fits in CI (every method row, cheap cells) is re-run from
scratch with every LLM call replayed from benchmarks/responses/, and each
final metric is compared with benchmarks/golden/<spec>-mini.json.

Exact equality is required when the platform matches the one the goldens were
made on (CPU architecture, vendor and kernel set, torch version, thread count:
the things that change float reduction order; goldens written before the CPU
was part of the platform never match, so they are checked with the tolerance). Elsewhere, a documented tolerance applies: losses within
ABS_TOL_LOSS, accuracies within ACC_TOL_EXAMPLES test examples.

A recorded run can replay to other numbers on another CPU where the run is
sensitive to float order (Table 1's combined winowhy cell: a binary task near
chance: its accuracy moves by 12-16 of its 890 test answers on AMD EPYCs with
the same replies). Such
a platform gets its own exact entry (`add-platform`, decision 137), made from
the same recorded replies, beside the reference values of the recording
platform. A platform with neither is compared with the tolerance, around the
span of the values the known platforms replay to where they differ (a run
already shown to move with the CPU may land anywhere in that span; decision
139): a real change still moves it out, a new CPU alone does not fail CI.

    python -m benchmarks.golden check [SPEC ...]         # what CI runs (through tests/)
    python -m benchmarks.golden update [SPEC ...]        # after an intended change; commit the diff
    python -m benchmarks.golden add-platform [SPEC ...]  # this platform's exact values, beside the reference
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SCALE = "mini"
# (dataset, shots, seed) cells re-run per spec; every method row of the spec runs on each.
# CI replays them all (tests/test_golden_replay.py, ~9 min of the suite's
# time). Table 3 at 1 and 16 shots; its 4-shot cell was dropped to keep CI
# within 30 minutes: 4-shot training is replayed by Tables 2 and 4-8's cells.
CELLS = {
    "table3": [("intent_recognition", 1, 1), ("intent_recognition", 16, 1), ("bbc_news", 1, 2)],
    "table4": [("intent_recognition", 4, 2)],
    "table5": [("intent_recognition", 4, 2)],
    "table6": [("intent_recognition", 4, 2)],
    "table7": [("intent_recognition", 4, 2)],
    "figure2": [("intent_recognition", 1, 1)],
    "table2": [("intent_recognition", 1, 1), ("bbc_news", 4, 2)],
    "table8": [("intent_recognition", 4, 2)],
    "table1": [("winowhy", 32, 1)],     # its cheapest cell: 48 steps a row
}
METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "llm_fallbacks", "llm_calls",
           "prompt_evaluations")  # the last: ZOPO's stated evaluation budget
ABS_TOL_LOSS = 5e-3
# Thread count changes float reduction order: goldens (and the recordings) use 2.
THREADS = 2
ACC_TOL_EXAMPLES = 2


def cpu_id() -> str:
    """CPU vendor and the kernel set torch dispatches to (e.g. "AuthenticAMD AVX512"):
    the same torch on another vendor's CPU or instruction set reduces floats in
    another order (an AMD EPYC replays the Intel-made goldens to ~1e-7 in the
    losses, accuracies equal)."""
    import torch

    vendor = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            vendor = next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), vendor)
    except OSError:
        pass
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()}"


def platform_id() -> str:
    import torch

    return f"{platform.machine()}|{cpu_id()}|torch {torch.__version__.split('+')[0]}|threads {THREADS}"


def golden_path(spec: str) -> Path:
    return GOLDEN_DIR / f"{spec}-{SCALE}.json"


def compute(spec_name: str = "table3", cells=None) -> dict:
    """Run every method row of a spec on its cells in a throwaway MLflow store,
    replaying the LLM; rows the spec declares `awaiting_recording` are left out."""
    from maao.llm import open_response_store
    from maao.runner import execute
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    import torch

    torch.set_num_threads(THREADS)
    spec = load_spec(spec_name)
    store = open_response_store(spec.responses_path(SCALE), "replay")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/golden.db")
        pending = spec.awaiting_recording(SCALE)  # no recorded replies to replay yet
        for dataset, shots, seed in cells or CELLS[spec_name]:
            for config in expand(spec, SCALE, [dataset], [shots], [seed]):
                if config.name in pending:
                    continue
                summary = execute(config, tracker, store)
                name = f"{config.name}/{dataset}/{shots}shot/seed{seed}"
                results[name] = {m: summary.metrics[m] for m in METRICS if m in summary.metrics}
    return results


def n_test(dataset: str) -> int:
    from maao.datasets import load_dataset

    return len(load_dataset(dataset).test)


def compare(golden: dict, actual: dict, exact: bool, known: tuple[dict, ...] = ()) -> list[str]:
    """Readable lines for every metric that moved beyond what is allowed. In a
    tolerance comparison, `known` holds the values other platforms replay to:
    a metric passes within the tolerance of the span [min, max] of them all."""
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
            span = [want] if exact else [want] + [k[name][metric] for k in known if metric in k.get(name, {})]
            if not min(span) - tol <= got <= max(span) + tol:
                where = "" if len(span) == 1 else f" of the known platforms' {min(span):.6f}..{max(span):.6f}"
                problems.append(f"{name} {metric}: golden {want:.6f} -> now {got:.6f} "
                                f"(moved {got - want:+.6f}, allowed {tol:g}{where})")
    return problems


def expected(golden: dict, here: str) -> tuple[dict, bool, tuple[dict, ...]]:
    """The values this platform must replay to, whether exactly, and the other
    platforms' values: the reference (recording platform) or this platform's
    own entry, exactly; otherwise the reference within the tolerance of the
    span of every known platform's values."""
    if golden["platform"] == here:
        return golden["runs"], True, ()
    if here in golden.get("per_platform", {}):
        return golden["per_platform"][here], True, ()
    return golden["runs"], False, tuple(golden.get("per_platform", {}).values())


def check(spec: str) -> tuple[list[str], bool]:
    """What moved in `spec`'s golden runs (empty: all replay), and whether the
    comparison was exact (a platform with golden values of its own)."""
    want, exact, known = expected(json.loads(golden_path(spec).read_text()), platform_id())
    return compare(want, compute(spec), exact, known), exact


def write(spec: str, golden: dict) -> None:
    golden_path(spec).parent.mkdir(parents=True, exist_ok=True)
    golden_path(spec).write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["check", "update", "add-platform"])
    parser.add_argument("specs", nargs="*", default=list(CELLS),
                        help=f"specs to check or update (default: all of {', '.join(CELLS)})")
    args = parser.parse_args(argv)
    unknown = [s for s in args.specs if s not in CELLS]
    if unknown:
        parser.error(f"no golden cells for {', '.join(unknown)}; known: {', '.join(CELLS)}")
    failed = 0
    for spec in args.specs:
        if args.action == "update":   # a new reference: other platforms' entries are stale
            actual = compute(spec)
            write(spec, {"platform": platform_id(), "runs": actual})
            print(f"wrote {golden_path(spec)} ({len(actual)} runs, platform {platform_id()})")
            continue
        if args.action == "add-platform":
            golden, actual = json.loads(golden_path(spec).read_text()), compute(spec)
            if golden["platform"] == platform_id():
                parser.error(f"{golden_path(spec)}: this platform made the reference; use update")
            moved = compare(golden["runs"], actual, exact=False)
            golden.setdefault("per_platform", {})[platform_id()] = actual
            write(spec, golden)
            print(f"wrote {golden_path(spec)}: {platform_id()} entry ({len(actual)} runs); beyond the "
                  f"tolerance of the reference: {len(moved)}" + "".join(f"\n  {m}" for m in moved))
            continue
        problems, exact = check(spec)
        mode = "exact" if exact else f"tolerance (golden platform differs from {platform_id()!r})"
        if problems:
            failed += 1
            print(f"{spec}: {len(problems)} metric(s) moved ({mode}):\n  " + "\n  ".join(problems))
        else:
            print(f"{spec}: all golden runs replay to the recorded numbers ({mode})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
