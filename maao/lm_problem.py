"""The prompt problem of a language-model task (Table 1).

Same interface as maao.problem.PromptProblem -- which the methods use:
init_random, embed_text/template/ids, project(_ids), evaluate,
evaluate_templates, loss, split, train_y -- and the same V and V^-1 (the
encoder's word embeddings), inherited. What differs: inputs cannot be cached
as features (they pass through the encoder with the prompt), so the problem
keeps tokenised sequences and every score runs the encoder.

A hard template (the dataset's hand-written prompt on the manual-prompt line,
an LLM proposal) is scored as a hard prompt: its tokens, cut or padded to
n_ctx exactly as a restart from it would be, in the soft prompt's place, with
the head as it currently is (docs/decisions.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .contract import MethodResult
from .datasets.lm_tasks import MULTIPLE_CHOICE, LMDataset, LMSplit, premise_text
from .learners.lm import LMBatch, LMPromptLearner
from .learners.settings import learner_settings
from .problem import ProblemSettings, PromptProblem


class LMPromptProblem(PromptProblem):
    def __init__(self, backbone, dataset: LMDataset, train_split: LMSplit,
                 settings: ProblemSettings, learner: dict | None = None):
        # Not PromptProblem.__init__: there is no feature cache to build.
        values = dict(learner or {})
        if values.get("kind") != "lm":
            raise ValueError(f"{dataset.name} is a language-model task: its rows need "
                             f"learner: {{kind: lm}}, got {values or '{}'}")
        self.lm_settings = learner_settings(values)
        self.backbone = backbone
        self.dataset = dataset
        self.settings = settings
        self.classnames = list(dataset.classnames)
        self.multiple_choice = dataset.kind == MULTIPLE_CHOICE
        n_outputs = 1 if self.multiple_choice else dataset.num_classes
        self.learner = LMPromptLearner(backbone, n_outputs, self.lm_settings, settings.n_ctx)
        self.device = backbone.device
        self.train = train_split
        self.train_y = torch.tensor(train_split.labels)
        self._splits = {"train": (self._encode(train_split), self.train_y)}
        self._init_vocabulary(backbone, settings)    # V and V^-1, as PromptProblem
        self._eval_cache: dict[str, list[LMBatch]] = {}
        self._best = None               # best_dev: (dev accuracy, MethodResult)
        self._epoch_seen: set[int] = set()

    # -- data -----------------------------------------------------------------
    def _encode(self, split: LMSplit) -> list:
        """Per example, the (ids, types) of each of its sequences."""
        encode = self.backbone.encode_pair
        if self.multiple_choice:
            keep = self.lm_settings.premise_period
            return [[encode(premise_text(ex, keep), c) if ex["premise"] else encode(c) for c in ex["choices"]]
                    for ex in split.examples]
        return [[encode(ex["text_a"], ex.get("text_b", ""))] for ex in split.examples]

    def split(self, name: str):
        """(encoded examples, labels) of "train", "val" or "test"."""
        if name not in self._splits:
            if name not in ("val", "test"):
                raise ValueError(f"unknown split {name!r}; use 'train', 'val' or 'test'")
            part = getattr(self.dataset, name)
            self._splits[name] = (self._encode(part), torch.tensor(part.labels))
        return self._splits[name]

    # -- text -> prompt ---------------------------------------------------------
    def context_ids(self, text: str) -> list[int]:
        """Token ids of `text` as n_ctx prompt positions. text_special_tokens
        (the reference's prompt_token_embedding): tokenizer(text) with its
        special tokens, re-tokenised with " a" x 10 appended when shorter than
        n_ctx, the first n_ctx kept; else PromptProblem's rule (own tokens)."""
        if not self.lm_settings.text_special_tokens:
            return super().context_ids(text)
        n, tokenize = self.n_ctx, self.backbone.tokenize_with_special_tokens
        ids = tokenize(text)
        if len(ids) < n:
            ids = tokenize(text + f" {self.settings.pad_word}" * 10)
        return ids[:n]

    def _batch(self, encoded: list, rows) -> LMBatch:
        return LMBatch.collate([encoded[r] for r in rows], self.backbone.tokenizer.pad_token_id)

    # -- objective ------------------------------------------------------------
    def loss(self, ctx: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.lm_settings.model_selection == "best_dev":
            self._track_epochs(index)
        encoded, labels = self._splits["train"]
        return self.learner.loss(ctx, self._batch(encoded, index.tolist()), labels[index])

    @torch.no_grad()
    def evaluate(self, ctxs: torch.Tensor, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy (%) of prompts ctxs [P, n_ctx, d] with the current head."""
        _, labels = self.split(split)
        batches = self._eval_batches(split)
        losses, accs = [], []
        for ctx in ctxs:
            logits = torch.cat([self.learner.logits(ctx, batch) for batch in batches]).cpu()
            losses.append(F.cross_entropy(logits, labels).item())
            accs.append((logits.argmax(-1) == labels).float().mean().item() * 100.0)
        return torch.tensor(losses), torch.tensor(accs)

    def _eval_batches(self, split: str) -> list[LMBatch]:
        """The split's no-grad batches (eval_batch_size sequences each), collated
        once: every prompt scored on a split (trajectory, proposals, the final
        state) reuses them -- the same batches as collating each time."""
        if split not in self._eval_cache:
            encoded, _ = self.split(split)
            per_batch = max(1, self.lm_settings.eval_batch_size // len(encoded[0]))
            self._eval_cache[split] = [self._batch(encoded, range(s, min(s + per_batch, len(encoded))))
                                       for s in range(0, len(encoded), per_batch)]
        return self._eval_cache[split]

    @torch.no_grad()
    def evaluate_templates(self, templates: list[str], split: str = "train"):
        """Hard templates as hard prompts (their n_ctx tokens), with the current head."""
        return self.evaluate(torch.stack([self.embed_template(t) for t in templates]), split)

    # -- model selection ------------------------------------------------------
    def _track_epochs(self, index: torch.Tensor) -> None:
        """best_dev: an epoch has ended when a batch repeats an example of the
        current epoch (GradientDescent reshuffles per epoch and leaves fewer
        than a batch unseen); the prompt and head then are the epoch's end state."""
        rows = set(index.tolist())
        if self._epoch_seen & rows:
            self._consider(self.learner.ctx)
            self._epoch_seen = set()
        self._epoch_seen |= rows

    def _consider(self, ctx: torch.Tensor) -> None:
        _, (acc,) = self.evaluate(ctx.detach()[None], "val")
        if self._best is None or acc.item() > self._best[0]:
            self._best = (acc.item(), MethodResult(prompt=ctx.detach().clone(),
                                                   learner_state=self.learner.extra_state()))

    def select_result(self, result: MethodResult) -> MethodResult:
        """The reported state: the last (default) or the best dev epoch's end."""
        if self.lm_settings.model_selection != "best_dev" or result.prompt is None:
            return result
        self.learner.load_extra_state(result.learner_state)
        self._consider(result.prompt)                 # the last epoch ends with the run
        return self._best[1]
