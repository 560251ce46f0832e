"""Figure 2: accuracy curves of gradient prompt tuning under different prompt
initializations (mean over seeds, shaded ± std), as CSV, a dependency-free SVG
and a PNG (matplotlib, installed as an MLflow dependency; Agg canvas, no pyplot).

Input runs: experiment ``maao-figure2-{scale}``, FINISHED runs tagged
``method`` (curve label, e.g. random_init / manual_init / combined) and
``seed``, with a metric history (default ``test_accuracy``) logged with
``step=``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from .runs import ExperimentNotFound, NoFinishedRuns, experiment_name

DEFAULT_OUT = Path(__file__).resolve().parent  # reports/table3.md etc. are committed
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def load_curves(tracking_uri: str, scale: str = "mini", metric: str = "test_accuracy",
                table: str = "figure2") -> pd.DataFrame:
    """Long frame: method, seed, step, value (one row per logged point)."""
    from mlflow.tracking import MlflowClient

    name = experiment_name(table, scale)
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise ExperimentNotFound(f"experiment {name!r} does not exist in tracking URI {tracking_uri!r}")
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=10000)
    rows = []
    for r in runs:
        m, sd = r.data.tags.get("method"), r.data.tags.get("seed")
        ds = r.data.tags.get("dataset", "all")
        if m is None or sd is None:
            continue
        for h in client.get_metric_history(r.info.run_id, metric):
            rows.append(dict(dataset=ds, method=m, seed=int(sd), step=int(h.step), value=float(h.value)))
    if not rows:
        raise NoFinishedRuns(
            f"experiment {name!r} in tracking URI {tracking_uri!r} has no finished runs with a {metric!r} history")
    return pd.DataFrame(rows).sort_values(["dataset", "method", "seed", "step"],
                                          kind="mergesort").reset_index(drop=True)


def aggregate(curves: pd.DataFrame) -> pd.DataFrame:
    """dataset, method, step, n, mean, std (ddof=1; NaN for n < 2), sorted.
    Curves of different datasets are never averaged together."""
    if "dataset" not in curves:
        curves = curves.assign(dataset="all")
    # sum in a fixed order (by seed) so the float means do not depend on row order
    keys = ["dataset", "method", "step"] + (["seed"] if "seed" in curves else [])
    curves = curves.sort_values(keys + ["value"], kind="mergesort")
    g = curves.groupby(["dataset", "method", "step"], sort=True)["value"]
    out = pd.DataFrame({"n": g.size(), "mean": g.mean(), "std": g.std(ddof=1)}).reset_index()
    return out


def csv_text(agg: pd.DataFrame) -> str:
    lines = ["dataset,method,step,n,mean,std"]
    for r in agg.itertuples(index=False):
        std = "" if not np.isfinite(r.std) else f"{r.std:.6f}"
        lines.append(f"{r.dataset},{r.method},{int(r.step)},{int(r.n)},{r.mean:.6f},{std}")
    return "\n".join(lines) + "\n"


def svg_text(agg: pd.DataFrame, title: str = "Figure 2", ylabel: str = "test accuracy (%)") -> str:
    """Line per method with a ± std band; deterministic output."""
    W, H, L, R, T, B = 640, 400, 60, 150, 30, 45
    pw, ph = W - L - R, H - T - B
    lo = np.nanmin(agg["mean"] - agg["std"].fillna(0))
    hi = np.nanmax(agg["mean"] + agg["std"].fillna(0))
    if not np.isfinite(lo) or hi <= lo:
        lo, hi = (lo - 1, hi + 1) if np.isfinite(lo) else (0, 1)
    x0, x1 = agg["step"].min(), agg["step"].max()
    x1 = x1 if x1 > x0 else x0 + 1

    def X(s):
        return L + (s - x0) / (x1 - x0) * pw

    def Y(v):
        return T + (1 - (v - lo) / (hi - lo)) * ph

    o = io.StringIO()
    o.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">\n')
    o.write(f'<text x="{W / 2:.1f}" y="18" text-anchor="middle" font-size="13">{title}</text>\n')
    o.write(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#000"/>\n')
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        o.write(f'<text x="{L - 5}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>\n')
        s = x0 + (x1 - x0) * i / 4
        o.write(f'<text x="{X(s):.1f}" y="{T + ph + 15}" text-anchor="middle">{s:.0f}</text>\n')
    o.write(f'<text x="{L + pw / 2:.1f}" y="{H - 8}" text-anchor="middle">step</text>\n')
    o.write(f'<text x="14" y="{T + ph / 2:.1f}" transform="rotate(-90 14 {T + ph / 2:.1f})" '
            f'text-anchor="middle">{ylabel}</text>\n')
    for i, (m, g) in enumerate(agg.groupby("method", sort=True)):
        c = _COLORS[i % len(_COLORS)]
        g = g.sort_values("step")
        sd = g["std"].fillna(0).to_numpy()
        up = [(X(s), Y(v)) for s, v in zip(g["step"], g["mean"] + sd)]
        dn = [(X(s), Y(v)) for s, v in zip(g["step"], g["mean"] - sd)][::-1]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in up + dn)
        o.write(f'<polygon points="{pts}" fill="{c}" fill-opacity="0.2" stroke="none"/>\n')
        line = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in zip(g["step"], g["mean"]))
        o.write(f'<polyline points="{line}" fill="none" stroke="{c}" stroke-width="1.5"/>\n')
        ly = T + 15 + 16 * i
        o.write(f'<line x1="{L + pw + 10}" y1="{ly}" x2="{L + pw + 30}" y2="{ly}" stroke="{c}" stroke-width="2"/>\n')
        o.write(f'<text x="{L + pw + 35}" y="{ly + 4}">{m}</text>\n')
    o.write("</svg>\n")
    return o.getvalue()


# the paper's legend labels (Fig. 2)
_LABELS = {"random_init": "Random Initialization", "manual_init": "Manual Initialization",
           "combined": "Ours (gradient + LLM)"}
PNG_DPI = 150


def png_bytes(agg: pd.DataFrame, title: str = "Figure 2", ylabel: str = "test accuracy (%)") -> bytes:
    """The same curves as svg_text as a PNG: mean line per method, ± std band
    (sample std over seeds), legend outside the plot.  Deterministic bytes:
    fixed size and dpi, no Software/date metadata, matplotlib's bundled font."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.8, 4.4), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.08, 0.12, 0.58, 0.78))
    for i, (m, g) in enumerate(agg.groupby("method", sort=True)):
        c = _COLORS[i % len(_COLORS)]
        g = g.sort_values("step")
        x, mu = g["step"].to_numpy(float), g["mean"].to_numpy(float)
        sd = g["std"].fillna(0).to_numpy(float)
        lo_n, hi_n = int(g["n"].min()), int(g["n"].max())
        n = f"{lo_n}" if lo_n == hi_n else f"{lo_n}-{hi_n}"
        ax.fill_between(x, mu - sd, mu + sd, color=c, alpha=0.18, linewidth=0)
        ax.plot(x, mu, color=c, linewidth=1.8, marker="o" if len(x) <= 12 else None, markersize=3.5,
                label=f"{_LABELS.get(m, m)}\nn = {n} seed{'' if hi_n == 1 else 's'}"
                + (", no band" if hi_n < 2 else (", std 0" if not (sd > 0).any() else "")))
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=12, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1.0), frameon=False, fontsize=9,
              title="mean ± std over seeds", title_fontsize=9, alignment="left",
              labelspacing=0.9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buf.getvalue()


def write_figure(agg: pd.DataFrame, out_dir=None, name: str = "figure2") -> list:
    """<name>.csv with every dataset, and per dataset <name>[_<dataset>].svg
    and the same picture as <name>[_<dataset>].png (svg before png)."""
    d = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    d.mkdir(parents=True, exist_ok=True)
    texts = {d / f"{name}.csv": csv_text(agg)}
    datasets = sorted(agg["dataset"].unique())
    for ds in datasets:
        suffix = "" if len(datasets) == 1 else f"_{ds}"
        sub = agg[agg["dataset"] == ds]
        texts[d / f"{name}{suffix}.svg"] = svg_text(sub, title=f"{name}: {ds}")
        texts[d / f"{name}{suffix}.png"] = png_bytes(sub, title=f"Figure 2: {ds}, test accuracy during prompt tuning")
    for p, data in texts.items():
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            with open(p, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
    return list(texts)
