"""Per-seed LLM samples (docs/decisions.md #115): `llm.rollout: per-seed-call`
puts a rollout index of (run seed, call number) into the response key, never
into the request sent; the default keeps every recorded key. Against the real
loopback server (tests/fake_openai_server.py), which answers each HTTP request
with a new text."""

import json
from pathlib import Path

import pytest

from maao.llm import LLMClient, LLMSettings, ResponseStore, build_request, request_key
from maao.llm.settings import ROLLOUT_CALLS, rollout_index
from reports.reply_sharing import run_seeds, seeds_per_reply

MSGS = [{"role": "user", "content": "Propose 3 templates. Loss: 1.85 Accuracy: 50.0"}]
RESPONSES = Path(__file__).resolve().parent.parent / "benchmarks" / "responses"


def settings_for(server, **kw):
    return LLMSettings(base_url=server.base_url, model="fake-model", timeout_s=2.0, max_retries=0,
                       temperature=0.7, **kw)


def run(settings, store, seed, run_key, calls=2):
    """One run's LLM calls: the same request `calls` times (rounds 2 and 3 of a
    combined run often send the same instruction)."""
    client = LLMClient(settings, store, run_seed=seed)
    return [client.complete(MSGS, position=(run_key, i)) for i in range(calls)]


def test_rollout_index_is_distinct_and_never_the_shared_index():
    seen = {rollout_index(s, c) for s in range(4) for c in range(1, 6)}
    assert len(seen) == 20 and 0 not in seen
    assert rollout_index(3, 2) == 3 * ROLLOUT_CALLS + 2
    for seed, call in ((None, 1), (-1, 1), (1, 0), (1, ROLLOUT_CALLS)):
        with pytest.raises(ValueError):
            rollout_index(seed, call)


def test_per_seed_call_two_seeds_two_replies_and_a_repeat_samples_again(fake_llm_server, tmp_path):
    path = tmp_path / "r.jsonl"
    settings = settings_for(fake_llm_server, rollout="per-seed-call")
    store = ResponseStore(path, mode="record-missing")
    seed1 = run(settings, store, 1, "run-seed1")
    seed2 = run(settings, store, 2, "run-seed2")
    replies = seed1 + seed2
    # 4 calls, 4 requests to the server, 4 records, 4 different texts.
    assert len(fake_llm_server.chat_requests) == 4
    assert len({r.key for r in replies}) == 4 and len({r.text for r in replies}) == 4
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["request"]["sample_index"] for r in records) == [
        rollout_index(1, 1), rollout_index(1, 2), rollout_index(2, 1), rollout_index(2, 2)]
    # The rollout index is only in the key: the server sees one identical body.
    bodies = [r["body"] for r in fake_llm_server.chat_requests]
    assert all(b == bodies[0] for b in bodies)
    assert "sample_index" not in bodies[0] and "rollout" not in bodies[0] and "seed" not in bodies[0]

    # Identical (request, rollout) pairs still share one reply: a rerun of seed 1
    # (e.g. the same configuration in another table) is served, not re-asked.
    again = run(settings, ResponseStore(path, mode="record-missing"), 1, "run-seed1-other-table")
    assert [r.text for r in again] == [r.text for r in seed1] and all(r.cached for r in again)
    assert len(fake_llm_server.chat_requests) == 4

    # Replay: offline, deterministic, every call exact.
    fake_llm_server.stop()
    for _ in range(2):
        replay = ResponseStore(path)
        got = run(settings, replay, 1, "run-seed1") + run(settings, replay, 2, "run-seed2")
        assert [r.text for r in got] == [r.text for r in replies]
        assert {r.source for r in got} == {"exact"}


def test_shared_default_keeps_todays_keys_and_shares_replies(fake_llm_server, tmp_path):
    settings = settings_for(fake_llm_server)
    assert settings.rollout == "shared"
    store = ResponseStore(tmp_path / "r.jsonl", mode="record-missing")
    replies = run(settings, store, 1, "run-seed1") + run(settings, store, 2, "run-seed2")
    # One reply served all four calls of both seeds (what per-seed-call removes).
    assert len(fake_llm_server.chat_requests) == 1 and len({r.key for r in replies}) == 1
    assert replies[0].key == request_key(build_request(settings, MSGS, 0))


def test_a_store_recorded_with_the_default_replays_with_the_default(fake_llm_server, tmp_path):
    """Absence of `rollout` keeps the keys of stores recorded before decision
    115 (a user's own): recorded once, then replayed offline, every call exact.
    (The committed mini stores are all per-seed since Table 1's re-recording.)"""
    settings = settings_for(fake_llm_server)
    path = tmp_path / "r.jsonl"
    recorded = run(settings, ResponseStore(path, mode="record-missing"), 1, "run-seed1", calls=1)
    fake_llm_server.stop()
    for seed in (1, 7):
        (reply,) = run(settings, ResponseStore(path), seed, f"run-seed{seed}", calls=1)
        assert (reply.key, reply.text, reply.source) == (recorded[0].key, recorded[0].text, "exact")


def test_every_committed_reply_is_a_per_seed_rollout():
    """Every committed mini record has a per-seed rollout index (seed x
    ROLLOUT_CALLS + call, seeds from 1), none the shared index 0, so no reply
    can serve two seeds (issue 25); its key is its request's."""
    files = sorted(RESPONSES.glob("*.jsonl"))
    assert [f.name for f in files] == ["mini.jsonl"]
    for path in files:
        records = ResponseStore(path).records()
        assert records
        for key, rec in records.items():
            assert rec["request"]["sample_index"] >= ROLLOUT_CALLS, (path.name, key)
            assert key == request_key(rec["request"]), (path.name, key)


