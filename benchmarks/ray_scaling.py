"""The same small sweep with the local executor and with 1, 2 and 4 Ray workers
(docs/performance.md, "Sweeps on Ray"). Needs the scale extra (tox -e scale).

    python -m benchmarks.ray_scaling [--workers 1 2 4] [--seeds 1 2 3]

Each measurement starts a fresh one-machine Ray cluster (`ray start --head`
on 127.0.0.1 with `--num-cpus W`, one CPU per run, so W runs at a time) and a
fresh SQLite store, and times `maao sweep` from start to exit: cluster
connection, worker start-up (each worker imports torch and loads MiniLM
once), the runs, MLflow writes. Every run must match the local executor's
test accuracy.
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

from maao.scale.ray_local import LocalRayCluster

REPO = Path(__file__).resolve().parents[1]


def sweep_args(seeds) -> list[str]:
    return ["table3", "--scale", "mini", "--methods", "single_start", "combined",
            "--datasets", "bbc_news", "intent_recognition", "--shots", "1", "--seeds", *map(str, seeds)]


def timed_sweep(db: Path, seeds, extra_env: dict, *extra) -> float:
    env = {**os.environ, "MAAO_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           **extra_env}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "maao.cli", "sweep", *sweep_args(seeds),
                           "--tracking-uri", f"sqlite:///{db}", *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"sweep failed ({' '.join(extra)}):\n{done.stderr[-3000:]}")
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
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = ap.parse_args(argv)
    runs = 2 * 2 * len(args.seeds)
    with tempfile.TemporaryDirectory(prefix="maao-ray-scaling-") as tmp:
        tmp = Path(tmp)
        local_db = tmp / "local.db"
        rows = [("local executor (in-process)", timed_sweep(local_db, args.seeds, {}))]
        reference = accuracies(local_db)
        assert len(reference) == runs, reference
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
