"""Recorded LLM responses: a sorted JSONL committed to git, plus an optional
diskcache index for fast local reads.

Source of truth is the JSONL, one record per line, sorted by key:

    {"key": sha256, "schema": 1, "request": {...semantic request...},
     "response": {"text": ..., "finish_reason": ...},
     "meta": {"model_snapshot", "fingerprint", "recorded_at", "latency_s",
              "usage", "position": [run_key, call_no] | null,
              "also_at": [[run_key, call_no], ...] (only when shared)}}

The key is the sha256 of the canonical JSON of the semantic request (see
build_request): never object reprs, client versions, timeouts or credentials
(the lessons from DSPy, LangChain, LiteLLM and lm-eval-harness, see
docs/llm.md). No pickle anywhere: the JSONL is text and the diskcache index
uses a JSON disk that refuses pickled rows.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import difflib
import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..filelock import exclusive
from ..redact import redact_obj
from .errors import CorruptRecord, PositionalFallbackWarning, ReplayMiss
from .numbers import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, request_number_differences
from .settings import LLMSettings

log = logging.getLogger(__name__)

STORE_SCHEMA = 1
MODES = ("replay", "record-missing", "refresh", "live")
RECORD_FIELDS = ("key", "schema", "request", "response", "meta")
REQUEST_FIELDS = (
    "schema", "provider", "model", "messages", "temperature", "top_p",
    "max_tokens", "seed", "stop", "sample_index",
)


# --------------------------------------------------------------------- keys
def canonical_json(obj) -> str:
    """The one serialisation that is hashed: independent of dict order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def build_request(settings: LLMSettings, messages: list[dict], sample_index: int = 0) -> dict:
    """The semantic request: everything that changes the answer, nothing else."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise TypeError("messages must be a list of dicts like {'role': 'user', 'content': '...'}")
    request = {"schema": STORE_SCHEMA, **settings.semantic()}
    # json round trip: a plain JSON copy (tuples -> lists), rejects non-JSON values early.
    request["messages"] = json.loads(canonical_json(messages))
    request["sample_index"] = int(sample_index)
    return request


def request_key(request: dict) -> str:
    """sha256 hex of the canonical JSON of a semantic request (see build_request)."""
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str | None:
    if not path.exists():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def jsonl_digests(path: Path) -> tuple[str | None, dict[str, str]]:
    """(sha256 of the file, {key: sha256 of its line}) in one pass; the key is
    read from the line's start (records are canonical JSON: "key" comes first),
    else parsed. Lines that do not parse are left to read_records to report."""
    if not path.exists():
        return None, {}
    whole, lines = hashlib.sha256(), {}
    with open(path, "rb") as f:
        for line in f:
            whole.update(line)
            body = line.rstrip(b"\n")
            if body.startswith(b'{"key":"') and body[72:73] == b'"':
                key = body[8:72].decode("ascii", "replace")
            else:
                try:
                    key = json.loads(body)["key"]
                except (ValueError, TypeError, KeyError):
                    continue
            lines[str(key)] = hashlib.sha256(body).hexdigest()
    return whole.hexdigest(), lines


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def make_record(request: dict, text: str, finish_reason, meta: dict) -> dict:
    return {
        "key": request_key(request),
        "schema": STORE_SCHEMA,
        "request": request,
        "response": {"text": text, "finish_reason": finish_reason},
        "meta": meta,
    }


# ------------------------------------------------------------ JSONL parsing
def _validate_record(obj, path: Path, lineno: int) -> dict:
    where = f"{path}:{lineno}"
    if not isinstance(obj, dict):
        raise CorruptRecord(f"{where}: a record must be a JSON object, got {type(obj).__name__}")
    missing = [f for f in RECORD_FIELDS if f not in obj]
    if missing:
        raise CorruptRecord(f"{where}: record lacks field(s) {missing}")
    if obj["schema"] != STORE_SCHEMA:
        raise CorruptRecord(
            f"{where}: record schema {obj['schema']!r}, this code reads schema {STORE_SCHEMA}"
        )
    request, response, meta = obj["request"], obj["response"], obj["meta"]
    if not isinstance(request, dict) or sorted(request) != sorted(REQUEST_FIELDS):
        raise CorruptRecord(f"{where}: 'request' must be an object with fields {list(REQUEST_FIELDS)}")
    if not isinstance(response, dict) or not isinstance(response.get("text"), str):
        raise CorruptRecord(f"{where}: 'response' must be an object with a string 'text'")
    if not isinstance(meta, dict):
        raise CorruptRecord(f"{where}: 'meta' must be an object")
    actual = request_key(request)
    if obj["key"] != actual:
        raise CorruptRecord(
            f"{where}: key {obj['key']!r} is not the sha256 of its request ({actual}); "
            "the request was edited or the line is damaged"
        )
    return obj


def _parse_records(path: Path) -> tuple[dict[str, dict], dict[str, int]]:
    """(records, {key: line number}); raises CorruptRecord on any bad line."""
    records: dict[str, dict] = {}
    lines_of: dict[str, int] = {}
    if not path.exists():
        return records, lines_of
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                raise CorruptRecord(f"{path}:{lineno}: empty line (records are one JSON object per line)")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorruptRecord(f"{path}:{lineno}: not valid JSON ({exc.msg}): {line[:80]!r}") from None
            rec = _validate_record(obj, path, lineno)
            if rec["key"] in records:
                raise CorruptRecord(
                    f"{path}:{lineno}: duplicate key {rec['key']} (first at line {lines_of[rec['key']]})"
                )
            records[rec["key"]] = rec
            lines_of[rec["key"]] = lineno
    return records, lines_of


def read_records(path: Path) -> dict[str, dict]:
    """All records of a JSONL file; raises CorruptRecord on any bad line (never
    skips) and on any reply that differs from its digest in the manifest."""
    records, lines_of = _parse_records(path)
    bad = reply_mismatches(path, records, lines_of)
    if bad:
        raise CorruptRecord(bad[0])
    return records


# ------------------------------------------------ reply digests (manifest)
def manifest_path(records_path: Path) -> Path:
    """The manifest beside a responses JSONL: x.jsonl -> x.manifest.json."""
    return Path(records_path).with_suffix(".manifest.json")


def manifest_paths(records_path: Path) -> list[Path]:
    """Every manifest that commits to replies of a responses JSONL: the one
    beside it (x.manifest.json) and, for a file shared by a scale's tables,
    each table's (x.<table>.manifest.json; decision 141)."""
    path = Path(records_path)
    own = [manifest_path(path)] if manifest_path(path).exists() else []
    return own + sorted(path.parent.glob(f"{path.stem}.*.manifest.json"))


