"""Table 1: prompt tuning of a frozen language model (PT: P-tuning / Lester
et al.) alone and with the combined optimizer ("Ours").

Rows: gradient (PT) and combined; columns: the scale's tasks + Average; the
paper's RoBERTa-large SuperGLUE numbers alongside; the paired test of
combined vs PT over (dataset, shots, seed), as in Table 3.

    python -m reports table1 --tracking-uri sqlite:///mlflow.db --scale mini
"""

from __future__ import annotations

from .method_table import TableSpec
from .paper_numbers import PAPER

SPEC = TableSpec(
    name="table1",
    title="Table 1: prompt tuning of a frozen language model, PT alone and with the LLM",
    methods=tuple((k, PAPER["table1"]["labels"][k]) for k in ("gradient", "combined")),
    reference="combined",
    paper="table1",
)
