"""One finished run as the tracking store keeps it: params, metrics,
artifacts and tags, built once by the runner and cleaned of API keys once,
here, when it is built.

Everything after that reads the cleaned record: the readable views
(maao/run_views.py: the description, rounds.md, the loss curve, drawn from
the record's own texts) and `Tracker.finish`, which writes the record as it
is and accepts nothing else. So a key that reached a reply, a prompt or a
setting can reach MLflow only through `build`, whose one redaction covers
every field (issue 20, item 2).

Torch-free: plain numbers, strings and JSON-like values.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .redact import redact, redact_obj, secrets


@dataclass(frozen=True)
class RunRecord:
    name: str                  # the run's name, e.g. "combined/bbc_news/4shot/seed1"
    params: dict               # the configuration (nested; flattened when written)
    step_metrics: list         # (name, value, step[, timestamp ms]): curves
    final_metrics: dict        # end-of-run values (step 0)
    artifacts: dict            # file name -> text (str), picture (bytes) or JSON-like value
    tags: dict = field(default_factory=dict)   # the run's tags, start and end together

    @classmethod
    def build(cls, name: str, params: dict, step_metrics: list, final_metrics: dict,
              artifacts: dict, tags: dict | None = None) -> RunRecord:
        """The record with every string (dict keys too) redacted: the one place
        a run's record is cleaned. Numbers and pictures pass as they are; a
        picture is drawn from the cleaned texts (`with_views`)."""
        keys = secrets()
        return cls(redact(name, keys), redact_obj(params, keys), list(step_metrics), dict(final_metrics),
                   redact_obj(artifacts, keys), {k: redact(str(v), keys) for k, v in (tags or {}).items()})

    def with_views(self, artifacts: dict, tags: dict) -> RunRecord:
        """This record plus views made from it (their text comes from the
        cleaned record, so they need no cleaning of their own)."""
        return replace(self, artifacts={**self.artifacts, **artifacts}, tags={**self.tags, **tags})
