"""Keep API keys out of every output: log lines, stderr, MLflow tags, params
and artifacts, and recorded LLM responses.

A server may echo a key, or part of it (without its `sk-` prefix, cut at
either end), so any run of `MIN_LEN` or more characters that also occurs in a
key is replaced by `***`. Keys are the values of environment variables whose
name contains API_KEY, plus any value passed to `register` (the variable an
LLMSettings names in api_key_env).
"""
from __future__ import annotations

import logging
import os

MIN_LEN = 8
MASK = "***"
_registered: set[str] = set()
_IGNORED = {"not-needed"}  # maao.llm.settings.PLACEHOLDER_API_KEY: not a secret


def register(value: str | None) -> None:
    if value and len(value) >= MIN_LEN and value not in _IGNORED:
        _registered.add(value)


def secrets() -> set[str]:
    found = {v for k, v in os.environ.items() if "API_KEY" in k.upper()}
    return {s for s in found | _registered if len(s) >= MIN_LEN and s not in _IGNORED}


def redact(text: str, keys=None) -> str:
    """`text` with every substring of >= MIN_LEN characters shared with a key masked."""
    if not isinstance(text, str) or len(text) < MIN_LEN:
        return text
    keys = secrets() if keys is None else keys
    grams = {k[i:i + MIN_LEN] for k in keys for i in range(len(k) - MIN_LEN + 1)}
    if not grams:
        return text
    hidden = bytearray(len(text))
    for i in range(len(text) - MIN_LEN + 1):
        if text[i:i + MIN_LEN] in grams:
            hidden[i:i + MIN_LEN] = b"\x01" * MIN_LEN
    if not any(hidden):
        return text
    out, i = [], 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def redact_obj(obj, keys=None):
    """A JSON-like value with every string (keys of dicts too) redacted."""
    keys = secrets() if keys is None else keys
    if not keys:
        return obj
    if isinstance(obj, str):
        return redact(obj, keys)
    if isinstance(obj, dict):
        return {redact_obj(k, keys): redact_obj(v, keys) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, keys) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Formats each record once and masks keys in the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        if secrets():
            message = redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True


def install_logging_filter() -> None:
    """On every handler of the root logger (call after logging.basicConfig)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
