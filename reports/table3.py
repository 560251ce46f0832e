"""Table 3: the relation of the two optimizers.

Rows (fixed order): single-start gradient, multi-start gradient, multi-start
gradient + perturbations, LLM-based optimization only, combined (ours).
Columns: datasets of the chosen scale + Average.  The paper's published
Table 3 (EuroSAT / DTD / Oxford Flowers) is shown alongside.

    python -m reports table3 --tracking-uri sqlite:///mlflow.db --scale mini --out reports
"""

from __future__ import annotations

import pandas as pd

from .method_table import (  # noqa: F401  (re-exported writers)
    DEFAULT_OUT,
    TableResult,
    TableSpec,
    build_table as _build_table,
    render_latex,
    render_markdown,
    write_all,
    write_cells_csv,
    write_csv,
    write_latex,
    write_markdown,
    write_significance_csv,
)
from .paper_numbers import TABLE3_METHODS

SPEC = TableSpec(
    name="table3",
    title="Table 3: relation of the gradient and LLM optimizers",
    methods=TABLE3_METHODS,
    reference="combined",
    paper="table3",
)


def build_table(df: pd.DataFrame, spec: TableSpec = SPEC) -> TableResult:
    """Build Table 3 from per-run rows (see ``reports.runs.load_runs``)."""
    return _build_table(df, spec)


def make(tracking_uri: str, scale: str = "mini", out_dir=None) -> tuple[TableResult, list]:
    """Load runs, build, and write every Table 3 file; returns (result, paths)."""
    from .runs import load_runs

    df = load_runs(tracking_uri, "table3", scale)
    res = build_table(df)
    return res, write_all(res, out_dir)
