"""`maao`: run one configuration, sweep a spec, score zero-shot, manage LLM records.

    maao run --method combined --dataset bbc_news --shots 16 --seed 1
    maao sweep table3 --scale mini
    maao zero-shot --dataset bbc_news
    maao responses check table3
    maao llm prepare | serve | stop
    maao ui --table table3           # MLflow's UI over the store, on 127.0.0.1
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path


def _threads() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("MAAO_THREADS", max(1, os.cpu_count() or 1))))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", default="mini", help="mini (default, offline) or paper")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--llm-mode", default="replay", choices=["replay", "record-missing", "refresh", "live"],
                   help="replay (default) never calls an LLM; record-missing calls only for unrecorded requests")
    p.add_argument("--llm-base-url", help="OpenAI-compatible endpoint (default: the spec's, or 127.0.0.1:8080)")
    p.add_argument("--data-dir", help="root of the paper-scale datasets (default: $MAAO_DATA_DIR or ~/data)")
    p.add_argument("--cache-dir", help="feature cache (default: $MAAO_CACHE_DIR/features or ~/.cache/maao/features)")
    p.add_argument("--responses", help="recorded LLM responses JSONL (default: the spec's, benchmarks/responses/)")
    p.add_argument("--force", action="store_true", help="re-run even if an identical finished run exists")
    p.add_argument("-v", "--verbose", action="store_true")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _executor_options(p: argparse.ArgumentParser) -> None:
    """Where the runs of a sweep execute (docs/scale.md)."""
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default): one run after another in this process; ray: one Ray task per run")
    p.add_argument("--ray-address", help="Ray cluster to join (default: $RAY_ADDRESS, else a private "
                                         "local instance on 127.0.0.1)")
    p.add_argument("--ray-cpus", type=_positive, default=1.0, help="CPUs per run (default 1)")
    p.add_argument("--ray-gpus", type=_non_negative, default=0.0,
                   help="GPUs per run, fractions allowed (0.25: four runs share a GPU; default 0)")
    p.add_argument("--ray-retries", type=int, default=3,
                   help="re-runs of a task lost with its worker or node (default 3)")


def _names() -> dict[str, str]:
    """The choices --help lists (read without importing torch or a spec)."""
    from importlib.metadata import entry_points

    from .datasets.registry import DATASETS
    from .spec import SPEC_DIR

    methods = ["combined", *sorted(ep.name for ep in entry_points(group="maao.methods"))]
    return {"method": ", ".join(methods), "dataset": ", ".join(sorted(DATASETS)),
            "spec": ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.yaml")))}


class _OneLineErrors(argparse.ArgumentParser):
    """A bad argument (`--seeds abc`) is one line and exit 2, not the usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="maao", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    names = _names()
    run = sub.add_parser("run", help="run one method on one dataset/shots/seed")
    run.add_argument("--spec", default="table3",
                     help=f"experiment spec giving the settings (default table3): {names['spec']}, or a YAML path")
    run.add_argument("--method", required=True, help=f"one of: {names['method']}")
    run.add_argument("--dataset", required=True,
                     help=f"one of: {names['dataset']} (the mini scale has bbc_news, intent_recognition)")
    run.add_argument("--shots", type=int, required=True)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--n-ctx", type=int, help="prompt length (default: the spec's, 4)")
    _common(run)

    sweep = sub.add_parser("sweep", help="run every configuration of an experiment spec (resumable)")
    sweep.add_argument("spec", help=f"spec name in benchmarks/specs ({names['spec']}) or a YAML path")
    sweep.add_argument("--methods", nargs="+", help="method rows of the spec (default: all); "
                                                    f"methods: {names['method']}")
    sweep.add_argument("--datasets", nargs="+", help=f"datasets (default: the spec's): {names['dataset']}")
    sweep.add_argument("--shots", nargs="+", type=int)
    sweep.add_argument("--seeds", nargs="+", type=int)
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the runs to train (and, with shared runs, to copy from another table), LLM calls, "
                            "missing records, estimated time and API cost; run nothing (maao/plan.py)")
    _common(sweep)
    _executor_options(sweep)

    zs = sub.add_parser("zero-shot", help="test accuracy of the dataset's hand-written template")
    zs.add_argument("--dataset", required=True, help=f"one of: {names['dataset']}")
    zs.add_argument("--template", help="a template with {} (default: the dataset's)")
    zs.add_argument("--spec", default="table3", help=f"default table3: {names['spec']}")
    _common(zs)

    resp = sub.add_parser("responses", help="check recorded LLM responses against a spec's manifest")
    resp.add_argument("action", choices=["check"])
    resp.add_argument("spec")
    resp.add_argument("--scale", default="mini")
    resp.add_argument("--responses", help="JSONL to check (default: the spec's)")

    llm = sub.add_parser("llm", help="prepare/serve/stop the local llama.cpp LLM (see docs/llm.md)",
                         add_help=False)
    llm.add_argument("args", nargs=argparse.REMAINDER)
    ui = sub.add_parser("ui", help="MLflow's UI over the store on 127.0.0.1; prints the table's runs URL "
                                   "(maao ui --help)", add_help=False)
    ui.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _responses_path(spec, args) -> Path:
    return Path(args.responses) if getattr(args, "responses", None) else spec.responses_path(args.scale)


