"""The settings types a spec's scale blocks load: torch-free, so that
`maao.speccheck` builds and checks them before torch is imported, and
`maao.spec.expand` uses what it built (one validation layer).

Method settings are each method's own (`Method.Settings`); learner settings
are in `maao.learners.settings`, LLM settings in `maao.llm.settings`, the
instruction's in `maao.instructions` (all torch-free).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Gradient steps: N rounds of m steps, then M steps (paper: N=3, m=10)."""
    rounds: int = 3
    steps_per_round: int = 10
    final_steps: int = 100

    def __post_init__(self):
        if min(self.rounds, self.steps_per_round, self.final_steps) < 0:
            raise ValueError(f"budget values must be >= 0: {self}")

    @property
    def total_steps(self) -> int:
        return self.rounds * self.steps_per_round + self.final_steps


@dataclass(frozen=True)
class GradientSettings:
    optimizer: str = "sgd"          # "sgd" (CoOp) or "adamw"/"adam"
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    warmup_epochs: int = 1          # constant warm-up lr for this many epochs (CoOp)
    warmup_lr: float = 1e-5
    schedule: str = "cosine"        # cosine, stepped per epoch as in Dassl; or "constant"
    reset_optimizer_on_restart: bool = True
    grad_clip: float | None = None
    # Adam's epsilon; None = torch's 1e-8. TCP's reference needs 1e-3 (fp16).
    adam_eps: float | None = None
    # Dassl's train loader drops the last partial batch when the split holds
    # at least one full batch (CoOp's behaviour); False trains on it too
    # (ceil(n / batch) steps per epoch, this suite's rule before spec v2).
    drop_last: bool = True

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        if self.lr <= 0 or self.batch_size <= 0:
            raise ValueError("lr and batch_size must be positive")
        if self.adam_eps is not None and (self.adam_eps <= 0 or self.optimizer == "sgd"):
            raise ValueError("adam_eps must be positive and applies to adam/adamw only")

    #: Fields left out of a run's identity while unset (None), so that runs
    #: recorded before they existed keep their hash.
    OPTIONAL = ("adam_eps",)


@dataclass(frozen=True)
class ProblemSettings:
    n_ctx: int = 4                  # prompt length; the paper uses 4 for CoOp/TCP
    init_std: float = 0.02          # CoOp's random init
    projection_metric: str = "l2"   # paper Eq. 3; "cosine" = highest similarity
    # Vocabulary V^-1 may return: "words" = whole ASCII words (default; junk
    # pieces such as "##ing", digits or CJK tokens derail a small LLM), or
    # "all" non-special tokens as in Eq. 3. Special tokens never.
    projection_vocab: str = "words"
    # V(text) -> exactly n_ctx vectors. Reference code: keep the first n_ctx
    # tokens, pad on the right with the embedding of the filler word " a".
    truncate: str = "head"          # "head" keeps the first n_ctx tokens, "tail" the last
    pad_word: str = "a"
    # Template -> context text (an LLM proposal or the manual prompt restarting
    # gradient descent): "drop" removes the class slot and keeps the words on
    # both sides ("{} texture." -> "texture"); "prefix" keeps only the words
    # before the slot (the rule before spec v2: "a {} reply." -> "a").
    template_slot: str = "drop"
    fast_path: bool = True          # False = pad to the model's max length (benchmarks only)

    def __post_init__(self):
        if self.n_ctx <= 0:
            raise ValueError(f"n_ctx must be positive, got {self.n_ctx}")
        if self.projection_vocab not in ("words", "all"):
            raise ValueError(f"projection_vocab must be 'words' or 'all', got {self.projection_vocab!r}")
        if self.truncate not in ("head", "tail"):
            raise ValueError(f"truncate must be 'head' or 'tail', got {self.truncate!r}")
        if self.template_slot not in ("drop", "prefix"):
            raise ValueError(f"template_slot must be 'drop' or 'prefix', got {self.template_slot!r}")
