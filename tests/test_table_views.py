"""The table in MLflow's UI (issue 26): row summary runs, the parent's
metrics, table-order and colour tags, saved views, the links `maao ui` prints.

The store is a real SQLite MLflow store holding one run per cell of the
committed Table 3 (`reports/table3_cells.csv`: tags and test accuracy as a
sweep logs them) under a sweep parent; `maao.table_views.log_table` then
reads the committed `reports/table3.csv` as `benchmarks.table` does after
its report. The browser test (skipped without Chromium) serves it and reads
the page text of the printed links.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import types
import warnings
from pathlib import Path

import pytest

from maao import table_views
from maao.table_views import (CELL_FILTER, ROW_FILTER, SHARE_PREFIX, log_table, read_table, saved_views,
                              saved_views_supported, views)

ROOT = Path(__file__).resolve().parent.parent
TABLE_CSV = ROOT / "reports" / "table3.csv"
CELLS_CSV = ROOT / "reports" / "table3_cells.csv"


def _bundle() -> str:
    import mlflow.server

    js = Path(mlflow.server.__file__).parent / "js" / "build" / "static" / "js"
    return "\n".join(p.read_text(errors="replace") for p in sorted(js.glob("*.js")))


def _string_list_with(bundle: str, first: str) -> list[str]:
    match = re.search(r'\[("' + first + r'"(?:,"[A-Za-z]+")+)\]', bundle)
    assert match, f"MLflow's UI bundle has no list starting with {first!r}"
    return json.loads(f"[{match.group(1)}]")


def test_saved_view_format_is_the_one_the_installed_mlflow_ui_reads():
    """Pins MLflow's internal saved-view format (3.17.x): the envelope, the
    keys of the state, the group-by and chart shapes. Fails when an MLflow
    upgrade changes them: then `maao ui` must fall back (saved_views_supported)."""
    import mlflow

    assert mlflow.__version__.startswith("3."), mlflow.__version__
    assert saved_views_supported()
    bundle = _bundle()
    assert f'"{table_views.SHARE_PARAM}"' in bundle and f'"{SHARE_PREFIX}"' in bundle
    # envelope: {name: str, createdAt: number, state: str}
    assert 'typeof i.name||"number"!==typeof i.createdAt||"string"!==typeof i.state' in bundle
    facets = _string_list_with(bundle, "searchFilter")
    ui_state = _string_list_with(bundle, 'selectedColumns","columnOrder')
    assert {"orderByKey", "orderByAsc"} <= set(facets)
    state = views(["bbc_news", "intent_recognition"])["cells-bbc_news"][1]
    assert set(state) <= set(facets) | set(ui_state), set(state) - set(facets) - set(ui_state)
    # group by {aggregateFunction, groupByKeys: [{mode, groupByData}]}, modes and aggregates as the UI names them
    assert 'e.groupByKeys.some(e=>e.mode===t&&e.groupByData===n)' in bundle
    assert 'e.Tag="tag"' in bundle and 'e.Average="average"' in bundle
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "method"}]
    # columns are "<kind>.`<key>`"; charts carry uuid, type BAR, metricKey, metricSectionId
    assert ',I=(e,t)=>e+".`"+t+"`"' in bundle
    assert "this.type=c.BAR,this.metricKey=" in bundle
    assert 'e.SHOWALL="SHOW_ALL"' in bundle
    assert '"mlflow.runColor"' in bundle
    assert 'e.get("workflowType")' in bundle and '"machine_learning"' in bundle


def test_the_table_csv_rows_are_read_as_written():
    entries = read_table(TABLE_CSV, "mini")
    rows = list(dict.fromkeys(e["method"] for e in entries))
    assert rows == ["single_start", "multi_start", "multi_start_perturbed", "llm_only", "combined", "zopo"]
    assert read_table(ROOT / "reports" / "figure2.csv", "mini") == []    # another layout: no rows


def _average_column() -> dict[str, float]:
    """Label -> the Average entry of reports/table3.md (the published text)."""
    out = {}
    for line in (ROOT / "reports" / "table3.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and "±" in cells[3]:
            # the label without its verdict marks ("Combined (ours) †4,5": won comparisons 4 and 5)
            out[re.sub(r"\s*[†‡][\d,]*$", "", cells[0])] = float(cells[3].strip("*").split("±")[0])
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("views"))


def build_store(tmp: Path):
    """The real store of the module (also for a manual look: python -c ... build_store(path))."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    from maao.tracking import Tracker

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    tracker = Tracker(uri)
    eid = tracker.experiment_id("maao-table3-mini")
    parent = tracker.sweep_run("maao-table3-mini", "table3 mini sweep", {"table": "table3", "scale": "mini"})
    client = MlflowClient(uri)
    with open(CELLS_CSV, newline="") as fh:
        cells = list(csv.DictReader(fh))
    for i, c in enumerate(cells):
        run = client.create_run(eid, run_name=f"{c['method']}/{c['dataset']}/{c['shots']}shot/seed{c['seed']}")
        tags = {"table": "table3", "scale": "mini", "method": c["method"], "dataset": c["dataset"],
                "shots": c["shots"], "seed": c["seed"], "config_hash": f"h{i}", "mlflow.parentRunId": parent}
        client.log_batch(run.info.run_id, metrics=[Metric("test_accuracy", float(c["test_accuracy"]), 0, 0)],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id, "FINISHED")
    tracker.end_sweep(parent)
    counts = log_table(client, eid, parent, "table3", "mini", TABLE_CSV, CELLS_CSV)
    return types.SimpleNamespace(uri=uri, eid=eid, parent=parent, client=client, counts=counts, cells=cells)


