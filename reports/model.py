"""The table model every report is written in: a document of tables and paragraphs.

A report builds a ``Doc`` (title, caption, blocks); ``reports.render`` turns
any ``Doc`` into Markdown or LaTeX, and ``csv_text`` writes any rows as CSV.
The data CSVs (long form, one row per entry or comparison) are written from
the same values the tables show.  This module is a leaf: it imports nothing
of the package, so the builders (``method_table``, ``table2``, ``claims``)
and the renderer depend on it and never on each other.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["AVG", "DAGGER", "DDAGGER", "MAJORITY_LABEL", "Cell", "Table", "Text", "Doc", "fmt_p",
           "fmt_num", "csv_text"]

AVG = "Average"
DAGGER, DDAGGER = "†", "‡"
MAJORITY_LABEL = "Majority class (reference)"


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and whether it is bold (the renderer spells it)."""
    text: str
    bold: bool = False


@dataclass
class Table:
    header: list  # column titles
    rows: list  # each a list of str or Cell
    align: str  # one letter per column: "l" or "r"
    heading: str | None = None  # printed above the table ("#### ..." in Markdown)
    rules: tuple = ()  # row indexes a LaTeX \midrule goes before (reference rows, paper block)
    latex: bool = True  # part of the .tex (False: Markdown only)


@dataclass
class Text:
    text: str
    heading: str | None = None
    latex: bool = False


@dataclass
class Doc:
    title: str
    caption: str
    label: str  # LaTeX label
    blocks: list = field(default_factory=list)  # Table | Text, in order


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return "<0.0001"
    return f"{p:.4f}"


def fmt_num(x, fmt: str = "{:.6f}") -> str:
    """A number for a CSV: empty for None / NaN / inf."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    return fmt.format(x)


def csv_text(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
