"""Issue 21, item 3: `Tracker.claim` sees a configuration's runs in one
consistent step. The interleaving that gave one configuration two FINISHED
runs is forced here, not hoped for: another process's run finishes right
after claim's first look at the store."""
from __future__ import annotations

from maao.run_record import RunRecord
from maao.tracking import Tracker

EXPERIMENT, HASH = "maao-race-mini", "0123456789abcdef0123"
TAGS = {"config_hash": HASH, "method": "single_start"}


def finish_after_first_query(tracker: Tracker, other: Tracker, run_id: str) -> list:
    """Let `other` finish `run_id` as soon as `tracker` has run its first
    search of the store (the other process's timing, made certain)."""
    calls = []
    search = tracker.client.search_runs

    def search_then_finish(*args, **kwargs):
        found = search(*args, **kwargs)
        calls.append(kwargs.get("filter_string", args[1] if len(args) > 1 else ""))
        if len(calls) == 1:
            other.finish(run_id, RunRecord.build("cell", {}, [], {"test_accuracy": 50.0}, {}))
        return found

    tracker.client.search_runs = search_then_finish
    return calls


def test_a_run_finishing_during_claim_is_not_trained_twice(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    other, tracker = Tracker(uri), Tracker(uri)     # two processes' trackers (leases are per open file)
    first = other.claim(EXPERIMENT, HASH, "cell", TAGS)
    assert first.state == "new"
    calls = finish_after_first_query(tracker, other, first.run_id)

    second = tracker.claim(EXPERIMENT, HASH, "cell", TAGS)
    assert calls, "claim did not search the store"
    assert second.state == "finished" and second.run_id == first.run_id, second
    finished = tracker.runs(EXPERIMENT, HASH, "FINISHED")
    assert [r.info.run_id for r in finished] == [first.run_id]
    assert not tracker.runs(EXPERIMENT, HASH, "RUNNING")


def test_a_run_still_training_is_busy_and_then_reused(tmp_path):
    """The same snapshot, the other process still training: busy, not a second run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    other, tracker = Tracker(uri), Tracker(uri)
    first = other.claim(EXPERIMENT, HASH, "cell", TAGS)
    assert tracker.claim(EXPERIMENT, HASH, "cell", TAGS).state == "busy"
    other.finish(first.run_id, RunRecord.build("cell", {}, [], {"test_accuracy": 50.0}, {}))
    again = tracker.claim(EXPERIMENT, HASH, "cell", TAGS)
    assert again.state == "finished" and again.run_id == first.run_id
