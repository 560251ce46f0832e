"""Screenshot of the MLflow UI comparing two methods (README, docs/ui-compare.png).

    python -m benchmarks.ui_screenshot [--table table3] [--methods combined single_start]
        [--dataset intent_recognition] [--shots 4] [--view CHART] [--out docs/ui-compare.png]

Starts MLflow's server on a free loopback port over the store
($MLFLOW_TRACKING_URI or --tracking-uri), opens the compare page of the two
methods' runs on one dataset and shot count (or the runs view) in Debian's
headless Chromium
(`apt-get install -y chromium`), saves the picture and stops the server.
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

    from maao.ui import SERVER_ENV, compare_filter, methods_of, runs_url, stop, wait_until_up
    from maao.tracking import tracking_uri

    ap = argparse.ArgumentParser(prog="python -m benchmarks.ui_screenshot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default="table3")
    ap.add_argument("--scale", default="mini")
    ap.add_argument("--methods", nargs=2, default=["combined", "single_start"])
    ap.add_argument("--dataset", default="intent_recognition")
    ap.add_argument("--shots", default="4")
    ap.add_argument("--view", default="COMPARE", choices=["COMPARE", "TABLE", "CHART"],
                    help="COMPARE (default): MLflow's compare page of the selected runs; TABLE/CHART: the "
                         "runs view (charts may still be loading when headless Chromium takes the picture)")
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
        search = compare_filter(methods_of(uri, exp.experiment_id), args.methods, args.dataset, args.shots)
        if args.view == "COMPARE":
            import json
            import urllib.parse

            ids = [r.info.run_id for r in MlflowClient(uri).search_runs([exp.experiment_id], search)]
            query = urllib.parse.urlencode({"runs": json.dumps(ids), "experiments": json.dumps([exp.experiment_id])})
            url = f"{base}/#/compare-runs?{query}"
        else:
            url = runs_url(base, exp.experiment_id, search, view=args.view)
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        # virtual time: the single-page app loads, queries the API and draws
        # its charts before the picture is taken.
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--hide-scrollbars", f"--window-size={args.size}", "--virtual-time-budget=30000",
                        f"--screenshot={out}", url], check=True, capture_output=True, timeout=300)
        print(f"wrote {out}\nfrom {url}")
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
