"""Would a faster MiniLM gradient step keep the recorded numbers? (issue 25 item 4)

    python -m benchmarks.step_alternatives [--threads 1] [--repeats 5]

The gradient steps are ~86-88 % of a mini Table 2-8 run and ~60 % of a
Table 1 run (docs/performance.md), and a step is already compute-bound on
the CPU. Two ways to make it cheaper remain; this checks each against the
step the recordings were made with (`MiniLMEncoder.encode_prompts`, fp32,
one run's prompt at a time):

- packing: k runs' prompts through one encoder call (what "several runs of
  one (dataset, shots) advancing together" would do). Kept only if every
  run's features, loss and gradient are bit-identical to its step alone.
- bf16 autocast (this CPU has AVX512_BF16): always changes the numbers; the
  question is only what it would buy.

Prints, per check, equality (`torch.equal`), the largest gradient
difference and min-of-`--repeats` times, alternating old and new; also one
Table 1-sized step (32 sequences x 64 tokens) in fp32 and bf16. A
measurement script, not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import time

CLASSES = ["book flight", "cancel order", "weather", "play music", "set alarm",
           "restaurant", "greeting"]   # 7 classes, as intent_recognition


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_alternatives", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from maao.backbones.minilm import MiniLMEncoder

    torch.set_num_threads(args.threads)
    enc = MiniLMEncoder()
    class_ids = [enc.tokenize(f"{name}.") for name in CLASSES]
    gen = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(32, enc.token_dim, generator=gen), dim=-1)   # a batch of input features
    y = torch.randint(0, len(CLASSES), (32,), generator=gen)

    def step(ctxs, bf16=False):
        """Loss, class features and prompt gradient of each of P prompts [P, n_ctx, d]."""
        ctxs = ctxs.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            feats = enc.encode_prompts(ctxs, class_ids).float()              # [P, C, d]
        logits = enc.logit_scale * torch.einsum("bd,pcd->pbc", x, feats)
        losses = torch.stack([F.cross_entropy(lg, y) for lg in logits])
        losses.sum().backward()           # runs do not share parameters: each gets its own gradient
        return losses.detach(), feats.detach(), ctxs.grad

    def best(fn):
        return min(once(fn) for _ in range(args.repeats))

    for k in (2, 6):
        ctxs = torch.randn(k, 4, enc.token_dim, generator=gen) * 0.02
        alone = [step(ctxs[i:i + 1]) for i in range(k)]
        packed = step(ctxs)
        same = all(torch.equal(alone[i][j][0], packed[j][i]) for i in range(k) for j in range(3))
        diff = max((alone[i][2][0] - packed[2][i]).abs().max().item() for i in range(k))
        t_alone, t_packed = [], []
        for _ in range(args.repeats):     # alternating, so both see the same load
            t_alone.append(once(lambda: [step(ctxs[i:i + 1]) for i in range(k)]))
            t_packed.append(once(lambda: step(ctxs)))
        print(f"threads={args.threads} packing k={k}: bit-identical={same} max|grad diff|={diff:.3g}; "
              f"alone {min(t_alone) * 1e3:.0f} ms, packed {min(t_packed) * 1e3:.0f} ms, "
              f"{min(t_alone) / min(t_packed):.2f}x")

    ctx = torch.randn(1, 4, enc.token_dim, generator=gen) * 0.02
    grad = step(ctx)[2]
    diff = (grad - step(ctx, bf16=True)[2]).abs().max().item()
    scale = grad.abs().max().item()
    t32, t16 = best(lambda: step(ctx)), best(lambda: step(ctx, bf16=True))
    print(f"threads={args.threads} Table 3 step: fp32 {t32 * 1e3:.0f} ms, bf16 {t16 * 1e3:.0f} ms, "
          f"{t32 / t16:.2f}x; max|grad diff| {diff:.3g} (max|grad| {scale:.3g})")

    ids = torch.randint(1000, 20000, (32, 64), generator=gen)
    mask = torch.ones(32, 64, dtype=torch.long)

    def lm_step(bf16):
        inp = enc.token_embeddings[ids].clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = enc.model(inputs_embeds=inp, attention_mask=mask).last_hidden_state
        hidden.float().pow(2).mean().backward()

    t32, t16 = best(lambda: lm_step(False)), best(lambda: lm_step(True))
    print(f"threads={args.threads} Table 1-sized step (32 x 64 tokens): fp32 {t32 * 1e3:.0f} ms, "
          f"bf16 {t16 * 1e3:.0f} ms, {t32 / t16:.2f}x")
    return 0


def once(fn) -> float:
    """Seconds one call of fn takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
