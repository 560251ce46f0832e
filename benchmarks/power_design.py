"""The mini grid's power design (docs/power.md, docs/decisions.md #116).

From the paired differences of the committed cells (reports/<table>_cells.csv)
this computes, for every comparison the reports test, the smallest
difference the grid fixed in GRID detects with 80 % power at its Holm level,
whether an ablation comparison can reach significance at all, the smallest
number of seeds that meets every target, and what the grid costs to record
and to replay.

    python -m benchmarks.power_design                 # the tables docs/power.md shows
    python -m benchmarks.power_design --inputs worktree   # the same rule on today's files

Its inputs are read at DESIGN_INPUTS, the commit whose files the design was
computed from: the re-recording replaces those cells, goldens and response
files, and the pasted tables must stay reproducible (git keeps them).

The rule (fixed before the recording; docs/power.md):
- test: the reports' two-sided Wilcoxon signed-rank test over (dataset, shots,
  seed) cells, Holm over the table's comparisons; sized with the paired t
  approximation (statsmodels TTestPower) at the Bonferroni level alpha / m,
  Holm's strictest step, so the power holds whatever the order of the p values;
- Wilcoxon for t: n pairs of the Wilcoxon test count as n x 3/pi pairs of the
  t test (its asymptotic relative efficiency under normal differences);
- spread: the standard deviation of the paired differences over all cells
  (what the pooled test sees), planned at its one-sided 80 % upper confidence
  limit (chi-square, n - 1 degrees of freedom): a pilot of 6 or 18 cells
  underestimates the spread about half the time;
- reachability: expected non-zero differences = n x (1 - the comparison's
  share of zero differences today); 2 / 2^n_nonzero must be below alpha / m.

Torch-free: reads the committed cells, the goldens (LLM calls per run) and
the recorded responses (the live latency of each recorded call).
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the re-recording replaced any of the design's inputs
# (docs/power.md was computed from its files).
DESIGN_INPUTS = "6e7bce3"
ALPHA = 0.05
POWER = 0.80
SD_UPPER_CONFIDENCE = 0.80      # planned SD: this one-sided upper confidence limit of the measured one
WILCOXON_ARE = 3 / math.pi      # Wilcoxon signed-rank vs t, normal differences
HEADLINE, SECONDARY, ABLATION, TABLE1 = "headline", "secondary", "ablation", "table1"
# Points (accuracy %) each role must detect; None: reported, not designed for
# (Table 3's comparisons with LLM-only and ZOPO: not the paper's +1.1 to +1.9 claim).
TARGET = {HEADLINE: 1.5, SECONDARY: None, ABLATION: 3.0, TABLE1: 3.0}
PAIR_ON = ["dataset", "shots", "seed"]
ABLATIONS = ("table4", "table5", "table6", "table7", "table8")
GRADIENT_BASELINES = ("single_start", "multi_start", "multi_start_perturbed")


@dataclass(frozen=True)
class Grid:
    datasets: int
    shots: tuple
    seeds: int

    @property
    def cells(self) -> int:
        return self.datasets * len(self.shots) * self.seeds


# The design, fixed before the recording (docs/power.md): the paper's shot
# settings as strata for Tables 2-3, the ablations at 4 shots (where their
# spread was measured), Table 1 at its one setting. Seeds: the smallest number
# that meets every target of the table with the rule above (`minimal_seeds`).
GRID = {
    "table1": Grid(3, (32,), 15),
    "table2": Grid(2, (1, 4, 8, 16), 4),
    "table3": Grid(2, (1, 4, 8, 16), 6),
    "table4": Grid(2, (4,), 22),
    "table5": Grid(2, (4,), 6),
    "table6": Grid(2, (4,), 5),
    "table7": Grid(2, (4,), 5),
    "table8": Grid(2, (4,), 18),
}

# The committed (spec v1-v3) grids the cells come from.
TODAY = {"table1": Grid(3, (32,), 3), "table2": Grid(2, (1, 4, 16), 3), "table3": Grid(2, (1, 4, 16), 3),
         **{t: Grid(2, (4,), 3) for t in ABLATIONS}}

# Seconds of training per run replayed on 2 cores (README / docs/performance.md /
# issue 25; machine shared, not timed here): Table 3 7 min 10 s for 108 runs less
# the 105 s environment build; Table 2 "one mini run takes ~4-5 s"; Table 1 ~29 s
# a run (input through the encoder); ablations: the end-to-end combined replay,
# intent_recognition 4-shot, 5.0 s.
SECONDS_PER_RUN = {"table1": 29.0, "table2": 5.0, "table3": 3.0, **{t: 5.0 for t in ABLATIONS}}
SECONDS_SOURCE = {"table1": "issue 25", "table2": "performance.md", "table3": "README / issue 25",
                  **{t: "performance.md e2e" for t in ABLATIONS}}


# Rows that are one configuration at the same (dataset, shots, seed): today's
# cells agree wherever no LLM answers (Table 2's CoOp = Table 3's single-start,
# Table 4's "none" = multi-start + perturbations, Table 8's gradient length 4 =
# single-start) and the LLM rows differ only by their per-table recordings
# (issue 25 item 3). With runs shared across tables each is trained and
# recorded once; the first table in SHARING_ORDER pays for it.
SAME_AS = {
    ("table3", "single_start"): "gradient", ("table2", "coop"): "gradient",
    ("table8", "gradient_len4"): "gradient",
    ("table3", "multi_start_perturbed"): "perturbed", ("table4", "none"): "perturbed",
    ("table3", "combined"): "combined", ("table2", "coop_llm"): "combined",
    ("table4", "td_mp_ot"): "combined", ("table5", "N3"): "combined", ("table6", "m10"): "combined",
    ("table7", "l2"): "combined", ("table8", "combined_len4"): "combined",
}
SHARING_ORDER = ("table3", "table2", *ABLATIONS, "table1")


# ------------------------------------------------------------------ comparisons
def comparisons(table: str, rows_present) -> list:
    """[(row, baseline, role)]: the pairs the table's report tests, Holm family = all of them."""
    present = set(rows_present)
    if table == "table1":
        from reports.table1 import SPEC
        return [(a, b, TABLE1) for a, b in SPEC.comparisons]
    if table == "table2":
        from reports.table2 import BASE_OF
        return [(a, b, HEADLINE) for a, b in BASE_OF.items() if a in present and b in present]
    if table == "table3":
        from reports.table3 import spec_for_rows
        return [(a, b, HEADLINE if (a == "combined" and b in GRADIENT_BASELINES) else SECONDARY)
                for a, b in spec_for_rows(present).comparisons]
    from reports.ablations import SPECS, table_spec
    return [(a, b, ABLATION) for a, b in table_spec(table, "mini", SPECS[table]).comparisons]


