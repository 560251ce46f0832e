"""`maao sweep ... --executor ray`: one Ray task per run.

Each task calls `maao.runner.execute`, the function the local loop calls, so
a task claims its configuration in MLflow, skips it when a finished identical
run exists, and computes the same numbers (docs/scale.md). What the driver
adds:

- experiments are created once, here, before the fan-out (a tracking server
  refuses a second experiment of one name, and many workers would race);
- one task per configuration with its resource request (`--ray-cpus`,
  `--ray-gpus`: fractional GPUs let short runs share a device);
- a task lost with its worker or node is retried by Ray (`--ray-retries`);
  what still fails is listed and the command exits 1: finished runs are in
  MLflow, so the same command resumes;
- LLM replay: the recorded responses travel with the code (a path inside the
  repository is sent relative to it and resolved in the worker's checkout).
  record-missing writes through the store's cross-process lock, which covers
  workers on one machine; on a multi-node cluster it is refused (decision 34).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class JobSettings:
    """What every task of one sweep shares (picklable: it travels to the workers)."""
    tracking_uri: str
    responses: tuple[str, str]        # ("repo", relative path) or ("abs", path)
    llm_mode: str
    data_dir: str | None
    cache_dir: str | None
    force: bool
    threads: int                      # torch threads in the task (its CPU request)


def portable_path(path: Path) -> tuple[str, str]:
    """A path the workers can resolve: relative to the repository when inside it."""
    path = Path(path).resolve()
    try:
        return ("repo", str(path.relative_to(REPO)))
    except ValueError:
        return ("abs", str(path))


def local_path(portable: tuple[str, str]) -> Path:
    kind, value = portable
    return REPO / value if kind == "repo" else Path(value)


def absolute_uri(uri: str) -> str:
    """A SQLite URI made absolute: a worker's working directory is not the driver's."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


# ------------------------------------------------------------ in the worker
# A Ray worker process runs many tasks of one sweep: the tracker, the store
# and (in maao.runner) the backbone are built once per process.
@lru_cache(maxsize=2)
def _tracker(uri: str):
    from ..tracking import Tracker

    return Tracker(uri)


@lru_cache(maxsize=2)
def _store(responses: tuple[str, str], mode: str):
    from ..llm.store import open_response_store

    return open_response_store(local_path(responses), mode)


def run_task(config, job: JobSettings) -> dict:
    """One configuration, in a Ray worker; returns a plain summary."""
    import torch

    from ..redact import install_logging_filter
    from ..runner import execute

    install_logging_filter()   # a worker's log lines reach the driver: no API key in them
    torch.set_num_threads(job.threads)
    tracker, store = _tracker(job.tracking_uri), _store(job.responses, job.llm_mode)
    used_before = set(store.used_keys)
    while True:
        summary = execute(config, tracker, store, job.data_dir, job.cache_dir, force=job.force)
        if not summary.busy:
            break
        tracker.wait_idle(summary.run_id)  # another sweep trains it: wait, then take its result
    return {"run_id": summary.run_id, "skipped": summary.skipped, "seconds": summary.seconds,
            "test_accuracy": summary.metrics.get("test_accuracy"),
            "used_keys": sorted(store.used_keys - used_before), "pid": os.getpid()}


# ------------------------------------------------------------ in the driver
def _connect(address: str | None):
    address = address or os.environ.get("RAY_ADDRESS") or None
    host = (address or "").rsplit(":", 1)[0].strip("[]")
    if not address or host in ("127.0.0.1", "localhost", "::1"):
        # Ray's own switch for one-machine use (its default on macOS/Windows):
        # the node's address is 127.0.0.1, so its servers listen on loopback
        # only. Read when ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray: Ray is not installed (pip install -e .[scale])") from None

    if ray.is_initialized():
        return address or "in-process"
    if address:
        ray.init(address=address, include_dashboard=False, logging_level="WARNING",
                 log_to_driver=True)
    else:
        # No cluster named: a private local instance on this machine's cores,
        # on loopback, gone when the sweep ends.
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level="WARNING")
    return address or "local instance"


def _describe(config) -> str:
    return f"{config.name} {config.dataset} {config.shots}-shot seed {config.seed}"


def _user_error(err):
    """The original ValueError/FileNotFoundError/LLMError of a failed task, or None."""
    from ..llm.errors import LLMError

    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, (ValueError, FileNotFoundError, LLMError)) else None


def sweep(configs, tracker, responses: Path, args) -> tuple[int, int, list, set]:
    """Run `configs` as Ray tasks. Returns (trained, skipped, failures, used LLM keys);
    failures are (config, error) pairs of tasks that did not complete."""
    where = _connect(getattr(args, "ray_address", None))
    import ray

    if args.llm_mode in ("record-missing", "refresh") and len(ray.nodes()) > 1:
        raise ValueError(f"--llm-mode {args.llm_mode} with --executor ray needs a one-node Ray "
                         f"instance (the responses file is locked per machine; docs/scale.md)")
    for name in sorted({c.experiment for c in configs}):
        tracker.experiment_id(name)  # created once, before the fan-out
    cpus, gpus = args.ray_cpus, args.ray_gpus
    job = JobSettings(absolute_uri(tracker.uri), portable_path(responses), args.llm_mode,
                      args.data_dir, args.cache_dir, args.force, threads=max(1, int(cpus)))
    task = ray.remote(run_task).options(num_cpus=cpus, num_gpus=gpus,
                                        max_retries=args.ray_retries, retry_exceptions=False)
    pending = {task.remote(config, job): config for config in configs}
    print(f"maao: {len(pending)} run(s) submitted to Ray ({where}), {cpus} CPU"
          f"{f', {gpus} GPU' if gpus else ''} each", file=sys.stderr)
    trained = skipped = 0
    failures, used = [], set()
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            config = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.RayError, ray.exceptions.RayTaskError) as err:
                failures.append((config, _user_error(err) or err))
                print(f"maao: run failed on Ray: {_describe(config)}: {type(err).__name__}",
                      file=sys.stderr)
                continue
            skipped += result["skipped"]
            trained += not result["skipped"]
            used.update(result["used_keys"])
            if args.verbose:
                state = "skipped (already finished)" if result["skipped"] else f"{result['seconds']:.1f}s"
                acc = result["test_accuracy"]
                print(f"{_describe(config)}: test acc {acc if acc is None else f'{acc:.2f}'} "
                      f"[{state}] run {result['run_id']} (worker pid {result['pid']})", file=sys.stderr)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)  # the task's execute() closes its run as KILLED
        raise
    return trained, skipped, failures, used


def shutdown() -> None:
    """Leave the cluster (a private local instance stops with it)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()

