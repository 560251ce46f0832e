"""Check an experiment spec and the command line's selections before any work
starts: no torch, no MLflow store, no backbone. Every error is one line that
names the file and the field (a SpecError, which the CLI prints with exit 2).

`check_raw` runs inside `maao.spec.load_spec`; `check_selection` checks the
names and numbers a `maao run` / `maao sweep` asks for. The scale blocks'
settings types (`maao.settings`, learner, LLM and instruction settings) are
torch-free and checked here, once: `typed` builds them, here and in
`maao.spec.expand`. Only a method's own settings (its `Settings`, beside the
method's torch code) are checked in `expand`, still before the store opens or
any model loads.
"""
from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

TOP_KEYS = ("name", "version", "table", "description", "methods", "method_settings", "scales")
SCALE_KEYS = ("backbone", "backbone_options", "recipe", "datasets", "shots", "seeds", "llm",
              "problem", "gradient", "budget", "responses", "data_seed", "eval_every", "methods",
              "method_settings", "learners", "awaiting_recording", "shared_runs")
REQUIRED_SCALE = ("backbone", "recipe", "datasets", "shots", "seeds")
# What a scale's `learners.<kind>` block may change for rows of that learner
# (TCP runs on ViT-B/16 with its own recipe where CoOp runs on RN50), and a
# row may change for itself (Table 2's TCP rows on RN50 beside ViT-B/16).
LEARNER_SCALE_KEYS = ("backbone", "backbone_options", "recipe")
ROW_KEYS = ("name", "method", "settings", "budget", "problem", "learner", "llm") + LEARNER_SCALE_KEYS
BUDGET_OVERRIDES = ("rounds", "steps_per_round", "final_steps", "keep_total")
BUILTIN_METHODS = ("combined",)     # maao.methods._builtin; the rest are entry points


class SpecError(ValueError):
    pass


def method_names() -> set[str]:
    """Registered method names, without importing any method (or torch)."""
    from importlib.metadata import entry_points

    return set(BUILTIN_METHODS) | {ep.name for ep in entry_points(group="maao.methods")}


def dataset_names() -> set[str]:
    from .datasets.registry import DATASETS

    return set(DATASETS)


