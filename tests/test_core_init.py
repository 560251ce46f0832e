"""Soft prompt initialisation: random (CoOp) or from text (manual init)."""
import pytest
import torch

from baselines.single_start import SingleStart
from maao.gradient import GradientSettings
from maao.methods import Budget, RunContext, RunLog
from maao.problem import ProblemSettings, PromptProblem


def _run(problem, init_text, steps=0):
    ctx = RunContext(problem, GradientSettings(), Budget(0, 0, steps), torch.Generator().manual_seed(1),
                     RunLog(), "test-run")
    settings = SingleStart.Settings(init_text=init_text)
    return SingleStart(settings).run(ctx).prompt


@pytest.mark.slow
def test_init_from_text_starts_at_its_embedding(minilm, tiny_text_dataset):
    problem = PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())
    start = _run(problem, "a photo of a {}.")
    assert torch.equal(start, problem.embed_text("a photo of a"))
    assert problem.project(start[None]) == ["a photo of a"]
    # A slot before other words: the words around it (docs/decisions.md #5).
    assert problem.project(_run(problem, "a {} reply.")[None]) == ["a reply a a"]


@pytest.mark.slow
def test_random_init_is_coop_std_and_seeded(minilm, tiny_text_dataset):
    problem = PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())
    a, b = _run(problem, None), _run(problem, None)
    assert torch.equal(a, b)
    assert a.shape == (4, minilm.token_dim)
    assert 0.015 < a.std().item() < 0.025


@pytest.mark.slow
def test_figure2_fixed_training_set_and_test_curve(minilm, maao_cache_dir, tmp_path):
    """data_seed fixes the few-shot sample while seed varies the init;
    eval_every logs a test-accuracy curve without changing the run."""
    from dataclasses import replace

    from maao.datasets import few_shot, load_dataset
    from maao.runner import build_problem, execute
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    base = expand(load_spec("figure2"), "mini", ["intent_recognition"], [1], [2], ["random_init"])[0]
    assert base.data_seed == 1 and base.seed == 2
    ds = load_dataset("intent_recognition")
    assert build_problem(base).train.ids == few_shot(ds, 1, 1).ids != few_shot(ds, 1, 2).ids

    tracker = Tracker(f"sqlite:///{tmp_path}/fig2.db")
    quiet = replace(base, eval_every=None, table="t-quiet")
    with_curve = execute(base, tracker)
    without = execute(quiet, tracker)
    assert with_curve.metrics["test_accuracy"] == without.metrics["test_accuracy"]
    history = tracker.client.get_metric_history(with_curve.run_id, "curve_test_accuracy")
    assert [h.step for h in history] == list(range(5, with_curve.config.budget.total_steps + 1, 5))
    assert tracker.client.get_run(with_curve.run_id).data.tags["method"] == "random_init"


def test_a_scale_may_update_method_settings():
    """The mini scale's perturbation is calibrated to MiniLM's token table; the
    paper scale keeps the paper's 0.01; a row's own settings are not touched."""
    from maao.spec import expand, load_spec

    spec = load_spec("table3")
    (mini,) = expand(spec, "mini", ["bbc_news"], [4], [1], ["multi_start_perturbed"])
    (paper,) = expand(spec, "paper", ["eurosat"], [4], [1], ["multi_start_perturbed"])
    assert mini.method_settings == {"perturbation_std": 0.0293}
    assert paper.method_settings == {"perturbation_std": 0.01}
    assert mini.problem.init_std == 0.0585 and paper.problem.init_std == 0.02


@pytest.mark.slow
def test_mini_spec_scales_follow_the_derivation(minilm):
    """The spec's init/perturbation std are what benchmarks.mini_calibration derives."""
    from benchmarks.mini_calibration import derived_scales
    from maao.spec import expand, load_spec

    values = derived_scales(minilm)
    for name in ("table3", "table4", "table5", "table6", "figure2"):
        for config in expand(load_spec(name), "mini", ["bbc_news"], None, [1]):
            assert config.problem.init_std == values["init_std"], name
            if config.method == "multi_start_perturbed":
                assert config.method_settings["perturbation_std"] == values["perturbation_std"]


def test_a_scale_may_list_its_own_method_rows():
    """Table 6: the mini scale ablates m = 5/10/20 (the paper's 100 and 1000
    do not fit a mini run); the paper scale keeps the spec's rows."""
    from maao.spec import expand, load_spec

    spec = load_spec("table6")
    mini = expand(spec, "mini", ["bbc_news"], [4], [1])
    paper = expand(spec, "paper", ["eurosat"], [16], [1])
    assert [(c.name, c.budget_overrides["steps_per_round"]) for c in mini] == [("m5", 5), ("m10", 10), ("m20", 20)]
    assert [c.name for c in paper] == ["m10", "m100", "m1000"]


def test_paper_scale_shots_are_the_papers():
    """Table 3's values are Table 2's averages over shots {1, 4, 8, 16} (not 1-16 in powers of 2)."""
    from maao.spec import load_spec

    for name in ("table3", "table4", "table5", "table6", "table7", "table8"):
        assert load_spec(name).scale("paper")["shots"] == [1, 4, 8, 16], name
