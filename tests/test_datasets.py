"""Mini datasets: real data shipped in packages, stored splits and few-shot files."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from maao.datasets import (
    DATASETS, MINI, MINI_RETIRED, SEEDS, SHOTS, Dataset, DatasetError, LabelledSplit, few_shot, load_dataset,
)
from maao.datasets import bigbench_tasks, criterion, mini, prepare

# name -> (classnames, (train, val, test) sizes, smallest train class count)
EXPECTED = {
    "bbc_news": (
        ["business", "entertainment", "politics", "sport", "technology"],
        (1274, 212, 638),
        208,
    ),
    "intent_recognition": (
        ["add to playlist", "book restaurant", "get weather", "play music",
         "rate book", "search creative work", "search screening event"],
        (416, 69, 208),
        48,
    ),
    "social_support": (["unsupportive", "neutral", "supportive"], (537, 89, 269), 50),
}


@pytest.fixture(scope="module", params=MINI + MINI_RETIRED)  # retired sets still load (replays)
def ds(request) -> Dataset:
    return load_dataset(request.param)


def test_registry_lists_mini_and_paper_sets():
    assert set(MINI) <= set(DATASETS) and set(MINI_RETIRED) <= set(DATASETS)
    assert not set(MINI) & set(MINI_RETIRED)
    for name in ("eurosat", "dtd", "oxford_flowers", "oxford_pets", "food101", "caltech101",
                 "stanford_cars", "fgvc_aircraft", "sun397", "ucf101"):
        assert name in DATASETS


def test_mini_dataset_shape(ds):
    classnames, sizes, smallest = EXPECTED[ds.name]
    assert ds.classnames == classnames
    assert (len(ds.train), len(ds.val), len(ds.test)) == sizes
    assert min(ds.train.class_counts(ds.num_classes)) == smallest
    assert ds.modality == "text" and ds.scale == "mini" and ds.root is None
    assert ds.template.count("{}") == 1 and ds.task
    for part in (ds.train, ds.val, ds.test):
        assert set(part.labels) == set(range(ds.num_classes))
        assert all(isinstance(x, str) and x and x == x.strip() for x in part.inputs)


def test_splits_disjoint_and_no_duplicate_texts(ds):
    ids = [set(ds.train.ids), set(ds.val.ids), set(ds.test.ids)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    texts = [" ".join(t.split()).casefold() for p in (ds.train, ds.val, ds.test) for t in p.inputs]
    assert len(texts) == len(set(texts))  # duplicates excluded, so no leak across splits


def test_bbc_news_ids_and_text():
    ds = load_dataset("bbc_news")
    assert "business/001" in ds.train.ids + ds.val.ids + ds.test.ids
    row = (ds.train.ids + ds.val.ids + ds.test.ids).index("sports/199")
    texts = ds.train.inputs + ds.val.inputs + ds.test.inputs
    assert "\u00a315.8m" in texts[row]  # the cp1252 file decodes the pound sign


def test_intent_text_has_no_prefix():
    ds = load_dataset("intent_recognition")
    assert not any(t.startswith("Utterance:") for t in ds.train.inputs)


@pytest.mark.parametrize("shots", SHOTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_stored_few_shot(ds, shots, seed):
    assert mini.fewshot_path(ds.name, shots, seed).exists()
    fs = few_shot(ds, shots, seed)
    assert fs.class_counts(ds.num_classes) == [shots] * ds.num_classes
    assert set(fs.ids) <= set(ds.train.ids)
    row = dict(zip(ds.train.ids, zip(ds.train.inputs, ds.train.labels)))
    assert all(row[i] == (x, y) for i, x, y in zip(fs.ids, fs.inputs, fs.labels))
    val = few_shot(ds, shots, seed, split="val")
    assert val.class_counts(ds.num_classes) == [min(shots, 4)] * ds.num_classes
    assert set(val.ids) <= set(ds.val.ids)


def test_few_shot_seeds_differ_and_repeat(ds):
    assert few_shot(ds, 16, 1).ids != few_shot(ds, 16, 2).ids
    assert few_shot(ds, 4, 1) == few_shot(ds, 4, 1)


def test_stored_files_equal_regeneration():
    # Splits and few-shot files regenerate byte for byte from the sources.
    for path, text in {**prepare.expected_split_files(), **prepare.expected_fewshot_files()}.items():
        assert path.read_text(encoding="utf-8") == text, path


def test_shipped_bigbench_files_have_header():
    for task in bigbench_tasks.TASKS.values():
        lines = task.data_path.read_text(encoding="utf-8").splitlines()
        meta = json.loads(lines[0])["_meta"]
        assert meta["task_json_sha256"] == task.task_json_sha256
        assert "Apache-2.0" in meta["license"] and meta["num_examples"] == len(lines) - 1
        assert meta["regenerate"] == f"python -m maao.datasets.prepare {task.name}"


def test_bigbench_derivation_from_task_json():
    task = bigbench_tasks.BigBenchTask(
        name="toy", labels=("a_b", "c"), classnames=("a b", "c"), template="{}.", task="t",
        task_json_sha256="", input_prefix="Q: ",
    )
    raw = json.dumps({"canary": "X", "examples": [
        {"input": "Q:  hello ", "target_scores": {"a_b": 1, "c": 0}},
        {"input": "Q: bye", "target_scores": {"a_b": 0, "c": 1}},
    ]}).encode()
    import hashlib

    task = bigbench_tasks.BigBenchTask(**{**task.__dict__, "task_json_sha256": hashlib.sha256(raw).hexdigest()})
    lines = bigbench_tasks.derive(task, raw)
    assert lines[1:] == [{"id": "ex0000", "text": "hello", "label": "a_b"}, {"id": "ex0001", "text": "bye", "label": "c"}]
    with pytest.raises(DatasetError, match="sha256"):
        bigbench_tasks.derive(task, raw + b" ")


def test_labelled_split_digest_and_validation():
    a = LabelledSplit(inputs=["x", "y"], labels=[0, 1], ids=["1", "2"])
    assert isinstance(a.inputs, tuple) and len(a) == 2
    assert a.digest() == LabelledSplit(("x", "y"), (0, 1), ("1", "2")).digest()
    assert a.digest() != LabelledSplit(("x", "z"), (0, 1), ("1", "2")).digest()
    assert a.digest() != LabelledSplit(("x", "y"), (1, 1), ("1", "2")).digest()
    with pytest.raises(DatasetError):
        LabelledSplit(("x",), (0, 1), ("1", "2"))
    with pytest.raises(DatasetError):
        LabelledSplit(("x", "y"), (0, 1), ("1", "1"))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_unknown_dataset_lists_known():
    with pytest.raises(DatasetError) as exc:
        load_dataset("bbc")
    msg = _one_line(exc)
    assert "'bbc'" in msg and "bbc_news" in msg and "eurosat" in msg
    assert isinstance(exc.value, ValueError)


def test_bad_few_shot_arguments():
    ds = load_dataset("bbc_news")
    with pytest.raises(DatasetError) as exc:
        few_shot(ds, 0, 1)
    assert "positive" in _one_line(exc)
    with pytest.raises(DatasetError) as exc:
        few_shot(ds, -2, 1)
    with pytest.raises(DatasetError) as exc:
        few_shot(ds, 300, 1)
    assert _one_line(exc) == "shots=300 exceeds the 208 examples of class 'technology' in bbc_news train"
    with pytest.raises(DatasetError) as exc:
        few_shot(ds, 16, 1, split="test")
    assert "unknown few-shot split 'test'" in _one_line(exc)
    with pytest.raises(DatasetError) as exc:
        ds.split("dev")
    assert "unknown split 'dev'" in _one_line(exc)
    with pytest.raises(DatasetError) as exc:
        few_shot(ds, 32, 1)  # possible, but no stored file: never re-sampled
    assert "no stored few-shot split for bbc_news shots=32 seed=1" in _one_line(exc)
    with pytest.raises(DatasetError):
        few_shot(ds, 16, 23)   # seeds 1-22 are stored (the power grid)


def test_data_dir_is_ignored_by_mini_sets(tmp_path):
    assert load_dataset("intent_recognition", data_dir=tmp_path / "nowhere").name == "intent_recognition"


# -- the dataset criterion (docs/datasets.md; zero-shot numbers come from
#    `python -m benchmarks.dataset_criterion`, which needs the backbone) -----

# name -> test class counts, majority-class rate (%)
MAJORITY = {
    "bbc_news": ([151, 111, 121, 151, 104], 100 * 151 / 638),
    "intent_recognition": ([37, 28, 31, 25, 24, 32, 31], 100 * 37 / 208),
    "social_support": ([26, 210, 33], 100 * 210 / 269),
}


def test_majority_rates():
    for name, (counts, rate) in MAJORITY.items():
        ds = load_dataset(name)
        assert ds.test.class_counts(ds.num_classes) == counts
        assert criterion.majority_rate(ds.test, ds.num_classes) == pytest.approx(rate)
    assert criterion.majority_rate(load_dataset("social_support").test, 3) == pytest.approx(78.07, abs=0.01)


def test_kept_mini_sets_meet_the_data_part_of_the_criterion():
    for name in MINI:
        ds = load_dataset(name)
        v = criterion.verdict(ds, zero_shot=None)
        assert v.words and v.min_train_per_class >= criterion.MIN_TRAIN_PER_CLASS
        assert v.test_size >= criterion.MIN_TEST and v.failures == []


def test_social_support_fails_the_criterion_even_re_balanced():
    ds = load_dataset("social_support")
    # zero-shot would need 88.1 %; the template scores 26.0 % (docs/datasets.md)
    v = criterion.verdict(ds, zero_shot=26.0)
    assert not v.passed and v.failures == ["zero-shot 26.0 < majority 78.1 + 10"]
    assert "social_support" in MINI_RETIRED and "social_support" not in MINI
    rb = criterion.rebalanced(ds.test, ds.num_classes)
    assert rb.class_counts(3) == [26, 26, 26] and criterion.majority_rate(rb, 3) == pytest.approx(100 / 3)
    assert set(rb.ids) <= set(ds.test.ids)
    assert list(rb.ids) == [i for i in ds.test.ids if i in set(rb.ids)]  # split order kept
    assert rb == criterion.rebalanced(ds.test, ds.num_classes)  # deterministic: Random(0)
    assert rb != criterion.rebalanced(ds.test, ds.num_classes, seed=1)
    # too small a test split whatever the zero-shot accuracy (it scores 28.2 %)
    assert criterion.verdict(replace(ds, test=rb), 50.0).failures == ["test split 78 < 150"]


def test_criterion_verdict_rules():
    split = LabelledSplit([f"t{i}" for i in range(200)], [i % 2 for i in range(200)], [str(i) for i in range(200)])
    ds = Dataset(name="toy", classnames=["sport", "politics"], template="about {}.", task="t", modality="text",
                 train=split, val=split, test=split, scale="mini")
    assert criterion.majority_rate(split, 2) == 50.0
    assert criterion.verdict(ds, 60.0).passed                    # exactly 10 points above the majority
    assert criterion.verdict(ds, 59.9).failures == ["zero-shot 59.9 < majority 50.0 + 10"]
    assert criterion.verdict(ds, 95.0).passed
    assert criterion.verdict(ds, 95.1).failures == ["zero-shot 95.1 > 95 (no headroom)"]
    assert not criterion.verdict(ds, None).passed                # not measured: no verdict
    assert criterion.ordinary_words(["add to playlist", "get weather"])
    for labels in (["True", "False"], ["yes", "no"], ["entailment", "neutral"], ["(a)", "(b)"], ["1", "2"],
                   ["same", "same"]):
        assert not criterion.ordinary_words(labels), labels
