"""Classification tasks of BIG-bench (bigbench 1.0.0, Apache-2.0).

The bigbench sdist is 358 MB, so the package ships a compact file derived
from each task.json: data/<name>.jsonl, a `_meta` header line (source,
license, sha256 of the task.json, canary) and one {"id", "text", "label"}
line per example, ids "ex0000" = position in task.json.
`python -m maao.datasets.prepare <name>` re-derives it and checks it.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from .base import Dataset, DatasetError
from .mini import DATA_DIR, Examples, MiniSource, load_mini

BIGBENCH_VERSION = "1.0.0"
SDIST_NAME = f"bigbench-{BIGBENCH_VERSION}.tar.gz"


@dataclass(frozen=True)
class BigBenchTask:
    name: str
    labels: tuple[str, ...]  # target_scores keys, in label order
    classnames: tuple[str, ...]  # human-readable, same order
    template: str
    task: str
    task_json_sha256: str  # of bigbench-1.0.0/bigbench/benchmark_tasks/<name>/task.json
    input_prefix: str = ""  # formatting the task puts before every input; removed

    @property
    def member(self) -> str:
        return f"bigbench-{BIGBENCH_VERSION}/bigbench/benchmark_tasks/{self.name}/task.json"

    @property
    def data_path(self) -> Path:
        return DATA_DIR / f"{self.name}.jsonl"


INTENT_RECOGNITION = BigBenchTask(
    name="intent_recognition",
    labels=(
        "add_to_playlist", "book_restaurant", "get_weather", "play_music",
        "rate_book", "search_creative_work", "search_screening_event",
    ),
    classnames=(
        "add to playlist", "book restaurant", "get weather", "play music",
        "rate book", "search creative work", "search screening event",
    ),
    template="a request to {}.",
    task="intent classification of voice assistant requests",
    task_json_sha256="04ca74852de19abfc64c807b096f0094bacbb82131c793d8c413cad3dfdeb5ae",
    input_prefix="Utterance: ",
)

SOCIAL_SUPPORT = BigBenchTask(
    name="social_support",
    labels=("unsupportive", "neutral", "supportive"),
    classnames=("unsupportive", "neutral", "supportive"),
    template="a {} reply.",
    task="classification of online replies as supportive, neutral or unsupportive",
    task_json_sha256="fa8a294ec0cde2961f4881566a8a7c72e4fbb229be3bfa44f2708f71c5288c26",
)

TASKS = {t.name: t for t in (INTENT_RECOGNITION, SOCIAL_SUPPORT)}


def derive(task: BigBenchTask, task_json: bytes) -> list[dict]:
    """The lines of data/<name>.jsonl (header first) from the raw task.json."""
    import hashlib

    digest = hashlib.sha256(task_json).hexdigest()
    if digest != task.task_json_sha256:
        raise DatasetError(f"{task.name}: task.json sha256 {digest} differs from the pinned {task.task_json_sha256}")
    doc = json.loads(task_json)
    rows = []
    for n, example in enumerate(doc["examples"]):
        scores = example["target_scores"]
        best = [k for k, v in scores.items() if v == max(scores.values())]
        if len(best) != 1 or best[0] not in task.labels:
            raise DatasetError(f"{task.name}: example {n} has no single known target ({best})")
        text = example["input"]
        if task.input_prefix:
            if not text.startswith(task.input_prefix):
                raise DatasetError(f"{task.name}: example {n} does not start with {task.input_prefix!r}")
            text = text[len(task.input_prefix):]
        rows.append({"id": f"ex{n:04d}", "text": text.strip(), "label": best[0]})
    meta = {
        "dataset": task.name,
        "source": f"PyPI sdist {SDIST_NAME}, member {task.member}",
        "license": "Apache-2.0 (BIG-bench)",
        "task_json_sha256": task.task_json_sha256,
        "canary": doc.get("canary", ""),
        "derivation": (
            "one line per example in task.json order; id ex<position>; label = the single target with the "
            f"highest target_score; text = input{' without the prefix ' + repr(task.input_prefix) if task.input_prefix else ''}, "
            "whitespace stripped"
        ),
        "regenerate": f"python -m maao.datasets.prepare {task.name}",
        "num_examples": len(rows),
    }
    return [{"_meta": meta}, *rows]


def to_jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


@functools.cache
def read_examples(name: str) -> Examples:
    task = TASKS[name]
    try:
        lines = task.data_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{name}: {task.data_path} is missing; run `python -m maao.datasets.prepare {name} --write`") from None
    ids, texts, labels = [], [], []
    index = {label: n for n, label in enumerate(task.labels)}
    for line in lines:
        row = json.loads(line)
        if "_meta" in row:
            continue
        ids.append(row["id"])
        texts.append(row["text"])
        labels.append(index[row["label"]])
    return Examples(ids=ids, texts=texts, labels=labels)


def source(task: BigBenchTask) -> MiniSource:
    return MiniSource(
        name=task.name,
        classnames=task.classnames,
        template=task.template,
        task=task.task,
        read=functools.partial(read_examples, task.name),
    )


SOURCES = {name: source(task) for name, task in TASKS.items()}


def load_intent_recognition(data_dir: Path | None = None) -> Dataset:
    return load_mini(SOURCES["intent_recognition"])


def load_social_support(data_dir: Path | None = None) -> Dataset:
    return load_mini(SOURCES["social_support"])
