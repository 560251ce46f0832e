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
    # Issue 9 item 2: junk that used to become a restart point.
    ("named-placeholders-are-the-class-slot",
     "1. a news article about {topic}.\n2. a { reply } to a post.\n3. a satellite image of {regions}\n"
     "4. a user {intent} request\n5. a {category_name} item\n6. a {Class-Name 2} photo",
     ["a news article about {}.", "a {} to a post.", "a satellite image of {}", "a user {} request",
      "a {} item", "a {} photo"], []),
    ("two-placeholders-of-any-kind",
     "a {topic} article about {reply}.\na photo of {} in {place}.\na photo of [CLASS] next to {}.\n"
     "a {class name, plural} photo.\nan image of {}.",
     ["an image of {}."], ["more than one placeholder", "more than one placeholder", "more than one placeholder",
                           "unrecognised placeholder"]),
    ("brackets-with-other-words-stay-text",
     "a satellite photo of [region] showing {}.", ["a satellite photo of [region] showing {}."], []),
    ("control-characters-and-ansi",
     "1. a photo\x00 of {}.\n2. \x1b[31ma red image of {}\x1b[0m\n3. an aerial\x85 view\x7f of {}\x07",
     ["a photo of {}.", "a red image of {}", "an aerial view of {}"], []),
    ("html-like-tags",
     "<INS>a photo of {}</INS>\n<template>an image of {}.</template>\n- a <b>bold</b> view of {}\n"
     "<template>\na sketch of {}\n</template>\na painting of <class>.",
     ["a photo of {}", "an image of {}.", "a bold view of {}", "a sketch of {}", "a painting of {}."], []),
    ("trailing-parenthetical-commentary",
     "1. a photo of {}. (This emphasizes the viewpoint.)\n2. an image of {} (emphasizes texture)\n"
     "3. a shot of {}. (more specific)\n4. a view of {} (a) (b).\n5. a sketch (of {})",
     ["a photo of {}.", "an image of {}", "a shot of {}.", "a view of {}", "a sketch (of {})"], []),
    ("qwen-think-without-opening-tag",
     "The satellite ones do best.\nLoss: 1.8\n</think>\n\n1. a satellite view of {}.",
     ["a satellite view of {}."], []),
    ("think-cut-off",
     "1. a satellite view of {}.\n<think>maybe a photo of {} would",
     ["a satellite view of {}."], []),
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


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["a photo of {}"], "\x00\x01", "{" * 10000, "1. " * 5000,
                                 "(" * 5000 + "a {}", "<a " * 3000, "\x1b[" * 3000, "a {} " + "(x) " * 2000])
def test_never_raises(bad):
    out = parse_templates(bad)
    assert isinstance(out, ParsedReply)


def test_max_words_and_min_chars_are_parameters():
    assert parse_templates("a b c d e f", max_words=5).dropped[0].reason.startswith("too long")
    assert parse_templates("a b c d e", max_words=5).candidates == ["a b c d e"]
    assert parse_templates("abc", min_chars=4).candidates == []
    assert parse_templates("abcd", min_chars=4).candidates == ["abcd"]


def test_word_limit_does_not_count_the_class_slot():
    # "under 4 words" -> max_words=3: the class name fills "{}", punctuation is no word
    assert parse_templates("a photo of {}.", max_words=3).candidates == ["a photo of {}."]
    assert parse_templates("a {}'s photo", max_words=2).candidates == ["a {}'s photo"]
    assert parse_templates("a - photo of {}", max_words=3).candidates == ["a - photo of {}"]
    out = parse_templates("a nice photo of {}.", max_words=3)
    assert out.candidates == [] and out.dropped[0].reason == "too long (4 words > 3)"


def test_json_items_are_cleaned():
    out = parse_templates('["a photo of {topic}.", "<b>an</b> image of {}\\u0000."]')
    assert out.candidates == ["a photo of {}.", "an image of {}."]


def test_named_placeholder_matches_known():
    out = parse_templates("a photo of {}.\nan image of {topic}.", known=["a photo of {regions}.", "an image of {}."])
    assert out.candidates == [] and [d.reason for d in out.dropped] == ["already known"] * 2


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
