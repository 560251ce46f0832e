"""Paper-scale class counts on the CLIP text tower: one training step (fast vs
77-token padding) and scoring 30 candidates (batched vs one by one) for the
C of EuroSAT (10), DTD (47) and Flowers102 (102).

This is what the paper-scale cost model (docs/performance.md) needs: the step
time t_step(C) on the hardware that runs the paper scale. GPU only
(MAAO_BENCH_DEVICE=cuda): on a 2-core CPU a naive 102-class step takes tens of
seconds. The image data is not available offline, so the input features are
random unit vectors ([16 shots x C, 1024], as in bench_train_step) and the
class names are pairs of real vocabulary words (Flowers102 and DTD names are
mostly one or two words: "pink primrose", "banded").
"""
from __future__ import annotations

import pytest
import torch

from benchmarks.bench_scoring import candidates
from benchmarks.bench_train_step import make_step
from benchmarks.conftest import (BENCH_DEVICE, CLIP_NAIVE_PAD, TOL, build_problem,
                                 make_random_feature_problem_class, median, ratios, report, timed)

pytestmark = pytest.mark.skipif(BENCH_DEVICE == "cpu", reason="GPU only (MAAO_BENCH_DEVICE=cuda)")

SHOTS, BATCH, ROUNDS = 16, 32, 30
CLASS_COUNTS = {"eurosat": 10, "dtd": 47, "flowers102": 102}


def synthetic_dataset(backbone, n_classes: int):
    from maao.datasets.base import Dataset, LabelledSplit

    words = [w[:-4] for w in backbone.tokenizer.decoder.values()
             if w.endswith("</w>") and w[:-4].isalpha() and w[:-4].isascii() and len(w) > 7]
    g = torch.Generator().manual_seed(n_classes)
    picks = torch.randperm(len(words), generator=g)[: 2 * n_classes].tolist()
    names = [f"{words[a]} {words[b]}" for a, b in zip(picks[::2], picks[1::2])]
    labels = tuple(c for c in range(n_classes) for _ in range(SHOTS))
    split = LabelledSplit(tuple(f"img{i}" for i in range(len(labels))), labels,
                          tuple(f"id{i}" for i in range(len(labels))))
    return Dataset(name=f"synthetic{n_classes}", classnames=names, template="a photo of a {}.",
                   task="image classification", modality="image", train=split, val=split,
                   test=split, scale="paper")


def alternate(fast, slow, rounds=ROUNDS):
    """Time fast and slow calls alternately (after one warm-up each)."""
    fast_t, slow_t = [], []
    fast(), slow()
    for _ in range(rounds):
        timed(slow, slow_t)()
        timed(fast, fast_t)()
    return fast_t, slow_t


@pytest.mark.benchmark(group="scaling")
@pytest.mark.parametrize("dataset_name", list(CLASS_COUNTS))
def test_clip_rn50_step_and_scoring_by_class_count(benchmark, clip_rn50, dataset_name, machine):
    n_classes = CLASS_COUNTS[dataset_name]
    data = synthetic_dataset(clip_rn50, n_classes)
    cls = make_random_feature_problem_class()
    fast = build_problem(clip_rn50, data, data.train, cls=cls)
    naive = build_problem(clip_rn50, data, data.train, cls=cls, pad_to=CLIP_NAIVE_PAD)
    index = torch.randperm(len(fast.train_y), generator=torch.Generator().manual_seed(3))[:BATCH]
    step_fast, step_naive = make_step(fast, index), make_step(naive, index)
    loss_diff = abs(step_fast() - step_naive())
    assert loss_diff < TOL, f"fast and padded step losses differ by {loss_diff:.2e}"
    fast_t, naive_t = alternate(step_fast, step_naive)

    ctxs = candidates(fast)
    batched = lambda: fast.evaluate(ctxs)
    one_by_one = lambda: tuple(map(torch.cat, zip(*[fast.evaluate(c[None]) for c in ctxs])))
    score_diff = (batched()[0] - one_by_one()[0]).abs().max().item()
    assert score_diff < TOL, f"batched vs one-by-one losses differ by {score_diff:.2e}"
    batched_t, single_t = alternate(batched, one_by_one, rounds=ROUNDS // 3)
    benchmark.pedantic(step_fast, rounds=ROUNDS, iterations=1)

    step_ratio, _ = ratios(fast_t, naive_t)
    score_ratio, _ = ratios(batched_t, single_t)
    report(benchmark, dataset=dataset_name, classes=n_classes,
           fast_len=1 + fast.n_ctx + max(len(c) for c in fast.class_ids) + 1,
           fast_step_s=min(fast_t), fast_step_median_s=median(fast_t), naive_step_s=min(naive_t),
           t_class_s=min(fast_t) / n_classes, step_ratio=step_ratio,
           batched_s=min(batched_t), one_by_one_s=min(single_t), scoring_ratio=score_ratio,
           max_loss_diff=loss_diff, max_score_diff=score_diff, machine=machine)
