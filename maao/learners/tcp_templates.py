"""TCP's per-dataset text (reference: htyao89/Textual-based_Class-aware_prompt_tuning,
trainers/tcp.py), as data; torch-free.

Two tables, keyed by the reference's dataset names (Dassl's DATASET.NAME,
`maao.datasets.coop.CoopSpec.title` here):

- `handcrafted` (the reference's CUSTOM_TEMPLATES_ori): filled with each class
  name, encoded by the frozen text tower; these features are the meta-net's
  input and the KgCoOp term's target.
- `context` (the reference's CUSTOM_TEMPLATES): the learnable prompt. Its first
  `REFERENCE_N_CTX` words are the positions the learnable context occupies
  ("X X X X" placeholders; for UCF101 and the ImageNets the four context tokens
  replace "a photo of a"); what follows them stays as fixed text after the
  context ("{}, a type of pet.", "person doing {}.", "{}."), written exactly as
  the reference writes it (StanfordCars' suffix has no final period).

A dataset without an entry (the mini text sets) keeps the rule used before:
hand-crafted = the dataset's own template, suffix = that template from its
class slot on (docs/decisions.md #27).
"""
from __future__ import annotations

from dataclasses import dataclass

# The reference's templates hold exactly four context words; its prompt
# learner replaces the tokens after [SOS] by the n_ctx learned vectors.
REFERENCE_N_CTX = 4


@dataclass(frozen=True)
class TCPTemplates:
    handcrafted: str    # CUSTOM_TEMPLATES_ori
    context: str        # CUSTOM_TEMPLATES

    @property
    def suffix(self) -> str:
        """The fixed text after the learnable context: `context` without its
        first REFERENCE_N_CTX words ("X X X X {}, a type of pet." -> "{}, a type of pet.")."""
        words = self.context.split(" ")
        return " ".join(words[REFERENCE_N_CTX:])


TCP_TEMPLATES = {
    "OxfordPets": TCPTemplates("a photo of a {}, a type of pet.", "X X X X {}, a type of pet."),
    "OxfordFlowers": TCPTemplates("a photo of a {}, a type of flower.", "X X X X {}, a type of flower."),
    "FGVCAircraft": TCPTemplates("a photo of an aircraft {}.", "X X X X {}, a type of aircraft."),
    "DescribableTextures": TCPTemplates("a photo of a {}, a type of texture.", "X X X X {} texture."),
    "EuroSAT": TCPTemplates("a centered satellite photo of {}.", "X X X X {}."),
    "StanfordCars": TCPTemplates("a photo of a {}.", "X X X X {}, a type of car"),
    "Food101": TCPTemplates("a photo of a {}, a type of food.", "X X X X {}, a type of food."),
    "SUN397": TCPTemplates("a photo of a {}.", "X X X X {}."),
    "Caltech101": TCPTemplates("a photo of a {}.", "X X X X {}."),
    "UCF101": TCPTemplates("a photo of a person doing {}.", "a photo of a person doing {}."),
    "ImageNet": TCPTemplates("a photo of a {}.", "a photo of a {}."),
    "ImageNetSketch": TCPTemplates("a photo of a {}.", "a photo of a {}."),
    "ImageNetV2": TCPTemplates("a photo of a {}.", "a photo of a {}."),
    "ImageNetA": TCPTemplates("a photo of a {}.", "a photo of a {}."),
    "ImageNetR": TCPTemplates("a photo of a {}.", "a photo of a {}."),
}


def reference_name(dataset: str) -> str | None:
    """The reference's name of a dataset of this suite's registry (None: no counterpart)."""
    from ..datasets.coop import SPECS

    spec = SPECS.get(dataset)
    return spec.title if spec is not None else None


def tcp_templates(dataset: str | None) -> TCPTemplates | None:
    """TCP's templates for a registry dataset name, or None where the reference has none."""
    name = reference_name(dataset) if dataset else None
    return TCP_TEMPLATES.get(name) if name else None
