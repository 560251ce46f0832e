"""The paper's ten image datasets in CoOp's layout (KaiyangZhou/CoOp DATASETS.md).

Most come with CoOp's `split_zhou_<Name>.json`:
{"train"|"val"|"test": [[path relative to the image folder, label, classname], ...]};
FGVC-Aircraft uses its own images_variant_{train,val,test}.txt + variants.txt.
Class name of a label = the classname field with CoOp's renames applied and
"_" -> " " (CoOp's prompt learner does the replacement).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .base import Dataset, DatasetError, LabelledSplit

DATASETS_MD = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"


@dataclass(frozen=True)
class CoopSpec:
    name: str  # registry name
    title: str  # CoOp's dataset class name, for messages
    dataset_dir: str  # under data_dir
    image_dir: str  # under dataset_dir; "" = dataset_dir itself
    split_file: str  # under dataset_dir; "" for FGVC-Aircraft
    template: str  # CoOp's CUSTOM_TEMPLATES (trainers/zsclip.py)
    task: str
    rename: dict[str, str] = field(default_factory=dict)  # CoOp's NEW_CNAMES
    ignored: tuple[str, ...] = ()  # CoOp's IGNORED classes
    cat_to_name: str = ""  # label names file (Flowers): {"1": name, ...}, label = key - 1


SPECS = {
    s.name: s
    for s in (
        CoopSpec(
            "eurosat", "EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json",
            "a centered satellite photo of {}.", "satellite image classification",
            rename={
                "AnnualCrop": "Annual Crop Land",
                "Forest": "Forest",
                "HerbaceousVegetation": "Herbaceous Vegetation Land",
                "Highway": "Highway or Road",
                "Industrial": "Industrial Buildings",
                "Pasture": "Pasture Land",
                "PermanentCrop": "Permanent Crop Land",
                "Residential": "Residential Buildings",
                "River": "River",
                "SeaLake": "Sea or Lake",
            },
        ),
        CoopSpec("dtd", "DescribableTextures", "dtd", "images", "split_zhou_DescribableTextures.json",
                 "{} texture.", "texture classification"),
        CoopSpec("oxford_flowers", "OxfordFlowers", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
                 "a photo of a {}, a type of flower.", "flower species classification",
                 cat_to_name="cat_to_name.json"),
        CoopSpec("oxford_pets", "OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json",
                 "a photo of a {}, a type of pet.", "pet breed classification"),
        CoopSpec("food101", "Food101", "food-101", "images", "split_zhou_Food101.json",
                 "a photo of {}, a type of food.", "food dish classification"),
        CoopSpec("caltech101", "Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
                 "a photo of a {}.", "object classification",
                 rename={"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"},
                 ignored=("BACKGROUND_Google", "Faces_easy")),
        CoopSpec("stanford_cars", "StanfordCars", "stanford_cars", "", "split_zhou_StanfordCars.json",
                 "a photo of a {}.", "car model classification"),
        CoopSpec("fgvc_aircraft", "FGVCAircraft", "fgvc_aircraft", "images", "",
                 "a photo of a {}, a type of aircraft.", "aircraft model classification"),
        CoopSpec("sun397", "SUN397", "sun397", "SUN397", "split_zhou_SUN397.json",
                 "a photo of a {}.", "scene classification"),
        CoopSpec("ucf101", "UCF101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
                 "a photo of a person doing {}.", "human action recognition"),
    )
}


def _missing(spec: CoopSpec, expected: Path, root: Path) -> DatasetError:
    what = "and CoOp's split file " if spec.split_file else ""
    return DatasetError(
        f"{spec.title} not found: expected {expected}; download {spec.title} {what}as in CoOp's DATASETS.md "
        f"({DATASETS_MD}) into {root}/"
    )


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None


Row = tuple[str, int, str]  # (id = relative image path, original label, raw classname)


def _read_zhou_split(spec: CoopSpec, path: Path) -> dict[str, list[Row]]:
    doc = _read_json(path)
    if not isinstance(doc, dict) or any(part not in doc for part in ("train", "val", "test")):
        raise DatasetError(f"{path} is not a CoOp split file: expected keys train, val, test")
    out: dict[str, list[Row]] = {}
    for part in ("train", "val", "test"):
        rows = []
        for item in doc[part]:
            try:
                relpath, label, classname = item
                rows.append((str(relpath), int(label), str(classname)))
            except (TypeError, ValueError):
                raise DatasetError(f"{path}: {part} entry {item!r} is not [relative_path, label, classname]") from None
        out[part] = rows
    return out


def _read_aircraft(spec: CoopSpec, root: Path) -> dict[str, list[Row]]:
    variants_path = root / "variants.txt"
    if not variants_path.exists():
        raise _missing(spec, variants_path, root)
    variants = [line.strip() for line in variants_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    label_of = {v: n for n, v in enumerate(variants)}
    out: dict[str, list[Row]] = {}
    for part in ("train", "val", "test"):
        path = root / f"images_variant_{part}.txt"
        if not path.exists():
            raise _missing(spec, path, root)
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            # "<image id> <variant, may contain spaces>", as CoOp's read_data.
            imname, _, variant = line.strip().partition(" ")
            if variant not in label_of:
                raise DatasetError(f"{path}: variant {variant!r} of image {imname} is not in {variants_path}")
            rows.append((imname + ".jpg", label_of[variant], variant))
        out[part] = rows
    return out


def load_coop(spec: CoopSpec, data_dir: Path) -> Dataset:
    if not data_dir.is_dir():
        raise DatasetError(
            f"data directory {data_dir} does not exist; set MAAO_DATA_DIR or pass data_dir, "
            f"and put {spec.title} there as in CoOp's DATASETS.md ({DATASETS_MD})"
        )
    root = data_dir / spec.dataset_dir
    image_dir = root / spec.image_dir if spec.image_dir else root
    if spec.split_file:
        split_path = root / spec.split_file
        if not split_path.exists():
            raise _missing(spec, split_path, root)
        parts = _read_zhou_split(spec, split_path)
    else:
        parts = _read_aircraft(spec, root)
    if not image_dir.is_dir():
        raise _missing(spec, image_dir, root)

    # Drop CoOp's ignored classes (by classname or top folder).
    def kept(row: Row) -> bool:
        return row[2] not in spec.ignored and row[0].split("/")[0] not in spec.ignored

    parts = {p: [r for r in rows if kept(r)] for p, rows in parts.items()}

    # One class name per original label, consistent across the file.
    raw_name: dict[int, str] = {}
    for p, rows in parts.items():
        for relpath, label, classname in rows:
            if raw_name.setdefault(label, classname) != classname:
                raise DatasetError(
                    f"{spec.title}: label {label} is called both {raw_name[label]!r} and {classname!r} ({p} {relpath})"
                )
    # Labels contiguous from 0 in the original order (a dropped class leaves a gap).
    new_label = {old: n for n, old in enumerate(sorted(raw_name))}
    if spec.cat_to_name and (root / spec.cat_to_name).exists():
        cat = _read_json(root / spec.cat_to_name)
        try:
            raw_name = {old: str(cat[str(old + 1)]) for old in raw_name}
        except (KeyError, TypeError):
            raise DatasetError(f"{root / spec.cat_to_name} lacks names for some labels 1..{max(raw_name) + 1}") from None
    classnames = [spec.rename.get(raw_name[old], raw_name[old]).replace("_", " ") for old in sorted(raw_name)]

    def split(rows: list[Row]) -> LabelledSplit:
        return LabelledSplit(
            inputs=tuple(str(image_dir / r[0]) for r in rows),
            labels=tuple(new_label[r[1]] for r in rows),
            ids=tuple(r[0] for r in rows),
        )

    return Dataset(
        name=spec.name,
        classnames=classnames,
        template=spec.template,
        task=spec.task,
        modality="image",
        train=split(parts["train"]),
        val=split(parts["val"]),
        test=split(parts["test"]),
        scale="paper",
        root=root,
    )


def loader(name: str):
    spec = SPECS[name]

    def load(data_dir: Path) -> Dataset:
        return load_coop(spec, data_dir)

    load.__name__ = f"load_{name}"
    load.__doc__ = f"{spec.title} in CoOp's layout under <data_dir>/{spec.dataset_dir}/"
    return load


LOADERS = {name: loader(name) for name in SPECS}
