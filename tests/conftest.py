"""Shared pytest fixtures."""

import pytest


@pytest.fixture
def fake_llm_server():
    """A real HTTP server speaking the OpenAI chat protocol (tests/fake_openai_server.py); stops itself."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server


# ---------------------------------------------------------------- core tests
# Shared by tests/test_core_*.py: one feature cache per session and each real
# backbone loaded once (MiniLM takes ~10 s to load on CPU).


@pytest.fixture(scope="session")
def maao_cache_dir(tmp_path_factory):
    """MAAO_CACHE_DIR pointed at a fresh directory for the whole session.

    Also runs torch on one thread (MAAO_THREADS=1 for the CLI): the models here
    are tiny and on a shared 2-core machine more threads are several times slower.
    """
    import torch

    path = tmp_path_factory.mktemp("maao-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAAO_CACHE_DIR", str(path))
    mp.setenv("MAAO_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield path
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="session")
def minilm(maao_cache_dir):
    """The real packaged MiniLM backbone; the same instance maao.runner uses."""
    from maao.runner import _backbone

    return _backbone("minilm", "{}")


@pytest.fixture(scope="session")
def clip_rn50(maao_cache_dir):
    """open_clip RN50 with random weights (pretrained=None), seeded."""
    import torch

    from maao.backbones import load_backbone

    torch.manual_seed(0)
    return load_backbone("clip-rn50", pretrained=None, device="cpu")


@pytest.fixture(scope="session")
def tiny_text_dataset():
    """A 3-class text Dataset built from a handful of real sentences."""
    from maao.datasets.base import Dataset, LabelledSplit

    texts = {
        0: ["The central bank raised interest rates again this quarter.",
            "Shares fell sharply after the company missed its profit forecast.",
            "The merger creates the largest retailer in the country."],
        1: ["The striker scored twice in the second half to win the cup.",
            "The tennis champion withdrew from the tournament with an injury.",
            "The team clinched the league title on the final day."],
        2: ["The new smartphone has a faster chip and a better camera.",
            "Researchers released an open source tool for training neural networks.",
            "The software update fixes a security flaw in the browser."],
    }

    def split(offset, part):
        inputs, labels, ids = [], [], []
        for label, sentences in texts.items():
            for k in part:
                inputs.append(sentences[k])
                labels.append(label)
                ids.append(f"{offset}-{label}-{k}")
        return LabelledSplit(inputs, labels, ids)

    return Dataset(name="tiny_news", classnames=["business", "sport", "technology"],
                   template="a news article about {}.", task="news topic classification",
                   modality="text", train=split("tr", [0, 1]), val=split("va", [2]),
                   test=split("te", [2]), scale="mini")


@pytest.fixture(scope="session")
def tiny_image_dataset(tmp_path_factory):
    """A 3-class image Dataset of small generated PNGs (for CLIP backbones)."""
    import numpy as np
    from PIL import Image

    from maao.datasets.base import Dataset, LabelledSplit

    root = tmp_path_factory.mktemp("tiny-images")
    rng = np.random.default_rng(0)

    def split(part, n):
        inputs, labels, ids = [], [], []
        for label in range(3):
            for k in range(n):
                path = root / part / f"{label}_{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                pixels[..., label] = 255
                Image.fromarray(pixels).save(path)
                inputs.append(str(path))
                labels.append(label)
                ids.append(f"{part}/{label}_{k}.png")
        return LabelledSplit(inputs, labels, ids)

    return Dataset(name="tiny_images", classnames=["red thing", "green thing", "blue thing"],
                   template="a photo of a {}.", task="colour classification", modality="image",
                   train=split("train", 2), val=split("val", 1), test=split("test", 1),
                   scale="mini")
