"""Input features computed once per (backbone, dataset, split) and cached on disk.

The input tower is frozen, so re-running it every training step is pure waste.
A cache file records the backbone fingerprint and the split digest it was made
from; a file whose record does not match (stale) or that cannot be read
(corrupt) is reported with a warning and rebuilt, never silently used.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao")) / "features"


def cached_input_features(backbone, split, dataset: str, split_name: str,
                          cache_dir: Path | None = None) -> torch.Tensor:
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    fingerprint = backbone.fingerprint()
    digest = split.digest()
    tag = hashlib.sha256(f"{fingerprint}|{digest}".encode()).hexdigest()[:16]
    path = cache_dir / backbone.name / dataset / f"{split_name}-{tag}.safetensors"
    if path.exists():
        try:
            tensors = load_file(path)
            feats = tensors["features"]
            meta = tensors["meta_digest"]
            if bytes(meta.tolist()).decode() == f"{fingerprint}|{digest}" and feats.shape[0] == len(split):
                return feats
            log.warning("stale feature cache %s (made from other data or weights); rebuilding", path)
        except (SafetensorError, KeyError, OSError, ValueError, UnicodeDecodeError) as err:
            log.warning("corrupt feature cache %s (%s); rebuilding", path, err)
    feats = backbone.encode_inputs(list(split.inputs)).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = torch.tensor(list(f"{fingerprint}|{digest}".encode()), dtype=torch.uint8)
    tmp = path.with_suffix(".tmp")
    save_file({"features": feats, "meta_digest": meta}, tmp)
    os.replace(tmp, path)  # atomic: an interrupted write never leaves half a file
    return feats
