"""One exclusive advisory lock (flock) on a path, for writers across processes.

Used beside the MLflow store (`maao.claims`) and on the responses folder
(`maao.llm.store`). A lock taken on a directory leaves no file behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def exclusive(path: Path, create: bool = True,
              on_wait: Callable[[Path], None] | None = None) -> Iterator[int]:
    """Hold LOCK_EX on `path` (a file created if needed, or an existing
    directory); yields the open descriptor. `on_wait(path)` is called once
    when another process holds the lock, before waiting for it."""
    flags = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    fd = os.open(path, flags, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def holder(path: Path) -> int | None:
    """The pid that holds an flock on `path`, from /proc/locks (Linux), or None."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 08:01:123456 0 EOF" ("->" marks a waiter)
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[2] != "->" \
                and parts[5].rsplit(":", 1)[-1] == str(inode):
            try:
                return int(parts[4])
            except ValueError:
                return None
    return None


def command_of(pid: int) -> str:
    """A process's command line (Linux /proc), or '?'."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p) or "?"
