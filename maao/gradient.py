"""The gradient optimizer every method shares (CoOp's recipe by default).

One object trains the problem's prompt learner (its soft context and any other
parameters, e.g. TCP's meta-net), owns the optimizer, the learning-rate
schedule and the data order, and counts global steps, so that methods which restart
(multi-start, the combined optimizer) all follow one schedule over the same
total budget N*m + M. Whether a restart resets the optimizer state is a setting
(`reset_optimizer_on_restart`); the schedule always runs over the whole budget.
A restart replaces only the context; the learner's other parameters are kept
unless its settings re-draw them (TCP's `reset_meta_net_on_restart`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .contract import MethodResult
from .settings import GradientSettings  # noqa: F401 (defined torch-free there)


def steps_per_epoch(n_train: int, batch_size: int, drop_last: bool = True) -> int:
    """Batches per epoch as Dassl builds them: floor(n / batch) when the split
    has a full batch and `drop_last`, else ceil; one batch of n when n < batch."""
    if n_train < batch_size:
        return 1
    return n_train // batch_size if drop_last else math.ceil(n_train / batch_size)


class GradientDescent:
    def __init__(self, problem, settings: GradientSettings, total_steps: int,
                 generator: torch.Generator):
        self.problem = problem
        self.settings = settings
        self.total_steps = total_steps
        self.generator = generator
        n = len(problem.train_y)
        self.batch_size = min(settings.batch_size, n)
        self.steps_per_epoch = steps_per_epoch(n, settings.batch_size, settings.drop_last)
        self.total_epochs = max(1, math.ceil(total_steps / self.steps_per_epoch))
        self.step = 0
        self._ctx: torch.nn.Parameter | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._order = torch.empty(0, dtype=torch.long)

    # -- state --------------------------------------------------------------
    @property
    def learner(self):
        return self.problem.learner

    @property
    def ctx(self) -> torch.nn.Parameter | None:
        """The soft context being trained (the learner's)."""
        return self._ctx

    def start(self, ctx: torch.Tensor) -> None:
        """(Re)start from `ctx` [n_ctx, d]; the first call or a restart."""
        first = self.optimizer is None
        if first or self.learner.reset_extras_on_restart():
            self.learner.reset_extras(self.generator)   # CoOp has none: draws nothing
        self._ctx = self.learner.set_context(ctx)
        params = [self._ctx, *self.learner.extra_parameters()]
        if first or self.settings.reset_optimizer_on_restart:
            self.optimizer = self._make_optimizer(params)
        else:  # keep moments: re-point the optimizer's context slot at the new tensor
            group = self.optimizer.param_groups[0]
            state = self.optimizer.state.pop(group["params"][0], {})
            group["params"][0] = self._ctx
            self.optimizer.state[self._ctx] = state

    def result(self) -> MethodResult:
        """The trained prompt and the learner's other trained parameters."""
        return MethodResult(prompt=self._ctx.detach().clone(),
                            learner_state=self.learner.extra_state())

    def _make_optimizer(self, params):
        s = self.settings
        if s.optimizer == "sgd":
            return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        cls = torch.optim.AdamW if s.optimizer == "adamw" else torch.optim.Adam
        extra = {} if s.adam_eps is None else {"eps": s.adam_eps}
        return cls(params, lr=s.lr, weight_decay=s.weight_decay, **extra)

    def lr_at(self, step: int) -> float:
        s = self.settings
        epoch = step // self.steps_per_epoch
        if epoch < s.warmup_epochs:
            return s.warmup_lr
        if s.schedule == "constant":
            return s.lr
        # Dassl's constant warm-up wrapper hands over to CosineAnnealingLR(T =
        # max epochs) whose first epoch runs at the full lr: epoch e after the
        # warm-up runs at cos(pi * (e - warmup) / T).
        return 0.5 * s.lr * (1.0 + math.cos(math.pi * (epoch - s.warmup_epochs) / self.total_epochs))

    def _next_batch(self) -> torch.Tensor:
        pos = (self.step % self.steps_per_epoch) * self.batch_size
        if pos == 0:  # new epoch: a fresh seeded shuffle
            self._order = torch.randperm(len(self.problem.train_y), generator=self.generator)
        return self._order[pos:pos + self.batch_size]

    # -- steps --------------------------------------------------------------
    def run(self, n_steps: int, on_step: Callable[..., None] | None = None,
            record: bool = False) -> list[torch.Tensor]:
        """Take n gradient steps; return the prompt after each step if `record`."""
        trajectory = []
        for _ in range(n_steps):
            index = self._next_batch()
            lr = self.lr_at(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.problem.loss(self._ctx, index)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.settings.grad_clip:
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                torch.nn.utils.clip_grad_norm_(params, self.settings.grad_clip)
            self.optimizer.step()
            self.step += 1
            if on_step is not None:
                on_step(self.step, loss.item(), lr, self.ctx.detach())
            if record:
                trajectory.append(self.ctx.detach().clone())
        return trajectory


def logging_callback(problem, log, project_every: int = 10):
    """on_step callback: batch loss and lr curves, and every `project_every`
    steps the projected prompt V^-1(p) (the trajectory artifact). Projection is
    no-grad and draws no random numbers, so logging never changes a run."""
    def on_step(step: int, loss: float, lr: float, ctx: torch.Tensor | None = None) -> None:
        log.metric("batch_loss", loss, step)
        log.metric("lr", lr, step)
        if log.progress is not None:
            log.progress.update(1)
        if ctx is not None and project_every and step % project_every == 0:
            log.record("trajectory", {"step": step, "prompt": problem.project(ctx[None])[0]})
        if ctx is not None and log.eval_every and step % log.eval_every == 0:
            # Figure 2's curves look at the test split during training; the
            # reported test_accuracy is still evaluated once, at the end.
            _, acc = problem.evaluate(ctx[None], "test")
            log.metric("curve_test_accuracy", acc.item(), step)
    return on_step
