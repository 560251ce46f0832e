"""Per-experiment manifests: which recorded responses an experiment uses.

A manifest is a JSON object {key: sha256 of the key's reply}, sorted, one key
per line (readable diffs). The key is the hash of the request; the digest
commits to the answer, so a reply edited in the JSONL is refused when it is
read (maao.llm.store.read_records names file, line and key). A complete sweep
writes the manifest from the keys its runs used (ResponseStore.used_keys and
the pairs of the finished runs it reused); check_manifest finds records an
experiment needs but the store lacks (missing) and records no manifest
mentions (orphans, safe to prune after review). A manifest written before
digests (a JSON list of keys) is still read, without reply checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from .store import ResponseStore, manifest_digests, reply_digest, write_text_atomic


def write_manifest(path: Path | str, keys: Iterable[str], records: dict[str, dict]) -> None:
    """{key: reply digest} of `keys`, the replies taken from `records` (the
    store's records: every used key is one of them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digests = {key: reply_digest(records[key]) for key in sorted(set(keys))}
    write_text_atomic(path, json.dumps(digests, indent=1) + "\n")


def read_manifest(path: Path | str) -> list[str]:
    """The keys a manifest lists, sorted."""
    return sorted(manifest_digests(Path(path)))


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
