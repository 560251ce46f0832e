"""The prompt problem: a frozen backbone, labelled few-shot data, class names.

Everything an optimizer needs and nothing more: initial soft prompts, V(text),
V^-1(prompt), the loss for gradient steps, and batched no-grad scoring of many
prompts at once (trajectory candidates and LLM proposals are scored together).
How a soft context becomes class features and a loss is the prompt learner's
(maao.learners: CoOp's "[V1]..[Vn] classname.", or TCP); the problem keeps the
data, V and V^-1, and delegates logits and loss to `self.learner`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .features import cached_input_features
from .learners import PromptLearner, build_learner
from .projection import NearestTokens
from .settings import ProblemSettings  # noqa: F401 (defined torch-free there)


def template_context(template: str, slot: str = "drop") -> str:
    """The context text a template restarts from (CoOp's class token comes last).

    "drop": the template without its class slot, "a {} reply." -> "a reply",
    "a photo of {}." -> "a photo of"; "prefix": only the words before the
    slot, "a {} reply." -> "a". A template without "{}" is used whole.
    Trailing punctuation is removed (the class suffix brings its own ".").
    """
    if "{}" in template:
        head, _, tail = template.partition("{}")
        template = head if slot == "prefix" else f"{head} {tail}"
    text = " ".join(template.split())
    return text.replace(" ,", ",").strip(" .,:;").strip()


class PromptProblem:
    def __init__(self, backbone, dataset, train_split, settings: ProblemSettings,
                 cache_dir=None, learner: dict | None = None):
        self.backbone = backbone
        self.dataset = dataset
        self.settings = settings
        self.classnames = list(dataset.classnames)
        # {} or None: CoOp (see maao.learners.settings)
        self.learner: PromptLearner = build_learner(
            learner, backbone, self.classnames, dataset.template, settings.n_ctx,
            pad_to=None if settings.fast_path else backbone.max_length, dataset_name=dataset.name)
        self.class_ids = self.learner.class_ids
        self.train = train_split
        self._cache_dir = cache_dir
        # Input features and labels live where the towers run; logits and
        # losses are computed there, scores come back to the CPU.
        self.device = getattr(backbone, "device", torch.device("cpu"))
        self.train_x, self.train_y = self._on_device(self._features(train_split, "train"))
        self._test = None
        self._init_vocabulary(backbone, settings)

    def _init_vocabulary(self, backbone, settings: ProblemSettings) -> None:
        """What V and V^-1 need: the projectable tokens, the table, the pad token."""
        self._allowed = backbone.projectable_mask(settings.projection_vocab)
        # V and V^-1 work on a CPU copy of the vocabulary (no copy when the
        # backbone is on the CPU): soft prompts live on the CPU, towers anywhere.
        self._vocab = backbone.token_embeddings.detach().float().cpu()
        # V^-1 runs every 10 steps of a run (the trajectory log): the vocabulary's
        # part of its score is computed once per problem, not per call.
        self._nearest = NearestTokens(self._vocab, settings.projection_metric, self._allowed)
        pad = backbone.tokenize(settings.pad_word)
        if len(pad) != 1:
            raise ValueError(f"pad_word {settings.pad_word!r} is not a single token")
        self._pad_id = pad[0]

    # -- data ---------------------------------------------------------------
    def _features(self, split, name):
        """Features of a split, computed from the full split's cache by id."""
        full = getattr(self.dataset, name)
        feats = cached_input_features(self.backbone, full, self.dataset.name, name,
                                      self._cache_dir)
        row = {id_: i for i, id_ in enumerate(full.ids)}
        index = torch.tensor([row[i] for i in split.ids])
        return feats[index], torch.tensor(split.labels)

    def _on_device(self, xy):
        return tuple(t.to(self.device) for t in xy)

    def split(self, name: str):
        if name == "train":
            return self.train_x, self.train_y
        if name == "test":
            if self._test is None:
                self._test = self._on_device(self._features(self.dataset.test, "test"))
            return self._test
        raise ValueError(f"unknown split {name!r}; use 'train' or 'test'")

    # -- prompts ------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return self.settings.n_ctx

    def init_random(self, generator: torch.Generator) -> torch.Tensor:
        d = self.backbone.token_dim
        return torch.randn(self.n_ctx, d, generator=generator) * self.settings.init_std

    def context_ids(self, text: str) -> list[int]:
        """Token ids of `text` cut or padded to exactly n_ctx (the documented policy)."""
        ids = self.backbone.tokenize(text)
        n = self.n_ctx
        ids = ids[:n] if self.settings.truncate == "head" else ids[-n:] if ids else ids
        return ids + [self._pad_id] * (n - len(ids))

    def embed_text(self, text: str) -> torch.Tensor:
        """V(text): [n_ctx, d] token embeddings of a context text."""
        return self.embed_ids(torch.tensor(self.context_ids(text)))

    def embed_template(self, template: str) -> torch.Tensor:
        """V(context of a template): where a restart from that template begins."""
        return self.embed_text(template_context(template, self.settings.template_slot))

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self._vocab[ids].clone()

    def project_ids(self, ctx: torch.Tensor) -> torch.Tensor:
        """V^-1 as token ids: [..., n_ctx] for ctx [..., n_ctx, d]."""
        return self._nearest(ctx)

    def project(self, ctx: torch.Tensor) -> list[str]:
        """V^-1 as readable text, one string per prompt in ctx [P, n_ctx, d]."""
        return [self.backbone.decode(row.tolist()) for row in self.project_ids(ctx)]

    # -- objective (the learner's) ------------------------------------------
    def logits(self, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """[P, B, C] logits for prompts ctx [P, n_ctx, d] on input features x [B, D]."""
        return self.learner.logits(ctx, x)

    def loss(self, ctx: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Training loss of one prompt [n_ctx, d] on the training examples `index`."""
        return self.learner.loss(ctx, self.train_x[index], self.train_y[index])

    @torch.no_grad()
    def evaluate(self, ctxs: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy (%) of many prompts [P, n_ctx, d] in one no-grad pass."""
        x, y = self.split(split)
        logits = self.logits(ctxs, x)                       # [P, B, C]
        losses = F.cross_entropy(logits.transpose(1, 2), y.expand(len(ctxs), -1),
                                 reduction="none").mean(1)
        accs = (logits.argmax(-1) == y).float().mean(1) * 100.0
        return losses.cpu(), accs.cpu()

    @torch.no_grad()
    def score_templates_as_learner(self, templates: list[str], split: str = "train"):
        """Loss/accuracy of hard templates as the learner scores the prompts it
        trains. A learner whose only trained part is the context (CoOp) is the
        frozen encoder with hard tokens in the context's place, so a template is
        scored as its own text (`evaluate_templates`). A learner with other
        trained parts (TCP's meta-net, the LM learner's head) scores a prompt
        only in its own form: the template as the context a restart from it
        begins with (as an LLM proposal is scored), through those parts as
        trained now."""
        if not self.learner.extra_parameters():
            return self.evaluate_templates(templates, split)
        return self.evaluate(torch.stack([self.embed_template(t) for t in templates]), split)

    @torch.no_grad()
    def evaluate_templates(self, templates: list[str], split: str = "train"):
        """Zero-shot loss/accuracy of hard templates "... {} ..." (no soft context)."""
        x, y = self.split(split)
        losses, accs = [], []
        for template in templates:
            texts = [template.replace("{}", name) if "{}" in template else f"{template} {name}"
                     for name in self.classnames]
            logits = self.backbone.logit_scale * x @ self.backbone.encode_texts(texts).to(x.device).T
            losses.append(F.cross_entropy(logits, y).item())
            accs.append((logits.argmax(-1) == y).float().mean().item() * 100.0)
        return torch.tensor(losses), torch.tensor(accs)