def _manifest_path(spec, args) -> Path:
    return spec.manifest_path(args.scale, _responses_path(spec, args))


def _checked_spec(args):
    """The spec and the command line's names and numbers, checked before torch
    is imported or the MLflow store is opened (one-line errors, exit 2)."""
    from .spec import load_spec
    from .speccheck import check_selection

    spec = load_spec(args.spec)
    spec.scale(args.scale)
    if args.command != "responses":
        check_selection(spec, args)
    return spec


def _configs(args, spec=None):
    from dataclasses import replace

    from .spec import expand

    spec = spec or _checked_spec(args)
    if args.command == "run":
        configs = expand(spec, args.scale, [args.dataset], [args.shots], [args.seed], [args.method],
                         strict=False)
    else:
        configs = expand(spec, args.scale, args.datasets, args.shots, args.seeds, args.methods)
        pending = spec.awaiting_recording(args.scale)
        if not args.methods and getattr(args, "llm_mode", "replay") == "replay" and pending:
            # rows without recorded replies: a replay sweep leaves them out (decision 97)
            print(f"maao: rows not recorded yet, left out in replay mode: {', '.join(sorted(pending))}",
                  file=sys.stderr)
            configs = [c for c in configs if c.name not in pending]
    if getattr(args, "n_ctx", None) is not None:
        configs = [replace(c, problem=replace(c.problem, n_ctx=args.n_ctx)) for c in configs]
    if args.llm_base_url:
        configs = [replace(c, llm={**c.llm, "base_url": args.llm_base_url}) for c in configs]
    return spec, configs


