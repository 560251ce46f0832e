"""Specs for the ablation tables (4-8), built with ``reports.method_table``.

The method keys are the values of the MLflow ``method`` tag expected for the
runs of each table (the row ``name`` in ``benchmarks/specs/<table>.yaml``);
they match the row keys in ``paper_numbers.PAPER``.  If the runner tags
ablation runs differently, pass a modified spec
(``dataclasses.replace(SPECS["table4"], methods=...)``).

Tables 4-7 compare one reference row with every other row.  Table 8 (prompt
length) compares only within each length: combined_lenL − gradient_lenL for
L = 4, 8, 16 (``TableSpec.pairs``), Holm over those three pairs.  The paper's
"Ours (length 16)" number is cut off in its extraction (``paper_missing``).
"""

from __future__ import annotations

from dataclasses import replace

from .method_table import TableSpec
from .paper_numbers import PAPER


def _spec(name: str, title: str, reference: str | None, **kw) -> TableSpec:
    p = PAPER[name]
    methods = kw.pop("methods", None) or tuple((k, p["labels"][k]) for k in p["rows"])
    return TableSpec(
        name=name,
        title=title,
        methods=methods,
        reference=reference,
        paper=name,
        **kw,
    )


LENGTHS = (4, 8, 16)
_T8_LABELS = {**PAPER["table8"]["labels"], "combined_len16": "Ours (length 16)"}
_T8_ROWS = tuple(k for n in LENGTHS for k in (f"gradient_len{n}", f"combined_len{n}"))

SPECS = {
    "table4": _spec("table4", "Table 4: instruction components (TD, MP, OT)", "td_mp_ot"),
    "table5": _spec("table5", "Table 5: rounds N of alternating optimization", "N3"),
    "table6": _spec("table6", "Table 6: gradient iterations m per round", "m10"),
    "table7": _spec("table7", "Table 7: distance function of the token-space projection", "l2"),
    "table8": _spec(
        "table8", "Table 8: prompt length, gradient-only vs combined", None,
        methods=tuple((k, _T8_LABELS[k]) for k in _T8_ROWS),
        pairs=tuple((f"combined_len{n}", f"gradient_len{n}") for n in LENGTHS),
        paper_missing=tuple(k for k in _T8_ROWS if k not in PAPER["table8"]["rows"]),
    ),
}

# Where a scale ablates other settings than the paper (benchmarks/specs/table6.yaml:
# m = 100 and 1000 do not fit the mini budget), its rows; the paper's published
# rows are still printed beside them.
SCALE_SPECS = {
    ("table6", "mini"): replace(SPECS["table6"], methods=(("m5", "m = 5"), ("m10", "m = 10"),
                                                          ("m20", "m = 20"))),
}


def table_spec(name: str, scale: str, default: TableSpec) -> TableSpec:
    return SCALE_SPECS.get((name, scale), default)
