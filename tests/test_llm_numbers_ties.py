"""Replay tolerance for printed ties (maao/llm/numbers.py, decision #135).

The instruction sorts templates by full-precision loss; two templates whose
losses differ in the last bits print the same numbers and their order is float
noise that differs between CPUs (seen on Table 3, bbc_news 1-shot seed 2:
"a news article about" and "a news article about {}." both at Loss 0.07).
"""
import pytest

from maao.llm.numbers import request_number_differences, tie_reordered_differences

HEAD = "Templates are sorted by loss, lower is better."
TAIL = "Write 3 new templates."


def _content(*blocks):
    return "\n\n".join([HEAD, *blocks, TAIL])


def _block(text, loss, acc="100.0"):
    return f"Templates: {text}\nLoss: {loss}\nAccuracy: {acc}"


A, B, C = _block("a news article about", "0.07"), _block("a news article about {}.", "0.07"), _block("news {}", "0.50")


def test_tied_blocks_may_swap():
    diffs = tie_reordered_differences(_content(C, A, B), _content(C, B, A))
    assert diffs == [("block 4", "block 3"), ("block 3", "block 4")]


def test_blocks_that_print_different_numbers_may_not_swap():
    assert tie_reordered_differences(_content(C, A), _content(A, C)) is None
    # 0.07 vs 0.071 is within the number tolerance but is not a printed tie
    A2 = _block("a news article about", "0.071")
    assert tie_reordered_differences(_content(A2, B), _content(B, A2)) is None


def test_blocks_without_numbers_never_move():
    swapped = "\n\n".join([TAIL, A, B, HEAD])
    assert tie_reordered_differences(_content(A, B), swapped) is None


def test_a_changed_template_is_still_a_miss():
    other = _block("a sports article about", "0.07")
    assert tie_reordered_differences(_content(A, B), _content(B, other)) is None


def test_request_level_uses_ties_only_after_exact_layout_fails():
    old = {"model": "m", "messages": [{"role": "user", "content": _content(A, B)}]}
    assert request_number_differences(old, old) == []
    new = {"model": "m", "messages": [{"role": "user", "content": _content(B, A)}]}
    assert request_number_differences(old, new) == [("block 3", "block 2"), ("block 2", "block 3")]
    assert request_number_differences(old, {**new, "model": "n"}) is None


def test_store_serves_the_tied_reorder_by_position(tmp_path):
    from maao.llm import LLMClient, LLMSettings, ResponseStore
    from maao.llm import PositionalFallbackWarning

    path = tmp_path / "rec.jsonl"
    # record against the loopback-free path: put the record directly through the store API
    store = ResponseStore(path, mode="record-missing")
    from test_llm_store import put
    put(store, [{"role": "user", "content": _content(A, B)}], "reply", position=("run", 1))
    client = LLMClient(LLMSettings(), ResponseStore(path))
    with pytest.warns(PositionalFallbackWarning, match="block 3 -> block 2"):
        reply = client.complete([{"role": "user", "content": _content(B, A)}], position=("run", 1))
    assert reply.text == "reply"
