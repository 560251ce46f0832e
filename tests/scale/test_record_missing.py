"""record-missing from many Ray workers into one responses file: the store's
cross-process lock (maao/llm/store.py, maao/filelock.py) must neither lose
nor duplicate a record. Real LLMClients in real Ray worker processes against
the fake OpenAI server on 127.0.0.1."""
from __future__ import annotations

import sys

import pytest
from sweeps import REPO, maao_env, run
from fake_openai_server import FakeOpenAIServer

pytestmark = pytest.mark.scale

TASKS, CALLS = 8, 12


def test_record_missing_from_many_ray_workers(ray_cluster, tmp_path):
    from maao.llm.store import read_records

    jsonl = tmp_path / "responses" / "r.jsonl"
    with FakeOpenAIServer() as server:
        done = run([sys.executable, str(REPO / "tests" / "scale" / "record_from_workers.py"), str(jsonl),
                    server.base_url, str(TASKS), str(CALLS)], env=maao_env(**ray_cluster.driver_env))
        assert done.returncode == 0, done.stderr[-3000:]
        asked = len(server.chat_requests)
    pids = done.stdout.split("pids", 1)[1].split()
    assert len(pids) >= 2, "the writers should be separate worker processes"
    records = read_records(jsonl)          # raises on a duplicate key or a damaged line
    distinct = TASKS * CALLS + 1           # the shared question is recorded once
    assert len(records) == distinct
    # Every live answer was kept: a call is made only on a miss, so at most
    # the few tasks that missed the shared question at the same moment asked it twice.
    assert distinct <= asked <= distinct + TASKS - 1
    positions = {tuple(r["meta"]["position"]) for r in records.values() if r["meta"].get("position")}
    assert positions == {(f"run{t}", i) for t in range(TASKS) for i in range(CALLS)}
