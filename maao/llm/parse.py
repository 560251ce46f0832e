"""Turn an LLM's free-text reply into candidate prompt templates.

The instruction (paper Fig. 3 / Fig. 5) asks for "only the template", but
models add preambles, numbering, markdown, quotes, echoed "Loss:" lines and
explanations (the paper notes Llama-2 needs "proper post-processing"). This
parser keeps what looks like a template and says why everything else was
dropped. It never raises: a reply that cannot be parsed yields no candidates
and a Dropped entry with the reason.

Normalised (the cleaned text is then parsed as usual):
- control characters (C0/C1, DEL) and ANSI escape sequences are removed;
- <think>...</think> blocks are removed, as is everything before a lone
  "</think>" and everything after an unclosed "<think>";
- HTML/XML-like tags ("<INS>", "</template>", "<b>") are removed and their
  inner text kept; "<class>", "<label>", "<name>" ... are placeholders, not tags;
- the class slot: a known placeholder ({classname}, [CLASS], <label>, {0} ...)
  or any single {word}, {word word}, {word_word} (letters, digits, spaces, _
  or -), e.g. "{topic}", "{regions}", becomes "{}";
- a trailing parenthetical group ("a photo of {}. (This emphasizes ...)") is
  removed, unless it holds the class slot; so is " - explanation" after a
  template.

Dropped with a reason: more than one placeholder of any kind ("more than one
placeholder"), a {...} that is not a class slot ("unrecognised placeholder"),
and a template with more than max_words words ("too long (...)"). Words are
whitespace-separated tokens with a letter or digit, not counting the token that
holds "{}" (the class name fills it): "a photo of {}." has 3 words. For an
instruction that says "under N words" pass max_words=N-1.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dropped:
    line: str
    reason: str


@dataclass
class ParsedReply:
    candidates: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


# Placeholders models write for the class name -> "{}" (what str.format uses).
_PLACEHOLDER = re.compile(
    r"[\{\[<]\s*(?:class(?:[\s_-]?names?)?|cls|labels?|category(?:[\s_-]?name)?|"
    r"object(?:[\s_-]?name)?|name|0)?\s*[\}\]>]",
    re.IGNORECASE,
)
# Any other single named slot "{topic}", "{ reply }", "{category_name}" is the class slot too.
_NAMED_SLOT = re.compile(r"\{\s*\w[\w \-]*\}")
_ANY_BRACES = re.compile(r"\{[^{}]*\}")
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>{}]*)?/?>")

_FENCE = re.compile(r"^\s*(```|~~~)")
_BULLET = re.compile(r"^(?:[-*•·‣◦▪►+]\s+|[•·‣◦▪►]\s*)")
_NUMBER = re.compile(r"^(?:\(\s*\d{1,3}\s*\)|\d{1,3}\s*[.):\]](?!\d))\s*")
_LABEL = re.compile(
    r"^(?:new\s+|proposed\s+|improved\s+|generated\s+|suggested\s+)?"
    r"(?:templates?|prompts?|options?|candidates?)\s*#?\s*\d{0,3}\s*[:.)\-–—]\s+",
    re.IGNORECASE,
)
_INLINE_NUMBER = re.compile(r"(?:(?<=\s)|^)\(?\d{1,2}[.)]\s+")
_SCORE = re.compile(r"\b(?:loss|accuracy|acc|score)\s*[:=]", re.IGNORECASE)
_REFUSAL = re.compile(
    r"^(?:i'?m sorry|i am sorry|sorry[,!.]|as an ai\b|as a language model|i cannot\b|i can't\b|"
    r"i can not\b|i'?m unable|i am unable|i'?m not able|unfortunately\b)",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    # Words that could start a template ("great", "sure", "note") only count
    # as chatter when followed by punctuation.
    r"^(?:here(?:'s| is| are)\b|(?:sure|certainly|okay|ok|of course|absolutely|great|alright)\s*[,!.]|"
    r"based on\b|these (?:templates|prompts|new)\b|this (?:template|prompt)\b|i hope\b|hope this\b|"
    r"let me\b|note\s*[:,]|note that\b|explanation\b|the following\b|the above\b|"
    r"the (?:new|proposed|improved) (?:templates|prompts)\b|below are\b|i've\b|i'd\b|i would\b|"
    r"i have\b|in summary\b|to summarize\b|feel free\b|remember[,:]|these should\b|each of these\b)",
    re.IGNORECASE,
)
# " - emphasizes ..." after a template is an explanation, not part of it.
_EXPLANATION = re.compile(
    r"\s+[-–—:]\s+(?:this|it|emphasi[sz]es?|emphasi[sz]ing|focus(?:es)?|highlights?|adds?|uses?|"
    r"specifies|provides?|suggests?|captures?|conveys?|indicates?|implies|more|better|includes?|"
    r"describes?|similar|shorter|simpler|clearer|combines?)\b.*$",
    re.IGNORECASE,
)
_OPEN_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’", "`": "`", "«": "»"}


def parse_templates(text: str, *, max_words: int = 12, min_chars: int = 3, known=()) -> ParsedReply:
    """Candidates (in reply order, de-duplicated case-insensitively) and dropped lines with reasons.

    known: templates already shown to the model (the instruction asks for new
    ones); a candidate equal to one of them, ignoring case and spacing, is
    dropped with reason "already known".
    """
    try:
        return _parse(text, max_words=max_words, min_chars=min_chars, known=known)
    except Exception as exc:  # never raise: a bad reply must not kill a run
        return ParsedReply([], [Dropped(str(text)[:200], f"parser error: {type(exc).__name__}: {exc}")])


def _dedup_key(s: str) -> str:
    return " ".join(_slots(s).casefold().split())


def _slots(s: str) -> str:
    """Every class-slot spelling -> "{}"."""
    return _NAMED_SLOT.sub("{}", _PLACEHOLDER.sub("{}", s))


def _clean(text: str) -> str:
    """Remove control characters, ANSI escapes, <think> blocks and tags (not placeholders)."""
    text = _CONTROL.sub("", _ANSI.sub("", text))
    if re.search(r"</think>", text, re.IGNORECASE) and not re.search(r"<think>", text, re.IGNORECASE):
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]  # template dropped the opening tag
    text = _THINK.sub("\n", text)
    return _TAG.sub(lambda m: m.group(0) if _PLACEHOLDER.fullmatch(m.group(0)) else "", text)


def _drop_trailing_parens(s: str) -> str:
    """'a photo of {}. (This emphasizes ...)' -> 'a photo of {}.' (any nesting; not a group with "{}")."""
    while (t := s.rstrip(" \t.,;:!")).endswith(")"):
        depth = 0
        for i in range(len(t) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(t[i], 0)
            if depth == 0:
                break
        if depth or "{}" in t[i:]:
            return s
        s = t[:i].rstrip()
    return s


def _count_words(s: str) -> int:
    return sum(1 for w in s.split() if "{}" not in w and re.search(r"[^\W_]", w))


def _parse(text, *, max_words: int, min_chars: int, known) -> ParsedReply:
    out = ParsedReply()
    if not isinstance(text, str):
        out.dropped.append(Dropped(repr(text)[:200], "not text"))
        return out
    text = _clean(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = _json_list(text)
    if lines is not None:
        lines = [_clean(line) for line in lines]
    else:
        lines = [seg for raw in text.split("\n") for seg in _split_inline_numbering(raw)]
    seen: set[str] = set()
    known_keys = {_dedup_key(k) for k in known if isinstance(k, str)}
    for raw in lines:
        if not raw.strip():
            continue
        if _FENCE.match(raw):
            out.dropped.append(Dropped(raw.strip(), "code fence"))
            continue
        reason, cand = _classify(raw, max_words=max_words, min_chars=min_chars)
        if reason is None:
            dedup = _dedup_key(cand)
            if dedup in seen:
                reason = "duplicate"
            elif dedup in known_keys:
                reason = "already known"
            else:
                seen.add(dedup)
                out.candidates.append(cand)
                continue
        out.dropped.append(Dropped(raw.strip(), reason))
    return out


def _json_list(text: str) -> list[str] | None:
    """Replies that are a JSON list of strings (code models like that)."""
    body = "\n".join(line for line in text.strip().split("\n") if not _FENCE.match(line)).strip()
    if not body.startswith(("[", "{")):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        return data
    return None


def _split_inline_numbering(line: str) -> list[str]:
    """'1. a photo of {}. 2. a picture of {}.' -> two lines (Llama-2 does this)."""
    starts = [m.start() for m in _INLINE_NUMBER.finditer(line)]
    if len(starts) < 2 or _SCORE.search(line):
        return [line]
    bounds = starts[1:] + [len(line)]
    head = [line[: starts[0]]] if line[: starts[0]].strip() else []
    return head + [line[a:b] for a, b in zip(starts, bounds)]


def _strip_markup(s: str) -> str:
    s = re.sub(r"^#{1,6}\s*", "", s)  # markdown heading
    s = re.sub(r"^>\s*", "", s)  # block quote
    for _ in range(4):  # "- 1. **Template 2:** ..." needs several passes
        before = s
        s = _BULLET.sub("", s)
        s = _NUMBER.sub("", s)
        s = s.replace("**", "").replace("__", "").strip()
        s = _LABEL.sub("", s)
        s = s.strip()
        if s == before:
            break
    return s


def _unquote(s: str) -> str:
    """'"a photo of {}." - explanation' -> 'a photo of {}.'"""
    if s and s[0] in _OPEN_QUOTES:
        close = _OPEN_QUOTES[s[0]]
        for i in range(1, len(s)):
            if s[i] == close and (i + 1 == len(s) or s[i + 1] in " \t.,;:!)-–—"):
                inner = s[1:i].strip()
                if inner:
                    return inner
                break
    return s


def _classify(raw: str, *, max_words: int, min_chars: int) -> tuple[str | None, str]:
    """(reason to drop, or None) and the cleaned candidate."""
    if _SCORE.search(raw):
        return "contains a score (echo of the instruction)", ""
    if re.match(r"^\s*#{1,6}\s", raw):
        return "markdown heading", ""
    s = _strip_markup(raw.strip())
    if _REFUSAL.match(s):
        return "refusal", ""
    if s.endswith(":") or _CHATTER.match(s):
        return "preamble or commentary", ""
    s = _unquote(s)
    s = _EXPLANATION.sub("", s)
    s = s.replace("`", "").strip()
    s = s.strip("*_").strip()
    s = _unquote(s)
    s = s.strip("\"“”«»").strip()
    s = _slots(s)
    s = _drop_trailing_parens(s)
    s = " ".join(s.split()).rstrip(",;")
    if not s:
        return "empty after cleaning", ""
    if len(_ANY_BRACES.findall(s)) > 1:
        return "more than one placeholder", s
    if s.replace("{}", "").count("{") or s.replace("{}", "").count("}"):
        return "unrecognised placeholder", s
    if not re.search(r"[^\W\d_]", s):
        return "no words", s
    if len(s.replace("{}", "").strip(" .")) < min_chars:
        return f"too short (< {min_chars} characters)", s
    n_words = _count_words(s)
    if n_words > max_words:
        return f"too long ({n_words} words > {max_words})", s
    return None, s