def test_caller_sample_index_refused_under_per_seed_call(fake_llm_server, tmp_path):
    client = LLMClient(settings_for(fake_llm_server, rollout="per-seed-call"),
                       ResponseStore(tmp_path / "r.jsonl", mode="record-missing"), run_seed=1)
    with pytest.raises(ValueError, match="sample_index"):
        client.complete(MSGS, sample_index=1)
    with pytest.raises(ValueError, match="run's seed"):
        LLMClient(client.settings, client.store).complete(MSGS)
    assert fake_llm_server.chat_requests == []


@pytest.mark.parametrize("bad, field", [({"rollout": "per-seed"}, "llm.rollout"),
                                        ({"rollout": "per-seed-call", "seed": 0}, "llm.seed"),
                                        ({"rollout": "per-seed-call", "seed": None, "temperature": 0},
                                         "llm.temperature")])
def test_spec_with_a_bad_rollout_is_a_one_line_error(tmp_path, bad, field):
    import yaml

    from maao.spec import SpecError, load_spec, read_spec

    raw = read_spec(RESPONSES.parent / "specs" / "table7.yaml")   # its included defaults merged in
    raw["scales"]["mini"]["llm"].update(bad)
    path = tmp_path / "t7.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as err:
        load_spec(str(path))
    msg = str(err.value)
    assert "\n" not in msg and f"scales.mini.{field}" in msg and str(path) in msg
    raw["scales"]["mini"]["llm"].update(rollout="per-seed-call", seed=None, temperature=0.7)
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(str(path)).scale("mini")["llm"]["rollout"] == "per-seed-call"


def test_rollout_enters_the_run_hash_only_when_set():
    from maao.runner import RunConfig

    llm = {"model": "m", "temperature": 0.7, "seed": 0}
    old = RunConfig("combined", "bbc_news", 4, 1, llm=llm)
    new = RunConfig("combined", "bbc_news", 4, 1, llm={**llm, "seed": None, "rollout": "per-seed-call"})
    assert "rollout" not in old.semantic()["llm"] and new.semantic()["llm"]["rollout"] == "per-seed-call"
    assert old.config_hash() != new.config_hash()


# ----------------------------------------------------- the sharing check
def test_sharing_check_counts_replies_serving_several_seeds(fake_llm_server, tmp_path):
    seed_of_run = {"run-seed1": 1, "run-seed2": 2, "run-seed1-t8": 1}
    counts = {}
    for rollout in ("shared", "per-seed-call"):
        path = tmp_path / f"{rollout}.jsonl"
        settings = settings_for(fake_llm_server, rollout=rollout)
        for run_key, seed in seed_of_run.items():
            run(settings, ResponseStore(path, mode="record-missing"), seed, run_key)
        counts[rollout] = seeds_per_reply(ResponseStore(path).records(), seed_of_run)
    assert counts["shared"].count == 1 and list(counts["shared"].several_seeds.values()) == [[1, 2]]
    assert counts["per-seed-call"].count == 0 and counts["per-seed-call"].records == 4
    # A position whose run has no known seed is named, never guessed.
    partial = seeds_per_reply(ResponseStore(tmp_path / "shared.jsonl").records(), {"run-seed1": 1})
    assert partial.count == 0 and partial.unknown_runs == ("run-seed1-t8", "run-seed2")


def test_run_seeds_from_a_real_mlflow_store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("maao-table3-mini")
    for key, seed, status in (("aaa", 1, "FINISHED"), ("bbb", 2, "KILLED")):
        run_id = client.create_run(exp, tags={"config_hash": key, "seed": str(seed)}).info.run_id
        client.set_terminated(run_id, status=status)
    client.create_run(exp, tags={"run_kind": "sweep"})  # the sweep's parent: no seed
    assert run_seeds(uri, "maao-table3-mini") == {"aaa": 1, "bbb": 2}
    with pytest.raises(ValueError, match="no experiment"):
        run_seeds(uri, "maao-table9-mini")


def test_no_reply_of_the_scales_store_serves_two_seeds():
    """Issue 25's acceptance check on the committed recording: every record of
    benchmarks/responses/mini.jsonl is one seed's own sample (its rollout index
    `seed x ROLLOUT_CALLS + call`, never the shared index 0), every run that
    used it (meta.position, meta.also_at) is of that seed and used it as that
    call, so no reply serves runs of two seeds: the count is 0."""
    path = RESPONSES / "mini.jsonl"
    records = ResponseStore(path).records()
    assert records
    seed_of_run = {}
    for key, rec in records.items():
        index = rec["request"]["sample_index"]
        assert index >= ROLLOUT_CALLS, f"{key}: sample_index {index} is not a seed's rollout"
        seed, call = divmod(index, ROLLOUT_CALLS)
        meta = rec["meta"]
        for run_key, position in [meta["position"], *(meta.get("also_at") or [])]:
            assert seed_of_run.setdefault(run_key, seed) == seed, f"run {run_key}: seeds {seed_of_run[run_key]}, {seed}"
            assert position + 1 == call, f"{key}: call {position + 1} of run {run_key} under rollout call {call}"
