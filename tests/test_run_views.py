"""What the MLflow UI shows of a run (maao/run_views.py), without training:
a combined run's rounds as recorded, a multi-start run, LLM-only search."""
import struct

import pytest

from maao import run_views
from maao.run_record import RunRecord
from maao.spec import load_spec

SECRET = "sk-test-Zq81LmNc4VbX2wRtY7uKs"
ROUND = {"round": 0, "step": 10, "reply": f"a request to {{}}.\nLoss: 0.45\nkey {SECRET[3:]}",
         "shown": [{"text": "guitarists abbess sherwood groans", "loss": 0.2733, "accuracy": 85.71}],
         "proposals": [{"text": "a request to {}.", "loss": 0.2334, "accuracy": 85.71}],
         "dropped": [{"line": "Loss: 0.45", "reason": "contains a score (echo of the instruction)"}],
         "restart_from": "a request to {}.", "fallback": False}
FALLBACK = {"round": 1, "step": 20, "reply": "???", "proposals": [], "dropped": [],
            "restart_from": "guitarists abbess sherwood groans", "fallback": True}
TRANSCRIPT = [{"request": {"messages": [{"role": "user", "content": "Hi GPT, assume you are ..."}]}}]
TAGS = {"method": "combined", "dataset": "intent_recognition", "shots": 4, "seed": 1, "table": "table3",
        "scale": "mini", "config_hash": "abc", "llm_model": "qwen", "llm_source": "store", "llm_mode": "replay",
        "llm_pairs_sha256": "d1"}


def test_restarts_of_the_combined_method_and_of_multi_start():
    assert run_views.restarts("combined", [ROUND, FALLBACK], 10, 2) == [
        (10, "LLM: a request to {}."), (20, "no usable proposal: guitarists abbess sherwood groans")]
    assert run_views.restarts("multi_start_perturbed", [], 10, 3) == [
        (10, "restart (multi-start)"), (20, "restart (multi-start)"), (30, "restart (multi-start)")]
    assert run_views.restarts("single_start", [], 10, 3) == []
    assert run_views.restarts("llm_only", [{"iteration": 0, "reply": "x"}], 10, 3) == []


def test_rounds_are_readable_markdown_and_keep_no_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # as the runner makes them: from the run's record, cleaned once when built
    record = RunRecord.build("combined/intent_recognition/4shot/seed1", {}, [], {},
                             {"rounds.json": [ROUND, FALLBACK], "llm_transcript.json": TRANSCRIPT})
    text = run_views.rounds_markdown(record.name, record.artifacts["rounds.json"],
                                     record.artifacts["llm_transcript.json"])
    assert "## Round 0 (after step 10)" in text and "## Round 1 (after step 20)" in text
    assert "```text\na request to {}.\nLoss: 0.45\n" in text          # the reply, line by line
    assert "| `a request to {}.` | 0.2334 | 85.71 |" in text
    assert "dropped `Loss: 0.45`: contains a score" in text
    assert "**restarted from:** `a request to {}.`" in text
    assert "no usable proposal; restarted from the best trajectory prompt" in text
    assert "Hi GPT, assume you are" in text
    assert SECRET[3:11] not in text and "***" in text


def test_llm_only_rounds_list_their_templates():
    entry = {"iteration": 0, "reply": "- Ask me to {}.", "key": "k",
             "proposals": {"Ask me to {}.": [0.61, 85.71]}, "dropped": [], "best": "Ask me to {}."}
    text = run_views.rounds_markdown("llm_only", [entry], [])
    assert "| `Ask me to {}.` | 0.6100 | 85.71 |" in text and "**best template so far:** `Ask me to {}.`" in text


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_loss_curve_png():
    metrics = [("batch_loss", 1.0 / s, s, 1000 + s) for s in range(1, 41)] + [("lr", 0.05, 1, 1000)]
    png = run_views.loss_curve_png("combined/x", metrics, [(10, "LLM: a {}"), (20, "LLM: b {}")])
    assert _png_size(png) == (800, 420)
    assert run_views.loss_curve_png("llm_only/x", [("best_train_accuracy", 80.0, 0, 1)], []) is None


def test_run_note_has_the_key_numbers():
    metrics = {"test_accuracy": 81.25, "test_loss": 0.61234, "train_accuracy": 100.0, "llm_calls": 3.0}
    note = run_views.run_note(TAGS, metrics, "a request to", [(10, "LLM: a request to {}.")])
    assert "| test accuracy (%) | 81.25 |" in note and "| LLM calls | 3 |" in note
    assert "`a request to`" in note and "`rounds.md`" in note and "LLM `qwen`" in note
    plain = {k: v for k, v in TAGS.items() if not k.startswith("llm")}
    assert "No LLM" in run_views.run_note({**plain, "method": "single_start"}, metrics, "x", [])


@pytest.mark.parametrize("table", ["table3", "table6", "figure2"])
def test_experiment_note_names_table_scale_and_rows(table):
    spec = load_spec(table)
    note = run_views.experiment_note(spec, "mini", f"maao-{table}-mini")
    assert f"**{spec.table}**" in note and "**mini**" in note
    for row in spec.rows("mini"):
        assert row["name"] in note
