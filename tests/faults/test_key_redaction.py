"""Issue 12, item 6: no 8-character piece of the API key reaches a log line,
an exception message, an MLflow tag/param/artifact or a recorded response,
even when a server echoes the key without its `sk-` prefix."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_openai_server import Fault

from maao.llm import LLMClient, LLMError, LLMSettings, ResponseStore
from maao.redact import MIN_LEN, RedactingFilter, redact
from maao.run_record import RunRecord

SECRET = "sk-proj-Zq81XbT4rLw9NeHc2VfG7kYs"
MSGS = [{"role": "user", "content": "Propose 3 templates."}]


def pieces(secret: str = SECRET, n: int = MIN_LEN) -> set[str]:
    return {secret[i:i + n] for i in range(len(secret) - n + 1)}


def leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return sorted(p for p in pieces() if p in text)


def test_redact_masks_any_long_piece_of_the_key():
    body = SECRET[3:]                            # echoed without "sk-"
    assert redact(f"Incorrect API key provided: {body}.", {SECRET}) == "Incorrect API key provided: ***."
    assert redact(f"key ...{SECRET[10:22]}... end", {SECRET}) == "key ...***... end"
    assert redact(SECRET[5:5 + MIN_LEN - 1], {SECRET}) == SECRET[5:5 + MIN_LEN - 1]   # 7 chars: kept
    assert redact("nothing secret here", {SECRET}) == "nothing secret here"


def test_placeholder_key_is_not_a_secret(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    LLMSettings().read_api_key()
    assert redact("this key is not-needed here") == "this key is not-needed here"


def test_planted_key_reaches_no_output(fake_llm_server, tmp_path, monkeypatch):
    from maao.tracking import Tracker

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    logfile = tmp_path / "run.log"
    handler = logging.FileHandler(logfile)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        settings = LLMSettings(base_url=fake_llm_server.base_url, model="m", timeout_s=2.0,
                               max_retries=1, backoff_s=0.01)
        store = ResponseStore(tmp_path / "r.jsonl", mode="record-missing")
        client = LLMClient(settings, store)
        # A reply, a transient error and a permanent error, each echoing a piece of the key.
        fake_llm_server.script(Fault.status(503, f"overloaded for key {SECRET[3:]}"),
                               f"1. a photo of {{}} ({SECRET[4:20]})",
                               Fault.status(401, f"Incorrect API key provided: {SECRET[3:]}"))
        reply = client.complete(MSGS)
        with pytest.raises(LLMError) as exc:
            client.complete(MSGS, sample_index=1)
        logging.getLogger("maao.test").warning("server said %s", SECRET[2:])
        assert not leaks(str(exc.value)) and not leaks(reply.text)

        tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
        run = tracker.start("maao-secret-mini", f"run {SECRET[3:]}", {"note": SECRET[3:]})
        tracker.finish(run, RunRecord.build(f"run {SECRET[3:]}", {"llm": {"base": SECRET[3:]}}, [], {"x": 1.0},
                                            {"llm_transcript.json": client.transcript, "note.txt": SECRET},
                                            {"echo": SECRET[4:]}))
        with pytest.raises(TypeError, match="RunRecord"):   # nothing unredacted reaches the store
            tracker.finish(run, {"note.txt": SECRET})
        failed = tracker.start("maao-secret-mini", "failed", {})
        tracker.fail(failed, exc.value)
        tracker.fail(tracker.start("maao-secret-mini", "f2", {}), RuntimeError(f"echo {SECRET[3:]}"))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    outputs = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert any(p.name == "llm_transcript.json" for p in outputs) and logfile.stat().st_size > 0
    found = {str(p): leaks(p.read_bytes()) for p in outputs}
    assert not any(found.values()), found
