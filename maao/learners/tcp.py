"""TCP's prompt learner (Yao et al., CVPR 2024, "Textual-based Class-aware Prompt tuning").

Frozen text features of the dataset's hand-written prompt per class go through
a meta-net, Linear(F -> F/4), QuickGELU, Linear(F/4 -> n_ctx*d), giving
n_ctx class-aware tokens per class; they replace the context positions on
entering one text block. The learnable context "X X X X" is followed by the
template's text after its class slot ("X X X X {}, a type of pet."). Loss =
cross-entropy + kg_weight * (1 - mean cosine to the hand-crafted features).
The context is what V^-1 projects and an LLM proposal replaces; the meta-net
is the learner's other trainable part (kept or reset on a restart, a setting).
The per-dataset text (hand-crafted template, text after the context) is the
reference's (`maao.learners.tcp_templates`) where it has the dataset.
"""
from __future__ import annotations

import math

import torch

from ..backbones.base import Injection
from .base import PromptLearner
from .settings import TCPSettings
from .tcp_templates import tcp_templates


class QuickGELU(torch.nn.Module):
    """CLIP's GELU approximation, which TCP's meta-net uses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def class_text(template: str, name: str) -> str:
    """What follows the context for one class: the template from its slot on,
    "a photo of a {}, a type of pet." -> "Abyssinian, a type of pet."."""
    tail = template[template.index("{}"):] if "{}" in template else "{}."
    text = tail.replace("{}", name).strip()
    return text if text.endswith(".") else f"{text}."


def default_inject_layer(n_blocks: int) -> int:
    """Two thirds of the depth: index 8 of CLIP's 12 blocks (the reference), 4 of 6."""
    return round(n_blocks * 2 / 3)


class TCPLearner(PromptLearner):
    kind = "tcp"

    def __init__(self, backbone, classnames, template: str, settings: TCPSettings,
                 n_ctx: int, pad_to: int | None = None, dataset_name: str | None = None):
        super().__init__(backbone, classnames)
        self.settings = settings
        self.n_ctx = n_ctx
        reference = tcp_templates(dataset_name) if settings.templates == "reference" else None
        if reference is not None:     # TCP's CUSTOM_TEMPLATES_ori / CUSTOM_TEMPLATES
            handcrafted = reference.handcrafted
            after_context = [reference.suffix.replace("{}", name) for name in self.classnames]
        else:                         # the dataset's own template for both (decision 27)
            handcrafted = template
            after_context = [class_text(template, name) for name in self.classnames]
        self.handcrafted_template = handcrafted
        self.class_ids = [backbone.tokenize(text) for text in after_context]
        self._pad_to = pad_to
        n_blocks = len(backbone.text_blocks)
        self.inject_layer = (default_inject_layer(n_blocks) if settings.inject_layer is None
                             else settings.inject_layer)
        if self.inject_layer >= n_blocks:
            raise ValueError(f"inject_layer {self.inject_layer} outside {backbone.name}'s "
                             f"{n_blocks} text blocks")
        filled = [handcrafted.replace("{}", name) if "{}" in handcrafted else f"{handcrafted} {name}"
                  for name in self.classnames]
        device = getattr(backbone, "device", torch.device("cpu"))
        # Buffers, not parameters: the hand-crafted features are fixed targets.
        self.register_buffer("handcrafted", backbone.encode_texts(filled).to(device))
        feat_dim, d = self.handcrafted.shape[1], backbone.token_dim
        hidden = max(1, feat_dim // settings.meta_hidden_ratio)
        self.meta_net = torch.nn.Sequential(
            torch.nn.Linear(feat_dim, hidden), QuickGELU(), torch.nn.Linear(hidden, n_ctx * d)
        ).to(device)

    def reset_extras(self, generator: torch.Generator) -> None:
        """nn.Linear's default init (uniform, bound 1/sqrt(fan_in)), drawn from the
        run's generator so that a run is reproducible from its seed."""
        with torch.no_grad():
            for layer in (self.meta_net[0], self.meta_net[2]):
                bound = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=generator))

    def reset_extras_on_restart(self) -> bool:
        return self.settings.reset_meta_net_on_restart

    def class_tokens(self) -> torch.Tensor:
        """[C, n_ctx, d] class-aware tokens from the hand-crafted features."""
        return self.meta_net(self.handcrafted).reshape(len(self.classnames), self.n_ctx, -1)

    def class_features(self, ctxs: torch.Tensor) -> torch.Tensor:
        inject = Injection(self.inject_layer, self.class_tokens(), self.settings.inject_weight)
        return self.backbone.encode_prompts(ctxs, self.class_ids, pad_to=self._pad_to, inject=inject)

    def penalty(self, text: torch.Tensor) -> torch.Tensor:
        """KgCoOp's term: features stay close to the hand-crafted prompt's."""
        cosine = (text * self.handcrafted.to(text.device)).sum(-1)
        return self.settings.kg_weight * (1.0 - cosine.mean())
