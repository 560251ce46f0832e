"""Fixtures of the performance benchmarks (pytest-benchmark).

Only collected when asked for (`pytest benchmarks --benchmark-only`; the
default testpath is tests/). Everything expensive is built once per session:

- the MiniLM backbone (the runner's own cached instance, so end-to-end runs
  through maao.runner.execute do not load it a second time);
- CLIP RN50 with random weights (seeded, so every session gets the same ones);
- a PromptProblem on intent_recognition 16-shot (seed 1), whose input
  features come from the persistent feature cache (MAAO_CACHE_DIR, default
  ~/.cache/maao), so document encoding happens once per machine, not per
  session;
- a CLIP problem. There is no offline image data, so its input features are
  random unit vectors (seeded, [n, 1024]) standing in for RN50 image features:
  what the benchmarks measure on CLIP is the text tower (the part that runs
  every step), and the text tower never sees how the image features were made.

Ratios (naive / fast, one-by-one / batched) are measured within one session,
fast and slow alternating, and written to `benchmark.extra_info`; absolute
times are reported, never asserted (another process may share the CPU).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MAAO_CACHE_DIR", str(Path.home() / ".cache" / "maao"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Intra-op threads. Default 1: on this 2-core machine, shared with a sweep,
# torch's default of 2 OpenMP threads made a MiniLM step ~17x slower (1.4 s vs
# 0.08 s) from oversubscription, and the numbers useless. Set
# MAAO_BENCH_THREADS=2 (or more) on an idle machine to measure that setting.
BENCH_THREADS = int(os.environ.get("MAAO_BENCH_THREADS", "1"))
torch.set_num_threads(BENCH_THREADS)

# Where the backbones' towers run: "cpu" (default, what CI measures) or "cuda"
# (docs/performance.md, "GPU"). MAAO_BENCH_AMP=1 turns on fp16 autocast there;
# the equality checks then allow AMP_TOL instead of 1e-5 (fp16 rounding differs
# between the padded and the cut sequence shapes), and report the differences.
BENCH_DEVICE = os.environ.get("MAAO_BENCH_DEVICE", "cpu")
BENCH_AMP = BENCH_DEVICE != "cpu" and os.environ.get("MAAO_BENCH_AMP", "0") == "1"
FP32_TOL, AMP_TOL = 1e-5, 1e-2
TOL = AMP_TOL if BENCH_AMP else FP32_TOL
# A GPU step takes milliseconds: take more rounds there for stable minima.
ROUNDS_FACTOR = 1 if BENCH_DEVICE == "cpu" else 20

REPO = Path(__file__).resolve().parent.parent
DATASET = "intent_recognition"
SHOTS, SEED = 16, 1
MINILM_NAIVE_PAD = 128   # a common max_seq_length for MiniLM (its 512 positions would be unfair)
CLIP_NAIVE_PAD = 77      # CLIP's context length


# ----------------------------------------------------------------- helpers
def median(xs):
    return statistics.median(xs) if xs else float("nan")


def ratios(fast: list[float], slow: list[float]) -> tuple[float, float]:
    """(min(slow)/min(fast), median of the per-round slow/fast ratios).

    The first is the headline: on a shared CPU the minimum is the best
    estimate of a step's own cost (contention only ever adds time). The
    second pairs each slow round with the fast round right after it.
    """
    paired = [s / f for s, f in zip(slow, fast)]
    return min(slow) / min(fast), median(paired)


def timed(fn, sink: list):
    """fn wrapped so that each call's wall time is appended to sink."""
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        sink.append(time.perf_counter() - t0)
        return out
    return run


def report(benchmark, **info):
    """Store numbers in extra_info (rounded) and print them (-s shows them)."""
    clean = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in info.items()}
    benchmark.extra_info.update(clean)
    print(f"\n[{benchmark.name}] " + json.dumps(clean, sort_keys=True))


def fake_server_class():
    """tests/fake_openai_server.py's FakeOpenAIServer (a real local HTTP server)."""
    tests_dir = str(REPO / "tests")
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    from fake_openai_server import FakeOpenAIServer

    return FakeOpenAIServer


# ------------------------------------------------------------- problems
def make_problem_class():
    from maao.problem import PromptProblem

    class BenchProblem(PromptProblem):
        """PromptProblem with the two wastes of a naive implementation switchable.

        pad_to: pad the class prompts to this length (None = fast path, cut to
        the longest real prompt). reencode: run the frozen input encoder on the
        batch's raw inputs inside every training step instead of using the
        cached features (what an implementation without a feature cache does).
        """
        reencode: bool = False

        @property
        def pad_length(self) -> int | None:
            return self.learner._pad_to

        @pad_length.setter
        def pad_length(self, value: int | None) -> None:
            self.learner._pad_to = value   # the learner pads its class prompts

        def loss(self, ctx, index):
            if not self.reencode:
                return super().loss(ctx, index)
            x = self.backbone.encode_inputs([self.train.inputs[i] for i in index.tolist()])
            logits = self.logits(ctx[None], x)[0]
            return torch.nn.functional.cross_entropy(logits, self.train_y[index])

    return BenchProblem


