"""Spec includes (issue 20 item 4): a spec takes each scale's shared settings
from benchmarks/specs/_defaults/ and states only what differs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maao.spec import SPEC_DIR, SpecError, read_spec


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_scale_key_replaces_the_default_whole(tmp_path):
    _write(tmp_path / "d" / "mini.yaml",
           "scales:\n  mini: {backbone: minilm, problem: {init_std: 0.5, n_ctx: 4}, seeds: [1, 2]}\n")
    spec = _write(tmp_path / "s.yaml", "name: s\nversion: 1\nmethods: [combined]\ninclude: [d/mini.yaml]\n"
                  "scales:\n  mini: {problem: {n_ctx: 8}, shots: [4]}\n")
    raw = read_spec(spec)
    assert "include" not in raw
    assert raw["scales"]["mini"] == {"backbone": "minilm", "problem": {"n_ctx": 8},  # not init_std 0.5
                                     "seeds": [1, 2], "shots": [4]}


def test_only_the_scales_a_spec_names_take_defaults(tmp_path):
    _write(tmp_path / "paper.yaml", "scales:\n  paper: {backbone: clip-rn50}\n")
    spec = _write(tmp_path / "s.yaml", "name: s\nversion: 1\nmethods: [combined]\ninclude: paper.yaml\n"
                  "scales:\n  mini: {backbone: minilm}\n")
    assert read_spec(spec)["scales"] == {"mini": {"backbone": "minilm"}}


@pytest.mark.parametrize("defaults, message", [
    (None, "include[0]: no file"),
    ("methods: [combined]\n", "must hold only `scales"),
    ("scales:\n  mini: [1]\n", "scales.mini: expected a mapping"),
])
def test_a_bad_include_names_the_spec_and_the_entry(tmp_path, defaults, message):
    if defaults is not None:
        _write(tmp_path / "d.yaml", defaults)
    spec = _write(tmp_path / "s.yaml", "name: s\nversion: 1\nmethods: [combined]\ninclude: [d.yaml]\n"
                  "scales:\n  mini: {}\n")
    with pytest.raises(SpecError) as err:
        read_spec(spec)
    assert str(spec) in str(err.value) and message in str(err.value)


def test_every_committed_spec_includes_the_defaults_and_repeats_none():
    """A spec states only what differs: no scale key equal to the default it replaces.
    Its mini defaults: mini-shared.yaml (the power grid's: runs shared across
    tables, per-seed LLM samples; docs/recording.md)."""
    import yaml

    files = sorted((SPEC_DIR / "_defaults").glob("*.yaml"))
    assert [p.name for p in files] == ["mini-shared.yaml", "paper.yaml"]
    defaults = {f"_defaults/{p.name}": yaml.safe_load(p.read_text())["scales"] for p in files}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        own = yaml.safe_load(path.read_text())
        assert own["include"] == ["_defaults/mini-shared.yaml", "_defaults/paper.yaml"], path
        included = {scale: block for f in own["include"] for scale, block in defaults[f].items()}
        for scale, block in own["scales"].items():
            repeated = sorted(k for k, v in block.items() if included[scale].get(k) == v)
            assert not repeated, f"{path.name}: scales.{scale} repeats the default {repeated}"


def test_reading_a_spec_stays_torch_free():
    code = "import sys; from maao.spec import load_spec; load_spec('table3'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
