"""Figure 4 (prompts per LLM round) from a real MLflow store, and Figure 2's PNG."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

from reports import figure2, figure4  # noqa: E402
from reports.__main__ import main  # noqa: E402


def _score(text, loss, acc):
    return {"text": text, "loss": loss, "accuracy": acc}


def _rounds(tag: str) -> list:
    """Three rounds as maao/combined.py writes them: a restart from the best
    proposal, a fallback to the best trajectory prompt, a restart after
    dropped reply lines."""
    return [
        {"round": 0, "step": 10, "key": "k0", "fallback": False,
         "trajectory": [_score(f"{tag} zeta beh", 1.5, 40.0), _score(f"{tag} ila beh", 1.25, 50.0),
                        _score(f"{tag} alpha | pipe", 1.75, 30.0)],
         "shown": [_score(f"{tag} ila beh", 1.25, 50.0), _score(f"{tag} zeta beh", 1.5, 40.0)],
         "reply": "a photo of a {}\na satellite photo of {}",
         "dropped": [],
         "proposals": [_score("a photo of a {}", 1.125, 55.0), _score("a satellite photo of {}", 0.875, 62.5)],
         "restart_from": "a satellite photo of {}"},
        {"round": 1, "step": 20, "key": "k1", "fallback": True,
         "trajectory": [_score(f"{tag} satellite beh", 0.75, 70.0)],
         "shown": [_score(f"{tag} satellite beh", 0.75, 70.0)],
         "reply": "Sure! Here are templates:",
         "dropped": [{"line": "Sure! Here are templates:", "reason": "preamble or commentary"}],
         "proposals": [], "restart_from": f"{tag} satellite beh"},
        {"round": 2, "step": 30, "key": "k2", "fallback": False,
         "trajectory": [_score(f"{tag} satellite | view", 0.625, 75.0)],
         "shown": [_score(f"{tag} satellite | view", 0.625, 75.0)],
         "reply": "Templates:\na centered satellite photo of {}\nThese are better.\n" + "x" * 200,
         "dropped": [{"line": "Templates:", "reason": "preamble or commentary"},
                     {"line": "x" * 200, "reason": "too many words"},
                     {"line": "These are better.", "reason": "preamble or commentary"}],
         "proposals": [_score("a centered satellite photo of {}", 0.5, 80.0)],
         "restart_from": "a centered satellite photo of {}"},
    ]


def _make_store(tmp_path: Path) -> str:
    """A real sqlite store with artifacts on disk: combined runs for two
    datasets and shots {1, 4, 16} x seeds {1, 2}, plus one baseline run.
    Only the 4-shot seed-1 runs carry the rounds the test looks for."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table3-mini", artifact_location=(tmp_path / "artifacts").as_uri())
    t = 1_700_000_000_000
    i = 0
    for ds in ("ds_b", "ds_a"):
        for shots in (16, 1, 4):
            for seed in (2, 1):
                for method in ("combined", "single_start"):
                    i += 1
                    tags = {"table": "table3", "scale": "mini", "method": method, "dataset": ds,
                            "shots": str(shots), "seed": str(seed), "llm_model": "test-llm",
                            "mlflow.runName": f"{method}/{ds}/{shots}shot/seed{seed}"}
                    run = client.create_run(exp, start_time=t + i, tags=tags)
                    rid = run.info.run_id
                    client.log_metric(rid, "test_accuracy", 70.0 + shots + seed / 10)
                    if method == "combined":
                        chosen = shots == 4 and seed == 1
                        rounds = _rounds(ds) if chosen else [{"round": 0, "step": 1, "trajectory": [],
                                                              "shown": [], "reply": "WRONG RUN",
                                                              "dropped": [], "proposals": [],
                                                              "fallback": True}]
                        client.log_text(rid, json.dumps(rounds, indent=1, sort_keys=True), "rounds.json")
                        client.log_text(rid, json.dumps({"kind": "soft", "projected": f"{ds} final words"}),
                                        "final_prompt.json")
                    client.set_terminated(rid, status="FINISHED", end_time=t + i + 1)
    return uri


