"""parse_templates on real-looking replies (GPT, Llama-2 chat, Qwen styles)."""

import pytest

from maao.llm import Dropped, ParsedReply, parse_templates

# (id, reply, expected candidates, expected drop reasons (substrings, in order))
CASES = [
    ("gpt-plain-lines",
     "a high-resolution satellite image of {}.\na top-down aerial photo of {}.\na remote sensing view of {}.",
     ["a high-resolution satellite image of {}.", "a top-down aerial photo of {}.", "a remote sensing view of {}."],
     []),
    ("gpt-numbered",
     "1. A clear satellite photo of {}.\n2. An aerial view showing {}.\n3. A remote sensing image of {}.",
     ["A clear satellite photo of {}.", "An aerial view showing {}.", "A remote sensing image of {}."], []),
    ("gpt-preamble-quotes",
     'Here are three new templates:\n\n1. "a detailed satellite view of {}."\n2. "an overhead image of {}."\n'
     '3. "a crisp aerial photograph of {}."',
     ["a detailed satellite view of {}.", "an overhead image of {}.", "a crisp aerial photograph of {}."],
     ["preamble"]),
    ("gpt4-template-labels",
     "Template 1: a sharp satellite capture of {}.\nTemplate 2: a high-altitude photo of {}.\n"
     "Template 3: an orbital image of {}.",
     ["a sharp satellite capture of {}.", "a high-altitude photo of {}.", "an orbital image of {}."], []),
    ("gpt-bold-markdown",
     "**1. A vivid satellite image of {}.**\n**2. A precise aerial snapshot of {}.**\n"
     "**3. A clear top view of {}.**",
     ["A vivid satellite image of {}.", "A precise aerial snapshot of {}.", "A clear top view of {}."], []),
    ("gpt-bold-label",
     "- **Template 1:** a centered satellite photo of {}.\n- **Template 2:** an aerial close-up of {}.",
     ["a centered satellite photo of {}.", "an aerial close-up of {}."], []),
    ("gpt-explanations-after-dash",
     '1. "A detailed satellite photo of {}." - This emphasizes fine detail.\n'
     '2. "An aerial view of {} terrain." – Focuses on terrain.\n'
     "3. A top-down photo of {}. - highlights the viewpoint",
     ["A detailed satellite photo of {}.", "An aerial view of {} terrain.", "A top-down photo of {}."], []),
    ("gpt-echo-with-scores",
     "Templates: a centered satellite photo of {}.\nLoss: 1.96\nAccuracy: 30.0\n\n"
     "New templates:\n- a sharp aerial image of {}.\n- an overhead photo of {}.",
     ["a centered satellite photo of {}.", "a sharp aerial image of {}.", "an overhead photo of {}."],
     ["score", "score", "preamble"]),
    ("gpt-inline-score",
     "1. a satellite photo of {}. (Loss: 1.80, Accuracy: 55.0)\n2. an aerial image of {}.",
     ["an aerial image of {}."], ["score"]),
    ("gpt-trailing-commentary",
     "a crisp satellite image of {}.\nan aerial photograph of {}.\na top view of {}.\n\n"
     "These templates emphasize the satellite perspective, which should help CLIP.",
     ["a crisp satellite image of {}.", "an aerial photograph of {}.", "a top view of {}."], ["commentary"]),
    ("gpt-classname-placeholder",
     "1. a satellite photo of {classname}.\n2. an aerial image of {class_name}.\n3. a photo of {CLASS}.",
     ["a satellite photo of {}.", "an aerial image of {}.", "a photo of {}."], []),
    ("gpt-bracket-placeholders",
     "- a satellite photo of [CLASS].\n- an aerial view of <class>.\n- a picture of a [classname] from space.",
     ["a satellite photo of {}.", "an aerial view of {}.", "a picture of a {} from space."], []),
    ("gpt-no-placeholder-like-paper",
     "1. a precise satellite view of\n2. a centered aerial photo of\n3. a crisp remote sensing image of",
     ["a precise satellite view of", "a centered aerial photo of", "a crisp remote sensing image of"], []),
    ("gpt-duplicates",
     "a photo of {}.\nA Photo of {}.\na  photo of {}.\nan image of {}.",
     ["a photo of {}.", "an image of {}."], ["duplicate", "duplicate"]),
    ("gpt-too-long",
     "a satellite photo of {}.\nan extremely detailed high resolution multi spectral satellite image "
     "showing the land use category of {} from orbit.",
     ["a satellite photo of {}."], ["too long"]),
    ("gpt-refusal",
     "I'm sorry, but I can't assist with that request.",
     [], ["refusal"]),
    ("as-an-ai-refusal",
     "As an AI language model, I cannot guarantee lower loss. However:\n1. a clear photo of {}.",
     ["a clear photo of {}."], ["refusal"]),
    ("llama2-sure-inline-numbering",
     "Sure! Here are three new templates that may have better performance: 1. A satellite image of {}. "
     "2. An aerial photograph of {}. 3. A bird's-eye view of {}.",
     ["A satellite image of {}.", "An aerial photograph of {}.", "A bird's-eye view of {}."], ["preamble"]),
    ("llama2-chatty",
     "  Sure, I'd be happy to help! Based on the patterns in the templates you provided, here are three "
     "new templates that could potentially have better image classification performance:\n\n"
     "1. \"A high-quality satellite image of {}.\"\n2. \"A detailed aerial photograph of {}.\"\n"
     "3. \"A clear, high-resolution image of {}.\"\n\n"
     "I hope these templates help you achieve better results! Let me know if you have any other questions.",
     ["A high-quality satellite image of {}.", "A detailed aerial photograph of {}.",
      "A clear, high-resolution image of {}."],
     ["preamble", "commentary"]),
    ("llama2-echoes-instruction",
     "Templates: a crisp high - definition image of\nLoss: 1.85\nAccuracy: 50.0\n\n"
     "Proposed templates:\n1. a vivid satellite picture of {}\n2. a sharp overhead shot of {}",
     ["a crisp high - definition image of", "a vivid satellite picture of {}", "a sharp overhead shot of {}"],
     ["score", "score", "preamble"]),
    ("llama2-parenthesised-numbers",
     "(1) a satellite view of {}\n(2) an aerial photo of {}\n(3) a remote image of {}",
     ["a satellite view of {}", "an aerial photo of {}", "a remote image of {}"], []),
    ("llama2-bullets-unicode",
     "• a satellite view of {}.\n• an aerial photo of {}.\n* a remote image of {}.",
     ["a satellite view of {}.", "an aerial photo of {}.", "a remote image of {}."], []),
    ("llama2-note",
     "1. a clear image of {}.\n2. a photo of {}, seen from above.\n\nNote: I have kept every template under 10 words.",
     ["a clear image of {}.", "a photo of {}, seen from above."], ["commentary"]),
    ("qwen-code-fence",
     "```\na satellite photo of {}.\nan aerial view of {}.\na top-down image of {}.\n```",
     ["a satellite photo of {}.", "an aerial view of {}.", "a top-down image of {}."],
     ["code fence", "code fence"]),
    ("qwen-backticks",
     "1. `a satellite photo of {}.`\n2. `an aerial view of {}.`\n3. `a remote sensing image of {}.`",
     ["a satellite photo of {}.", "an aerial view of {}.", "a remote sensing image of {}."], []),
    ("qwen-json-list",
     '```json\n["a satellite photo of {}.", "an aerial image of {}.", "a photo of a {} from above."]\n```',
     ["a satellite photo of {}.", "an aerial image of {}.", "a photo of a {} from above."], []),
    ("qwen-json-object",
     '{"templates": ["an image of {}.", "a detailed view of {}."]}',
     ["an image of {}.", "a detailed view of {}."], []),
    ("qwen-observed-style",
     "Here are three templates:\n1. an image of {}.\n2. a detailed view of {}.\n3. a photo of the {}.",
     ["an image of {}.", "a detailed view of {}.", "a photo of the {}."], ["preamble"]),
    ("qwen-heading",
     "### New Templates\n\n1. **a satellite photo of {}.**\n2. **an aerial view of {}.**",
     ["a satellite photo of {}.", "an aerial view of {}."], ["heading"]),
    ("qwen-think-block",
     "<think>The templates with satellite in them do best. Loss: 1.8</think>\n1. a satellite view of {}.",
     ["a satellite view of {}."], []),
    ("windows-newlines-and-10",
     "9. a photo of {} number nine.\r\n10. a photo of {} number ten.\r\n",
     ["a photo of {} number nine.", "a photo of {} number ten."], []),
    ("too-short-and-punctuation",
     "1. {}\n2. ...\n3. a photo of {}.\n4. ab",
     ["a photo of {}."], ["no words", "no words", "too short"]),
    ("two-placeholders",
     "a photo of {} next to {}.\na photo of {}.",
     ["a photo of {}."], ["more than one"]),
    ("empty-reply", "", [], []),
    ("whitespace-reply", "   \n\n  \n", [], []),
    ("nlu-templates",
     "1. This news article is about {}.\n2. Topic: {}.\n3. A {} news story.",
     ["This news article is about {}.", "Topic: {}.", "A {} news story."], []),
]


