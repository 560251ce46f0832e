"""Backbone registry: name -> constructor (one file per model family)."""
from __future__ import annotations

from .base import FrozenDualEncoder

BACKBONES = {
    "minilm": ("maao.backbones.minilm", "MiniLMEncoder", {}),
    "clip-rn50": ("maao.backbones.clip", "CLIPEncoder", {"arch": "RN50"}),
    "clip-vit-b-16": ("maao.backbones.clip", "CLIPEncoder", {"arch": "ViT-B-16"}),
    # Frozen encoders for input-layer prompt tuning (Table 1, maao.backbones.lm_encoder)
    "minilm-lm": ("maao.backbones.lm_encoder", "FrozenLMEncoder", {"source": "minilm"}),
    "mpnet-lm": ("maao.backbones.lm_encoder", "FrozenLMEncoder", {"source": "mpnet"}),
    "roberta-large": ("maao.backbones.lm_encoder", "FrozenLMEncoder",
                      {"source": "pretrained", "model_name": "roberta-large"}),
    "roberta-random": ("maao.backbones.lm_encoder", "FrozenLMEncoder", {"source": "random-roberta"}),
}


def load_backbone(name: str, **options) -> FrozenDualEncoder:
    """Build a frozen backbone by registry name; options override the defaults."""
    import importlib

    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    module, cls, defaults = BACKBONES[name]
    return getattr(importlib.import_module(module), cls)(**{**defaults, **options})


__all__ = ["BACKBONES", "FrozenDualEncoder", "load_backbone"]
