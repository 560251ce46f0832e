"""Figure 4: interpretation of prompts (the paper's Fig. 4, EuroSAT, GPT-3.5).

For ONE run of the combined method per dataset, lists per LLM round the
projected trajectory prompts the instruction showed the LLM and the templates
the LLM proposed, each with its training loss, which one gradient descent
restarted from, and the reply lines the parser dropped.

Run choice (fixed, printed in the output): per dataset, the ``combined`` run
of experiment ``maao-{table}-{scale}`` with the table's median shot setting
(the lower median of the distinct shot settings of its combined runs: 4 of
{1, 4, 16} at mini scale, 4 of {1, 4, 8, 16} at paper scale) and seed 1.  If
a dataset lacks that cell, its run with the nearest shot setting (fewer shots
on a tie) and lowest seed is used instead, with a note.

Input: the run's ``rounds.json`` artifact (written by ``maao/combined.py``: a
list of entries with round, step, trajectory, shown, reply, key, dropped,
proposals, restart_from, fallback) and, when present, ``final_prompt.json``.
Output: ``figure4.md`` and ``figure4.html`` (static, no JS), byte-identical
for the same runs (no timestamps, fixed float formats).

    python -m reports figure4 --tracking-uri sqlite:///mlflow.db --scale mini [--table table3] [--out DIR]
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .runs import NoFinishedRuns, experiment_name, load_runs

DEFAULT_OUT = Path(__file__).resolve().parent
METHOD = "combined"
SEED = 1
_DROPPED_CHARS = 80  # dropped reply lines are cut to this many characters


@dataclass
class Figure4Run:
    """The chosen run of one dataset and what its artifacts hold."""

    dataset: str
    run_id: str
    run_name: str
    shots: int
    seed: int
    test_accuracy: float
    llm_model: str = ""
    note: str = ""                      # why the fixed choice was not available
    rounds: list | None = None          # rounds.json; None when the artifact is missing
    final_prompt: str | None = None     # final_prompt.json "projected"


@dataclass
class Figure4:
    table: str
    scale: str
    experiment: str
    shots: int                          # the median shot setting chosen
    shot_settings: list[int]
    seed: int
    runs: list[Figure4Run] = field(default_factory=list)


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------
def median_low(values) -> int:
    v = sorted(set(int(x) for x in values))
    return v[(len(v) - 1) // 2]


def choose_runs(df, seed: int = SEED):
    """(shots, shot settings, [(row, note)]) per dataset, sorted by dataset.

    ``df`` is load_runs' frame restricted to the combined method."""
    settings = sorted(set(int(s) for s in df["shots"]))
    shots = median_low(settings)
    chosen = []
    for ds in sorted(df["dataset"].unique()):
        d = df[df["dataset"] == ds]
        exact = d[(d["shots"] == shots) & (d["seed"] == seed)]
        if len(exact):
            chosen.append((exact.iloc[0], ""))
            continue
        d = d.assign(_dist=(d["shots"] - shots).abs())
        row = d.sort_values(["_dist", "shots", "seed"], kind="mergesort").iloc[0]
        chosen.append((row, f"no finished run with {shots} shots and seed {seed}; "
                            f"used {int(row['shots'])} shots, seed {int(row['seed'])} instead"))
    return shots, settings, chosen


def _read_artifact(client, run_id: str, path: str, tmp: str):
    """Parsed JSON artifact, or None if the run has no such artifact."""
    names = {a.path for a in client.list_artifacts(run_id)}
    if path not in names:
        return None
    old = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        local = client.download_artifacts(run_id, path, tmp)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = old
    with open(local, encoding="utf-8") as fh:
        return json.load(fh)


