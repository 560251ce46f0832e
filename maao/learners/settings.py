"""Settings of each prompt-learner kind (torch-free, so specs and reports load them).

One frozen dataclass per kind, as PEFT has one config per tuning method. A spec
row or a RunConfig names a learner as a mapping {"kind": "tcp", ...settings};
an empty mapping is CoOp with its defaults (the learner every run used before
learners were a setting, so those runs keep their identity).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CoOpSettings:
    """CoOp (Zhou et al. 2022): "[V1]..[Vn] classname." with cross-entropy only."""
    kind: str = "coop"


@dataclass(frozen=True)
class TCPSettings:
    """TCP (Yao et al. 2024), the reference's values as defaults.

    Class-aware tokens T(c) = meta_net(hand-crafted text features of class c)
    replace the context positions on entering text block `inject_layer`, mixed
    as weight * T(c) + (1 - weight) * hidden; the loss adds the KgCoOp term
    kg_weight * (1 - mean cosine(prompted text features, hand-crafted ones)).
    """
    kind: str = "tcp"
    # None: two thirds of the text tower's depth, the reference's index 8 of
    # 12 CLIP blocks; MiniLM's 6 blocks give index 4 (docs/decisions.md).
    inject_layer: int | None = None
    inject_weight: float = 1.0      # the reference hard-codes 1.0 (TRAINER.COOP.W never reaches it)
    kg_weight: float = 8.0
    meta_hidden_ratio: int = 4      # Linear(d -> d/4), QuickGELU, Linear(d/4 -> n_ctx*d)
    # On a restart (an LLM proposal or a multi-start restart) the context is
    # replaced; the meta-net is kept (False) or re-drawn from its init (True).
    reset_meta_net_on_restart: bool = False
    # Per-dataset text: "reference" = TCP's CUSTOM_TEMPLATES_ori (hand-crafted
    # prompt) and CUSTOM_TEMPLATES (text after the context) where the reference
    # has the dataset (maao.learners.tcp_templates), else the dataset's own
    # template; "dataset" = the dataset's own (CoOp's zero-shot) template for
    # both, the rule before issue 19 (docs/decisions.md #55).
    templates: str = "reference"

    def __post_init__(self):
        if self.templates not in ("reference", "dataset"):
            raise ValueError(f"templates must be 'reference' or 'dataset', got {self.templates!r}")
        if self.inject_layer is not None and self.inject_layer < 0:
            raise ValueError(f"inject_layer must be >= 0, got {self.inject_layer}")
        if not 0.0 <= self.inject_weight <= 1.0:
            raise ValueError(f"inject_weight must be in [0, 1], got {self.inject_weight}")
        if self.kg_weight < 0 or self.meta_hidden_ratio <= 0:
            raise ValueError("kg_weight must be >= 0 and meta_hidden_ratio positive")


@dataclass(frozen=True)
class LMSettings:
    """Input-layer prompt tuning of a frozen language model (Table 1: P-tuning /
    Lester et al. as the reference runs it; maao.learners.lm).

    The soft prompt precedes "[CLS] text_a [SEP] text_b [SEP]"; the head reads
    the [CLS]/<s> output after the prompt (the reference; "first" = position
    0, the first virtual token, as PEFT's SEQ_CLS reads it) through the frozen
    pooler (dense + tanh), then dropout and a trainable Linear (one logit per
    choice for multiple choice).
    """
    kind: str = "lm"
    head_position: str = "after_prompt"     # or "first"
    pooler: bool = True                     # the checkpoint's frozen pooler before the Linear
    dropout: float = 0.1
    reset_head_on_restart: bool = False     # the reference keeps the head on a restart
    # Which trained state is reported: the last one ("last") or the end of
    # the epoch with the best dev accuracy ("best_dev", the reference's rule,
    # which there used the reported split as dev).
    model_selection: str = "last"
    eval_batch_size: int = 64               # sequences per no-grad forward
    # The head's init. "normal": weight N(0, head_init_std), bias 0 -- the
    # reference: its classifier is missing from the checkpoint, so
    # from_pretrained re-initialises it with the model's _init_weights
    # (initializer_range 0.02; transformers 4.11.3, docs/decisions.md).
    # "uniform": nn.Linear's default U(+-1/sqrt(d)) (spec table1 v1, recorded).
    head_init: str = "normal"
    head_init_std: float = 0.02
    # Text -> prompt (LLM proposals, the manual prompt): True = the reference's
    # prompt_token_embedding, tokenizer(text) WITH its special tokens
    # ("<s>"/[CLS] first), re-tokenised with " a" x 10 appended when shorter
    # than the prompt, first n_ctx kept; False = the text's own tokens cut or
    # padded per ProblemSettings (truncate, pad_word), as recorded in v1.
    text_special_tokens: bool = True
    # COPA-style input "premise because/so": True keeps the premise's final
    # period as the reference (P-tuning v2: f"{premise} {joiner}"), False strips it.
    premise_period: bool = True

    def __post_init__(self):
        if self.head_position not in ("after_prompt", "first"):
            raise ValueError(f"head_position must be 'after_prompt' or 'first', got {self.head_position!r}")
        if self.model_selection not in ("last", "best_dev"):
            raise ValueError(f"model_selection must be 'last' or 'best_dev', got {self.model_selection!r}")
        if self.head_init not in ("normal", "uniform"):
            raise ValueError(f"head_init must be 'normal' or 'uniform', got {self.head_init!r}")
        if self.head_init_std <= 0:
            raise ValueError(f"head_init_std must be positive, got {self.head_init_std}")
        if not 0.0 <= self.dropout < 1.0 or self.eval_batch_size <= 0:
            raise ValueError("dropout must be in [0, 1) and eval_batch_size positive")


LEARNER_SETTINGS = {"coop": CoOpSettings, "tcp": TCPSettings, "lm": LMSettings}


def learner_settings(values: dict | None):
    """The typed settings of a learner mapping; {} or None is CoOp."""
    values = dict(values or {})
    kind = values.get("kind", "coop")
    if kind not in LEARNER_SETTINGS:
        raise ValueError(f"unknown learner kind {kind!r}; known: {sorted(LEARNER_SETTINGS)}")
    cls = LEARNER_SETTINGS[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for learner {kind!r}; known: {sorted(known)}")
    return cls(**values)


def learner_kind(values: dict | None) -> str:
    return (values or {}).get("kind", "coop")
