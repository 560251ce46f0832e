"""Tiny generated image sets in CoOp's on-disk layout (the paper-scale path, offline)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

EUROSAT = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
           "Pasture", "PermanentCrop", "Residential", "River", "SeaLake"]


def write_eurosat(root: Path, per_split=(2, 1, 1), seed: int = 0) -> Path:
    """root/eurosat/2750/<class>/<class>_<n>.png and split_zhou_EuroSAT.json; returns root."""
    rng = np.random.default_rng(seed)
    split = {"train": [], "val": [], "test": []}
    n = 0
    for label, cls in enumerate(EUROSAT):
        for part, count in zip(split, per_split):
            for _ in range(count):
                rel = f"{cls}/{cls}_{n}.png"
                path = root / "eurosat" / "2750" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
                split[part].append([rel, label, cls])
                n += 1
    (root / "eurosat" / "split_zhou_EuroSAT.json").write_text(json.dumps(split))
    return root
