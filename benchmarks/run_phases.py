"""Where a mini run's time goes: `runner.execute` split into phases.

    python -m benchmarks.run_phases [SPEC] [--cells intent_recognition:16:1 ...] [--threads N]

Runs every method row of SPEC (default table3) on the cells (default: the
spec's golden cells, benchmarks/golden.py) in a throwaway MLflow store, LLM
replayed, after one warm-up run that is not counted (it pays the one-off
costs: MiniLM load, the first feature-cache read, lazy imports such as
matplotlib's). Each second of a run is charged to the innermost phase running
at that moment, so the phases add up to the runs' total. Prints seconds and
shares per phase: on a shared machine compare the shares, not the seconds.
"""
from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict


class PhaseClock:
    """Exclusive wall time per phase: a nested phase's time is not its caller's."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self._stack = []          # [phase, started_at] of the running phases
        self.on = False

    def wrap(self, owner, attr: str, phase: str) -> None:
        original = getattr(owner, attr)
        clock = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if not clock.on:
                return original(*args, **kwargs)
            now = time.perf_counter()
            if clock._stack:
                outer = clock._stack[-1]
                clock.seconds[outer[0]] += now - outer[1]
            clock._stack.append([phase, now])
            clock.calls[phase] += 1
            try:
                return original(*args, **kwargs)
            finally:
                end = time.perf_counter()
                clock.seconds[phase] += end - clock._stack.pop()[1]
                if clock._stack:
                    clock._stack[-1][1] = end

        setattr(owner, attr, timed)


def instrument(clock: PhaseClock, method_names) -> None:
    from mlflow.tracking import MlflowClient

    from maao import run_views, runner, tracking
    from maao.gradient import GradientDescent
    from maao.methods import get_method
    from maao.problem import PromptProblem
    from maao.run_record import RunRecord

    clock.wrap(runner, "execute", "execute: the rest (tags, LLM client, metrics dict)")
    clock.wrap(runner, "build_problem", "problem build (features, vocabulary)")
    clock.wrap(runner, "resolve", "config resolve")
    clock.wrap(runner.RunConfig, "config_hash", "config hash")
    clock.wrap(runner.RunConfig, "semantic", "config hash")
    clock.wrap(GradientDescent, "run", "gradient steps")
    clock.wrap(PromptProblem, "project", "projection V^-1 (trajectory log, scoring, final prompt)")
    for name in set(method_names):
        cls = get_method(name)
        clock.wrap(cls, "run", "method outside gradient steps (LLM rounds, scoring)")
    clock.wrap(runner, "evaluate_result", "final evaluation (train + test split)")
    clock.wrap(runner, "_prompt_record", "final prompt record")
    clock.wrap(RunRecord, "build", "run record (redaction)")
    clock.wrap(runner, "_readable", "run views: rounds.md, run note")
    clock.wrap(run_views, "loss_curve_png", "run views: loss-curve PNG")
    clock.wrap(tracking.Tracker, "claim", "claim (lock, lease)")
    clock.wrap(tracking.Tracker, "finish", "MLflow finish (JSON dumps, other)")
    for attr in ("search_runs", "create_run", "log_batch", "log_text", "log_artifact", "set_terminated",
                 "set_tag", "get_run"):
        clock.wrap(MlflowClient, attr, f"MLflow {attr}")


def parse_cell(text: str) -> tuple[str, int, int]:
    dataset, shots, seed = text.split(":")
    return dataset, int(shots), int(seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_phases", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="table3")
    parser.add_argument("--cells", nargs="*", type=parse_cell, help="dataset:shots:seed (default: the golden cells)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2, the goldens')")
    args = parser.parse_args(argv)

    import tempfile

    import torch

    from benchmarks.golden import CELLS, SCALE
    from maao import runner
    from maao.llm import open_response_store
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    torch.set_num_threads(args.threads)
    spec = load_spec(args.spec)
    pending = spec.awaiting_recording(SCALE)
    configs = [c for d, shots, seed in (args.cells or CELLS[args.spec])
               for c in expand(spec, SCALE, [d], [shots], [seed]) if c.name not in pending]
    clock = PhaseClock()
    instrument(clock, [c.method for c in configs])
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/phases.db")
        store = open_response_store(spec.responses_path(SCALE), "replay")
        t0 = time.perf_counter()
        runner.execute(configs[0], tracker, store, force=True)   # warm-up: one-off costs, not counted
        warm_up = time.perf_counter() - t0
        clock.on = True
        t0 = time.perf_counter()
        for config in configs:
            runner.execute(config, tracker, store, force=True)
        total = time.perf_counter() - t0
    print(f"{args.spec}: {len(configs)} runs, {total:.1f} s ({total / len(configs):.2f} s a run), "
          f"torch threads {args.threads}; warm-up run (not counted) {warm_up:.1f} s")
    print(f"{'phase':<62} {'calls':>6} {'seconds':>8} {'share':>7}")
    for phase, s in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
        print(f"{phase:<62} {clock.calls[phase]:>6} {s:>8.2f} {100 * s / total:>6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
