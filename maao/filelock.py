"""One exclusive advisory lock (flock) on a path, for writers across processes.

Used beside the MLflow store (`maao.claims`) and on the responses folder
(`maao.llm.store`). A lock taken on a directory leaves no file behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def exclusive(path: Path, create: bool = True) -> Iterator[None]:
    """Hold LOCK_EX on `path` (a file created if needed, or an existing directory)."""
    flags = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
