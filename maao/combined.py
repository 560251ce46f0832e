"""Algorithm 1 of the paper: gradient descent with an LLM as a second optimizer.

N rounds of: m gradient steps recording the trajectory; project every recorded
prompt to tokens (V^-1); score the discrete prompts on the few-shot training
set; show the top-k (and the manual prompt) to the LLM; score its proposals and
restart gradient descent from the best one. Then M steps to convergence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .gradient import GradientDescent, logging_callback
from .instructions import InstructionSettings, ScoredTemplate, build_messages
from .contract import Method, MethodResult, RunContext


@dataclass(frozen=True)
class CombinedSettings:
    top_k: int = 5                  # projected trajectory prompts shown to the LLM
    # Which proposal restarts: "best" = lowest training loss of all parsed
    # proposals (the paper's intent); "first" = the reference code's choice.
    restart: str = "best"
    # If the LLM gives nothing usable: restart from the best projected
    # trajectory prompt ("best_trajectory") or continue unchanged ("continue").
    fallback: str = "best_trajectory"
    instruction: InstructionSettings = field(default_factory=InstructionSettings)
    # How the manual-prompt (MP) line is scored. "learner": every round, at the
    # moment the trajectory prompts are scored and by the same model
    # (PromptProblem.score_templates_as_learner: TCP through its meta-net as
    # trained then; CoOp: the template's own text, decision 19).
    # "before_training": once, before any step, by problem.evaluate_templates
    # (zero-shot for CoOp and TCP, the fresh head for the LM learner): the rule
    # up to issue 19, which showed TCP's MP line scored without the meta-net
    # the other lines are scored through (docs/decisions.md #57).
    manual_prompt_scoring: str = "learner"

    def __post_init__(self):
        if isinstance(self.instruction, dict):
            object.__setattr__(self, "instruction", InstructionSettings(**self.instruction))
        if self.restart not in ("best", "first"):
            raise ValueError(f"restart must be 'best' or 'first', got {self.restart!r}")
        if self.fallback not in ("best_trajectory", "continue"):
            raise ValueError(f"unknown fallback {self.fallback!r}")
        if self.top_k <= 0:
            raise ValueError("top_k must be positive")
        if self.manual_prompt_scoring not in ("learner", "before_training"):
            raise ValueError(f"manual_prompt_scoring must be 'learner' or 'before_training', "
                             f"got {self.manual_prompt_scoring!r}")


def score_trajectory(problem, trajectory: list[torch.Tensor]):
    """Project every recorded prompt, dedupe, and score all in one batch."""
    ids = problem.project_ids(torch.stack(trajectory))          # [m, n_ctx]
    unique, seen = [], set()
    for row in ids.tolist():
        if tuple(row) not in seen:
            seen.add(tuple(row))
            unique.append(row)
    unique_ids = torch.tensor(unique)
    losses, accs = problem.evaluate(problem.embed_ids(unique_ids))
    texts = [problem.backbone.decode(row) for row in unique]
    return unique_ids, [ScoredTemplate(t, l, a) for t, l, a in
                        zip(texts, losses.tolist(), accs.tolist())]


def score_templates_as_context(problem, templates: list[str]):
    """Loss/acc of templates used as the soft context they would restart from."""
    ctxs = torch.stack([problem.embed_template(t) for t in templates])
    losses, accs = problem.evaluate(ctxs)
    return ctxs, [ScoredTemplate(t, l, a) for t, l, a in zip(templates, losses.tolist(), accs.tolist())]


def score_manual_prompt(problem, as_learner: bool = False) -> ScoredTemplate:
    """The dataset's hand-written template on the MP line. `as_learner`: scored
    as the learner scores the other lines shown with it (its trained parts as
    they are now); otherwise by problem.evaluate_templates (the rule before
    issue 19: zero-shot for CoOp and TCP)."""
    template = problem.dataset.template
    score = problem.score_templates_as_learner if as_learner else problem.evaluate_templates
    (loss,), (acc,) = score([template])
    return ScoredTemplate(template, loss.item(), acc.item())


class Combined(Method):
    name = "combined"
    uses_llm = True
    Settings = CombinedSettings

    def run(self, ctx: RunContext) -> MethodResult:
        from .llm import parse_templates  # the LLM layer is only needed here
        from .round_health import log_round_health
        from .llm.format_stats import format_stats

        s, problem, log = self.settings, ctx.problem, ctx.log
        gd = GradientDescent(problem, ctx.gradient, ctx.budget.total_steps, ctx.generator)
        gd.start(problem.init_random(ctx.generator))
        on_step = logging_callback(problem, log)
        each_round = s.manual_prompt_scoring == "learner"
        manual = None if each_round else score_manual_prompt(problem)
        for round_no in range(ctx.budget.rounds):
            trajectory = gd.run(ctx.budget.steps_per_round, on_step, record=True)
            ids, scored = score_trajectory(problem, trajectory)
            if each_round:      # same moment, same model as the trajectory prompts
                manual = score_manual_prompt(problem, as_learner=True)
            order = sorted(range(len(scored)), key=lambda i: (scored[i].loss, scored[i].text))
            top = [scored[i] for i in order[:s.top_k]]
            messages = build_messages(s.instruction, ctx.task, ctx.target_model, top, manual)
            reply = ctx.llm.complete(messages, sample_index=0, position=(ctx.run_key, round_no))
            # "under N words": at most N - 1 words besides the class slot.
            parsed = parse_templates(reply.text, max_words=s.instruction.word_limit - 1)
            proposals = parsed.candidates[:s.instruction.n_templates]
            entry = {"round": round_no, "step": gd.step, "trajectory": [vars(t) for t in scored],
                     "shown": [vars(t) for t in top], "manual": vars(manual),
                     "reply": reply.text, "key": reply.key,
                     "dropped": [vars(d) for d in parsed.dropped]}
            if proposals:
                cand_ctx, cand = score_templates_as_context(problem, proposals)
                pick = 0 if s.restart == "first" else min(range(len(cand)), key=lambda i: cand[i].loss)
                gd.start(cand_ctx[pick])
                entry.update(proposals=[vars(c) for c in cand], restart_from=cand[pick].text,
                             fallback=False)
                log.metric("round_restart_loss", cand[pick].loss, gd.step)
            else:
                log.count("llm_fallbacks")
                entry.update(proposals=[], fallback=True)
                if s.fallback == "best_trajectory":
                    gd.start(problem.embed_ids(ids[order[0]]))
                    entry["restart_from"] = scored[order[0]].text
            log.metric("round_best_trajectory_loss", top[0].loss, gd.step)
            log.record("rounds", entry)
        log_round_health(log, log.records.get("rounds", []))
        gd.run(ctx.budget.final_steps, on_step)
        log.counters.setdefault("llm_fallbacks", 0)
        log.counters.update(format_stats(log.records.get("rounds", []), ctx.llm.transcript))
        return gd.result()
