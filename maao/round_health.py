"""The combined optimizer's health, per round, from its ``rounds.json`` entry.

Torch-free: ``maao.combined`` logs these as per-run MLflow metrics (step =
round) and ``reports.health`` reads them back from the recorded artifacts of
every LLM run of a table.  Per round:

* ``trajectory_distinct`` / ``shown_distinct``: distinct projected prompts in
  the round's trajectory and among those shown to the LLM;
* ``restart``: the restart point's training loss against the best shown
  prompt's: ``better`` (lower), ``equal``, ``worse``, or ``none`` (no restart);
* ``echo``: the restart point is one of the shown prompts (compared without
  case, punctuation, spacing and the class slot ``{}``);
* ``dropped``: reply lines the parser dropped; ``fallback``: no usable proposal.
"""

from __future__ import annotations

import re

__all__ = ["FIELDS", "round_health", "log_round_health"]

FIELDS = ("round", "trajectory_distinct", "shown_distinct", "restart", "echo", "dropped", "fallback")
_RESTART_CODE = {"better": -1, "equal": 0, "worse": 1}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).replace("{}", " ").lower()).split())


def round_health(entry: dict) -> dict:
    shown = entry.get("shown") or []
    best = min((float(t["loss"]) for t in shown), default=None)
    target = entry.get("restart_from")
    loss = None
    if target is not None and not entry.get("fallback"):
        loss = next((float(p["loss"]) for p in entry.get("proposals") or [] if p.get("text") == target), None)
    if target is not None and loss is None:  # a fallback restarts from a shown prompt
        loss = next((float(t["loss"]) for t in shown if t.get("text") == target), None)
    if loss is None or best is None:
        restart = "none"
    else:
        restart = "better" if loss < best else ("worse" if loss > best else "equal")
    shown_norm = {_norm(t.get("text", "")) for t in shown}
    return {
        "round": int(entry.get("round", 0)),
        "trajectory_distinct": len({t.get("text") for t in entry.get("trajectory") or []}),
        "shown_distinct": len({t.get("text") for t in shown}),
        "restart": restart,
        "echo": bool(target is not None and not entry.get("fallback") and _norm(target) in shown_norm),
        "dropped": len(entry.get("dropped") or []),
        "fallback": bool(entry.get("fallback")),
    }


def log_round_health(log, rounds: list) -> None:
    """Per-round health metrics of one run (step = round number) on its RunLog."""
    for entry in rounds:
        h = round_health(entry)
        step = h["round"]
        log.metric("round_trajectory_distinct", h["trajectory_distinct"], step)
        log.metric("round_shown_distinct", h["shown_distinct"], step)
        if h["restart"] != "none":
            log.metric("round_restart_vs_best_shown", _RESTART_CODE[h["restart"]], step)
        log.metric("round_restart_echo", int(h["echo"]), step)
        log.metric("round_parser_dropped", h["dropped"], step)
