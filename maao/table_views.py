"""The table in MLflow's UI: every number on screen is the table's (issue 26).

Written by `python -m benchmarks.table` after the report, next to the sweep
parent run, from the report's own files (`<table>.csv`, `<table>_cells.csv`):

- one summary run per table row (tag `run_kind=row`): the row's entry overall
  (`test_accuracy`, `test_accuracy_std`) and per dataset
  (`test_accuracy.<dataset>`, ...), nested under the sweep parent;
- the sweep parent: the table's entries as metrics (`<method>/<dataset>`,
  `<method>/<dataset>_std`);
- each cell run of the table (the run the table was built from: same tags
  and the same test accuracy): tags `table_order` (row, dataset, shots, seed)
  and `mlflow.runColor` (one colour per method), params `Method`, `Seed`,
  `Shots` and metric `Test accuracy` (MLflow's compare page plots the first
  three differing params, sorted, against the first shared metric: capitals
  sort first; runs written since decision 140 carry them from the start,
  `maao.runner`); LLM runs logged before runs counted tokens get
  `llm_prompt_tokens`, `llm_completion_tokens` (and `llm_cost_usd`) from their
  transcript, and the parent the sums over the table's cells. Tags, params and metrics only: hashes, status and provenance,
  which decide reuse, stay as they are;
- saved views of the experiment (tags `mlflow.sharedViewState.<key>`, opened
  with `?viewStateShareKey=<key>`): the rows, the cells of each dataset
  grouped by method (averages), every cell in table order.

The saved-view format is MLflow's internal one (checked against the
installed UI bundle by `saved_views_supported`; tests/test_table_views.py
pins it for the locked MLflow version). Torch-free.
"""
from __future__ import annotations

import csv
import json
import math
import time
import uuid
from pathlib import Path

SHARE_PREFIX = "mlflow.sharedViewState."   # MLflow UI: experiment tag of a saved view
SHARE_PARAM = "viewStateShareKey"            # MLflow UI: URL parameter that opens one
CELL_FILTER = "tags.config_hash != ''"       # cell runs: not the sweep parent, not the row summaries
ROW_FILTER = "tags.run_kind = 'row'"
ORDER_TAG = "table_order"
RUN_COLOR = "mlflow.runColor"
PAGE = 100                                   # runs MLflow's runs view loads at a time
# matplotlib's tab10: one colour per table row, in row order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
AVERAGE = "Average"
COMPARE_PARAMS = ("Method", "Seed", "Shots")
COMPARE_METRIC = "Test accuracy"


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def read_table(table_csv: Path, scale: str) -> list[dict]:
    """The measured entries of a table's CSV (source = the scale, n given):
    dicts method, label, dataset, n, mean, std; [] for a file of another layout."""
    with open(table_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"source", "method", "label", "dataset", "n", "mean", "std"} <= set(reader.fieldnames or ()):
            return []
        return [{"method": r["method"], "label": r["label"], "dataset": r["dataset"], "n": int(r["n"]),
                 "mean": float(r["mean"]), "std": float(r["std"]) if r["std"] else math.nan}
                for r in reader if r["source"] == scale and r["n"] and r["mean"]]


def read_cells(cells_csv: Path) -> list[dict]:
    with open(cells_csv, newline="") as fh:
        return [{"method": r["method"], "dataset": r["dataset"], "shots": int(r["shots"]), "seed": int(r["seed"]),
                 "test_accuracy": float(r["test_accuracy"])} for r in csv.DictReader(fh)]


def row_order(entries: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["method"] for e in entries))


def order_key(row_index: int, datasets: list[str], cell: dict) -> str:
    """Sortable as text: row, dataset (table order), shots, seed."""
    return f"{row_index:02d}-{datasets.index(cell['dataset']):02d}-{cell['shots']:05d}-{cell['seed']:04d}"


