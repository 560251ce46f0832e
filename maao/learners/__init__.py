"""Prompt learners: CoOp, TCP and the LM learner (Table 1) behind one interface (`PromptLearner`).

The registry maps a learner kind to its class, as open_clip's registry maps
model names; `build_learner` takes the kind's settings mapping from a spec.
Importing this package loads no torch (specs and reports read
`maao.learners.settings`); the learner classes load on first use.
"""
from __future__ import annotations

from importlib import import_module

from .settings import LEARNER_SETTINGS, learner_kind, learner_settings

# kind -> (module, class), imported lazily (torch)
LEARNERS = {"coop": (".coop", "CoOpLearner"), "tcp": (".tcp", "TCPLearner"),
            "lm": (".lm", "LMPromptLearner")}
assert set(LEARNERS) == set(LEARNER_SETTINGS)
_CLASSES = {cls: module for module, cls in LEARNERS.values()} | {"PromptLearner": ".base"}

__all__ = ["PromptLearner", "CoOpLearner", "TCPLearner", "LMPromptLearner", "LEARNERS", "build_learner",
           "learner_kind", "learner_settings"]


def learner_class(kind: str):
    module, cls = LEARNERS[kind]
    return getattr(import_module(module, __name__), cls)


def build_learner(values: dict | None, backbone, classnames, template: str, n_ctx: int,
                  pad_to: int | None = None, dataset_name: str | None = None):
    settings = learner_settings(values)
    if settings.kind == "lm":   # built by maao.lm_problem for a language-model task
        raise ValueError("learner 'lm' needs a language-model task (e.g. cause_and_effect), "
                         "not a class-name dataset")
    return learner_class(settings.kind)(backbone, classnames, template, settings, n_ctx, pad_to,
                                        dataset_name=dataset_name)


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(import_module(_CLASSES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
