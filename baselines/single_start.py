"""Single-start gradient optimization: CoOp trained once from a random init.

Given the whole budget N*m + M in one uninterrupted run, so that it spends
exactly as many gradient steps as the combined method.
"""
from __future__ import annotations

from dataclasses import dataclass

from maao.gradient import GradientDescent, logging_callback
from maao.contract import Method, MethodResult, RunContext


@dataclass(frozen=True)
class SingleStartSettings:
    # None: CoOp's random init (std 0.02). A text ("a photo of a") or a template
    # ("a photo of a {}.") initialises the context with V(text) instead (the
    # paper's "manual initialization"); "dataset" uses the dataset's template.
    init_text: str | None = None


class SingleStart(Method):
    name = "single_start"
    Settings = SingleStartSettings

    def run(self, ctx: RunContext) -> MethodResult:
        gd = GradientDescent(ctx.problem, ctx.gradient, ctx.budget.total_steps, ctx.generator)
        text = self.settings.init_text
        if text == "dataset":
            text = ctx.problem.dataset.template
        gd.start(ctx.problem.embed_template(text) if text
                 else ctx.problem.init_random(ctx.generator))
        gd.run(ctx.budget.total_steps, logging_callback(ctx.problem, ctx.log))
        return gd.result()
