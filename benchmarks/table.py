"""Regenerate one of the paper's tables: train what MLflow lacks, then report.

    python -m benchmarks.table table3 [--scale mini] [--datasets ...] [--seeds ...]

Every LLM call is replayed from benchmarks/responses/ (mode replay) unless
--llm-mode says otherwise; runs already finished in MLflow are skipped.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="table3, table4, ...")
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--out", default="reports", help="where table3.md/.csv/.tex go (default reports/)")
    parser.add_argument("--tracking-uri")
    args, sweep_args = parser.parse_known_args(argv)
    started = time.perf_counter()
    common = ["--scale", args.scale] + (["--tracking-uri", args.tracking_uri] if args.tracking_uri else [])
    steps = [[sys.executable, "-m", "maao.cli", "sweep", args.table, *common, *sweep_args],
             [sys.executable, "-m", "reports", args.table, *common, "--out", args.out]]
    for cmd in steps:
        code = subprocess.call(cmd)
        if code:
            print(f"{args.table}: step failed ({' '.join(cmd[2:4])}, exit {code})", file=sys.stderr)
            return code
    print(f"{args.table} ({args.scale}): done in {time.perf_counter() - started:.0f}s; "
          f"tables in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
