"""The mechanism's health per table: what the LLM was shown and what came back.

Read from each LLM run's recorded ``rounds.json`` artifact (the combined
optimizer's rounds; per-round fields in ``maao.round_health``), one row per
(run, round), written beside the table as ``<table>_health.csv`` so that the
report can be rebuilt from committed files.  The summary per method: rounds,
rounds whose trajectory projects to a single prompt, distinct prompts shown,
restarts better / worse than the best prompt shown (training loss), restarts
that echo a shown prompt, parser drops and fallbacks.
"""

from __future__ import annotations

import os
import tempfile

import pandas as pd

from maao.round_health import FIELDS, round_health

from .model import csv_text, fmt_num

__all__ = ["COLUMNS", "load_health", "health_csv_text", "read_health_csv", "health_text", "method_summary"]

KEY = ["method", "dataset", "shots", "seed"]
COLUMNS = KEY + list(FIELDS)


def _rows(cell: dict, rounds) -> list:
    out = []
    for entry in rounds or []:
        if not isinstance(entry, dict) or "shown" not in entry:  # LLM-only's rounds have no trajectory
            continue
        out.append({**cell, **round_health(entry)})
    return out


def load_health(tracking_uri: str, runs: pd.DataFrame) -> pd.DataFrame | None:
    """Per-round health of every run in ``runs`` (``runs.load_runs`` rows, with run_id) that
    recorded combined-optimizer rounds; None when none did."""
    from mlflow.tracking import MlflowClient

    from .figure4 import _read_artifact

    client = MlflowClient(tracking_uri=tracking_uri)
    rows = []
    with tempfile.TemporaryDirectory(prefix="maao-health-") as tmp:
        for i, r in enumerate(runs.sort_values(KEY, kind="mergesort").itertuples(index=False)):
            sub = os.path.join(tmp, str(i))
            os.mkdir(sub)
            rounds = _read_artifact(client, r.run_id, "rounds.json", sub)
            rows += _rows({"method": r.method, "dataset": r.dataset, "shots": int(r.shots),
                           "seed": int(r.seed)}, rounds)
    return pd.DataFrame(rows, columns=COLUMNS) if rows else None


def health_csv_text(h: pd.DataFrame) -> str:
    rows = [[r.method, r.dataset, int(r.shots), int(r.seed), int(r.round), int(r.trajectory_distinct),
             int(r.shown_distinct), r.restart, int(bool(r.echo)), int(r.dropped), int(bool(r.fallback))]
            for r in h.itertuples(index=False)]
    return csv_text(COLUMNS, rows)


def read_health_csv(path) -> pd.DataFrame:
    h = pd.read_csv(path, keep_default_na=False)
    h["echo"] = h["echo"].astype(bool)
    h["fallback"] = h["fallback"].astype(bool)
    return h


def method_summary(h: pd.DataFrame) -> dict:
    """{method: {rounds, one_prompt, shown_mean, better, equal, worse, none, echo, dropped, fallback}}."""
    out = {}
    for m, g in h.groupby("method", sort=False):
        out[m] = dict(rounds=len(g), one_prompt=int((g["trajectory_distinct"] == 1).sum()),
                      shown_mean=float(g["shown_distinct"].mean()),
                      **{k: int((g["restart"] == k).sum()) for k in ("better", "equal", "worse", "none")},
                      echo=int(g["echo"].sum()), dropped=int(g["dropped"].sum()),
                      fallback=int(g["fallback"].sum()))
    return out


def summary_words(s: dict) -> str:
    return (f"{s['rounds']} rounds: {s['one_prompt']} whose trajectory is one prompt, "
            f"{fmt_num(s['shown_mean'], '{:.2f}')} distinct prompts shown on average; restart worse than "
            f"the best prompt shown in {s['worse']}, better in {s['better']}, equal in {s['equal']}"
            + (f", none in {s['none']}" if s["none"] else "")
            + f"; {s['echo']} echo a shown prompt; {s['dropped']} reply lines dropped by the parser; "
            f"{s['fallback']} fallbacks")


def health_text(h: pd.DataFrame | None, labels: dict) -> str:
    if h is None or h.empty:
        return ""
    per = method_summary(h)
    parts = [f"{labels.get(m, m)}: {summary_words(s)}" for m, s in per.items()]
    return ("Per LLM row, over all its runs and rounds (rounds.json of each run; per round in the table's "
            "_health.csv). " + "; ".join(parts) + ". What the LLM sees at this scale: in round 1 the "
            "projections of a few gradient steps from a random start (nearest-token \"hub\" words); in "
            "later rounds mostly the projection of its own last proposal, because m steps rarely move the "
            "projection off it. The paper's mechanism is the LLM reading a gradient trajectory; a round "
            "whose trajectory is one prompt shows it none.")
