"""Table 1's language-model prompt learner (maao.learners.lm, maao.lm_problem).

Runs on a tiny randomly initialised RoBERTa (the paper-scale code path on a
CPU) with generated examples, and on the packaged MiniLM where the real
vocabulary matters (text re-initialisation, the shipped mini tasks).
"""
from __future__ import annotations

import json
import re

import pytest
import torch

from lm_generated import dataset

from maao.backbones.lm_encoder import FrozenLMEncoder
from maao.datasets.lm_tasks import (CLASSIFICATION, MULTIPLE_CHOICE, SOURCES, load_bigbench_lm,
                                    make_split, read_rows, split_file, train_subset)
from maao.gradient import GradientDescent, GradientSettings
from maao.learners.lm import LMBatch
from maao.lm_problem import LMPromptProblem
from maao.problem import ProblemSettings

@pytest.fixture(scope="module")
def roberta():
    return FrozenLMEncoder(source="random-roberta", init_seed=0)


@pytest.fixture(scope="module")
def minilm_lm():
    return FrozenLMEncoder(source="minilm")


def problem_on(backbone, kind=CLASSIFICATION, **learner) -> LMPromptProblem:
    data = dataset(kind)
    return LMPromptProblem(backbone, data, data.train, ProblemSettings(n_ctx=8, init_std=1.0),
                           learner={"kind": "lm", **learner})


def started(problem, seed=0) -> GradientDescent:
    settings = GradientSettings(optimizer="adamw", lr=1e-2, weight_decay=0.0, batch_size=4,
                                warmup_epochs=0, schedule="constant", grad_clip=1.0, drop_last=False)
    generator = torch.Generator().manual_seed(seed)
    gd = GradientDescent(problem, settings, 20, generator)
    gd.start(problem.init_random(generator))
    return gd


def test_only_the_soft_prompt_and_head_receive_gradients(roberta):
    problem = problem_on(roberta)
    gd = started(problem)
    encoder = {k: v.clone() for k, v in roberta.model.state_dict().items()}
    loss = problem.loss(gd.ctx, torch.arange(4))
    loss.backward()
    assert gd.ctx.grad is not None and gd.ctx.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in problem.learner.head.parameters())
    # The encoder is frozen: no parameter asks for or receives a gradient...
    assert all(not p.requires_grad and p.grad is None for p in roberta.model.parameters())
    # ... and the optimizer holds exactly the prompt and the head.
    held = {id(p) for group in gd.optimizer.param_groups for p in group["params"]}
    trainable = {id(gd.ctx), *(id(p) for p in problem.learner.head.parameters())}
    assert held == trainable == {id(p) for p in problem.learner.parameters()}
    head_before = problem.learner.extra_state()
    ctx_before = gd.ctx.detach().clone()
    gd.run(3)
    assert all(torch.equal(v, roberta.model.state_dict()[k]) for k, v in encoder.items())
    assert not torch.equal(gd.ctx.detach(), ctx_before)
    assert not torch.equal(problem.learner.head.weight, head_before["weight"])


def test_the_random_roberta_path_trains_a_step_on_cpu(roberta):
    problem = problem_on(roberta)
    gd = started(problem)
    before, _ = problem.evaluate(gd.ctx.detach()[None])
    gd.run(6)
    after, acc = problem.evaluate(gd.ctx.detach()[None])
    assert torch.isfinite(after).all() and 0.0 <= acc.item() <= 100.0
    assert after.item() != before.item()


def test_copa_head_scores_each_choice(roberta):
    problem = problem_on(roberta, kind=MULTIPLE_CHOICE)
    learner = problem.learner
    assert learner.head.out_features == 1                  # one logit per choice, not per label
    gd = started(problem)
    encoded, _ = problem.split("train")
    pad = roberta.tokenizer.pad_token_id
    with torch.no_grad():
        logits = learner.logits(gd.ctx, LMBatch.collate(encoded[:3], pad))
        assert logits.shape == (3, 2)
        for b in range(3):
            for c in range(2):   # each choice scored alone gives the same logit
                alone = learner.logits(gd.ctx, LMBatch.collate([[encoded[b][c]]], pad))
                assert torch.allclose(alone[0, 0], logits[b, c], atol=1e-5)
        swapped = learner.logits(gd.ctx, LMBatch.collate([ex[::-1] for ex in encoded[:3]], pad))
        assert torch.allclose(swapped, logits.flip(-1), atol=1e-5)


