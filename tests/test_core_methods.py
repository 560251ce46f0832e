"""Every registered method end to end through maao.runner.execute: a real MLflow
sqlite store, real MiniLM, and for the LLM methods a real response store
recording from a real (fake) OpenAI-compatible HTTP server, then replaying."""
from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer

from maao.combined import score_templates_as_context
from maao.llm import ReplayMiss, ResponseStore
from maao.methods import Budget, available_methods
from maao.runner import build_problem, execute
from maao.spec import expand, load_spec
from maao.table_views import COMPARE_METRIC, COMPARE_PARAMS
from maao.tracking import Tracker

pytestmark = pytest.mark.slow

METHODS = ["combined", "single_start", "multi_start", "multi_start_perturbed", "llm_only", "zopo"]
LLM_METHODS = ("combined", "llm_only", "zopo")
BUDGET = Budget(rounds=2, steps_per_round=3, final_steps=4)
DATASET = "intent_recognition"
PROPOSALS = ["a voice assistant request to {}", "zzz qqq xxv {}", "a user asking to {}"]


def _config(method, base_url, seed=1, **method_settings):
    (config,) = expand(load_spec("table3"), "mini", [DATASET], [1], [seed], [method], strict=False)
    return replace(config, budget=BUDGET, llm={**config.llm, "base_url": base_url},
                   method_settings={**config.method_settings, **method_settings})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, maao_cache_dir):
    path = tmp_path_factory.mktemp("methods")
    mp = pytest.MonkeyPatch()
    mp.chdir(path)                      # MLflow's default artifact root is ./mlruns
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def tracker(workdir):
    return Tracker(f"sqlite:///{workdir / 'mlflow.db'}")


@pytest.fixture(scope="module")
def ordered_reply(minilm, maao_cache_dir):
    """The scripted LLM reply, worst proposal first and best last (by the loss the
    combined method computes), so that 'best' and 'first' restarts differ."""
    problem = build_problem(_config("combined", "http://unused"))
    _, scored = score_templates_as_context(problem, PROPOSALS)
    ranked = sorted(scored, key=lambda s: -s.loss)
    assert len({round(s.loss, 6) for s in scored}) == 3
    return "\n".join(f"{i}. {s.text}" for i, s in enumerate(ranked, 1)), ranked[-1].text


@pytest.fixture(scope="module")
def runs(workdir, tracker, ordered_reply, minilm):
    """Every method run once; LLM calls recorded into one JSONL."""
    text, _ = ordered_reply
    records = workdir / "responses.jsonl"
    with FakeOpenAIServer(responder=lambda body: text) as server:
        store = ResponseStore(records, mode="record-missing")
        out = {}
        for method in METHODS:
            before = len(server.chat_requests)
            config = _config(method, server.base_url)
            summary = execute(config, tracker, store)
            out[method] = (summary, len(server.chat_requests) - before)
    return out, records


def _artifact(tracker, run_id, name):
    with tempfile.TemporaryDirectory() as dst:
        return json.loads(Path(tracker.client.download_artifacts(run_id, name, dst)).read_text())


def test_registry_lists_every_method():
    assert set(available_methods()) == set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_run_finished_tagged_and_scored(runs, tracker, method):
    summary, calls = runs[0][method]
    assert not summary.skipped
    run = tracker.client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["method"] == method and tags["dataset"] == DATASET
    assert tags["shots"] == "1" and tags["seed"] == "1" and tags["table"] == "table3"
    assert tags["config_hash"] == summary.config.config_hash()
    acc = run.data.metrics["test_accuracy"]
    assert 0 <= acc <= 100 and acc == pytest.approx(summary.metrics["test_accuracy"])
    assert 0 <= run.data.metrics["train_accuracy"] <= 100
    uses_llm = method in LLM_METHODS
    assert calls == (BUDGET.rounds if uses_llm else 0)
    names = {a.path for a in tracker.client.list_artifacts(summary.run_id)}
    assert {"config.json", "final_prompt.json"} <= names
    if uses_llm:
        assert {"queries.json" if method == "zopo" else "rounds.json", "llm_transcript.json"} <= names
        assert run.data.metrics["llm_calls"] == BUDGET.rounds
        # llm_only and zopo count a reply that adds no new template (our server repeats itself)
        assert run.data.metrics["llm_fallbacks"] == (0 if method == "combined" else BUDGET.rounds - 1)
        transcript = _artifact(tracker, summary.run_id, "llm_transcript.json")
        assert [t["position"][1] for t in transcript] == list(range(BUDGET.rounds))
        assert all(t["source"] == "live" for t in transcript)
    else:
        assert "llm_transcript.json" not in names and "llm_calls" not in run.data.metrics
    # artifacts live under the test's directory, not the repository
    assert str(Path.cwd()) in run.info.artifact_uri
    # MLflow's compare page plots the first differing params (sorted) against the
    # first metric a run logged: Method, Seed, Shots and "Test accuracy" (issue 26)
    assert list(run.data.metrics)[0] == "Test accuracy" == COMPARE_METRIC
    assert run.data.metrics["Test accuracy"] == acc
    assert {k: run.data.params[k] for k in COMPARE_PARAMS} == {"Method": method, "Seed": "1", "Shots": "1"}


