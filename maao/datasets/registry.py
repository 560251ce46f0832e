"""Registry: dataset name -> loader(data_dir) -> Dataset."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from . import bbc_news, bigbench_tasks, coop, lm_tasks
from .base import Dataset, DatasetError

Loader = Callable[[Path], Dataset]

# The mini sets that meet the dataset criterion (docs/datasets.md, criterion.py).
MINI = ("bbc_news", "intent_recognition")
# Mini sets that fail it: still registered and loadable (recordings made with
# them replay), but no longer part of the mini scale.
MINI_RETIRED = ("social_support",)
DATASETS: dict[str, Loader] = {
    "bbc_news": bbc_news.load,
    "intent_recognition": bigbench_tasks.load_intent_recognition,
    "social_support": bigbench_tasks.load_social_support,
    **coop.LOADERS,
    **lm_tasks.loaders(),     # Table 1's language-model tasks (structured examples)
}


def default_data_dir() -> Path:
    """$MAAO_DATA_DIR, else ~/data (where the paper-scale image sets live)."""
    return Path(os.environ.get("MAAO_DATA_DIR") or Path.home() / "data")


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a dataset by registry name. data_dir matters only for the paper
    sets; the mini sets ship with the code."""
    try:
        loader = DATASETS[name]
    except (KeyError, TypeError):
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return loader(root.expanduser().resolve())
