"""BIG-bench candidates for the mini Table 1 (the LM-task criterion, docs/datasets.md).

Each candidate: its task.json in the bigbench 1.0.0 sdist, the SuperGLUE
family whose recipe it takes, how a task.json example becomes a structured
row (maao.datasets.lm_tasks: text_a/text_b, or premise/choices), its hard
prompt and task phrase (written before scoring), and which items must share a
split. `candidate_dataset` applies the criterion's split rule (cut to 2000
items by whole groups, then the mini split per class). Torch-free.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Callable

from .lm_types import CLASSIFICATION, MULTIPLE_CHOICE, LMDataset, LMSplit

BIGBENCH = "bigbench-1.0.0/bigbench/benchmark_tasks"
MAX_ITEMS = 2000          # larger tasks are cut first (whole groups), criterion text



@dataclass(frozen=True)
class Candidate:
    name: str
    member: str               # task.json inside the sdist
    family: str               # the SuperGLUE task whose recipe it takes
    kind: str
    classnames: tuple
    template: str             # the hand-written hard prompt (the MP line), fixed before scoring
    task: str                 # how the LLM instruction names it
    rows: Callable            # task.json doc -> structured rows
    group: Callable = lambda row: row["id"]


def _target(ex: dict) -> str:
    scores = ex["target_scores"]
    best = [k for k, v in scores.items() if v == max(scores.values())]
    if len(best) != 1:
        raise ValueError(f"no single target: {best}")
    return best[0]


def _choices(doc: dict, n_choices: int) -> list[dict]:
    """Multiple choice in task.json order (the answer positions are balanced in
    these tasks); items with another number of choices are dropped."""
    rows = []
    for n, ex in enumerate(doc["examples"]):
        choices = list(ex["target_scores"])
        if len(choices) != n_choices:
            continue
        rows.append({"id": f"ex{n:05d}", "premise": ex["input"].strip(), "choices": choices,
                     "label": choices.index(_target(ex))})
    return rows


def _labelled(doc: dict, classnames: tuple, split_input: Callable) -> list[dict]:
    rows = []
    for n, ex in enumerate(doc["examples"]):
        text_a, text_b = split_input(ex["input"])
        rows.append({"id": f"ex{n:05d}", "text_a": text_a.strip(), "text_b": text_b.strip(),
                     "label": classnames.index(_target(ex))})
    return rows


def _cut(text: str, first: str, second: str) -> tuple[str, str]:
    a, _, b = text.partition(second)
    return a.replace(first, "", 1), b


CANDIDATES = {c.name: c for c in (
    Candidate("step_ordering", f"{BIGBENCH}/goal_step_wikihow/step_ordering/task.json", "copa",
              MULTIPLE_CHOICE, ("choice 1", "choice 2"), "Which step should happen first?",
              "ordering the steps of a goal", lambda d: _choices(d, 2)),
    Candidate("social_iqa", f"{BIGBENCH}/social_iqa/task.json", "copa", MULTIPLE_CHOICE,
              ("choice 1", "choice 2", "choice 3"), "What is the most plausible answer?",
              "social commonsense reasoning", lambda d: _choices(d, 3)),
    Candidate("presuppositions_as_nli", f"{BIGBENCH}/presuppositions_as_nli/task.json", "rte",
              CLASSIFICATION, ("entailment", "neutral", "contradiction"),
              "Does the first sentence entail the second?", "natural language inference",
              lambda d: _labelled(d, ("entailment", "neutral", "contradiction"),
                                  lambda t: _cut(t.replace("The answer is:", ""), "Sentence 1:", "Sentence 2:"))),
    Candidate("vitaminc_fact_verification", f"{BIGBENCH}/vitaminc_fact_verification/task.json", "rte",
              CLASSIFICATION, ("True", "False", "Neither"), "Does the evidence support the claim?",
              "fact verification", lambda d: _labelled(d, ("True", "False", "Neither"),
                                                       lambda t: _cut(t, "", "\nClaim:")),
              group=lambda row: row["text_a"].split(":", 1)[0]),
    Candidate("formal_fallacies", f"{BIGBENCH}/formal_fallacies_syllogisms_negation/task.json", "rte",
              CLASSIFICATION, ("valid", "invalid"), "Is the argument deductively valid?",
              "deductive validity of arguments", lambda d: _labelled(d, ("valid", "invalid"),
                                                                     lambda t: (t, ""))),
    Candidate("strategyqa", f"{BIGBENCH}/strategyqa/task.json", "boolq", CLASSIFICATION, ("No", "Yes"),
              "Answer the question with yes or no.", "yes/no question answering",
              lambda d: _labelled(d, ("No", "Yes"), lambda t: (t, ""))),
    Candidate("metaphor_boolean", f"{BIGBENCH}/metaphor_boolean/task.json", "boolq", CLASSIFICATION,
              ("False", "True"), "Is the second sentence a paraphrase of the first?",
              "metaphor paraphrase judgement", lambda d: _labelled(d, ("False", "True"),
                                                                   lambda t: _cut(t, "", "<-->")),
              group=lambda row: row["text_a"]),
)}


def split_rows(rows: list[dict], group, max_items: int = MAX_ITEMS, seed: int = 0) -> dict:
    """The mini split rule with groups, after cutting to max_items (docs/datasets.md)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(group(row), []).append(row)
    if len(rows) > max_items:
        keys = sorted(groups)
        random.Random(seed).shuffle(keys)
        kept, total = [], 0
        for k in keys:
            if total >= max_items:
                break
            kept.append(k)
            total += len(groups[k])
        groups = {k: groups[k] for k in kept}
    rng = random.Random(seed)
    out = {"train": [], "val": [], "test": []}
    for label in sorted({g[0]["label"] for g in groups.values()}):
        keys = sorted(k for k, g in groups.items() if g[0]["label"] == label)
        rng.shuffle(keys)
        n_train, n_val = round(len(keys) * 0.6), round(len(keys) * 0.1)
        for part, chosen in (("train", keys[:n_train]), ("val", keys[n_train:n_train + n_val]),
                             ("test", keys[n_train + n_val:])):
            out[part] += [r for k in chosen for r in groups[k]]
    return out


