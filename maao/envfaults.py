"""Faults of the environment, not of the input: a full disk, a read-only
store, a tracking server that does not answer, a half-made store. Each
becomes one line naming the cause and what to do (`maao` exits 2), instead
of a chain of tracebacks; finished runs are kept and the same command
resumes once the cause is fixed (README, "Reliability").
"""
from __future__ import annotations

import errno
import logging

RESUME = "then re-run the same command to resume (finished runs are kept)"


class _StoreErrorFilter(logging.Filter):
    """Drops MLflow's own traceback of a failed store write ("SQLAlchemy
    database error", logged before it raises): maao reports the error itself,
    in one line (`--verbose` keeps it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SQLAlchemy database error")


def quiet_store_tracebacks() -> None:
    logging.getLogger("mlflow.store.db.utils").addFilter(_StoreErrorFilter())


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def describe(err: BaseException, uri: str) -> str | None:
    """The one-line message for an environment fault, or None if `err` is not one."""
    from .sqlite_store import sqlite_path

    where = str(sqlite_path(uri) or uri)
    for e in _chain(err):
        text = str(e)
        low = text.lower()
        code = getattr(e, "errno", None)
        path = getattr(e, "filename", None) or where
        if code == errno.ENOSPC or "database or disk is full" in low or "no space left" in low:
            return f"no space left on the disk of {path} (disk full); free space, {RESUME}"
        if code == errno.EROFS or "readonly database" in low or "read-only file system" in low:
            return (f"the MLflow store {where} is read-only ({_first_line(text)}); make it writable or "
                    f"point --tracking-uri at a writable copy, {RESUME}")
        if code in (errno.EACCES, errno.EPERM):
            return f"no permission to write {path} ({_first_line(text)}); fix its permissions, {RESUME}"
        if "disk i/o error" in low or code == errno.EIO or code == errno.EFBIG:
            return (f"the disk refused a write to {path} ({_first_line(text)}): full, over a size limit "
                    f"or failing; fix it, {RESUME}")
        half_made = (("already exists" in low and ("table" in low or "index" in low))
                     or any(s in low for s in ("duplicate column name", "_alembic_tmp", "no such table",
                                               "out-of-date database schema")))
        if half_made and sqlite_path(uri):
            return (f"the MLflow store {where} is half-made or from another MLflow version "
                    f"({_first_line(text)}); if it holds no runs you need, move it away "
                    f"(mv {where} {where}.broken) and re-run; otherwise back it up and run "
                    f"`mlflow db upgrade {uri}`")
        if _unreachable(e):
            return (f"the MLflow tracking server {uri} does not answer or fails ({_first_line(text)[:200]}); "
                    f"start it (and its database) again (docs/scale.md), {RESUME}")
    return None


def _unreachable(e: BaseException) -> bool:
    name = type(e).__name__
    text = str(e)
    return (name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError",
                     "NewConnectionError", "ConnectionRefusedError")
            or "Max retries exceeded" in text or "Connection refused" in text
            or ("API request to" in text and ("failed with exception" in text or "error code 5" in text)))


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]