def test_text_reinitialisation_writes_the_tokenizers_embeddings(minilm_lm):
    # The text's own tokens (spec table1 v1, recorded); the reference's rule
    # with the special tokens: tests/test_lm_reference_init.py.
    problem = problem_on(minilm_lm, text_special_tokens=False)
    gd = started(problem)
    text = "Which sentence makes more sense"
    ids = minilm_lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    pad = minilm_lm.tokenizer("a", add_special_tokens=False)["input_ids"]
    assert len(ids) < 8 and len(pad) == 1
    expected = minilm_lm.model.embeddings.word_embeddings.weight[ids + pad * (8 - len(ids))]
    gd.start(problem.embed_template(f"{text}."))            # an LLM proposal restarting the run
    assert torch.equal(problem.learner.ctx.detach(), expected.detach())
    assert problem.project(problem.learner.ctx.detach()[None])[0] == \
        minilm_lm.decode(ids + pad * (8 - len(ids)))


def test_a_restart_keeps_the_head_unless_asked(roberta):
    for reset in (False, True):
        problem = problem_on(roberta, reset_head_on_restart=reset)
        gd = started(problem)
        gd.run(2)
        trained = problem.learner.extra_state()
        gd.start(problem.embed_text("the cat sat"))
        same = torch.equal(problem.learner.head.weight, trained["weight"])
        assert same is (not reset)


def test_hard_template_is_scored_as_its_tokens_in_the_prompts_place(roberta):
    problem = problem_on(roberta)
    started(problem)
    template = problem.dataset.template
    assert torch.equal(problem.evaluate_templates([template])[0],
                       problem.evaluate(problem.embed_template(template)[None])[0])


def test_best_dev_selection_reports_the_best_dev_epoch(roberta):
    problem = problem_on(roberta, model_selection="best_dev")
    gd = started(problem)
    gd.run(12)                                             # 4 epochs of 3 batches
    last = gd.result()
    chosen = problem.select_result(last)
    problem.learner.load_extra_state(chosen.learner_state)
    best = problem.evaluate(chosen.prompt[None], "val")[1].item()
    problem.learner.load_extra_state(last.learner_state)
    assert best >= problem.evaluate(last.prompt[None], "val")[1].item()
    assert problem_on(roberta).select_result(last) is last   # "last" reports the last state


def test_wrong_learner_and_settings_fail_with_one_line(roberta):
    from maao.learners import build_learner
    from maao.learners.settings import learner_settings

    data = dataset(CLASSIFICATION)
    for learner in ({}, {"kind": "coop"}):   # a class-name learner on an LM task
        with pytest.raises(ValueError, match=re.escape("need learner: {kind: lm}")):
            LMPromptProblem(roberta, data, data.train, ProblemSettings(n_ctx=8), learner=learner)
    with pytest.raises(ValueError, match="model_selection must be"):
        learner_settings({"kind": "lm", "model_selection": "best"})
    with pytest.raises(ValueError, match="needs a language-model task"):
        build_learner({"kind": "lm"}, None, ["a"], "{}", 4)


# -- the shipped mini tasks ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_shipped_splits_follow_their_rule(name):
    rows = list(read_rows(name))
    stored = json.loads(split_file(name).read_text())
    assert stored == make_split(name, rows)
    data = load_bigbench_lm(name)
    assert len(data.train) + len(data.val) + len(data.test) == len(rows)
    if name == "winowhy":   # a Winograd sentence never straddles two splits
        sentences = [{ex["text_a"] for ex in getattr(data, p).examples} for p in ("train", "val", "test")]
        assert not (sentences[0] & sentences[1] or sentences[0] & sentences[2] or sentences[1] & sentences[2])


def test_train_subset_is_per_class_and_seeded():
    data = load_bigbench_lm("winowhy")
    a, b = train_subset(data, 8, 1), train_subset(data, 8, 2)
    assert sorted(a.labels) == [0] * 8 + [1] * 8 and a.ids != b.ids
    assert train_subset(data, 8, 1).ids == a.ids


def test_a_spec_row_without_the_lm_learner_on_an_lm_task_is_one_line_exit_2(tmp_path, capsys):
    from maao.cli import main

    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nversion: 1\nmethods:\n  - {name: gradient, method: single_start}\n"
                    "scales:\n  mini: {backbone: minilm-lm, recipe: pt-mini, datasets: [winowhy], "
                    "shots: [32], seeds: [1]}\n")
    code = main(["sweep", str(spec), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(spec) in err and "method 'gradient' learner" in err and "needs {kind: lm}" in err
