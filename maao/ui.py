"""`maao ui` / `tox -e ui`: MLflow's UI over the suite's store, on loopback.

    maao ui [--table table3] [--scale mini] [--port 5000] [--tracking-uri URI]
            [--compare combined single_start [--dataset D] [--shots S]]

Starts `mlflow server` on 127.0.0.1 (never on a public interface: the
store holds every run's configuration and LLM transcripts) and prints the URL
of the table's runs view: filtered to the table's cell runs and sorted by test
accuracy, so that every row of the table, not the first ten runs, is there.
Ctrl-C stops the server. Needs MLflow only (no torch): `tox -e ui` installs
nothing else.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
# MLflow 3's server also starts a job runner (GenAI scorers, trace archival:
# seven processes) that a store of training runs never uses.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
# The cell runs of a table, not its sweep parent (tag run_kind=sweep).
CELL_FILTER = "tags.method != ''"
ORDER = "metrics.`test_accuracy`"


def runs_url(base: str, experiment_id: str, search: str = CELL_FILTER, view: str = "TABLE") -> str:
    """The experiment's runs view (not MLflow 3's default "Traces" page),
    filtered and sorted through the URL parameters the MLflow UI reads."""
    query = urllib.parse.urlencode({"searchFilter": search, "orderByKey": ORDER, "orderByAsc": "false",
                                    "compareRunsMode": view}, quote_via=urllib.parse.quote)
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"


def compare_filter(methods: set[str], pick: list[str], dataset: str | None = None,
                   shots: str | None = None) -> str:
    """A search filter for the runs of `pick` (method rows) among `methods`.
    MLflow's search has neither OR nor IN for tags, so the other rows are
    excluded one by one."""
    unknown = sorted(set(pick) - methods)
    if unknown:
        raise ValueError(f"no runs of method(s) {unknown}; the experiment has {sorted(methods)}")
    parts = [f"tags.method != '{m}'" for m in sorted(methods - set(pick))] or [CELL_FILTER]
    parts += [f"tags.dataset = '{dataset}'"] if dataset else []
    parts += [f"tags.shots = '{shots}'"] if shots else []
    return " AND ".join(parts)


def methods_of(uri: str, experiment_id: str) -> set[str]:
    """The method rows (tag `method`) of an experiment's runs."""
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(uri).search_runs([experiment_id], CELL_FILTER, max_results=50000)
    return {r.data.tags["method"] for r in runs}


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_until_up(base: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Poll MLflow's /health until it answers; raise if the server exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with status {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer on {base} within {timeout_s:.0f}s")


def _experiment(uri: str, name: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    names = sorted(e.name for e in client.search_experiments() if e.name.startswith("maao-"))
    return exp, names


def main(argv: list[str] | None = None) -> int:
    from .tracking import tracking_uri

    ap = argparse.ArgumentParser(prog="maao ui", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default="table3", help="table3 ... table8, figure2 (default table3)")
    ap.add_argument("--scale", default="mini", help="mini (default) or paper")
    ap.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    ap.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    ap.add_argument("--compare", nargs="+", metavar="METHOD",
                    help="also print a link to these method rows only, e.g. combined single_start")
    ap.add_argument("--dataset", help="with --compare: one dataset")
    ap.add_argument("--shots", help="with --compare: one shot count")
    args = ap.parse_args(argv)
    uri = tracking_uri(args.tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        print(f"maao ui: error: no MLflow store at {uri}; fill it first (e.g. `tox -e {args.table}`) "
              "or point --tracking-uri / MLFLOW_TRACKING_URI at one", file=sys.stderr)
        return 2
    name = f"maao-{args.table}-{args.scale}"
    exp, known = _experiment(uri, name)
    if exp is None:
        print(f"maao ui: error: no experiment {name!r} in {uri}; it has: {', '.join(known) or 'none'}",
              file=sys.stderr)
        return 2
    search = None
    if args.compare:
        try:
            search = compare_filter(methods_of(uri, exp.experiment_id), args.compare, args.dataset, args.shots)
        except ValueError as err:
            print(f"maao ui: error: {err}", file=sys.stderr)
            return 2
    if not _free(args.port):
        print(f"maao ui: error: port {args.port} on {HOST} is in use; choose another with --port",
              file=sys.stderr)
        return 2
    base = f"http://{HOST}:{args.port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", HOST, "--port", str(args.port), "--workers", "1"]
    # Its own process group: mlflow server runs its web server as a child
    # process, and stopping the group stops both.
    proc = subprocess.Popen(cmd, start_new_session=True, env={**os.environ, **SERVER_ENV})
    # SIGTERM, and SIGINT even where a shell started this in the background
    # with SIGINT ignored: stop the server, never leave it running.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    try:
        wait_until_up(base, proc)
        print(f"\nmaao ui: MLflow on {base} over {uri}\n"
              f"  {name} runs, best first:  {runs_url(base, exp.experiment_id)}\n"
              f"  the same runs as charts:  {runs_url(base, exp.experiment_id, view='CHART')}\n"
              + (f"  {' vs '.join(args.compare)}, as charts: "
                 f"{runs_url(base, exp.experiment_id, search, view='CHART')}\n    (filter: {search})\n"
                 if search else "")
              + f"  other experiments: {', '.join(n for n in known if n != name) or 'none'}\n"
              "  Ctrl-C stops the server.", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as err:
        print(f"maao ui: error: {err}", file=sys.stderr)
        return 1
    finally:
        stop(proc)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started here, with the processes it started."""
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    sys.exit(main())
