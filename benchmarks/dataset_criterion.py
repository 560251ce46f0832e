"""Check the mini datasets against the dataset criterion (docs/datasets.md).

    python -m benchmarks.dataset_criterion [--datasets NAME ...] [--rebalanced]
        [--bigbench-sdist bigbench-1.0.0.tar.gz [--candidates TASK ...]] [--cache-dir DIR]

Per dataset: classes, test size and class counts, smallest train class,
majority-class rate of the test split, zero-shot test accuracy of the
dataset's hand-written template and PASS/FAIL. The zero-shot number is what
`maao zero-shot --dataset NAME` prints: the table3 spec's mini backbone,
PromptProblem.evaluate_templates([template], "test"). Thresholds and the
data checks live in maao/datasets/criterion.py.

  --rebalanced       also score each dataset on its re-balanced test split
                     (criterion.rebalanced: Random(0), smallest class count per class)
  --bigbench-sdist   also score BIG-bench classification candidates (CANDIDATES
                     below, templates written before any was scored), split by the
                     mini sets' rule; the sdist comes from
                     `pip download --no-deps bigbench==1.0.0` (see maao/datasets/data/README.md)

Default datasets: the mini sets (MINI) and the retired ones (MINI_RETIRED);
exit status 1 when a dataset of MINI fails. Offline, one thread
(HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, MAAO_THREADS=1 unless set).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MAAO_THREADS", "1")

SENTIMENT = ("positive", "negative", "neutral", "ambivalent")  # the order of multiemo's task_prefix
# BIG-bench classification tasks whose structure could meet the criterion
# (docs/datasets.md: English natural-text inputs, one label set, >= 27
# examples per class, >= ~500 examples), smallest first, with the template
# fixed before scoring: task -> (labels, task.json sha256, template).
# color/hsl (code inputs) and sports_understanding (verdict labels) fail the
# structural part; they are listed to show the zero-shot check agrees.
CANDIDATES = {
    "salient_translation_error_detection": (
        ("Named Entities", "Numerical Values", "Modifiers or Adjectives", "Negation or Antonyms", "Facts",
         "Dropped Content"),
        "0762705a4f1875d882f54e71e5fa0e5a598eee8cf98b167a8e5ab59fb3fab1ad", "a translation with an error in {}."),
    "multiemo/reviews_sentence_en": (
        SENTIMENT, "ed47f087df1ad49cce9acb8de86595275f6ba0a566cc0e91cb107e7c47f60322", "an opinion that is {}."),
    "multiemo/medicine_text_en": (
        SENTIMENT, "bdd837d77735f080f8466d7a1543c17985bf9b080383e4dce3e3b680661e115b", "an opinion that is {}."),
    "multiemo/hotels_text_en": (
        SENTIMENT, "ab337244d7dd0f9c6f050c3cb5938b410538854c5d0aa006a486d61d388815de", "an opinion that is {}."),
    "multiemo/products_sentence_en": (
        SENTIMENT, "22e67bed46bb7fb704ab0d17f5dbd3344214a51b62975cac6711dfc1eba1d0c9", "an opinion that is {}."),
    "multiemo/all_text_en": (
        SENTIMENT, "cf46f411f08564313750696d5bf060d35a012decbdc02d43dfb349804a673bb9", "an opinion that is {}."),
    "multiemo/medicine_sentence_en": (
        SENTIMENT, "b6bce13d8916befc056d7eb517b3a990bbc7afb3edf75c9b2513db57b17dbaa5", "an opinion that is {}."),
    "multiemo/hotels_sentence_en": (
        SENTIMENT, "084d18d069760d534a03201de5ce7c8e1775ef5444c525a6c32d9386ca861a58", "an opinion that is {}."),
    "multiemo/all_sentence_en": (
        SENTIMENT, "5b78ed07bf7151b5101618aa6e4e2fdbd33fb08c0e1e7ec36d93003467590569", "an opinion that is {}."),
    "color/hsl": (
        ("black", "blue", "brown", "gray", "green", "orange", "purple", "red", "white", "yellow"),
        "bee2bdb4d6b8bcb4305f3a37cdc885d5c83f35494461307d0fec62faa4533719", "the color {}."),
    "sports_understanding": (
        ("plausible", "implausible"),
        "925617612d19ca02d7b13bfb263300cc13701dca8851151a77be8ce986feadab", "a sentence about sports that is {}."),
}


def _one_per_class(dataset):
    """A tiny train split (first example of each class): PromptProblem encodes
    its train split, which zero-shot scoring never reads."""
    first = {}
    for i, y in zip(dataset.train.ids, dataset.train.labels):
        first.setdefault(y, i)
    return dataset.train.select([first[c] for c in sorted(first)])


def zero_shot_accuracy(dataset, spec: str = "table3", cache_dir=None, full_train: bool = True) -> float:
    """Test accuracy (%) of the dataset's template, scored as `maao zero-shot` scores it
    (cmd_zero_shot -> runner.build_problem -> PromptProblem.evaluate_templates)."""
    from maao.datasets import few_shot
    from maao.problem import PromptProblem
    from maao.spec import expand, load_spec

    (config,) = expand(load_spec(spec), "mini", [dataset.name], [1], [1], ["single_start"], strict=False)
    if full_train:
        train = few_shot(dataset, config.shots, config.sample_seed)
    else:
        dataset = replace(dataset, train=_one_per_class(dataset))
        train = dataset.train
    backbone = _backbone(config.backbone, tuple(sorted(config.backbone_options.items())))
    problem = PromptProblem(backbone, dataset, train, config.problem, cache_dir=cache_dir)
    _, acc = problem.evaluate_templates([dataset.template], "test")
    return float(acc.item())


_BACKBONES: dict = {}


def _backbone(name, options):
    from maao.backbones import load_backbone

    if (name, options) not in _BACKBONES:
        _BACKBONES[name, options] = load_backbone(name, **dict(options))
    return _BACKBONES[name, options]


def candidate_dataset(task_name: str, raw: bytes):
    """A BIG-bench task as a mini Dataset: bigbench_tasks.derive, then the mini
    sets' split rule (duplicates excluded, per class 60/10/30 with Random(0))."""
    from maao.datasets import bigbench_tasks, sampling
    from maao.datasets.base import Dataset, LabelledSplit

    labels, sha, template = CANDIDATES[task_name]
    task = bigbench_tasks.BigBenchTask(
        name=task_name, labels=labels, classnames=tuple(x.lower() for x in labels), template=template,
        task=task_name, task_json_sha256=sha)
    rows = bigbench_tasks.derive(task, raw)[1:]
    ids, texts = [r["id"] for r in rows], [r["text"] for r in rows]
    ys = [labels.index(r["label"]) for r in rows]
    excluded = sampling.find_duplicates(ids, texts, ys)
    kept = [n for n, i in enumerate(ids) if i not in excluded]
    parts = sampling.stratified_split([ids[n] for n in kept], [ys[n] for n in kept], len(labels))
    row = {i: n for n, i in enumerate(ids)}

    def split(name):
        return LabelledSplit([texts[row[i]] for i in parts[name]], [ys[row[i]] for i in parts[name]], parts[name])

    return Dataset(name=task_name, classnames=list(task.classnames), template=template, task=task_name,
                   modality="text", train=split("train"), val=split("val"), test=split("test"), scale="mini")


