"""CoOp's prompt learner: "[V1]..[Vn] classname." and cross-entropy, nothing else."""
from __future__ import annotations

import torch

from .base import PromptLearner
from .settings import CoOpSettings


class CoOpLearner(PromptLearner):
    kind = "coop"

    def __init__(self, backbone, classnames, template: str, settings: CoOpSettings,
                 n_ctx: int, pad_to: int | None = None, dataset_name: str | None = None):
        super().__init__(backbone, classnames)
        self.settings = settings
        self.class_ids = [backbone.tokenize(f"{name}.") for name in self.classnames]
        self._pad_to = pad_to

    def class_features(self, ctxs: torch.Tensor) -> torch.Tensor:
        return self.backbone.encode_prompts(ctxs, self.class_ids, pad_to=self._pad_to)
