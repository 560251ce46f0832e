"""Issue 12, item 7 (and the corrupt-JSONL fault): values of the local
diskcache index are checked against the committed JSONL line of their key;
a tampered entry is never served, and a corrupt JSONL line is an error."""
from __future__ import annotations

import json
import logging

import diskcache
import pytest

from maao.llm import CorruptRecord, LLMClient, LLMSettings, ResponseStore, build_request, request_key
from maao.llm.store import _safe_json_disk_class, make_record

MSGS = [[{"role": "user", "content": f"Propose templates, round {i}."}] for i in range(3)]
SETTINGS = LLMSettings(model="m", base_url="http://127.0.0.1:9/v1")


def _records(path):
    store = ResponseStore(path, mode="record-missing")
    for i, messages in enumerate(MSGS):
        store.save(make_record(build_request(SETTINGS, messages), f"{i}. a photo of a {{}}.", "stop",
                               {"position": None}))
    return {json.loads(line)["key"]: json.loads(line) for line in path.read_text().splitlines()}


def _index(cache_dir):
    (sub,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    return diskcache.Cache(str(sub), disk=_safe_json_disk_class())


@pytest.fixture
def recorded(tmp_path):
    path, cache = tmp_path / "r.jsonl", tmp_path / "index"
    records = _records(path)
    ResponseStore(path, cache_dir=cache)                 # builds the index
    return path, cache, records


def test_tampered_index_value_is_not_served(recorded, caplog):
    path, cache, records = recorded
    key = request_key(build_request(SETTINGS, MSGS[1]))
    with _index(cache) as index:
        forged = json.loads(json.dumps(records[key]))
        forged["response"]["text"] = "1. a forged reply {}."   # still valid JSON, same key
        index.set("rec:" + key, forged)
    with caplog.at_level(logging.WARNING, logger="maao.llm.store"):
        store = ResponseStore(path, cache_dir=cache)
        assert store.get(key)["response"]["text"] == records[key]["response"]["text"]
    assert "differs from its record" in caplog.text
    reply = LLMClient(SETTINGS, ResponseStore(path, cache_dir=cache)).complete(MSGS[1])
    assert reply.text == records[key]["response"]["text"]
    with _index(cache) as index:                          # the index was rebuilt
        assert index.get("rec:" + key) == records[key]


def test_index_entry_for_a_key_the_jsonl_lacks_is_ignored(recorded):
    path, cache, records = recorded
    with _index(cache) as index:
        index.set("rec:" + "0" * 64, next(iter(records.values())))
    assert ResponseStore(path, cache_dir=cache).get("0" * 64) is None


def test_hand_formatted_jsonl_line_is_accepted_quietly(tmp_path, caplog):
    path, cache = tmp_path / "r.jsonl", tmp_path / "index"
    records = _records(path)
    path.write_text("".join(json.dumps(records[k], indent=None) + "\n" for k in sorted(records)))
    ResponseStore(path, cache_dir=cache)
    with caplog.at_level(logging.WARNING, logger="maao.llm.store"):
        store = ResponseStore(path, cache_dir=cache)
        assert all(store.get(k) == records[k] for k in records)
    assert "differs" not in caplog.text


def test_corrupt_jsonl_line_is_an_error_not_a_stale_index(recorded):
    path, cache, records = recorded
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:40] + "\n" + lines[2])
    with pytest.raises(CorruptRecord, match=r"r\.jsonl:2"):
        ResponseStore(path, cache_dir=cache)
    assert json.loads(lines[1])["key"] in records          # nothing silently served
