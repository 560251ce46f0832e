"""Record with the real local llama.cpp server, then replay with it stopped.

Opt-in (about 30 s on 2 cores, needs `python -m maao.llm.local_server prepare`):
    MAAO_LLM_LIVE=1 .venv/bin/python -m pytest tests/test_llm_live_local.py -q
"""

import os
import socket

import pytest

from maao.llm import LLMClient, LLMSettings, ResponseStore, local_server as ls

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("MAAO_LLM_LIVE") != "1", reason="set MAAO_LLM_LIVE=1 to run the real LLM"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_record_live_then_replay_offline(tmp_path):
    gguf = ls.CACHE_DIR / ls.GGUF_NAME
    if not gguf.exists() or not ls.llama_installed():
        pytest.skip("run `python -m maao.llm.local_server prepare` first")
    port = free_port()
    proc = ls.serve(gguf, port=port, log_file=tmp_path / "server.log", wait_s=120)
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", seed=0, max_tokens=24, timeout_s=120)
    messages = [{"role": "user", "content": "Reply with one short image classification template containing {}."}]
    try:
        live = LLMClient(settings, ResponseStore(tmp_path / "r.jsonl", mode="record-missing")).complete(messages)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not live.cached and live.model == ls.MODEL_ALIAS
    replay = LLMClient(settings, ResponseStore(tmp_path / "r.jsonl")).complete(messages)
    assert (replay.text, replay.key, replay.cached) == (live.text, live.key, True)