def paired_differences(cells: pd.DataFrame, row: str, baseline: str) -> np.ndarray:
    a = cells[cells["method"] == row].set_index(PAIR_ON)["test_accuracy"]
    b = cells[cells["method"] == baseline].set_index(PAIR_ON)["test_accuracy"]
    d = (a - b).dropna()
    return np.round(d.to_numpy(dtype=float), 9)


# ------------------------------------------------------------------- the rule
def planned_sd(sd: float, n: int, confidence: float = SD_UPPER_CONFIDENCE) -> float:
    """One-sided upper confidence limit of a standard deviation measured on n values."""
    from scipy.stats import chi2
    return sd * math.sqrt((n - 1) / chi2.ppf(1 - confidence, n - 1))


def detectable(sd_plan: float, n_pairs: int, level: float, power: float = POWER) -> float:
    """Smallest difference (points) a Wilcoxon test over n_pairs detects with `power` at `level`."""
    from statsmodels.stats.power import TTestPower
    d = TTestPower().solve_power(nobs=n_pairs * WILCOXON_ARE, alpha=level, power=power,
                                 alternative="two-sided")
    return float(np.squeeze(d)) * sd_plan


def pairs_needed(sd_plan: float, target: float, level: float, power: float = POWER) -> int:
    """Fewest Wilcoxon pairs that detect `target` points with `power` at `level`."""
    from statsmodels.stats.power import TTestPower
    n_t = TTestPower().solve_power(effect_size=target / sd_plan, alpha=level, power=power,
                                   alternative="two-sided")
    return math.ceil(float(np.squeeze(n_t)) / WILCOXON_ARE)


def min_p(n_nonzero: int) -> float:
    """Smallest two-sided p of the exact Wilcoxon test over n non-zero differences."""
    return min(1.0, 2.0 / 2 ** n_nonzero) if n_nonzero > 0 else 1.0


@dataclass(frozen=True)
class Design:
    table: str
    row: str
    baseline: str
    role: str
    n_now: int
    mean: float
    sd: float
    zero_share: float
    sd_plan: float
    level: float           # alpha / m
    target: float | None
    n_needed: int | None   # pairs (Wilcoxon) for the target at the level
    n_grid: int
    mde: float             # detectable difference at the grid
    n_nonzero: int         # expected non-zero differences at the grid
    reachable: bool        # 2 / 2^n_nonzero < level

    @property
    def meets(self) -> bool:
        return self.reachable and (self.target is None or self.mde <= self.target + 1e-9)


