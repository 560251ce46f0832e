"""Labelled data: mini text sets shipped in packages, the paper's image sets in
CoOp's layout, and stored few-shot subsets. See docs/datasets.md."""
from .base import Dataset, DatasetError, LabelledSplit
from .fewshot import few_shot
from .registry import DATASETS, MINI, MINI_RETIRED, default_data_dir, load_dataset
from .sampling import SEEDS, SHOTS

__all__ = [
    "DATASETS",
    "MINI",
    "MINI_RETIRED",
    "SEEDS",
    "SHOTS",
    "Dataset",
    "DatasetError",
    "LabelledSplit",
    "default_data_dir",
    "few_shot",
    "load_dataset",
]