@pytest.mark.slow
def test_row_runs_carry_the_table_numbers(store):
    assert store.counts == {"rows": 6, "cells": len(store.cells)}
    rows = store.client.search_runs([store.eid], ROW_FILTER)
    assert len(rows) == 6
    published = _average_column()
    for run in rows:
        label, m = run.data.tags["row_label"], run.data.metrics
        assert round(m["test_accuracy"], 2) == published[label], label
        assert {"test_accuracy.bbc_news", "test_accuracy.intent_recognition", "test_accuracy_std"} <= set(m)
        assert run.data.tags["mlflow.parentRunId"] == store.parent
    parent = store.client.get_run(store.parent).data.metrics
    assert round(parent["combined/Average"], 2) == published["Combined (ours)"]
    assert "zopo/bbc_news_std" in parent


@pytest.mark.slow
def test_cells_are_tagged_in_table_order_and_reports_ignore_the_rows(store):
    from reports.runs import load_runs

    cells = store.client.search_runs([store.eid], CELL_FILTER, order_by=["tags.table_order ASC"],
                                     max_results=1000)
    assert len(cells) == len(store.cells)
    first = [(r.data.tags["method"], r.data.tags["dataset"], r.data.tags["shots"], r.data.tags["seed"])
             for r in cells[:4]]
    assert first == [("single_start", "bbc_news", "1", "1"), ("single_start", "bbc_news", "1", "2"),
                     ("single_start", "bbc_news", "1", "3"), ("single_start", "bbc_news", "1", "4")]
    colours = {r.data.tags["method"]: r.data.tags["mlflow.runColor"] for r in cells}
    assert len(set(colours.values())) == 6
    assert cells[0].data.params["Method"] == "single_start"
    assert cells[0].data.metrics["Test accuracy"] == cells[0].data.metrics["test_accuracy"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the row runs are no cells: not even a warning
        df = load_runs(store.uri, "table3", "mini")
    assert len(df) == len(store.cells)
    assert set(saved_views(store.client.get_experiment(store.eid))) == {
        "rows", "cells", "cells-bbc_news", "cells-intent_recognition"}


@pytest.mark.slow
def test_log_table_twice_keeps_one_run_per_row(store):
    log_table(store.client, store.eid, store.parent, "table3", "mini", TABLE_CSV, CELLS_CSV)
    assert len(store.client.search_runs([store.eid], ROW_FILTER)) == 6


def _pick(store, dataset="intent_recognition", shots="4"):
    from maao.ui import compare_filter, methods_of

    methods = ["combined", "single_start"]
    return methods, dataset, shots, compare_filter(methods_of(store.uri, store.eid), methods, dataset, shots)


@pytest.mark.slow
def test_printed_links_open_saved_views_warn_past_a_page_and_compare_in_table_order(store):
    from maao.ui import links

    exp = store.client.get_experiment(store.eid)
    text = links("http://127.0.0.1:5000", store.uri, exp, _pick(store))
    urls = re.findall(r"http://\S+", text)
    assert urls and all("workflowType=machine_learning" in u for u in urls)
    assert "viewStateShareKey=rows&compareRunsMode=TABLE" in text
    assert "viewStateShareKey=rows&compareRunsMode=CHART" in text
    assert f"warning: {len(store.cells)} runs match" in text      # 288 > one page of 100
    (compare,) = [u for u in urls if "#/compare-runs?" in u]
    from urllib.parse import parse_qs, urlsplit

    ids = json.loads(parse_qs(urlsplit(compare).fragment.split("?", 1)[1])["runs"][0])
    order = [(store.client.get_run(i).data.tags["method"], store.client.get_run(i).data.tags["seed"]) for i in ids]
    seeds = [str(k) for k in range(1, 7)]          # Table 3's six seeds (the power grid)
    assert order == [("single_start", k) for k in seeds] + [("combined", k) for k in seeds]  # row order, then seed


@pytest.mark.slow
def test_links_without_saved_views_fall_back_to_filtered_runs_views(store):
    from maao.ui import links

    exp = store.client.get_experiment(store.eid)
    bare = types.SimpleNamespace(experiment_id=exp.experiment_id, name=exp.name,
                                 tags={k: v for k, v in exp.tags.items() if not k.startswith(SHARE_PREFIX)})
    text = links("http://127.0.0.1:5000", store.uri, bare, None)
    assert "viewStateShareKey" not in text and "searchFilter=tags.config_hash" in text
    assert "workflowType=machine_learning" in text


def _browser():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _page_text(url: str, until: str) -> str:
    """The page's DOM after it loaded, in headless Chromium with a fresh profile
    (2400 px wide: the runs table draws only the columns in view). A loaded
    machine sometimes dumps the page before MLflow's JavaScript drew it (CI
    once got only the style sheets of the chart page), so it loads the page
    again, up to three times, until `until` is in the text."""
    for _ in range(3):
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                  f"--user-data-dir={profile}", "--virtual-time-budget=30000",
                                  "--window-size=2400,1200", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=240).stdout
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
        if until in text:
            break
    return text


