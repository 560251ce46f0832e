"""The interface every frozen backbone implements.

A backbone is a frozen dual encoder: an *input* tower (CLIP's image tower, or
MiniLM encoding documents) whose features are computed once and cached, and a
*text* tower through which the soft prompt "[V1]..[Vn] classname." flows with
gradients. Soft prompt vectors live in the text tower's token-embedding space,
which is also the space `V(.)` maps into and `V^-1(.)` projects out of.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch


@lru_cache(maxsize=64)
def class_suffixes(class_ids: tuple[tuple[int, ...], ...], end_id: int, pad_id: int,
                   n_ctx: int, pad_to: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [C, S] and mask [C, S] of what follows the context in every class
    prompt: the class tokens, the end token, then padding. S is the longest real
    suffix (fast path) or what fills the sequence to `pad_to` (naive path).
    Cached: the same classes are encoded at every training step."""
    length = max(len(ids) for ids in class_ids) + 1 if pad_to is None else pad_to - 1 - n_ctx
    ids = torch.full((len(class_ids), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(class_ids), length, dtype=torch.long)
    for c, row in enumerate(class_ids):
        ids[c, :len(row) + 1] = torch.tensor([*row, end_id])
        mask[c, :len(row) + 1] = 1
    return ids, mask


@dataclass
class Injection:
    """Tokens that replace the context positions on entering text block `layer`
    (TCP's class-aware tokens): hidden[ctx] <- weight * tokens + (1 - weight) * hidden[ctx]."""
    layer: int
    tokens: torch.Tensor            # [C, n_ctx, token_dim], one row per class
    weight: float = 1.0


@contextmanager
def injected(blocks, injection: Injection | None, n_prompts: int, start: int = 1,
             batch_first: bool = True):
    """While active, block `injection.layer` receives the injected tokens at
    positions start..start+n_ctx of every sequence (sequences are ordered
    prompt-major, class-minor, as encode_prompts builds them). A forward
    pre-hook, so the model's own forward runs unchanged; no-op for None."""
    if injection is None:
        yield
        return
    if not 0 <= injection.layer < len(blocks):
        raise ValueError(f"inject layer {injection.layer} outside the text tower's "
                         f"{len(blocks)} blocks")

    def replace_context(module, args, kwargs):
        hidden = args[0] if batch_first else args[0].transpose(0, 1)
        n = injection.tokens.shape[1]
        tokens = injection.tokens.to(hidden.device, hidden.dtype).repeat(n_prompts, 1, 1)
        mixed = injection.weight * tokens + (1.0 - injection.weight) * hidden[:, start:start + n]
        hidden = torch.cat([hidden[:, :start], mixed, hidden[:, start + n:]], dim=1)
        return (hidden if batch_first else hidden.transpose(0, 1), *args[1:]), kwargs

    handle = blocks[injection.layer].register_forward_pre_hook(replace_context, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def pick_device(device: str | None) -> torch.device:
    """None or "auto" = CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FrozenDualEncoder(ABC):
    """Towers run on `self.device`. Soft prompts may live elsewhere (optimizers
    keep them on the CPU): encode_prompts moves them over and returns features
    on `self.device`, where the problem keeps its cached input features too;
    encode_inputs/encode_texts return CPU tensors (what the feature cache stores).
    `amp`: fp16 autocast on CUDA (CoOp trains in fp16); the CPU always runs fp32."""
    name: str
    device: torch.device = torch.device("cpu")
    amp: bool = False
    #: Dimension of one token embedding (one soft prompt vector).
    token_dim: int
    #: Multiplier on cosine similarities (CLIP's learned temperature, or a setting).
    logit_scale: float
    #: The length every sequence is padded to on the slow ("naive") path.
    max_length: int
    #: How LLM instructions name the model the prompt is for (Fig. 3: "CLIP").
    model_phrase: str

    @property
    @abstractmethod
    def text_blocks(self) -> torch.nn.ModuleList:
        """The text tower's transformer blocks, input side first (TCP injects into one)."""

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp and self.device.type == "cuda")

    @property
    @abstractmethod
    def token_embeddings(self) -> torch.Tensor:
        """[vocab, token_dim] embedding matrix: the space of V(text)."""

    @abstractmethod
    def projectable_mask(self, vocab: str = "all") -> torch.Tensor:
        """Bool [vocab]: tokens V^-1 may return.

        "all": every real token (special/unused tokens excluded);
        "words": whole words of ASCII letters only (readable for the LLM).
        """

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Readable text for token ids (sub-word markers merged, specials dropped)."""

    @abstractmethod
    def encode_inputs(self, inputs: Sequence[str]) -> torch.Tensor:
        """L2-normalised features of documents / images, [n, feat_dim], no grad."""

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised features of plain texts (hard prompts), [n, feat_dim]."""

    @abstractmethod
    def encode_prompts(self, ctx: torch.Tensor, class_ids: Sequence[Sequence[int]],
                       pad_to: int | None = None, inject: Injection | None = None) -> torch.Tensor:
        """Features of "[ctx] <class tokens>" for every prompt and class.

        ctx: [P, n_ctx, token_dim] on any device. Returns L2-normalised
        [P, C, feat_dim] fp32 on `self.device`.
        Sequences are cut to the longest real prompt (exactly equivalent, the
        fast path) unless `pad_to` asks for the full padded length. `inject`
        replaces the context positions inside the tower (see `injected`).
        """

    @abstractmethod
    def fingerprint(self) -> str:
        """Identifies weights + tokenizer + input preprocessing (feature cache key)."""
