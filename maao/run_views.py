"""What a researcher reads about a run in the MLflow UI, beside the raw JSON.

- `run_note`: the run's description (MLflow's `mlflow.note.content`, shown
  on the run page and editable there): its cell, key numbers, final prompt;
- `loss_curve_png`: the batch loss by step, every restart marked (the LLM's
  restarts of the combined method, the round restarts of multi-start);
- `rounds_markdown`: the LLM rounds as text (what was shown, what came back,
  what was kept and why lines were dropped), not one escaped JSON line;
- `experiment_note`: the experiment's description (which table, scale, how
  to read it).

Torch-free: everything arrives as plain numbers and strings, from a run's
record after `RunRecord.build` has cleaned it of API keys (maao/run_record.py),
so nothing here redacts.
"""
from __future__ import annotations

import io


TAG_MAX = 5000          # MLflow 3 keeps tag values up to 8000 characters
KEY_NUMBERS = (("test_accuracy", "test accuracy (%)"), ("test_loss", "test loss"),
               ("train_accuracy", "train accuracy (%)"), ("train_loss", "train loss"),
               ("test_majority_accuracy", "majority class, test (%)"),
               ("llm_calls", "LLM calls"), ("llm_fallbacks", "LLM rounds without a usable proposal"),
               ("llm_prompt_tokens", "LLM prompt tokens"), ("llm_completion_tokens", "LLM completion tokens"),
               ("llm_cost_usd", "LLM cost (USD, at the recorded calls' token counts)"),
               ("seconds", "seconds"))
COUNTS = ("llm_calls", "llm_fallbacks", "llm_prompt_tokens", "llm_completion_tokens")


def final_prompt_text(record: dict) -> str:
    """The final prompt as words: the projected soft context V^-1(p), or the template."""
    text = record.get("projected") if record.get("kind") == "soft" else record.get("template")
    return str(text or "")[:TAG_MAX]


def restarts(method: str, rounds: list[dict], steps_per_round: int, n_rounds: int) -> list[tuple[int, str]]:
    """(step, label) of every restart of a run: the LLM's (from rounds.json),
    or multi-start's restart after each round (no LLM, no record)."""
    marks = []
    for entry in rounds:
        if "step" not in entry:
            continue            # LLM-only search: templates, no gradient steps
        if entry.get("fallback"):
            label = "no usable proposal" + (f": {entry['restart_from']}" if entry.get("restart_from") else "")
        else:
            label = f"LLM: {entry.get('restart_from', '')}"
        marks.append((int(entry["step"]), label))
    if not marks and method.startswith("multi_start"):
        marks = [(steps_per_round * (i + 1), "restart (multi-start)") for i in range(n_rounds)]
    return marks


def run_note(tags: dict, metrics: dict, prompt: str, marks: list[tuple[int, str]]) -> str:
    lines = [f"**{tags['method']}** on **{tags['dataset']}**, shots {tags['shots']}, seed {tags['seed']} "
             f"({tags['table']}, {tags['scale']} scale).", "",
             "| | |", "|---|---:|"]
    for key, label in KEY_NUMBERS:
        if key in metrics:
            value = metrics[key]
            lines.append(f"| {label} | {value:.0f} |" if key in COUNTS
                         else f"| {label} | {value:.2f} |" if "accuracy" in key or key == "seconds"
                         else f"| {label} | {value:.4f} |")
    lines += ["", f"Final prompt: `{prompt}`" if prompt else "Final prompt: (none)"]
    if marks:
        rounds = "; the LLM's rounds in `rounds.md`" if tags.get("llm_model") else ""
        lines += ["", f"Restarts at steps {', '.join(str(s) for s, _ in marks)} "
                      f"(marked on `loss_curve.png`{rounds})."]
    if tags.get("llm_model"):
        lines += ["", f"LLM `{tags['llm_model']}`, replies from {tags.get('llm_source', '?')} "
                      f"(mode {tags.get('llm_mode', '?')}, responses digest `{tags.get('llm_pairs_sha256', '')}`)."]
    else:
        lines += ["", "No LLM: gradient descent only."]
    lines += ["", f"Configuration hash `{tags['config_hash']}` (artifact `config.json`)."]
    return "\n".join(lines)


