"""The two value types every dataset loader returns, and the one error type."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


class DatasetError(ValueError):
    """A dataset problem the user can fix; the message is one line naming it."""


@dataclass(frozen=True)
class LabelledSplit:
    """One split: parallel tuples of inputs, integer labels and stable ids.

    inputs are document texts (text datasets) or absolute image paths (image
    datasets); ids do not depend on where the data lies, so few-shot files
    can list them.
    """

    inputs: tuple[str, ...]
    labels: tuple[int, ...]
    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples: the split is immutable
        # and its digest must not change after it has been computed.
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "labels", tuple(int(y) for y in self.labels))
        object.__setattr__(self, "ids", tuple(self.ids))
        if not len(self.inputs) == len(self.labels) == len(self.ids):
            raise DatasetError(
                f"split has {len(self.inputs)} inputs, {len(self.labels)} labels and {len(self.ids)} ids; "
                "they must be equal"
            )
        if len(set(self.ids)) != len(self.ids):
            raise DatasetError("split has duplicate ids")

    def __len__(self) -> int:
        return len(self.ids)

    def digest(self) -> str:
        """sha256 over ids, labels and inputs; the feature cache keys on it."""
        payload = json.dumps([self.ids, self.labels, self.inputs], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def label_digest(self) -> str:
        """sha256 over ids and labels only: unchanged when the data moves."""
        payload = json.dumps([self.ids, self.labels], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def class_counts(self, num_classes: int) -> list[int]:
        counts = [0] * num_classes
        for y in self.labels:
            counts[y] += 1
        return counts

    def select(self, ids: list[str] | tuple[str, ...]) -> "LabelledSplit":
        """The examples with these ids, in the order given."""
        index = {i: n for n, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(missing[0])
        rows = [index[i] for i in ids]
        return LabelledSplit(
            inputs=tuple(self.inputs[r] for r in rows),
            labels=tuple(self.labels[r] for r in rows),
            ids=tuple(self.ids[r] for r in rows),
        )


SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset with its class names, hand-written template and splits.

    classnames[label] is the human-readable class name; template holds one
    "{}" for it (the dataset's zero-shot prompt); task is a short description
    for the LLM instruction.
    """

    name: str
    classnames: list[str]
    template: str
    task: str
    modality: str  # "text" | "image"
    train: LabelledSplit
    val: LabelledSplit
    test: LabelledSplit
    scale: str  # "mini" | "paper"
    # Folder of a paper-scale dataset (CoOp's dataset_dir); the few-shot cache
    # is written under it. None for the mini sets, whose files ship in the package.
    root: Path | None = field(default=None, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def split(self, name: str) -> LabelledSplit:
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r} of {self.name}; expected one of: {', '.join(SPLITS)}")
        return getattr(self, name)
