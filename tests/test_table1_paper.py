"""Table 1 at the paper scale, end to end on CPU: PT and the combined optimizer
on a randomly initialised RoBERTa (backbone roberta-random in place of
roberta-large) on generated SuperGLUE-like COPA and RTE, through maao.runner
with the spec's per-task recipes, a real MLflow store and a real
OpenAI-compatible HTTP server on loopback."""
from __future__ import annotations

from dataclasses import replace

import pytest
from fake_openai_server import FakeOpenAIServer
from lm_generated import dataset

from maao import runner
from maao.datasets import registry
from maao.datasets.lm_tasks import CLASSIFICATION, MULTIPLE_CHOICE
from maao.llm import ResponseStore
from maao.methods import Budget
from maao.runner import execute
from maao.spec import expand, load_spec
from maao.tracking import Tracker

pytestmark = pytest.mark.slow
REPLY = "- Which option is the more plausible one?\n- Pick the likely cause.\n- Read both and decide."


def test_paper_table1_rows_train_with_the_llm(tmp_path, maao_cache_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)               # MLflow's default artifact root is ./mlruns
    monkeypatch.setitem(registry.DATASETS, "superglue_copa", lambda root: dataset(MULTIPLE_CHOICE))
    monkeypatch.setitem(registry.DATASETS, "superglue_rte", lambda root: dataset(CLASSIFICATION))
    runner._dataset.cache_clear()
    configs = expand(load_spec("table1"), "paper", ["superglue_copa", "superglue_rte"], None, [1])
    assert {(c.name, c.backbone, c.recipe, c.problem.n_ctx) for c in configs} == {
        ("gradient", "roberta-large", "pt-paper", 8), ("combined", "roberta-large", "pt-paper", 8)}
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with FakeOpenAIServer(responder=lambda body: REPLY) as server:
            store = ResponseStore(tmp_path / "responses.jsonl", mode="record-missing")
            for config in configs:
                config = replace(config, backbone="roberta-random", backbone_options={},
                                 budget=Budget(rounds=2, steps_per_round=2, final_steps=2),
                                 llm={**config.llm, "base_url": server.base_url})
                summary = execute(config, tracker, store)
                assert not summary.skipped and 0.0 <= summary.metrics["test_accuracy"] <= 100.0
                assert summary.metrics.get("llm_calls", 0) == (2 if config.method == "combined" else 0)
                assert summary.config.gradient.optimizer == "adamw"     # the task's PT recipe
                assert summary.config.gradient.batch_size == (16 if "copa" in config.dataset else 32)
            assert len(server.chat_requests) == 4                       # 2 rounds x 2 combined runs
            assert all("RoBERTa" in str(r["body"]["messages"]) for r in server.chat_requests)
    finally:
        runner._dataset.cache_clear()
