"""Rebuild a committed report from its committed inputs, without MLflow.

``python -m reports <table>`` writes, beside each report, its inputs: every
cell at full precision (``<table>_cells.csv``), the majority-class rate per
dataset (``_majority.csv``), the per-round mechanism health
(``_health.csv``) and, for Table 2, the format following per proposer
(``_format.csv``).  ``rebuild`` builds the report from those files alone; the
test suite checks that this gives the committed .md/.csv/.tex/_significance.csv
byte for byte (tests/test_reports_verdicts.py), so a change of the statistics
or the layout shows up as a diff of the committed reports.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import coverage
from .health import read_health_csv
from .spread import MAJORITY_METRIC

__all__ = ["DEFAULT_DIR", "fixture_tables", "load_cells", "method_table_specs", "table_spec_for", "rebuild"]

DEFAULT_DIR = Path(__file__).resolve().parent


def fixture_tables(d=DEFAULT_DIR) -> list:
    """Tables whose inputs are committed (written by this version: a _majority.csv beside the cells)."""
    return sorted(p.name[: -len("_majority.csv")] for p in Path(d).glob("*_majority.csv"))


def load_cells(table: str, d=DEFAULT_DIR) -> pd.DataFrame:
    d = Path(d)
    # values parsed by Python's float(): exact round trip of the repr the writers use
    cells = pd.read_csv(d / f"{table}_cells.csv", keep_default_na=False, dtype={"test_accuracy": str})
    cells["test_accuracy"] = cells["test_accuracy"].map(float)
    maj = d / f"{table}_majority.csv"
    if maj.is_file():
        m = pd.read_csv(maj, dtype={MAJORITY_METRIC: str})
        m[MAJORITY_METRIC] = m[MAJORITY_METRIC].map(float)
        cells = cells.merge(m, on="dataset", how="left")
    return cells


def method_table_specs() -> dict:
    """{name: TableSpec} of the "methods x datasets" tables (1, 3-8)."""
    from .ablations import SPECS
    from .table1 import SPEC as TABLE1
    from .table3 import SPEC as TABLE3

    return {"table1": TABLE1, "table3": TABLE3, **SPECS}


def table_spec_for(table: str, scale: str, rows):
    """The report spec of ``table`` at ``scale`` for an experiment with these row names."""
    from .ablations import table_spec
    from .table3 import spec_for_rows

    if table == "table3":
        return spec_for_rows(set(rows))
    return table_spec(table, scale, method_table_specs()[table])


def rebuild(table: str, d=DEFAULT_DIR, scale: str = "mini"):
    """The report's result object, built from the committed inputs in ``d``."""
    d = Path(d)
    df = load_cells(table, d)
    if MAJORITY_METRIC not in df.columns:
        df[MAJORITY_METRIC] = float("nan")
    df["scale"] = scale
    health = d / f"{table}_health.csv"
    expected = coverage.expected_cells(table, scale)
    if table == "table2":
        from .table2 import build_table2

        res = build_table2(df, expected)
        fmt = d / f"{table}_format.csv"
        if fmt.is_file():   # format following per proposer (reports.format_stats)
            from .format_stats import read_csv

            res.format_stats = read_csv(fmt)
    else:
        from .method_table import build_table

        res = build_table(df, table_spec_for(table, scale, {c[0] for c in expected or ()}), expected)
    res.health = read_health_csv(health) if health.is_file() else None
    return res