def reply_digest(record: dict) -> str:
    """sha256 of a record's reply (its canonical `response` object): what a
    replay serves. The key covers the request; this covers the answer."""
    return hashlib.sha256(canonical_json(record["response"]).encode("utf-8")).hexdigest()


def manifest_digests(path: Path) -> dict[str, str | None]:
    """{key: reply digest} of a manifest (a JSON object); a manifest made
    before digests (a JSON list of keys) gives None for each key."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorruptRecord(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, list) and all(isinstance(k, str) for k in data):
        return dict.fromkeys(data)
    if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return data
    raise CorruptRecord(f"{path}: a manifest must be a JSON object {{key: reply sha256}}")


def reply_mismatches(path: Path, records=None, lines_of=None) -> list[str]:
    """One line per record whose reply differs from the digest a manifest
    of `path` commits to (none without a manifest)."""
    manifests = manifest_paths(path)
    if not manifests:
        return []
    if records is None:
        records, lines_of = _parse_records(path)
    bad, seen = [], set()
    for manifest in manifests:
        for key, want in sorted(manifest_digests(manifest).items(), key=lambda kv: lines_of.get(kv[0], 0)):
            rec = records.get(key)
            if want is not None and rec is not None and reply_digest(rec) != want and key not in seen:
                seen.add(key)
                bad.append(f"{path}:{lines_of[key]}: the reply of key {key} differs from its digest in "
                           f"{manifest.name} (edited or damaged); restore the file (git checkout -- {path}) "
                           f"or re-record that reply (--llm-mode refresh)")
    return bad


def update_manifest_digests(path: Path, records: dict[str, dict]) -> None:
    """After a recording tool rewrote replies: the manifest's digests of the
    keys it lists follow the new replies (hand edits never pass here)."""
    for manifest in manifest_paths(path):
        digests = manifest_digests(manifest)
        new = {k: (reply_digest(records[k]) if k in records else v) for k, v in digests.items()}
        if new != digests:
            write_text_atomic(manifest, json.dumps(dict(sorted(new.items())), indent=1) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_records_atomic(path: Path, records: dict[str, dict]) -> None:
    """Sorted by key, one compact line each; temp file + os.replace so a crash
    never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for key in sorted(records):
                f.write(canonical_json(records[key]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------- diskcache (no pickle)
def _safe_json_disk_class():
    import diskcache
    from diskcache.core import MODE_PICKLE

    class SafeJSONDisk(diskcache.JSONDisk):
        """diskcache.JSONDisk still falls back to pickle.load for rows marked as
        pickled (CVE-2025-69872 applies to a tampered cache dir); refuse them."""

        def get(self, key, raw):
            if not raw:
                raise CorruptRecord("diskcache index holds a pickled key; delete the cache directory")
            return super().get(key, raw)

        def fetch(self, mode, filename, value, read):
            if mode == MODE_PICKLE:
                raise CorruptRecord("diskcache index holds a pickled value; delete the cache directory")
            return super().fetch(mode, filename, value, read)

    return SafeJSONDisk


# ------------------------------------------------------------------- store
@dataclass
class Hit:
    record: dict
    how: str  # "exact" | "positional"
    differences: list[tuple[str, str]] = field(default_factory=list)


def open_response_store(records_path: Path | str, mode: str) -> "ResponseStore":
    """A sweep's response store, its index cached under $MAAO_CACHE_DIR/llm-index:
    the one way the CLI, a Ray worker and the golden check open it."""
    cache = Path(os.environ.get("MAAO_CACHE_DIR", Path.home() / ".cache" / "maao")) / "llm-index"
    return ResponseStore(records_path, cache_dir=cache, mode=mode)


class ResponseStore:
    """Recorded responses; see the module docstring and docs/llm.md.

    mode: replay (default; a miss raises ReplayMiss), record-missing (call
    live only on a miss and append), refresh (always call, overwrite),
    live (always call, record nothing).
    """

    def __init__(
        self,
        records_path: Path | str,
        cache_dir: Path | str | None = None,
        mode: str = "replay",
        *,
        rel_tol: float = DEFAULT_REL_TOL,
        abs_tol: float = DEFAULT_ABS_TOL,
        positional_fallback: bool = True,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.records_path = Path(records_path)
        self.mode = mode
        self.rel_tol, self.abs_tol = rel_tol, abs_tol
        self.positional_fallback = positional_fallback
        self.used_keys: set[str] = set()
        self.used_keys_known = True   # False once a reused run's keys could not be read
        self._line_sha: dict[str, str] = {}  # key -> sha256 of its JSONL line (checks the index)
        self._records: dict[str, dict] | None = None
        self._by_position: dict[tuple[str, int], list[str]] | None = None
        self._cache = None
        if cache_dir is not None:
            self._open_cache(Path(cache_dir))
        else:
            self._records = read_records(self.records_path)

    def __repr__(self) -> str:
        return f"ResponseStore({str(self.records_path)!r}, mode={self.mode!r})"

    # ------------------------------------------------------------ loading
    def _open_cache(self, cache_dir: Path) -> None:
        import diskcache

        # One sub-index per records file, so two stores sharing a cache dir
        # do not keep invalidating each other.
        sub = hashlib.sha256(str(self.records_path.resolve()).encode()).hexdigest()[:16]
        self._cache = diskcache.Cache(str(cache_dir / sub), disk=_safe_json_disk_class())
        self._sync_cache()

    def _source_id(self, jsonl_sha: str | None) -> str:
        """What the index was built from: the JSONL and the manifest whose
        digests it was checked against."""
        return "+".join([str(jsonl_sha)] + [str(file_sha256(m)) for m in manifest_paths(self.records_path)])

    def _sync_cache(self) -> None:
        """Rebuild the index when the JSONL (or its manifest) differs from the one it was built from."""
        jsonl_sha, self._line_sha = jsonl_digests(self.records_path)
        sha = self._source_id(jsonl_sha)
        if self._cache.get("__source_sha256__", default="unset") == sha:
            return
        records = read_records(self.records_path)  # strict: a corrupt file never reaches the cache
        self._fill_cache(records, sha)
        self._records = records

    def _fill_cache(self, records: dict[str, dict], sha: str | None) -> None:
        self._cache.clear()
        for key, rec in records.items():
            self._cache.set("rec:" + key, rec)
        self._cache.set("__source_sha256__", sha)  # last: a crash above leaves it stale -> rebuilt

    def records(self) -> dict[str, dict]:
        """All records (loaded from the JSONL on first use when a cache is in front)."""
        if self._records is None:
            self._records = read_records(self.records_path)
        return self._records

    def keys(self) -> set[str]:
        return set(self.records())

    def get(self, key: str) -> dict | None:
        if self._records is not None:
            return self._records.get(key)
        want = self._line_sha.get(key)
        if want is None:
            return None  # not in the JSONL, whatever the index holds
        rec = self._cache.get("rec:" + key)
        if rec is not None and hashlib.sha256(canonical_json(rec).encode()).hexdigest() == want:
            return rec
        # Not the committed line: a hand-formatted line, or a tampered/stale index.
        records = read_records(self.records_path)
        if rec != records.get(key):
            log.warning("LLM index %s: the entry for %s differs from its record in %s; "
                        "rebuilding the index from the JSONL", self._cache.directory, key[:12],
                        self.records_path)
            self._fill_cache(records, self._source_id(file_sha256(self.records_path)))
        self._records = records
        return records.get(key)

    def _position_index(self) -> dict[tuple[str, int], list[str]]:
        if self._by_position is None:
            index: dict[tuple[str, int], list[str]] = {}
            for key in sorted(self.records()):
                meta = self.records()[key]["meta"]
                for pos in [meta.get("position")] + list(meta.get("also_at") or []):
                    if pos:
                        index.setdefault((str(pos[0]), int(pos[1])), []).append(key)
            self._by_position = index
        return self._by_position

    # ------------------------------------------------------------- lookup
    def lookup(self, request: dict, position: tuple[str, int] | None = None) -> Hit | None:
        """Exact content-key hit, else (replay / record-missing) a positional
        fallback when the request differs only in printed numbers."""
        key = request_key(request)
        rec = self.get(key)
        if rec is not None:
            return Hit(rec, "exact")
        if not (self.positional_fallback and position is not None):
            return None
        for cand_key in self._position_index().get((str(position[0]), int(position[1])), []):
            cand = self.records()[cand_key]
            diffs = request_number_differences(cand["request"], request, self.rel_tol, self.abs_tol)
            if diffs is not None:
                shown = ", ".join(f"{a} -> {b}" for a, b in diffs[:10])
                more = f" (+{len(diffs) - 10} more)" if len(diffs) > 10 else ""
                msg = (
                    f"LLM replay by position {tuple(position)}: request {key[:12]} has no record; "
                    f"served record {cand_key[:12]} whose request differs only in numbers: {shown}{more}"
                )
                warnings.warn(msg, PositionalFallbackWarning, stacklevel=3)
                log.warning(msg)
                return Hit(cand, "positional", diffs)
        return None

    def mark_used(self, key: str) -> None:
        self.used_keys.add(key)

    # ------------------------------------------------------------- saving
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers (parallel runs recording into one file) with a
        flock on the directory: no lock file appears next to the JSONL."""
        self.records_path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.records_path.parent, create=False):
            yield

    def save(self, record: dict) -> None:
        """Add or overwrite one record; re-reads the file under the lock so
        records written meanwhile by another process are kept."""
        if self.mode not in ("record-missing", "refresh"):
            raise RuntimeError(f"store mode {self.mode!r} does not record")
        # The request is hashed into the key and holds no secret; the reply
        # and its metadata come from a server that may echo the API key.
        record = {**record, "response": redact_obj(record["response"]), "meta": redact_obj(record["meta"])}
        with self._locked():
            records = read_records(self.records_path)  # corrupt -> raise, never overwrite
            records[record["key"]] = record
            write_records_atomic(self.records_path, records)
            update_manifest_digests(self.records_path, records)  # refresh: a listed reply re-recorded
            self._after_write(records)

    def add_position(self, key: str, position: tuple[str, int] | None) -> None:
        """record-missing: an exact hit reached from a new position is indexed
        under that position too (meta.also_at), so positional fallback works
        for every run that uses the record."""
        if position is None or self.mode not in ("record-missing", "refresh"):
            return
        pos = [str(position[0]), int(position[1])]
        rec = self.get(key)
        if rec is None or rec["meta"].get("position") == pos or pos in (rec["meta"].get("also_at") or []):
            return
        with self._locked():
            records = read_records(self.records_path)
            rec = records[key]
            if rec["meta"].get("position") is None:
                rec["meta"]["position"] = pos
            else:
                rec["meta"]["also_at"] = sorted((rec["meta"].get("also_at") or []) + [pos])
            write_records_atomic(self.records_path, records)
            self._after_write(records)

    def _after_write(self, records: dict[str, dict]) -> None:
        self._records = records
        self._by_position = None
        if self._cache is not None:
            sha, self._line_sha = jsonl_digests(self.records_path)
            self._fill_cache(records, self._source_id(sha))

    # --------------------------------------------------------- miss report
    def miss_error(self, request: dict, position: tuple[str, int] | None = None) -> ReplayMiss:
        key = request_key(request)
        lines = [
            f"no recorded LLM response for key {key} in {self.records_path} (mode='replay').",
            f"position: {tuple(position) if position else None}",
            "request:",
            *_render_request(request, max_chars=600),
        ]
        if position is not None and self.positional_fallback:
            at = self._position_index().get((str(position[0]), int(position[1])), [])
            lines.append(
                f"records at this position: {at} (not served: their requests differ in more than "
                f"numbers within rel_tol={self.rel_tol}, abs_tol={self.abs_tol})" if at
                else "records at this position: none"
            )
        nearest = self.nearest(request)
        if nearest is None:
            lines.append("nearest recorded request: none (the store is empty)")
        else:
            rec, ratio = nearest
            lines.append(
                f"nearest recorded request: key {rec['key']} (similarity {ratio:.3f}, "
                f"position {rec['meta'].get('position')}); diff recorded -> requested:"
            )
            diff = list(
                difflib.unified_diff(
                    _render_request(rec["request"]), _render_request(request), "recorded", "requested", n=1, lineterm=""
                )
            )
            lines.extend(diff[:40] + ([f"... ({len(diff) - 40} more diff lines)"] if len(diff) > 40 else []))
        lines.append(
            "To record it, run once with mode='record-missing' against a live server, then commit the JSONL."
        )
        return ReplayMiss("\n".join(lines))

    def nearest(self, request: dict) -> tuple[dict, float] | None:
        """The recorded request most similar to this one (difflib ratio over
        canonical JSON; cheap upper bounds first so large stores stay fast)."""
        records = self.records()
        if not records:
            return None
        # One matcher with the target as seq2: its index is built once, not per record.
        sm = difflib.SequenceMatcher(None, autojunk=False)
        sm.set_seq2(canonical_json(request))
        texts = {key: canonical_json(rec["request"]) for key, rec in records.items()}

        def score(key, how):
            sm.set_seq1(texts[key])
            return getattr(sm, how)()

        shortlist = sorted(texts, key=lambda k: -score(k, "real_quick_ratio"))[:200]
        shortlist = sorted(shortlist, key=lambda k: -score(k, "quick_ratio"))[:10]
        ratio, key = max((score(k, "ratio"), k) for k in shortlist)
        return records[key], ratio


def _render_request(request: dict, max_chars: int | None = None) -> list[str]:
    """Human-readable lines of a request (for miss messages and diffs)."""
    out = [
        f"  {k}: {json.dumps(request.get(k), ensure_ascii=False)}"
        for k in REQUEST_FIELDS
        if k != "messages"
    ]
    for i, m in enumerate(request.get("messages") or []):
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if max_chars is not None and len(text) > max_chars:
            text = text[: max_chars // 2] + f" [... {len(text) - max_chars} chars omitted ...] " + text[-max_chars // 2 :]
        out.append(f"  messages[{i}] role={m.get('role')}:")
        out.extend("    | " + line for line in text.splitlines() or [""])
    return out
