"""LLM-based optimization only (Liu et al. 2023a style), no gradient steps.

Templates are scored zero-shot (hard prompts "... {} ...") on the few-shot
training set. Each iteration shows the LLM the best and the worst templates
found so far, without scores, and asks for new ones; the two lists never share
a template (see good_and_bad). By default it gets the
same number of LLM calls as the combined method (iterations = N) with the same
number of proposals per call (3); Liu et al. used 10 iterations of one template.
The final prompt is the best template by training accuracy, then loss.
Replies are parsed with maao.llm.parse_templates (a named slot such as
"{regions}" becomes "{}"); "under max_words words" allows max_words - 1 words,
not counting the class slot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from maao.llm import parse_templates
from maao.contract import Method, MethodResult, RunContext


@dataclass(frozen=True)
class LLMOnlySettings:
    iterations: int | None = None       # None: the budget's rounds N
    proposals_per_iteration: int = 3
    show_best: int = 3
    show_worst: int = 3
    max_words: int = 15
    initial_templates: tuple[str, ...] = ("{}.",)  # plus the dataset's own template

    def __post_init__(self):
        if self.iterations is not None and self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if self.max_words < 2:
            raise ValueError("max_words must be >= 2 (templates are kept under max_words words)")


def good_and_bad(ranked: list[str], show_best: int, show_worst: int) -> tuple[list[str], list[str]]:
    """Disjoint lists from a pool ranked best first: good = the first min(show_best, ceil(n/2)),
    bad = the last min(show_worst, n - len(good)), worst first."""
    n_good = min(show_best, math.ceil(len(ranked) / 2))
    n_bad = min(show_worst, len(ranked) - n_good)
    return ranked[:n_good], ranked[::-1][:n_bad]


def liu_messages(task: str, model_name: str, best: list[str], worst: list[str], n: int,
                 max_words: int) -> list[dict]:
    """An empty list's section ("Templates that work well/poorly") is left out."""
    sections = "".join(f"Templates that work {how}:\n" + "\n".join(f"- {t}" for t in shown) + "\n\n"
                       for how, shown in (("well", best), ("poorly", worst)) if shown)
    text = (f"Hi, I am looking for text templates for {task} with {model_name} model. "
            f"Each template contains {{}} where the class name goes.\n\n"
            f"{sections}"
            f"Write {n} new templates that are different from all of the above and likely to work "
            f"better. Keep every template under {max_words} words, include {{}} in each, and "
            f"start each line with \"- \".")
    return [{"role": "user", "content": text}]


class LLMOnly(Method):
    name = "llm_only"
    uses_llm = True
    Settings = LLMOnlySettings

    def run(self, ctx: RunContext) -> MethodResult:
        s, problem = self.settings, ctx.problem
        pool: dict[str, tuple[float, float]] = {}

        def add(templates):
            new = [t for t in dict.fromkeys(templates) if t not in pool]
            if new:
                losses, accs = problem.evaluate_templates(new)
                pool.update({t: (l, a) for t, l, a in zip(new, losses.tolist(), accs.tolist())})
            return new

        def ranked():  # best first: accuracy, then loss, then text for determinism
            return sorted(pool, key=lambda t: (-pool[t][1], pool[t][0], t))

        add([problem.dataset.template, *s.initial_templates])
        iterations = ctx.budget.rounds if s.iterations is None else s.iterations
        for it in range(iterations):
            good, bad = good_and_bad(ranked(), s.show_best, s.show_worst)
            messages = liu_messages(ctx.task, ctx.target_model, good, bad,
                                    s.proposals_per_iteration, s.max_words)
            reply = ctx.llm.complete(messages, sample_index=0, position=(ctx.run_key, it))
            parsed = parse_templates(reply.text, max_words=s.max_words - 1)  # "under max_words words"
            proposals = [t if "{}" in t else f"{t} {{}}"
                         for t in parsed.candidates[:s.proposals_per_iteration]]
            new = add(proposals)
            if not new:
                ctx.log.count("llm_fallbacks")
            best = ranked()[0]
            ctx.log.metric("best_train_accuracy", pool[best][1], it)
            ctx.log.record("rounds", {"iteration": it, "reply": reply.text, "key": reply.key,
                                      "proposals": {t: pool[t] for t in proposals if t in pool},
                                      "dropped": [vars(d) for d in parsed.dropped], "best": best})
        ctx.log.counters.setdefault("llm_fallbacks", 0)
        return MethodResult(template=ranked()[0])
