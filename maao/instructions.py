"""The instruction shown to the LLM in each round (paper Fig. 3 and Fig. 5).

Three switchable parts, as in the paper's Table 4:
- TD (task definition): the role, what the templates are for, the reply rules;
- MP (manual prompt): the dataset's hand-written template, with its score;
- OT (optimization trajectory): the top-k projected prompts with their scores.
Templates are listed in descending order of loss (worst first, best last), with
loss to two decimals and accuracy to one, as in Fig. 3.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstructionSettings:
    style: str = "gpt"              # "gpt" (Fig. 3, one user message) or "llama2" (Fig. 5)
    task_definition: bool = True    # TD
    manual_prompt: bool = True      # MP
    trajectory: bool = True         # OT
    n_templates: int = 3
    max_words: int | None = None    # None: 10 for gpt style, 8 for llama2 style (the paper's)

    def __post_init__(self):
        if self.style not in ("gpt", "llama2"):
            raise ValueError(f"unknown instruction style {self.style!r}; use 'gpt' or 'llama2'")

    @property
    def word_limit(self) -> int:
        return self.max_words or (10 if self.style == "gpt" else 8)


@dataclass(frozen=True)
class ScoredTemplate:
    text: str
    loss: float
    accuracy: float


def _list(entries: list[ScoredTemplate]) -> str:
    ordered = sorted(entries, key=lambda e: (-e.loss, e.text))
    return "\n\n".join(f"Templates: {e.text}\nLoss: {e.loss:.2f}\nAccuracy: {e.accuracy:.1f}"
                       for e in ordered)


def build_messages(settings: InstructionSettings, task: str, model_name: str,
                   trajectory: list[ScoredTemplate], manual: ScoredTemplate | None) -> list[dict]:
    """Chat messages for one LLM round. `task` e.g. "news topic classification"."""
    entries = []
    if settings.trajectory:
        entries += trajectory
    if settings.manual_prompt and manual is not None:
        entries.append(manual)
    listing = _list(entries)
    n, words = settings.n_templates, settings.word_limit
    about = (f"I have a list of text templates with their corresponding loss values and accuracy. "
             f"They are used for {task} with {model_name} model. The templates are arranged in "
             f"descending order based on their loss value on training samples, where lower loss "
             f"indicates better quality.")
    if settings.style == "gpt":
        parts = []
        if settings.task_definition:
            parts.append(f"Hi GPT, assume you are a prompt pattern learner. {about}")
        parts.append(listing)
        rules = (f"There are latent patterns that make the template good. Based on these patterns, "
                 f"write your new template that is different from the old ones and has a loss as low "
                 f"as possible. Here are some requirements\n- Please reply with only the template\n"
                 f"- Keep every template under {words} words\n- Generate {n} templates that "
                 f"potentially have better {task} performance")
        parts.append(rules)
        return [{"role": "user", "content": "\n\n".join(p for p in parts if p)}]
    system = ("You are a helpful, respectful, and honest assistant capable of proposing new "
              "prompts for users.")
    head = (f"Propose new prompts for user. Reply with only the proposed short template, do not "
            f"reply the loss and accuracy. Keep every template under {words} words. Generate {n} "
            f"templates that potentially have better {task} performance.")
    if settings.task_definition:
        head = f"{head} {about}"
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{head}\n\n{listing}"}]
