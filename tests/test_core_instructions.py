"""The LLM instruction (paper Fig. 3 gpt style, Fig. 5 llama2 style) and its TD/MP/OT parts."""
from __future__ import annotations

import pytest

from maao.instructions import InstructionSettings, ScoredTemplate, build_messages

TRAJ = [ScoredTemplate("a photo of", 1.234, 40.0),
        ScoredTemplate("sat image from", 2.5, 20.0),
        ScoredTemplate("view showing", 0.456, 75.04)]
MANUAL = ScoredTemplate("a centered satellite photo of {}.", 0.9, 55.5)
TASK = "satellite image classification"


def _user(settings, trajectory=TRAJ, manual=MANUAL):
    messages = build_messages(settings, TASK, "CLIP", trajectory, manual)
    return messages, messages[-1]["content"]


def test_gpt_style_matches_fig3():
    messages, text = _user(InstructionSettings())
    assert [m["role"] for m in messages] == ["user"]
    assert "Hi GPT, assume you are a prompt pattern learner." in text
    assert f"They are used for {TASK} with CLIP model." in text
    assert "descending order based on their loss value" in text
    assert "- Please reply with only the template" in text
    assert "- Keep every template under 10 words" in text
    assert f"- Generate 3 templates that potentially have better {TASK} performance" in text
    # scores: loss to two decimals, accuracy to one
    assert "Templates: a photo of\nLoss: 1.23\nAccuracy: 40.0" in text
    assert "Templates: view showing\nLoss: 0.46\nAccuracy: 75.0" in text
    assert "Templates: a centered satellite photo of {}.\nLoss: 0.90\nAccuracy: 55.5" in text


def test_templates_in_descending_loss():
    _, text = _user(InstructionSettings())
    order = [text.index(f"Templates: {t}\n") for t in
             ("sat image from", "a photo of", "a centered satellite photo of {}.", "view showing")]
    assert order == sorted(order)                       # 2.5, 1.23, 0.9, 0.46: worst first, best last
    assert text.index("prompt pattern learner") < order[0]
    assert text.index("Keep every template") > order[-1]


def test_n_templates_and_word_limit_settings():
    _, text = _user(InstructionSettings(n_templates=5, max_words=12))
    assert "Keep every template under 12 words" in text and "Generate 5 templates" in text
    assert InstructionSettings().word_limit == 10
    assert InstructionSettings(style="llama2").word_limit == 8
    with pytest.raises(ValueError, match="style"):
        InstructionSettings(style="claude")


@pytest.mark.parametrize("style", ["gpt", "llama2"])
def test_switches_remove_exactly_their_part(style):
    full = _user(InstructionSettings(style=style))[1]

    no_td = _user(InstructionSettings(style=style, task_definition=False))[1]
    assert "descending order based on their loss" in full
    assert "descending order based on their loss" not in no_td
    assert ("prompt pattern learner" in no_td) is False
    for t in TRAJ + [MANUAL]:
        assert f"Templates: {t.text}\n" in no_td
    assert "Keep every template under" in no_td and "Generate 3 templates" in no_td

    no_mp = _user(InstructionSettings(style=style, manual_prompt=False))[1]
    assert "a centered satellite photo of {}." not in no_mp
    assert all(f"Templates: {t.text}\n" in no_mp for t in TRAJ)
    manual_entry = "Templates: a centered satellite photo of {}.\nLoss: 0.90\nAccuracy: 55.5"
    assert no_mp.replace("\n\n", "") == full.replace(manual_entry, "").replace("\n\n", "")

    no_ot = _user(InstructionSettings(style=style, trajectory=False))[1]
    assert not any(f"Templates: {t.text}\n" in no_ot for t in TRAJ)
    assert "Templates: a centered satellite photo of {}.\n" in no_ot
    assert no_ot.count("Templates: ") == 1

    assert no_td.count("Templates: ") == no_mp.count("Templates: ") + 1 == 4
    # a missing manual prompt is the same as switching MP off
    assert _user(InstructionSettings(style=style), manual=None)[1] == no_mp


def test_llama2_style_matches_fig5():
    messages, text = _user(InstructionSettings(style="llama2"))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "helpful, respectful, and honest assistant" in messages[0]["content"]
    assert "Keep every template under 8 words." in text
    assert "do not reply the loss and accuracy" in text
    assert "Generate 3 templates" in text
    assert "Hi GPT" not in text
    order = [text.index(f"Templates: {t}\n") for t in ("sat image from", "a photo of", "view showing")]
    assert order == sorted(order)
