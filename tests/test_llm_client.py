"""LLMClient against a real local HTTP server speaking the OpenAI protocol
(tests/fake_openai_server.py): record/replay, retries, fast failures, secrets."""

import json
import logging
import time

import pytest
from fake_openai_server import Fault

from maao.llm import LLMClient, LLMError, LLMSettings, ReplayMiss, ResponseStore

MSGS = [{"role": "user", "content": "Propose 3 templates. Loss: 1.85 Accuracy: 50.0"}]
SECRET = "sk-test-SUPERSECRET-0123456789abcdef"


def settings_for(server, **kw):
    base = dict(base_url=server.base_url, model="fake-model", timeout_s=2.0, max_retries=3, backoff_s=0.01)
    base.update(kw)
    return LLMSettings(**base)


def test_record_then_replay_identical(fake_llm_server, tmp_path):
    path = tmp_path / "rec.jsonl"
    fake_llm_server.script("1. a satellite photo of {}.\n2. an aerial view of {}.")
    rec_client = LLMClient(settings_for(fake_llm_server, seed=7), ResponseStore(path, mode="record-missing"))
    live = rec_client.complete(MSGS, position=("run1", 0))
    assert not live.cached and live.source == "live"
    assert live.model == "fake-model-2024-01-01" and live.fingerprint == "fp_fake"
    assert live.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    # What was sent: the semantic request; seed only because it is set; no sample_index.
    sent = fake_llm_server.chat_requests[0]["body"]
    assert sent["seed"] == 7 and sent["messages"] == MSGS and sent["model"] == "fake-model"
    assert "sample_index" not in sent and "top_p" not in sent and "stop" not in sent

    record = json.loads(path.read_text())
    assert record["key"] == live.key and record["response"]["text"] == live.text
    assert record["meta"]["model_snapshot"] == "fake-model-2024-01-01"
    assert record["meta"]["fingerprint"] == "fp_fake" and record["meta"]["position"] == ["run1", 0]

    # Second call in record-missing: served from the record, no HTTP request.
    assert rec_client.complete(MSGS, position=("run1", 0)).cached
    assert len(fake_llm_server.chat_requests) == 1

    fake_llm_server.stop()  # replay must not need the server at all
    replay = LLMClient(settings_for(fake_llm_server, seed=7), ResponseStore(path, cache_dir=tmp_path / "c"))
    again = replay.complete(MSGS, position=("run1", 0))
    assert (again.text, again.key, again.cached) == (live.text, live.key, True)
    assert replay.store.used_keys == {live.key}
    t = replay.transcript[0]
    assert t["cache"] == "hit" and t["reply"] == live.text and t["position"] == ["run1", 0]
    assert t["request"]["messages"] == MSGS


def test_seed_not_sent_when_unset_and_sample_index_only_in_key(fake_llm_server, tmp_path):
    client = LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="record-missing"))
    r0 = client.complete(MSGS, sample_index=0)
    r1 = client.complete(MSGS, sample_index=1)
    assert r0.key != r1.key and r0.text != r1.text
    bodies = [r["body"] for r in fake_llm_server.chat_requests]
    assert bodies[0] == bodies[1] and "seed" not in bodies[0]


def test_refresh_overwrites_and_live_records_nothing(fake_llm_server, tmp_path):
    path = tmp_path / "r.jsonl"
    fake_llm_server.script("old", "new", "live one")
    LLMClient(settings_for(fake_llm_server), ResponseStore(path, mode="record-missing")).complete(MSGS)
    LLMClient(settings_for(fake_llm_server), ResponseStore(path, mode="refresh")).complete(MSGS)
    assert json.loads(path.read_text())["response"]["text"] == "new"
    before = path.read_bytes()
    assert LLMClient(settings_for(fake_llm_server), ResponseStore(path, mode="live")).complete(MSGS).text == "live one"
    assert path.read_bytes() == before


def test_replay_miss_makes_no_http_call(fake_llm_server, tmp_path):
    with pytest.raises(ReplayMiss):
        LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl")).complete(MSGS)
    assert fake_llm_server.requests == []


@pytest.mark.parametrize("fault", [
    Fault.status(429, retry_after=0),
    Fault.status(500),
    Fault.status(503),
    Fault.hang(3.0),
    Fault.garbage(),
], ids=["429", "500", "503", "timeout", "garbage"])
def test_transient_errors_are_retried(fake_llm_server, tmp_path, fault):
    fake_llm_server.script(fault, fault, "a photo of {}.")
    sleeps = []
    client = LLMClient(settings_for(fake_llm_server, timeout_s=0.3), ResponseStore(tmp_path / "r.jsonl", mode="live"),
                       sleep=sleeps.append)
    t0 = time.monotonic()
    assert client.complete(MSGS).text == "a photo of {}."
    assert len(fake_llm_server.chat_requests) == 3
    assert sleeps == [0.01, 0.02]  # exponential backoff
    assert time.monotonic() - t0 < 3