def make_random_feature_problem_class():
    base = make_problem_class()

    class RandomFeatureProblem(base):
        """CLIP problem whose input features are seeded random unit vectors."""

        def _features(self, split, name):
            g = torch.Generator().manual_seed(hash_name(name))
            dim = self.backbone.model.text_projection.shape[-1]
            feats = torch.nn.functional.normalize(torch.randn(len(split.labels), dim, generator=g), dim=-1)
            return feats, torch.tensor(split.labels)

    return RandomFeatureProblem


def hash_name(name: str) -> int:
    return sum(ord(c) * 31 ** i for i, c in enumerate(name)) % (2 ** 31)


def build_problem(backbone, dataset, train, cls=None, pad_to=None, reencode=False, **settings):
    from maao.problem import ProblemSettings

    cls = cls or make_problem_class()
    problem = cls(backbone, dataset, train, ProblemSettings(**settings))
    problem.pad_length, problem.reencode = pad_to, reencode
    return problem


# ------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def dataset():
    from maao.datasets import load_dataset

    return load_dataset(DATASET)


@pytest.fixture(scope="session")
def train_split(dataset):
    from maao.datasets import few_shot

    return few_shot(dataset, SHOTS, SEED)


@pytest.fixture(scope="session")
def minilm():
    if BENCH_DEVICE == "cpu":
        from maao.runner import _backbone

        return _backbone("minilm", json.dumps({}, sort_keys=True))   # shared with runner.execute
    from maao.backbones import load_backbone

    # MAAO_MINILM_DIR: the model folder, where the wheel cannot be installed.
    return load_backbone("minilm", device=BENCH_DEVICE, amp=BENCH_AMP,
                         model_dir=os.environ.get("MAAO_MINILM_DIR"))


@pytest.fixture(scope="session")
def clip_rn50():
    from maao.backbones import load_backbone

    torch.manual_seed(0)  # random init, the same weights every session
    return load_backbone("clip-rn50", pretrained=None, device=BENCH_DEVICE, amp=BENCH_AMP)


@pytest.fixture(scope="session")
def minilm_problem(minilm, dataset, train_split):
    return build_problem(minilm, dataset, train_split)


@pytest.fixture(scope="session")
def clip_problem(clip_rn50, dataset, train_split):
    return build_problem(clip_rn50, dataset, train_split, cls=make_random_feature_problem_class())


@pytest.fixture(scope="session")
def machine():
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "device": BENCH_DEVICE, "amp": BENCH_AMP}
    if BENCH_DEVICE.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(BENCH_DEVICE))
    return info


# ------------------------------------------------------------ collection
def pytest_collect_file(file_path, parent):
    """Collect benchmarks/bench_*.py (pytest's default pattern is test_*.py)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


# ------------------------------------------------- recorded combined run
E2E_SHOTS = 4
FILLER_RECORDS = 400     # a Table-3-sized store: 135 runs x 3 calls


def run_config(method, shots=E2E_SHOTS, **kw):
    from maao.runner import RunConfig

    return RunConfig(method=method, dataset=DATASET, shots=shots, seed=1, table="perfbench", **kw)


def filler_records(settings, n=FILLER_RECORDS):
    """n unrelated, valid records (instruction-sized requests)."""
    from maao.llm.store import build_request, make_record

    out = {}
    for i in range(n):
        req = build_request(settings, [{"role": "user", "content": f"filler request {i} " + "x" * 1500}])
        rec = make_record(req, f"1. a filler template {i} {{}}.", "stop",
                          {"model_snapshot": "fake", "fingerprint": None,
                           "recorded_at": "2024-01-01T00:00:00+00:00", "latency_s": 1.0,
                           "usage": None, "position": [f"filler-{i}", 0]})
        out[rec["key"]] = rec
    return out


@pytest.fixture(scope="session")
def tracker(tmp_path_factory):
    from maao.tracking import Tracker

    return Tracker(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")


@pytest.fixture(scope="session")
def combined_recorded(minilm, tracker, tmp_path_factory):
    """One combined run (mini, intent_recognition 4-shot, seed 1) through
    maao.runner.execute, its 3 LLM calls recorded against the fake OpenAI
    server (record-missing) into a temp JSONL, which is then padded with
    FILLER_RECORDS unrelated records so replays read a table-sized store."""
    from maao.llm import LLMSettings, ResponseStore
    from maao.llm.store import read_records, write_records_atomic
    from maao.runner import execute

    path = tmp_path_factory.mktemp("responses") / "responses.jsonl"
    with fake_server_class()() as server:
        llm = {"base_url": server.base_url, "model": "fake-model", "max_retries": 0}
        t0 = time.perf_counter()
        summary = execute(run_config("combined", llm=llm), tracker,
                          store=ResponseStore(path, mode="record-missing"), force=True)
        seconds = time.perf_counter() - t0
    own = read_records(path)
    records = {**own, **filler_records(LLMSettings(**llm))}
    write_records_atomic(path, records)
    return {"path": path, "llm": llm, "summary": summary, "seconds": seconds,
            "own_keys": sorted(own), "n_records": len(records)}
