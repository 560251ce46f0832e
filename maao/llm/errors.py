"""Errors of the LLM layer. All derive from LLMError so callers can catch one type."""

from __future__ import annotations


class LLMError(RuntimeError):
    """A call to the LLM failed in a way the caller must see (never contains the API key)."""


class ReplayMiss(LLMError):
    """Replay mode: no recorded response for this request (message names key, request, nearest record)."""


class CorruptRecord(LLMError):
    """A line of the response JSONL cannot be trusted (message names file and line)."""


class PositionalFallbackWarning(UserWarning):
    """A replay was served by position because the request differed only in printed numbers."""
