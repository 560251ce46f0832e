"""How well a proposer follows the reply format, per run of the combined
optimizer: from its rounds (the `rounds.json` record: reply, parsed
proposals, dropped lines with reasons, fallback) and the LLM transcript (the
instruction each round showed). Torch-free: the run logs these as MLflow
metrics, and reports/format_stats.py recomputes them from the artifacts of
runs made before the metrics existed.

Metrics (all per run):
- llm_replies: rounds that asked the LLM;
- llm_replies_parsed: replies that gave at least one usable proposal;
- llm_replies_fallback: replies that gave none (the round fell back);
- llm_dropped_lines, llm_dropped_<reason>: lines the parser dropped, in all
  and by reason ("too long (11 words > 9)" counts as `too_long`);
- llm_echoes: proposals equal (case, spacing, class-slot spelling and end
  punctuation aside) to a template the instruction showed (trajectory or
  manual prompt);
- llm_proposals_distinct_mean: distinct proposals per round, mean over rounds.
"""
from __future__ import annotations

import re
from collections import Counter

from .parse import _dedup_key

# How the instruction lists a shown template (maao/instructions.py, both styles).
_SHOWN = re.compile(r"^Templates: (.*)$", re.M)
PREFIX = "llm_"


def shown_templates(messages: list) -> list[str]:
    """The templates an instruction showed (its `Templates: ...` lines)."""
    return [m.group(1).strip() for msg in messages or () for m in _SHOWN.finditer(str(msg.get("content", "")))]


def reason_key(reason: str) -> str:
    """A parser drop reason as a metric-name part: its words before any detail."""
    head = re.split(r"[(:]", str(reason), maxsplit=1)[0]
    return re.sub(r"[^a-z0-9]+", "_", head.casefold()).strip("_") or "other"


def _same(template: str) -> str:
    """A template as echoes are compared: the parser's duplicate key, less end punctuation."""
    return _dedup_key(template).rstrip(" .!")


def _instruction_of(round_entry: dict, call: dict | None, by_key: dict) -> list:
    if call is None or call.get("key") != round_entry.get("key"):
        call = by_key.get(round_entry.get("key"))
    return ((call or {}).get("request") or {}).get("messages") or []


def format_stats(rounds: list, transcript: list) -> dict[str, float]:
    """The metrics above for one run ({} when it had no LLM rounds)."""
    if not rounds:
        return {}
    by_key = {c.get("key"): c for c in transcript or ()}
    calls = list(transcript or ()) + [None] * max(0, len(rounds) - len(transcript or ()))
    dropped = Counter()
    parsed = echoes = 0
    distinct = []
    for entry, call in zip(rounds, calls):
        proposals = [p["text"] if isinstance(p, dict) else str(p) for p in entry.get("proposals") or ()]
        parsed += bool(proposals)
        dropped.update(reason_key(d.get("reason", "")) for d in entry.get("dropped") or ())
        shown = {_same(t) for t in shown_templates(_instruction_of(entry, call, by_key))}
        echoes += sum(_same(p) in shown for p in proposals)
        keys = {_dedup_key(p) for p in proposals}
        distinct.append(len(keys))
    out = {f"{PREFIX}replies": float(len(rounds)), f"{PREFIX}replies_parsed": float(parsed),
           f"{PREFIX}replies_fallback": float(len(rounds) - parsed),
           f"{PREFIX}dropped_lines": float(sum(dropped.values())), f"{PREFIX}echoes": float(echoes),
           f"{PREFIX}proposals_distinct_mean": sum(distinct) / len(distinct)}
    out.update({f"{PREFIX}dropped_{k}": float(v) for k, v in sorted(dropped.items())})
    return out
