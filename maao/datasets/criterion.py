"""The criterion a mini dataset must meet to be kept (issue 9 item 8).

Stated before any method's result was looked at:

  A mini dataset is kept when, on its test split,
  (a) the zero-shot accuracy of its hand-written template (`maao zero-shot
      --dataset NAME`) is at least MIN_MARGIN points above the majority-class
      rate, and
  (b) that zero-shot accuracy is at most MAX_ZERO_SHOT % (headroom left);
  it must also have class names that are ordinary words (label-name
  similarity means something), at least MIN_TRAIN_PER_CLASS train examples
  per class and a test split of at least MIN_TEST examples.

This module holds the parts that need no model (majority rate, the data
checks, the verdict); `python -m benchmarks.dataset_criterion` adds the
zero-shot accuracy and prints the table.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .base import Dataset, LabelledSplit

MIN_MARGIN = 10.0            # points above the majority-class rate
MAX_ZERO_SHOT = 95.0         # % (headroom)
MIN_TRAIN_PER_CLASS = 16     # the largest few-shot setting
MIN_TEST = 150

# "Ordinary words": lower-case alphabetic words, none of them a bare answer
# token (NLI / fact-check / multiple-choice labels carry no class meaning).
# A mechanical proxy; verdict labels such as valid/invalid, plausible/
# implausible or same/different are excluded by hand (docs/datasets.md).
_WORDS = re.compile(r"^[a-z]+( [a-z]+)*$")
NOT_CLASS_WORDS = frozenset({"yes", "no", "true", "false", "neither", "a", "b", "c", "d", "e",
                             "entailment", "contradiction"})
REBALANCE_SEED = 0


def majority_rate(split: LabelledSplit, num_classes: int) -> float:
    """Accuracy (%) of always predicting the split's most frequent class."""
    return 100.0 * max(split.class_counts(num_classes)) / len(split)


def rebalanced(split: LabelledSplit, num_classes: int, seed: int = REBALANCE_SEED) -> LabelledSplit:
    """The least invasive fix of a skewed test split: m = the smallest class
    count examples per class, `rng = random.Random(seed)`, per class in label
    order `rng.sample(ids of the class in split order, m)`; the kept ids stay
    in split order. The majority-class rate becomes 1/C."""
    rng = random.Random(seed)
    m = min(split.class_counts(num_classes))
    keep: set[str] = set()
    for c in range(num_classes):
        keep.update(rng.sample([i for i, y in zip(split.ids, split.labels) if y == c], m))
    return split.select([i for i in split.ids if i in keep])


def ordinary_words(classnames: list[str]) -> bool:
    return all(_WORDS.match(name) and not set(name.split()) & NOT_CLASS_WORDS for name in classnames) \
        and len(set(classnames)) == len(classnames)


@dataclass(frozen=True)
class Verdict:
    name: str
    classes: int
    test_size: int
    min_train_per_class: int
    majority: float            # %
    zero_shot: float | None    # %; None = not measured
    words: bool

    @property
    def failures(self) -> list[str]:
        out = []
        if not self.words:
            out.append("class names are not ordinary words")
        if self.min_train_per_class < MIN_TRAIN_PER_CLASS:
            out.append(f"{self.min_train_per_class} < {MIN_TRAIN_PER_CLASS} train examples in a class")
        if self.test_size < MIN_TEST:
            out.append(f"test split {self.test_size} < {MIN_TEST}")
        if self.zero_shot is not None:
            if self.zero_shot < self.majority + MIN_MARGIN:
                out.append(f"zero-shot {self.zero_shot:.1f} < majority {self.majority:.1f} + {MIN_MARGIN:g}")
            if self.zero_shot > MAX_ZERO_SHOT:
                out.append(f"zero-shot {self.zero_shot:.1f} > {MAX_ZERO_SHOT:g} (no headroom)")
        return out

    @property
    def passed(self) -> bool:
        return self.zero_shot is not None and not self.failures


def verdict(dataset: Dataset, zero_shot: float | None) -> Verdict:
    return Verdict(
        name=dataset.name,
        classes=dataset.num_classes,
        test_size=len(dataset.test),
        min_train_per_class=min(dataset.train.class_counts(dataset.num_classes)),
        majority=majority_rate(dataset.test, dataset.num_classes),
        zero_shot=zero_shot,
        words=ordinary_words(list(dataset.classnames)),
    )