def test_figure4_from_mlflow_store(tmp_path, capsys):
    uri = _make_store(tmp_path)
    fig = figure4.load_figure4(uri, "mini", "table3")
    assert fig.shots == 4 and fig.shot_settings == [1, 4, 16] and fig.seed == 1
    assert [(r.dataset, r.shots, r.seed) for r in fig.runs] == [("ds_a", 4, 1), ("ds_b", 4, 1)]
    paths = figure4.write_figure4(fig, tmp_path / "out")
    assert [p.name for p in paths] == ["figure4.md", "figure4.html"]
    md = paths[0].read_text(encoding="utf-8")
    assert "WRONG RUN" not in md
    assert "4 shots (of 1, 4, 16), and seed 1" in md
    assert "| ds_a | `combined/ds_a/4shot/seed1` | 4 | 1 | 3 | 74.1 | `ds_a final words` |" in md

    a = md[md.index("## ds_a"):md.index("## ds_b")]
    # rounds in order, numbered from 1, each with its step
    r1, r2, r3 = (a.index(f"### Round {k} (after gradient step {10 * k})") for k in (1, 2, 3))
    assert r1 < r2 < r3
    round1, round2, round3 = a[r1:r2], a[r2:r3], a[r3:]
    # round 1: shown prompts (in shown order), then proposals; restart = best proposal
    rows = [line for line in round1.splitlines() if line.startswith("| trajectory") or line.startswith("| LLM")]
    assert rows == [
        "| trajectory 1 | `ds_a ila beh` | 1.2500 | 50.0 |",
        "| trajectory 2 | `ds_a zeta beh` | 1.5000 | 40.0 |",
        "| LLM 1 | `a photo of a {}` | 1.1250 | 55.0 |",
        "| LLM 2 **← restart** | `a satellite photo of {}` | 0.8750 | 62.5 |",
    ]
    assert "3 distinct projected prompts on this round's trajectory, top 2 shown." in round1
    assert "Restart from LLM proposal 2, `a satellite photo of {}` (loss 0.8750)." in round1
    assert "Dropped reply lines" not in round1
    # round 2: fallback to the best trajectory prompt
    assert "| trajectory 1 **← restart** | `ds_a satellite beh` | 0.7500 | 70.0 |" in round2
    assert "| LLM | (no usable template) | | |" in round2
    assert "No usable LLM proposal (fallback): restart from the best trajectory prompt" in round2
    assert "- preamble or commentary (1): `Sure! Here are templates:`" in round2
    # round 3: dropped lines grouped by reason (first-appearance order), long lines cut
    assert "| LLM 1 **← restart** | `a centered satellite photo of {}` | 0.5000 | 80.0 |" in round3
    assert "Dropped reply lines (3):" in round3
    assert "- preamble or commentary (2): `Templates:`; `These are better.`" in round3
    assert "- too many words (1): `" + "x" * 79 + "…`" in round3
    assert "x" * 200 in round3  # the raw reply is kept, folded in <details>
    assert a.rstrip().endswith("Final projected prompt after the last gradient steps: `ds_a final words`.")
    # a pipe in a prompt is escaped so that it does not split the table row
    assert "| trajectory 1 | `ds_a satellite \\| view` | 0.6250 | 75.0 |" in round3

    html = paths[1].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert '<tr class="restart"><td>LLM 2 ← restart</td><td><code>a satellite photo of {}</code>' in html

    # byte-identical on a second build, also through the CLI
    capsys.readouterr()
    assert main(["figure4", "--tracking-uri", uri, "--scale", "mini", "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "4 shots (median of 1, 4, 16), seed 1" in out and "ds_a: combined/ds_a/4shot/seed1" in out
    for p in paths:
        assert (tmp_path / "cli" / p.name).read_bytes() == p.read_bytes()


def test_figure4_fallback_choice_and_missing_artifact(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table3-mini", artifact_location=(tmp_path / "artifacts").as_uri())
    for shots, seed in ((1, 1), (16, 2), (16, 3)):   # shot settings {1, 16}: lower median 1
        run = client.create_run(exp, tags={"table": "table3", "scale": "mini", "method": "combined",
                                           "dataset": "ds", "shots": str(shots), "seed": str(seed)})
        client.log_metric(run.info.run_id, "test_accuracy", 60.0)
        client.set_terminated(run.info.run_id, "FINISHED")
    fig = figure4.load_figure4(uri, "mini", "table3")
    assert fig.shots == 1 and fig.runs[0].shots == 1 and fig.runs[0].seed == 1 and not fig.runs[0].note
    md = figure4.markdown_text(fig)
    assert "This run has no `rounds.json` artifact." in md

    fig = figure4.load_figure4(uri, "mini", "table3", seed=3)
    assert (fig.runs[0].shots, fig.runs[0].seed) == (1, 1)
    assert "no finished run with 1 shots and seed 3" in fig.runs[0].note
    assert main(["figure4", "--tracking-uri", uri, "--scale", "paper", "--out", str(tmp_path / "x")]) == 2


def test_median_low():
    assert figure4.median_low([1, 4, 16]) == 4
    assert figure4.median_low([16, 8, 4, 1, 4]) == 4
    assert figure4.median_low([2]) == 2


def _png_size(data: bytes) -> tuple[int, int]:
    """Validate the PNG chunk structure (signature, CRCs, IHDR first, IEND last)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        name, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(name + body) == crc
        names.append(name)
        if name == b"IHDR":
            size = struct.unpack(">II", body[:8])
        pos += 12 + length
    assert names[0] == b"IHDR" and names[-1] == b"IEND" and b"IDAT" in names
    assert b"tIME" not in names
    return size


def test_figure2_png(tmp_path):
    rows = [dict(dataset=ds, method=m, seed=sd, step=st_, value=50 + i * 5 + st_ * 0.5 + sd * 0.3)
            for ds in ("ds_a", "ds_b")
            for i, m in enumerate(["random_init", "manual_init", "combined"])
            for sd in (1, 2, 3) for st_ in range(0, 50, 5)]
    agg = figure2.aggregate(pd.DataFrame(rows))
    p1 = figure2.write_figure(agg, tmp_path / "a")
    p2 = figure2.write_figure(figure2.aggregate(pd.DataFrame(rows[::-1])), tmp_path / "b")
    assert [p.name for p in p1] == ["figure2.csv", "figure2_ds_a.svg", "figure2_ds_a.png",
                                    "figure2_ds_b.svg", "figure2_ds_b.png"]
    for x, y in zip(p1, p2):
        assert x.read_bytes() == y.read_bytes()
    png = p1[2].read_bytes()
    w, h = _png_size(png)
    assert (w, h) == (round(8.8 * figure2.PNG_DPI), round(4.4 * figure2.PNG_DPI))
    assert b"Software" not in png and b"matplotlib" not in png
    assert p1[2].read_bytes() != p1[4].read_bytes()


def test_mechanism_health_from_the_recorded_rounds(tmp_path):
    """reports.health reads every combined run's rounds.json from a real store (issue 22)."""
    from reports import health
    from reports.runs import load_runs

    uri = _make_store(tmp_path)
    df = load_runs(uri, "table3", "mini")
    h = health.load_health(uri, df[df["method"] == "combined"])
    # 2 chosen runs x 3 rounds + 10 other combined runs x 1 fallback round each
    assert len(h) == 16 and set(h["method"]) == {"combined"}
    chosen = h[(h["shots"] == 4) & (h["seed"] == 1)]
    assert list(chosen["restart"]) == ["better", "equal", "better"] * 2
    assert list(chosen["dropped"]) == [0, 1, 3] * 2 and not chosen["echo"].any()
    s = health.method_summary(h)["combined"]
    assert (s["rounds"], s["fallback"], s["dropped"], s["better"], s["equal"], s["none"]) == (16, 12, 8, 4, 2, 10)
    text = health.health_text(h, {"combined": "Combined (ours)"})
    assert text.startswith("Per LLM row") and "Combined (ours): 16 rounds" in text
    csv_path = tmp_path / "h.csv"
    csv_path.write_text(health.health_csv_text(h), encoding="utf-8")
    assert health.health_csv_text(health.read_health_csv(csv_path)) == csv_path.read_text(encoding="utf-8")
