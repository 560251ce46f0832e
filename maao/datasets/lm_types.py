"""The types of Table 1's language-model tasks (torch-free): a split of
structured examples and a task. Shared by maao.datasets.lm_tasks (the shipped
tasks) and maao.datasets.lm_candidates (the criterion's candidates)."""
from __future__ import annotations

from dataclasses import dataclass

CLASSIFICATION, MULTIPLE_CHOICE = "classification", "multiple_choice"


@dataclass(frozen=True)
class LMSplit:
    """One split: structured examples (dicts) with integer labels and stable ids."""
    examples: tuple
    labels: tuple
    ids: tuple

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids) -> "LMSplit":
        row = {i: n for n, i in enumerate(self.ids)}
        rows = [row[i] for i in ids]
        return LMSplit(tuple(self.examples[r] for r in rows), tuple(self.labels[r] for r in rows),
                       tuple(self.ids[r] for r in rows))


@dataclass(frozen=True)
class LMDataset:
    """A Table 1 task. `template` is its hand-written hard prompt (an
    instruction without a class slot: the soft prompt's text form)."""
    name: str
    kind: str                        # CLASSIFICATION or MULTIPLE_CHOICE
    classnames: tuple                # label names; for multiple choice "choice 1", ...
    template: str
    task: str                        # how the LLM instruction names the task
    train: LMSplit
    val: LMSplit
    test: LMSplit
    scale: str
    modality: str = "text"
    is_lm_task: bool = True          # maao.runner.build_problem dispatches on it

    @property
    def num_classes(self) -> int:
        return len(self.classnames)
