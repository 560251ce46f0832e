"""Cost in view (issue 26, item 7): token counts and USD of LLM runs, and
`maao sweep --dry-run`, which prints the plan and writes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from maao.cli import main
from maao.llm.prices import PRICES, cost_usd, usage_metrics
from maao.spec import load_spec


def _records():
    path = load_spec("table3").responses_path("mini")
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_usage_metrics_sum_the_recorded_token_counts():
    records = _records()[:5]
    transcript = [{"usage": r["meta"]["usage"]} for r in records]
    model = records[0]["request"]["model"]
    got = usage_metrics(transcript, model)
    assert got["llm_prompt_tokens"] == sum(r["meta"]["usage"]["prompt_tokens"] for r in records)
    assert got["llm_completion_tokens"] == sum(r["meta"]["usage"]["completion_tokens"] for r in records)
    assert got["llm_cost_usd"] == 0.0                      # the local recorded model: no API cost
    priced = usage_metrics(transcript, "gpt-3.5-turbo-0125")
    assert priced["llm_cost_usd"] == pytest.approx(
        (got["llm_prompt_tokens"] * 0.5 + got["llm_completion_tokens"] * 1.5) / 1e6)
    assert "llm_cost_usd" not in usage_metrics(transcript, "some-unpriced-model")
    partial = usage_metrics(transcript + [{"usage": None}], "gpt-4o-mini")
    assert partial["llm_calls_without_usage"] == 1 and "llm_cost_usd" not in partial
    assert cost_usd("gpt-4o", 1e6, 0) == PRICES["gpt-4o"][0]


def _finished_store(tmp_path):
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    from maao.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    eid = Tracker(uri).experiment_id("maao-table3-mini")
    client = MlflowClient(uri)
    for method, seconds, calls in (("combined", 20.0, 3.0), ("single_start", 8.0, None)):
        run = client.create_run(eid)
        tags = {"table": "table3", "scale": "mini", "method": method, "dataset": "bbc_news", "shots": "1",
                "seed": "1", "config_hash": method}
        metrics = [Metric("seconds", seconds, 0, 0)] + ([Metric("llm_calls", calls, 0, 0)] if calls else [])
        client.log_batch(run.info.run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id, "FINISHED")
    return uri


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    uri = _finished_store(tmp_path)
    db = tmp_path / "mlflow.db"
    before = db.stat().st_mtime_ns, db.stat().st_size
    args = ["sweep", "table3", "--dry-run", "--tracking-uri", uri, "--datasets", "bbc_news", "--shots", "1",
            "--seeds", "1", "2", "--methods", "combined", "single_start"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 in the selection, 2 finished in the store (by cell tags), 2 to train (1 with an LLM)" in out
    assert "time: ~0.5 min for 2 of the 2 runs" in out          # (20 s + 8 s) from the finished runs
    assert "LLM calls: ~3 to replay from mini.jsonl" in out
    assert "recorded calls missing: 0 of the keys mini.table3.manifest.json lists" in out
    assert "API cost: $0 (every call replayed)" in out
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before
    from mlflow.tracking import MlflowClient

    assert len(MlflowClient(uri).search_runs(["1"])) == 2 and not [
        e for e in MlflowClient(uri).search_experiments() if e.name != "maao-table3-mini" and e.name != "Default"]


def test_dry_run_on_no_store_creates_none(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["sweep", "table3", "--dry-run", "--tracking-uri", f"sqlite:///{db}", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "48 in the selection, 0 finished in the store (by cell tags), 48 to train (24 with an LLM)" in out
    assert "without a finished run to go by: unknown" in out
    assert not db.exists()


def test_a_bad_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sweep", "table3", "--seeds", "abc"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seeds" in err and "invalid int value" in err, err
