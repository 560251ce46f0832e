"""V^-1 (maao.projection.nearest_tokens and PromptProblem.project) on real vocabularies."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from maao.problem import ProblemSettings, PromptProblem
from maao.projection import NearestTokens, nearest_tokens


@pytest.fixture
def vocab_and_vectors():
    g = torch.Generator().manual_seed(0)
    vocab = torch.randn(50, 8, generator=g)
    vectors = torch.randn(3, 4, 8, generator=g)   # [P, n_ctx, d]
    return vocab, vectors


def test_l2_matches_brute_force(vocab_and_vectors):
    vocab, vectors = vocab_and_vectors
    got = nearest_tokens(vectors, vocab, "l2")
    want = torch.cdist(vectors.reshape(-1, 8), vocab).argmin(-1).reshape(3, 4)
    assert got.shape == (3, 4)
    assert torch.equal(got, want)


def test_cosine_picks_highest_similarity(vocab_and_vectors):
    vocab, vectors = vocab_and_vectors
    got = nearest_tokens(vectors, vocab, "cosine")
    sim = F.cosine_similarity(vectors.reshape(-1, 1, 8), vocab[None], dim=-1)  # [n, V]
    assert torch.equal(got, sim.argmax(-1).reshape(3, 4))
    # the reference code's bug picked the *least* similar token: make sure we differ from it
    assert not torch.equal(got, sim.argmin(-1).reshape(3, 4))
    picked = sim.gather(1, got.reshape(-1, 1)).squeeze(1)
    assert torch.all(picked >= sim.max(-1).values - 1e-6)


def test_cosine_and_l2_differ_on_scaled_vocab():
    # A long vector in the same direction is cosine-nearest but not L2-nearest.
    vocab = torch.tensor([[10.0, 0.0], [0.9, 0.5]])
    v = torch.tensor([[1.0, 0.1]])
    assert nearest_tokens(v, vocab, "cosine").item() == 0
    assert nearest_tokens(v, vocab, "l2").item() == 1


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_allowed_mask_is_respected(vocab_and_vectors, metric):
    vocab, vectors = vocab_and_vectors
    # query exactly at vocabulary rows: unrestricted they map to themselves
    rows = torch.tensor([3, 7, 11, 20])
    assert torch.equal(nearest_tokens(vocab[rows], vocab, metric), rows)
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    allowed[rows] = False
    got = nearest_tokens(vocab[rows], vocab, metric, allowed)
    assert allowed[got].all()
    flat = vocab[rows]
    if metric == "l2":
        dist = torch.cdist(flat, vocab)
        dist[:, ~allowed] = float("inf")
        want = dist.argmin(-1)
    else:
        sim = F.normalize(flat, dim=-1) @ F.normalize(vocab, dim=-1).T
        sim[:, ~allowed] = float("-inf")
        want = sim.argmax(-1)
    assert torch.equal(got, want)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_prepared_vocabulary_picks_what_the_one_off_form_picks(vocab_and_vectors, metric):
    # A problem keeps one NearestTokens (the vocabulary's norms computed once)
    # and calls it every 10 steps: call after call, the same tokens as the
    # formula written out on each call (how every call worked before).
    vocab, vectors = vocab_and_vectors
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    allowed[::3] = False
    prepared = NearestTokens(vocab, metric, allowed)
    g = torch.Generator().manual_seed(1)
    for batch in (vectors, torch.randn(7, 4, 8, generator=g), vocab[None, :5]):
        flat = batch.reshape(-1, 8)
        if metric == "l2":
            score = -(vocab.pow(2).sum(-1)[None, :] - 2.0 * flat @ vocab.T)
        else:
            score = F.normalize(flat, dim=-1) @ F.normalize(vocab, dim=-1).T
        want = score.masked_fill(~allowed[None, :], float("-inf")).argmax(-1).reshape(batch.shape[:-1])
        assert torch.equal(prepared(batch), want)
        assert torch.equal(nearest_tokens(batch, vocab, metric, allowed), want)


def test_unknown_metric_rejected(vocab_and_vectors):
    vocab, vectors = vocab_and_vectors
    with pytest.raises(ValueError, match="dot"):
        nearest_tokens(vectors, vocab, "dot")
    with pytest.raises(ValueError, match="dot"):
        NearestTokens(vocab, "dot")


# ------------------------------------------------------------ real backbones
def _problem(backbone, dataset, tmp_path, **settings):
    # features go to the session's MAAO_CACHE_DIR (the backbone fixtures set it),
    # so each dataset is encoded once per session
    return PromptProblem(backbone, dataset, dataset.train, ProblemSettings(**settings))


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("text", ["a news article about", "a photo of the", "report on the game"])
def test_minilm_round_trip(minilm, tiny_text_dataset, tmp_path, metric, text):
    problem = _problem(minilm, tiny_text_dataset, tmp_path, projection_metric=metric)
    assert len(minilm.tokenize(text)) == problem.n_ctx == 4
    ctx = problem.embed_text(text)
    ids = problem.project_ids(ctx[None])[0]
    assert ids.tolist() == minilm.tokenize(text)
    assert problem.project(ctx[None]) == [text]
    # a shorter text is padded with the pad word, which round-trips as well
    short = problem.embed_text("a news")
    assert problem.project(short[None]) == ["a news a a"]


@pytest.mark.slow
def test_minilm_never_projects_special_tokens(minilm, tiny_text_dataset, tmp_path):
    problem = _problem(minilm, tiny_text_dataset, tmp_path)
    tok = minilm.tokenizer
    special = [tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.mask_token_id,
               tok.unk_token_id, *tok.convert_tokens_to_ids(["[unused0]", "[unused1]", "[unused99]"])]
    emb = minilm.token_embeddings
    # vectors sitting exactly on the special tokens still project to ordinary tokens
    ctx = emb[torch.tensor(special[:8])].reshape(2, 4, -1)
    ids = problem.project_ids(ctx)
    assert not set(ids.flatten().tolist()) & set(special)
    texts = problem.project(ctx)
    for t in texts:
        assert "[" not in t and "##" not in t, t
    mask = minilm.projectable_mask()
    assert not mask[special].any()
    assert mask.sum() > 20000            # the ordinary word pieces stay available


@pytest.mark.slow
def test_minilm_decode_merges_word_pieces(minilm, tiny_text_dataset, tmp_path):
    problem = _problem(minilm, tiny_text_dataset, tmp_path, projection_vocab="all")
    tok = minilm.tokenizer
    # a context starting with a continuation piece and containing one in the middle
    pieces = tok.convert_tokens_to_ids(["##ing", "play", "##ing", "football"])
    assert tok.unk_token_id not in pieces
    ctx = minilm.token_embeddings[torch.tensor(pieces)][None]
    text = problem.project(ctx)[0]
    assert "##" not in text
    assert text == "ing playing football"
    # random soft prompts decode to readable text too
    g = torch.Generator().manual_seed(1)
    texts = problem.project(torch.stack([problem.init_random(g) for _ in range(16)]))
    assert all("##" not in t and "[" not in t for t in texts)


@pytest.mark.slow
@pytest.mark.parametrize("text", ["a photo of a", "a centered satellite photo"])
def test_clip_random_init_round_trip(clip_rn50, tiny_image_dataset, tmp_path, text):
    problem = _problem(clip_rn50, tiny_image_dataset, tmp_path)
    ids = clip_rn50.tokenize(text)
    assert len(ids) == 4
    ctx = problem.embed_text(text)
    assert torch.equal(problem.project_ids(ctx[None])[0], torch.tensor(ids))
    assert problem.project(ctx[None]) == [text]
    # start/end-of-text are never returned
    sot_eot = clip_rn50.token_embeddings[torch.tensor([clip_rn50._sot, clip_rn50._eot] * 2)]
    got = problem.project_ids(sot_eot[None])[0].tolist()
    assert clip_rn50._sot not in got and clip_rn50._eot not in got
