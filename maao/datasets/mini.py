"""Shared machinery of the mini sets: real text data that ships in packages,
with a fixed split and few-shot subsets stored as JSON files in this package.

The stored files are the contract: loaders read them and never re-sample, so
a change of Python's RNG or of the source package cannot move a split
silently (loading verifies that the stored ids cover the source exactly).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import sampling
from .base import Dataset, DatasetError, LabelledSplit

PACKAGE_DIR = Path(__file__).resolve().parent
SPLITS_DIR = PACKAGE_DIR / "splits"
DATA_DIR = PACKAGE_DIR / "data"
REGENERATE = "python -m maao.datasets.prepare --splits"


@dataclass(frozen=True)
class Examples:
    """All labelled examples of a mini source, in source order."""

    ids: list[str]
    texts: list[str]
    labels: list[int]


@dataclass(frozen=True)
class MiniSource:
    name: str
    classnames: tuple[str, ...]  # a tuple: sources are hashable (load_mini caches on them)
    template: str
    task: str
    read: Callable[[], Examples]


def split_path(name: str) -> Path:
    return SPLITS_DIR / name / "split.json"


def fewshot_path(name: str, shots: int, seed: int) -> Path:
    return SPLITS_DIR / name / "fewshot" / f"shots{shots}_seed{seed}.json"


def dump_json(obj: object) -> str:
    """The one formatting of every stored file (stable diffs)."""
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None


def make_split_file(source: MiniSource) -> dict:
    """The content of splits/<name>/split.json, computed from the source."""
    ex = source.read()
    excluded = sampling.find_duplicates(ex.ids, ex.texts, ex.labels)
    kept = [n for n, i in enumerate(ex.ids) if i not in excluded]
    parts = sampling.stratified_split(
        [ex.ids[n] for n in kept], [ex.labels[n] for n in kept], len(source.classnames)
    )
    return {
        "dataset": source.name,
        "rule": (
            f"duplicates excluded; per class: sorted ids shuffled with random.Random({sampling.SPLIT_SEED}), "
            f"first {sampling.SPLIT_FRACTIONS[0]:.0%} train, next {sampling.SPLIT_FRACTIONS[1]:.0%} val, rest test"
        ),
        "classnames": list(source.classnames),
        "num_source_examples": len(ex.ids),
        "excluded": excluded,
        **parts,
    }


def make_fewshot_file(dataset: Dataset, shots: int, seed: int) -> dict:
    ids = sampling.fewshot_ids(dataset.train, dataset.val, dataset.num_classes, shots, seed)
    return {
        "dataset": dataset.name,
        "shots": shots,
        "seed": seed,
        "rule": (
            f"random.Random(seed); per class in label order random.sample(train of class, shots), "
            f"then per class random.sample(val of class, min(shots, {sampling.MAX_VAL_SHOTS}))"
        ),
        **ids,
    }


@functools.cache
def load_mini(source: MiniSource) -> Dataset:
    path = split_path(source.name)
    try:
        stored = read_json(path)
    except FileNotFoundError:
        raise DatasetError(f"{source.name}: stored split {path} is missing; regenerate it with `{REGENERATE}`") from None
    ex = source.read()
    assigned = [i for part in ("train", "val", "test") for i in stored.get(part, [])]
    expected = set(ex.ids) - set(stored.get("excluded", {}))
    if len(assigned) != len(set(assigned)) or set(assigned) != expected:
        unknown = len(set(assigned) - expected)
        unassigned = len(expected - set(assigned))
        raise DatasetError(
            f"{source.name}: stored split {path} does not match the source data "
            f"({unknown} unknown ids, {unassigned} unassigned, {len(assigned) - len(set(assigned))} repeated); "
            f"the source package changed, check it or run `{REGENERATE}`"
        )
    row = {i: n for n, i in enumerate(ex.ids)}

    def part(name: str) -> LabelledSplit:
        rows = [row[i] for i in stored[name]]
        return LabelledSplit(
            inputs=tuple(ex.texts[r] for r in rows),
            labels=tuple(ex.labels[r] for r in rows),
            ids=tuple(ex.ids[r] for r in rows),
        )

    return Dataset(
        name=source.name,
        classnames=list(source.classnames),
        template=source.template,
        task=source.task,
        modality="text",
        train=part("train"),
        val=part("val"),
        test=part("test"),
        scale="mini",
    )
