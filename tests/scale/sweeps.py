"""The mini sweep of tests/scale and how it is run and reported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The mini sweep: both single_start and combined (whose 3 LLM calls a run are
# replayed inside the Ray tasks from benchmarks/responses/mini.jsonl).
SWEEP = ["table3", "--scale", "mini", "--methods", "single_start", "combined",
         "--datasets", "bbc_news", "--shots", "1", "--seeds", "1", "2"]
RUNS = 4
TABLE_FILES = ("table3.md", "table3.csv", "table3.tex", "table3_cells.csv")


def maao_env(**extra) -> dict:
    """The sweep's environment: one torch thread (as a 1-CPU Ray task), offline."""
    return {**os.environ, "MAAO_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONHASHSEED": "0", **extra}


def sweep_cmd(uri: str, *extra) -> list[str]:
    return [sys.executable, "-m", "maao.cli", "sweep", *SWEEP, "--tracking-uri", uri, *extra]


def run(cmd, env=None, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=REPO, env=env or maao_env(), capture_output=True, text=True,
                          timeout=timeout)
    return done


def report(uri: str, out: Path) -> dict[str, bytes]:
    """Table 3 of this store, as `python -m reports` writes it: file name -> bytes."""
    done = run([sys.executable, "-m", "reports", "table3", "--tracking-uri", uri, "--scale", "mini",
                "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: (out / name).read_bytes() for name in TABLE_FILES}
