"""Input features computed once per (backbone, dataset, split) and cached on disk.

The input tower is frozen, so re-running it every training step is pure waste.
A cache file records the backbone fingerprint and the split digest it was made
from, and the sha256 of the feature bytes; a file whose record does not match
(stale), whose bytes do not match their digest (damaged) or that cannot be read
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
            if bytes(meta.tolist()).decode() != f"{fingerprint}|{digest}" or feats.shape[0] != len(split):
                log.warning("stale feature cache %s (made from other data or weights); rebuilding", path)
            elif "content_sha256" not in tensors:
                log.warning("feature cache %s has no content digest (made by an older version); "
                            "rebuilding", path)
            elif bytes(tensors["content_sha256"].tolist()).decode() != content_digest(feats):
                log.warning("damaged feature cache %s (its bytes do not match their sha256); rebuilding",
                            path)
            else:
                return feats
        except (SafetensorError, KeyError, OSError, ValueError, UnicodeDecodeError) as err:
            log.warning("corrupt feature cache %s (%s); rebuilding", path, err)
    feats = backbone.encode_inputs(list(split.inputs)).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = torch.tensor(list(f"{fingerprint}|{digest}".encode()), dtype=torch.uint8)
    content = torch.tensor(list(content_digest(feats).encode()), dtype=torch.uint8)
    # A temp name of its own per process: parallel workers (maao.scale) may
    # build the same file at once; each replace is then whole, the last wins.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({"features": feats, "meta_digest": meta, "content_sha256": content}, tmp)
    os.replace(tmp, path)  # atomic: an interrupted write never leaves half a file
    return feats


def content_digest(feats: torch.Tensor) -> str:
    """sha256 of the tensor's dtype, shape and bytes."""
    t = feats.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
