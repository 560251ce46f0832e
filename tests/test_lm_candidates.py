"""A candidate the LM-task criterion chooses ships as the task it was scored
as (maao.datasets.lm_candidates.shipped_rows, lm_tasks.derive_files)."""
import hashlib
import json

import pytest

from maao.datasets.base import DatasetError
from maao.datasets.lm_candidates import CANDIDATES, MAX_ITEMS, candidate_dataset
from maao.datasets.lm_tasks import CLASSIFICATION, LMTaskSource, derive_files


def task_json(n: int) -> bytes:
    """A strategyqa-shaped task.json of n yes/no questions."""
    examples = [{"input": f"Question {i}: is {i} even?", "target_scores": {"No": i % 2, "Yes": 1 - i % 2}}
                for i in range(n)]
    return json.dumps({"canary": "c", "examples": examples}).encode()


@pytest.mark.parametrize("n", [40, MAX_ITEMS + 300])      # below and above the 2000-item cut
def test_a_shipped_candidate_has_the_rows_and_split_it_was_scored_on(n):
    raw = task_json(n)
    source = LMTaskSource("strategyqa", "strategyqa/task.json", hashlib.sha256(raw).hexdigest(),
                          CLASSIFICATION, ("No", "Yes"), "t", "yes/no question answering", "boolq",
                          candidate="strategyqa")
    lines, split = derive_files(source, raw)
    meta, rows = lines[0]["_meta"], lines[1:]
    scored = candidate_dataset(CANDIDATES["strategyqa"], raw)
    for part in ("train", "val", "test"):
        assert tuple(split[part]) == getattr(scored, part).ids
    assert [r["id"] for r in rows] == sorted([*scored.train.ids, *scored.val.ids, *scored.test.ids])
    assert meta["num_examples"] == len(rows) == min(n, MAX_ITEMS)
    by_id = {r["id"]: r for r in rows}
    assert all(by_id[i] == ex for i, ex in zip(scored.test.ids, scored.test.examples))


def test_a_changed_task_json_is_refused():
    raw = task_json(40)
    source = LMTaskSource("strategyqa", "m", "0" * 64, CLASSIFICATION, ("No", "Yes"), "t", "t", "boolq",
                          candidate="strategyqa")
    with pytest.raises(DatasetError, match="sha256"):
        derive_files(source, raw)
