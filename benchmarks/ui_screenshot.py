"""Screenshot of the MLflow UI comparing two methods (README, docs/ui-compare.png).

    python -m benchmarks.ui_screenshot [--table table3] [--methods combined single_start]
        [--dataset intent_recognition] [--shots 4] [--view COMPARE|ROWS|CHART|CELLS]
        [--out docs/ui-compare.png]

Starts MLflow's server on a free loopback port over the store
($MLFLOW_TRACKING_URI or --tracking-uri), opens one of the links `maao ui`
prints in Debian's headless Chromium (`apt-get install -y chromium`) with a
fresh profile, saves the picture and stops the server: the compare page of
the two methods' runs on one dataset and shot count (COMPARE), or the saved
view of the table's rows as a table (ROWS) or as charts (CHART), or every
cell run in table order (CELLS).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    import os

    import tempfile

    from maao.table_views import saved_views, saved_views_supported
    from maao.ui import (SERVER_ENV, cell_runs, compare_filter, compare_url, methods_of, runs_url, stop,
                         table_ordered, view_url, wait_until_up)
    from maao.tracking import tracking_uri

    ap = argparse.ArgumentParser(prog="python -m benchmarks.ui_screenshot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default="table3")
    ap.add_argument("--scale", default="mini")
    ap.add_argument("--methods", nargs=2, default=["combined", "single_start"])
    ap.add_argument("--dataset", default="intent_recognition")
    ap.add_argument("--shots", default="4")
    ap.add_argument("--view", default="COMPARE", choices=["COMPARE", "ROWS", "CHART", "CELLS"],
                    help="COMPARE (default): MLflow's compare page of the selected runs; ROWS / CHART: the "
                         "saved view of the table's rows as a table / as charts; CELLS: every cell run")
    ap.add_argument("--size", default="1600,1400", help="browser window, width,height")
    ap.add_argument("--out", default="docs/ui-compare.png")
    ap.add_argument("--tracking-uri")
    args = ap.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("ui_screenshot: error: no chromium on PATH (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(args.tracking_uri)
    exp = MlflowClient(uri).get_experiment_by_name(f"maao-{args.table}-{args.scale}")
    if exp is None:
        print(f"ui_screenshot: error: no experiment maao-{args.table}-{args.scale} in {uri}", file=sys.stderr)
        return 2
    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, **SERVER_ENV})
    try:
        wait_until_up(base, server)
        eid = exp.experiment_id
        if args.view == "COMPARE":
            search = compare_filter(methods_of(uri, eid), args.methods, args.dataset, args.shots)
            rows = [m for m in dict.fromkeys(r.data.tags["method"] for r in sorted(
                cell_runs(uri, eid, "tags.run_kind = 'row'"), key=lambda r: r.data.tags.get("table_order", "")))]
            url = compare_url(base, eid, [r.info.run_id for r in table_ordered(cell_runs(uri, eid, search), rows)])
        elif saved_views_supported() and "rows" in saved_views(exp):
            key, mode = {"ROWS": ("rows", "TABLE"), "CHART": ("rows", "CHART"), "CELLS": ("cells", "TABLE")}[args.view]
            url = view_url(base, eid, key, mode)
        else:
            url = runs_url(base, eid, view="CHART" if args.view == "CHART" else "TABLE")
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        # virtual time: the single-page app loads, queries the API and draws
        # its charts before the picture is taken.
        with tempfile.TemporaryDirectory() as profile:   # a fresh profile: what a first visit shows
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={args.size}",
                            "--virtual-time-budget=30000", f"--screenshot={out}", url],
                           check=True, capture_output=True, timeout=300)
        print(f"wrote {out}\nfrom {url}")
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
