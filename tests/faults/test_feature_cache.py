"""Issue 12, item 2: a damaged feature cache (body bytes flipped, truncated,
header broken) is never used: a warning, a rebuild, the right features."""
from __future__ import annotations

import json
import logging
import struct

import pytest
import torch

from maao.features import cached_input_features


class Backbone:
    name = "fake"

    def __init__(self):
        self.calls = 0

    def fingerprint(self):
        return "fake-weights-v1"

    def encode_inputs(self, inputs):
        self.calls += 1
        g = torch.Generator().manual_seed(len(inputs))
        return torch.randn(len(inputs), 96, generator=g)


class Split:
    inputs = [f"document {i}" for i in range(80)]      # 80 x 96 float32 = 30 KiB of features

    def digest(self):
        return "split-digest"

    def __len__(self):
        return len(self.inputs)


def _cache(tmp_path):
    backbone = Backbone()
    feats = cached_input_features(backbone, Split(), "ds", "train", tmp_path)
    (path,) = tmp_path.rglob("*.safetensors")
    return backbone, feats, path


def _flip_feature_bytes(path, offset=1000, n=4096):
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    start, _ = json.loads(data[8:8 + header_len])["features"]["data_offsets"]
    at = 8 + header_len + start + offset
    data[at:at + n] = bytes(b ^ 0x5A for b in data[at:at + n])
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-5000])


def _break_header(path):
    data = bytearray(path.read_bytes())
    data[9:20] = b"#" * 11
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_flip_feature_bytes, _truncate, _break_header],
                         ids=["4KiB-of-body-bytes", "truncated", "header"])
def test_damaged_cache_is_rebuilt_with_a_warning(tmp_path, caplog, damage):
    backbone, fresh, path = _cache(tmp_path)
    assert torch.equal(cached_input_features(backbone, Split(), "ds", "train", tmp_path), fresh)
    assert backbone.calls == 1                                   # an intact cache is used
    damage(path)
    with caplog.at_level(logging.WARNING, logger="maao.features"):
        again = cached_input_features(backbone, Split(), "ds", "train", tmp_path)
    assert backbone.calls == 2 and torch.equal(again, fresh)    # rebuilt, right numbers
    assert any("rebuilding" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert torch.equal(cached_input_features(backbone, Split(), "ds", "train", tmp_path), fresh)
    assert backbone.calls == 2                                   # and the rebuilt file is good


def test_cache_without_content_digest_is_rebuilt(tmp_path, caplog):
    from safetensors.torch import load_file, save_file

    backbone, fresh, path = _cache(tmp_path)
    tensors = load_file(path)
    del tensors["content_sha256"]
    save_file(tensors, path)
    with caplog.at_level(logging.WARNING, logger="maao.features"):
        assert torch.equal(cached_input_features(backbone, Split(), "ds", "train", tmp_path), fresh)
    assert backbone.calls == 2 and "no content digest" in caplog.text
