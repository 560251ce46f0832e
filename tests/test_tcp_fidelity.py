"""TCP against its reference code (issue 19, items 1-4): the per-dataset
templates, the manual-prompt line scored as the learner scores, the per-dataset
epochs and the RN50 rows of Table 2 at the paper scale."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from maao.learners.tcp_templates import TCP_TEMPLATES, reference_name, tcp_templates

# Copied verbatim from htyao89/Textual-based_Class-aware_prompt_tuning,
# trainers/tcp.py: CUSTOM_TEMPLATES_ori (the hand-crafted prompt read by the
# meta-net and the KgCoOp term) and CUSTOM_TEMPLATES (the learnable prompt).
REFERENCE_ORI = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of an aircraft {}.",
    "DescribableTextures": "a photo of a {}, a type of texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of a {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
REFERENCE = {
    "OxfordPets": "X X X X {}, a type of pet.",
    "OxfordFlowers": "X X X X {}, a type of flower.",
    "FGVCAircraft": "X X X X {}, a type of aircraft.",
    "DescribableTextures": "X X X X {} texture.",
    "EuroSAT": "X X X X {}.",
    "StanfordCars": "X X X X {}, a type of car",
    "Food101": "X X X X {}, a type of food.",
    "SUN397": "X X X X {}.",
    "Caltech101": "X X X X {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
PAPER_DATASETS = ["eurosat", "dtd", "caltech101", "oxford_flowers", "fgvc_aircraft", "food101",
                  "stanford_cars", "oxford_pets", "ucf101", "sun397"]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_templates_are_the_references_for_every_dataset(name):
    assert TCP_TEMPLATES[name].handcrafted == REFERENCE_ORI[name]
    assert TCP_TEMPLATES[name].context == REFERENCE[name]


def test_every_paper_dataset_has_its_reference_templates():
    assert set(TCP_TEMPLATES) == set(REFERENCE)
    for dataset in PAPER_DATASETS:
        assert tcp_templates(dataset) is TCP_TEMPLATES[reference_name(dataset)], dataset
    assert tcp_templates("bbc_news") is None and tcp_templates("intent_recognition") is None


def test_the_context_replaces_the_first_four_words():
    """The four context tokens replace "X X X X", or "a photo of a" for UCF101
    and the ImageNets; the rest is the reference's text, period or not."""
    suffix = {name: t.suffix for name, t in TCP_TEMPLATES.items()}
    assert suffix["UCF101"] == "person doing {}." and suffix["ImageNet"] == "{}."
    assert suffix["StanfordCars"] == "{}, a type of car" and suffix["DescribableTextures"] == "{} texture."
    assert suffix["OxfordPets"] == "{}, a type of pet."


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["fgvc_aircraft", "ucf101", "stanford_cars", "dtd"])
def test_learner_reads_the_reference_text_of_its_dataset(minilm, tiny_text_dataset, dataset):
    """Hand-crafted features and the text after the context come from the
    reference's tables (before: CoOp's zero-shot template for both)."""
    import torch

    from maao.datasets.coop import SPECS
    from maao.learners import TCPLearner, learner_settings

    names = tiny_text_dataset.classnames
    ref = tcp_templates(dataset)
    coop_template = SPECS[dataset].template
    learner = TCPLearner(minilm, names, coop_template, learner_settings({"kind": "tcp"}), 4,
                         dataset_name=dataset)
    assert learner.class_ids == [minilm.tokenize(ref.suffix.replace("{}", n)) for n in names]
    want = minilm.encode_texts([ref.handcrafted.replace("{}", n) for n in names])
    assert torch.allclose(learner.handcrafted, want)
    old = TCPLearner(minilm, names, coop_template,
                     learner_settings({"kind": "tcp", "templates": "dataset"}), 4, dataset_name=dataset)
    assert old.handcrafted_template == coop_template
    assert (old.handcrafted_template, old.class_ids) != (ref.handcrafted, learner.class_ids)


def test_tcp_paper_recipe_trains_sun397_and_imagenet_25_epochs():
    from maao.gradient import steps_per_epoch
    from maao.presets import get_recipe

    recipe = get_recipe("tcp-paper")
    g = recipe.gradient
    per_epoch = steps_per_epoch(397 * 16, g.batch_size, g.drop_last)
    for shots in (1, 4, 8, 16):
        assert recipe.for_dataset("sun397").final_steps(shots, 397 * 16, g) == 25 * per_epoch
        assert recipe.for_dataset("imagenet").epochs_by_shots[shots] == 25
        assert recipe.for_dataset("eurosat").epochs_by_shots[shots] == 50
    assert get_recipe("tcp-mini").for_dataset("sun397").epochs_by_shots[16] == 50


