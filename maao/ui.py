"""`maao ui` / `tox -e ui`: MLflow's UI over the suite's store, on loopback.

    maao ui [--table table3] [--scale mini] [--port 5000] [--tracking-uri URI]
            [--compare combined single_start [--dataset D] [--shots S]]

Starts `mlflow server` on 127.0.0.1 (never on a public interface: the
store holds every run's configuration and LLM transcripts) and prints links
that show the table's numbers: the saved views that `python -m benchmarks.table`
writes (maao.table_views: one run per table row, the cells of each dataset
grouped by method, every cell in table order), and MLflow's compare page of
two rows (default combined vs single_start). Where the store has no saved
views, or this MLflow's UI cannot read them, it prints filtered runs-view
URLs instead; it warns where a link matches more runs than the runs view
loads at once (100).
Ctrl-C stops the server. Needs MLflow only (no torch): `tox -e ui` installs
nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from .table_views import CELL_FILTER, PAGE, ROW_FILTER, SHARE_PARAM, saved_views, saved_views_supported

HOST = "127.0.0.1"
# MLflow 3's server also starts a job runner (GenAI scorers, trace archival:
# seven processes) that a store of training runs never uses.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
ORDER = "metrics.`test_accuracy`"
# Every printed link opens MLflow's "Model training" side, not the GenAI one.
WORKFLOW = {"workflowType": "machine_learning"}
DEFAULT_PAIR = ("combined", "single_start")


def runs_url(base: str, experiment_id: str, search: str = CELL_FILTER, view: str = "TABLE") -> str:
    """The experiment's runs view (not MLflow 3's default "Traces" page),
    filtered and sorted through the URL parameters the MLflow UI reads."""
    query = urllib.parse.urlencode({"searchFilter": search, "orderByKey": ORDER, "orderByAsc": "false",
                                    "compareRunsMode": view, **WORKFLOW}, quote_via=urllib.parse.quote)
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"


def view_url(base: str, experiment_id: str, key: str, view: str = "TABLE") -> str:
    """A saved view of the experiment (maao.table_views), as table or charts."""
    query = urllib.parse.urlencode({SHARE_PARAM: key, "compareRunsMode": view, **WORKFLOW})
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's compare page of these runs, in this order."""
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids), "experiments": json.dumps([experiment_id]),
                                    **WORKFLOW})
    return f"{base}/#/compare-runs?{query}"


def compare_filter(methods: set[str], pick: list[str], dataset: str | None = None,
                   shots: str | None = None) -> str:
    """A search filter for the cell runs of `pick` (method rows) among `methods`.
    MLflow's search has neither OR nor IN for tags, so the other rows are
    excluded one by one."""
    unknown = sorted(set(pick) - methods)
    if unknown:
        raise ValueError(f"no runs of method(s) {unknown}; the experiment has {sorted(methods)}")
    parts = [CELL_FILTER] + [f"tags.method != '{m}'" for m in sorted(methods - set(pick))]
    parts += [f"tags.dataset = '{dataset}'"] if dataset else []
    parts += [f"tags.shots = '{shots}'"] if shots else []
    return " AND ".join(parts)


def cell_runs(uri: str, experiment_id: str, search: str = CELL_FILTER) -> list:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri).search_runs([experiment_id], search, max_results=50000)


def methods_of(uri: str, experiment_id: str) -> set[str]:
    """The method rows (tag `method`) of an experiment's cell runs."""
    return {r.data.tags["method"] for r in cell_runs(uri, experiment_id)}


def table_ordered(runs: list, rows: list[str]) -> list:
    """Runs ordered method (table row order, else by name), dataset, shots, seed."""
    def key(run):
        t = run.data.tags
        row = rows.index(t["method"]) if t["method"] in rows else len(rows)
        return (row, t["method"], t.get("dataset", ""), _int(t.get("shots")), _int(t.get("seed")))
    return sorted(runs, key=key)


