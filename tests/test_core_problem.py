"""PromptProblem: V(text) policy, template contexts, fast vs naive path, batched scoring."""
from __future__ import annotations

import pytest
import torch

from maao.problem import ProblemSettings, PromptProblem, template_context


def _problem(backbone, dataset, **settings):
    # features cached under the session's MAAO_CACHE_DIR (set by the backbone fixtures)
    return PromptProblem(backbone, dataset, dataset.train, ProblemSettings(**settings))


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("n_ctx", [0, -3])
def test_non_positive_n_ctx_rejected(n_ctx):
    with pytest.raises(ValueError, match="n_ctx"):
        ProblemSettings(n_ctx=n_ctx)


def test_unknown_truncate_rejected():
    with pytest.raises(ValueError, match="truncate"):
        ProblemSettings(truncate="middle")


@pytest.mark.parametrize("template, context, prefix", [
    ("a photo of {}.", "a photo of", "a photo of"),
    ("a news article about {}.", "a news article about", "a news article about"),
    ("a photo of a {}, a type of flower.", "a photo of a, a type of flower", "a photo of a"),
    # The class slot is not at the end: the old rule kept only "a" / nothing
    # ("a {} reply." became the context "a a a a").
    ("a {} reply.", "a reply", "a"),
    ("{} texture.", "texture", ""),
    ("  a report on: {}", "a report on", "a report on"),
    ("a short text without a slot.", "a short text without a slot", "a short text without a slot"),
])
def test_template_context(template, context, prefix):
    assert template_context(template) == context
    assert template_context(template, "prefix") == prefix


# --------------------------------------------------------- context_ids policy
@pytest.mark.slow
def test_context_ids_head_tail_and_padding(minilm, tiny_text_dataset):
    tok = minilm.tokenize
    words = "the quick brown fox jumps"
    ids = tok(words)
    assert len(ids) == 5
    a = tok("a")[0]

    head = _problem(minilm, tiny_text_dataset, truncate="head")
    tail = _problem(minilm, tiny_text_dataset, truncate="tail")
    assert head.context_ids(words) == ids[:4]
    assert tail.context_ids(words) == ids[1:]
    # short texts are padded on the right with the pad word, whatever the truncation
    assert head.context_ids("fox") == [tok("fox")[0], a, a, a]
    assert tail.context_ids("fox") == [tok("fox")[0], a, a, a]
    assert head.context_ids("") == [a] * 4
    assert tail.context_ids("") == [a] * 4
    # exactly n_ctx tokens: untouched
    assert head.context_ids("the quick brown fox") == ids[:4] == tail.context_ids("the quick brown fox")

    the = _problem(minilm, tiny_text_dataset, pad_word="the", n_ctx=6)
    assert the.context_ids("quick fox") == tok("quick fox") + [tok("the")[0]] * 4
    emb = the.embed_text("quick fox")
    assert emb.shape == (6, minilm.token_dim)
    assert torch.equal(emb, minilm.token_embeddings[torch.tensor(the.context_ids("quick fox"))])
    assert not emb.requires_grad


@pytest.mark.slow
def test_multi_token_pad_word_rejected(minilm, tiny_text_dataset):
    with pytest.raises(ValueError, match="pad_word"):
        _problem(minilm, tiny_text_dataset, pad_word="photograph of")


# -------------------------------------------------- fast path == naive path
def _fast_vs_naive(backbone, dataset, check_grad):
    fast = _problem(backbone, dataset, fast_path=True)
    naive = _problem(backbone, dataset, fast_path=False)
    g = torch.Generator().manual_seed(0)
    ctxs = torch.stack([fast.init_random(g), fast.embed_text(template_context(dataset.template))])

    # features of the padded sequences equal those of the cut ones
    f_feats = backbone.encode_prompts(ctxs[:1], fast.class_ids)
    n_feats = backbone.encode_prompts(ctxs[:1], fast.class_ids, pad_to=backbone.max_length)
    assert f_feats.shape == n_feats.shape == (1, len(dataset.classnames), f_feats.shape[-1])
    assert torch.allclose(f_feats, n_feats, atol=1e-5), (f_feats - n_feats).abs().max()

    f_loss, f_acc = fast.evaluate(ctxs)
    n_loss, n_acc = naive.evaluate(ctxs)
    assert torch.allclose(f_loss, n_loss, atol=1e-5)
    assert torch.equal(f_acc, n_acc)
    assert not torch.allclose(f_loss[0], f_loss[1])   # two different prompts were compared

    if check_grad:  # the gradients the optimizer follows agree as well
        index = torch.arange(len(fast.train_y))
        grads = []
        for problem in (fast, naive):
            ctx = ctxs[0].clone().requires_grad_(True)
            loss = problem.loss(ctx, index)
            loss.backward()
            grads.append((loss.detach(), ctx.grad))
        assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
        assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6, rtol=1e-3)
        assert grads[0][1].abs().sum() > 0


