"""Settings of the LLM used as a prompt optimizer.

Only the *semantic* fields (provider, model, temperature, top_p, max_tokens,
seed, stop) go into the response key; transport fields (base_url, timeout,
retries, the name of the key variable) never do, so moving from a local
server to another host, or changing a timeout, does not invalidate records.

`rollout` decides the key's `sample_index` (never sent to the provider, like
DSPy's rollout_id and HELM's completion index): "shared" (the default, the
keys of every recording made before it existed) leaves it to the caller (0),
so runs of different seeds that send the same request share one reply, and so
do repeated requests within a run; "per-seed-call" makes it the rollout index
of (run seed, call number within the run), so each seed draws its own sample
and a repeated request samples again (docs/decisions.md #115).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Local OpenAI-compatible servers (llama.cpp, vLLM, Ollama) ignore the key,
# but the openai client refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"

ROLLOUTS = ("shared", "per-seed-call")
# sample_index = seed * ROLLOUT_CALLS + call (call counted from 1): readable in
# the JSONL (300002 = seed 3, second call), never 0 (the "shared" index).
ROLLOUT_CALLS = 100_000


def rollout_index(seed: int | None, call: int) -> int:
    """The response-key sample index of the `call`-th LLM call (from 1) of a
    run with this seed; distinct for every (seed, call) with seed >= 0."""
    if seed is None or isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"rollout 'per-seed-call' needs the run's seed (an integer >= 0), got {seed!r}")
    if not 1 <= call < ROLLOUT_CALLS:
        raise ValueError(f"rollout 'per-seed-call': call number {call} outside 1..{ROLLOUT_CALLS - 1}")
    return int(seed) * ROLLOUT_CALLS + int(call)


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
    # Which replies runs share (module docstring). Set only where wanted: a spec
    # `llm:` block without it keeps the recorded keys and run hashes.
    rollout: str = "shared"

    def __post_init__(self):
        if self.rollout not in ROLLOUTS:
            raise ValueError(f"llm.rollout: {self.rollout!r} is not one of {list(ROLLOUTS)}")
        if self.rollout == "per-seed-call":
            # A seeded or greedy server answers every rollout of a request with
            # the same text: the samples would be copies under different keys.
            if self.seed is not None:
                raise ValueError(f"llm.seed: {self.seed!r} with rollout 'per-seed-call' gives every rollout "
                                 "the same reply from a seeded server; set seed: null")
            if self.temperature is not None and float(self.temperature) == 0.0:
                raise ValueError("llm.temperature: 0 (greedy) with rollout 'per-seed-call' gives every "
                                 "rollout the same reply; use a temperature > 0")

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
