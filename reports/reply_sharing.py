"""Recorded LLM replies that served runs of more than one seed.

A seed's runs are independent samples only if no reply is shared between
seeds: under the "shared" rollout (the recordings before decision 115) a
request sent by runs of several seeds got one reply, so their cells were
pseudo-replicated. Under ``llm.rollout: per-seed-call`` the count must be 0.

Each record lists the runs that used it, ``meta.position`` and
``meta.also_at`` (``[run_key, call]``, written while recording); a run's seed
comes from its MLflow tags ``config_hash`` (the run key) and ``seed``.

    from reports.reply_sharing import sharing_report
    sharing_report("benchmarks/responses/mini.jsonl", "sqlite:///mlflow.db", "maao-table3-mini")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SharingReport", "seeds_per_reply", "run_seeds", "sharing_report"]


@dataclass(frozen=True)
class SharingReport:
    records: int                       # records in the store
    several_seeds: dict                # key -> sorted seeds, only records serving > 1 seed
    unknown_runs: tuple                # run keys in positions with no known seed (sorted)

    @property
    def count(self) -> int:
        """Replies serving more than one seed (0 for a recording with per-seed rollouts)."""
        return len(self.several_seeds)


def _positions(meta: dict) -> list:
    return [p for p in [meta.get("position")] + list(meta.get("also_at") or []) if p]


def seeds_per_reply(records: dict, seed_of_run: dict) -> SharingReport:
    """``records``: key -> store record (``maao.llm.store.read_records``);
    ``seed_of_run``: run key -> seed."""
    several, unknown = {}, set()
    for key, rec in records.items():
        seeds = set()
        for run_key, _call in _positions(rec["meta"]):
            if str(run_key) in seed_of_run:
                seeds.add(int(seed_of_run[str(run_key)]))
            else:
                unknown.add(str(run_key))
        if len(seeds) > 1:
            several[key] = sorted(seeds)
    return SharingReport(len(records), several, tuple(sorted(unknown)))


def run_seeds(tracking_uri: str, experiment: str) -> dict:
    """Run key (tag ``config_hash``) -> seed (tag ``seed``) of every run of
    the experiment, whatever its status (a killed run used its replies too)."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"no experiment {experiment!r} at {tracking_uri}")
    out = {}
    for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=50_000):
        tags = run.data.tags
        if "config_hash" in tags and "seed" in tags:
            out[tags["config_hash"]] = int(tags["seed"])
    return out


def sharing_report(responses: str | Path, tracking_uri: str, experiment: str) -> SharingReport:
    """The check over a committed response file and the runs that recorded it."""
    from maao.llm.store import read_records

    return seeds_per_reply(read_records(Path(responses)), run_seeds(tracking_uri, experiment))
