"""Regenerate one of the paper's tables: train what MLflow lacks, then report.

    python -m benchmarks.table table3 [--scale mini] [--datasets ...] [--seeds ...] [--dry-run]
                                      [--processes 2]

Every LLM call is replayed from benchmarks/responses/ (mode replay) unless
--llm-mode says otherwise; runs already finished in MLflow are skipped.
A subset (--methods/--datasets/--shots/--seeds) writes its tables to
reports/out/ unless --out says where: it never replaces the committed
reports/<table>.* files. --dry-run prints what the sweep would do (runs to
train, LLM calls, missing records, estimated time and API cost) and stops.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SUBSET_FLAGS = ("--methods", "--datasets", "--shots", "--seeds")
SUBSET_OUT = "reports/out"
INTERRUPTED = (130, 143, -2, -9, -15)   # maao.cli's Ctrl-C / SIGTERM exits, or death by signal
NOTE_MAX = 7500     # MLflow 3 keeps tag values (a run's description) up to 8000 characters


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="table1 ... table8, figure2 (a spec in benchmarks/specs/)")
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--out", help="where table3.md/.csv/.tex go (default reports/; "
                                       f"{SUBSET_OUT}/ for a subset)")
    parser.add_argument("--tracking-uri")
    parser.add_argument("--processes", type=int, default=1,
                        help="sweep processes started together on one store (its run claims keep them "
                             "off each other's runs), each at MAAO_THREADS = cores // N unless set; "
                             "a run's numbers can depend on the thread count (Table 3: its cells do "
                             "not on the reference CPU, a few rounds' diagnostics do; docs/performance.md)")
    args, sweep_args = parser.parse_known_args(argv)
    if args.processes < 1:
        parser.error(f"--processes: must be at least 1, got {args.processes}")
    started = time.perf_counter()
    steps, out = plan(args, sweep_args)
    wall_start = time.time()
    for n, cmd in enumerate(steps):
        together = args.processes if n == 0 and "--dry-run" not in sweep_args else 1
        code = run_together(cmd, together)
        if together > 1:
            try:
                settle_sweep_parent(args, code)
            except Exception as err:  # noqa: BLE001 - a store the sweeps could not reach either
                print(f"{args.table}: the sweep's parent run could not be closed: {err}", file=sys.stderr)
                code = code or 2
        if code:
            print(f"{args.table}: step failed ({' '.join(cmd[2:4])}, exit {code})", file=sys.stderr)
            return code
    if "--dry-run" in sweep_args:
        return 0            # the sweep printed its plan; no report of a store that did not change
    attached = attach_to_sweep(args, out, wall_start)
    print(f"{args.table} ({args.scale}): done in {time.perf_counter() - started:.0f}s; "
          f"tables in {out}/" + (f"; also on the sweep's parent run {attached} in MLflow" if attached else ""))
    return 0


def run_together(cmd: list[str], processes: int) -> int:
    """Run `processes` copies of `cmd` at once; the first non-zero exit status, else 0.
    Two one-thread sweeps use both cores of a 2-core machine without the
    oversubscription of two two-thread ones (docs/performance.md)."""
    if processes == 1:
        return subprocess.call(cmd)
    threads = os.environ.get("MAAO_THREADS") or str(max(1, (os.cpu_count() or 1) // processes))
    procs = [subprocess.Popen(cmd, env={**os.environ, "MAAO_THREADS": threads}) for _ in range(processes)]
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)


def settle_sweep_parent(args, code: int) -> str | None:
    """Set the sweep parent's status from all N processes' exit codes.
    Each process ends the shared parent run as it stops, so the last one to
    stop would otherwise decide: a FINISHED written after another process
    FAILED would hide that failure in the MLflow UI."""
    from maao.tracking import Tracker

    tracker = Tracker(args.tracking_uri)
    parent = tracker.sweep_id(f"maao-{args.table}-{args.scale}")
    if parent:
        interrupted = code in INTERRUPTED
        tracker.end_sweep(parent, "FINISHED" if code == 0 else "KILLED" if interrupted else "FAILED")
    return parent


def attach_to_sweep(args, out: str, since: float) -> str | None:
    """Log the files the report step wrote (table .md/.csv/.tex, cells and
    significance CSVs; Figure 2's CSV and pictures) to the sweep's parent run,
    under tables/, and make the table its description; then the table's
    numbers as runs and saved views (maao.table_views). Returns the run id."""
    from maao.tracking import Tracker

    reports = Path(__file__).resolve().parent.parent / "reports"
    # The reports CLI writes to reports/out/ itself when cells are missing.
    dirs = [Path(out) if args.out else reports / Path(out).relative_to("reports"), reports / "out"]
    files = [p for d in dirs if d.is_dir() for p in sorted(d.glob(f"{args.table}*"))
             if p.is_file() and p.stat().st_mtime >= since]
    tracker = Tracker(args.tracking_uri)
    parent = tracker.sweep_id(f"maao-{args.table}-{args.scale}")
    if not parent or not files:
        return None
    table_md = next((p for p in files if p.name == f"{args.table}.md"), None)
    note = table_md.read_text()[:NOTE_MAX] if table_md else None
    tracker.attach(parent, files, "tables", note=note)
    table_csv = next((p for p in files if p.name == f"{args.table}.csv"), None)
    if table_csv is not None:
        # The table's numbers in the UI: row summaries, the parent's metrics, saved views.
        from maao.table_views import log_table

        cells = next((p for p in files if p.name == f"{args.table}_cells.csv"), None)
        log_table(tracker.client, tracker.experiment_id(f"maao-{args.table}-{args.scale}"), parent,
                  args.table, args.scale, table_csv, cells)
    return parent


def plan(args, sweep_args: list[str]) -> tuple[list[list[str]], str]:
    """The sweep and report commands, and the output directory of the report."""
    subset = any(a.split("=")[0] in SUBSET_FLAGS for a in sweep_args)
    out = args.out or (SUBSET_OUT if subset else "reports")
    common = ["--scale", args.scale] + (["--tracking-uri", args.tracking_uri] if args.tracking_uri else [])
    report = [sys.executable, "-m", "reports", args.table, *common]
    # Without a subset and without --out, the reports CLI picks reports/ itself,
    # or reports/out/ when the store lacks cells of the spec.
    report += ["--out", out] if (args.out or subset) else []
    sweep = [sys.executable, "-m", "maao.cli", "sweep", args.table, *common, *sweep_args]
    return ([sweep] if "--dry-run" in sweep_args else [sweep, report]), out


if __name__ == "__main__":
    sys.exit(main())
