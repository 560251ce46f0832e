"""What an LLM run costs: tokens from the transcript, USD where the model's price is known.

PRICES holds USD per million tokens (prompt, completion) by model name, as
the providers published them (OpenAI's price list, 2024-25: check it before
budgeting a paper-scale sweep); a model not listed has no cost metric, not a
guessed one. The local models the mini scale records (llama.cpp on
loopback) cost no API money: price 0. Replayed calls count the tokens their
record carries (what the call used when it was recorded). Torch-free.
"""
from __future__ import annotations

PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-0125": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    # local (llama.cpp, the recorded mini model): no API cost
    "qwen2.5-coder-1.5b-instruct-q4_k_m": (0.0, 0.0),
}


def price(model: str | None) -> tuple[float, float] | None:
    return PRICES.get(str(model)) if model else None


def cost_usd(model: str | None, prompt_tokens: float, completion_tokens: float) -> float | None:
    known = price(model)
    if known is None:
        return None
    return (prompt_tokens * known[0] + completion_tokens * known[1]) / 1e6


def usage_metrics(transcript: list[dict], model: str | None) -> dict[str, float]:
    """llm_prompt_tokens, llm_completion_tokens (calls whose reply reported
    usage), llm_calls_without_usage, and llm_cost_usd where the price is known."""
    prompt = completion = missing = 0
    for entry in transcript:
        usage = entry.get("usage") or {}
        if "prompt_tokens" not in usage or "completion_tokens" not in usage:
            missing += 1
            continue
        prompt += int(usage["prompt_tokens"])
        completion += int(usage["completion_tokens"])
    out = {"llm_prompt_tokens": float(prompt), "llm_completion_tokens": float(completion)}
    if missing:
        out["llm_calls_without_usage"] = float(missing)
    cost = cost_usd(model, prompt, completion)
    if cost is not None and not missing:
        out["llm_cost_usd"] = cost
    return out
