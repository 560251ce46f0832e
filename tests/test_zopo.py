"""ZOPO (baselines/zopo.py, baselines/ntk_gp.py): the NTK-GP's posterior and
gradient, the projection, equal cost, determinism, and a run end to end through
maao.runner.execute with a real OpenAI-compatible HTTP server (record, then
replay), real MiniLM and a real MLflow store."""
from __future__ import annotations

import itertools
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fake_openai_server import FakeOpenAIServer

from baselines.ntk_gp import NTKGP, make_mlp
from baselines.zopo import ZOPO, ZOPOSettings, default_evaluations, nearest_unqueried
from maao.methods import Budget, RunContext, RunLog


def _points(n, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    y = torch.rand(n, generator=g, dtype=torch.float64) * 100     # accuracies in percent
    return x, y, g


# ----------------------------------------------------------------- NTK-GP
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_posterior_mean_interpolates_queried_points(activation):
    x, y, g = _points(12)
    gp = NTKGP(make_mlp(16, 32, 2, activation, g), noise=1e-8).fit(x, y)
    assert torch.allclose(gp.mean(x), y, atol=1e-3)
    assert gp.relative_variance(x).max() < 1e-5          # no uncertainty left where we looked
    # With a large noise the mean smooths instead of interpolating: the check above can fail.
    smooth = NTKGP(make_mlp(16, 32, 2, activation, torch.Generator().manual_seed(0)), noise=1.0)
    assert (smooth.fit(x, y).mean(x) - y).abs().max() > 1.0


def test_far_points_keep_their_prior_variance():
    x, y, g = _points(6)
    gp = NTKGP(make_mlp(16, 32, 2, "relu", g)).fit(x, y)
    far = -x          # antipodal unit vectors: nothing queried nearby
    assert gp.relative_variance(far).min() > gp.relative_variance(x).max()


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_mean_gradient_matches_finite_differences(activation):
    x, y, g = _points(10)
    gp = NTKGP(make_mlp(16, 32, 2, activation, g), noise=1e-4).fit(x, y)
    point = torch.nn.functional.normalize(torch.randn(16, generator=g, dtype=torch.float64), dim=0)
    gradient = gp.mean_gradient(point)
    assert gradient.shape == (16,) and gradient.norm() > 0
    eps = 1e-5
    for direction in torch.eye(16, dtype=torch.float64)[:6]:
        fd = (gp.mean((point + eps * direction)[None]) - gp.mean((point - eps * direction)[None])) / (2 * eps)
        assert float(gradient @ direction) == pytest.approx(float(fd), rel=1e-4, abs=1e-6)


def test_same_generator_same_kernel():
    x, _, _ = _points(5)
    a = NTKGP(make_mlp(16, 8, 1, "relu", torch.Generator().manual_seed(3))).features(x)
    b = NTKGP(make_mlp(16, 8, 1, "relu", torch.Generator().manual_seed(3))).features(x)
    c = NTKGP(make_mlp(16, 8, 1, "relu", torch.Generator().manual_seed(4))).features(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


# ------------------------------------------------------------- projection
def test_projection_never_returns_a_queried_candidate():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(20, 8, generator=g, dtype=torch.float64)
    for trial in range(200):
        n_queried = int(torch.randint(0, 20, (1,), generator=g))
        queried = set(torch.randperm(20, generator=g)[:n_queried].tolist())
        # targets: random points, and exactly on a queried candidate (its own nearest point)
        target = emb[next(iter(queried))] if queried and trial % 2 else torch.randn(8, generator=g,
                                                                                     dtype=torch.float64)
        (got,) = nearest_unqueried(target, emb, queried)
        assert got not in queried
        free = [i for i in range(20) if i not in queried]
        assert (emb[got] - target).norm() == min((emb[i] - target).norm() for i in free)
    assert nearest_unqueried(emb[0], emb, set(range(20))) == []
    assert nearest_unqueried(emb[0], emb, {0}, k=3) == nearest_unqueried(emb[0], emb, {0}, k=5)[:3]


# ----------------------------------------------------- the method (real MiniLM)
TEMPLATES = [f"{lead} {{}}{tail}" for lead, tail in itertools.product(
    ("a message about", "a request to", "someone wants to", "the user asks to",
     "please help me", "a short text on", "intent:", "a chat message to"), ("", "."))]


class RecordedLLM:
    """Returns recorded reply texts in order and keeps the messages it was sent
    (the real HTTP path is tested end to end below)."""

    def __init__(self, replies):
        self.replies, self.sent = list(replies), []

    def complete(self, messages, sample_index=0, position=None):
        self.sent.append(messages[0]["content"])
        return SimpleNamespace(text=self.replies[len(self.sent) - 1], key=f"k{len(self.sent)}")


def _replies(rounds, per_call=8):
    return ["\n".join(f"- {t}" for t in TEMPLATES[r * per_call:(r + 1) * per_call]) for r in range(rounds)]


@pytest.fixture(scope="module")
def tiny_problem(minilm, tiny_text_dataset):
    from maao.problem import ProblemSettings, PromptProblem

    return PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())


def _run(problem, seed=1, rounds=2, **settings):
    llm = RecordedLLM(_replies(rounds))
    ctx = RunContext(problem=problem, gradient=None, budget=Budget(rounds=rounds),
                     generator=torch.Generator().manual_seed(seed), log=RunLog(), run_key="run", llm=llm,
                     task="news topic classification")
    return ZOPO(ZOPOSettings(**settings)).run(ctx), ctx.log, llm


@pytest.mark.slow
def test_equal_cost_and_no_repeated_query(tiny_problem):
    result, log, llm = _run(tiny_problem, rounds=2)
    assert len(llm.sent) == 2 == log.counters["domain_llm_calls"]          # LLM-only's N calls
    assert log.counters["domain_size"] == 2 + 16
    assert log.counters["prompt_evaluations"] == default_evaluations(2, 2) == 8
    queried = [t for entry in log.records["queries"] for t in entry.get("scores", {})]
    initial = log.records["queries"][0]["templates"]
    assert len(initial) == 3 and len(set(initial + queried)) == len(initial + queried) == 8
    assert log.counters["zo_steps"] + log.counters["local_explorations"] >= 1
    assert result.template in initial + queried
    # the second call lists the first call's templates to be avoided
    assert "already written" not in llm.sent[0] and all(t in llm.sent[1] for t in TEMPLATES[:8])


@pytest.mark.slow
def test_run_is_deterministic_under_a_seed(tiny_problem):
    first, log1, _ = _run(tiny_problem, seed=5)
    again, log2, _ = _run(tiny_problem, seed=5)
    assert first.template == again.template
    # metrics carry their wall-clock time (RunLog.metric): compare name, value, step
    assert log1.records["queries"] == log2.records["queries"]
    assert [m[:3] for m in log1.metrics] == [m[:3] for m in log2.metrics]


@pytest.mark.slow
def test_budget_larger_than_domain_stops_when_everything_is_queried(tiny_problem):
    _, log, _ = _run(tiny_problem, rounds=1, evaluations=50)
    assert log.counters["prompt_evaluations"] == log.counters["domain_size"] == 2 + 8


def test_settings_are_checked():
    for bad in ({"embedding": "mean"}, {"uncertainty_threshold": 0.0}, {"neighbors": 0},
                {"max_words": 1}, {"evaluations": -1}, {"step_size": 0.0}):
        with pytest.raises(ValueError):
            ZOPOSettings(**bad)


# -------------------------------------------- end to end through the runner
@pytest.mark.slow
def test_end_to_end_record_then_replay(tmp_path, monkeypatch, maao_cache_dir, minilm):
    """Record from a real HTTP server, then replay with the server answering
    something else: same template and metrics, no request reaches the server."""
    from maao.datasets import load_dataset
    from maao.llm import ResponseStore
    from maao.methods import get_method
    from maao.runner import execute
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    assert get_method("zopo") is ZOPO      # registered as a maao.methods entry point
    monkeypatch.chdir(tmp_path)            # MLflow's default artifact root is ./mlruns
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    replies = iter(_replies(2))
    records = tmp_path / "responses.jsonl"
    with FakeOpenAIServer(responder=lambda body: next(replies)) as server:
        (config,) = expand(load_spec("table3"), "mini", ["intent_recognition"], [1], [1], ["zopo"],
                           strict=False)
        config = replace(config, budget=Budget(rounds=2, steps_per_round=3, final_steps=4),
                         llm={**config.llm, "base_url": server.base_url})
        recorded = execute(config, tracker, ResponseStore(records, mode="record-missing"))
        assert len(server.chat_requests) == 2
        server.responder = lambda body: "- something else entirely {}"
        replayed = execute(config, tracker, ResponseStore(records, mode="replay"), force=True)
        assert len(server.chat_requests) == 2
    for summary in (recorded, replayed):
        m = summary.metrics
        assert m["llm_calls"] == m["domain_llm_calls"] == 2
        assert m["prompt_evaluations"] == 8
        assert m["domain_size"] == len({load_dataset("intent_recognition").template, "{}.", *TEMPLATES})
        assert 0 <= m["test_accuracy"] <= 100
    keys = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "prompt_evaluations")
    assert {k: recorded.metrics[k] for k in keys} == {k: replayed.metrics[k] for k in keys}

    def artifact(run_id, name):
        with tempfile.TemporaryDirectory() as dst:
            return json.loads(Path(tracker.client.download_artifacts(run_id, name, dst)).read_text())

    assert artifact(recorded.run_id, "final_prompt.json") == artifact(replayed.run_id, "final_prompt.json")
    assert artifact(recorded.run_id, "queries.json") == artifact(replayed.run_id, "queries.json")
    assert all(t["source"] == "exact" for t in artifact(replayed.run_id, "llm_transcript.json"))


