"""The language-model learner follows its reference (issue 19, items 5-6):
the prompt and the head start at std 0.02 (transformers' _init_weights re-
initialises both after from_pretrained), text becomes a prompt through
tokenizer(text) with its special tokens, and COPA keeps the premise's period.
Each test fails on the values spec table1 v1 was recorded with."""
from __future__ import annotations

import pytest
import torch

from lm_generated import dataset

from maao.backbones.lm_encoder import FrozenLMEncoder
from maao.datasets.lm_tasks import CLASSIFICATION, MULTIPLE_CHOICE, LMDataset, LMSplit, superglue_example
from maao.learners.settings import LMSettings
from maao.lm_problem import LMPromptProblem
from maao.problem import ProblemSettings
from maao.spec import expand, load_spec


@pytest.fixture(scope="module")
def minilm_lm():
    return FrozenLMEncoder(source="minilm")


def std_within_sampling_error(values: torch.Tensor, std: float) -> bool:
    """|sample std - std| under 4 standard errors (SE of a normal sample's std: std / sqrt(2n))."""
    return abs(values.std().item() - std) < 4 * std / (2 * values.numel()) ** 0.5


def test_prompt_and_head_start_at_the_references_std(minilm_lm):
    settings = ProblemSettings(n_ctx=8)                       # init_std: the default
    data = dataset(CLASSIFICATION)
    problem = LMPromptProblem(minilm_lm, data, data.train, settings, learner={"kind": "lm"})
    generator = torch.Generator().manual_seed(0)
    prompt = problem.init_random(generator)                   # 8 x 384 draws
    problem.learner.reset_extras(generator)                   # head 2 x 384
    assert std_within_sampling_error(prompt, 0.02), prompt.std()
    assert abs(prompt.mean().item()) < 4 * 0.02 / prompt.numel() ** 0.5
    head = problem.learner.head
    assert std_within_sampling_error(head.weight.detach(), 0.02), head.weight.std()
    assert torch.equal(head.bias.detach(), torch.zeros_like(head.bias))
    # the recorded v1 head: nn.Linear's uniform, std 1/sqrt(3 d) = 0.029 at d = 384, bias non-zero
    old = LMPromptProblem(minilm_lm, data, data.train, settings, learner={"kind": "lm", "head_init": "uniform"})
    old.learner.reset_extras(torch.Generator().manual_seed(0))
    assert not std_within_sampling_error(old.learner.head.weight.detach(), 0.02)
    assert old.learner.head.bias.abs().sum() > 0


def test_table1_uses_the_references_init_at_both_scales():
    """Table 1 (v3) starts the prompt at 0.02 with the reference's head and
    text rule at both scales (v1's recorded values are gone with its replies)."""
    for scale in ("mini", "paper"):
        for config in expand(load_spec("table1"), scale, seeds=[1]):
            assert config.problem.init_std == 0.02, scale
            assert LMSettings(**config.learner) == LMSettings(), (scale, config.learner)


def test_text_becomes_a_prompt_with_the_tokenizers_special_tokens(minilm_lm):
    data = dataset(CLASSIFICATION)
    problem = LMPromptProblem(minilm_lm, data, data.train, ProblemSettings(n_ctx=8), learner={"kind": "lm"})
    tok = minilm_lm.tokenizer
    short = "Which sentence makes more sense"                 # 5 tokens: [CLS] + 5 + two " a"
    words = tok(short, add_special_tokens=False)["input_ids"]
    a = tok("a", add_special_tokens=False)["input_ids"]
    assert problem.context_ids(short) == [tok.cls_token_id] + words + a * (7 - len(words))
    long = "the quick brown fox jumps over the lazy dog again"
    assert problem.context_ids(long) == [tok.cls_token_id] + tok(long, add_special_tokens=False)["input_ids"][:7]
    six = "one two three four five six"                       # the reference keeps [SEP] when it fits
    assert problem.context_ids(six) == tok(six)["input_ids"]
    assert torch.equal(problem.embed_text(short), minilm_lm.token_embeddings[problem.context_ids(short)].detach())


def test_copa_keeps_the_premise_period_before_the_joiner(minilm_lm):
    raw = [{"premise": "The man broke his toe.", "question": "cause", "choice1": "He dropped a hammer.",
            "choice2": "He ran.", "label": 0},
           {"premise": "I tipped the bottle.", "question": "effect", "choice1": "It spilled.",
            "choice2": "It froze.", "label": 0}]
    rows = [superglue_example("copa", ex, f"v{n}") for n, ex in enumerate(raw)]
    split = LMSplit(tuple(rows), tuple(r["label"] for r in rows), tuple(r["id"] for r in rows))
    data = LMDataset("copa_sample", MULTIPLE_CHOICE, ("choice 1", "choice 2"), "t", "t", split, split, split,
                     scale="paper")
    first = {}
    for keep in (True, False):
        problem = LMPromptProblem(minilm_lm, data, split, ProblemSettings(n_ctx=8),
                                  learner={"kind": "lm", "premise_period": keep})
        encoded, _ = problem.split("train")
        first[keep] = [encoded[n][0][0] for n in range(2)]       # ids of each item's first choice
    pair = minilm_lm.encode_pair
    assert first[True] == [pair("The man broke his toe. because", "He dropped a hammer.")[0],
                           pair("I tipped the bottle. so", "It spilled.")[0]]
    assert first[False][0] == pair("The man broke his toe because", "He dropped a hammer.")[0]
    assert first[True][0] != first[False][0]


def test_evaluation_batches_are_collated_once_with_the_same_numbers(minilm_lm):
    """Speed without moving a number: the no-grad batches of a split are built
    once and reused, and give exactly what collating them per prompt gave."""
    import torch.nn.functional as F

    from maao.learners.lm import LMBatch

    data = dataset(MULTIPLE_CHOICE)
    problem = LMPromptProblem(minilm_lm, data, data.train, ProblemSettings(n_ctx=8),
                              learner={"kind": "lm", "eval_batch_size": 6})     # 3 items a batch
    generator = torch.Generator().manual_seed(1)
    problem.learner.reset_extras(generator)
    ctxs = torch.stack([problem.init_random(generator) for _ in range(2)])
    losses, accs = problem.evaluate(ctxs, "test")
    assert problem._eval_batches("test") is problem._eval_batches("test")
    encoded, labels = problem.split("test")
    pad = minilm_lm.tokenizer.pad_token_id
    for ctx, loss, acc in zip(ctxs, losses, accs):       # the collate-per-prompt path of before
        with torch.no_grad():
            logits = torch.cat([problem.learner.logits(ctx, LMBatch.collate(encoded[s:s + 3], pad))
                                for s in range(0, len(encoded), 3)])
        # as evaluate stores them: python floats into a float32 tensor
        assert torch.tensor([F.cross_entropy(logits, labels).item()]).item() == loss.item()
        assert torch.tensor([(logits.argmax(-1) == labels).float().mean().item() * 100.0]).item() == acc.item()
