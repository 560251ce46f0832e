"""V^-1: project soft prompt vectors to their nearest vocabulary tokens.

The paper (Eq. 3) uses the L2 nearest neighbour. The reference code's default
"cosine" branch sorted ascending and so picked the *least* similar token; here
cosine means highest similarity. Both are exact (no approximate search) and
batched over all prompts at once.
"""
from __future__ import annotations

import torch

METRICS = ("l2", "cosine")


class NearestTokens:
    """V^-1 over one fixed vocabulary [V, d]: call it with vectors [..., d].

    The vocabulary's own part of the score (squared norms for "l2", unit rows
    for "cosine") is computed once here, not on every call: it was ~70 % of a
    MiniLM projection (30,522 x 384 table, 4 vectors), and a run projects its
    prompt every 10 steps. The score is the same expression on the same
    tensors, so the tokens picked are the same (docs/performance.md, issue 25).
    """

    @torch.no_grad()
    def __init__(self, vocab: torch.Tensor, metric: str = "l2", allowed: torch.Tensor | None = None):
        if metric not in METRICS:
            raise ValueError(f"unknown projection metric {metric!r}; choose one of {METRICS}")
        self.vocab, self.metric, self.allowed = vocab, metric, allowed
        self._table = vocab.pow(2).sum(-1)[None, :] if metric == "l2" \
            else torch.nn.functional.normalize(vocab, dim=-1)

    @torch.no_grad()
    def __call__(self, vectors: torch.Tensor) -> torch.Tensor:
        flat = vectors.reshape(-1, vectors.shape[-1]).to(self.vocab.dtype)
        if self.metric == "l2":
            # argmin ||v - e||^2 = argmin (||e||^2 - 2 v.e): one matmul, no [n, V, d] tensor.
            score = -(self._table - 2.0 * flat @ self.vocab.T)
        else:
            score = torch.nn.functional.normalize(flat, dim=-1) @ self._table.T
        if self.allowed is not None:
            score = score.masked_fill(~self.allowed[None, :], float("-inf"))
        return score.argmax(-1).reshape(vectors.shape[:-1])


def nearest_tokens(vectors: torch.Tensor, vocab: torch.Tensor, metric: str = "l2",
                   allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest row of `vocab` [V, d] for each vector [..., d].

    `allowed` (bool [V]) restricts the candidates, e.g. to exclude special tokens.
    One-off form of `NearestTokens`; a problem keeps one for its vocabulary.
    """
    return NearestTokens(vocab, metric, allowed)(vectors)
