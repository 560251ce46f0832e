"""V^-1: project soft prompt vectors to their nearest vocabulary tokens.

The paper (Eq. 3) uses the L2 nearest neighbour. The reference code's default
"cosine" branch sorted ascending and so picked the *least* similar token; here
cosine means highest similarity. Both are exact (no approximate search) and
batched over all prompts at once.
"""
from __future__ import annotations

import torch

METRICS = ("l2", "cosine")


@torch.no_grad()
def nearest_tokens(vectors: torch.Tensor, vocab: torch.Tensor, metric: str = "l2",
                   allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest row of `vocab` [V, d] for each vector [..., d].

    `allowed` (bool [V]) restricts the candidates, e.g. to exclude special tokens.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown projection metric {metric!r}; choose one of {METRICS}")
    flat = vectors.reshape(-1, vectors.shape[-1]).to(vocab.dtype)
    if metric == "l2":
        # argmin ||v - e||^2 = argmin (||e||^2 - 2 v.e): one matmul, no [n, V, d] tensor.
        score = -(vocab.pow(2).sum(-1)[None, :] - 2.0 * flat @ vocab.T)
    else:
        score = torch.nn.functional.normalize(flat, dim=-1) @ \
            torch.nn.functional.normalize(vocab, dim=-1).T
    if allowed is not None:
        score = score.masked_fill(~allowed[None, :], float("-inf"))
    return score.argmax(-1).reshape(vectors.shape[:-1])