def _hint(word, known) -> str:
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _mapping(where: str, value) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _keys(where: str, value, allowed, required=()) -> dict:
    _mapping(where, value)
    for key in value:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key {key!r}{_hint(key, allowed)}; known: {sorted(allowed)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise SpecError(f"{where}: missing key(s) {missing}")
    return value


def _int(where: str, value, minimum=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: {value!r} is not an integer")
    if minimum is not None and value < minimum:
        raise SpecError(f"{where}: {value} must be >= {minimum}")
    return value


def _int_list(where: str, value, minimum=None) -> list:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: expected a non-empty list of integers, got {value!r}")
    return [_int(f"{where}[{i}]", v, minimum) for i, v in enumerate(value)]


def _names(where: str, value, known: set, what: str) -> list:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: expected a non-empty list of {what} names, got {value!r}")
    for i, v in enumerate(value):
        if v not in known:
            raise SpecError(f"{where}[{i}]: unknown {what} {v!r}{_hint(v, known)}; known: {sorted(known)}")
    return value


def _fields(cls) -> tuple:
    return tuple(f.name for f in fields(cls))


def typed(cls, values: dict | None, where: str):
    """The settings dataclass `cls` built from a spec's mapping (None stays None);
    an unknown field or a value its checks refuse is a SpecError naming `where`."""
    if values is None:
        return None
    _mapping(where, values)
    known = _fields(cls)
    unknown = set(values) - set(known)
    if unknown:
        raise SpecError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def _settings(where: str, value, cls) -> None:
    if value is not None:
        _keys(where, value, _fields(cls))


def _method_settings(where: str, settings, method: str) -> None:
    """What can be checked without the method class: the `instruction` of the
    combined optimizer (a typo there used to give a traceback)."""
    if settings is None:
        return
    _mapping(where, settings)
    if method == "combined" and settings.get("instruction") is not None:
        from .instructions import InstructionSettings

        _settings(f"{where}.instruction", settings["instruction"], InstructionSettings)


def _learner(where: str, value) -> None:
    """A learner mapping {kind: ..., settings}: kind, field names and values, torch-free."""
    from .learners.settings import LEARNER_SETTINGS, learner_settings

    _mapping(where, value)
    kind = value.get("kind", "coop")
    if kind not in LEARNER_SETTINGS:
        raise SpecError(f"{where}.kind: unknown learner {kind!r}{_hint(kind, LEARNER_SETTINGS)}; "
                        f"known: {sorted(LEARNER_SETTINGS)}")
    _settings(where, value, LEARNER_SETTINGS[kind])
    try:
        learner_settings(value)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def _row(where: str, entry, methods: set) -> str:
    if isinstance(entry, str):
        if entry not in methods:
            raise SpecError(f"{where}: unknown method {entry!r}{_hint(entry, methods)}; known: {sorted(methods)}")
        return entry
    _keys(where, entry, ROW_KEYS, required=("name", "method"))
    if entry["method"] not in methods:
        raise SpecError(f"{where}.method: unknown method {entry['method']!r}{_hint(entry['method'], methods)}; "
                        f"known: {sorted(methods)}")
    _method_settings(f"{where}.settings", entry.get("settings"), entry["method"])
    if entry.get("problem") is not None:
        _mapping(f"{where}.problem", entry["problem"])
    if entry.get("learner") is not None:
        _learner(f"{where}.learner", entry["learner"])
    if entry.get("llm") is not None:
        from .llm.settings import LLMSettings

        _settings(f"{where}.llm", entry["llm"], LLMSettings)
    for key in ("backbone", "recipe"):
        if key in entry and not isinstance(entry[key], str):
            raise SpecError(f"{where}.{key}: expected a name, got {entry[key]!r}")
    if entry.get("backbone_options") is not None:
        _mapping(f"{where}.backbone_options", entry["backbone_options"])
    budget = entry.get("budget") or {}
    _keys(f"{where}.budget", budget, BUDGET_OVERRIDES)
    for k, v in budget.items():
        if k != "keep_total":
            _int(f"{where}.budget.{k}", v, 0)
    return entry["name"]


def _rows(where: str, value, methods: set) -> list:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: expected a non-empty list of methods, got {value!r}")
    names = [_row(f"{where}[{i}]", e, methods) for i, e in enumerate(value)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"{where}: duplicate row name(s) {dup}")
    return names


def _scale(where: str, body: dict, methods: set, rows: list) -> None:
    from .llm.settings import LLMSettings
    from .settings import Budget, GradientSettings, ProblemSettings

    _keys(where, body, SCALE_KEYS, REQUIRED_SCALE)
    for key in ("backbone", "recipe"):
        if not isinstance(body[key], str):
            raise SpecError(f"{where}.{key}: expected a name, got {body[key]!r}")
    _names(f"{where}.datasets", body["datasets"], dataset_names(), "dataset")
    _int_list(f"{where}.shots", body["shots"], 1)
    _int_list(f"{where}.seeds", body["seeds"])
    if "methods" in body:
        _rows(f"{where}.methods", body["methods"], methods)
    for key in ("data_seed", "eval_every"):
        if body.get(key) is not None:
            _int(f"{where}.{key}", body[key], 0 if key == "data_seed" else 1)
    _settings(f"{where}.llm", body.get("llm"), LLMSettings)
    _llm_values(f"{where}.llm", body.get("llm"), LLMSettings)
    if body.get("backbone_options") is not None:
        _mapping(f"{where}.backbone_options", body["backbone_options"])
    typed(GradientSettings, body.get("gradient"), f"{where}.gradient")
    typed(Budget, body.get("budget"), f"{where}.budget")
    typed(ProblemSettings, body.get("problem"), f"{where}.problem")
    # Each row's problem updates the scale's (what `maao.spec.expand` builds).
    for row in body.get("methods") or rows:
        if isinstance(row, dict) and row.get("problem"):
            typed(ProblemSettings, {**(body.get("problem") or {}), **row["problem"]},
                  f"{where}: method {row['name']!r} problem")
    _method_table(f"{where}.method_settings", body.get("method_settings"), methods)
    if body.get("learners") is not None:
        from .learners.settings import LEARNER_SETTINGS

        _keys(f"{where}.learners", body["learners"], tuple(LEARNER_SETTINGS))
        for kind, block in body["learners"].items():
            _keys(f"{where}.learners.{kind}", block, LEARNER_SCALE_KEYS)
    if "responses" in body and not isinstance(body["responses"], str):
        raise SpecError(f"{where}.responses: expected a path, got {body['responses']!r}")
    if "shared_runs" in body:   # the version of the scale's runs shared across tables (maao.spec)
        _int(f"{where}.shared_runs", body["shared_runs"], 1)


def _llm_values(where: str, block, cls) -> None:
    """The values an LLMSettings refuses (e.g. rollout 'per-seed-call' with a
    fixed provider seed), as one line naming the spec field."""
    if block:
        try:
            cls(**block)
        except (TypeError, ValueError) as err:
            raise SpecError(f"{where}: {err}".replace(": llm.", ".", 1)) from None


def _method_table(where: str, table, methods: set) -> None:
    if table is None:
        return
    _keys(where, table, methods)
    for method, settings in table.items():
        _method_settings(f"{where}.{method}", settings, method)


def check_raw(raw, path: Path) -> dict:
    """The parsed YAML of a spec file; returns it unchanged or raises SpecError."""
    if raw is None:
        raise SpecError(f"{path}: empty spec (expected a mapping with keys name, version, methods, scales)")
    where = str(path)
    _keys(where, raw, TOP_KEYS, required=("name", "version", "methods", "scales"))
    _int(f"{where}: version", raw["version"], 1)
    methods = method_names()
    _rows(f"{where}: methods", raw["methods"], methods)
    _method_table(f"{where}: method_settings", raw.get("method_settings"), methods)
    scales = raw["scales"]
    if not isinstance(scales, dict) or not scales:
        raise SpecError(f"{where}: scales: expected a mapping of scale name -> settings, got {scales!r}")
    for name, body in scales.items():
        _scale(f"{where}: scales.{name}", body, methods, raw["methods"])
        if "awaiting_recording" in body:  # rows declared but not recorded yet (golden, reports skip them)
            rows = [r if isinstance(r, str) else r["name"] for r in body.get("methods") or raw["methods"]]
            _names(f"{where}: scales.{name}.awaiting_recording", body["awaiting_recording"], set(rows),
                   "row")
    return raw


def check_selection(spec, args) -> None:
    """Names and numbers of a `maao run` / `sweep` / `zero-shot` command line,
    checked against the spec (sweep: its own lists) and the registries."""
    scale = spec.scale(args.scale)
    rows = [r["name"] for r in spec.rows(args.scale)]
    where = f"{spec.path} (scale {args.scale!r})"
    if args.command == "sweep":
        for flag, given, allowed in (("--methods", args.methods, rows),
                                     ("--datasets", args.datasets, scale["datasets"]),
                                     ("--shots", args.shots, scale["shots"]),
                                     ("--seeds", args.seeds, scale["seeds"])):
            for g in given or ():
                if g not in allowed:
                    raise SpecError(f"{flag} {g!r} is not in {where}: {list(allowed)}{_hint(g, allowed)}")
        return
    datasets = dataset_names()
    if args.dataset not in datasets:
        raise SpecError(f"--dataset: unknown dataset {args.dataset!r}{_hint(args.dataset, datasets)}; "
                        f"known: {', '.join(sorted(datasets))}")
    if args.command != "run":
        return
    methods = set(rows) | method_names()
    if args.method not in methods:
        raise SpecError(f"--method: unknown method {args.method!r}{_hint(args.method, methods)}; "
                        f"available: {', '.join(sorted(methods))}")
    if args.shots < 1:
        raise SpecError(f"--shots: must be a positive number of examples per class, got {args.shots}")
    if args.n_ctx is not None and args.n_ctx < 1:
        raise SpecError(f"--n-ctx: n_ctx must be positive, got {args.n_ctx}")
