"""Client faults not covered by tests/test_llm_client.py: more transient
statuses, Retry-After in milliseconds and as an HTTP date, malformed 200
bodies, bodies cut short, connection resets, replies that trickle in past
the timeout. Every fault is retried, then the reply is recorded intact."""
from __future__ import annotations

import email.utils
import json
import time

import pytest
from fake_openai_server import Fault, completion_body

from maao.llm import LLMClient, LLMError, LLMSettings, ResponseStore

MSGS = [{"role": "user", "content": "Propose 3 templates."}]


def client_for(server, tmp_path, sleeps=None, **kw):
    settings = LLMSettings(**{"base_url": server.base_url, "model": "fake-model", "timeout_s": 1.0,
                              "max_retries": 3, "backoff_s": 0.01, **kw})
    return LLMClient(settings, ResponseStore(tmp_path / "r.jsonl", mode="record-missing"),
                     sleep=(sleeps.append if sleeps is not None else time.sleep))


def _body(**change):
    body = completion_body("x", "fake-model", 1)
    body.update(change)
    return body


def _bad_content():
    body = completion_body("x", "fake-model", 1)
    body["choices"][0]["message"]["content"] = 123
    return body


HALF = json.dumps(completion_body("1. a photo of {}.", "fake-model", 1)).encode()
FAULTS = {
    "502": Fault.status(502), "504": Fault.status(504), "408": Fault.status(408),
    "no choices": _body(choices=None), "empty choices": _body(choices=[]),
    "non-string content": _bad_content(),
    "body cut short": Fault.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\n\r\n" % len(HALF) + HALF[: len(HALF) // 2]),
    "reset mid-reply": Fault.reset(b"HTTP/1.1 200 OK\r\nContent-Type: appl"),
    "trickles past the timeout": Fault.trickle("1. a slow photo of {}.", seconds=4.0),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_retried_and_the_reply_recorded(fake_llm_server, tmp_path, name):
    fake_llm_server.script(FAULTS[name], "1. a photo of {}.")
    client = client_for(fake_llm_server, tmp_path, sleeps=[])
    t0 = time.monotonic()
    reply = client.complete(MSGS)
    assert reply.text == "1. a photo of {}." and len(fake_llm_server.chat_requests) == 2
    assert time.monotonic() - t0 < 3.0, "the timeout is a deadline for the whole reply"
    (record,) = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert record["response"]["text"] == reply.text


def test_retry_after_ms(fake_llm_server, tmp_path):
    sleeps = []
    fake_llm_server.script(Fault.status(429, headers={"retry-after-ms": "1500"}), "ok")
    assert client_for(fake_llm_server, tmp_path, sleeps).complete(MSGS).text == "ok"
    assert sleeps == [1.5]


def test_retry_after_http_date(fake_llm_server, tmp_path):
    sleeps = []
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    fake_llm_server.script(Fault.status(503, headers={"Retry-After": when}), "ok")
    assert client_for(fake_llm_server, tmp_path, sleeps).complete(MSGS).text == "ok"
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 21


def test_every_attempt_malformed_is_a_clear_error(fake_llm_server, tmp_path):
    fake_llm_server.script(*[_body(choices=[])] * 4)
    with pytest.raises(LLMError, match=r"failed after 4 attempt\(s\): malformed response"):
        client_for(fake_llm_server, tmp_path, sleeps=[]).complete(MSGS)
    assert not (tmp_path / "r.jsonl").exists()            # nothing half-recorded