@pytest.mark.slow
def test_fast_path_equals_naive_minilm(minilm, tiny_text_dataset):
    assert minilm.max_length == 512
    _fast_vs_naive(minilm, tiny_text_dataset, check_grad=False)   # 512-long backward: too slow


@pytest.mark.slow
def test_fast_path_equals_naive_clip(clip_rn50, tiny_image_dataset):
    assert clip_rn50.max_length == 77
    _fast_vs_naive(clip_rn50, tiny_image_dataset, check_grad=True)


# ----------------------------------- a soft prompt on real tokens == hard prompt
@pytest.mark.slow
def test_soft_prompt_on_token_embeddings_equals_hard_prompt_minilm(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset)
    ctx = problem.embed_text("a news article about")[None]
    soft = minilm.encode_prompts(ctx, problem.class_ids)[0]
    hard = minilm.encode_texts([f"a news article about {c}." for c in tiny_text_dataset.classnames])
    assert torch.allclose(soft, hard, atol=1e-5)


@pytest.mark.slow
def test_soft_prompt_on_token_embeddings_equals_hard_prompt_clip(clip_rn50, tiny_image_dataset):
    import open_clip
    import torch.nn.functional as F

    problem = _problem(clip_rn50, tiny_image_dataset)
    ctx = problem.embed_text("a photo of a")[None]
    soft = clip_rn50.encode_prompts(ctx, problem.class_ids)[0]
    texts = [f"a photo of a {c}." for c in tiny_image_dataset.classnames]
    hard = clip_rn50.encode_texts(texts)
    assert torch.allclose(soft, hard, atol=1e-5)
    # and both equal open_clip's own text encoder (77-token padding, EOT pooling)
    tokens = open_clip.get_tokenizer("RN50")(texts)
    with torch.no_grad():
        ref = F.normalize(clip_rn50.model.encode_text(tokens), dim=-1)
    assert torch.allclose(hard, ref, atol=1e-5)


# --------------------------------------------------- batched == one at a time
@pytest.mark.slow
@pytest.mark.parametrize("which", ["minilm", "clip"])
def test_evaluate_batched_equals_single(which, request):
    backbone = request.getfixturevalue("minilm" if which == "minilm" else "clip_rn50")
    dataset = request.getfixturevalue("tiny_text_dataset" if which == "minilm" else "tiny_image_dataset")
    problem = _problem(backbone, dataset)
    g = torch.Generator().manual_seed(3)
    ctxs = torch.stack([problem.init_random(g) for _ in range(3)] +
                       [problem.embed_text("a news article about")])
    losses, accs = problem.evaluate(ctxs)
    assert losses.shape == accs.shape == (4,)
    for i in range(4):
        l1, a1 = problem.evaluate(ctxs[i:i + 1])
        assert torch.allclose(losses[i:i + 1], l1, atol=1e-5)
        assert torch.equal(accs[i:i + 1], a1)
    # the training loss the optimizer uses is the same number
    assert problem.loss(ctxs[3], torch.arange(len(problem.train_y))).item() == \
        pytest.approx(losses[3].item(), abs=1e-5)
    assert ((accs >= 0) & (accs <= 100)).all()
    # distinct prompts give distinct losses (the batch is not one prompt repeated)
    assert len(set(round(x, 6) for x in losses.tolist())) == 4


@pytest.mark.slow
def test_evaluate_test_split_and_templates(minilm, tiny_text_dataset):
    problem = _problem(minilm, tiny_text_dataset)
    loss, acc = problem.evaluate(problem.embed_text("a news article about")[None], "test")
    assert loss.shape == (1,) and 0 <= acc.item() <= 100
    t_loss, t_acc = problem.evaluate_templates(["a news article about {}.", "{}"], "train")
    assert t_loss.shape == (2,) and torch.isfinite(t_loss).all()
    # a real sentence encoder sorts these sentences by topic far above chance (33%)
    assert t_acc[0].item() > 50
    with pytest.raises(ValueError, match="split"):
        problem.evaluate(problem.embed_text("a")[None], "val")