def row(label: str, dataset, zero_shot: float, status: str = "") -> tuple[str, bool]:
    from maao.datasets import criterion as crit

    v = crit.verdict(dataset, zero_shot)
    counts = "/".join(map(str, dataset.test.class_counts(dataset.num_classes)))
    state = ("PASS" if v.passed else "FAIL: " + "; ".join(v.failures)) + status
    return (f"| {label} | {v.classes} | {v.test_size} | {counts} | {v.min_train_per_class} | "
            f"{v.majority:.1f} | {v.zero_shot:.1f} | {v.zero_shot - v.majority:+.1f} | {state} |"), v.passed


def main(argv: list[str] | None = None) -> int:
    from maao.datasets import MINI, MINI_RETIRED, load_dataset
    from maao.datasets import criterion as crit

    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataset_criterion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(MINI + MINI_RETIRED))
    parser.add_argument("--rebalanced", action="store_true", help="also score the re-balanced test splits")
    parser.add_argument("--bigbench-sdist", type=Path, help="bigbench-1.0.0.tar.gz: also score CANDIDATES")
    parser.add_argument("--candidates", nargs="+", choices=sorted(CANDIDATES), metavar="TASK",
                        help="which BIG-bench candidates (default all; the multiemo *_sentence_en ones take minutes)")
    parser.add_argument("--spec", default="table3", help="spec whose mini backbone scores (default table3)")
    parser.add_argument("--cache-dir", help="feature cache (default: $MAAO_CACHE_DIR/features; "
                                            "candidates: a temporary folder)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(int(os.environ["MAAO_THREADS"]))
    print(f"criterion: zero-shot >= majority + {crit.MIN_MARGIN:g} points and <= {crit.MAX_ZERO_SHOT:g}%; "
          f"class names ordinary words; >= {crit.MIN_TRAIN_PER_CLASS} train per class; "
          f">= {crit.MIN_TEST} test examples")
    header = ("| dataset | classes | test | test per class | min train/class | majority % | zero-shot % "
              "| margin | verdict |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    ok = True
    for name in args.datasets:
        ds = load_dataset(name)
        line, passed = row(name, ds, zero_shot_accuracy(ds, args.spec, args.cache_dir),
                           " (retired)" if name in MINI_RETIRED else "")
        ok &= passed or name not in MINI
        print(line, flush=True)
        if args.rebalanced:
            rb = replace(ds, test=crit.rebalanced(ds.test, ds.num_classes))
            print(row(f"{name}, test re-balanced", rb,
                      zero_shot_accuracy(rb, args.spec, args.cache_dir, full_train=False))[0], flush=True)
    if args.bigbench_sdist:
        from maao.datasets.bigbench_tasks import BIGBENCH_VERSION
        from maao.datasets.prepare import extract_members

        names = args.candidates or list(CANDIDATES)
        member = f"bigbench-{BIGBENCH_VERSION}/bigbench/benchmark_tasks/{{}}/task.json"
        raw = extract_members(args.bigbench_sdist, [member.format(t) for t in names])
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                ds = candidate_dataset(name, raw[member.format(name)])
                acc = zero_shot_accuracy(ds, args.spec, args.cache_dir or tmp, full_train=False)
                print(row(f"{name} (BIG-bench)", ds, acc, f" [template {ds.template!r}]")[0], flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
