"""Cross-process safety for one MLflow store, with file locks beside it.

- `store_lock(uri)`: an exclusive flock on `<store>.locks/store.lock`, held
  while MLflow sets up a new store's schema and while a process looks for a
  finished run and, finding none, claims the configuration by creating its
  RUNNING run. Two sweeps on one store therefore never train one
  configuration twice, nor race inside MLflow's migrations.
- `Lease`: each RUNNING run's process holds an flock on
  `<store>.locks/runs/<run_id>.lock` until the run is FINISHED/FAILED/KILLED.
  The kernel drops it when the process dies (SIGKILL, OOM), so a RUNNING run
  whose lease is free is stale: `maao` closes it as KILLED, tagged with the run
  that replaced it.

Beside a SQLite file (`sqlite:///x/mlflow.db` -> `x/mlflow.db.locks/`); for
other stores under `$MAAO_CACHE_DIR/locks/<hash of the URI>/`, which covers
processes of one machine only (runs started on another host are left alone).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
from pathlib import Path
from typing import Iterator

from .filelock import command_of, exclusive, holder
from .redact import redact


def lock_dir(uri: str) -> Path:
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):]).expanduser().resolve()
        return db.parent / f"{db.name}.locks"
    cache = Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao"))
    return cache / "locks" / hashlib.sha256(uri.encode()).hexdigest()[:16]


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    path = lock_dir(uri) / "store.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path, on_wait=_say_waiting):
        yield


def _say_waiting(path: Path) -> None:
    """A held store lock is waited for, but never silently: a stuck holder
    (a process stopped with Ctrl-Z, a hung NFS mount) shows who it is."""
    pid = holder(path)
    who = f"pid {pid} (command {redact(' '.join(command_of(pid).split()))[:200]})" if pid else "another process"
    print(f"maao: waiting for the store lock {path} held by {who}; it is released when that "
          f"process leaves its store step or ends", file=sys.stderr, flush=True)


def _lease_path(uri: str, run_id: str) -> Path:
    return lock_dir(uri) / "runs" / f"{run_id}.lock"


class Lease:
    """Held by the process that trains a run, from its creation to its end."""

    def __init__(self, uri: str, run_id: str):
        self.path = _lease_path(uri, run_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def is_live(uri: str, run_id: str) -> bool:
    """Whether a process of this machine still holds the run's lease."""
    path = _lease_path(uri, run_id)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def forget(uri: str, run_id: str) -> None:
    """Remove the lease file a killed process left behind."""
    with contextlib.suppress(FileNotFoundError):
        _lease_path(uri, run_id).unlink()
