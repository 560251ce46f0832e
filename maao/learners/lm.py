"""Input-layer prompt tuning of a frozen language model (P-tuning / Lester et al.).

The reference's model (P-tuning v2's RobertaPrompt* classes): n_ctx soft
vectors are prepended to the word embeddings of "<s> text_a </s> text_b
</s>"; the frozen encoder runs; the head reads the <s> output AFTER the
prompt through the frozen pooler (dense + tanh), dropout 0.1, and a trainable
Linear -- n_labels logits, or one logit per choice for multiple choice
(COPA: every (premise, choice) sequence is scored by the same Linear(d, 1)).

Not a subclass of PromptLearner (whose objective is class features of a dual
encoder); it implements the same parameter protocol that GradientDescent and
the methods use: set_context, extra_parameters, reset_extras,
reset_extras_on_restart, extra_state, load_extra_state. Written here rather
than with PEFT: docs/decisions.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .settings import LMSettings


@dataclass
class LMBatch:
    """Padded sequences of B examples x n_choices (1 for classification),
    example-major: rows b*n_choices .. b*n_choices + n_choices - 1 are one example's."""
    input_ids: torch.Tensor          # [B * n_choices, L]
    token_types: torch.Tensor        # [B * n_choices, L]
    mask: torch.Tensor               # [B * n_choices, L]
    n_choices: int

    @classmethod
    def collate(cls, sequences: list[list[tuple[list[int], list[int]]]], pad_id: int) -> "LMBatch":
        """`sequences[b]` = the (ids, types) of example b's choices (one for classification)."""
        n_choices = len(sequences[0])
        flat = [seq for example in sequences for seq in example]
        length = max(len(ids) for ids, _ in flat)
        ids = torch.full((len(flat), length), pad_id, dtype=torch.long)
        types = torch.zeros((len(flat), length), dtype=torch.long)
        mask = torch.zeros((len(flat), length), dtype=torch.long)
        for row, (seq, typ) in enumerate(flat):
            ids[row, :len(seq)] = torch.tensor(seq)
            types[row, :len(typ)] = torch.tensor(typ)
            mask[row, :len(seq)] = 1
        return cls(ids, types, mask, n_choices)

    def __len__(self) -> int:
        return self.input_ids.shape[0] // self.n_choices


class LMPromptLearner(torch.nn.Module):
    kind = "lm"

    def __init__(self, backbone, n_outputs: int, settings: LMSettings, n_ctx: int):
        """n_outputs: number of labels, or 1 for multiple choice (a score per choice)."""
        super().__init__()
        # Not a submodule: the frozen encoder is shared, never trained or saved here.
        object.__setattr__(self, "backbone", backbone)
        self.settings = settings
        self.n_ctx = n_ctx
        self.ctx: torch.nn.Parameter | None = None
        model = backbone.model
        # The frozen pooler belongs to the encoder: kept out of this module's
        # parameters (object.__setattr__ does not register it as a submodule).
        object.__setattr__(self, "_pooler", getattr(model, "pooler", None) if settings.pooler else None)
        if settings.pooler and self._pooler is None:
            raise ValueError(f"{backbone.name} has no pooler; set learner pooler: false")
        device = backbone.device
        self.head = torch.nn.Linear(backbone.token_dim, n_outputs).to(device)

    # -- the parameter protocol (maao.gradient.GradientDescent) ---------------
    def set_context(self, ctx: torch.Tensor) -> torch.nn.Parameter:
        """(Re)start the soft prompt from `ctx` [n_ctx, d] (a fresh leaf)."""
        self.ctx = torch.nn.Parameter(ctx.detach().clone())
        return self.ctx

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.head.parameters())

    def reset_extras(self, generator: torch.Generator) -> None:
        """The head's init (settings.head_init), drawn from the run's generator
        so that a run is reproducible from its seed: "normal" = the reference's
        (N(0, head_init_std) weight, zero bias), "uniform" = nn.Linear's default
        (bound 1/sqrt(fan_in) for weight and bias)."""
        with torch.no_grad():
            if self.settings.head_init == "normal":
                w = self.head.weight
                w.copy_(torch.empty(w.shape).normal_(0.0, self.settings.head_init_std, generator=generator))
                self.head.bias.zero_()
                return
            bound = 1.0 / math.sqrt(self.head.in_features)
            for p in (self.head.weight, self.head.bias):
                p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=generator))

    def reset_extras_on_restart(self) -> bool:
        return self.settings.reset_head_on_restart

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.head.named_parameters()}

    def load_extra_state(self, state: dict[str, torch.Tensor] | None) -> None:
        for name, value in (state or {}).items():
            self.head.get_parameter(name).data.copy_(value)

    # -- the objective --------------------------------------------------------
    def features(self, ctx: torch.Tensor, batch: LMBatch) -> torch.Tensor:
        """[N, d] head inputs of every sequence with prompt ctx [n_ctx, d]."""
        backbone, n = self.backbone, self.n_ctx
        device = backbone.device
        words = backbone.token_embeddings[batch.input_ids.to(device)]
        rows = words.shape[0]
        x = torch.cat([ctx.to(device)[None].expand(rows, -1, -1), words], dim=1)
        mask = torch.cat([torch.ones(rows, n, dtype=torch.long), batch.mask], dim=1).to(device)
        kwargs = {}
        if backbone.uses_token_types:   # the prompt positions are segment A
            types = torch.cat([torch.zeros(rows, n, dtype=torch.long), batch.token_types], dim=1)
            kwargs["token_type_ids"] = types.to(device)
        hidden = backbone.model(inputs_embeds=x, attention_mask=mask, **kwargs).last_hidden_state
        start = n if self.settings.head_position == "after_prompt" else 0
        if self._pooler is not None:      # the pooler reads the first position of what it gets
            return self._pooler(hidden[:, start:])
        return hidden[:, start]

    def logits(self, ctx: torch.Tensor, batch: LMBatch, train: bool = False) -> torch.Tensor:
        """[B, C] logits (C = labels, or choices for multiple choice)."""
        h = self.features(ctx, batch)
        if train and self.settings.dropout:
            h = F.dropout(h, self.settings.dropout, training=True)
        scores = self.head(h)                                  # [N, n_outputs]
        if batch.n_choices > 1:                                # one logit per choice
            return scores.reshape(len(batch), batch.n_choices)
        return scores

    def loss(self, ctx: torch.Tensor, batch: LMBatch, y: torch.Tensor) -> torch.Tensor:
        """Training loss of prompt ctx [n_ctx, d] on a batch (head dropout on)."""
        return F.cross_entropy(self.logits(ctx, batch, train=True), y.to(self.head.weight.device))
