"""Generated structured examples for the language-model learner's tests
(SuperGLUE-like sentence pairs and two-choice items; no data needed)."""
from __future__ import annotations

import random

from maao.datasets.lm_tasks import MULTIPLE_CHOICE, LMDataset, LMSplit

WORDS = "the cat dog sat ran on mat because so it rained was wet sun hot cold day".split()


def generated(kind: str, n: int, seed: int = 0) -> LMSplit:
    rng = random.Random(seed)
    sentence = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) + "."  # noqa: E731
    rows = []
    for i in range(n):
        if kind == MULTIPLE_CHOICE:
            rows.append({"id": f"g{i}", "premise": sentence(), "choices": [sentence(), sentence()],
                         "label": i % 2})
        else:
            rows.append({"id": f"g{i}", "text_a": sentence(), "text_b": sentence(), "label": i % 2})
    return LMSplit(tuple(rows), tuple(r["label"] for r in rows), tuple(r["id"] for r in rows))


def dataset(kind: str) -> LMDataset:
    names = ("choice 1", "choice 2") if kind == MULTIPLE_CHOICE else ("no", "yes")
    # Kind-specific wording: the two kinds' LLM instructions must differ (the
    # response store answers identical requests from one recording).
    return LMDataset(f"generated_{kind}", kind, names, "Which one makes more sense?",
                     f"generated {kind.replace('_', ' ')}",
                     generated(kind, 12, 0), generated(kind, 6, 1), generated(kind, 6, 2), scale="paper")
