"""Response store: keys, JSONL format, corrupt lines, diskcache index, manifests."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maao.llm import (
    CorruptRecord, LLMSettings, ReplayMiss, ResponseStore, build_request, check_manifest,
    request_key, write_manifest,
)
from maao.llm.store import make_record, read_records, reply_digest

REPO = Path(__file__).resolve().parents[1]
MSGS = [{"role": "system", "content": "You are a prompt pattern learner."},
        {"role": "user", "content": "Templates: a photo of {}.\nLoss: 1.8512\nAccuracy: 50.0"}]


def key_of(settings=None, messages=MSGS, sample_index=0):
    return request_key(build_request(settings or LLMSettings(), messages, sample_index))


def put(store, messages=MSGS, text="a photo of {}.", position=None, settings=None, sample_index=0):
    req = build_request(settings or LLMSettings(), messages, sample_index)
    meta = {"model_snapshot": "m", "fingerprint": None, "recorded_at": "2024-01-01T00:00:00+00:00",
            "latency_s": 0.1, "usage": None, "position": list(position) if position else None}
    rec = make_record(req, text, "stop", meta)
    store.save(rec)
    return rec


# ------------------------------------------------------------------- keys
def test_key_independent_of_dict_order():
    reordered = [dict(reversed(list(m.items()))) for m in MSGS]
    assert key_of(messages=reordered) == key_of()


def test_key_stable_across_processes():
    code = (
        "from maao.llm import LLMSettings, build_request, request_key\n"
        f"print(request_key(build_request(LLMSettings(), {MSGS!r}, 0)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin"}, check=True)
    assert out.stdout.strip() == key_of()


def test_key_changes_with_semantics():
    base = key_of()
    assert key_of(LLMSettings(model="other-model")) != base
    assert key_of(sample_index=1) != base
    assert key_of(LLMSettings(temperature=0.7)) != base
    assert key_of(LLMSettings(seed=1)) != base
    assert key_of(messages=MSGS[:1]) != base


def test_key_ignores_transport_and_credentials(monkeypatch):
    base = key_of()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-different")
    assert key_of(LLMSettings(timeout_s=5, max_retries=0, backoff_s=9, base_url="http://x:1/v1",
                              api_key_env="OTHER_KEY")) == base
    assert key_of(LLMSettings(temperature=1)) == base  # int 1 == float 1.0


def test_key_is_sha256_of_canonical_json():
    req = build_request(LLMSettings(), MSGS, 0)
    assert set(req) == {"schema", "provider", "model", "messages", "temperature", "top_p",
                        "max_tokens", "seed", "stop", "sample_index"}
    import hashlib
    canon = json.dumps(req, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request_key(req) == hashlib.sha256(canon.encode()).hexdigest()


# ------------------------------------------------------------- JSONL file
def test_jsonl_sorted_and_roundtrips(tmp_path):
    path = tmp_path / "rec.jsonl"
    store = ResponseStore(path, mode="record-missing")
    keys = [put(store, [{"role": "user", "content": f"q{i}"}], f"t{i}")["key"] for i in range(5)]
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == sorted(keys)
    assert all(list(json.loads(line)) == ["key", "meta", "request", "response", "schema"] for line in lines)
    assert ResponseStore(path).keys() == set(keys)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("bad, needle", [
    ("{not json", "not valid JSON"),
    ('{"key": "abc"}', "lacks field"),
    ("", "empty line"),
    ("<<<<<<< HEAD", "not valid JSON"),
])
def test_corrupt_line_names_file_and_line(tmp_path, bad, needle):
    path = tmp_path / "rec.jsonl"
    store = ResponseStore(path, mode="record-missing")
    put(store, text="one")
    put(store, [{"role": "user", "content": "x"}], text="two")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], bad, lines[1]]) + "\n")
    before = path.read_bytes()
    with pytest.raises(CorruptRecord) as err:
        ResponseStore(path)
    assert f"{path}:2" in str(err.value) and needle in str(err.value)
    with pytest.raises(CorruptRecord):  # never overwritten either
        store.save(make_record(build_request(LLMSettings(), MSGS, 7), "t", "stop", {}))
    assert path.read_bytes() == before


def test_edited_request_detected_by_key_check(tmp_path):
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"))
    rec = json.loads(path.read_text())
    rec["request"]["temperature"] = 0.0  # hand edit without recomputing the key
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(CorruptRecord, match=r"rec\.jsonl:1: key .* is not the sha256"):
        ResponseStore(path)


def test_duplicate_key_is_corrupt(tmp_path):
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"))
    line = path.read_text()
    path.write_text(line + line)
    with pytest.raises(CorruptRecord, match="duplicate key"):
        ResponseStore(path)


# ------------------------------------------------------------- diskcache
def test_diskcache_index_follows_jsonl(tmp_path):
    path, cache = tmp_path / "rec.jsonl", tmp_path / "cache"
    rec1 = put(ResponseStore(path, mode="record-missing"), text="first")
    store = ResponseStore(path, cache_dir=cache)
    assert store.get(rec1["key"])["response"]["text"] == "first"
    # Someone edits the JSONL (e.g. git pull): the index must be rebuilt.
    rec2 = put(ResponseStore(path, mode="refresh"), text="second")
    rec2b = put(ResponseStore(path, mode="refresh"), text="first, refreshed")
    assert rec2b["key"] == rec1["key"]
    store2 = ResponseStore(path, cache_dir=cache)
    assert store2.get(rec1["key"])["response"]["text"] == "first, refreshed"
    assert store2.get(rec2["key"]) is not None
    # No pickle in the cache directory's values: everything is JSON.
    import diskcache
    from maao.llm.store import _safe_json_disk_class
    with diskcache.Cache(str(next(cache.iterdir())), disk=_safe_json_disk_class()) as c:
        assert c.get("__source_sha256__") is not None


def test_diskcache_refuses_pickled_rows(tmp_path):
    import diskcache
    from maao.llm.store import _safe_json_disk_class
    d = tmp_path / "c"
    import zlib
    # A tampered row: the key as JSONDisk encodes it, a value the default Disk pickles.
    json_key = zlib.compress(json.dumps("evil").encode(), 1)
    with diskcache.Cache(str(d)) as plain:
        plain.set(json_key, ("tuple", 1))
    with diskcache.Cache(str(d), disk=_safe_json_disk_class()) as safe:
        with pytest.raises(CorruptRecord, match="pickled"):
            safe.get("evil")


# ----------------------------------------------------------- replay miss
def test_replay_miss_names_key_request_and_nearest(tmp_path):
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"), text="x")
    other = [MSGS[0], {"role": "user", "content": MSGS[1]["content"].replace("a photo", "a drawing")}]
    store = ResponseStore(path)
    with pytest.raises(ReplayMiss) as err:
        from maao.llm import LLMClient
        LLMClient(LLMSettings(), store).complete(other)
    msg = str(err.value)
    assert key_of(messages=other) in msg
    assert "a drawing" in msg and "nearest recorded request: key " + key_of() in msg
    assert "-    | Templates: a photo of {}." in msg and "+    | Templates: a drawing of {}." in msg
    assert "record-missing" in msg


def test_replay_miss_on_empty_store(tmp_path):
    store = ResponseStore(tmp_path / "none.jsonl")
    err = store.miss_error(build_request(LLMSettings(), [{"role": "user", "content": "x" * 5000}]))
    assert "store is empty" in str(err) and "chars omitted" in str(err)


# --------------------------------------------------- positional fallback
def _prompt(loss, acc="50.0", word="photo"):
    return [{"role": "user", "content": f"Templates: a {word} of {{}}.\nLoss: {loss}\nAccuracy: {acc}\n"
                                        "Generate 3 templates"}]


def test_positional_fallback_tiny_float_difference(tmp_path):
    from maao.llm import LLMClient, PositionalFallbackWarning
    path = tmp_path / "rec.jsonl"
    rec = put(ResponseStore(path, mode="record-missing"), _prompt("1.8512"), "a satellite photo of {}.",
              position=("run-abc", 3))
    client = LLMClient(LLMSettings(), ResponseStore(path))
    with pytest.warns(PositionalFallbackWarning, match=r"1\.8512 -> 1\.8513"):
        reply = client.complete(_prompt("1.8513"), position=("run-abc", 3))
    assert reply.text == "a satellite photo of {}." and reply.cached and reply.source == "positional"
    assert reply.key == rec["key"] != reply.request_key
    assert client.store.used_keys == {rec["key"]}
    assert client.transcript[-1]["number_differences"] == [["1.8512", "1.8513"]]


def test_positional_fallback_1e4_relative(tmp_path):
    from maao.llm import LLMClient, PositionalFallbackWarning
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"), _prompt("2.000000"), "t", position=("r", 0))
    with pytest.warns(PositionalFallbackWarning):
        assert LLMClient(LLMSettings(), ResponseStore(path)).complete(_prompt("2.000200"), position=("r", 0)).text == "t"


@pytest.mark.parametrize("new_prompt", [
    _prompt("1.8512", word="drawing"),  # real text difference
    _prompt("1.95"),  # number far outside the tolerance
    _prompt("1.8512", acc="56.25"),
])
def test_positional_fallback_refuses_real_differences(tmp_path, new_prompt):
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"), _prompt("1.8512"), "t", position=("r", 0))
    from maao.llm import LLMClient
    with pytest.raises(ReplayMiss):
        LLMClient(LLMSettings(), ResponseStore(path)).complete(new_prompt, position=("r", 0))


def test_positional_fallback_needs_same_position_and_settings(tmp_path):
    from maao.llm import LLMClient
    path = tmp_path / "rec.jsonl"
    put(ResponseStore(path, mode="record-missing"), _prompt("1.8512"), "t", position=("r", 0))
    with pytest.raises(ReplayMiss):
        LLMClient(LLMSettings(), ResponseStore(path)).complete(_prompt("1.8513"), position=("r", 1))
    with pytest.raises(ReplayMiss):
        LLMClient(LLMSettings(), ResponseStore(path)).complete(_prompt("1.8513"))
    with pytest.raises(ReplayMiss):  # max_tokens differs: exact fields never get a tolerance
        LLMClient(LLMSettings(max_tokens=161), ResponseStore(path)).complete(_prompt("1.8513"), position=("r", 0))
    with pytest.raises(ReplayMiss):
        LLMClient(LLMSettings(), ResponseStore(path)).complete(_prompt("1.8513"), 1, position=("r", 0))


def test_integers_must_match_exactly():
    from maao.llm.numbers import text_number_differences
    assert text_number_differences("Generate 3 templates", "Generate 4 templates") is None
    assert text_number_differences("acc 100", "acc 101") is None
    assert text_number_differences("loss 0.004", "loss 0.012") == [("0.004", "0.012")]  # abs tol 0.01
    assert text_number_differences("loss 10.0", "loss 10.2") is None


# ---------------------------------------------------------------- manifest
def test_manifest_missing_and_orphans(tmp_path):
    path = tmp_path / "rec.jsonl"
    store = ResponseStore(path, mode="record-missing")
    a = put(store, [{"role": "user", "content": "a"}])["key"]
    b = put(store, [{"role": "user", "content": "b"}])["key"]
    records = ResponseStore(path).records()
    write_manifest(tmp_path / "m" / "exp1.manifest.json", [a, a], records)
    assert json.loads((tmp_path / "m" / "exp1.manifest.json").read_text()) == {a: reply_digest(records[a])}
    # a key the store lacks (a manifest written before digests: a list of keys)
    (tmp_path / "m" / "exp0.manifest.json").write_text(json.dumps([a, "f" * 64]))
    missing, orphans = check_manifest(tmp_path / "m", ResponseStore(path))
    assert missing == ["f" * 64] and orphans == [b]
    write_manifest(tmp_path / "m" / "exp2.manifest.json", [b], records)
    assert check_manifest(tmp_path / "m", ResponseStore(path)) == (["f" * 64], [])


def test_read_records_of_missing_file_is_empty(tmp_path):
    assert read_records(tmp_path / "nope.jsonl") == {}


def test_stop_string_is_one_sequence():
    assert build_request(LLMSettings(stop="\n\n"), MSGS)["stop"] == ["\n\n"]
    assert key_of(LLMSettings(stop="\n\n")) == key_of(LLMSettings(stop=["\n\n"]))


def test_bad_mode_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        ResponseStore(tmp_path / "r.jsonl", mode="cache")