def test_combined_restarts_from_lowest_loss_proposal(runs, tracker, ordered_reply):
    summary, _ = runs[0]["combined"]
    _, best = ordered_reply
    rounds = _artifact(tracker, summary.run_id, "rounds.json")
    assert [r["round"] for r in rounds] == list(range(BUDGET.rounds))
    assert [r["step"] for r in rounds] == [BUDGET.steps_per_round * (k + 1) for k in range(BUDGET.rounds)]
    for r in rounds:
        assert not r["fallback"]
        props = r["proposals"]
        assert len(props) == 3
        assert r["restart_from"] == min(props, key=lambda p: p["loss"])["text"] == best
        assert props[-1]["text"] == best and props[0]["text"] != best   # 'best', not 'first'
        assert 1 <= len(r["shown"]) <= 5
        assert [s["loss"] for s in r["shown"]] == sorted(s["loss"] for s in r["shown"])


def test_gradient_budget_is_equal(runs, tracker):
    counts = {}
    for method in ("single_start", "multi_start", "multi_start_perturbed", "combined"):
        history = tracker.client.get_metric_history(runs[0][method][0].run_id, "batch_loss")
        counts[method] = sorted(m.step for m in history)
    assert all(c == list(range(1, BUDGET.total_steps + 1)) for c in counts.values()), counts
    for method in ("llm_only", "zopo"):
        assert tracker.client.get_metric_history(runs[0][method][0].run_id, "batch_loss") == []


def test_methods_give_different_prompts(runs):
    loss = {m: runs[0][m][0].metrics["train_loss"] for m in METHODS}
    assert loss["multi_start"] != loss["multi_start_perturbed"]     # the noise reached the prompt
    assert loss["combined"] != loss["single_start"]                 # the LLM restarts did too


def test_rerun_is_skipped(runs, tracker, fake_llm_server):
    records = runs[1]
    before = records.read_bytes()
    store = ResponseStore(records, mode="record-missing")
    for method in ("combined", "single_start"):
        config = _config(method, fake_llm_server.base_url)
        summary = execute(config, tracker, store)
        assert summary.skipped
        assert summary.run_id == runs[0][method][0].run_id
        assert summary.metrics["test_accuracy"] == pytest.approx(runs[0][method][0].metrics["test_accuracy"])
    assert fake_llm_server.chat_requests == []
    assert records.read_bytes() == before


@pytest.mark.parametrize("method", LLM_METHODS)
def test_forced_replay_is_identical(runs, tracker, fake_llm_server, method):
    fake_llm_server.responder = lambda body: "1. something else entirely {}\n2. other {}\n3. more {}"
    store = ResponseStore(runs[1], mode="replay")
    first = runs[0][method][0]
    summary = execute(_config(method, fake_llm_server.base_url), tracker, store, force=True)
    assert not summary.skipped and summary.run_id != first.run_id
    assert summary.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    assert summary.metrics["train_loss"] == first.metrics["train_loss"]
    assert fake_llm_server.chat_requests == []
    transcript = _artifact(tracker, summary.run_id, "llm_transcript.json")
    assert all(t["source"] == "exact" for t in transcript)       # no positional fallback needed
    a = _artifact(tracker, first.run_id, "final_prompt.json")
    b = _artifact(tracker, summary.run_id, "final_prompt.json")
    assert a == b


