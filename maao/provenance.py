"""Where a run's LLM replies came from, and whether a finished run may stand
for the current response store (issue 12, item 1).

The run hash leaves out the endpoint and the responses file on purpose (a
record replays anywhere), so every run of an LLM method is tagged:

    llm_mode              replay | record-missing | refresh | live
    llm_source            "store" (every reply is a record of the responses
                          file) or "live" (live mode: replies recorded nowhere)
    llm_responses         the responses file's name
    llm_responses_sha256  its sha256 when the run ended
    llm_pairs_sha256      digest of the sorted (record key, reply sha256) pairs used
    llm_pairs             those pairs, "key:sha16;..." (also artifact llm_pairs.json)

A finished run is reused (skipped) only when it is compatible with the
current store: it came from the store (never from a live endpoint), and every
(key, reply) it used is still what the store holds for that key. Runs
without these tags (made before them) are not reused; reports keep them only
where no compatible run exists.
"""
from __future__ import annotations

import hashlib
import json

from .llm.store import file_sha256

PAIRS_TAG_MAX = 5000
MATCH, NONE, LIVE, MISMATCH = "match", "none", "live", "mismatch"


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def used_pairs(transcript: list[dict]) -> list[list[str]]:
    """Sorted unique [record key, reply sha] of a client transcript."""
    return [list(p) for p in sorted({(e["key"], text_sha(e["reply"])) for e in transcript})]


def pairs_digest(pairs) -> str:
    blob = json.dumps(sorted(map(list, pairs)), separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def start_tags(mode: str) -> dict:
    return {"llm_mode": mode, "llm_source": "live" if mode == "live" else "store"}


def finish_tags(store, transcript: list[dict]) -> dict:
    pairs = used_pairs(transcript)
    tags = {**start_tags(store.mode), "llm_responses": store.records_path.name,
            "llm_responses_sha256": file_sha256(store.records_path) or "",
            "llm_pairs_sha256": pairs_digest(pairs)}
    compact = ";".join(f"{k}:{s}" for k, s in pairs)
    if len(compact) <= PAIRS_TAG_MAX:
        tags["llm_pairs"] = compact
    return tags


def pairs_of(run) -> list[list[str]] | None:
    """The pairs a finished run used (tag, else its llm_pairs.json artifact)."""
    tags = run.data.tags
    if "llm_pairs" in tags:
        return [p.split(":") for p in tags["llm_pairs"].split(";") if p]
    try:
        import mlflow.artifacts

        return json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/llm_pairs.json"))
    except Exception:  # noqa: BLE001 - a missing/unreadable artifact means: unknown
        return None


def classify(tags: dict, pairs, held: dict, file_sha: str | None) -> str:
    """match | none (no provenance tags) | live | mismatch, for the run's tags
    and pairs against `held` ({key: reply sha} of the current store)."""
    if "llm_pairs_sha256" not in tags:
        return NONE
    if tags.get("llm_source") != "store":
        return LIVE
    if file_sha and tags.get("llm_responses_sha256") == file_sha:
        return MATCH
    if pairs is None or pairs_digest(pairs) != tags["llm_pairs_sha256"]:
        return MISMATCH
    return MATCH if all(held.get(k) == s for k, s in pairs) else MISMATCH


def held_replies(records: dict) -> dict:
    """{key: reply sha} of a store's records."""
    return {k: text_sha(r["response"]["text"]) for k, r in records.items()}


def reusable(run, store) -> bool:
    """Whether a finished run of an LLM method may be skipped as done (see module doc)."""
    tags = run.data.tags
    if "llm_pairs_sha256" not in tags or tags.get("llm_source") != "store":
        return False
    file_sha = file_sha256(store.records_path)
    if tags.get("llm_responses_sha256") == file_sha:
        return True
    pairs = pairs_of(run)
    held = {}
    for key, _ in pairs or ():
        rec = store.get(key)
        if rec is not None:
            held[key] = text_sha(rec["response"]["text"])
    return classify(tags, pairs, held, None) == MATCH