def load_figure4(tracking_uri: str, scale: str = "mini", table: str = "table3",
                 seed: int = SEED) -> Figure4:
    """Choose the runs (see module docstring) and read their rounds.json.

    Raises ExperimentNotFound / NoFinishedRuns (one-line messages)."""
    from mlflow.tracking import MlflowClient

    name = experiment_name(table, scale)
    df = load_runs(tracking_uri, table, scale)
    df = df[df["method"] == METHOD]
    if df.empty:
        raise NoFinishedRuns(f"experiment {name!r} in tracking URI {tracking_uri!r} has no finished "
                             f"runs with method {METHOD!r}")
    shots, settings, chosen = choose_runs(df, seed)
    client = MlflowClient(tracking_uri=tracking_uri)
    fig = Figure4(table, scale, name, shots, settings, seed)
    with tempfile.TemporaryDirectory(prefix="maao-figure4-") as tmp:
        for i, (row, note) in enumerate(chosen):
            run = client.get_run(row["run_id"])
            tags = run.data.tags
            sub = os.path.join(tmp, str(i))
            os.mkdir(sub)
            final = _read_artifact(client, row["run_id"], "final_prompt.json", sub)
            fig.runs.append(Figure4Run(
                dataset=row["dataset"], run_id=row["run_id"],
                run_name=tags.get("mlflow.runName", row["run_id"]),
                shots=int(row["shots"]), seed=int(row["seed"]),
                test_accuracy=float(row["test_accuracy"]),
                llm_model=tags.get("llm_model", ""), note=note,
                rounds=_read_artifact(client, row["run_id"], "rounds.json", sub),
                final_prompt=(final or {}).get("projected") if isinstance(final, dict) else None))
    return fig


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------
def _f(x, fmt: str) -> str:
    try:
        return format(float(x), fmt)
    except (TypeError, ValueError):
        return "–"