SPLIT_RULE = (f"cut to {MAX_ITEMS} items by whole groups (sorted, shuffled with random.Random(0)), then per class "
              "groups sorted, shuffled with random.Random(0), first 60% train, next 10% val, rest test "
              "(maao.datasets.lm_candidates.split_rows)")


def shipped_rows(cand: Candidate, task_json: bytes) -> tuple[list[dict], dict]:
    """A chosen candidate as a shipped task (maao.datasets.lm_tasks): the rows
    the 2000-item cut keeps, sorted by id, and its split file. `candidate_dataset`
    (what the criterion scores) is built from them, so the shipped task is the one chosen."""
    parts = split_rows(cand.rows(json.loads(task_json)), cand.group)
    rows = sorted((r for part in parts.values() for r in part), key=lambda r: r["id"])
    split = {"dataset": cand.name, "rule": SPLIT_RULE,
             **{p: sorted(r["id"] for r in parts[p]) for p in ("train", "val", "test")}}
    return rows, split


def candidate_dataset(cand: Candidate, task_json: bytes) -> LMDataset:
    rows, split = shipped_rows(cand, task_json)
    by_id = {r["id"]: r for r in rows}

    def as_split(ids):
        chosen = [by_id[i] for i in ids]
        return LMSplit(tuple(chosen), tuple(r["label"] for r in chosen), tuple(ids))

    return LMDataset(f"candidate_{cand.name}", cand.kind, cand.classnames, cand.template, cand.task,
                     *(as_split(split[p]) for p in ("train", "val", "test")), scale="mini")


def majority(labels) -> float:
    counts: dict[int, int] = {}
    for y in labels:
        counts[y] = counts.get(y, 0) + 1
    return 100.0 * max(counts.values()) / len(labels)
