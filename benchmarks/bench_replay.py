"""Replay overhead of the response store, as a fraction of a combined run.

The combined run (Algorithm 1, N = 3 LLM calls) is the session fixture
`combined_recorded`: mini scale, intent_recognition 4-shot, recorded once
against tests/fake_openai_server.py, its JSONL then padded to a Table-3-sized
store (3 own + 400 unrelated records). Timed here, 5 rounds: everything the
replay adds to a run: opening the store (read + validate every JSONL line,
sha256 of each request) and the run's 3 LLMClient.complete() calls (request
key, lookup, transcript). fraction = that time / the run's own wall time.
bench_end_to_end measures the same fraction inside a whole replayed run.
"""
from __future__ import annotations

import time

import pytest

from benchmarks.conftest import report

ROUNDS = 5


@pytest.mark.benchmark(group="replay")
def test_replay_overhead(benchmark, combined_recorded, machine):
    from maao.llm import LLMClient, LLMSettings, ResponseStore

    rec = combined_recorded
    settings = LLMSettings(**rec["llm"])
    probe = ResponseStore(rec["path"], mode="replay")
    # One call per position the run made (identical requests share a record: meta.also_at).
    calls = [(probe.get(k)["request"], tuple(pos)) for k in rec["own_keys"]
             for pos in [probe.get(k)["meta"]["position"], *(probe.get(k)["meta"].get("also_at") or [])]]
    assert len(calls) == 3, calls
    times = []

    def replay_calls():
        t0 = time.perf_counter()
        client = LLMClient(settings, ResponseStore(rec["path"], mode="replay"))
        for request, position in calls:
            reply = client.complete(request["messages"], request["sample_index"], position)
            assert reply.source == "exact"
        times.append(time.perf_counter() - t0)

    benchmark.pedantic(replay_calls, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    store_s = min(times[1:]) if len(times) > 1 else times[0]
    run_s = rec["summary"].seconds
    fraction = store_s / run_s
    report(benchmark, store_s=store_s, store_median_s=sorted(times)[len(times) // 2], run_s=run_s,
           store_fraction=fraction, llm_calls=len(calls), store_records=rec["n_records"],
           ratio=run_s / store_s, ratio_name="run time / replay store time (higher is better)",
           target="store_fraction < 0.01", meets_target=fraction < 0.01, machine=machine)
    assert fraction < 0.05, f"replaying the store takes {fraction:.1%} of a run"
