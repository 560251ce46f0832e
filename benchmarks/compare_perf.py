"""Compare a fresh pytest-benchmark JSON to the saved baseline on RATIOS.

Absolute times depend on the machine and on whatever else is running; the
ratios in each benchmark's extra_info (naive/fast step, one-by-one/batched
scoring, run/store time) are measured within one session and travel between
machines far better. Every ratio here is "higher is better".

    pytest benchmarks --benchmark-only --benchmark-json=out.json
    python benchmarks/compare_perf.py out.json [--baseline benchmarks/perf_baseline/baseline.json]
                                               [--drop 0.30] [--strict]

Advisory by default: prints a report and exits 0. With --strict it exits 1
when a ratio dropped by more than --drop (30%) or a baseline benchmark is
missing from the fresh run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_BASELINE = Path(__file__).resolve().parent / "perf_baseline" / "baseline.json"


def ratios(path: Path) -> dict[str, dict]:
    data = json.loads(Path(path).read_text())
    out = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if isinstance(info.get("ratio"), (int, float)):
            out[bench["name"]] = info
    return out


def devices(infos: dict[str, dict]) -> set[str]:
    """Where the ratios were measured ("cpu", "cuda", ...; baselines older than
    the device setting were all measured on the CPU)."""
    return {(info.get("machine") or {}).get("device", "cpu") for info in infos.values()}


def compare(fresh: dict, base: dict, drop: float) -> tuple[list[str], list[str]]:
    lines, flagged = [], []
    if devices(fresh) != devices(base):
        # A GPU step is launch-bound, a CPU step compute-bound: their ratios differ
        # by design (docs/performance.md, "GPU"), so a drop would mean nothing.
        lines.append(f"NOTE: baseline measured on {sorted(devices(base))}, fresh run on "
                     f"{sorted(devices(fresh))}: compare against a baseline of the same device "
                     f"(benchmarks/perf_baseline/gpu-*.json for CUDA)")
    lines.append(f"{'benchmark':40} {'baseline':>10} {'fresh':>10} {'change':>8}  target")
    for name in sorted(set(base) | set(fresh)):
        b, f = base.get(name), fresh.get(name)
        if f is None:
            lines.append(f"{name:40} {b['ratio']:>10.2f} {'missing':>10}")
            flagged.append(f"{name}: in the baseline, missing from the fresh run")
            continue
        if b is None:
            lines.append(f"{name:40} {'new':>10} {f['ratio']:>10.2f}")
            continue
        change = f["ratio"] / b["ratio"] - 1.0
        met = f.get("meets_target")
        mark = "" if met is None else ("met" if met else "MISSED")
        lines.append(f"{name:40} {b['ratio']:>10.2f} {f['ratio']:>10.2f} {change:>+7.0%}  "
                     f"{f.get('target', '')} {mark}  ({f.get('ratio_name', '')})")
        if change < -drop:
            flagged.append(f"{name}: ratio {b['ratio']:.2f} -> {f['ratio']:.2f} ({change:+.0%}, "
                           f"more than -{drop:.0%})")
    return lines, flagged


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fresh", type=Path, help="output of pytest --benchmark-json")
    ap.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    ap.add_argument("--drop", type=float, default=0.30, help="flag a ratio that fell by more than this")
    ap.add_argument("--strict", action="store_true", help="exit 1 when something is flagged")
    args = ap.parse_args(argv)
    lines, flagged = compare(ratios(args.fresh), ratios(args.baseline), args.drop)
    print("\n".join(lines))
    if flagged:
        print("\nFLAGGED (advisory%s):" % ("" if not args.strict else ", --strict"))
        print("\n".join("  - " + f for f in flagged))
    else:
        print(f"\nno ratio dropped by more than {args.drop:.0%}")
    return 1 if (flagged and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
