"""Re-derive the files this package ships, and check them.

  python -m maao.datasets.prepare intent_recognition [social_support ...] [--write]
      Extract bigbench/benchmark_tasks/<name>/task.json from the bigbench
      1.0.0 sdist (fetched with `pip download --no-deps bigbench==1.0.0` into
      --cache-dir unless --sdist is given), check its pinned sha256, derive
      data/<name>.jsonl and compare it with the shipped file (--write: replace it).
  python -m maao.datasets.prepare --splits [--write]
      Recompute the fixed splits and the few-shot files of the mini sets
      (splits/<name>/...) and compare them with the shipped files (--write:
      replace them). Exit status 1 when anything differs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from . import bigbench_tasks, sampling
from .mini import dump_json, fewshot_path, load_mini, make_fewshot_file, make_split_file, split_path


def default_cache_dir() -> Path:
    return Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao")) / "bigbench"


def fetch_sdist(cache_dir: Path) -> Path:
    path = cache_dir / bigbench_tasks.SDIST_NAME
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        # bigbench 1.0.0 exists on PyPI only as this sdist; nothing is installed.
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps",
             f"bigbench=={bigbench_tasks.BIGBENCH_VERSION}", "-d", str(cache_dir)],
            check=False,
        )
    if not path.exists():
        raise SystemExit(f"{path} not found: `pip download --no-deps bigbench=={bigbench_tasks.BIGBENCH_VERSION} "
                         f"-d {cache_dir}` failed (a recent pip, e.g. 26.3, refuses the sdist's direct-URL "
                         f"dependency on bleurt; pip 24.0 downloads it); put the sdist there or pass --sdist")
    return path


def extract_members(sdist: Path, members: list[str]) -> dict[str, bytes]:
    """One sequential pass over the gzip tar (random access would re-read it)."""
    wanted, found = set(members), {}
    with tarfile.open(sdist, "r:gz") as tar:
        for info in tar:
            if info.name in wanted:
                found[info.name] = tar.extractfile(info).read()
                if len(found) == len(wanted):
                    break
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"{sdist} lacks {sorted(missing)}")
    return found


def compare_or_write(path: Path, text: str, write: bool) -> bool:
    """True when the shipped file equals `text` (after writing, if asked)."""
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == text:
        print(f"ok       {path}")
        return True
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"written  {path}")
        return True
    print(f"DIFFERS  {path}" if current is not None else f"MISSING  {path}")
    return False


def prepare_bigbench(names: list[str], sdist: Path, write: bool) -> bool:
    tasks = [bigbench_tasks.TASKS[n] for n in names]
    raw = extract_members(sdist, [t.member for t in tasks])
    ok = True
    for task in tasks:
        text = bigbench_tasks.to_jsonl(bigbench_tasks.derive(task, raw[task.member]))
        ok &= compare_or_write(task.data_path, text, write)
    return ok


def mini_sources() -> dict:
    from .bbc_news import SOURCE

    return {SOURCE.name: SOURCE, **bigbench_tasks.SOURCES}


def expected_split_files() -> dict[Path, str]:
    """Every stored split file of the mini sets and its regenerated content."""
    files: dict[Path, str] = {}
    for source in mini_sources().values():
        files[split_path(source.name)] = dump_json(make_split_file(source))
    return files


def expected_fewshot_files() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for source in mini_sources().values():
        dataset = load_mini(source)
        for shots in sampling.SHOTS:
            for seed in sampling.SEEDS:
                files[fewshot_path(source.name, shots, seed)] = dump_json(make_fewshot_file(dataset, shots, seed))
    return files


def prepare_splits(write: bool) -> bool:
    ok = True
    for path, text in expected_split_files().items():
        ok &= compare_or_write(path, text, write)
    if ok:
        load_mini.cache_clear()  # few-shot files sample from the (new) splits
        for path, text in expected_fewshot_files().items():
            ok &= compare_or_write(path, text, write)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maao.datasets.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", metavar="TASK",
                        help=f"bigbench tasks to re-derive: {', '.join(sorted(bigbench_tasks.TASKS))}")
    parser.add_argument("--splits", action="store_true", help="recompute the split and few-shot files of the mini sets")
    parser.add_argument("--write", action="store_true", help="replace shipped files instead of only comparing")
    parser.add_argument("--sdist", type=Path, help=f"path of {bigbench_tasks.SDIST_NAME} (else fetched into --cache-dir)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="where the sdist is kept")
    args = parser.parse_args(argv)
    if not args.tasks and not args.splits:
        parser.error("name a bigbench task or --splits")
    unknown = sorted(set(args.tasks) - set(bigbench_tasks.TASKS))
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}; known: {', '.join(sorted(bigbench_tasks.TASKS))}")
    ok = True
    if args.tasks:
        sdist = args.sdist or fetch_sdist(args.cache_dir)
        ok &= prepare_bigbench(args.tasks, sdist, args.write)
    if args.splits:
        ok &= prepare_splits(args.write)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
