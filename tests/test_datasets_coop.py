"""Paper-scale reader of CoOp's layout, on small generated trees."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maao.datasets import DatasetError, few_shot, load_dataset
from maao.datasets.fewshot import cache_path

EUROSAT = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
           "Pasture", "PermanentCrop", "Residential", "River", "SeaLake"]


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(path)


def _write_zhou(root: Path, image_dir: str, split_file: str, classes: list[str], per_split=(5, 2, 3),
                ext=".png", classnames=None) -> None:
    """root/<image_dir>/<class>/<class>_<n><ext> and a split_zhou JSON."""
    split = {"train": [], "val": [], "test": []}
    n = 0
    for label, cls in enumerate(classes):
        for part, count in zip(split, per_split):
            for _ in range(count):
                rel = f"{cls}/{cls}_{n}{ext}"
                _png(root / image_dir / rel, n % 255)
                split[part].append([rel, label, (classnames or classes)[label]])
                n += 1
    (root / split_file).write_text(json.dumps(split))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    _write_zhou(tmp_path / "eurosat", "2750", "split_zhou_EuroSAT.json", EUROSAT)
    flowers = tmp_path / "oxford_flowers"
    _write_zhou(flowers, "jpg", "split_zhou_OxfordFlowers.json", ["c1", "c2", "c3"], classnames=["x", "y", "z"])
    (flowers / "cat_to_name.json").write_text(json.dumps({"1": "pink primrose", "2": "hard-leaved pocket orchid", "3": "canterbury bells"}))
    _write_zhou(tmp_path / "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                ["BACKGROUND_Google", "Faces", "Faces_easy", "airplanes", "sea_horse"])
    air = tmp_path / "fgvc_aircraft"
    air.mkdir()
    (air / "variants.txt").write_text("707-320\nA300B4\nDC-3\n")
    for part, start in (("train", 0), ("val", 100), ("test", 200)):
        lines = []
        for k, variant in enumerate(["707-320", "A300B4", "DC-3"] * 3):
            image = f"{1000000 + start + k}"
            _png(air / "images" / f"{image}.jpg", k)
            lines.append(f"{image} {variant}")
        (air / f"images_variant_{part}.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_eurosat_reader(data_dir):
    ds = load_dataset("eurosat", data_dir)
    assert ds.modality == "image" and ds.scale == "paper"
    assert ds.template == "a centered satellite photo of {}."
    assert ds.classnames[0] == "Annual Crop Land" and ds.classnames[9] == "Sea or Lake"
    assert ds.classnames[2] == "Herbaceous Vegetation Land"
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 20, 30)
    assert ds.train.ids[0] == "AnnualCrop/AnnualCrop_0.png"
    assert all(Path(p).is_absolute() and Path(p).exists() for p in ds.test.inputs)
    assert ds.root == data_dir / "eurosat"


def test_flowers_names_from_cat_to_name(data_dir):
    ds = load_dataset("oxford_flowers", data_dir)
    assert ds.classnames == ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]
    assert ds.template == "a photo of a {}, a type of flower."


def test_caltech_drops_background_and_faces_easy(data_dir):
    ds = load_dataset("caltech101", data_dir)
    assert ds.classnames == ["face", "airplane", "sea horse"]
    assert set(ds.train.labels) == {0, 1, 2}
    assert not any("BACKGROUND_Google" in i or "Faces_easy" in i for i in ds.train.ids + ds.test.ids)


def test_aircraft_variant_files(data_dir):
    ds = load_dataset("fgvc_aircraft", data_dir)
    assert ds.classnames == ["707-320", "A300B4", "DC-3"]
    assert ds.train.ids[0] == "1000000.jpg" and ds.train.labels[:3] == (0, 1, 2)
    assert ds.train.inputs[0] == str(data_dir / "fgvc_aircraft" / "images" / "1000000.jpg")


def test_few_shot_cache_written_reused_and_verified(data_dir):
    ds = load_dataset("eurosat", data_dir)
    fs = few_shot(ds, 4, 1)
    assert fs.class_counts(10) == [4] * 10 and set(fs.ids) <= set(ds.train.ids)
    assert few_shot(ds, 4, 1, split="val").class_counts(10) == [2] * 10  # val has only 2 per class
    path = cache_path(ds, 4, 1)
    assert path == data_dir / "eurosat" / "split_fewshot" / "shot_4-seed_1.json"
    cached = json.loads(path.read_text())
    assert cached["train"] == list(fs.ids)
    # Reused: a moved data folder keeps the same sample; a different seed differs.
    assert few_shot(load_dataset("eurosat", data_dir), 4, 1) == fs
    assert few_shot(ds, 4, 2).ids != fs.ids
    # Corrupt and stale caches raise, naming the file.
    path.write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt few-shot cache .*shot_4-seed_1.json"):
        few_shot(ds, 4, 1)
    path.write_text(json.dumps({**cached, "source_digest": "0:0"}))
    with pytest.raises(DatasetError, match="stale few-shot cache .*shot_4-seed_1.json"):
        few_shot(ds, 4, 1)
    path.write_text(json.dumps({**cached, "train": cached["train"][1:]}))
    with pytest.raises(DatasetError, match="shot_4-seed_1.json"):
        few_shot(ds, 4, 1)
    with pytest.raises(DatasetError, match="shots=6 exceeds the 5 examples of class 'Annual Crop Land' in eurosat train"):
        few_shot(ds, 6, 1)


def test_missing_dataset_message(data_dir):
    with pytest.raises(DatasetError) as exc:
        load_dataset("dtd", data_dir)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg == (
        f"DescribableTextures not found: expected {data_dir}/dtd/split_zhou_DescribableTextures.json; "
        "download DescribableTextures and CoOp's split file as in CoOp's DATASETS.md "
        f"(https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md) into {data_dir}/dtd/"
    )


def test_missing_data_dir_and_env_default(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="data directory .*nowhere does not exist"):
        load_dataset("eurosat", tmp_path / "nowhere")
    monkeypatch.setenv("MAAO_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=f"expected {tmp_path}/eurosat/split_zhou_EuroSAT.json"):
        load_dataset("eurosat")


def test_malformed_split_file(data_dir):
    (data_dir / "eurosat" / "split_zhou_EuroSAT.json").write_text(json.dumps({"train": [["a.png", 0]], "val": [], "test": []}))
    with pytest.raises(DatasetError, match="not \\[relative_path, label, classname\\]"):
        load_dataset("eurosat", data_dir)
