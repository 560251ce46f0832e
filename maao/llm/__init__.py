"""The LLM layer: an OpenAI-compatible client, a recorded-response store that
makes runs replayable offline, and a parser for the optimizer's replies.

See docs/llm.md for modes, keys, the positional float fallback and the local
llama.cpp server.
"""

from .client import LLMClient, LLMReply
from .errors import CorruptRecord, LLMError, PositionalFallbackWarning, ReplayMiss
from .manifest import check_manifest, read_manifest, write_manifest
from .parse import Dropped, ParsedReply, parse_templates
from .settings import LLMSettings
from .store import STORE_SCHEMA, ResponseStore, build_request, open_response_store, request_key

__all__ = [
    "LLMSettings", "LLMClient", "LLMReply", "LLMError", "ResponseStore", "open_response_store", "ReplayMiss",
    "CorruptRecord", "PositionalFallbackWarning", "parse_templates", "ParsedReply", "Dropped",
    "request_key", "build_request", "STORE_SCHEMA", "write_manifest", "read_manifest",
    "check_manifest",
]