def design_table(table: str, cells: pd.DataFrame, grid: Grid) -> list:
    comps = comparisons(table, cells["method"].unique())
    level = ALPHA / len(comps)
    out = []
    for row, base, role in comps:
        d = paired_differences(cells, row, base)
        n = d.size
        if n < 3:
            raise ValueError(f"{table}: {row} - {base} has {n} paired cells; the spread needs at least 3")
        sd = float(np.std(d, ddof=1))
        sd_plan = planned_sd(sd, n)
        zero = float(np.mean(d == 0))
        n_grid = grid.cells
        nonzero = math.floor(n_grid * (1 - zero))
        out.append(Design(table, row, base, role, n, float(np.mean(d)), sd, zero, sd_plan, level,
                          TARGET[role], None if TARGET[role] is None else pairs_needed(sd_plan, TARGET[role], level),
                          n_grid,
                          detectable(sd_plan, n_grid, level), nonzero, min_p(nonzero) < level))
    return out


def minimal_seeds(table: str, cells: pd.DataFrame, grid: Grid, most: int = 200) -> int:
    """Fewest seeds with which every comparison of the table meets its target."""
    for seeds in range(1, most + 1):
        g = Grid(grid.datasets, grid.shots, seeds)
        if all(x.meets for x in design_table(table, cells, g)):
            return seeds
    raise ValueError(f"{table}: no grid up to {most} seeds meets the targets")


# ---------------------------------------------------------------------- inputs
class Inputs:
    """The design's input files: the working tree under `root`, or the
    files of git revision `rev` (read with git show, nothing checked out)."""

    def __init__(self, root: Path = ROOT, rev: str | None = None):
        self.root, self.rev = Path(root), rev

    def _git(self, *args: str) -> str:
        done = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise FileNotFoundError(f"git {' '.join(args)}: {why} (a clone without the history of "
                                    f"{self.rev}? --inputs worktree reads today's files)")
        return done.stdout

    def text(self, relpath: str) -> str:
        if self.rev is None:
            return (self.root / relpath).read_text(encoding="utf-8")
        return self._git("show", f"{self.rev}:{relpath}")

    def glob(self, folder: str, pattern: str) -> list:
        """Paths relative to the root, sorted, of `folder`'s files matching `pattern`."""
        if self.rev is None:
            return sorted(str(p.relative_to(self.root)) for p in (self.root / folder).glob(pattern))
        names = self._git("ls-tree", "--name-only", f"{self.rev}:{folder}").split()
        return sorted(f"{folder}/{n}" for n in names if fnmatch.fnmatch(n, pattern))


def _as_inputs(source) -> Inputs:
    return source if isinstance(source, Inputs) else Inputs(Path(source))


# ------------------------------------------------------------------------ cost
def llm_calls_per_run(table: str, root=ROOT) -> dict:
    """Row -> LLM calls of one run, from the table's committed golden runs."""
    runs = json.loads(_as_inputs(root).text(f"benchmarks/golden/{table}-mini.json"))["runs"]
    calls: dict = {}
    for name, metrics in runs.items():
        calls.setdefault(name.split("/")[0], []).append(float(metrics.get("llm_calls", 0)))
    return {row: statistics.mean(v) for row, v in calls.items()}


def recorded_latency(root=ROOT) -> list:
    """Live seconds of every recorded mini LLM call (meta.latency_s) in the
    per-table response files (the design's; the shared mini.jsonl came later)."""
    inputs, out = _as_inputs(root), []
    for path in inputs.glob("benchmarks/responses", "*-mini.jsonl"):
        for line in inputs.text(path).splitlines():
            lat = json.loads(line)["meta"].get("latency_s")
            if lat is not None:
                out.append(float(lat))
    return out


@dataclass(frozen=True)
class Cost:
    table: str
    rows: int
    runs: int
    llm_calls: int
    train_s: float     # replay: training only
    record_s: float    # recording: training + live LLM calls


def cost(table: str, grid: Grid, calls_per_run: dict, seconds_per_call: float, rows=None) -> Cost:
    """The runs of `rows` (default: every row of the table) over the grid."""
    rows = list(calls_per_run) if rows is None else list(rows)
    runs = len(rows) * grid.cells
    calls = round(sum(calls_per_run[r] for r in rows) * grid.cells)
    train = runs * SECONDS_PER_RUN[table]
    return Cost(table, len(rows), runs, calls, train, train + calls * seconds_per_call)


