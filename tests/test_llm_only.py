"""LLM-only search (baselines/llm_only.py) with a fake problem and a recorded-text LLM double;
the reply parser is the real one."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from baselines.llm_only import LLMOnly, LLMOnlySettings, good_and_bad, liu_messages
from maao.methods import Budget, RunContext, RunLog


class FakeProblem:
    """Scores a template by a fixed table (unknown templates: accuracy 10)."""

    def __init__(self, scores: dict[str, float], template="a {} reply."):
        self.scores = scores
        self.dataset = SimpleNamespace(template=template, task="intent recognition")
        self.evaluated: list[str] = []

    def evaluate_templates(self, templates):
        self.evaluated += templates
        accs = [self.scores.get(t, 10.0) for t in templates]
        return torch.tensor([100.0 - a for a in accs]), torch.tensor(accs)


class RecordedLLM:
    """Returns recorded reply texts in order and keeps the messages it was sent."""

    def __init__(self, replies: list[str]):
        self.replies, self.sent = list(replies), []

    def complete(self, messages, sample_index=0, position=None):
        self.sent.append(messages[0]["content"])
        return SimpleNamespace(text=self.replies[len(self.sent) - 1], key=f"k{len(self.sent)}")


def _run(problem, replies, **settings):
    llm = RecordedLLM(replies)
    ctx = RunContext(problem=problem, gradient=None, budget=Budget(rounds=len(replies)),
                     generator=torch.Generator(), log=RunLog(), run_key="run", llm=llm)
    return LLMOnly(LLMOnlySettings(**settings)).run(ctx), ctx.log, llm


def _sections(message: str) -> tuple[list[str], list[str]]:
    def listed(title):
        if title not in message:
            return []
        block = message.split(title, 1)[1].split("\n\n", 1)[0]
        return [line[2:] for line in block.strip().split("\n")]
    return listed("Templates that work well:"), listed("Templates that work poorly:")


@pytest.mark.parametrize("n, n_good, n_bad", [(1, 1, 0), (2, 1, 1), (3, 2, 1), (6, 3, 3), (9, 3, 3)])
def test_good_and_bad_are_disjoint(n, n_good, n_bad):
    ranked = [f"t{i} {{}}" for i in range(n)]        # best first
    good, bad = good_and_bad(ranked, 3, 3)
    assert good == ranked[:n_good]
    assert bad == ranked[::-1][:n_bad]               # the worst ones, worst first
    assert not set(good) & set(bad)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_message_never_shows_a_template_as_good_and_bad(n):
    ranked = [f"t{i} {{}}" for i in range(n)]
    good, bad = good_and_bad(ranked, 3, 3)
    text = liu_messages("task", "CLIP", good, bad, 3, 10)[0]["content"]
    shown_good, shown_bad = _sections(text)
    assert (shown_good, shown_bad) == (good, bad)
    assert ("Templates that work poorly" in text) == (n > 1)


def test_six_templates_message_is_unchanged():
    text = liu_messages("task", "CLIP", ["a", "b", "c"], ["f", "e", "d"], 3, 15)[0]["content"]
    assert ("Templates that work well:\n- a\n- b\n- c\n\nTemplates that work poorly:\n- f\n- e\n- d\n\n"
            "Write 3 new templates") in text


def test_run_with_a_small_pool_shows_disjoint_lists():
    problem = FakeProblem({"a {} reply.": 50.0, "{}.": 20.0, "a request to {}.": 60.0})
    _, log, llm = _run(problem, ["- a request to {}.", "- a message asking to {}."])
    first_good, first_bad = _sections(llm.sent[0])                 # pool of 2
    assert (first_good, first_bad) == (["a {} reply."], ["{}."])
    second_good, second_bad = _sections(llm.sent[1])               # pool of 3
    assert (second_good, second_bad) == (["a request to {}.", "a {} reply."], ["{}."])


def test_single_template_pool_omits_the_poor_section():
    problem = FakeProblem({}, template="{}.")                     # dataset template == initial one
    _, _, llm = _run(problem, ["- a photo of {}."])
    assert "Templates that work well:\n- {}.\n\nWrite" in llm.sent[0]
    assert "poorly" not in llm.sent[0]


def test_named_placeholder_becomes_the_class_slot():
    problem = FakeProblem({"a satellite image of {}.": 90.0})
    result, log, _ = _run(problem, ["- a satellite image of {regions}.\n- an aerial photo of { topic }"])
    assert "a satellite image of {}." in problem.evaluated and "an aerial photo of {}" in problem.evaluated
    assert not any("{regions}" in t or "topic" in t for t in problem.evaluated)
    assert result.template == "a satellite image of {}."
    assert list(log.records["rounds"][0]["proposals"]) == ["a satellite image of {}.", "an aerial photo of {}"]


def test_word_limit_is_under_max_words():
    # "under 5 words" -> at most 4 words besides the class slot
    reply = "- one two three four {}.\n- one two three four five {}."
    _, log, llm = _run(FakeProblem({}), [reply], max_words=5)
    assert "under 5 words" in llm.sent[0]
    (entry,) = log.records["rounds"]
    assert list(entry["proposals"]) == ["one two three four {}."]
    assert [d["reason"] for d in entry["dropped"]] == ["too long (5 words > 4)"]


def test_max_words_must_leave_room():
    with pytest.raises(ValueError):
        LLMOnlySettings(max_words=1)
