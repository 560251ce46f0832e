"""The same small sweep with the local executor and with 1, 2 and 4 Ray workers
(docs/performance.md, "Sweeps on Ray"). Needs the scale extra (tox -e scale).

    python -m benchmarks.ray_scaling [--workers 1 2 4] [--seeds 1 2 3] [--local-threads 1 2]

Each measurement starts a fresh one-machine Ray cluster (`ray start --head`
on 127.0.0.1 with `--num-cpus W`, one CPU per run, so W runs at a time) and a
fresh SQLite store, and times `maao sweep` from start to exit: cluster
connection, worker start-up (each worker imports torch and loads MiniLM
once), the runs, MLflow writes. Every run must match the local executor's
test accuracy. --local-threads times the local executor at each intra-op
thread count (MAAO_THREADS; `maao`'s default is the core count), the first
being the reference of the ratios.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sweep_args(seeds) -> list[str]:
    return ["table3", "--scale", "mini", "--methods", "single_start", "combined",
            "--datasets", "bbc_news", "intent_recognition", "--shots", "1", "--seeds", *map(str, seeds)]


def timed_sweep(db: Path, seeds, extra_env: dict, *extra, processes: int = 1) -> float:
    """Wall time of `processes` identical sweeps started together on one store
    (the store's run claims keep them off each other's runs)."""
    env = {**os.environ, "MAAO_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           **extra_env}
    cmd = [sys.executable, "-m", "maao.cli", "sweep", *sweep_args(seeds), "--tracking-uri", f"sqlite:///{db}",
           *extra]
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(processes)]
    errors = [p.communicate(timeout=1800)[1] for p in procs]
    seconds = time.perf_counter() - started
    for proc, err in zip(procs, errors):
        if proc.returncode:
            raise SystemExit(f"sweep failed ({' '.join(extra)}):\n{err[-3000:]}")
    return seconds


def accuracies(db: Path) -> dict:
    """config_hash -> test accuracy of the FINISHED runs (straight from MLflow's SQLite)."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT t.value, m.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'config_hash' "
            "JOIN latest_metrics m ON m.run_uuid = r.run_uuid AND m.key = 'test_accuracy' "
            "WHERE r.status = 'FINISHED'").fetchall()
    return dict(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ray_scaling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2, 4])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--local-threads", nargs="+", type=int, default=[1])
    ap.add_argument("--local-processes", nargs="*", type=int, default=[],
                    help="also time N local sweeps at once on one store, one thread each")
    args = ap.parse_args(argv)
    runs = 2 * 2 * len(args.seeds)
    with tempfile.TemporaryDirectory(prefix="maao-ray-scaling-") as tmp:
        tmp = Path(tmp)
        rows, reference = [], None
        for threads in args.local_threads:
            local_db = tmp / f"local{threads}.db"
            seconds = timed_sweep(local_db, args.seeds, {"MAAO_THREADS": str(threads)})
            rows.append((f"local executor (in-process), {threads} thread(s)", seconds))
            reference = reference or accuracies(local_db)
            assert len(reference) == runs, reference
            if accuracies(local_db) != reference:
                raise SystemExit(f"local executor at {threads} threads: accuracies differ from "
                                 f"{args.local_threads[0]} thread(s)")
        for n in args.local_processes:
            db = tmp / f"processes{n}.db"
            seconds = timed_sweep(db, args.seeds, {"MAAO_THREADS": "1"}, processes=n)
            if accuracies(db) != reference:
                raise SystemExit(f"{n} local processes: accuracies differ from the local executor's")
            rows.append((f"{n} local sweeps at once, one store, 1 thread each", seconds))
        if args.workers:
            from maao.scale.ray_local import LocalRayCluster    # the scale extra
        for workers in args.workers:
            db = tmp / f"ray{workers}.db"
            ray_temp = Path(f"/tmp/maao-ray-scaling-{os.getpid()}-{workers}")  # short: socket paths
            try:
                with LocalRayCluster(workers, ray_temp, tmp / f"ray{workers}.log") as cluster:
                    seconds = timed_sweep(db, args.seeds, cluster.driver_env, "--executor", "ray")
            finally:
                shutil.rmtree(ray_temp, ignore_errors=True)
            if accuracies(db) != reference:
                raise SystemExit(f"{workers} Ray workers: accuracies differ from the local executor's")
            rows.append((f"Ray, {workers} worker(s)", seconds))
    base = rows[0][1]
    print(f"{runs} runs (single_start + combined, bbc_news + intent_recognition, 1 shot, "
          f"seeds {args.seeds}); {os.cpu_count()} cores; every run's accuracy equals the local one\n")
    print("| executor | wall time | runs/min | vs local |\n|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} s | {runs * 60 / seconds:.1f} | {base / seconds:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
