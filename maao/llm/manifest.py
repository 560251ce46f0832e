"""Per-experiment manifests: which recorded responses an experiment uses.

A manifest is a JSON list of keys, sorted, one per line (readable diffs). The
runner writes it from ResponseStore.used_keys after a run; check_manifest
finds records an experiment needs but the store lacks (missing) and records
no manifest mentions (orphans, safe to prune after review).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from .store import ResponseStore


def write_manifest(path: Path | str, keys: Iterable[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sorted(set(keys)), indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_manifest(path: Path | str) -> list[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(k, str) for k in data):
        raise ValueError(f"{path}: a manifest must be a JSON list of key strings")
    return data


def _manifest_files(manifest_path) -> list[Path]:
    """A file, a directory (every *manifest*.json below it) or an iterable of files."""
    if isinstance(manifest_path, (str, Path)):
        p = Path(manifest_path)
        return sorted(p.rglob("*manifest*.json")) if p.is_dir() else [p]
    return [Path(p) for p in manifest_path]


def check_manifest(manifest_path, store: ResponseStore) -> tuple[list[str], list[str]]:
    """(missing_keys, orphan_keys), both sorted.

    missing: listed in a manifest but not in the store. orphan: in the store
    but in none of the given manifests (pass all manifests of the store, e.g.
    their directory, or orphans are over-reported)."""
    wanted: set[str] = set()
    for f in _manifest_files(manifest_path):
        wanted.update(read_manifest(f))
    have = store.keys()
    return sorted(wanted - have), sorted(have - wanted)
