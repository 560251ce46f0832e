"""CLIP via open_clip (paper scale: RN50 for CoOp, ViT-B/16 for TCP).

`pretrained` is an open_clip tag ("openai"), a local checkpoint path, or None
for random weights (how this suite is exercised offline). Text features are
taken at the EOT position; CLIP's text tower is causal, so cutting sequences to
the longest real prompt gives exactly the features of the 77-token padding.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .base import FrozenDualEncoder, Injection, class_suffixes, injected, pick_device


class CLIPEncoder(FrozenDualEncoder):
    model_phrase = "CLIP"

    def __init__(self, arch: str = "RN50", pretrained: str | None = None,
                 encode_batch_size: int = 64, device: str | None = None, amp: bool = True):
        import open_clip

        self.arch, self.pretrained = arch, pretrained
        self.name = f"clip-{arch.lower().replace('/', '-')}"
        self.device = pick_device(device)
        model = open_clip.create_model(arch, pretrained=pretrained or None)
        self.model = model.eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.preprocess = open_clip.image_transform(self.model.visual.image_size, is_train=False)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self._sot, self._eot = self.tokenizer.sot_token_id, self.tokenizer.eot_token_id
        self.token_dim = self.model.token_embedding.weight.shape[1]
        self.max_length = self.model.positional_embedding.shape[0]
        self.logit_scale = float(self.model.logit_scale.exp())
        self.encode_batch_size = encode_batch_size
        self.amp = amp and self.device.type == "cuda"   # fp16 autocast, see FrozenDualEncoder

    @property
    def token_embeddings(self) -> torch.Tensor:
        return self.model.token_embedding.weight

    @property
    def text_blocks(self) -> torch.nn.ModuleList:
        return self.model.transformer.resblocks

    def projectable_mask(self, vocab: str = "all") -> torch.Tensor:
        if vocab == "words":  # whole English words only ("photo</w>"), no pieces or symbols
            decoder = self.tokenizer.decoder
            return torch.tensor([decoder[i].endswith("</w>") and decoder[i][:-4].isascii()
                                 and decoder[i][:-4].isalpha() for i in range(len(decoder))])
        mask = torch.ones(self.token_embeddings.shape[0], dtype=torch.bool)
        mask[[self._sot, self._eot]] = False
        return mask

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i not in (self._sot, self._eot)]).strip()

    def _text_tower(self, x: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        with self._autocast():
            x = x + self.model.positional_embedding[:L]
            x = self.model.transformer(x, attn_mask=self.model.attn_mask[:L, :L])
            x = self.model.ln_final(x)
            x = x[torch.arange(x.shape[0]), eot_index]
            proj = self.model.text_projection
            x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
        return F.normalize(x.float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        rows = [[self._sot, *self.tokenize(t)[: self.max_length - 2], self._eot] for t in texts]
        L = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), L, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        ids = ids.to(self.device)
        eot = torch.tensor([len(r) - 1 for r in rows], device=self.device)
        return self._text_tower(self.model.token_embedding(ids), eot).float().cpu()

    @torch.no_grad()
    def encode_inputs(self, inputs: Sequence[str]) -> torch.Tensor:
        from PIL import Image

        out = []
        for start in range(0, len(inputs), self.encode_batch_size):
            batch = torch.stack([self.preprocess(Image.open(p).convert("RGB"))
                                 for p in inputs[start:start + self.encode_batch_size]])
            with self._autocast():
                feats = self.model.encode_image(batch.to(self.device))
            out.append(F.normalize(feats.float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.empty(0, self.model.text_projection.shape[-1])

    def encode_prompts(self, ctx: torch.Tensor, class_ids: Sequence[Sequence[int]],
                       pad_to: int | None = None, inject: Injection | None = None) -> torch.Tensor:
        P, n_ctx, d = ctx.shape
        C = len(class_ids)
        suffix, _ = class_suffixes(tuple(map(tuple, class_ids)), self._eot, 0, n_ctx, pad_to)
        suffix_len = suffix.shape[1]
        emb = self.token_embeddings
        ctx = ctx.to(self.device, emb.dtype)
        x = torch.cat([emb[self._sot].expand(P, C, 1, d), ctx[:, None].expand(P, C, n_ctx, d),
                       emb[suffix.to(self.device)].expand(P, C, suffix_len, d)], dim=2)
        eot = torch.tensor([1 + n_ctx + len(ids) for ids in class_ids], device=self.device)
        batch_first = getattr(self.model.transformer, "batch_first", True)
        with injected(self.text_blocks, inject, P, start=1, batch_first=batch_first):
            feats = self._text_tower(x.reshape(P * C, -1, d), eot.repeat(P))
        return feats.reshape(P, C, -1)

    def fingerprint(self) -> str:
        tag = self.pretrained or "random-init"
        if self.pretrained and Path(self.pretrained).is_file():
            st = Path(self.pretrained).stat()
            tag = f"{self.pretrained}:{st.st_size}:{int(st.st_mtime)}"
        if tag == "random-init":  # random weights differ per process unless seeded: hash them
            w = self.model.token_embedding.weight[:8].detach().cpu().numpy().tobytes()
            tag += ":" + hashlib.sha256(w).hexdigest()[:12]
        return f"{self.name}:{tag}:{self.model.visual.image_size}:{'amp' if self.amp else 'fp32'}"