def _cut(text: str, n: int = _DROPPED_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _grouped_dropped(dropped) -> list[tuple[str, list[str]]]:
    """[(reason, [line, ...])] in order of each reason's first appearance."""
    groups: dict[str, list[str]] = {}
    for d in dropped or []:
        groups.setdefault(str(d.get("reason", "?")), []).append(str(d.get("line", "")))
    return list(groups.items())


def _restart(entry) -> tuple[str, int | None]:
    """(where, index): where is 'proposal', 'trajectory' or 'none'; index into
    proposals / shown of the prompt gradient descent restarted from."""
    target = entry.get("restart_from")
    if target is None:
        return "none", None
    if not entry.get("fallback"):
        for i, p in enumerate(entry.get("proposals") or []):
            if p.get("text") == target:
                return "proposal", i
    for i, p in enumerate(entry.get("shown") or []):
        if p.get("text") == target:
            return "trajectory", i
    return "other", None


def _restart_sentence(entry, fmt_text) -> str:
    where, i = _restart(entry)
    if where == "proposal":
        p = entry["proposals"][i]
        return (f"Restart from LLM proposal {i + 1}, {fmt_text(p['text'])} "
                f"(loss {_f(p.get('loss'), '.4f')}).")
    if where == "trajectory":
        p = entry["shown"][i]
        return (f"No usable LLM proposal (fallback): restart from the best trajectory prompt "
                f"{fmt_text(p['text'])} (loss {_f(p.get('loss'), '.4f')}).")
    if where == "other":
        return f"Restart from {fmt_text(entry['restart_from'])}."
    if entry.get("fallback"):
        return "No usable LLM proposal (fallback): gradient descent continued without a restart."
    return "No restart recorded."


def _traj_count(n: int) -> str:
    return f"{n} distinct projected prompt{'' if n == 1 else 's'}"


def _round_title(entry) -> str:
    return f"Round {int(entry.get('round', 0)) + 1} (after gradient step {entry.get('step', '?')})"


def _intro(fig: Figure4) -> list[str]:
    others = ", ".join(str(s) for s in fig.shot_settings)
    return [
        f"Counterpart of the paper's Figure 4 (\"Interpretation of prompts optimized by LLM\", EuroSAT, "
        f"GPT-3.5) at {fig.scale} scale. For one run of the combined optimizer per dataset, each round lists "
        f"the projected trajectory prompts shown to the LLM in the instruction (the top-k by training loss "
        f"of the prompts recorded during the round's gradient steps, projected to tokens by V^-1) and the "
        f"templates the LLM proposed, each scored as a prompt on the few-shot training set: loss = "
        f"cross-entropy (lower is better), acc. = training accuracy (%). Gradient descent restarts from "
        f"the marked prompt. Rounds are numbered from 1 like the paper's.",
        f"Runs: experiment `{fig.experiment}`, method `{METHOD}`; fixed choice per dataset: the table's "
        f"median shot setting, {fig.shots} shots (of {others}), and seed {fig.seed}.",
    ]


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------
def _code(text) -> str:
    """Inline code span safe inside a GFM table cell."""
    t = " ".join(str(text).split()).replace("|", "\\|")
    ticks = max((len(m) for m in re.findall(r"`+", t)), default=0) + 1
    fence = "`" * ticks
    pad = " " if t.startswith("`") or t.endswith("`") or not t else ""
    return f"{fence}{pad}{t}{pad}{fence}"


def _md_round(entry) -> list[str]:
    out = [f"### {_round_title(entry)}", ""]
    where, idx = _restart(entry)
    out += ["| | prompt | loss | acc. (%) |", "|---|---|---:|---:|"]
    shown = entry.get("shown") or []
    for i, p in enumerate(shown):
        mark = " **← restart**" if where == "trajectory" and i == idx else ""
        out.append(f"| trajectory {i + 1}{mark} | {_code(p.get('text', ''))} | "
                   f"{_f(p.get('loss'), '.4f')} | {_f(p.get('accuracy'), '.1f')} |")
    props = entry.get("proposals") or []
    for i, p in enumerate(props):
        mark = " **← restart**" if where == "proposal" and i == idx else ""
        out.append(f"| LLM {i + 1}{mark} | {_code(p.get('text', ''))} | "
                   f"{_f(p.get('loss'), '.4f')} | {_f(p.get('accuracy'), '.1f')} |")
    if not props:
        out.append("| LLM | (no usable template) | | |")
    out.append("")
    n_traj = len(entry.get("trajectory") or [])
    out.append(f"{_traj_count(n_traj)} on this round's trajectory, top {len(shown)} shown. "
               + _restart_sentence(entry, _code))
    dropped = _grouped_dropped(entry.get("dropped"))
    if dropped:
        total = sum(len(v) for _, v in dropped)
        out += ["", f"Dropped reply lines ({total}):", ""]
        for reason, lines in dropped:
            out.append(f"- {reason} ({len(lines)}): " + "; ".join(_code(_cut(x)) for x in lines))
    reply = str(entry.get("reply", ""))
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", reply)), default=0) + 1)
    out += ["", "<details><summary>LLM reply (raw)</summary>", "", f"{fence}text", reply.rstrip("\n"),
            fence, "", "</details>", ""]
    return out


def markdown_text(fig: Figure4) -> str:
    out = [f"# Figure 4 ({fig.table}, {fig.scale} scale): prompts shown to and proposed by the LLM", ""]
    for para in _intro(fig):
        out += [para, ""]
    out += ["| dataset | run | shots | seed | LLM rounds | test acc. (%) | final projected prompt |",
            "|---|---|---:|---:|---:|---:|---|"]
    for r in fig.runs:
        n = "–" if r.rounds is None else str(len(r.rounds))
        fp = _code(r.final_prompt) if r.final_prompt is not None else "–"
        out.append(f"| {r.dataset} | `{r.run_name}` | {r.shots} | {r.seed} | {n} | "
                   f"{_f(r.test_accuracy, '.1f')} | {fp} |")
    out.append("")
    for r in fig.runs:
        out += [f"## {r.dataset}", ""]
        llm = f", LLM `{r.llm_model}`" if r.llm_model else ""
        out += [f"Run `{r.run_name}` (run id `{r.run_id}`): {r.shots} shots, seed {r.seed}{llm}; "
                f"test accuracy {_f(r.test_accuracy, '.1f')} %.", ""]
        if r.note:
            out += [f"Note: {r.note}.", ""]
        if r.rounds is None:
            out += ["This run has no `rounds.json` artifact.", ""]
            continue
        if not r.rounds:
            out += ["`rounds.json` is empty (no LLM rounds).", ""]
        for entry in r.rounds:
            out += _md_round(entry)
        if r.final_prompt is not None:
            out += [f"Final projected prompt after the last gradient steps: {_code(r.final_prompt)}.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------
# HTML (static, no JS)
# --------------------------------------------------------------------------
_CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4;color:#222}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{background:#f4f4f4;padding:0 .2em}
tr.llm td{background:#f3f8ff}tr.restart td{background:#ddf4dd;font-weight:bold}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap}.note{color:#555}"""


def _hcode(text) -> str:
    return f"<code>{html.escape(' '.join(str(text).split()))}</code>"


def _html_round(entry) -> list[str]:
    e = html.escape
    out = [f"<h3>{e(_round_title(entry))}</h3>", "<table>",
           "<tr><th></th><th>prompt</th><th>loss</th><th>acc. (%)</th></tr>"]
    where, idx = _restart(entry)
    rows = [("trajectory", i, p) for i, p in enumerate(entry.get("shown") or [])]
    rows += [("proposal", i, p) for i, p in enumerate(entry.get("proposals") or [])]
    for kind, i, p in rows:
        restart = where == kind and i == idx
        label = f"trajectory {i + 1}" if kind == "trajectory" else f"LLM {i + 1}"
        cls = "restart" if restart else ("llm" if kind == "proposal" else "")
        cls_attr = f' class="{cls}"' if cls else ""
        out.append(f"<tr{cls_attr}><td>{label}{' ← restart' if restart else ''}</td>"
                   f"<td>{_hcode(p.get('text', ''))}</td><td class=\"n\">{_f(p.get('loss'), '.4f')}</td>"
                   f"<td class=\"n\">{_f(p.get('accuracy'), '.1f')}</td></tr>")
    if not entry.get("proposals"):
        out.append('<tr class="llm"><td>LLM</td><td>(no usable template)</td><td></td><td></td></tr>')
    out.append("</table>")
    n_traj = len(entry.get("trajectory") or [])
    out.append(f"<p>{_traj_count(n_traj)} on this round's trajectory, top "
               f"{len(entry.get('shown') or [])} shown. {_restart_sentence(entry, _hcode)}</p>")
    dropped = _grouped_dropped(entry.get("dropped"))
    if dropped:
        total = sum(len(v) for _, v in dropped)
        out.append(f"<details><summary>Dropped reply lines ({total})</summary><ul>")
        for reason, lines in dropped:
            out.append(f"<li>{e(reason)} ({len(lines)}): " + "; ".join(_hcode(_cut(x)) for x in lines)
                       + "</li>")
        out.append("</ul></details>")
    out.append(f"<details><summary>LLM reply (raw)</summary><pre>{e(str(entry.get('reply', '')).rstrip())}"
               "</pre></details>")
    return out


def html_text(fig: Figure4) -> str:
    e = html.escape
    title = f"Figure 4 ({fig.table}, {fig.scale} scale): prompts shown to and proposed by the LLM"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for para in _intro(fig):
        out.append("<p>" + re.sub(r"`([^`]*)`", lambda m: _hcode(m.group(1)), e(para)) + "</p>")
    out += ["<table>", "<tr><th>dataset</th><th>run</th><th>shots</th><th>seed</th><th>LLM rounds</th>"
            "<th>test acc. (%)</th><th>final projected prompt</th></tr>"]
    for r in fig.runs:
        n = "–" if r.rounds is None else str(len(r.rounds))
        fp = _hcode(r.final_prompt) if r.final_prompt is not None else "–"
        out.append(f'<tr><td><a href="#{e(r.dataset)}">{e(r.dataset)}</a></td><td>{_hcode(r.run_name)}</td>'
                   f'<td class="n">{r.shots}</td><td class="n">{r.seed}</td><td class="n">{n}</td>'
                   f'<td class="n">{_f(r.test_accuracy, ".1f")}</td><td>{fp}</td></tr>')
    out.append("</table>")
    for r in fig.runs:
        out.append(f'<h2 id="{e(r.dataset)}">{e(r.dataset)}</h2>')
        llm = f", LLM {_hcode(r.llm_model)}" if r.llm_model else ""
        out.append(f"<p>Run {_hcode(r.run_name)} (run id {_hcode(r.run_id)}): {r.shots} shots, "
                   f"seed {r.seed}{llm}; test accuracy {_f(r.test_accuracy, '.1f')} %.</p>")
        if r.note:
            out.append(f'<p class="note">Note: {e(r.note)}.</p>')
        if r.rounds is None:
            out.append(f"<p>This run has no {_hcode('rounds.json')} artifact.</p>")
            continue
        if not r.rounds:
            out.append(f"<p>{_hcode('rounds.json')} is empty (no LLM rounds).</p>")
        for entry in r.rounds:
            out += _html_round(entry)
        if r.final_prompt is not None:
            out.append(f"<p>Final projected prompt after the last gradient steps: {_hcode(r.final_prompt)}.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_figure4(fig: Figure4, out_dir=None, name: str = "figure4") -> list[Path]:
    """<name>.md and <name>.html in out_dir (default: reports/)."""
    d = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    d.mkdir(parents=True, exist_ok=True)
    texts = {d / f"{name}.md": markdown_text(fig), d / f"{name}.html": html_text(fig)}
    for p, text in texts.items():
        with open(p, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return list(texts)
