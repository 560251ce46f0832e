"""MLflow logging: one run per (method, dataset, shots, seed, settings).

Default store: a local SQLite file (`sqlite:///mlflow.db`), or whatever
MLFLOW_TRACKING_URI / --tracking-uri says. One experiment per table and scale
("maao-table3-mini"). Runs are tagged with their configuration hash; a
FINISHED run with the same hash is skipped on re-run, so an interrupted sweep
resumes where it stopped. Metrics are written in batches at the end of a run
(per-step log_metric calls into SQLite would dominate a mini run's time).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from .redact import redact, redact_obj

DEFAULT_URI = "sqlite:///mlflow.db"


def tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (sha or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value
    return out


class Tracker:
    def __init__(self, uri: str | None = None):
        self.uri = tracking_uri(uri)
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        self._experiments: dict[str, str] = {}

    def artifact_root(self) -> str | None:
        """Artifacts of a SQLite store live beside the .db file ("<dir>/mlartifacts"),
        not in ./mlruns of whatever directory a command happened to run from."""
        if self.uri.startswith("sqlite:///"):
            db = Path(self.uri[len("sqlite:///"):]).resolve()
            return (db.parent / "mlartifacts").as_uri()
        return None  # a tracking server decides

    def experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            exp = self.client.get_experiment_by_name(name)
            self._experiments[name] = exp.experiment_id if exp else self.client.create_experiment(
                name, artifact_location=(f"{self.artifact_root()}/{name}" if self.artifact_root() else None))
        return self._experiments[name]

    def finished_run(self, experiment: str, config_hash: str):
        """The latest FINISHED run with this configuration, or None."""
        runs = self.client.search_runs(
            [self.experiment_id(experiment)],
            filter_string=f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0] if runs else None

    def start(self, experiment: str, name: str, tags: dict) -> str:
        tags = {**tags, "git_commit": git_commit()}
        run = self.client.create_run(self.experiment_id(experiment), run_name=redact(name),
                                     tags={k: redact(str(v)) for k, v in tags.items()})
        return run.info.run_id

    def finish(self, run_id: str, params: dict, metrics: list[tuple[str, float, int]],
               final: dict[str, float], artifacts: dict[str, object]) -> None:
        now = int(time.time() * 1000)
        params, artifacts = redact_obj(params), redact_obj(artifacts)
        flat = _flatten("", params, {})
        param_list = [Param(k, str(v)[:6000]) for k, v in sorted(flat.items())]
        metric_list = [Metric(k, v, now, s) for k, v, s in metrics]
        metric_list += [Metric(k, float(v), now, 0) for k, v in sorted(final.items())]
        for i in range(0, len(param_list), 100):
            self.client.log_batch(run_id, params=param_list[i:i + 100])
        for i in range(0, len(metric_list), 1000):
            self.client.log_batch(run_id, metrics=metric_list[i:i + 1000])
        for name, obj in artifacts.items():
            if isinstance(obj, str):
                self.client.log_text(run_id, obj, name)
            else:
                self.client.log_text(run_id, json.dumps(obj, indent=1, sort_keys=True, default=str), name)
        self.client.set_terminated(run_id, "FINISHED")

    def fail(self, run_id: str, error: BaseException) -> None:
        self.client.set_tag(run_id, "error", redact(f"{type(error).__name__}: {error}")[:5000])
        self.client.set_terminated(run_id, "FAILED" if not isinstance(error, KeyboardInterrupt)
                                   else "KILLED")
