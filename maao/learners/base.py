"""The interface every prompt learner implements (CoOp/Dassl's PromptLearner).

A learner owns what training changes -- the restartable soft context (what
V^-1 projects and an LLM proposal replaces) and any other trainable parameters
-- and turns them into class features, logits and a loss. The backbone stays
frozen. Optimizers see only `set_context`, `parameters()`, `loss` and
`logits`, so every method (combined, single/multi-start, perturbed, LLM-only)
works on every learner unchanged.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F


class PromptLearner(torch.nn.Module, ABC):
    kind: str

    def __init__(self, backbone, classnames: list[str]):
        super().__init__()
        # Not a submodule: the frozen backbone is shared, never trained or saved here.
        object.__setattr__(self, "backbone", backbone)
        self.classnames = list(classnames)
        self.ctx: torch.nn.Parameter | None = None

    # -- parameters ----------------------------------------------------------
    def set_context(self, ctx: torch.Tensor) -> torch.nn.Parameter:
        """(Re)start the soft context from `ctx` [n_ctx, d] (a fresh leaf)."""
        self.ctx = torch.nn.Parameter(ctx.detach().clone())
        return self.ctx

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        """Trainable parameters besides the context (none for CoOp)."""
        return [p for name, p in self.named_parameters() if name != "ctx"]

    def reset_extras(self, generator: torch.Generator) -> None:
        """Draw the other parameters' initial values (called once per run, and
        on a restart where the learner's settings ask for it)."""

    def reset_extras_on_restart(self) -> bool:
        return False

    def extra_state(self) -> dict[str, torch.Tensor] | None:
        """A copy of the other trained parameters, or None when there are none."""
        extras = {name: p.detach().clone() for name, p in self.named_parameters() if name != "ctx"}
        return extras or None

    def load_extra_state(self, state: dict[str, torch.Tensor] | None) -> None:
        for name, value in (state or {}).items():
            self.get_parameter(name).data.copy_(value)

    # -- objective -----------------------------------------------------------
    @abstractmethod
    def class_features(self, ctxs: torch.Tensor) -> torch.Tensor:
        """L2-normalised text features [P, C, F] of prompts ctxs [P, n_ctx, d]."""

    def logits(self, ctxs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """[P, B, C] logits for prompts ctxs [P, n_ctx, d] on input features x [B, F]."""
        return self._logits(self.class_features(ctxs), x)

    def _logits(self, text: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.logit_scale * torch.einsum("bd,pcd->pbc", x.to(text.device), text)

    def penalty(self, text: torch.Tensor) -> torch.Tensor | None:
        """An extra loss term on the training prompt's features [C, F] (None: none)."""
        return None

    def loss(self, ctx: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss of one prompt [n_ctx, d] on a batch (x [B, F], y [B])."""
        text = self.class_features(ctx[None])
        loss = F.cross_entropy(self._logits(text, x)[0], y)
        extra = self.penalty(text[0])
        return loss if extra is None else loss + extra
