"""Multi-start gradient optimization, with and without perturbations (Table 3).

The paper: "the first round trains from initialized parameters, and the
successive rounds restart training from retained parameters of the previous
round"; the perturbed variant adds 0.01 * N(0, 1) noise before each restart.
Same rounds N, steps m and final steps M as the combined method; a restart
resets the optimizer state exactly when the combined method's does
(GradientSettings.reset_optimizer_on_restart).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from maao.gradient import GradientDescent, logging_callback
from maao.contract import Method, MethodResult, RunContext


@dataclass(frozen=True)
class MultiStartSettings:
    perturbation_std: float = 0.0

    def __post_init__(self):
        if self.perturbation_std < 0:
            raise ValueError("perturbation_std must be >= 0")


@dataclass(frozen=True)
class PerturbedSettings(MultiStartSettings):
    perturbation_std: float = 0.01


class MultiStart(Method):
    name = "multi_start"
    Settings = MultiStartSettings

    def run(self, ctx: RunContext) -> MethodResult:
        gd = GradientDescent(ctx.problem, ctx.gradient, ctx.budget.total_steps, ctx.generator)
        gd.start(ctx.problem.init_random(ctx.generator))
        on_step = logging_callback(ctx.problem, ctx.log)
        std = self.settings.perturbation_std
        for _ in range(ctx.budget.rounds):
            gd.run(ctx.budget.steps_per_round, on_step)
            restart = gd.ctx.detach()
            if std > 0:
                restart = restart + std * torch.randn(restart.shape, generator=ctx.generator)
            gd.start(restart)
        gd.run(ctx.budget.final_steps, on_step)
        return gd.result()


class MultiStartPerturbed(MultiStart):
    name = "multi_start_perturbed"
    Settings = PerturbedSettings
