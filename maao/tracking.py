"""MLflow logging: one run per (method, dataset, shots, seed, settings).

Default store: a local SQLite file (`sqlite:///mlflow.db`), or whatever
MLFLOW_TRACKING_URI / --tracking-uri says. One experiment per table and scale
("maao-table3-mini"). Runs are tagged with their configuration hash; a
FINISHED run with the same hash is skipped on re-run, so an interrupted sweep
resumes where it stopped. Metrics are written in batches at the end of a run
(per-step log_metric calls into SQLite would dominate a mini run's time), each
with the wall-clock time at which the method reported it.
A sweep of a table has one parent run per experiment (tag run_kind=sweep)
that holds the table and its significance tests; the cell runs are nested
under it (tag mlflow.parentRunId). The parent is found by its tag, never by a
config hash, so it takes no part in the skip-if-finished rule.
`claim` is the find-finished-or-claim step, safe across processes (see
maao/claims.py): schema setup and claims hold a lock beside the store, a
running run holds a lease, and stale RUNNING runs are closed as KILLED.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .claims import Lease, forget, is_live, store_lock
from .redact import redact
from .run_record import RunRecord
from .sqlite_store import ensure_created, quiet_schema_logs

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
NOTE = "mlflow.note.content"      # the description the MLflow UI shows and edits
PARENT = "mlflow.parentRunId"     # nests a run under another in the UI
# MLflow 3 opens an experiment without this tag on its GenAI "Traces" page.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


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


@dataclass
class Claim:
    """The outcome of `Tracker.claim`: a reusable finished run, a run another
    live process is training, or a new RUNNING run this process now owns."""
    state: str          # "finished" | "busy" | "new"
    run_id: str
    run: object = None  # the finished mlflow Run


class Tracker:
    def __init__(self, uri: str | None = None):
        self.uri = tracking_uri(uri)
        mlflow.set_tracking_uri(self.uri)
        self._experiments: dict[str, str] = {}
        self._leases: dict[str, Lease] = {}
        self.host = socket.gethostname()
        with store_lock(self.uri):
            # A new SQLite store runs MLflow's schema migrations here; two
            # processes doing it at once crash ("duplicate column name"), and
            # one interrupted among them left a half-made file: the schema is
            # built in a temporary file and moved into place (maao/sqlite_store.py).
            with quiet_schema_logs():
                ensure_created(self.uri)
                self.client = MlflowClient(self.uri)
                self.client.search_experiments(max_results=1)

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
            self._experiments[name] = exp.experiment_id if exp else self._create_experiment(name)
        return self._experiments[name]

    def _create_experiment(self, name: str) -> str:
        # Not under store_lock (callers may hold it, and an flock is not
        # re-entrant): two sweeps starting on a fresh store both try, the
        # second finds the first's experiment.
        try:
            return self.client.create_experiment(
                name, artifact_location=(f"{self.artifact_root()}/{name}" if self.artifact_root() else None),
                tags=EXPERIMENT_KIND)
        except MlflowException:
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def describe_experiment(self, name: str, note: str) -> str:
        """Set the experiment's description (and its kind, for experiments made
        before it was set); returns the experiment id."""
        exp_id = self.experiment_id(name)
        for key, value in {**EXPERIMENT_KIND, NOTE: redact(note)}.items():
            self.client.set_experiment_tag(exp_id, key, value)
        return exp_id

    def sweep_run(self, experiment: str, name: str, tags: dict) -> str:
        """The experiment's sweep parent run, created on first use and reused
        by every later sweep (so that reruns keep one tree); RUNNING while a
        sweep runs."""
        with store_lock(self.uri):
            run_id = self.sweep_id(experiment)
            if run_id:
                self.client.update_run(run_id, status="RUNNING")
            else:
                run_id = self.start(experiment, name, {**tags, "run_kind": "sweep"})
        return run_id

    def sweep_id(self, experiment: str) -> str | None:
        """The experiment's sweep parent run (the oldest, should two exist), or None."""
        found = self.client.search_runs([self.experiment_id(experiment)], "tags.run_kind = 'sweep'",
                                        order_by=["attributes.start_time ASC"], max_results=1)
        return found[0].info.run_id if found else None

    def adopt(self, parent_id: str, run) -> None:
        """Nest a reused finished run under the sweep's parent, if it has none.
        Only a tag changes: its status, hash and provenance, which decide
        reuse, stay as they are."""
        if run is not None and PARENT not in run.data.tags:
            self.client.set_tag(run.info.run_id, PARENT, parent_id)

    def end_sweep(self, run_id: str, status: str = "FINISHED", tags: dict | None = None) -> None:
        for key, value in sorted((tags or {}).items()):
            self.client.set_tag(run_id, key, redact(str(value)))
        self.client.set_terminated(run_id, status)

    def attach(self, run_id: str, files, artifact_path: str | None = None, note: str | None = None) -> None:
        """Log files (e.g. the built table) to a run, and optionally its description."""
        for path in files:
            self.client.log_artifact(run_id, str(path), artifact_path)
        if note is not None:
            self.client.set_tag(run_id, NOTE, redact(note))

    def finished_run(self, experiment: str, config_hash: str):
        """The latest FINISHED run with this configuration, or None."""
        runs = self.client.search_runs(
            [self.experiment_id(experiment)],
            filter_string=f"tags.config_hash = '{config_hash}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0] if runs else None

    def runs(self, experiment: str, config_hash: str, status: str | None = None) -> list:
        """Runs of this configuration (with this status, else all), newest first."""
        where = f"tags.config_hash = '{config_hash}'" + (f" and attributes.status = '{status}'" if status else "")
        return self.client.search_runs([self.experiment_id(experiment)], filter_string=where,
                                       order_by=["attributes.start_time DESC"], max_results=1000)

    def claim(self, experiment: str, config_hash: str, name: str, tags: dict,
              reusable=None, force: bool = False) -> Claim:
        """A finished run of this configuration that `reusable(run)` accepts,
        else one a live process is training ("busy"), else a new RUNNING run
        owned (leased) by this process. Stale RUNNING runs (their process died)
        are closed as KILLED, tagged `replaced_by` the new run.

        The configuration's runs are read in one query, one snapshot of their
        statuses: a run that finishes meanwhile is RUNNING in it, and then
        either still leased (busy: waited for) or re-read as FINISHED. Two
        queries (finished, then running) could miss it in both and train the
        configuration a second time."""
        ok = reusable or (lambda run: True)
        with store_lock(self.uri):
            snapshot = self.runs(experiment, config_hash)
            by_status = {status: [r for r in snapshot if r.info.status == status]
                         for status in ("FINISHED", "RUNNING", "KILLED")}
            if not force:
                for run in by_status["FINISHED"]:
                    if ok(run):
                        return Claim("finished", run.info.run_id, run)
            stale = []
            for run in by_status["RUNNING"]:
                run_id = run.info.run_id
                if run.data.tags.get("host", self.host) != self.host:
                    continue  # another machine's run: its lease is not visible here
                if is_live(self.uri, run_id):
                    if force:
                        continue
                    return Claim("busy", run_id)
                now = self.client.get_run(run_id)  # re-read: it may have finished meanwhile
                if now.info.status == "FINISHED" and not force and ok(now):
                    return Claim("finished", run_id, now)
                if now.info.status == "RUNNING":
                    stale.append(run_id)
            killed = [r.info.run_id for r in by_status["KILLED"] if "replaced_by" not in r.data.tags]
            run_id = self.start(experiment, name, {**tags, "host": self.host, "pid": os.getpid()})
            self._leases[run_id] = Lease(self.uri, run_id)
            for old in stale:
                self.client.set_tag(old, "error", "stale: its process ended without closing it "
                                                  f"(killed); replaced by run {run_id}")
                self.client.set_tag(old, "replaced_by", run_id)
                self.client.set_terminated(old, "KILLED")
                forget(self.uri, old)
                log.warning("closed stale RUNNING run %s as KILLED (replaced by %s)", old, run_id)
            for old in killed:
                self.client.set_tag(old, "replaced_by", run_id)
        return Claim("new", run_id)

    def wait_idle(self, run_id: str, poll_s: float = 1.0) -> None:
        """Wait until no process of this machine trains `run_id` any more."""
        while is_live(self.uri, run_id):
            time.sleep(poll_s)

    def close_finished(self, run_id: str) -> None:
        """Mark a claimed run FINISHED whose record was written otherwise (a
        mirror, maao.shared_runs), and release its lease."""
        self.client.set_terminated(run_id, "FINISHED")
        self._release(run_id)

    def _release(self, run_id: str) -> None:
        lease = self._leases.pop(run_id, None)
        if lease is not None:
            lease.release()

    def start(self, experiment: str, name: str, tags: dict) -> str:
        tags = {**tags, "git_commit": git_commit()}
        run = self.client.create_run(self.experiment_id(experiment), run_name=redact(name),
                                     tags={k: redact(str(v)) for k, v in tags.items()})
        return run.info.run_id

    def finish(self, run_id: str, record: RunRecord) -> None:
        """Write a finished run's record as it is: `RunRecord.build` has cleaned
        it of keys (maao/run_record.py), so nothing is redacted here."""
        if not isinstance(record, RunRecord):
            raise TypeError(f"Tracker.finish takes a RunRecord (built and redacted by RunRecord.build), "
                            f"got {type(record).__name__}")
        now = int(time.time() * 1000)
        if record.tags:
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in sorted(record.tags.items())])
        flat = _flatten("", record.params, {})
        param_list = [Param(k, str(v)[:6000]) for k, v in sorted(flat.items())]
        # End-of-run values first, sorted ("Test accuracy" leads): MLflow lists a run's
        # metrics in the order they were first logged, and its compare page plots the first.
        metric_list = [Metric(k, float(v), now, 0) for k, v in sorted(record.final_metrics.items())]
        metric_list += [Metric(k, v, t[0] if t else now, s) for k, v, s, *t in record.step_metrics]
        for i in range(0, len(param_list), 100):
            self.client.log_batch(run_id, params=param_list[i:i + 100])
        for i in range(0, len(metric_list), 1000):
            self.client.log_batch(run_id, metrics=metric_list[i:i + 1000])
        for name, obj in record.artifacts.items():
            if isinstance(obj, bytes):
                self._log_bytes(run_id, name, obj)
            elif isinstance(obj, str):
                self.client.log_text(run_id, obj, name)
            else:
                self.client.log_text(run_id, json.dumps(obj, indent=1, sort_keys=True, default=str), name)
        self.client.set_terminated(run_id, "FINISHED")
        self._release(run_id)  # after the status: a waiting process then sees FINISHED

    def _log_bytes(self, run_id: str, name: str, data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            self.client.log_artifact(run_id, str(path), str(Path(name).parent) if "/" in name else None)

    def fail(self, run_id: str, error: BaseException) -> None:
        """Close the run as FAILED (KILLED for an interrupt). Best effort: when
        the store itself is the fault (disk full, read-only, server down) the
        run stays RUNNING with its lease released, and the next sweep closes
        it as KILLED; the original error is what the caller reports."""
        try:
            self.client.set_tag(run_id, "error", redact(f"{type(error).__name__}: {error}")[:5000])
            self.client.set_terminated(run_id, "FAILED" if not isinstance(error, KeyboardInterrupt)
                                       else "KILLED")
        except Exception as err:  # noqa: BLE001 - never hide the error being reported
            log.info("run %s could not be closed (%s: %s); the next sweep closes it as KILLED",
                        run_id, type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")
        finally:
            self._release(run_id)