def test_table2_has_tcp_on_rn50_and_vit_b16_at_the_paper_scale():
    from maao.spec import expand, load_spec

    spec = load_spec("table2")
    got = {(c.name, c.backbone, c.recipe) for c in expand(spec, "paper", ["sun397"], [16], [1])}
    assert {("tcp", "clip-vit-b-16", "tcp-paper"), ("tcp_llm", "clip-vit-b-16", "tcp-paper"),
            ("tcp_rn50", "clip-rn50", "tcp-paper"), ("tcp_llm_rn50", "clip-rn50", "tcp-paper"),
            ("coop", "clip-rn50", "coop-paper")} <= got
    paper = {c.name: c for c in expand(spec, "paper", ["eurosat"], [1], [1])}
    assert paper["tcp_llm_rn50"].backbone_options == {"pretrained": "openai"}
    assert "manual_prompt_scoring" not in paper["tcp_llm"].method_settings      # the default
    mini = {c.name: c for c in expand(spec, "mini", ["bbc_news"], [1], [1])}
    # the default since the power-grid recording (the pin of the old recording is gone)
    assert "manual_prompt_scoring" not in mini["tcp_llm"].method_settings


# ------------------------------------------------------------- the MP line
MP_REPLY = "1. a request to {}\n2. a voice assistant request to {}\n3. a user asking to {}"


def _combined_tcp_round(base_url, scoring, store_path):
    """One round of the combined optimizer on TCP (mini), no steps after it,
    so the meta-net at the end is the one the round's lines were scored with."""
    import torch

    from maao.combined import Combined
    from maao.contract import Budget, RunContext, RunLog
    from maao.llm import LLMClient, LLMSettings, ResponseStore
    from maao.runner import _model_phrase, _task_phrase, build_problem, resolve
    from maao.spec import expand, load_spec

    (config,) = expand(load_spec("table2"), "mini", ["intent_recognition"], [1], [1], ["tcp_llm"])
    config = replace(config, budget=Budget(rounds=1, steps_per_round=5, final_steps=0),
                     llm={**config.llm, "base_url": base_url},
                     method_settings={**config.method_settings, "manual_prompt_scoring": scoring})
    problem = build_problem(config)
    config = resolve(config, problem)
    method = Combined.from_dict(config.method_settings)
    llm = LLMClient(LLMSettings(**config.llm), ResponseStore(store_path, mode="record-missing"),
                    run_seed=config.seed)
    log = RunLog()
    ctx = RunContext(problem, config.gradient, config.budget, torch.Generator().manual_seed(1), log,
                     config.config_hash(), llm, _model_phrase(problem), _task_phrase(problem))
    method.run(ctx)
    return problem, log.records["rounds"][0], llm.transcript[0]


def _mp_line_loss(transcript, template) -> str:
    content = transcript["messages"][-1]["content"] if "messages" in transcript else str(transcript)
    match = re.search(rf"Templates: {re.escape(template)}\nLoss: ([0-9.]+)", content)
    assert match, content
    return match.group(1)


@pytest.mark.slow
def test_mp_line_of_a_tcp_run_is_the_learners_loss_for_the_template(tmp_path, maao_cache_dir):
    """Every line shown to the LLM is scored by the same model: the MP line of
    a TCP run through the trained meta-net, as the trajectory prompts and the
    proposals (before: zero-shot, without it)."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(responder=lambda body: MP_REPLY) as server:
        problem, entry, call = _combined_tcp_round(server.base_url, "learner", tmp_path / "r.jsonl")
        template = problem.dataset.template
        (loss,), (acc,) = problem.score_templates_as_learner([template])
        assert entry["manual"] == {"text": template, "loss": loss.item(), "accuracy": acc.item()}
        shown = _mp_line_loss(server.chat_requests[-1]["body"], template)
        assert shown == f"{loss.item():.2f}"
        # it is the score a restart from the template gets (an LLM proposal's)
        (as_context,), _ = problem.evaluate(problem.embed_template(template)[None])
        assert as_context.item() == loss.item()
        # and not the zero-shot score shown before
        (zero_shot,), _ = problem.evaluate_templates([template])
        assert shown != f"{zero_shot.item():.2f}"

        old_problem, old_entry, _ = _combined_tcp_round(server.base_url, "before_training",
                                                        tmp_path / "r.jsonl")
        (zero_shot,), _ = old_problem.evaluate_templates([template])
        assert old_entry["manual"]["loss"] == zero_shot.item()
        assert _mp_line_loss(server.chat_requests[-1]["body"], template) == f"{zero_shot.item():.2f}"


@pytest.mark.slow
def test_mp_line_of_a_coop_run_is_unchanged(minilm, tiny_text_dataset):
    """CoOp has no trained part besides the context: its scoring of a template is
    the template's own text (decision 19), so both rules give the same score."""
    from maao.combined import score_manual_prompt
    from maao.problem import ProblemSettings, PromptProblem

    problem = PromptProblem(minilm, tiny_text_dataset, tiny_text_dataset.train, ProblemSettings())
    assert score_manual_prompt(problem, as_learner=True) == score_manual_prompt(problem)
