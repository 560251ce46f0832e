"""Runs shared across tables (issue 25 item 3, docs/power.md, decision 141).

Where a spec's scale states `shared_runs: N`, a run's hash leaves out the
table it was swept for (`RunConfig.identity`), so Table 3's combined 4-shot
run and Table 8's "combined_len4" are one configuration. It is trained once;
a sweep of another table that needs it finds the finished run in any
experiment of the scale and writes a **mirror** into its own experiment: the
same params, metrics (curves too), artifacts and provenance tags, under this
table's row name, with `mirror_of` naming the run that was trained. Every
table then shows the same number for it, and every table's experiment,
report, golden and MLflow view keep reading one experiment as before.

A mirror copies, it never recomputes: the number cannot drift from the
trained run's. Only a run that was trained is a source (a mirror of a mirror
would hide where the number came from).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag

from .redact import redact
from .table_views import ORDER_TAG

MIRROR_OF = "mirror_of"                   # the run id that was trained
MIRROR_EXPERIMENT = "mirror_of_experiment"
# Tags of the source that describe its own run, not the configuration: not copied.
# (mlflow.* tags -- parent, name, note, colour -- are never copied either.)
_OWN_TAGS = ("table", "method", "host", "pid", "git_commit", ORDER_TAG)


def other_experiments(client, scale: str, own_experiment: str) -> list:
    """Ids of the scale's other table experiments (`maao-*-<scale>`): where a
    shared run may have been trained."""
    return [e.experiment_id for e in client.search_experiments(
        filter_string=f"name LIKE 'maao-%-{scale}'", max_results=1000) if e.name != own_experiment]


def find_source(tracker, scale: str, config_hash: str, own_experiment: str, reusable=None):
    """A FINISHED, trained (not mirrored) run of this configuration in another
    experiment of the scale (`maao-*-<scale>`) that `reusable(run)` accepts,
    the oldest first (the one every later table mirrors), else None."""
    experiments = other_experiments(tracker.client, scale, own_experiment)
    if not experiments:
        return None
    found = tracker.client.search_runs(
        experiments,
        filter_string=f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"], max_results=100)
    ok = reusable or (lambda run: True)
    return next((run for run in found if MIRROR_OF not in run.data.tags and ok(run)), None)


def mirror(tracker, run_id: str, source, tags: dict, note: str) -> dict:
    """Finish the claimed run `run_id` as a copy of `source`: its params,
    every metric's history, its artifacts and its tags; `tags` (this run's
    start tags) keep this table's table, row name (`method`) and parent.
    Returns the final metrics."""
    client = tracker.client
    src = source.info.run_id
    copied = {k: v for k, v in source.data.tags.items() if k not in _OWN_TAGS and not k.startswith("mlflow.")}
    experiment = client.get_experiment(source.info.experiment_id).name
    # The source's tags (its provenance included) over this run's start tags;
    # table, row name and parent stay this table's.
    all_tags = {**{k: str(v) for k, v in tags.items()}, **copied, MIRROR_OF: src,
                MIRROR_EXPERIMENT: experiment,
                "mlflow.note.content": redact(f"Trained for another table: run {src} of experiment "
                                              f"{experiment}; this run is its copy under this table's "
                                              f"row name.\n\n{note}")}
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in sorted(all_tags.items())])
    params = [Param(k, v) for k, v in sorted(source.data.params.items())]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    metrics = []
    for key in sorted(source.data.metrics):   # histories in their logged order of keys
        metrics += [Metric(key, m.value, m.timestamp, m.step) for m in client.get_metric_history(src, key)]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(src, "", tmp)
        if any(Path(local).iterdir()):
            client.log_artifacts(run_id, local)
    tracker.close_finished(run_id)   # after the copy: a waiting process then sees it whole
    return dict(source.data.metrics)
