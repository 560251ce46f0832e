"""Prompt learners: CoOp and TCP behind one interface, trained by one optimizer."""
from __future__ import annotations

import pytest
import torch

from maao.backbones.base import Injection
from maao.gradient import GradientDescent, GradientSettings
from maao.learners import CoOpLearner, TCPLearner, learner_settings
from maao.learners.tcp import class_text, default_inject_layer
from maao.problem import ProblemSettings, PromptProblem


def _problem(backbone, dataset, learner=None, **settings):
    return PromptProblem(backbone, dataset, dataset.train, ProblemSettings(**settings),
                         learner=learner)


def _block_inputs(backbone, ctx, class_ids, inject=None):
    """The hidden states every text block ran on during one encode_prompts
    (a forward hook sees the inputs after any pre-hook, the injection's included)."""
    seen = []
    hooks = [b.register_forward_hook(lambda m, a, out: seen.append(a[0].detach().clone()))
             for b in backbone.text_blocks]
    try:
        with torch.no_grad():
            feats = backbone.encode_prompts(ctx, class_ids, inject=inject)
    finally:
        for h in hooks:
            h.remove()
    return seen, feats


# ----------------------------------------------------------------- settings
def test_learner_settings_by_kind():
    assert learner_settings({}).kind == "coop"
    assert learner_settings({"kind": "tcp", "kg_weight": 2.0}).kg_weight == 2.0
    with pytest.raises(ValueError, match="unknown learner kind 'tcpp'"):
        learner_settings({"kind": "tcpp"})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['kg'\] for learner 'tcp'"):
        learner_settings({"kind": "tcp", "kg": 1.0})


def test_class_text_keeps_the_template_after_the_slot():
    assert class_text("a photo of a {}, a type of pet.", "Abyssinian") == "Abyssinian, a type of pet."
    assert class_text("a photo of a {}.", "cat") == "cat."
    assert class_text("a news article about {}", "sport") == "sport."
    assert class_text("no slot here", "cat") == "cat."


def test_default_injection_layer_is_two_thirds_of_the_depth():
    assert default_inject_layer(12) == 8          # the reference: index 8 of CLIP's 12 blocks
    assert default_inject_layer(6) == 4           # MiniLM


# ------------------------------------------------------------- injection
@pytest.mark.slow
@pytest.mark.parametrize("backbone_name", ["minilm", "clip_rn50"])
def test_injection_changes_features_only_from_the_chosen_block_on(backbone_name, request):
    backbone = request.getfixturevalue(backbone_name)
    n_blocks = len(backbone.text_blocks)
    layer = default_inject_layer(n_blocks)
    class_ids = [backbone.tokenize(f"{w}.") for w in ("cat", "dog")]
    g = torch.Generator().manual_seed(0)
    ctx = torch.randn(2, 4, backbone.token_dim, generator=g) * 0.02
    tokens = torch.randn(2, 4, backbone.token_dim, generator=g)
    plain, plain_feats = _block_inputs(backbone, ctx, class_ids)
    inj, inj_feats = _block_inputs(backbone, ctx, class_ids, Injection(layer, tokens))
    assert len(plain) == len(inj) == n_blocks
    for i in range(layer):
        assert torch.equal(plain[i], inj[i]), f"block {i} input changed before block {layer}"
    for i in range(layer, n_blocks):
        assert not torch.allclose(plain[i], inj[i]), f"block {i} input unchanged"
    # entering block `layer`, the context positions hold exactly the class's tokens
    batch_first = getattr(getattr(backbone.model, "transformer", None), "batch_first", True)
    h = inj[layer] if batch_first else inj[layer].transpose(0, 1)
    h = h.reshape(2, 2, *h.shape[1:])                  # [P, C, L, d]
    assert torch.allclose(h[1, 0, 1:5], tokens[0].to(h.dtype)) and torch.allclose(h[0, 1, 1:5], tokens[1])
    assert not torch.allclose(plain_feats, inj_feats)
    # and without an injection, the hook-free path is untouched
    _, again = _block_inputs(backbone, ctx, class_ids)
    assert torch.equal(again, plain_feats)


@pytest.mark.slow
def test_injection_outside_the_tower_is_an_error(minilm):
    with pytest.raises(ValueError, match="outside the text tower's 6 blocks"):
        minilm.encode_prompts(torch.zeros(1, 4, minilm.token_dim), [[1000]],
                              inject=Injection(6, torch.zeros(1, 4, minilm.token_dim)))


# ------------------------------------------------------------------ TCP
@pytest.mark.slow
def test_kgcoop_term_is_zero_at_the_handcrafted_features(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset, learner={"kind": "tcp"})
    learner = problem.learner
    assert isinstance(learner, TCPLearner)
    assert learner.penalty(learner.handcrafted).abs().item() < 1e-6
    other = torch.nn.functional.normalize(torch.randn_like(learner.handcrafted), dim=-1)
    assert learner.penalty(other).item() > 1.0   # 8 * (1 - ~0 cosine)


