"""Prompt learners: CoOp and TCP behind one interface (`PromptLearner`).

The registry maps a learner kind to its class, as open_clip's registry maps
model names; `build_learner` takes the kind's settings mapping from a spec.
"""
from __future__ import annotations

from .base import PromptLearner
from .coop import CoOpLearner
from .lm import LMPromptLearner
from .settings import LEARNER_SETTINGS, learner_kind, learner_settings
from .tcp import TCPLearner

LEARNERS: dict[str, type] = {"coop": CoOpLearner, "tcp": TCPLearner, "lm": LMPromptLearner}
assert set(LEARNERS) == set(LEARNER_SETTINGS)

__all__ = ["PromptLearner", "CoOpLearner", "TCPLearner", "LMPromptLearner", "LEARNERS", "build_learner",
           "learner_kind", "learner_settings"]


def build_learner(values: dict | None, backbone, classnames, template: str, n_ctx: int,
                  pad_to: int | None = None) -> PromptLearner:
    settings = learner_settings(values)
    if settings.kind == "lm":   # built by maao.lm_problem for a language-model task
        raise ValueError("learner 'lm' needs a language-model task (e.g. cause_and_effect), "
                         "not a class-name dataset")
    return LEARNERS[settings.kind](backbone, classnames, template, settings, n_ctx, pad_to)