def shared_runs(grid: dict, rows_of: dict) -> dict:
    """(table, row) -> runs of that row another table (earlier in SHARING_ORDER)
    already trains: its cells in the union of its configuration's cells so far."""
    charged: dict = {}
    out = {}
    for table in (t for t in SHARING_ORDER if t in grid):
        g = grid[table]
        for row in rows_of[table]:
            same = SAME_AS.get((table, row))
            if same is None:
                continue
            cells = {(shots, seed) for shots in g.shots for seed in range(1, g.seeds + 1)}
            out[(table, row)] = g.datasets * len(cells & charged.get(same, set()))
            charged[same] = charged.get(same, set()) | cells
    return out


# ---------------------------------------------------------------------- output
def _cells(table: str, root) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(_as_inputs(root).text(f"reports/{table}_cells.csv")))


def _opt(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _min(s: float) -> str:
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def render(root=ROOT, grid: dict = GRID) -> str:
    """The design's tables from `root`: an Inputs, or a folder (its working tree)."""
    root = _as_inputs(root)
    lat = recorded_latency(root)
    per_call = statistics.median(lat)
    lines = ["## Comparisons at the fixed grid", "",
             "| table | comparison | role | n now | mean | SD | zeros | detectable now at SD (min p) | planned SD "
             "| level | target | pairs needed | grid pairs | detectable | min p | meets |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    seeds_rows, costs, calls_of = [], [], {}
    for table, g in grid.items():
        cells = _cells(table, root)
        now = design_table(table, cells, TODAY[table])
        for x, x0 in zip(design_table(table, cells, g), now):
            lines.append(f"| {table} | {x.row} − {x.baseline} | {x.role} | {x.n_now} | {x.mean:+.2f} | "
                         f"{x.sd:.2f} | {x.zero_share:.0%} | {detectable(x.sd, x0.n_grid, x.level):.2f} ({min_p(x0.n_nonzero):.2g}) | {x.sd_plan:.2f} | {x.level:.4f} | {_opt(x.target, '.1f')} | "
                         f"{_opt(x.n_needed, 'd')} | {x.n_grid} | {x.mde:.2f} | {min_p(x.n_nonzero):.1e} | "
                         f"{'yes' if x.meets else '**no**'} |")
        shots = "{" + ", ".join(map(str, g.shots)) + "}"
        seeds_rows.append(f"| {table} | {g.datasets} | {shots} | {minimal_seeds(table, cells, g)} | {g.seeds} "
                          f"| {g.cells} |")
        calls_of[table] = llm_calls_per_run(table, root)
        costs.append(cost(table, g, calls_of[table], per_call))
    lines += ["", "## Grid per table", "",
              "| table | datasets | shots (strata) | fewest seeds meeting every target | seeds fixed | "
              "pairs per comparison |", "|---|---:|---|---:|---:|---:|", *seeds_rows]
    lines += ["", "## Cost of the grid", "",
              f"Live LLM latency per recorded call (median of {len(lat)} mini calls, meta.latency_s): "
              f"{per_call:.1f} s, i.e. {3 * per_call:.0f} s for a run of 3 calls.", "",
              "| table | rows | runs | LLM calls | s per run (source) | replay (training) | "
              "recording (training + LLM) |", "|---|---:|---:|---:|---|---:|---:|"]
    for c in costs:
        lines.append(f"| {c.table} | {c.rows} | {c.runs} | {c.llm_calls} | {SECONDS_PER_RUN[c.table]:.0f} "
                     f"({SECONDS_SOURCE[c.table]}) | {_min(c.train_s)} | {_min(c.record_s)} |")
    tot = Cost("all", sum(c.rows for c in costs), sum(c.runs for c in costs), sum(c.llm_calls for c in costs),
               sum(c.train_s for c in costs), sum(c.record_s for c in costs))
    lines.append(f"| all | {tot.rows} | {tot.runs} | {tot.llm_calls} | | {_min(tot.train_s)} | "
                 f"{_min(tot.record_s)} |")
    shares = shared_runs(grid, calls_of)
    save_runs = sum(shares.values())
    save_calls = round(sum(n * calls_of[t][r] for (t, r), n in shares.items()))
    save_train = sum(n * SECONDS_PER_RUN[t] for (t, r), n in shares.items())
    save_record = save_train + save_calls * per_call
    lines.append(f"| all, runs shared across tables | | {tot.runs - save_runs} | {tot.llm_calls - save_calls} | "
                 f"| {_min(tot.train_s - save_train)} | {_min(tot.record_s - save_record)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.power_design", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", default=DESIGN_INPUTS, metavar="REV|worktree",
                        help=f"the commit whose cells, goldens and responses are read (default "
                             f"{DESIGN_INPUTS}, the design's), or 'worktree' for today's files")
    args = parser.parse_args(argv)
    try:
        text = render(Inputs(ROOT, None if args.inputs == "worktree" else args.inputs))
    except FileNotFoundError as err:
        print(f"power_design: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
