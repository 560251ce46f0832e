"""Which cells a table's experiment spec asks for, and which a report lacks.

A report built from a store that holds only part of a sweep says so in its
caption, and `python -m reports` then writes it to reports/out/ (not over the
committed reports/<table>.*) unless --out names a directory.
"""

from __future__ import annotations

import itertools

import pandas as pd

CELL = ("method", "dataset", "shots", "seed")


def expected_cells(table: str, scale: str) -> set | None:
    """(row name, dataset, shots, seed) of every run the spec `table` lists at
    `scale`, less the rows it declares `awaiting_recording` (see
    `awaiting_rows`); None when there is no such spec or scale (no check then)."""
    from maao.spec import load_spec
    from maao.speccheck import SpecError

    try:
        spec = load_spec(table)
        body = spec.scale(scale)
    except SpecError:
        return None
    pending = spec.awaiting_recording(scale)
    rows = [r["name"] for r in spec.rows(scale) if r["name"] not in pending]
    return set(itertools.product(rows, body["datasets"], [int(k) for k in body["shots"]],
                                 [int(s) for s in body["seeds"]]))


def awaiting_rows(table: str, scale: str) -> list:
    """Rows the spec declares but has not recorded yet (`awaiting_recording`):
    a report names them "not recorded" instead of counting their cells missing."""
    from maao.spec import load_spec
    from maao.speccheck import SpecError

    try:
        spec = load_spec(table)
        pending = spec.awaiting_recording(scale)
        return [r["name"] for r in spec.rows(scale) if r["name"] in pending]
    except SpecError:
        return []


def missing_cells(cells: pd.DataFrame, expected: set | None) -> list:
    """Expected cells without a row in `cells` (columns method, dataset, shots, seed), sorted."""
    if not expected:
        return []
    present = {(m, d, int(k), int(s)) for m, d, k, s in cells[list(CELL)].itertuples(index=False)}
    return sorted(expected - present)


def incomplete_text(missing: list, expected: set, table: str, scale: str) -> str:
    """The caption's sentence on missing cells ('' when complete)."""
    if not missing:
        return ""
    shown = ", ".join(f"({m}, {d}, {k}, {s})" for m, d, k, s in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    return (f"INCOMPLETE: {len(missing)} of the {len(expected)} (method, dataset, shots, seed) cells "
            f"of spec {table} ({scale} scale) have no finished run ({shown}{more}); "
            f"means and tests cover only the cells present.")


def responses_file(table: str, scale: str):
    """The spec's recorded-responses JSONL (None: no spec, or no such file)."""
    from maao.spec import load_spec
    from maao.speccheck import SpecError

    try:
        path = load_spec(table).responses_path(scale)
    except SpecError:
        return None
    return path if path.is_file() else None
