"""Tolerant comparison of requests that differ only in printed numbers.

Why: the optimizer's instruction prints losses and accuracies computed on the
CPU/GPU (e.g. "Loss: 1.8512"). Another machine can print 1.8513 and the
content key changes, although the run is the same. The store then falls back
to the record at the same position of the same run (see store.py) if, and only
if, the two requests are identical after masking numbers and every masked
pair is close:

    |a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)      (defaults 1e-2, 1e-2)

Integers on both sides (no '.', no exponent: counts such as "3 templates",
class counts, shot numbers) must be exactly equal. Everything that is not a
message content (model, temperature, max_tokens, seed, stop, sample_index,
roles) must be exactly equal.

Ties may be listed in either order. The instruction lists scored templates
sorted by their full-precision loss; two templates whose losses differ only in
the last bits (the same prompt reached through a soft context and through its
text, say) print the same numbers and are ordered by float noise, which
differs between CPUs. So a content may also list its paragraphs (blocks
separated by a blank line) in another order, provided a block only moves to a
place held by a block printing exactly the same numbers (a tie at the printed
precision). Nothing else may move (docs/decisions.md #135).
"""

from __future__ import annotations

import re

DEFAULT_REL_TOL = 1e-2
DEFAULT_ABS_TOL = 1e-2

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_MASK = "\x00"


def _is_integer_token(token: str) -> bool:
    return not any(c in token for c in ".eE")


def numbers_close(a: str, b: str, rel_tol: float, abs_tol: float) -> bool:
    if a == b:
        return True
    if _is_integer_token(a) and _is_integer_token(b):
        return int(a) == int(b)  # "+3" == "3"
    fa, fb = float(a), float(b)
    return abs(fa - fb) <= max(rel_tol * max(abs(fa), abs(fb)), abs_tol)


def text_number_differences(
    old: str, new: str, rel_tol: float = DEFAULT_REL_TOL, abs_tol: float = DEFAULT_ABS_TOL
) -> list[tuple[str, str]] | None:
    """The (old, new) number pairs that differ, or None if the texts differ otherwise."""
    if NUMBER.sub(_MASK, old) != NUMBER.sub(_MASK, new):
        return None
    diffs = []
    for a, b in zip(NUMBER.findall(old), NUMBER.findall(new)):
        if a == b:
            continue
        if not numbers_close(a, b, rel_tol, abs_tol):
            return None
        diffs.append((a, b))
    return diffs


def _content_differences(
    old: str, new: str, rel_tol: float, abs_tol: float
) -> list[tuple[str, str]] | None:
    """text_number_differences, else the same allowing tied blocks to swap places."""
    diffs = text_number_differences(old, new, rel_tol, abs_tol)
    return diffs if diffs is not None else tie_reordered_differences(old, new, rel_tol, abs_tol)


def tie_reordered_differences(
    old: str, new: str, rel_tol: float = DEFAULT_REL_TOL, abs_tol: float = DEFAULT_ABS_TOL
) -> list[tuple[str, str]] | None:
    """Number differences of `new` against `old` where blocks of `old` (split at
    blank lines) may stand in another order, but only at places whose block in
    `old` prints exactly the same numbers (a printed tie) and holds at least one
    number; a moved block adds ("block i", "block j") to the differences.
    None when the texts differ otherwise."""
    old_blocks, new_blocks = old.split("\n\n"), new.split("\n\n")
    if len(old_blocks) != len(new_blocks):
        return None
    printed = [NUMBER.findall(b) for b in old_blocks]
    used = [False] * len(old_blocks)
    diffs: list[tuple[str, str]] = []
    for i, block in enumerate(new_blocks):
        ties = [j for j in range(len(old_blocks)) if j != i and printed[j] and printed[j] == printed[i]]
        for j in [i] + ties:
            if used[j]:
                continue
            found = text_number_differences(old_blocks[j], block, rel_tol, abs_tol)
            if found is None:
                continue
            used[j] = True
            diffs.extend(found)
            if j != i:
                diffs.append((f"block {j + 1}", f"block {i + 1}"))
            break
        else:
            return None
    return diffs


def request_number_differences(
    old: dict, new: dict, rel_tol: float = DEFAULT_REL_TOL, abs_tol: float = DEFAULT_ABS_TOL
) -> list[tuple[str, str]] | None:
    """Like text_number_differences, over two semantic requests (see store.build_request)."""
    if {k: v for k, v in old.items() if k != "messages"} != {
        k: v for k, v in new.items() if k != "messages"
    }:
        return None
    old_msgs, new_msgs = old.get("messages") or [], new.get("messages") or []
    if len(old_msgs) != len(new_msgs):
        return None
    diffs: list[tuple[str, str]] = []
    for om, nm in zip(old_msgs, new_msgs):
        if {k: v for k, v in om.items() if k != "content"} != {
            k: v for k, v in nm.items() if k != "content"
        }:
            return None
        oc, nc = om.get("content"), nm.get("content")
        if isinstance(oc, str) and isinstance(nc, str):
            d = _content_differences(oc, nc, rel_tol, abs_tol)
            if d is None:
                return None
            diffs.extend(d)
        elif oc != nc:  # structured content: exact only
            return None
    return diffs
