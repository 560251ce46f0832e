"""Wall time of whole runs through maao.runner.execute (MLflow in temp SQLite).

Mini scale, intent_recognition 4-shot, seed 1: a single_start run, and a
combined run replaying the 3 LLM calls that the session fixture
`combined_recorded` recorded against the fake OpenAI server. One round each:
seconds per run are the unit of the cost model in docs/performance.md.
The replayed run also reports the share of its time spent in the response
store (opening it + LLMClient.complete), measured inside the run.
"""
from __future__ import annotations

import time

import pytest

from benchmarks.conftest import E2E_SHOTS, report, run_config


@pytest.mark.benchmark(group="end_to_end")
def test_e2e_single_start(benchmark, minilm, tracker, machine):
    from maao.runner import execute

    summary = benchmark.pedantic(lambda: execute(run_config("single_start"), tracker, force=True),
                                 rounds=1, iterations=1)
    report(benchmark, seconds=summary.seconds, steps=summary.config.budget.total_steps,
           test_accuracy=summary.metrics["test_accuracy"], method="single_start", shots=E2E_SHOTS,
           machine=machine)


@pytest.mark.benchmark(group="end_to_end")
def test_e2e_combined_replay(benchmark, combined_recorded, tracker, machine, monkeypatch):
    from maao.llm import LLMClient, ResponseStore
    from maao.runner import execute

    rec = combined_recorded
    spent = {"complete": 0.0}
    original = LLMClient.complete

    def timed_complete(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent["complete"] += time.perf_counter() - t0

    monkeypatch.setattr(LLMClient, "complete", timed_complete)

    def replay():
        t0 = time.perf_counter()
        store = ResponseStore(rec["path"], mode="replay")
        spent["open"] = time.perf_counter() - t0
        # base_url is transport: not in the run hash or the request key.
        return execute(run_config("combined", llm=rec["llm"]), tracker, store=store, force=True)

    summary = benchmark.pedantic(replay, rounds=1, iterations=1)
    assert summary.metrics["llm_calls"] == 3
    assert summary.metrics["test_accuracy"] == pytest.approx(rec["summary"].metrics["test_accuracy"], abs=1e-6)
    store_s = spent["open"] + spent["complete"]
    report(benchmark, seconds=summary.seconds, record_mode_seconds=rec["seconds"],
           store_s=store_s, store_fraction=store_s / (summary.seconds + spent["open"]),
           steps=summary.config.budget.total_steps, llm_calls=int(summary.metrics["llm_calls"]),
           test_accuracy=summary.metrics["test_accuracy"], method="combined (replay)", shots=E2E_SHOTS,
           machine=machine)
