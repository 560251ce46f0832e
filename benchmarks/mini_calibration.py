"""How the mini scale's init and perturbation scales are derived, and a check
that the projected trajectory then carries information (docs/mini-scale.md).

Principle (fixed before any method was compared): CoOp draws its context from
N(0, 0.02^2), the distribution CLIP initialises its token-embedding table with
(`nn.init.normal_(token_embedding.weight, std=0.02)`), so CoOp's initial
vectors sit on the scale of the vocabulary they are projected to: init std /
per-coordinate RMS of the token table = 1. The paper's perturbation (0.01) is
half of that init std. On another backbone both keep these ratios to *its*
table: init std = RMS of its whole-word token embeddings, perturbation = half.

    python -m benchmarks.mini_calibration            # derived values + diversity table
    python -m benchmarks.mini_calibration --values   # derived values only (fast)
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

INIT_TO_VOCAB_RMS = 1.0         # CoOp's init std 0.02 / CLIP's token init std 0.02
PERTURBATION_TO_INIT = 0.5      # the paper's 0.01 / CoOp's 0.02
DIGITS = 4                      # the spec stores the values rounded to this many decimals


def derived_scales(backbone, vocab: str = "words") -> dict:
    """init_std and perturbation_std for a backbone, from its token table."""
    table = backbone.token_embeddings.detach().float().cpu()
    words = table[backbone.projectable_mask(vocab)]
    rms = words.pow(2).mean().sqrt().item()
    norms = words.norm(dim=-1)
    init = round(INIT_TO_VOCAB_RMS * rms, DIGITS)
    return {"vocab_rms": rms, "vocab_norm_min": norms.min().item(),
            "vocab_norm_median": norms.median().item(), "dim": table.shape[1],
            "init_std": init, "perturbation_std": round(PERTURBATION_TO_INIT * init, DIGITS)}


def first_round_diversity(spec_name: str, init_std: float, datasets, shots, seeds) -> dict:
    """How many distinct prompts the m recorded steps of a round project to:
    round 1 of the combined method (m steps from a random init, before any LLM
    call), and a round restarted from the dataset's template (what rounds 2..N
    do after an LLM proposal)."""
    import torch

    from maao.gradient import GradientDescent
    from maao.runner import build_problem, resolve
    from maao.spec import expand, load_spec

    spec = load_spec(spec_name)
    distinct, all_same, tokens, init_tokens, restart_distinct = [], 0, set(), set(), []
    for config in expand(spec, "mini", datasets, shots, seeds, ["combined"]):
        config = replace(config, problem=replace(config.problem, init_std=init_std))
        problem = build_problem(config)
        config = resolve(config, problem)
        generator = torch.Generator().manual_seed(config.seed)
        gd = GradientDescent(problem, config.gradient, config.budget.total_steps, generator)
        init = problem.init_random(generator)
        init_tokens.update(problem.project_ids(init[None]).flatten().tolist())
        gd.start(init)
        trajectory = gd.run(config.budget.steps_per_round, record=True)
        ids = problem.project_ids(torch.stack(trajectory))
        rows = {tuple(r) for r in ids.tolist()}
        distinct.append(len(rows))
        all_same += len(rows) == 1
        tokens.update(t for r in rows for t in r)
        gd.start(problem.embed_template(problem.dataset.template))   # a restart
        restarted = gd.run(config.budget.steps_per_round, record=True)
        restart_distinct.append(len({tuple(r) for r in
                                     problem.project_ids(torch.stack(restarted)).tolist()}))
    return {"init_std": init_std, "runs": len(distinct), "steps": config.budget.steps_per_round,
            "init_tokens": len(init_tokens),
            "mean_distinct_prompts": sum(distinct) / len(distinct),
            "runs_all_steps_one_prompt": all_same, "distinct_tokens": len(tokens),
            "restart_mean_distinct": sum(restart_distinct) / len(restart_distinct),
            "restart_all_one_prompt": sum(d == 1 for d in restart_distinct)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", action="store_true", help="only the derived values")
    parser.add_argument("--spec", default="table3")
    args = parser.parse_args(argv)

    import torch

    from maao.backbones import load_backbone

    torch.set_num_threads(1)
    values = derived_scales(load_backbone("minilm"))
    print(json.dumps(values, indent=1))
    if args.values:
        return 0
    print("| init std | runs | tokens the inits project to | round 1: mean distinct prompts "
          "of m steps | round 1: runs with one prompt | round 1: distinct tokens | restarted "
          "round: mean distinct prompts | restarted round: runs with one prompt |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for std in (0.02, values["init_std"]):
        r = first_round_diversity(args.spec, std, None, None, None)
        print(f"| {r['init_std']} | {r['runs']} | {r['init_tokens']} | "
              f"{r['mean_distinct_prompts']:.2f} | {r['runs_all_steps_one_prompt']} | "
              f"{r['distinct_tokens']} | {r['restart_mean_distinct']:.2f} | "
              f"{r['restart_all_one_prompt']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