def _number(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def log_table(client, experiment_id: str, parent_id: str, table: str, scale: str,
              table_csv: Path, cells_csv: Path | None) -> dict:
    """Write the summary runs, the parent's metrics, the cell runs' order and
    colour tags and the saved views. Returns counts for the caller to print."""
    from mlflow.entities import Metric, Param, RunTag

    entries = read_table(table_csv, scale)
    if not entries:
        return {"rows": 0, "cells": 0}
    now = int(time.time() * 1000)
    rows = row_order(entries)
    datasets = [d for d in dict.fromkeys(e["dataset"] for e in entries) if d != AVERAGE]
    by_row = {m: {e["dataset"]: e for e in entries if e["method"] == m} for m in rows}

    parent_metrics = []
    for m in rows:
        for d, e in by_row[m].items():
            parent_metrics.append(Metric(f"{m}/{d}", e["mean"], now, 0))
            if _number(e["std"]):
                parent_metrics.append(Metric(f"{m}/{d}_std", e["std"], now, 0))
    client.log_batch(parent_id, metrics=parent_metrics)

    existing = {r.data.tags.get("method"): r for r in
                client.search_runs([experiment_id], ROW_FILTER, max_results=PAGE * 10)}
    for i, m in enumerate(rows):
        overall = by_row[m].get(AVERAGE) or next(iter(by_row[m].values()))
        metrics = {"test_accuracy": overall["mean"], "test_accuracy_std": overall["std"], "seeds": overall["n"]}
        for d in datasets:
            if d in by_row[m]:
                metrics[f"test_accuracy.{d}"] = by_row[m][d]["mean"]
                metrics[f"test_accuracy_std.{d}"] = by_row[m][d]["std"]
        tags = {"run_kind": "row", "table": table, "scale": scale, "method": m, "row_label": overall["label"],
                "dataset": "all" if len(datasets) > 1 else datasets[0], "shots": "all",
                "seed": f"mean of {overall['n']}", ORDER_TAG: f"{i:02d}", RUN_COLOR: colour(i),
                "mlflow.parentRunId": parent_id,
                "mlflow.note.content": row_note(table, scale, overall["label"], by_row[m], datasets)}
        run = existing.get(m)
        run_id = run.info.run_id if run else client.create_run(
            experiment_id, run_name=f"{overall['label']} (table row)", tags={"run_kind": "row"}).info.run_id
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())
                                          if _number(float(v))],
                         tags=[RunTag(k, str(v)) for k, v in sorted(tags.items())])
        client.set_terminated(run_id, "FINISHED")

    cells, spent = 0, {}
    if cells_csv is not None and Path(cells_csv).is_file():
        runs = client.search_runs([experiment_id], f"{CELL_FILTER} AND tags.table = '{table}' AND "
                                                   f"attributes.status = 'FINISHED'", max_results=50000)
        index = {}
        for r in runs:
            t = r.data.tags
            index.setdefault((t.get("method"), t.get("dataset"), t.get("shots"), t.get("seed")), []).append(r)
        for cell in read_cells(cells_csv):
            if cell["method"] not in rows or cell["dataset"] not in datasets:
                continue
            key = (cell["method"], cell["dataset"], str(cell["shots"]), str(cell["seed"]))
            # the run the table was built from: the same cell and the same accuracy
            run = next((r for r in index.get(key, [])
                        if abs(r.data.metrics.get("test_accuracy", math.nan) - cell["test_accuracy"]) < 5e-6), None)
            if run is None:
                continue
            i = rows.index(cell["method"])
            tags = {ORDER_TAG: order_key(i, datasets, cell), RUN_COLOR: colour(i)}
            params = {"Method": cell["method"], "Seed": str(cell["seed"]), "Shots": str(cell["shots"])}
            have = run.data.params
            usage = {} if "llm_prompt_tokens" in run.data.metrics else _usage_of(client, run)
            for k, v in {**usage, **{k: run.data.metrics[k] for k in USAGE if k in run.data.metrics}}.items():
                spent[k] = spent.get(k, 0.0) + v
            client.log_batch(run.info.run_id,
                             metrics=[Metric(COMPARE_METRIC, run.data.metrics["test_accuracy"], now, 0)]
                             + [Metric(k, v, now, 0) for k, v in sorted(usage.items())],
                             params=[Param(k, v) for k, v in params.items() if k not in have],
                             tags=[RunTag(k, v) for k, v in tags.items()])
            cells += 1
    if spent:   # the table's LLM cost: its cell runs' tokens (and USD where priced), summed
        client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(spent.items())])
    write_views(client, experiment_id, datasets)
    return {"rows": len(rows), "cells": cells}


USAGE = ("llm_prompt_tokens", "llm_completion_tokens", "llm_cost_usd", "llm_calls_without_usage")


def _usage_of(client, run) -> dict:
    """Token metrics of an LLM run logged before runs counted them, from its
    transcript artifact; {} for a run without an LLM."""
    import tempfile

    from .llm.prices import usage_metrics

    if not run.data.metrics.get("llm_calls"):
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "llm_transcript.json", tmp)
        except Exception:  # noqa: BLE001 - no transcript: no token counts, not a failed view
            return {}
        transcript = json.loads(Path(path).read_text())
    return usage_metrics(transcript, run.data.tags.get("llm_model"))