def test_garbage_reply_falls_back(workdir, tracker, fake_llm_server):
    fake_llm_server.responder = lambda body: "I'm sorry, I can't help with that."
    store = ResponseStore(workdir / "garbage.jsonl", mode="record-missing")
    summary = execute(_config("combined", fake_llm_server.base_url, seed=2), tracker, store)
    run = tracker.client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["llm_fallbacks"] == BUDGET.rounds
    assert len(fake_llm_server.chat_requests) == BUDGET.rounds
    rounds = _artifact(tracker, summary.run_id, "rounds.json")
    for r in rounds:
        assert r["fallback"] and r["proposals"] == []
        assert r["dropped"] and r["dropped"][0]["reason"] == "refusal"
        best = min(r["trajectory"], key=lambda t: (t["loss"], t["text"]))
        assert r["restart_from"] == best["text"]           # fallback: best projected trajectory prompt
    history = tracker.client.get_metric_history(summary.run_id, "batch_loss")
    assert len(history) == BUDGET.total_steps


def test_replay_miss_names_the_deleted_key(runs, tracker, workdir, fake_llm_server):
    lines = runs[1].read_text().splitlines(keepends=True)
    first = runs[0]["combined"][0]
    run_key = first.config.config_hash()
    at = [i for i, line in enumerate(lines) if json.loads(line)["meta"]["position"] == [run_key, 1]]
    assert len(at) == 1
    deleted = json.loads(lines[at[0]])["key"]
    damaged = workdir / "damaged.jsonl"
    damaged.write_text("".join(lines[:at[0]] + lines[at[0] + 1:]))
    store = ResponseStore(damaged, mode="replay")
    with pytest.raises(ReplayMiss, match=deleted):
        execute(_config("combined", fake_llm_server.base_url), tracker, store, force=True)
    assert fake_llm_server.chat_requests == []
    failed = tracker.client.search_runs(
        [tracker.experiment_id(first.config.experiment)],
        filter_string=f"tags.config_hash = '{run_key}' and attributes.status = 'FAILED'")
    assert len(failed) == 1 and "ReplayMiss" in failed[0].data.tags["error"]
    # the finished run is still the one a re-run would skip to
    assert tracker.finished_run(first.config.experiment, run_key) is not None


def test_keep_total_that_cannot_hold_is_a_clear_error(minilm, maao_cache_dir):
    """Table 6's constant budget: N x m beyond the run's total steps must not
    silently train longer than the methods it is compared with."""
    from maao.runner import resolve

    (config,) = expand(load_spec("table3"), "mini", [DATASET], [4], [1], ["combined"])
    problem = build_problem(config)
    fits = resolve(replace(config, budget_overrides={"steps_per_round": 10, "keep_total": True}), problem)
    base = resolve(config, problem)
    assert fits.budget.total_steps == base.budget.total_steps
    with pytest.raises(ValueError, match=r"keep_total: 3 rounds x 100 steps = 300 steps exceed .* budget of 90 steps"):
        resolve(replace(config, budget_overrides={"steps_per_round": 100, "keep_total": True}), problem)


def test_manual_prompt_is_scored_as_the_template_it_shows(minilm, maao_cache_dir):
    """The MP line carried the score of the words before "{}" ("a {} reply." was
    scored as the context "a a a a"); now it is the template's own score."""
    from maao.combined import score_manual_prompt

    problem = build_problem(_config("combined", "http://unused"))
    problem.dataset = replace(problem.dataset, template="a {} request to a voice assistant.")
    manual = score_manual_prompt(problem)
    (loss,), (acc,) = problem.evaluate_templates([problem.dataset.template])
    assert (manual.text, manual.loss, manual.accuracy) == (problem.dataset.template, loss.item(), acc.item())
    _, (prefix_only,) = score_templates_as_context(problem, ["a {}"])
    assert abs(prefix_only.loss - manual.loss) > 1e-3


def test_instruction_names_the_task_as_fig3_for_images():
    from types import SimpleNamespace

    from maao.runner import _task_phrase

    image = SimpleNamespace(dataset=SimpleNamespace(modality="image", task="texture classification"))
    text = SimpleNamespace(dataset=SimpleNamespace(modality="text", task="news topic classification"))
    assert _task_phrase(image) == "image classification"
    assert _task_phrase(text) == "news topic classification"