@pytest.mark.slow
def test_tcp_loss_is_cross_entropy_plus_the_kgcoop_term(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset, learner={"kind": "tcp"})
    learner = problem.learner
    learner.reset_extras(torch.Generator().manual_seed(0))
    ctx = problem.init_random(torch.Generator().manual_seed(1))
    x, y = problem.train_x, problem.train_y
    with torch.no_grad():
        text = learner.class_features(ctx[None])
        ce = torch.nn.functional.cross_entropy(learner._logits(text, x)[0], y)
        kg = 8.0 * (1 - (text[0] * learner.handcrafted).sum(-1).mean())
        assert torch.allclose(learner.loss(ctx, x, y), ce + kg)


def _gd(problem, steps=4, reset_optimizer=True):
    settings = GradientSettings(optimizer="adam", lr=0.01, batch_size=4, warmup_epochs=0,
                                adam_eps=1e-3, reset_optimizer_on_restart=reset_optimizer)
    gd = GradientDescent(problem, settings, 20, torch.Generator().manual_seed(0))
    gd.start(problem.init_random(torch.Generator().manual_seed(1)))
    gd.run(steps)
    return gd


def _meta(learner):
    return {k: v.detach().clone() for k, v in learner.meta_net.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize("reset", [False, True])
def test_restart_replaces_the_context_and_keeps_or_resets_the_meta_net(minilm, tiny_text_dataset,
                                                                       reset):
    problem = _problem(minilm, tiny_text_dataset,
                       learner={"kind": "tcp", "reset_meta_net_on_restart": reset})
    gd = _gd(problem)
    trained = _meta(problem.learner)
    fresh = TCPLearner(minilm, problem.classnames, tiny_text_dataset.template,
                       learner_settings({"kind": "tcp"}), 4)
    fresh.reset_extras(torch.Generator().manual_seed(123))
    restart = problem.embed_text("a news article about")
    gd.start(restart)
    assert torch.equal(gd.ctx.detach(), restart) and gd.ctx is problem.learner.ctx
    after = _meta(problem.learner)
    same = all(torch.equal(after[k], trained[k]) for k in after)
    assert same is not reset
    # the optimizer trains the new context and the (kept or re-drawn) meta-net
    params = gd.optimizer.param_groups[0]["params"]
    assert params[0] is gd.ctx and len(params) == 1 + len(list(problem.learner.meta_net.parameters()))


@pytest.mark.slow
def test_keeping_moments_on_restart_keeps_the_meta_nets(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset, learner={"kind": "tcp"})
    gd = _gd(problem, reset_optimizer=False)
    w = problem.learner.meta_net[0].weight
    before = gd.optimizer.state[w]["exp_avg"].clone()
    gd.start(problem.embed_text("a news article about"))
    assert gd.optimizer.state[w]["step"].item() == 4 and torch.equal(gd.optimizer.state[w]["exp_avg"], before)
    assert gd.optimizer.param_groups[0]["params"][0] is gd.ctx


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["coop", "tcp"])
def test_backbone_stays_frozen_and_only_the_learner_gets_gradients(minilm, tiny_text_dataset, kind):
    problem = _problem(minilm, tiny_text_dataset, learner={"kind": kind})
    learner = problem.learner
    learner.reset_extras(torch.Generator().manual_seed(0))
    ctx = learner.set_context(problem.init_random(torch.Generator().manual_seed(1)))
    problem.loss(ctx, torch.arange(len(problem.train_y))).backward()
    assert all(p.grad is None and not p.requires_grad for p in minilm.model.parameters())
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    extras = learner.extra_parameters()
    assert len(extras) == (0 if kind == "coop" else 4)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in extras)
    assert (learner.extra_state() is None) == (kind == "coop")


@pytest.mark.slow
def test_coop_learner_is_the_problem_default(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset)
    assert isinstance(problem.learner, CoOpLearner)
    assert problem.class_ids == [minilm.tokenize(f"{c}.") for c in problem.classnames]


@pytest.mark.slow
def test_tcp_on_clip_trains_a_step_with_the_reference_layer(clip_rn50, tiny_image_dataset):
    problem = _problem(clip_rn50, tiny_image_dataset, learner={"kind": "tcp"})
    assert problem.learner.inject_layer == 8 and len(clip_rn50.text_blocks) == 12
    gd = _gd(problem, steps=2)
    losses, accs = problem.evaluate(torch.stack([gd.ctx.detach(), problem.embed_text("a photo of")]))
    assert torch.isfinite(losses).all() and losses.shape == (2,)


@pytest.mark.slow
def test_trained_meta_net_travels_with_the_result(minilm, tiny_text_dataset):
    """The final evaluation uses the meta-net the method trained (MethodResult)."""
    from maao.runner import evaluate_result

    problem = _problem(minilm, tiny_text_dataset, learner={"kind": "tcp"})
    gd = _gd(problem)
    result = gd.result()
    expected = evaluate_result(problem, result)
    problem.learner.reset_extras(torch.Generator().manual_seed(99))   # clobber it
    assert evaluate_result(problem, result) == expected


def test_specs_and_learner_settings_load_without_torch():
    """reports/ reads specs (and through them the learner settings) without torch."""
    import subprocess
    import sys

    code = ("import sys; from maao.spec import load_spec; load_spec('table2'); "
            "import maao.learners; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
