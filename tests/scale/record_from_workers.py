"""Run by test_record_missing.py as a Ray driver: TASKS Ray tasks, each an
LLMClient in record-missing mode on one JSONL, ask the fake server CALLS
distinct questions and one question every task asks. Prints the worker pids.

    python tests/scale/record_from_workers.py JSONL BASE_URL TASKS CALLS
"""
import os
import sys
from pathlib import Path

import ray

from maao.llm import LLMClient, LLMSettings, ResponseStore


def ask(jsonl: str, base_url: str, task: int, calls: int) -> int:
    store = ResponseStore(Path(jsonl), mode="record-missing")
    client = LLMClient(LLMSettings(base_url=base_url, model="fake-model", temperature=0.7, seed=0,
                                   max_retries=1, backoff_s=0.1, timeout_s=60), store)
    client.complete([{"role": "user", "content": "the question every task asks"}])
    for i in range(calls):
        client.complete([{"role": "user", "content": f"task {task} question {i}"}], position=(f"run{task}", i))
    return os.getpid()


if __name__ == "__main__":
    jsonl, base_url, tasks, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ray.init(include_dashboard=False, logging_level="WARNING")
    remote = ray.remote(ask).options(num_cpus=0.5)     # 4 workers at once on the 2-CPU cluster
    pids = ray.get([remote.remote(jsonl, base_url, t, calls) for t in range(tasks)])
    print("pids", " ".join(map(str, sorted(set(pids)))))
    ray.shutdown()
