"""Settings of the LLM used as a prompt optimizer.

Only the *semantic* fields (provider, model, temperature, top_p, max_tokens,
seed, stop) go into the response key; transport fields (base_url, timeout,
retries, the name of the key variable) never do, so moving from a local
server to another host, or changing a timeout, does not invalidate records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Local OpenAI-compatible servers (llama.cpp, vLLM, Ollama) ignore the key,
# but the openai client refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"


@dataclass
class LLMSettings:
    provider: str = "openai-compatible"
    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    temperature: float = 1.0
    top_p: float | None = None
    max_tokens: int = 160
    seed: int | None = None
    stop: list[str] | None = None
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 1.0
    # The *name* of the environment variable, never the key itself: the key is
    # read at call time so it cannot end up in a repr, a record or a log.
    api_key_env: str = "OPENAI_API_KEY"

    def read_api_key(self) -> str:
        """The API key from the environment (placeholder when unset)."""
        from ..redact import register

        key = os.environ.get(self.api_key_env) or PLACEHOLDER_API_KEY
        register(key)  # masked in every log line, tag and record from now on
        return key

    def semantic(self) -> dict:
        """The fields that change what the model answers (go into the key)."""
        return {
            "provider": self.provider,
            "model": self.model,
            # float(): 1 and 1.0 must give the same key.
            "temperature": None if self.temperature is None else float(self.temperature),
            "top_p": None if self.top_p is None else float(self.top_p),
            "max_tokens": None if self.max_tokens is None else int(self.max_tokens),
            "seed": None if self.seed is None else int(self.seed),
            # A single string is one stop sequence (list("ab") would split it).
            "stop": None if self.stop is None else ([self.stop] if isinstance(self.stop, str) else list(self.stop)),
        }