def row_note(table: str, scale: str, label: str, entries: dict, datasets: list[str]) -> str:
    lines = [f"**{label}**: one row of {table} ({scale} scale), the numbers of `{table}.csv` on the sweep run.",
             "", "| dataset | mean | std | seeds |", "|---|---:|---:|---:|"]
    for d in [*datasets, AVERAGE]:
        if d in entries:
            e = entries[d]
            lines.append(f"| {d} | {e['mean']:.2f} | {e['std']:.2f} | {e['n']} |")
    return "\n".join(lines)


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"     # MLflow UI's canonical column key


def view_state(search: str, columns: list[str], group_by_method: bool, chart_filter: str = "test_accuracy") -> dict:
    """The experiment page's state as MLflow's UI saves it: search facets
    (filter, sort) and the runs/chart state (columns, group by, charts)."""
    section = str(uuid.uuid4())
    state = {
        "searchFilter": search, "orderByKey": _column("tags", ORDER_TAG), "orderByAsc": True,
        "selectedColumns": columns, "runsHiddenMode": "SHOW_ALL", "hideEmptyCharts": True,
        "useGroupedValuesInCharts": True, "chartsSearchFilter": chart_filter,
        # the test-accuracy bar chart first, in a section the UI appends its own charts to
        "compareRunSections": [{"uuid": section, "name": "Model metrics", "display": True, "isReordered": True}],
        "compareRunCharts": [{"uuid": str(uuid.uuid4()), "type": "BAR", "runsCountToCompare": PAGE,
                              "metricSectionId": section, "deleted": False, "isGenerated": True,
                              "displayName": "test_accuracy", "metricKey": "test_accuracy"}],
    }
    if group_by_method:
        state["groupBy"] = {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": "method"}]}
    return state


def envelope(name: str, state: dict) -> str:
    """The experiment tag's value: MLflow's saved-view envelope (name,
    createdAt, updatedAt, state as a JSON string)."""
    now = int(time.time() * 1000)
    return json.dumps({"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)})


TAG_COLUMNS = ("method", "dataset", "shots", "seed")


def views(datasets: list[str]) -> dict[str, tuple[str, dict]]:
    """key -> (name, state) of the saved views of a table's experiment."""
    tags = [_column("tags", t) for t in TAG_COLUMNS]
    out = {"rows": ("Table rows (the table's numbers)", view_state(
        ROW_FILTER, [_column("metrics", "test_accuracy"), *tags, _column("metrics", "test_accuracy_std"),
                     *[_column("metrics", f"test_accuracy.{d}") for d in datasets]], group_by_method=False))}
    for d in datasets:
        out[f"cells-{d}"] = (f"Cells of {d}, by method (averages)", view_state(
            f"{CELL_FILTER} AND tags.dataset = '{d}'", [_column("metrics", "test_accuracy"), *tags],
            group_by_method=True))
    out["cells"] = ("Every cell run, table order", view_state(
        CELL_FILTER, [_column("metrics", "test_accuracy"), *tags], group_by_method=False))
    return out


def write_views(client, experiment_id: str, datasets: list[str]) -> list[str]:
    keys = []
    for key, (name, state) in views(datasets).items():
        client.set_experiment_tag(experiment_id, SHARE_PREFIX + key, envelope(name, state))
        keys.append(key)
    return keys


def saved_views(experiment) -> dict[str, dict]:
    """key -> state of the experiment's saved views written here (keys rows, cells...)."""
    out = {}
    for tag, value in (experiment.tags or {}).items():
        if tag.startswith(SHARE_PREFIX):
            try:
                out[tag[len(SHARE_PREFIX):]] = json.loads(json.loads(value)["state"])
            except (ValueError, KeyError, TypeError):
                continue
    return out


def saved_views_supported() -> bool:
    """Whether the installed MLflow UI reads saved views in this format: its
    bundle names the tag prefix, the URL parameter and the envelope."""
    try:
        import mlflow.server
    except ImportError:
        return False
    js = Path(mlflow.server.__file__).parent / "js" / "build" / "static" / "js"
    need = {SHARE_PREFIX.encode(), SHARE_PARAM.encode(), b"Invalid saved-view envelope", b"chartsSearchFilter"}
    found = set()
    for path in js.glob("*.js") if js.is_dir() else ():
        data = path.read_bytes()
        found |= {n for n in need if n in data}
        if found == need:
            return True
    return False
