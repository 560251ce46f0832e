"""Issue 21, item 1: a reply edited in a responses JSONL is never served.

The key of a record is the hash of its request; the manifest beside the
JSONL commits to the sha256 of every reply. Reading the records checks them:
a mismatch is one line naming file, line and key (exit 2 from `maao`),
`maao responses check` lists every edited reply, and the reports refuse the
file instead of taking the edited replies as the recorded ones."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maao.llm.errors import CorruptRecord
from maao.llm.store import ResponseStore, make_record, manifest_paths, read_records

REPO = Path(__file__).resolve().parents[2]
RESPONSES = REPO / "benchmarks" / "responses"
LINE = 17   # the line whose reply is edited


def table3_responses() -> Path:
    from maao.spec import load_spec

    return load_spec("table3").responses_path("mini")


def copy_with_manifests(source: Path, tmp_path: Path) -> Path:
    """The JSONL and every manifest committing to it (one per table where the
    file is the scale's: mini.table3.manifest.json, ...), copied to tmp_path."""
    for manifest in manifest_paths(source):
        shutil.copy(manifest, tmp_path / manifest.name)
    shutil.copy(source, tmp_path / source.name)
    return tmp_path / source.name


def edited_copy(tmp_path: Path, source: Path | None = None) -> tuple[Path, str]:
    """A copy of a committed JSONL and its manifests with one reply changed by
    hand (the request, and so the key, untouched); returns (path, key)."""
    source = source or table3_responses()
    jsonl = tmp_path / source.name
    for manifest in manifest_paths(source):
        shutil.copy(manifest, tmp_path / manifest.name)
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[LINE - 1])
    record["response"]["text"] = "1. a photo of a {}.\n" + record["response"]["text"]
    lines[LINE - 1] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    jsonl.write_text("".join(lines), encoding="utf-8")
    return jsonl, record["key"]


def test_every_committed_reply_has_its_digest():
    """Every committed JSONL has a manifest (table8-mini had none), and the
    manifest commits to each of its records' replies."""
    from maao.llm.store import manifest_digests, reply_digest

    for jsonl in sorted(RESPONSES.glob("*.jsonl")):
        manifests = manifest_paths(jsonl)    # the scale's file: one per table (decision 141)
        assert manifests, f"{jsonl.name} has no manifest"
        digests = {}
        for manifest in manifests:
            for key, digest in manifest_digests(manifest).items():
                assert digests.setdefault(key, digest) == digest, (manifest.name, key)
        records = read_records(jsonl)
        assert set(digests) == set(records), jsonl.name
        assert all(digests[k] == reply_digest(r) for k, r in records.items()), jsonl.name


def test_an_edited_reply_stops_a_run_before_the_store(tmp_path):
    jsonl, key = edited_copy(tmp_path)
    db = tmp_path / "mlflow.db"
    done = subprocess.run(
        [sys.executable, "-m", "maao.cli", "run", "--method", "combined", "--dataset", "intent_recognition",
         "--shots", "1", "--seed", "1", "--responses", str(jsonl), "--tracking-uri", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**__import__("os").environ, "MAAO_CACHE_DIR": str(tmp_path / "cache"), "MAAO_THREADS": "1"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"{jsonl}:{LINE}:" in lines[0] and key in lines[0] and "digest" in lines[0], lines[0]
    assert not db.exists()


def test_responses_check_lists_the_edited_reply(tmp_path):
    jsonl, key = edited_copy(tmp_path)
    done = subprocess.run([sys.executable, "-m", "maao.cli", "responses", "check", "table3",
                           "--responses", str(jsonl)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr[-2000:])
    assert f"edited  {jsonl}:{LINE}: the reply of key {key}" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    clean = subprocess.run([sys.executable, "-m", "maao.cli", "responses", "check", "table3"],
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and "0 missing" in clean.stdout and "0 edited" in clean.stdout, clean.stdout


def test_the_reports_refuse_an_edited_reply(tmp_path):
    from reports.runs import ReportError, _provenance_check

    jsonl, key = edited_copy(tmp_path)
    with pytest.raises(ReportError) as err:
        _provenance_check(jsonl)
    assert f"{jsonl}:{LINE}:" in str(err.value) and key in str(err.value)


def test_the_index_in_front_of_the_jsonl_does_not_hide_an_edit(tmp_path):
    """The diskcache index built from the committed file is not served once
    the file is edited."""
    jsonl = copy_with_manifests(table3_responses(), tmp_path)
    ResponseStore(jsonl, cache_dir=tmp_path / "index")        # index built from the good file
    edited, key = edited_copy(tmp_path)
    assert edited == jsonl
    with pytest.raises(CorruptRecord, match=f"{LINE}: the reply of key {key}"):
        ResponseStore(jsonl, cache_dir=tmp_path / "index")


def test_re_recording_a_reply_keeps_its_digest(tmp_path):
    """refresh overwrites a listed reply on purpose: the manifest follows."""
    from maao.llm.store import manifest_digests, reply_digest

    jsonl = copy_with_manifests(table3_responses(), tmp_path)
    store = ResponseStore(jsonl, mode="refresh")
    old = next(iter(store.records().values()))
    new = make_record(old["request"], "1. a new reply of a {}.", "stop", old["meta"])
    store.save(new)
    assert read_records(jsonl)[old["key"]]["response"]["text"] == "1. a new reply of a {}."
    listing = [m for m in manifest_paths(jsonl) if old["key"] in manifest_digests(m)]
    assert listing and all(manifest_digests(m)[old["key"]] == reply_digest(new) for m in listing)
