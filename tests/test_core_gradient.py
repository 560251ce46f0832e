"""The shared gradient loop: lr schedule, seeded determinism, restarts, data order."""
from __future__ import annotations

import math

import pytest
import torch

from maao.gradient import GradientDescent, GradientSettings, steps_per_epoch
from maao.problem import ProblemSettings, PromptProblem


@pytest.fixture(scope="module")
def problem(minilm, tiny_text_dataset):
    return PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())


class _RecordingProblem:
    """Delegates to a real problem and notes which examples each step used."""

    def __init__(self, problem):
        self._problem = problem
        self.batches = []

    def __getattr__(self, name):
        return getattr(self._problem, name)

    def loss(self, ctx, index):
        self.batches.append(index.tolist())
        return self._problem.loss(ctx, index)


@pytest.mark.parametrize("bad", [dict(optimizer="lbfgs"), dict(schedule="step"), dict(lr=0),
                                 dict(batch_size=0)])
def test_bad_settings_rejected(bad):
    with pytest.raises(ValueError):
        GradientSettings(**bad)


@pytest.mark.slow
def test_lr_schedule_warmup_then_cosine_per_epoch(problem):
    s = GradientSettings(lr=0.1, batch_size=2, warmup_epochs=1, warmup_lr=1e-5)
    gd = GradientDescent(problem, s, total_steps=12, generator=torch.Generator().manual_seed(0))
    assert gd.steps_per_epoch == 3 and gd.total_epochs == 4          # 6 examples, batch 2
    lrs = [gd.lr_at(step) for step in range(12)]
    assert lrs[:3] == [1e-5] * 3                                      # warm-up: the first epoch
    # Dassl: the first epoch after the warm-up runs at the full lr, then
    # CosineAnnealingLR(T = max epochs) decays (the old schedule was one epoch ahead).
    assert lrs[3:6] == [0.1] * 3
    for epoch in range(1, 4):
        want = 0.5 * 0.1 * (1 + math.cos(math.pi * (epoch - 1) / 4))
        assert lrs[3 * epoch: 3 * epoch + 3] == pytest.approx([want] * 3)   # constant within an epoch
    after = lrs[3::3]
    assert all(a > b for a, b in zip(after, after[1:]))               # cosine decays
    assert after[0] > 1e-5 and after[-1] > 0

    const = GradientDescent(problem, GradientSettings(lr=0.1, batch_size=2, schedule="constant"),
                            12, torch.Generator())
    assert [const.lr_at(k) for k in range(12)] == [1e-5] * 3 + [0.1] * 9

    # the lr actually applied is the scheduled one
    seen = []
    gd.start(problem.init_random(torch.Generator().manual_seed(0)))
    gd.run(6, lambda step, loss, lr, *rest: seen.append((step, lr, gd.optimizer.param_groups[0]["lr"])))
    assert [st for st, _, _ in seen] == list(range(1, 7))
    assert [lr for _, lr, _ in seen] == lrs[:6]
    assert all(lr == applied for _, lr, applied in seen)


def _run(problem, seed, settings, steps=4, restart_after=None):
    g = torch.Generator().manual_seed(seed)
    gd = GradientDescent(problem, settings, steps, g)
    gd.start(problem.init_random(g))
    if restart_after is None:
        gd.run(steps)
    else:
        gd.run(restart_after)
        gd.start(gd.ctx.detach())
        gd.run(steps - restart_after)
    return gd


@pytest.mark.slow
def test_same_seed_same_prompt(problem):
    s = GradientSettings(lr=0.5, batch_size=2, warmup_epochs=0)
    a = _run(problem, 7, s)
    b = _run(problem, 7, s)
    c = _run(problem, 8, s)
    assert torch.equal(a.ctx, b.ctx)
    assert not torch.equal(a.ctx, c.ctx)
    assert a.step == 4