def loss_curve_png(title: str, metrics: list[tuple], marks: list[tuple[int, str]]) -> bytes | None:
    """PNG of the batch loss by step with restarts as vertical lines; None
    when the run has no gradient steps (LLM-only search)."""
    points = sorted((m[2], m[1]) for m in metrics if m[0] == "batch_loss")
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")   # no display; never opens a window
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), dpi=100)
    ax = fig.subplots()
    ax.plot([s for s, _ in points], [v for _, v in points], color="#1f77b4", lw=1.2, label="batch loss")
    top = max(v for _, v in points)
    for i, (step, label) in enumerate(marks):
        ax.axvline(step, color="#d62728", ls="--", lw=1, label="restart" if i == 0 else None)
        ax.annotate(label[:40], (step, top), xytext=(3, -4 - 11 * (i % 3)), textcoords="offset points",
                    fontsize=7, color="#d62728", va="top")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("training batch loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _scored(items) -> list[str]:
    return [f"| `{t.get('text', '')}` | {t.get('loss', float('nan')):.4f} | "
            f"{t.get('accuracy', float('nan')):.2f} |" for t in items]


def rounds_markdown(title: str, rounds: list[dict], transcript: list[dict]) -> str:
    """The LLM rounds as Markdown: per round the instruction sent, the reply,
    the proposals with their training scores, the dropped lines and the restart."""
    out = [f"# LLM rounds: {title}", ""]
    for i, entry in enumerate(rounds):
        n = entry.get("round", entry.get("iteration", i))
        where = f" (after step {entry['step']})" if "step" in entry else ""
        out += [f"## Round {n}{where}", ""]
        request = transcript[i].get("request", {}) if i < len(transcript) else {}
        for message in request.get("messages", []):
            out += [f"**Sent ({message.get('role', '?')}):**", "", "```text", str(message.get("content", "")),
                    "```", ""]
        if entry.get("shown"):
            out += ["Projected trajectory prompts shown (train loss, accuracy):", "",
                    "| prompt | loss | accuracy |", "|---|---:|---:|", *_scored(entry["shown"]), ""]
        out += ["**Reply:**", "", "```text", str(entry.get("reply", "")), "```", ""]
        proposals = entry.get("proposals") or []
        if isinstance(proposals, dict):   # LLM-only search: {template: [loss, accuracy]}
            proposals = [{"text": t, "loss": v[0], "accuracy": v[1]} if isinstance(v, (list, tuple))
                         else {"text": t} for t, v in proposals.items()]
        if proposals:
            out += ["Proposals scored on the training set:", "",
                    "| proposal | loss | accuracy |", "|---|---:|---:|", *_scored(proposals), ""]
        for d in entry.get("dropped") or []:
            out.append(f"- dropped `{d.get('line', '')}`: {d.get('reason', '')}")
        if entry.get("dropped"):
            out.append("")
        if "restart_from" in entry:
            how = "no usable proposal; restarted from the best trajectory prompt" if entry.get("fallback") \
                else "restarted from"
            out += [f"**{how}:** `{entry['restart_from']}`", ""]
        elif entry.get("fallback"):
            out += ["**no usable proposal; continued unchanged**", ""]
        if "best" in entry:
            out += [f"**best template so far:** `{entry['best']}`", ""]
    return "\n".join(out)


def experiment_note(spec, scale: str, experiment: str) -> str:
    """The experiment's description: which table, scale, how to read it."""
    body = spec.scale(scale)
    cells = (f"datasets {', '.join(body.get('datasets', []))}; shots {body.get('shots')}; "
             f"seeds {body.get('seeds')}")
    rows = ", ".join(r["name"] for r in spec.rows(scale))
    return "\n".join([
        f"**{spec.table}** of the paper at the **{scale}** scale (spec `{spec.name}` v{spec.version}).", "",
        " ".join(str(spec.description).split()), "",
        f"Rows (tag `method`): {rows}. Cells: {cells}.", "",
        "How to read it: one run per (method, dataset, shots, seed), nested under the run "
        f"`{spec.table} {scale} sweep`, which holds the table (`tables/{spec.table}.md`, `.csv`) and its "
        f"significance tests (`tables/{spec.table}_significance.csv`). The table's entry is "
        "`test_accuracy` averaged over shots per seed, then mean ± std over seeds. To compare the "
        "combined method with a baseline, filter by dataset and shots and leave out the other rows "
        "(MLflow's search has no OR and no IN for tags), e.g. `tags.dataset = 'bbc_news' AND "
        "tags.shots = '4' AND tags.method != 'llm_only'`, or let `maao ui --compare combined "
        "single_start --dataset bbc_news --shots 4` print the link; sort by `metrics.test_accuracy`, "
        "select the runs and press Compare. "
        "Each run's description has its key numbers; `loss_curve.png` marks its restarts; "
        "`rounds.md` shows the LLM rounds.",
        "", f"Reports: `python -m reports {spec.table} --scale {scale}`; experiment `{experiment}`.",
    ])
