"""One training step (forward + backward + SGD step, batch of 32): fast vs naive.

fast  = the code path every method uses: cached input features, class prompts
        cut to the longest real prompt (~a dozen tokens).
naive = what the issue calls waste: the frozen input encoder re-run on the
        batch every step (MiniLM; for CLIP see below) and the class prompts
        padded to a fixed length (128 for MiniLM, a common max_seq_length;
        77 for CLIP's context length).

CLIP: no image data is available offline, so the CLIP problem's input features
are random unit vectors and its naive path is the 77-token padding alone (the
text tower, the part the target names). Re-running RN50's image tower on 32
images would add far more (docs/performance.md has a one-off measurement), so
the CLIP ratio here is a lower bound on a fully naive step.

Before timing, both paths take the same 5 gradient steps (past the 4-step warm-up) through
GradientDescent.run and must agree to 1e-5 (losses, prompts, train metrics).
Timing alternates: pytest-benchmark times the fast step; its `setup` runs (and
we time) one naive step before every fast round, so both see the same load.
"""
from __future__ import annotations

import pytest
import torch

from benchmarks.conftest import (ROUNDS_FACTOR, TOL, CLIP_NAIVE_PAD, MINILM_NAIVE_PAD, build_problem, make_random_feature_problem_class,
                                 median, ratios, report, timed)

ROUNDS = 5
BATCH = 32
CHECK_STEPS = 5


def _gradient_settings():
    from maao.presets import get_recipe

    return get_recipe("coop-mini").gradient


def _gd(problem, init):
    from maao.gradient import GradientDescent

    gd = GradientDescent(problem, _gradient_settings(), total_steps=1000,
                         generator=torch.Generator().manual_seed(7))
    gd.start(init)
    return gd


def check_equal(fast, naive):
    """Same steps, same numbers: losses, prompts after each step, train metrics."""
    init = fast.init_random(torch.Generator().manual_seed(0))
    gd_f, gd_n = _gd(fast, init), _gd(naive, init)
    losses_f, losses_n = [], []
    gd_f.run(CHECK_STEPS, lambda step, loss, *rest: losses_f.append(loss))
    gd_n.run(CHECK_STEPS, lambda step, loss, *rest: losses_n.append(loss))
    loss_diff = max(abs(a - b) for a, b in zip(losses_f, losses_n))
    ctx_diff = (gd_f.ctx - gd_n.ctx).abs().max().item()
    lf, af = fast.evaluate(gd_f.ctx.detach()[None])
    ln, an = naive.evaluate(gd_n.ctx.detach()[None])
    metric_diff = max((lf - ln).abs().max().item(), (af - an).abs().max().item())
    assert loss_diff < TOL, f"per-step losses differ by {loss_diff:.2e}"
    assert ctx_diff < TOL, f"prompts after {CHECK_STEPS} steps differ by {ctx_diff:.2e}"
    assert metric_diff < TOL, f"train loss/accuracy differ by {metric_diff:.2e}"
    return {"max_loss_diff": loss_diff, "max_ctx_diff": ctx_diff, "max_metric_diff": metric_diff}


def make_step(problem, index):
    """One step exactly as GradientDescent.run takes it, on a fixed batch."""
    gd = _gd(problem, problem.init_random(torch.Generator().manual_seed(0)))

    def step():
        loss = problem.loss(gd.ctx, index)
        gd.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gd.optimizer.step()
        return loss.item()

    return step


def run_pair(benchmark, fast, naive, machine, **info):
    diffs = check_equal(fast, naive)
    index = torch.randperm(len(fast.train_y), generator=torch.Generator().manual_seed(3))[:BATCH]
    fast_times, naive_times = [], []
    fast_step = timed(make_step(fast, index), fast_times)
    naive_step = timed(make_step(naive, index), naive_times)
    fast_step(), naive_step()                       # warm-up, not counted
    fast_times.clear(), naive_times.clear()
    benchmark.pedantic(fast_step, setup=lambda: naive_step() and None, rounds=ROUNDS * ROUNDS_FACTOR, iterations=1)
    ratio, ratio_paired = ratios(fast_times, naive_times)
    report(benchmark, fast_step_s=min(fast_times), naive_step_s=min(naive_times),
           fast_step_median_s=median(fast_times), naive_step_median_s=median(naive_times),
           ratio=ratio, ratio_paired_median=ratio_paired, ratio_name="naive/fast train step", target=3.0, meets_target=ratio >= 3.0,
           batch=len(index), classes=len(fast.classnames), rounds=len(fast_times), **diffs, **info,
           machine=machine)
    return ratio


@pytest.mark.benchmark(group="train_step")
def test_train_step_minilm(benchmark, minilm, dataset, train_split, minilm_problem, machine):
    naive = build_problem(minilm, dataset, train_split, pad_to=MINILM_NAIVE_PAD, reencode=True)
    run_pair(benchmark, minilm_problem, naive, machine, backbone="minilm",
             naive_path="pad class prompts to 128 + re-encode the batch's documents every step",
             fast_len=1 + minilm_problem.n_ctx + max(len(c) for c in minilm_problem.class_ids) + 1,
             naive_len=MINILM_NAIVE_PAD)


@pytest.mark.benchmark(group="train_step")
def test_train_step_minilm_padding_only(benchmark, minilm, dataset, train_split, minilm_problem, machine):
    """The padding part of the waste alone (cached features on both paths)."""
    naive = build_problem(minilm, dataset, train_split, pad_to=MINILM_NAIVE_PAD)
    run_pair(benchmark, minilm_problem, naive, machine, backbone="minilm",
             naive_path="pad class prompts to 128 (features cached on both paths)")


@pytest.mark.benchmark(group="train_step")
def test_train_step_clip_rn50(benchmark, clip_rn50, dataset, train_split, clip_problem, machine):
    naive = build_problem(clip_rn50, dataset, train_split, cls=make_random_feature_problem_class(),
                          pad_to=CLIP_NAIVE_PAD)
    run_pair(benchmark, clip_problem, naive, machine, backbone="clip-rn50 (random init), text tower",
             naive_path="pad class prompts to 77 (input features cached/random on both paths)",
             fast_len=1 + clip_problem.n_ctx + max(len(c) for c in clip_problem.class_ids) + 1,
             naive_len=CLIP_NAIVE_PAD)
