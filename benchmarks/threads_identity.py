"""Do runs at one intra-op thread give the numbers of the same runs at two?

    python -m benchmarks.threads_identity [SPEC] [--methods single_start combined]
                                          [--cells intent_recognition:1:1 intent_recognition:16:1]
                                          [--threads 1 2]

Each thread count runs in its own process (torch's thread count is set once,
before any work, as `maao` does from MAAO_THREADS), every run of the methods
on the cells in a throwaway MLflow store with the LLM replayed; then the final
metrics and the final prompt vectors are compared exactly (==, no tolerance).
Why it matters: two sweep processes at MAAO_THREADS=1 each use two cores
without oversubscription, but they are only a speed lever if a run's numbers
do not depend on the thread count (the goldens and recordings use 2).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

METRICS = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")


def run_all(spec_name: str, methods: list[str], cells: list[str], threads: int, out: Path) -> None:
    """In this process: run the configurations at `threads`, save metrics and prompts to `out`."""
    import torch

    torch.set_num_threads(threads)
    from maao import runner
    from maao.llm import open_response_store
    from maao.spec import expand, load_spec
    from maao.tracking import Tracker

    prompts = {}
    original = runner._prompt_record

    def keep_prompt(problem, result):   # the final prompt, as the runner records it
        prompts["last"] = None if result.prompt is None else result.prompt.detach().clone()
        return original(problem, result)

    runner._prompt_record = keep_prompt
    spec = load_spec(spec_name)
    store = open_response_store(spec.responses_path("mini"), "replay")
    saved = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/threads.db")
        for cell in cells:
            dataset, shots, seed = cell.split(":")
            for config in expand(spec, "mini", [dataset], [int(shots)], [int(seed)]):
                if config.name not in methods:
                    continue
                summary = runner.execute(config, tracker, store, force=True)
                name = f"{config.name}/{dataset}/{shots}shot/seed{seed}"
                saved[name] = {"metrics": {m: summary.metrics[m] for m in METRICS},
                               "prompt": prompts["last"]}
    torch.save({"threads": torch.get_num_threads(), "runs": saved}, out)


def compare(a: dict, b: dict) -> list[str]:
    import torch

    lines = []
    for name in sorted(a["runs"]):
        x, y = a["runs"][name], b["runs"][name]
        moved = [f"{m} {x['metrics'][m]!r} vs {y['metrics'][m]!r}" for m in METRICS
                 if x["metrics"][m] != y["metrics"][m]]
        px, py = x["prompt"], y["prompt"]
        same_prompt = (px is None and py is None) or (px is not None and py is not None and torch.equal(px, py))
        diff = "" if same_prompt or px is None or py is None else f" (max |diff| {(px - py).abs().max().item():.3g})"
        verdict = "identical" if not moved and same_prompt else "DIFFERENT"
        lines.append(f"{name}: {verdict}; metrics: {'; '.join(moved) or 'equal'}; "
                     f"prompt vectors: {'equal' if same_prompt else 'differ' + diff}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads_identity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="table3")
    parser.add_argument("--methods", nargs="+", default=["single_start", "combined"])
    parser.add_argument("--cells", nargs="+", default=["intent_recognition:1:1", "intent_recognition:16:1"])
    parser.add_argument("--threads", nargs=2, type=int, default=[1, 2])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)      # internal: the child's thread count
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        run_all(args.spec, args.methods, args.cells, args.one, Path(args.out))
        return 0
    import torch

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            out = Path(tmp) / f"threads{threads}.pt"
            subprocess.run([sys.executable, "-m", "benchmarks.threads_identity", args.spec,
                            "--methods", *args.methods, "--cells", *args.cells,
                            "--one", str(threads), "--out", str(out)], check=True)
            results.append(torch.load(out))
    print(f"threads {results[0]['threads']} vs {results[1]['threads']}:")
    lines = compare(*results)
    print("\n".join(lines))
    print(json.dumps({"identical": sum("identical;" in line for line in lines), "runs": len(lines)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
