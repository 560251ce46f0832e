"""The paper-scale path with random CLIP weights: CoOp-layout EuroSAT on small
generated images, feature cache written, reused, and rebuilt when damaged."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from coop_layout import write_eurosat

from maao.datasets import few_shot, load_dataset
from maao.gradient import GradientDescent, GradientSettings
from maao.problem import ProblemSettings, PromptProblem

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def eurosat(tmp_path_factory):
    """CoOp's EuroSAT layout with 2/1/1 generated images per class (tests/coop_layout.py)."""
    return load_dataset("eurosat", data_dir=write_eurosat(tmp_path_factory.mktemp("data")))


class _Counter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, inputs):
        self.calls += 1
        return self.fn(inputs)


def _build(backbone, dataset, cache):
    return PromptProblem(backbone, dataset, few_shot(dataset, 1, 1), ProblemSettings(), cache_dir=cache)


def test_gradient_steps_on_clip(clip_rn50, eurosat, tmp_path):
    assert eurosat.modality == "image" and len(eurosat.train) == 20
    problem = _build(clip_rn50, eurosat, tmp_path)
    assert problem.train_x.shape == (10, 1024) and problem.train_y.tolist() == sorted(range(10))
    assert torch.allclose(problem.train_x.norm(dim=-1), torch.ones(10), atol=1e-5)
    g = torch.Generator().manual_seed(1)
    gd = GradientDescent(problem, GradientSettings(lr=0.002, batch_size=32, warmup_epochs=0),
                         total_steps=2, generator=g)
    start = problem.init_random(g)
    gd.start(start)
    losses = []
    gd.run(2, lambda step, loss, lr, *rest: losses.append(loss))
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert not torch.equal(gd.ctx.detach(), start)
    assert gd.ctx.shape == (4, 512)
    test_loss, test_acc = problem.evaluate(gd.ctx.detach()[None], "test")
    assert torch.isfinite(test_loss).all() and 0 <= test_acc.item() <= 100
    # V^-1 gives readable words on the CLIP vocabulary as well
    (text,) = problem.project(gd.ctx.detach()[None])
    assert len(text.split()) == 4 and "<" not in text


def test_feature_cache_reused_and_rebuilt(clip_rn50, eurosat, tmp_path, monkeypatch, caplog):
    counter = _Counter(clip_rn50.encode_inputs)
    monkeypatch.setattr(clip_rn50, "encode_inputs", counter)

    first = _build(clip_rn50, eurosat, tmp_path)
    assert counter.calls == 1
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1 and files[0].parts[-3:-1] == (clip_rn50.name, "eurosat")
    assert files[0].name.startswith("train-")
    assert not list(tmp_path.rglob("*.tmp"))

    second = _build(clip_rn50, eurosat, tmp_path)          # cache hit: the image tower is not run
    assert counter.calls == 1
    assert torch.equal(first.train_x, second.train_x)

    # corrupt bytes: warned about, rebuilt, same features
    files[0].write_bytes(b"\x00garbage" * 10)
    with caplog.at_level(logging.WARNING, logger="maao.features"):
        third = _build(clip_rn50, eurosat, tmp_path)
    assert counter.calls == 2
    assert any("corrupt feature cache" in r.getMessage() for r in caplog.records)
    assert torch.allclose(third.train_x, first.train_x, atol=1e-6)
    assert load_file(files[0])["features"].shape == (20, 1024)

    # a readable file made from other data or weights: stale, rebuilt
    tensors = load_file(files[0])
    save_file({"features": tensors["features"],
               "meta_digest": torch.tensor(list(b"other-model|other-data"), dtype=torch.uint8)}, files[0])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="maao.features"):
        _build(clip_rn50, eurosat, tmp_path)
    assert counter.calls == 3
    assert any("stale feature cache" in r.getMessage() for r in caplog.records)

    # a cache hit again afterwards
    _build(clip_rn50, eurosat, tmp_path)
    assert counter.calls == 3
