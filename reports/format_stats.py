"""Format following per proposer (optimizer LLM): how many replies parsed,
which lines the parser dropped and why, fallbacks, echoes of the shown
templates, and distinct proposals per round -- pooled over the runs of each
"+ LLM" row. Torch-free.

Per run the numbers are the MLflow metrics `llm_replies`, `llm_replies_parsed`,
... (maao/llm/format_stats.py, logged by the combined optimizer); a run made
before they existed has them recomputed from its `rounds.json` and
`llm_transcript.json` artifacts by the same function.

    from reports.format_stats import run_stats, proposer_table, render_markdown
"""
from __future__ import annotations

import math
import tempfile

import pandas as pd

from maao.llm.format_stats import PREFIX, format_stats

KEY = f"{PREFIX}replies"
DROPPED = f"{PREFIX}dropped_"
COLUMNS = ["method", "llm_model", "runs", "replies", "parsed", "fallbacks", "echoes",
           "distinct_per_round", "dropped_lines", "dropped_by_reason"]


def _from_artifacts(client, run_id: str, tmp: str) -> dict:
    from .figure4 import _read_artifact

    rounds = _read_artifact(client, run_id, "rounds.json", tmp)
    transcript = _read_artifact(client, run_id, "llm_transcript.json", tmp) or []
    return format_stats(rounds or [], transcript)


def run_stats(df: pd.DataFrame, methods, tracking_uri: str | None = None) -> pd.DataFrame:
    """One row per run of `methods` (columns method, llm_model, run_id and the
    llm_* statistics). Runs whose metrics lack them are read from their
    artifacts when `tracking_uri` is given, else left out."""
    rows = df.loc[df["method"].isin(list(methods))]
    stat_cols = [c for c in df.columns if c.startswith(PREFIX) and c != f"{PREFIX}calls"
                 and c != f"{PREFIX}fallbacks" and c != f"{PREFIX}model"]
    client, out = None, []
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows.to_dict("records"):
            stats = {c: r[c] for c in stat_cols if isinstance(r.get(c), (int, float)) and not math.isnan(r[c])}
            if KEY not in stats and tracking_uri is not None and r.get("run_id"):
                if client is None:
                    from mlflow.tracking import MlflowClient

                    client = MlflowClient(tracking_uri=tracking_uri)
                stats = _from_artifacts(client, r["run_id"], tmp)
            if KEY in stats:
                out.append({"method": r["method"], "llm_model": r.get("llm_model", "") or "",
                            "run_id": r.get("run_id", ""), **stats})
    frame = pd.DataFrame(out)
    return frame.fillna(0.0) if len(frame) else pd.DataFrame(columns=["method", "llm_model", "run_id", KEY])


def proposer_table(runs: pd.DataFrame, order=()) -> pd.DataFrame:
    """Pool `run_stats` rows per (method, llm_model): sums of counts, and the
    mean distinct proposals per round over all rounds. `order`: method order."""
    if not len(runs):
        return pd.DataFrame(columns=COLUMNS)
    rank = {m: i for i, m in enumerate(order)}
    out = []
    for (method, model), g in runs.groupby(["method", "llm_model"], sort=False):
        replies = float(g[KEY].sum())
        reasons = {c[len(DROPPED):]: int(g[c].sum()) for c in g.columns
                   if c.startswith(DROPPED) and c != f"{DROPPED}lines" and g[c].sum() > 0}
        distinct = (g[f"{PREFIX}proposals_distinct_mean"] * g[KEY]).sum() / replies if replies else float("nan")
        out.append({"method": method, "llm_model": model, "runs": len(g), "replies": int(replies),
                    "parsed": int(g[f"{PREFIX}replies_parsed"].sum()),
                    "fallbacks": int(g[f"{PREFIX}replies_fallback"].sum()),
                    "echoes": int(g[f"{PREFIX}echoes"].sum()), "distinct_per_round": float(distinct),
                    "dropped_lines": int(g[f"{PREFIX}dropped_lines"].sum()),
                    "dropped_by_reason": "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in
                                                   sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))})
    table = pd.DataFrame(out, columns=COLUMNS)
    table["_o"] = table["method"].map(lambda m: rank.get(m, len(rank)))
    return table.sort_values(["_o", "method", "llm_model"], kind="mergesort").drop(columns="_o") \
        .reset_index(drop=True)


def csv_text(table: pd.DataFrame) -> str:
    """The per-proposer table as CSV, a committed input of the report (the
    fixture rebuilds the report from it without MLflow); floats as repr, so
    `read_csv` gives back the same numbers."""
    lines = [",".join(COLUMNS)]
    for r in table[COLUMNS].to_dict("records"):
        reasons = str(r["dropped_by_reason"] or "")
        lines.append(",".join([str(r["method"]), str(r["llm_model"]), str(int(r["runs"])), str(int(r["replies"])),
                               str(int(r["parsed"])), str(int(r["fallbacks"])), str(int(r["echoes"])),
                               repr(float(r["distinct_per_round"])), str(int(r["dropped_lines"])),
                               f'"{reasons}"']))
    return "\n".join(lines) + "\n"


def read_csv(path) -> pd.DataFrame:
    """`csv_text` read back (the committed `table2_format.csv`)."""
    table = pd.read_csv(path, keep_default_na=False, dtype={"distinct_per_round": str})
    table["distinct_per_round"] = table["distinct_per_round"].map(float)
    return table[COLUMNS]


def render_markdown(table: pd.DataFrame, labels: dict | None = None, not_recorded=()) -> str:
    """The per-proposer table as markdown ('' when there is nothing to show)."""
    labels = labels or {}
    lines = []
    if len(table):
        lines += ["| + LLM column | runs | replies | parsed | fell back | echoes of shown templates | "
                  "distinct proposals / round | dropped lines | dropped, by reason |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in table.itertuples(index=False):
            pct = f" ({100.0 * r.parsed / r.replies:.0f}%)" if r.replies else ""
            lines.append(f"| {labels.get(r.method, r.method)} | {r.runs} | {r.replies} | {r.parsed}{pct} | "
                         f"{r.fallbacks} | {r.echoes} | {r.distinct_per_round:.2f} | {r.dropped_lines} | "
                         f"{r.dropped_by_reason or '–'} |")
    if not_recorded:
        lines.append(("\n" if lines else "") + "Not recorded yet (declared in the spec as "
                     "`awaiting_recording`; no column, no statistics): " + ", ".join(not_recorded) + ".")
    return "\n".join(lines)


__all__ = ["run_stats", "proposer_table", "render_markdown", "csv_text", "read_csv", "COLUMNS"]