@pytest.fixture(scope="module")
def served(store):
    import socket

    from maao.ui import SERVER_ENV, stop, wait_until_up

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import os

    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.uri,
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **SERVER_ENV})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, proc)
        yield base
    finally:
        stop(proc)


@pytest.mark.slow
def test_a_headless_browser_shows_the_table(store, served):
    if _browser() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    from maao.ui import links

    text = links(served, store.uri, store.client.get_experiment(store.eid), _pick(store))
    urls = dict(zip(("rows", "chart"), re.findall(r"http://\S+viewStateShareKey=rows\S*", text)))
    published = _average_column()
    # (a) the 6 row runs with test accuracy, method, dataset, shots, seed as columns
    rows = _page_text(urls["rows"], "(table row)")
    for column in ("test_accuracy", "method", "dataset", "shots", "seed"):
        assert column in rows, column
    for label in published:
        assert f"{label} (table row)" in rows, label
    shown = {round(float(x), 2) for x in re.findall(r"\b\d+\.\d+\b", rows)}
    assert set(published.values()) <= shown, set(published.values()) - shown
    # (b) the chart: one bar per method, the Average column's values
    chart = _page_text(urls["chart"], "test_accuracy")
    assert "test_accuracy" in chart
    for label in published:
        assert f"{label} (table row)" in chart, label
    bars = chart.split("test_accuracy", 1)[1].split("test_accuracy")[0]     # the first chart's text
    assert set(published.values()) <= {round(float(x), 2) for x in re.findall(r"\b\d+\.\d+\b", bars)}
    # (c) the compare page: combined vs single-start, paired by seed
    (compare,) = re.findall(r"http://\S+#/compare-runs\?\S+", text)
    page = _page_text(compare, "intent_recognition/4shot/seed")
    names = re.findall(r"(single_start|combined)/intent_recognition/4shot/seed(\d)", page)
    seeds = [str(k) for k in range(1, 7)]
    assert list(dict.fromkeys(names)) == [("single_start", k) for k in seeds] + [("combined", k) for k in seeds]
