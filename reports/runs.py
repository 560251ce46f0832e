"""Load finished runs from MLflow into a tidy DataFrame.

Runs live in the experiment ``maao-{table}-{scale}`` and carry the tags
``table``, ``method``, ``dataset``, ``shots``, ``seed``, ``scale`` and the
metric ``test_accuracy`` (0-100).  Only FINISHED runs are read.  Every other
metric becomes a column too; the tables use ``test_majority_accuracy`` (the
accuracy of always predicting the test split's most frequent class, 0-100)
for their "Majority class (reference)" row when runs logged it.
"""

from __future__ import annotations

import warnings

import pandas as pd

__all__ = [
    "ReportError",
    "ExperimentNotFound",
    "NoFinishedRuns",
    "experiment_name",
    "load_runs",
    "BASE_COLUMNS",
]

BASE_COLUMNS = ["method", "dataset", "shots", "seed", "scale", "test_accuracy"]
CELL = ["method", "dataset", "shots", "seed"]
_REQUIRED_TAGS = ("method", "dataset", "shots", "seed")


class ReportError(RuntimeError):
    """A report cannot be built; the message is one line for the user."""


class ExperimentNotFound(ReportError):
    pass


class NoFinishedRuns(ReportError):
    pass


def experiment_name(table: str, scale: str) -> str:
    return f"maao-{table}-{scale}"


def _to_int(v):
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return None


def load_runs(tracking_uri: str, table: str, scale: str, *, drop_duplicates: bool = True,
              responses=None) -> pd.DataFrame:
    """Finished runs of ``maao-{table}-{scale}`` as one row per run.

    Columns: method, dataset, shots (int), seed (int), scale, test_accuracy
    (float, 0-100), then every other logged metric (latest value, sorted by
    name; e.g. ``test_majority_accuracy``, NaN for runs that did not log it),
    then run_id.  Rows sorted by (method, dataset, shots, seed).

    Runs whose ``table``/``scale`` tags disagree with the request are
    ignored; runs lacking a cell tag or ``test_accuracy`` are skipped with a
    warning.  If several finished runs share a cell (method, dataset, shots,
    seed) the latest by start_time is kept and a warning names the cells.

    ``responses``: the table's recorded-responses JSONL. Then runs of LLM
    methods are selected by provenance (``maao.provenance``): runs whose
    replies came from a live endpoint or differ from the file's are dropped
    (with a warning), and among duplicates a run whose replies match the file
    is kept before one without provenance tags (made before they existed).

    Raises ExperimentNotFound / NoFinishedRuns (one-line messages naming the
    experiment and tracking URI).
    """
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    name = experiment_name(table, scale)
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise ExperimentNotFound(f"experiment {name!r} does not exist in tracking URI {tracking_uri!r}")

    runs = []
    token = None
    while True:
        page = client.search_runs(
            experiment_ids=[exp.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break

    check = _provenance_check(responses)
    records = []
    skipped = []
    rejected = []
    for r in runs:
        if r.info.status != "FINISHED":
            continue
        tags = r.data.tags
        if tags.get("table", table) != table or tags.get("scale", scale) != scale:
            continue
        if tags.get("run_kind") in ("sweep", "row"):
            continue  # a sweep's parent run or a row summary (maao.table_views): no cell of the table
        metrics = dict(r.data.metrics)
        missing = [t for t in _REQUIRED_TAGS if t not in tags]
        shots, seed = _to_int(tags.get("shots")), _to_int(tags.get("seed"))
        if missing or "test_accuracy" not in metrics or shots is None or seed is None:
            why = f"missing tags {missing}" if missing else (
                "no test_accuracy metric" if "test_accuracy" not in metrics else "non-integer shots/seed")
            skipped.append(f"{r.info.run_id} ({why})")
            continue
        rank = check(r)
        if rank is None:
            rejected.append(r.info.run_id)
            continue
        rec = {
            "_rank": rank,
            "method": tags["method"],
            "dataset": tags["dataset"],
            "shots": shots,
            "seed": seed,
            "scale": tags.get("scale", scale),
            "test_accuracy": float(metrics.pop("test_accuracy")),
            "run_id": r.info.run_id,
            "_start": r.info.start_time or 0,
        }
        for k, v in metrics.items():
            rec[k] = float(v)
        records.append(rec)

    if skipped:
        warnings.warn(
            f"{name}: skipped {len(skipped)} finished run(s) without cell tags/test_accuracy: "
            + ", ".join(sorted(skipped)[:10]) + (" ..." if len(skipped) > 10 else ""),
            stacklevel=2,
        )
    if rejected:
        warnings.warn(
            f"{name}: ignored {len(rejected)} finished run(s) whose LLM replies are not the recorded "
            f"ones of {responses} (live endpoint or other records): " + ", ".join(sorted(rejected)[:10])
            + (" ..." if len(rejected) > 10 else ""),
            stacklevel=2,
        )
    if not records:
        raise NoFinishedRuns(
            f"experiment {name!r} in tracking URI {tracking_uri!r} has no finished runs "
            f"tagged table={table!r} scale={scale!r}"
        )

    df = pd.DataFrame.from_records(records)
    if drop_duplicates:
        df = df.sort_values(CELL + ["_rank", "_start", "run_id"], kind="mergesort")
        dup = df.duplicated(CELL, keep="last")
        if dup.any():
            cells = df.loc[dup, CELL].drop_duplicates()
            desc = ", ".join(
                f"({m}, {d}, {s}, {sd})" for m, d, s, sd in cells.itertuples(index=False)
            )
            warnings.warn(
                f"{name}: {int(dup.sum())} older duplicate run(s) dropped; kept the latest "
                f"(by start_time) for cell(s) (method, dataset, shots, seed): {desc}",
                stacklevel=2,
            )
            df = df.loc[~dup]

    if df["test_accuracy"].max() <= 1.0:
        warnings.warn(
            f"{name}: every test_accuracy is <= 1.0; expected percent (0-100), got fractions?",
            stacklevel=2,
        )

    extra = sorted(c for c in df.columns if c not in BASE_COLUMNS + ["run_id", "_start", "_rank"])
    df = df[BASE_COLUMNS + extra + ["run_id"]]
    df = df.sort_values(CELL, kind="mergesort").reset_index(drop=True)
    return df


def _provenance_check(responses):
    """run -> rank (1: replies match the records or no LLM used, 0: no
    provenance tags) or None (live endpoint / replies differ: not this table's)."""
    if responses is None:
        return lambda run: 1
    from maao import provenance
    from maao.llm.errors import CorruptRecord
    from maao.llm.store import file_sha256, read_records

    try:  # an edited reply is refused, never taken as the recorded one
        held = provenance.held_replies(read_records(responses))
    except CorruptRecord as err:
        raise ReportError(str(err)) from None
    file_sha = file_sha256(responses)

    def check(run):
        tags = run.data.tags
        if not tags.get("llm_model"):
            return 1
        pairs = None
        if "llm_pairs_sha256" in tags and tags.get("llm_responses_sha256") != file_sha:
            pairs = provenance.pairs_of(run)
        kind = provenance.classify(tags, pairs, held, file_sha)
        return {provenance.MATCH: 1, provenance.NONE: 0}.get(kind)

    return check
