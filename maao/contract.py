"""The core contract: what a method receives, reports and returns.

Typed here, apart from the registry (`maao.methods`), so that every method --
the combined optimizer in `maao`, the baselines in `baselines/` -- imports the
contract without importing the registry that finds them (no import cycle).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from .settings import Budget, GradientSettings  # noqa: F401 (Budget re-exported)

if TYPE_CHECKING:
    from .llm.client import LLMClient
    from .problem import PromptProblem


@dataclass
class RunLog:
    """What a method reports while it runs; the tracker writes it to MLflow.
    A metric keeps the wall-clock time (ms) it was reported at: the tracker
    writes all of them at the end, with their own times, so MLflow's time axes
    show the run as it happened."""
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    records: dict[str, list] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    progress: Any = None            # a tqdm bar advanced once per gradient step, if any
    eval_every: int | None = None   # log a test-accuracy curve every n steps (Figure 2)

    def metric(self, name: str, value: float, step: int) -> None:
        self.metrics.append((name, float(value), int(step), int(time.time() * 1000)))

    def record(self, kind: str, entry: Any) -> None:
        self.records.setdefault(kind, []).append(entry)

    def count(self, name: str, by: float = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by


@dataclass
class RunContext:
    problem: PromptProblem          # data, V, V^-1 and the prompt learner
    gradient: GradientSettings
    budget: Budget
    generator: torch.Generator
    log: RunLog
    run_key: str                    # stable hash of the run's configuration
    llm: LLMClient | None = None    # for methods that use one
    target_model: str = "CLIP"      # how instructions name the model the prompt is for
    task: str = "image classification"  # how instructions name the task (Fig. 3's words)


@dataclass
class MethodResult:
    prompt: torch.Tensor | None = None   # final soft context [n_ctx, d]
    template: str | None = None          # or final hard template with "{}"
    # The learner's other trained parameters (TCP's meta-net), evaluated with
    # the prompt; None for learners that have none (CoOp) and for templates.
    learner_state: dict[str, torch.Tensor] | None = None


class Method(ABC):
    """One optimizer: a prompt problem and a budget in, a final prompt out."""
    name: ClassVar[str]
    uses_llm: ClassVar[bool] = False
    Settings: ClassVar[type] = None      # a frozen dataclass of the method's settings

    def __init__(self, settings=None):
        self.settings = settings if settings is not None else self.Settings()

    @classmethod
    def from_dict(cls, values: dict | None) -> "Method":
        values = dict(values or {})
        known = {f.name for f in fields(cls.Settings)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for method {cls.name!r}; "
                             f"known: {sorted(known)}")
        return cls(cls.Settings(**values))

    @abstractmethod
    def run(self, ctx: RunContext) -> MethodResult: ...