def cmd_runs(args, spec=None) -> int:
    from tqdm import tqdm

    from .llm import open_response_store, write_manifest
    from .llm.errors import LLMError
    from .runner import check_inputs, execute
    from .tracking import Tracker

    from .run_views import experiment_note

    spec, configs = _configs(args, spec)
    # Inputs first, then the responses (their digests), and only then the
    # store: bad input or an edited reply leaves no store and no run behind.
    try:
        check_inputs(configs, args.data_dir)
    except ValueError as err:
        raise type(err)(f"{spec.path} (scale {args.scale!r}): {err}") from None
    if getattr(args, "dry_run", False):
        from .plan import plan_text
        from .tracking import tracking_uri

        print(plan_text(spec, configs, tracking_uri(args.tracking_uri), _responses_path(spec, args),
                        args.llm_mode, args.force))
        return 0
    store = open_response_store(_responses_path(spec, args), args.llm_mode)
    env_uri = os.environ.get("MLFLOW_TRACKING_URI")  # read before MLflow sets it (mlflow.set_tracking_uri)
    tracker = Tracker(args.tracking_uri)
    started = time.perf_counter()
    done = skipped = replayed = mirrored = 0
    experiment = configs[0].experiment
    tracker.describe_experiment(experiment, experiment_note(spec, args.scale, experiment))
    # A sweep nests its runs under the experiment's sweep parent (maao.tracking).
    parent = tracker.sweep_run(experiment, f"{spec.table} {args.scale} sweep",
                               {"table": spec.table, "scale": args.scale, "spec": f"{spec.name}@v{spec.version}"}
                               ) if args.command == "sweep" else None
    bar = tqdm(configs, desc=f"{spec.name}/{args.scale}", unit="run", disable=len(configs) == 1)

    def run(config):
        nonlocal done, skipped, replayed, mirrored
        summary = execute(config, tracker, store, args.data_dir, args.cache_dir, force=args.force,
                          progress=len(configs) == 1, parent_run_id=parent)
        if summary.busy:
            return summary
        skipped += summary.skipped
        mirrored += summary.mirrored
        done += not summary.skipped
        replayed += summary.llm_replayed
        if len(configs) == 1 or args.verbose:
            state = ("copied from another table's run" if summary.mirrored else
                     "skipped (already finished)" if summary.skipped else f"{summary.seconds:.1f}s")
            m = summary.metrics
            tqdm.write(f"{config.name} {config.dataset} {config.shots}-shot seed {config.seed}: "
                       f"test acc {m.get('test_accuracy', float('nan')):.2f}  "
                       f"train loss {m.get('train_loss', float('nan')):.4f}  [{state}] run {summary.run_id}")
        return summary

    failed = []  # (config, error) of Ray tasks that did not complete
    status = "FAILED"  # an error ends the sweep's parent FAILED; an interrupt KILLED
    try:
        if getattr(args, "executor", "local") == "ray":
            from .scale import ray_executor

            bar.close()
            try:
                done, skipped, failed, used = ray_executor.sweep(configs, tracker,
                                                                 _responses_path(spec, args), args)
            finally:
                ray_executor.shutdown()
            store.used_keys |= used
            for config, err in failed:
                if isinstance(err, (ValueError, FileNotFoundError, LLMError)):
                    raise err  # bad settings or a replay miss: one line, exit 2 (main)
        else:
            busy = []
            for config in bar:
                bar.set_postfix_str(f"{config.name} {config.dataset} {config.shots}s seed{config.seed}")
                if run(config).busy:
                    busy.append(config)     # another process trains it: come back at the end
            for config in busy:
                while (summary := run(config)).busy:
                    print(f"maao: waiting for run {summary.run_id} ({config.name} {config.dataset} "
                          f"{config.shots}-shot seed {config.seed}), trained by another process",
                          file=sys.stderr)
                    tracker.wait_idle(summary.run_id)
        status = "FAILED" if failed else "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if parent:
            try:
                tracker.end_sweep(parent, status)
            except Exception:  # noqa: BLE001 - the store is the fault: report the first error
                if status == "FINISHED":
                    raise
                logging.getLogger(__name__).info("the sweep's parent run %s could not be closed", parent)
    # The manifest lists every key the whole experiment uses, with the digest
    # of its reply: a complete sweep knows them all, from the runs it trained
    # and the finished runs it reused (their llm_pairs). Before, a resumed
    # sweep (some runs skipped) wrote none: table8-mini had no manifest.
    if store.used_keys and store.used_keys_known and args.command == "sweep" and not failed and not any(
            (args.methods, args.datasets, args.shots, args.seeds)):
        # read again: a concurrent sweep may have recorded replies of runs this one
        # reused after this process loaded the file (its snapshot lacks them)
        from .llm.store import read_records

        write_manifest(_manifest_path(spec, args), store.used_keys,
                       read_records(store.records_path))
    # (Ray tasks do not report their replays back: counted for the local executor)
    llm_calls = (f"{replayed} LLM call(s) replayed from {store.records_path.name}" if store.mode == "replay"
                 else f"{replayed} LLM call(s) answered from {store.records_path.name}, "
                      f"the others live (mode {store.mode})")
    reused = f" ({mirrored} of them copied from another table's run)" if mirrored else ""
    print(f"maao: {done} run(s) trained, {skipped} skipped as already finished{reused}, {llm_calls}, "
          f"{time.perf_counter() - started:.1f}s total; MLflow: {tracker.uri}\n"
          f"maao: browse them: {ui_command(spec.table, args.scale, tracker.uri, env_uri)}")
    if failed:
        print(f"maao: {len(failed)} run(s) did not complete on Ray (finished runs are kept); "
              f"re-run the same command to resume", file=sys.stderr)
        return 1
    return 0