def test_retry_after_header_is_honoured(fake_llm_server, tmp_path):
    fake_llm_server.script(Fault.status(429, retry_after=7), "ok")
    sleeps = []
    client = LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="live"), sleep=sleeps.append)
    assert client.complete(MSGS).text == "ok" and sleeps == [7.0]


def test_gives_up_after_max_retries(fake_llm_server, tmp_path):
    fake_llm_server.script(*[Fault.status(500, "boom")] * 3)
    client = LLMClient(settings_for(fake_llm_server, max_retries=2), ResponseStore(tmp_path / "r.jsonl", mode="live"),
                       sleep=lambda s: None)
    with pytest.raises(LLMError, match=r"failed after 3 attempt\(s\): HTTP 500 boom"):
        client.complete(MSGS)
    assert len(fake_llm_server.chat_requests) == 3


def test_connection_refused_is_transient_then_clear(tmp_path):
    s = LLMSettings(base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.0, timeout_s=1)
    with pytest.raises(LLMError, match="cannot connect to http://127.0.0.1:9/v1"):
        LLMClient(s, ResponseStore(tmp_path / "r.jsonl", mode="live"), sleep=lambda s: None).complete(MSGS)


@pytest.mark.parametrize("code, needle", [
    (401, "authentication failed at .*: set OPENAI_API_KEY"),
    (403, "permission denied"),
    (404, "model 'fake-model' not found at http://127.0.0.1:"),
    (400, "request rejected"),
    (422, "request rejected"),
])
def test_permanent_errors_fail_fast(fake_llm_server, tmp_path, code, needle, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # A server that echoes the key in its error body (OpenAI does, masked).
    fake_llm_server.script(Fault.status(code, f"Incorrect API key provided: {SECRET}"))
    client = LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="record-missing"),
                       sleep=lambda s: pytest.fail("must not retry"))
    with pytest.raises(LLMError, match=needle) as err:
        client.complete(MSGS)
    assert len(fake_llm_server.chat_requests) == 1
    assert SECRET not in str(err.value) and SECRET[:8] not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert not (tmp_path / "r.jsonl").exists()


def test_secrets_never_written(fake_llm_server, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)  # openai/httpx debug logs included
    path = tmp_path / "r.jsonl"
    settings = settings_for(fake_llm_server)
    client = LLMClient(settings, ResponseStore(path, cache_dir=tmp_path / "cache", mode="record-missing"))
    fake_llm_server.script(Fault.status(500), "a photo of {}.")
    client.complete(MSGS, position=("run", 0))
    client.complete(MSGS, position=("run", 0))
    # The key was really used on the wire ...
    assert fake_llm_server.chat_requests[0]["authorization"] == f"Bearer {SECRET}"
    # ... and is nowhere else.
    haystacks = {
        "jsonl": path.read_text(),
        "transcript": json.dumps(client.transcript),
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "reprs": repr(client) + repr(settings) + repr(client.store),
        "cache": b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()).decode("latin-1"),
    }
    for name, text in haystacks.items():
        assert SECRET not in text, name
        assert "SUPERSECRET" not in text, name


def test_placeholder_key_when_unset(fake_llm_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="live")).complete(MSGS)
    assert fake_llm_server.chat_requests[0]["authorization"] == "Bearer not-needed"


def test_null_content_is_empty_text(fake_llm_server, tmp_path):
    from fake_openai_server import completion_body
    body = completion_body("x", "m", 1)
    body["choices"][0]["message"]["content"] = None
    body["choices"][0]["finish_reason"] = "length"
    fake_llm_server.script(body)
    r = LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="record-missing")).complete(MSGS)
    assert r.text == "" and r.finish_reason == "length"


def test_exact_hit_from_new_position_is_indexed(fake_llm_server, tmp_path):
    """Two runs whose first request is identical share one record; both
    positions must be indexed so each can fall back by position later."""
    path = tmp_path / "r.jsonl"
    client = LLMClient(settings_for(fake_llm_server), ResponseStore(path, mode="record-missing"))
    client.complete(MSGS, position=("runA", 0))
    client.complete(MSGS, position=("runB", 0))
    meta = json.loads(path.read_text())["meta"]
    assert meta["position"] == ["runA", 0] and meta["also_at"] == [["runB", 0]]
    other = [{"role": "user", "content": MSGS[0]["content"].replace("1.85", "1.851")}]
    with pytest.warns(UserWarning):
        assert LLMClient(settings_for(fake_llm_server), ResponseStore(path)).complete(other, position=("runB", 0)).cached


def test_live_mode_lists_no_used_keys(fake_llm_server, tmp_path):
    client = LLMClient(settings_for(fake_llm_server), ResponseStore(tmp_path / "r.jsonl", mode="live"))
    client.complete(MSGS)
    assert client.store.used_keys == set() and client.transcript[0]["cache"] == "miss"
