"""few_shot(): the K-shot training (or validation) subset of a run.

Mini sets: read from the files stored in this package, never re-sampled.
Paper sets: sampled CoOp-style from the split and cached as JSON under
<dataset dir>/split_fewshot/shot_{k}-seed_{s}.json (CoOp caches a pickle in
the same place); a cache that does not fit the split raises.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

from . import sampling
from .base import Dataset, DatasetError, LabelledSplit
from .mini import REGENERATE, fewshot_path, read_json

FEWSHOT_SPLITS = ("train", "val")


def few_shot(dataset: Dataset, shots: int, seed: int, split: str = "train") -> LabelledSplit:
    """K examples per class of the train split (split="train"), or the
    min(K, 4) per class of val that CoOp validates with (split="val")."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots <= 0:
        raise DatasetError(f"shots must be a positive integer, got {shots!r}")
    if split not in FEWSHOT_SPLITS:
        raise DatasetError(f"unknown few-shot split {split!r}; expected one of: {', '.join(FEWSHOT_SPLITS)}")
    counts = dataset.train.class_counts(dataset.num_classes)
    smallest = min(range(dataset.num_classes), key=lambda c: counts[c])
    if shots > counts[smallest]:
        raise DatasetError(
            f"shots={shots} exceeds the {counts[smallest]} examples of class "
            f"{dataset.classnames[smallest]!r} in {dataset.name} train"
        )
    if dataset.scale == "mini":
        ids = _stored(dataset, shots, seed)
    else:
        ids = _cached(dataset, shots, seed)
    return getattr(dataset, split).select(ids[split])


def _check(dataset: Dataset, ids: dict, shots: int, path: Path) -> None:
    """The listed ids lie in the splits and give min(k, class size) per class."""
    for part, k in (("train", shots), ("val", min(shots, sampling.MAX_VAL_SHOTS))):
        listed = ids.get(part)
        whole = getattr(dataset, part)
        if not isinstance(listed, list) or len(set(listed)) != len(listed):
            raise DatasetError(f"few-shot file {path}: '{part}' is not a list of distinct ids")
        try:
            subset = whole.select(listed)
        except KeyError as exc:
            raise DatasetError(f"few-shot file {path}: id {exc.args[0]!r} is not in {dataset.name} {part}") from None
        want = [min(k, n) for n in whole.class_counts(dataset.num_classes)]
        if subset.class_counts(dataset.num_classes) != want:
            raise DatasetError(f"few-shot file {path}: {part} does not have {k} examples per class")


def _stored(dataset: Dataset, shots: int, seed: int) -> dict:
    path = fewshot_path(dataset.name, shots, seed)
    try:
        stored = read_json(path)
    except FileNotFoundError:
        raise DatasetError(
            f"no stored few-shot split for {dataset.name} shots={shots} seed={seed} ({path}); "
            f"stored: shots {', '.join(map(str, sampling.SHOTS))} x seeds {', '.join(map(str, sampling.SEEDS))} "
            f"(add more in maao/datasets/sampling.py and run `{REGENERATE} --write`)"
        ) from None
    _check(dataset, stored, shots, path)
    return stored


def cache_path(dataset: Dataset, shots: int, seed: int) -> Path:
    if dataset.root is None:
        raise DatasetError(f"{dataset.name} has no data folder for a few-shot cache")
    return dataset.root / "split_fewshot" / f"shot_{shots}-seed_{seed}.json"


def _source_digest(dataset: Dataset) -> str:
    # ids + labels only: the cache stays valid when the data folder moves.
    return f"{dataset.train.label_digest()}:{dataset.val.label_digest()}"


def _cached(dataset: Dataset, shots: int, seed: int) -> dict:
    path = cache_path(dataset, shots, seed)
    digest = _source_digest(dataset)
    if path.exists():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"corrupt few-shot cache {path} ({exc}); delete it to resample") from None
        if not isinstance(cached, dict) or (cached.get("dataset"), cached.get("shots"), cached.get("seed")) != (
            dataset.name, shots, seed
        ):
            raise DatasetError(f"few-shot cache {path} is not for {dataset.name} shots={shots} seed={seed}; delete it")
        if cached.get("source_digest") != digest:
            raise DatasetError(f"stale few-shot cache {path}: it was sampled from a different split; delete it to resample")
        _check(dataset, cached, shots, path)
        return cached
    sampled = {
        "dataset": dataset.name,
        "shots": shots,
        "seed": seed,
        "source_digest": digest,
        **sampling.fewshot_ids(dataset.train, dataset.val, dataset.num_classes, shots, seed),
    }
    _write_atomic(path, json.dumps(sampled, indent=1, ensure_ascii=False) + "\n")
    return sampled


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        # A read-only data folder still gives the (deterministic) sample.
        warnings.warn(f"could not write few-shot cache {path}: {exc}", stacklevel=3)
