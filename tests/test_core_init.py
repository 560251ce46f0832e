"""Soft prompt initialisation: random (CoOp) or from text (manual init)."""
import pytest
import torch

from baselines.single_start import SingleStart
from maao.gradient import GradientSettings
from maao.methods import Budget, RunContext, RunLog
from maao.problem import ProblemSettings, PromptProblem


def _run(problem, init_text, steps=0):
    ctx = RunContext(problem, GradientSettings(), Budget(0, 0, steps), torch.Generator().manual_seed(1),
                     RunLog(), "test-run")
    settings = SingleStart.Settings(init_text=init_text)
    return SingleStart(settings).run(ctx).prompt


@pytest.mark.slow
def test_init_from_text_starts_at_its_embedding(minilm, tiny_text_dataset):
    problem = PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())
    start = _run(problem, "a photo of a {}.")
    assert torch.equal(start, problem.embed_text("a photo of a"))
    assert problem.project(start[None]) == ["a photo of a"]


@pytest.mark.slow
def test_random_init_is_coop_std_and_seeded(minilm, tiny_text_dataset):
    problem = PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())
    a, b = _run(problem, None), _run(problem, None)
    assert torch.equal(a, b)
    assert a.shape == (4, minilm.token_dim)
    assert 0.015 < a.std().item() < 0.025