def ui_command(table: str, scale: str, uri: str, env_uri: str | None) -> str:
    """The command that shows these runs in MLflow's UI (printed after a sweep);
    it names the store unless `maao ui` would find it by itself."""
    from .tracking import DEFAULT_URI

    store = "" if uri == (env_uri or DEFAULT_URI) else f" --tracking-uri {uri}"
    return f"maao ui --table {table}" + (f" --scale {scale}" if scale != "mini" else "") + store


def cmd_zero_shot(args, spec=None) -> int:
    from .runner import build_problem

    _, (config, *_) = _configs(argparse.Namespace(**{**vars(args), "method": "single_start",
                                                     "shots": 1, "seed": 1, "command": "run"}), spec)
    problem = build_problem(config, args.data_dir, args.cache_dir)
    template = args.template or problem.dataset.template
    loss, acc = problem.evaluate_templates([template], "test")
    print(f"zero-shot {config.dataset} test accuracy {acc.item():.2f} (loss {loss.item():.4f}) "
          f"with template {template!r}")
    return 0


def cmd_responses(args, spec) -> int:
    from .llm import check_manifest, open_response_store
    from .llm.store import manifest_paths, reply_mismatches

    path = _responses_path(spec, args)
    edited = reply_mismatches(path)    # every reply against its digest, before the store refuses the first
    if edited:
        print(f"{_manifest_path(spec, args).name}: {len(edited)} reply(ies) differ from their digest")
        for line in edited:
            print(f"  edited  {line}")
        return 1
    store = open_response_store(path, "replay")
    manifest = _manifest_path(spec, args)
    missing, _ = check_manifest(manifest, store)
    # orphans: records no table of the store uses (one file per scale: every table's manifest)
    _, orphans = check_manifest(manifest_paths(path), store)
    print(f"{manifest.name}: {len(store.keys())} records, {len(missing)} missing, {len(orphans)} orphan, "
          f"0 edited")
    for key in missing:
        print(f"  missing {key}")
    for key in orphans:
        print(f"  orphan  {key}")
    return 1 if missing else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run in progress is closed as KILLED."""


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # No Hugging Face "Loading weights" bars on stderr, so that an error is the
    # one line it should be (read when huggingface_hub is first imported, later).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if argv[:1] == ["llm"]:
        from .llm.local_server import main as llm_main

        return llm_main(argv[1:])
    if argv[:1] == ["ui"]:
        from .ui import main as ui_main

        return ui_main(argv[1:])
    from .llm.errors import LLMError
    from .redact import install_logging_filter, redact

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    install_logging_filter()  # API keys never reach a log line
    if not getattr(args, "verbose", False):
        # A tracking server that is down: one line at the end (maao/envfaults.py), not a line per retry.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        from .envfaults import quiet_store_tracebacks

        quiet_store_tracebacks()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        spec = _checked_spec(args)
        if args.command in ("run", "sweep"):
            _threads()
            return cmd_runs(args, spec)
        if args.command == "zero-shot":
            _threads()
            return cmd_zero_shot(args, spec)
        return cmd_responses(args, spec)
    except KeyboardInterrupt as stop:
        # The run in progress was closed as KILLED (maao.runner.execute).
        print("maao: interrupted; finished runs are kept, re-run the same command to resume",
              file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except (ValueError, FileNotFoundError, LLMError) as err:
        # DatasetError, SpecError, ReplayMiss, LLMError and bad settings all
        # land here: one message naming the problem, no traceback.
        print(f"maao: error: {redact(str(err))}", file=sys.stderr)
        return 2
    except Exception as err:
        # A full disk, a read-only store, a tracking server down: one line
        # with the cause and what to do (maao/envfaults.py); anything else
        # is a bug and keeps its traceback.
        from .envfaults import describe
        from .tracking import tracking_uri

        message = describe(err, tracking_uri(getattr(args, "tracking_uri", None)))
        if message is None:
            raise
        print(f"maao: error: {redact(message)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