# ------------------------------------------------------------------ reports
def _cells(methods, shift):
    import pandas as pd

    rows = [dict(method=k, dataset=ds, shots=shots, seed=seed, scale="mini",
                 test_accuracy=50 + shift.get(k, 0) + ((seed * 7 + shots + i) % 5) / 10)
            for i, k in enumerate(methods) for ds in ("ds_a", "ds_b") for shots in (1, 4, 16)
            for seed in (1, 2, 3)]
    return pd.DataFrame(rows)


def test_table3_pairs_zopo_with_combined_and_llm_only():
    from reports.method_table import build_table, render_markdown, significance_csv_text
    from reports.table3 import SPEC_WITH_ZOPO

    keys = [k for k, _ in SPEC_WITH_ZOPO.methods]
    res = build_table(_cells(keys, {"combined": 10, "zopo": 5}), SPEC_WITH_ZOPO)
    sig = res.significance.set_index(["row", "baseline"])
    assert ("combined", "zopo") in sig.index and ("zopo", "llm_only") in sig.index and len(sig) == 6
    assert sig.loc[("combined", "zopo"), "mean_diff"] == pytest.approx(5.0, abs=0.5)
    assert sig.loc[("zopo", "llm_only"), "mean_diff"] == pytest.approx(5.0, abs=0.5)
    assert sig.loc[("combined", "zopo"), "marker"] != ""          # 18 pairs, all +5: significant
    md = render_markdown(res)
    assert "ZOPO at equal LLM calls (N calls; 2 + 3N evaluations)" in md     # labelled by its budget
    assert "strongest" not in md
    assert "zopo,llm_only," in significance_csv_text(res)
    paper = res.paper.set_index(["method", "dataset"])["mean"]
    assert paper.loc[("zopo", "EuroSAT")] != paper.loc[("zopo", "EuroSAT")]   # NaN: not published


