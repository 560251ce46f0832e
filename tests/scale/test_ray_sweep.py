"""Issue 13 acceptance, on loopback with the real programs: a mini sweep through
Ray into `mlflow server` on PostgreSQL gives the local executor's table byte
for byte; a Ray worker killed mid-sweep loses no finished run and the sweep
completes (on resubmission, or by Ray's retry); nothing listens beyond
127.0.0.1."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sweeps import REPO, RUNS, maao_env, report, run, sweep_cmd

pytestmark = pytest.mark.scale


def cell_runs(client, exp, status: str) -> list:
    """The experiment's runs with this status, without the sweep's parent run
    (tag run_kind=sweep, no cell tags: decision 40)."""
    runs = client.search_runs([exp.experiment_id], f"attributes.status = '{status}'", max_results=1000)
    return [r for r in runs if r.data.tags.get("run_kind") != "sweep"]


def finished_runs(uri: str) -> dict[tuple, str]:
    """(method, dataset, shots, seed) -> run id of the FINISHED runs; one per cell."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("maao-table3-mini")
    runs = cell_runs(client, exp, "FINISHED")
    cells = [(r.data.tags["method"], r.data.tags["dataset"], r.data.tags["shots"], r.data.tags["seed"])
             for r in runs]
    assert len(cells) == len(set(cells)), f"duplicate finished runs: {sorted(cells)}"
    return {c: r.info.run_id for c, r in zip(cells, runs)}


def test_ray_sweep_into_postgres_mlflow_equals_local(local_table, ray_cluster, mlflow_server, tmp_path):
    done = run(sweep_cmd(mlflow_server.uri, "--executor", "ray", "--ray-address", ray_cluster.address, "-v"),
               env=maao_env(**ray_cluster.driver_env))
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"{RUNS} run(s) trained, 0 skipped" in done.stdout
    pids = {line.rsplit("worker pid ", 1)[1].rstrip(")") for line in done.stderr.splitlines()
            if "worker pid" in line}
    assert len(pids) >= 2, "the runs should have been spread over two Ray workers"
    assert report(mlflow_server.uri, tmp_path / "report") == local_table

    # The runs' records are in PostgreSQL, their artifacts behind the server's proxy.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    runs = finished_runs(mlflow_server.uri)
    assert len(runs) == RUNS
    combined = client.get_run(runs[("combined", "bbc_news", "1", "1")])
    assert combined.data.metrics["llm_calls"] == 3          # replayed inside a Ray task
    assert client.get_experiment(combined.info.experiment_id).artifact_location.startswith("mlflow-artifacts:")
    names = {a.path for a in client.list_artifacts(combined.info.run_id)}
    assert {"config.json", "llm_transcript.json"} <= names
    assert list((mlflow_server.artifacts).rglob("llm_transcript.json"))

    # Resubmitted: the same skip-if-finished rule as the local executor.
    again = run(sweep_cmd(mlflow_server.uri, "--executor", "ray"), env=maao_env(**ray_cluster.driver_env))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"0 run(s) trained, {RUNS} skipped" in again.stdout


