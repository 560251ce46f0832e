"""maao.scale without Ray or PostgreSQL: the parts `tox -e test` can check
(the real programs are exercised by tests/scale, `tox -e scale`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from maao.scale.ray_executor import REPO, absolute_uri, local_path, portable_path
from maao.scale.sockets import beyond_loopback, is_loopback


@pytest.mark.parametrize("ip, loopback", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("::ffff:10.0.0.1", False),
    ("fe80::1%eth0", False)])
def test_loopback_addresses(ip, loopback):
    assert is_loopback(ip) is loopback


def test_beyond_loopback_names_the_offenders():
    sockets = [(1, "raylet", "::ffff:127.0.0.1", 1), (2, "gcs_server", "::", 2), (3, "postgres", "127.0.0.1", 3)]
    assert beyond_loopback(sockets) == [(2, "gcs_server", "::", 2)]


def test_paths_travel_relative_to_the_repository(tmp_path):
    inside = REPO / "benchmarks" / "responses" / "table3-mini.jsonl"
    assert portable_path(inside) == ("repo", "benchmarks/responses/table3-mini.jsonl")
    assert local_path(portable_path(inside)) == inside
    assert portable_path(tmp_path / "r.jsonl") == ("abs", str((tmp_path / "r.jsonl").resolve()))


def test_sqlite_uris_are_made_absolute_for_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert absolute_uri("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert absolute_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("flag, value", [("--ray-cpus", "0"), ("--ray-gpus", "-0.5"), ("--executor", "dask")])
def test_bad_executor_options_exit_2(flag, value, capsys):
    from maao.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["sweep", "table3", flag, value])
    assert stop.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed here")
def test_executor_ray_without_ray_is_one_line(tmp_path, capsys):
    from maao.cli import main

    code = main(["sweep", "table3", "--methods", "single_start", "--datasets", "bbc_news", "--shots", "1",
                 "--seeds", "1", "--executor", "ray", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "maao: error: --executor ray: Ray is not installed (pip install -e .[scale])" in err
    assert "Traceback" not in err


def test_postgres_beyond_loopback_needs_a_password(capsys):
    from maao.scale.postgres import main

    assert main(["--data", "/nonexistent/pg", "--host", "0.0.0.0"]) == 2
    assert "--host 0.0.0.0 listens beyond loopback: give --password-file" in capsys.readouterr().err


def test_postgres_missing_password_file(capsys, tmp_path):
    from maao.scale.postgres import main

    assert main(["--data", str(tmp_path / "pg"), "--password-file", str(tmp_path / "nope")]) == 2
    assert f"--password-file {tmp_path / 'nope'}: no such file" in capsys.readouterr().err
