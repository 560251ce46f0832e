"""A new SQLite MLflow store is made whole or not at all.

MLflow creates a store's schema with ~100 migrations, in place. A process
killed (or a disk filled) among them used to leave a half-made file on which
every later command failed ("table trace_info already exists"). Here the
schema is built in a temporary file beside the store and moved into place
(os.replace, atomic on one file system) only when complete; the caller holds
the store lock (maao.claims), so one process creates it. A leftover
temporary file of a killed creation is removed by the next one.

An existing file MLflow cannot open is reported, never repaired: see
`maao.envfaults` for the message a user gets.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

TMP_SUFFIX = ".creating"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0]).expanduser()


def ensure_created(uri: str) -> None:
    """Create the store's schema atomically if the file does not exist yet.
    Call under `maao.claims.store_lock(uri)`."""
    path = sqlite_path(uri)
    if path is None or path.exists():
        return
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}*"):   # a killed creation's leftovers
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    tmp = path.parent / f".{path.name}.{os.getpid()}{TMP_SUFFIX}"
    try:
        _build_schema(f"sqlite:///{tmp}")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


@contextlib.contextmanager
def quiet_schema_logs():
    """MLflow announces its migrations on stderr ("Creating initial MLflow
    database tables..."); a store's creation is no news to a user, and an
    error in it must stay one line."""
    logger = logging.getLogger("mlflow.store.db.utils")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _build_schema(uri: str) -> None:
    """MLflow's own store setup (every migration, the Default experiment),
    the way MlflowClient would do it, then the engine closed."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    try:
        _get_sqlalchemy_store(uri, None)
    finally:
        engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(uri, None)
        if engine is not None:
            engine.dispose()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