def _kill_a_worker_mid_run(ray_cluster, uri, *extra):
    """Start the sweep; once one run has finished, SIGKILL the worker that is
    training another (its pid is the RUNNING run's `pid` tag). Returns the
    sweep's exit code, stdout, stderr, the runs finished before the kill and
    the id of the run that was killed."""
    proc = subprocess.Popen(sweep_cmd(uri, "--executor", "ray", *extra), cwd=REPO,
                            env=maao_env(**ray_cluster.driver_env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 400
    killed = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            before = _runs_by_status(uri, "FINISHED")
            training = {r.data.tags.get("pid"): r.info.run_id for r in _runs_by_status(uri, "RUNNING").values()}
            workers = {str(p.pid): p for p in ray_cluster.workers_running("run_task")}
            mid_run = sorted(set(training) & set(workers))
            if before and mid_run:
                workers[mid_run[0]].send_signal(signal.SIGKILL)
                killed = _killed_run(uri, mid_run[0], training[mid_run[0]])
                break
            time.sleep(0.1)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, f"no worker was caught mid-run:\n{err[-3000:]}"
    before = {cell: run.info.run_id for cell, run in before.items()}
    return proc.returncode, out, err, before, killed


def _killed_run(uri, pid: str, seen_running: str) -> str:
    """The run the SIGKILL interrupted: the one still RUNNING with the dead
    worker's pid. The run seen RUNNING a moment before the kill may have
    finished in between (listing the store takes a few hundred ms; a CI run
    saw it FINISHED), and the worker may have started its next run;
    read just after the kill, long before a Ray retry (a fresh worker process,
    seconds) could close it."""
    time.sleep(0.5)
    running = [r.info.run_id for r in _runs_by_status(uri, "RUNNING").values() if r.data.tags.get("pid") == pid]
    return running[0] if running else seen_running


def _runs_by_status(uri, status) -> dict:
    """(method, dataset, shots, seed) -> run with this status ({} before the experiment exists)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("maao-table3-mini")
    if exp is None:
        return {}
    runs = cell_runs(client, exp, status)
    return {(r.data.tags["method"], r.data.tags["dataset"], r.data.tags["shots"], r.data.tags["seed"]): r
            for r in runs}


def test_killed_worker_loses_no_finished_run_and_resubmission_completes(
        local_table, ray_cluster, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    rc, out, err, before, killed = _kill_a_worker_mid_run(ray_cluster, mlflow_server.uri, "--ray-retries", "0")
    assert rc == 1, err[-3000:]
    assert "run(s) did not complete on Ray (finished runs are kept); re-run the same command" in err
    assert client.get_run(killed).info.status == "RUNNING"       # its process died with it
    after = finished_runs(mlflow_server.uri)
    assert len(after) < RUNS
    assert all(after[cell] == run_id for cell, run_id in before.items())   # nothing finished was lost

    again = run(sweep_cmd(mlflow_server.uri, "--executor", "ray", "-v"), env=maao_env(**ray_cluster.driver_env))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{RUNS - len(after)} run(s) trained, {len(after)} skipped" in again.stdout
    final = finished_runs(mlflow_server.uri)
    assert len(final) == RUNS and all(final[c] == r for c, r in after.items())
    stale = client.get_run(killed)                               # closed by the resubmission
    assert stale.info.status == "KILLED" and stale.data.tags["replaced_by"] in final.values()
    assert report(mlflow_server.uri, tmp_path / "report") == local_table


def test_killed_worker_is_retried_by_ray(local_table, ray_cluster, mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    rc, out, err, before, killed = _kill_a_worker_mid_run(ray_cluster, mlflow_server.uri)  # 3 retries
    assert rc == 0, err[-3000:]
    assert f"{RUNS} run(s) trained, 0 skipped" in out
    final = finished_runs(mlflow_server.uri)
    assert len(final) == RUNS and all(final[c] == r for c, r in before.items())
    # The killed task's run was left RUNNING; Ray's retry closed it as KILLED.
    stale = client.get_run(killed)
    assert stale.info.status == "KILLED" and stale.data.tags["replaced_by"] in final.values()
    assert not _runs_by_status(mlflow_server.uri, "RUNNING")
    assert report(mlflow_server.uri, tmp_path / "report") == local_table


def test_nothing_listens_beyond_loopback(ray_cluster, mlflow_server, postgres):
    from maao.scale.sockets import beyond_loopback, listening

    sockets = listening([ray_cluster.proc.pid, mlflow_server.proc.pid, postgres.proc.pid])
    names = {name for _, name, _, _ in sockets}
    assert "postgres" in names and any("raylet" in n or "gcs" in n for n in names), sockets
    assert (mlflow_server.host, mlflow_server.port) in {(ip, port) for _, _, ip, port in sockets}
    assert beyond_loopback(sockets) == []
