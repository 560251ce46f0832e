"""Deterministic sampling: the fixed mini splits and CoOp-style few-shot subsets.

Both the stored files of the mini sets (generated once by
`python -m maao.datasets.prepare --splits`) and the on-the-fly cache of the
paper sets come from these functions, so there is one sampling rule.
"""
from __future__ import annotations

import random
import re

from .base import LabelledSplit

SHOTS = (1, 2, 4, 8, 16)
SEEDS = tuple(range(1, 23))   # 1-3 since spec v1; 4-22 for the power grid (docs/power.md)
# CoOp: val of a few-shot run has min(shots, 4) examples per class.
MAX_VAL_SHOTS = 4
# Mini sets: per class 60% train, 10% val, the rest test; one fixed seed.
SPLIT_FRACTIONS = (0.6, 0.1)
SPLIT_SEED = 0


def normalise_text(text: str) -> str:
    """Key for duplicate detection: whitespace collapsed, case folded."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def find_duplicates(ids: list[str], texts: list[str], labels: list[int]) -> dict[str, str]:
    """Ids to exclude, with the reason. Keep the first of identical texts with
    one label; drop all copies of a text that carries conflicting labels."""
    groups: dict[str, list[int]] = {}
    for n, text in enumerate(texts):
        groups.setdefault(normalise_text(text), []).append(n)
    excluded: dict[str, str] = {}
    for rows in groups.values():
        if len(rows) < 2:
            continue
        if len({labels[r] for r in rows}) > 1:
            for r in rows:
                others = ", ".join(ids[o] for o in rows if o != r)
                excluded[ids[r]] = f"same text as {others} with a different label"
        else:
            for r in rows[1:]:
                excluded[ids[r]] = f"duplicate of {ids[rows[0]]}"
    return dict(sorted(excluded.items()))


def stratified_split(ids: list[str], labels: list[int], num_classes: int) -> dict[str, list[str]]:
    """Per class: sort ids, shuffle with Random(SPLIT_SEED), cut 60/10/30."""
    rng = random.Random(SPLIT_SEED)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        members = sorted(i for i, y in zip(ids, labels) if y == c)
        rng.shuffle(members)
        n_train = round(len(members) * SPLIT_FRACTIONS[0])
        n_val = round(len(members) * SPLIT_FRACTIONS[1])
        out["train"] += members[:n_train]
        out["val"] += members[n_train : n_train + n_val]
        out["test"] += members[n_train + n_val :]
    return out


def sample_per_class(split: LabelledSplit, num_classes: int, shots: int, rng: random.Random) -> list[str]:
    """CoOp's generate_fewshot_dataset: `rng.sample(items_of_class, k)` per
    class, classes in label order, items in split order; a class with fewer
    than k items contributes all of them (CoOp does the same, without repeat)."""
    chosen: list[str] = []
    for c in range(num_classes):
        members = [i for i, y in zip(split.ids, split.labels) if y == c]
        if len(members) >= shots:
            chosen += rng.sample(members, shots)
        else:
            chosen += members
    return chosen


def fewshot_ids(train: LabelledSplit, val: LabelledSplit, num_classes: int, shots: int, seed: int) -> dict[str, list[str]]:
    """Train and val few-shot ids for (shots, seed): one Random(seed), train
    sampled first, then val with min(shots, 4) per class, as CoOp does after
    seeding once."""
    rng = random.Random(seed)
    train_ids = sample_per_class(train, num_classes, shots, rng)
    val_ids = sample_per_class(val, num_classes, min(shots, MAX_VAL_SHOTS), rng)
    return {"train": train_ids, "val": val_ids}
