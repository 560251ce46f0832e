"""Issue 21, item 4 at the scale of a team: PostgreSQL goes down behind
`mlflow server` in the middle of a sweep. The sweep ends with one line
naming the tracking server and what to do (exit 2), not a traceback; once
the database is back, the same command resumes to the local executor's
table, and no run is left RUNNING."""
from __future__ import annotations

import subprocess
import time

import pytest
from sweeps import REPO, maao_env, report, run, sweep_cmd

pytestmark = pytest.mark.scale

# Fail within seconds instead of MLflow's default of 7 retries with backoff.
# MLflow reads the backoff factor as an integer: "0.5" is a bad value and the
# sweep exits at once (as in tests/faults/test_sweep_faults.py).
FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def cell_runs(uri: str, status: str | None = None) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("maao-table3-mini")
    if exp is None:
        return []
    found = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in found if r.data.tags.get("run_kind") != "sweep"
            and (status is None or r.info.status == status)]


def test_postgres_down_mid_sweep_is_one_line_and_the_sweep_resumes(local_table, postgres, mlflow_server, tmp_path):
    proc = subprocess.Popen(sweep_cmd(mlflow_server.uri), cwd=REPO, env=maao_env(**FAST),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not cell_runs(mlflow_server.uri, "FINISHED"):
            time.sleep(0.2)
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the sweep ended (exit {proc.returncode}) before a run had finished:\n{err[-3000:]}")
        postgres.stop()                                   # the database behind the server goes away
        try:
            out, err = proc.communicate(timeout=400)
        finally:
            postgres.start()                              # back for the resumption (and the other tests)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [line for line in err.strip().splitlines() if line.startswith("maao: error: ")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in err, err[-4000:]
    assert mlflow_server.uri in lines[0] and "tracking server" in lines[0] and "re-run the same command" in lines[0]

    again = run(sweep_cmd(mlflow_server.uri), env=maao_env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert not cell_runs(mlflow_server.uri, "RUNNING")
    assert report(mlflow_server.uri, tmp_path / "report") == local_table
