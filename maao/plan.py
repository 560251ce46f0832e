"""`maao sweep SPEC ... --dry-run`: what a sweep would do, before anything runs.

Prints the runs to train, the LLM calls to make or replay, the recorded
calls missing, and the estimated time and API cost. Reads the store; writes
nothing (not even a new SQLite file).

Estimates, said as such: a cell counts as finished when the store holds a
FINISHED run tagged with that cell (table, scale, method, dataset, shots,
seed); the sweep itself also compares the configuration hash and the LLM
provenance, so it may train more where settings or records changed. In a
spec with shared runs (decision 141), a run to do whose configuration hash
another table's experiment holds as a finished, trained run counts as to
copy (the sweep mirrors it), not as to train. Time
and LLM calls per run to train are the medians of this store's finished runs
of the same method, dataset and shots (else of the method); cost uses
`maao.llm.prices` and the median tokens of those runs; replayed calls cost
nothing.
"""
from __future__ import annotations

import statistics
from pathlib import Path


def _finished(uri: str, experiment: str) -> list:
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], "tags.config_hash != '' AND attributes.status = 'FINISHED'",
                              max_results=50000)


def _trained_elsewhere(uri: str, scale: str, experiment: str) -> set[str]:
    """Configuration hashes of the finished, trained (not mirrored) runs in the
    other experiments of the scale: what a shared-runs sweep would mirror."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return set()
    from mlflow.tracking import MlflowClient

    from .shared_runs import MIRROR_OF, other_experiments

    client = MlflowClient(uri)
    ids = other_experiments(client, scale, experiment)
    if not ids:
        return set()
    runs = client.search_runs(ids, "tags.config_hash != '' AND attributes.status = 'FINISHED'", max_results=50000)
    return {r.data.tags["config_hash"] for r in runs if MIRROR_OF not in r.data.tags}


def _resolved_hash(config) -> str | None:
    """The hash the sweep gives the run (recipe defaults filled in); None where
    its data does not load here (it then counts as to train)."""
    from .datasets.base import DatasetError
    from .runner import resolve_for, train_size

    try:
        return resolve_for(config, train_size(config)).config_hash()
    except DatasetError:
        return None


def _median(runs: list, metric: str) -> float | None:
    values = [r.data.metrics[metric] for r in runs if metric in r.data.metrics]
    return statistics.median(values) if values else None


def _estimate(runs: list, config, metric: str) -> float | None:
    """Median of `metric` over finished runs of this method, dataset and shots, else of this method."""
    def tag(r, k):
        return r.data.tags.get(k)
    same_method = [r for r in runs if tag(r, "method") == config.name]
    same_cell = [r for r in same_method if tag(r, "dataset") == config.dataset and tag(r, "shots") == str(config.shots)]
    value = _median(same_cell, metric)
    return value if value is not None else _median(same_method, metric)


def plan_text(spec, configs: list, uri: str, responses: Path, mode: str, force: bool = False) -> str:
    from .llm import ResponseStore, check_manifest
    from .llm.prices import cost_usd
    from .methods import get_method

    runs = _finished(uri, configs[0].experiment) if configs else []
    done = {(r.data.tags.get("method"), r.data.tags.get("dataset"), r.data.tags.get("shots"),
             r.data.tags.get("seed")) for r in runs if r.data.tags.get("table") == spec.table}
    todo = [c for c in configs if force or (c.name, c.dataset, str(c.shots), str(c.seed)) not in done]
    finished = len(configs) - len(todo)
    shared = [c for c in todo if c.shared_runs]
    elsewhere = _trained_elsewhere(uri, shared[0].scale, shared[0].experiment) if shared and not force else set()
    to_copy = [c for c in shared if elsewhere and _resolved_hash(c) in elsewhere]
    todo = [c for c in todo if c not in to_copy]
    llm_todo = [c for c in todo if get_method(c.method).uses_llm]
    seconds = [_estimate(runs, c, "seconds") for c in todo]
    calls = [_estimate(runs, c, "llm_calls") for c in llm_todo]
    known_s = [s for s in seconds if s is not None]
    lines = [f"maao sweep {spec.name} --dry-run: nothing runs, nothing is written. MLflow: {uri}",
             f"  runs: {len(configs)} in the selection, {finished} finished in the store "
             f"(by cell tags), {len(todo)} to train ({len(llm_todo)} with an LLM)"
             + (f", {len(to_copy)} to copy from another table's finished run (shared runs)" if to_copy else "")]
    if todo:
        lines.append(f"  time: ~{sum(known_s) / 60:.1f} min for {len(known_s)} of the {len(todo)} runs "
                     "(medians of this store's finished runs of the same method, dataset and shots)"
                     + (f"; {len(todo) - len(known_s)} run(s) without a finished run to go by: unknown"
                        if len(known_s) < len(todo) else ""))
    n_calls = sum(c for c in calls if c is not None)
    unknown_calls = sum(c is None for c in calls)
    verb = "replay from" if mode == "replay" else "make (answered from the records where they hold them)"
    lines.append(f"  LLM calls: ~{n_calls:.0f} to {verb} {responses.name}"
                 + (f"; {unknown_calls} LLM run(s) without a finished run to go by" if unknown_calls else ""))
    manifest = spec.manifest_path(configs[0].scale, responses) if configs else responses.with_suffix(".manifest.json")
    if responses.is_file() and manifest.is_file():
        import os

        cache = Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao")) / "llm-index"
        missing, _ = check_manifest(manifest, ResponseStore(responses, cache_dir=cache, mode="replay"))
        lines.append(f"  recorded calls missing: {len(missing)} of the keys {manifest.name} lists"
                     + ("" if not missing or mode != "replay" else " (replay stops at the first)"))
    else:
        lines.append(f"  recorded calls missing: unknown (no {responses.name} / manifest)")
    if mode == "replay":
        lines.append("  API cost: $0 (every call replayed)")
    else:
        total, unpriced = 0.0, set()
        for c in llm_todo:
            model = (c.llm or {}).get("model")
            p, q = _estimate(runs, c, "llm_prompt_tokens"), _estimate(runs, c, "llm_completion_tokens")
            cost = cost_usd(model, p, q) if p is not None and q is not None else None
            if cost is None:
                unpriced.add(str(model))
            else:
                total += cost
        lines.append(f"  API cost: ~${total:.2f} at most (mode {mode}; recorded calls are answered free)"
                     + (f"; unknown for model(s) {', '.join(sorted(unpriced))} (no price in maao/llm/prices.py "
                        "or no finished run to go by)" if unpriced else ""))
    return "\n".join(lines)
