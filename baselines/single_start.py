"""Single-start gradient optimization: CoOp trained once from a random init.

Given the whole budget N*m + M in one uninterrupted run, so that it spends
exactly as many gradient steps as the combined method.
"""
from __future__ import annotations

from dataclasses import dataclass

from maao.gradient import GradientDescent, logging_callback
from maao.methods import Method, MethodResult, RunContext


@dataclass(frozen=True)
class SingleStartSettings:
    pass


class SingleStart(Method):
    name = "single_start"
    Settings = SingleStartSettings

    def run(self, ctx: RunContext) -> MethodResult:
        gd = GradientDescent(ctx.problem, ctx.gradient, ctx.budget.total_steps, ctx.generator)
        gd.start(ctx.problem.init_random(ctx.generator))
        gd.run(ctx.budget.total_steps, logging_callback(ctx.problem, ctx.log))
        return MethodResult(prompt=gd.ctx.detach().clone())