@pytest.mark.slow
def test_training_moves_the_prompt_and_lowers_the_loss(problem):
    s = GradientSettings(lr=1.0, batch_size=6, warmup_epochs=0, schedule="constant")
    g = torch.Generator().manual_seed(0)
    gd = GradientDescent(problem, s, 8, g)
    start = problem.init_random(g)
    gd.start(start)
    before = problem.evaluate(start[None])[0].item()
    traj = gd.run(8, record=True)
    assert len(traj) == 8 and not torch.equal(traj[0], traj[-1])
    assert torch.equal(traj[-1], gd.ctx.detach())
    assert problem.evaluate(gd.ctx.detach()[None])[0].item() < before


@pytest.mark.slow
def test_reset_optimizer_on_restart_matters(problem):
    keep = GradientSettings(lr=0.5, batch_size=2, warmup_epochs=0, momentum=0.9,
                            reset_optimizer_on_restart=False)
    reset = GradientSettings(lr=0.5, batch_size=2, warmup_epochs=0, momentum=0.9,
                             reset_optimizer_on_restart=True)
    a = _run(problem, 3, keep, steps=4, restart_after=2)
    b = _run(problem, 3, reset, steps=4, restart_after=2)
    plain = _run(problem, 3, keep, steps=4)
    assert not torch.equal(a.ctx, b.ctx)
    # keeping the moments, a restart from the current point changes nothing
    assert torch.allclose(a.ctx, plain.ctx, atol=1e-6)
    # the optimizer follows the new tensor and carries its momentum buffer
    assert a.optimizer.param_groups[0]["params"][0] is a.ctx
    assert "momentum_buffer" in a.optimizer.state[a.ctx]
    assert len(a.optimizer.state) == 1


@pytest.mark.parametrize("n, batch, drop_last, want", [
    (10, 32, True, 1),      # EuroSAT 1-shot: fewer than a batch -> one batch of 10
    (40, 32, True, 1),      # EuroSAT 4-shot: Dassl drops the partial 8 (was 2 -> M = 200)
    (47, 32, True, 1),      # DTD 1-shot: 47 -> 1 (was 2 -> M = 100)
    (160, 32, True, 5),
    (161, 32, True, 5),
    (40, 32, False, 2),     # the rule before spec v2
])
def test_steps_per_epoch_follow_dassl(n, batch, drop_last, want):
    assert steps_per_epoch(n, batch, drop_last) == want


def test_recipe_final_steps_are_coops():
    from maao.presets import get_recipe

    coop = get_recipe("coop-paper")
    assert coop.final_steps(4, 40, coop.gradient) == 100          # EuroSAT 4-shot: 100 epochs x 1
    assert coop.final_steps(1, 47, coop.gradient) == 50           # DTD 1-shot: 50 epochs x 1
    assert coop.final_steps(16, 160, coop.gradient) == 200 * 5


@pytest.mark.slow
def test_partial_last_batch_is_dropped(problem):
    rec = _RecordingProblem(problem)
    gd = GradientDescent(rec, GradientSettings(batch_size=4, warmup_epochs=0), 3,
                         torch.Generator().manual_seed(0))
    assert gd.steps_per_epoch == 1                                     # 6 examples: 4, 2 dropped
    gd.start(problem.init_random(torch.Generator().manual_seed(0)))
    gd.run(3)
    assert [len(b) for b in rec.batches] == [4, 4, 4]
    assert len({tuple(sorted(b)) for b in rec.batches}) > 1            # reshuffled per epoch


@pytest.mark.slow
def test_each_epoch_visits_every_example_once(problem):
    rec = _RecordingProblem(problem)
    s = GradientSettings(batch_size=4, warmup_epochs=0, drop_last=False)
    gd = GradientDescent(rec, s, 6, torch.Generator().manual_seed(0))
    assert gd.steps_per_epoch == 2                                     # 6 examples: 4 + 2
    gd.start(problem.init_random(torch.Generator().manual_seed(0)))
    gd.run(6)
    epochs = [sum(rec.batches[k:k + 2], []) for k in (0, 2, 4)]
    assert all(sorted(e) == list(range(6)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1                         # reshuffled per epoch