def test_table3_report_tests_zopo_pairs_where_the_spec_has_the_row():
    """The zopo row is recorded at both scales: the report declares the ZOPO
    pairs there, and a row set without zopo keeps the five-row pairs."""
    from reports.coverage import expected_cells
    from reports.table3 import SPEC, SPEC_WITH_ZOPO, spec_for_rows

    from reports.table3 import SPEC_WITH_ZOPO_BUDGETS

    mini = {cell[0] for cell in expected_cells("table3", "mini")}
    assert "zopo" in mini and spec_for_rows(mini) is SPEC_WITH_ZOPO
    assert spec_for_rows(mini - {"zopo"}) is SPEC
    # the reference-budget row: paper scale only until its mini responses are recorded
    paper = {cell[0] for cell in expected_cells("table3", "paper")}
    assert "zopo_reference_budget" in paper and "zopo_reference_budget" not in mini
    spec = spec_for_rows(paper)
    assert spec is SPEC_WITH_ZOPO_BUDGETS
    assert ("combined", "zopo_reference_budget") in spec.pairs and ("zopo", "llm_only") in spec.pairs
    assert "40 calls; 165 evaluations" in spec.labels["zopo_reference_budget"]   # its cost, stated


def test_spec_gives_zopo_its_settings():
    from maao.spec import expand, load_spec

    (config,) = expand(load_spec("table3"), "paper", ["eurosat"], [4], [1], ["zopo"])
    settings = ZOPO.from_dict(config.method_settings).settings
    assert settings.proposals_per_call == 8 and settings.llm_calls is None and settings.evaluations is None
    assert settings.uncertainty_at == "point"                   # the reference's rule
    (mini,) = expand(load_spec("table3"), "mini", ["bbc_news"], [4], [1], ["zopo"])
    # the default since the power-grid recording of Table 3 (spec v3)
    assert ZOPO.from_dict(mini.method_settings).settings.uncertainty_at == "point"


def test_reference_budget_row_has_zopos_budget():
    """Hu et al.'s budget: a domain of hundreds of candidates, 40 random initial
    queries + 125 iterations = 165 queries (the reference's run_zopo.sh values)."""
    from maao.spec import expand, load_spec

    (config,) = expand(load_spec("table3"), "paper", ["eurosat"], [4], [1], ["zopo_reference_budget"])
    s = ZOPO.from_dict(config.method_settings).settings
    assert (s.llm_calls * s.proposals_per_call, s.evaluations, s.random_initial) == (320, 165, 40)
    assert (s.neighbors, s.uncertainty_patience, s.gp_points, s.tolerance, s.width, s.depth) == (10, 5, 20, 2, 32, 2)
    with pytest.raises(Exception, match="zopo_reference_budget"):
        expand(load_spec("table3"), "mini", ["bbc_news"], [4], [1], ["zopo_reference_budget"])


@pytest.mark.slow
def test_uncertainty_is_measured_where_the_setting_says(tiny_problem):
    """ZOPO's code measures the exact posterior variance at the current point (a
    query): about the noise there, so exploration follows only a zero gradient.
    The rule used before issue 19 measured the unqueried neighbourhood."""
    _, point, _ = _run(tiny_problem, rounds=2)
    _, hood, _ = _run(tiny_problem, rounds=2, uncertainty_at="neighbourhood")
    at_point = [e["uncertainty"] for e in point.records["queries"] if "uncertainty" in e]
    around = [e["uncertainty"] for e in hood.records["queries"] if "uncertainty" in e]
    assert at_point and max(at_point) < 1e-2
    assert around and max(around) > 1e-2
    with pytest.raises(ValueError):
        ZOPOSettings(uncertainty_at="everywhere")