def _int(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1


def page_warning(what: str, count: int) -> str:
    """A line when more runs match than MLflow's runs view loads at once."""
    if count <= PAGE:
        return ""
    return (f"    warning: {count} runs match {what}; MLflow's runs view loads {PAGE} at a time (press "
            f"\"Load more\" at the bottom), and its charts and group averages cover only the loaded runs "
            "(the table's numbers: the rows link, or reports/)\n")


def compare_pick(uri: str, experiment_id: str, args) -> tuple | None:
    """(methods, dataset, shots, filter) of the compare link: --compare's,
    else combined vs single_start on the first dataset at the middle shot
    count where the table has both rows; None otherwise."""
    methods = methods_of(uri, experiment_id)
    pick = args.compare or ([*DEFAULT_PAIR] if set(DEFAULT_PAIR) <= methods else None)
    if not pick:
        return None
    dataset, shots = args.dataset, args.shots
    if not args.compare:
        runs = cell_runs(uri, experiment_id, compare_filter(methods, pick))
        dataset = dataset or min(r.data.tags.get("dataset", "") for r in runs)
        counts = sorted({_int(r.data.tags.get("shots")) for r in runs})
        shots = shots or str(counts[len(counts) // 2])
    return pick, dataset, shots, compare_filter(methods, pick, dataset, shots)


def links(base: str, uri: str, exp, pick) -> str:
    """What `maao ui` prints: the links to the table's views, with a warning
    where a link matches more runs than the runs view loads at once."""
    eid = exp.experiment_id
    views = saved_views(exp) if saved_views_supported() else {}
    rows = sorted(cell_runs(uri, eid, ROW_FILTER), key=lambda r: r.data.tags.get("table_order", ""))
    row_names = [r.data.tags["method"] for r in rows]
    cells = cell_runs(uri, eid)
    out = []
    if "rows" in views:
        out += [f"  {exp.name}, the table ({len(row_names)} row runs: the numbers of the report's table):",
                f"    rows:       {view_url(base, eid, 'rows')}",
                f"    as charts:  {view_url(base, eid, 'rows', 'CHART')}"]
        for key in views:
            if key.startswith("cells-"):
                n = sum(1 for r in cells if r.data.tags.get("dataset") == key[len("cells-"):])
                out.append(f"  cells of {key[len('cells-'):]} by method, averages ({n} runs): "
                           f"{view_url(base, eid, key, 'CHART')}")
                if n > PAGE:
                    out.append(page_warning(f"the view {key}", n).rstrip("\n"))
        out.append(f"  every cell run in table order ({len(cells)} runs): {view_url(base, eid, 'cells')}")
    else:
        out += [f"  {exp.name} runs ({len(cells)}), best first:  {runs_url(base, eid)}",
                f"  the same runs as charts:  {runs_url(base, eid, view='CHART')}",
                "    (no saved views: `python -m benchmarks.table` writes them"
                + ("" if saved_views_supported() else "; this MLflow's UI does not read them") + ")"]
    text = "\n".join(out) + "\n" + page_warning("the cell-run links", len(cells))
    if pick:
        methods, dataset, shots, search = pick
        chosen = table_ordered(cell_runs(uri, eid, search), row_names)
        where = ", ".join(x for x in (dataset, f"{shots} shots" if shots else "") if x)
        text += (f"  compare {' vs '.join(methods)}{', ' + where if where else ''} ({len(chosen)} runs, "
                 f"ordered method, dataset, shots, seed): {compare_url(base, eid, [r.info.run_id for r in chosen])}\n"
                 f"    the same runs in the runs view: {runs_url(base, eid, search, view='CHART')}\n"
                 f"    (filter: {search})\n")
    return text


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
                    help="the compare page of these method rows (default: combined single_start where "
                         "both exist, on the first dataset at the middle shot count)")
    ap.add_argument("--dataset", help="with --compare: one dataset (default all)")
    ap.add_argument("--shots", help="with --compare: one shot count (default all)")
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
    try:
        pick = compare_pick(uri, exp.experiment_id, args)
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
              + links(base, uri, exp, pick)
              + f"  other experiments: {', '.join(n for n in known if n != name) or 'none'}\n"
              "  Two clicks MLflow remembers (once per browser): \"Model training\" in the side bar's "
              "switch, and the x of the Assistant panel.\n"
              "  Ctrl-C stops the server.", flush=True)
        return _serve(proc)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as err:
        print(f"maao ui: error: {err}", file=sys.stderr)
        return 1
    finally:
        stop(proc)


def _serve(proc: subprocess.Popen) -> int:
    """Wait for the server; return when it exits or when the process that
    started `maao ui` is gone (SIGTERM to `tox -e ui` ends tox, not its children)."""
    parent = os.getppid()
    while True:
        try:
            return proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                print("maao ui: the process that started me ended; stopping the server", file=sys.stderr)
                return 0


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
