"""Table 2 at the paper scale, end to end on CPU: CoOp on CLIP RN50 and TCP on
ViT-B/16 (random weights, pretrained=None), each with and without the combined
optimizer, on CoOp-layout EuroSAT of generated images, through maao.runner with
a real MLflow store and a real OpenAI-compatible HTTP server on loopback."""
from __future__ import annotations

from dataclasses import replace

import pytest
from coop_layout import write_eurosat
from fake_openai_server import FakeOpenAIServer

from maao.llm import ResponseStore
from maao.methods import Budget
from maao.runner import execute
from maao.spec import expand, load_spec
from maao.tracking import Tracker

pytestmark = pytest.mark.slow
ROWS = ["coop", "coop_llm", "tcp", "tcp_llm"]
REPLY = "- a centered satellite photo of {}.\n- a satellite image of {}.\n- an aerial view of {}."


def test_paper_table2_rows_train_and_report(tmp_path, maao_cache_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)               # MLflow's default artifact root is ./mlruns
    data = write_eurosat(tmp_path / "data")
    configs = expand(load_spec("table2"), "paper", ["eurosat"], [1], [1], ROWS)
    assert [(c.name, c.backbone, c.recipe) for c in configs] == [
        ("coop", "clip-rn50", "coop-paper"), ("coop_llm", "clip-rn50", "coop-paper"),
        ("tcp", "clip-vit-b-16", "tcp-paper"), ("tcp_llm", "clip-vit-b-16", "tcp-paper")]
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with FakeOpenAIServer(responder=lambda body: REPLY) as server:
        store = ResponseStore(tmp_path / "responses.jsonl", mode="record-missing")
        for config in configs:
            config = replace(config, backbone_options={"pretrained": None, "device": "cpu"},
                             budget=Budget(rounds=2, steps_per_round=2, final_steps=2),
                             llm={**config.llm, "base_url": server.base_url})
            summary = execute(config, tracker, store, data_dir=data)
            assert not summary.skipped and 0.0 <= summary.metrics["test_accuracy"] <= 100.0
            assert summary.metrics.get("llm_calls", 0) == (2 if config.method == "combined" else 0)
        assert len(server.chat_requests) == 4      # 2 rounds x the two "+ LLM" rows
        # the instruction names the model the prompt is for
        assert all("CLIP" in str(r["body"]["messages"]) for r in server.chat_requests)
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("maao-table2-paper")
                                       .experiment_id])
    assert sorted(r.data.tags["method"] for r in runs) == sorted(ROWS)


def test_paper_table2_tcp_on_rn50_trains_with_and_without_the_llm(tmp_path, maao_cache_dir, monkeypatch):
    """The paper's Table 2 has TCP on ResNet-50 too: rows tcp_rn50 / tcp_llm_rn50,
    TCP's recipe on the scale's RN50 (random weights here), with the reference's
    EuroSAT templates, end to end with a loopback LLM server."""
    import json

    monkeypatch.chdir(tmp_path)
    data = write_eurosat(tmp_path / "data")
    rows = ["tcp_rn50", "tcp_llm_rn50"]
    configs = expand(load_spec("table2"), "paper", ["eurosat"], [1], [1], rows)
    assert [(c.name, c.backbone, c.recipe, c.learner) for c in configs] == [
        (row, "clip-rn50", "tcp-paper", {"kind": "tcp"}) for row in rows]
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with FakeOpenAIServer(responder=lambda body: REPLY) as server:
        store = ResponseStore(tmp_path / "responses.jsonl", mode="record-missing")
        for config in configs:
            config = replace(config, backbone_options={"pretrained": None, "device": "cpu"},
                             budget=Budget(rounds=1, steps_per_round=2, final_steps=1),
                             llm={**config.llm, "base_url": server.base_url})
            summary = execute(config, tracker, store, data_dir=data)
            assert not summary.skipped and 0.0 <= summary.metrics["test_accuracy"] <= 100.0
        assert len(server.chat_requests) == 1
        # the MP line: EuroSAT's template, scored through TCP's meta-net (decision 57)
        assert "Templates: a centered satellite photo of {}." in json.dumps(server.chat_requests[0]["body"])
    runs = tracker.client.search_runs([tracker.client.get_experiment_by_name("maao-table2-paper")
                                       .experiment_id])
    assert sorted(r.data.tags["backbone"] for r in runs) == ["clip-rn50", "clip-rn50"]