@pytest.mark.parametrize("reply, expected, reasons", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_table(reply, expected, reasons):
    parsed = parse_templates(reply, max_words=12)
    assert parsed.candidates == expected
    got = [d.reason for d in parsed.dropped]
    assert len(got) == len(reasons), got
    for want, have in zip(reasons, got):
        assert want in have, (want, have)


def test_at_least_25_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["a photo of {}"], "\x00\x01", "{" * 10000, "1. " * 5000])
def test_never_raises(bad):
    out = parse_templates(bad)
    assert isinstance(out, ParsedReply)


def test_max_words_and_min_chars_are_parameters():
    assert parse_templates("a b c d e f", max_words=5).dropped[0].reason.startswith("too long")
    assert parse_templates("a b c d e", max_words=5).candidates == ["a b c d e"]
    assert parse_templates("abc", min_chars=4).candidates == []
    assert parse_templates("abcd", min_chars=4).candidates == ["abcd"]


def test_dropped_is_line_and_reason():
    d = parse_templates("Sure!").dropped[0]
    assert d == Dropped("Sure!", d.reason) and d.reason


def test_known_templates_are_dropped():
    out = parse_templates("1. A centered satellite photo of {}.\n2. a new view of {}.",
                          known=["a centered satellite photo of {classname}."])
    assert out.candidates == ["a new view of {}."] and out.dropped[0].reason == "already known"


@pytest.mark.parametrize("line", ["great satellite view of {}.", "sure shot of a {}.", "note card showing {}."])
def test_chatter_words_can_start_templates(line):
    assert parse_templates(line).candidates == [line]
