"""Declarative, versioned experiment specs (one YAML file per paper table).

A spec names the methods, their settings, and per scale the backbone, recipe,
datasets, shots, seeds and LLM; `expand` turns it into resolved run configs.
Bump `version` whenever a change would alter results: it is part of every
run's hash, so old runs are never mistaken for new ones.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .speccheck import SpecError, check_raw, typed

if TYPE_CHECKING:  # torch-free at import: a spec is checked before torch loads
    from .runner import RunConfig

SPEC_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "specs"
__all__ = ["Spec", "SpecError", "load_spec", "read_spec", "expand", "resolve_spec_path", "SPEC_DIR"]


@dataclass(frozen=True)
class Spec:
    name: str
    version: int
    table: str
    description: str
    methods: list
    method_settings: dict
    scales: dict
    path: Path

    def scale(self, name: str) -> dict:
        if name not in self.scales:
            raise SpecError(f"spec {self.name!r} has no scale {name!r}; it has {sorted(self.scales)}")
        return self.scales[name]

    def rows(self, scale: str) -> list:
        """The method rows of a scale: its own `methods` list where the spec gives
        one (an ablation whose settings do not fit that scale's budget), else the
        spec's."""
        return self.scale(scale).get("methods") or self.methods

    def awaiting_recording(self, scale: str) -> set:
        """Rows of the scale whose LLM replies are not recorded yet (the scale's
        `awaiting_recording`): the golden replay and the reports' coverage leave
        them out; a sweep in a recording mode runs them like any row."""
        return set(self.scale(scale).get("awaiting_recording") or ())

    def shared_runs(self, scale: str) -> int:
        """The scale's `shared_runs` version, 0 where the spec has none.

        0: a run belongs to its table (its hash covers table and spec
        version; one response file per table). N >= 1: runs are shared
        across tables (docs/power.md, decision 141): the hash covers what
        can change the result and `shared_runs: N` in place of table and
        spec version, every table of the scale reads one response file, and
        a configuration finished for one table is mirrored into the others'
        experiments, so it shows one number everywhere. Bump N in every
        spec of the scale when a change of code alters results."""
        return int(self.scale(scale).get("shared_runs") or 0)

    def responses_path(self, scale: str) -> Path:
        default = f"../responses/{scale}.jsonl" if self.shared_runs(scale) else \
            f"../responses/{self.table}-{scale}.jsonl"
        return (self.path.parent / self.scale(scale).get("responses", default)).resolve()

    def manifest_path(self, scale: str, responses: Path | None = None) -> Path:
        """The keys this table's runs use: beside the response file, one per
        table (`mini.table3.manifest.json`) where the file is the scale's."""
        path = responses or self.responses_path(scale)
        if self.shared_runs(scale):
            return path.with_name(f"{path.stem}.{self.table}.manifest.json")
        return path.with_suffix(".manifest.json")


def resolve_spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if not path.suffix:
        path = SPEC_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
        raise SpecError(f"no experiment spec {name_or_path!r} (looked for {path}); known: {known}")
    return path


def _yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None


def read_spec(path: Path):
    """A spec file's YAML with its `include:` files merged in: each included
    file (a path relative to the spec, e.g. `_defaults/mini-shared.yaml`) gives
    `scales.<scale>` defaults; a key the spec's own scale block states
    replaces the default's whole value (no deeper merge), so a spec reads as
    "the scale's defaults, except ...". Included files include nothing."""
    raw = _yaml(path)
    if not isinstance(raw, dict) or "include" not in raw:
        return raw
    includes = raw.pop("include")
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise SpecError(f"{path}: include: expected a list of files, got {includes!r}")
    defaults: dict = {}
    for i, rel in enumerate(includes):
        where = f"{path}: include[{i}]"
        file = path.parent / str(rel)
        if not isinstance(rel, str) or not file.is_file():
            raise SpecError(f"{where}: no file {rel!r} (looked for {file})")
        body = _yaml(file)
        if not isinstance(body, dict) or set(body) != {"scales"} or not isinstance(body["scales"], dict):
            raise SpecError(f"{where}: {file} must hold only `scales: {{<scale>: {{...}}}}`")
        for scale, block in body["scales"].items():
            if not isinstance(block, dict):
                raise SpecError(f"{where}: {file}: scales.{scale}: expected a mapping, got {block!r}")
            defaults.setdefault(scale, {}).update(block)
    scales = raw.get("scales")
    if isinstance(scales, dict):
        # Only the scales the spec names take defaults (a spec may define fewer).
        raw["scales"] = {name: {**defaults.get(name, {}), **own} if isinstance(own, dict) else own
                         for name, own in scales.items()}
    return raw


def load_spec(name_or_path: str) -> Spec:
    path = resolve_spec_path(name_or_path)
    raw = read_spec(path)
    check_raw(raw, path)  # every key, name and number, before any work starts
    for scale, body in raw["scales"].items():
        if "methods" in body:
            body["methods"] = [_row(m, path) for m in body["methods"]]
    return Spec(raw["name"], int(raw["version"]), raw.get("table", raw["name"]),
                raw.get("description", ""), [_row(m, path) for m in raw["methods"]],
                dict(raw.get("method_settings") or {}), dict(raw["scales"]), path)


def _row(entry, path) -> dict:
    """A methods entry: a registry name, or a row {name, method, settings,
    budget, problem, learner} (e.g. the combined method without OT, or with
    cosine projection: `problem` updates the scale's ProblemSettings; or on
    TCP: `learner: {kind: tcp}`; or with another optimizer LLM: `llm` updates
    the scale's LLM settings, e.g. {model: gpt-4-1106-preview}; `backbone`,
    `backbone_options`, `recipe` win over the scale's and its learner block's,
    e.g. TCP on RN50 where the scale runs TCP on ViT-B/16)."""
    if isinstance(entry, str):
        return {"name": entry, "method": entry, "settings": None, "budget": {}, "problem": {},
                "learner": {}, "llm": {}}
    optional = ("settings", "budget", "problem", "learner", "llm", "backbone", "backbone_options", "recipe")
    unknown = set(entry) - {"name", "method", *optional}
    if "name" not in entry or "method" not in entry or unknown:
        raise SpecError(f"{path}: a methods entry needs 'name' and 'method' (and optionally "
                        f"{', '.join(repr(k) for k in optional)}); got {entry}")
    return {"settings": None, "budget": {}, "problem": {}, "learner": {}, "llm": {}, **entry}


def learner_settings_or_error(values: dict, where: str) -> None:
    from .learners.settings import learner_settings

    try:
        learner_settings(values)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def _check_learner_fits(learner: dict, dataset: str, where: str) -> None:
    """Table 1's LM learner runs on language-model tasks only, and they on it."""
    from .datasets.lm_tasks import is_lm_task

    if (learner.get("kind") == "lm") != is_lm_task(dataset):
        need = "{kind: lm}" if is_lm_task(dataset) else "a class-name learner (coop, tcp)"
        raise SpecError(f"{where}: dataset {dataset!r} needs {need}, got {learner or '{}'}")


def _check_method(method: str, settings: dict, where: str) -> None:
    """The method's own settings (its Settings dataclass), before any run starts."""
    from .methods import get_method

    try:
        get_method(method).from_dict(settings)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def _check_backbone_options(name: str, options: dict | None, where: str) -> None:
    """Option names against the backbone's constructor (a typo used to surface
    as a TypeError once the sweep had created the store)."""
    import importlib
    import inspect

    from .backbones import BACKBONES

    module, cls, _ = BACKBONES[name]
    params = inspect.signature(getattr(importlib.import_module(module), cls).__init__).parameters
    known = [p for p in params if p != "self"]
    for key in options or {}:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"{where}: unknown option {key!r} for backbone {name!r}{hint}; known: {known}")


def expand(spec: Spec, scale: str, datasets=None, shots=None, seeds=None, methods=None,
           strict: bool = True) -> list[RunConfig]:
    """Run configs of a spec; `strict` limits selections to the spec's own lists
    (a sweep), otherwise any value is allowed (a single `maao run`)."""
    from .backbones import BACKBONES
    from .presets import RECIPES
    from .runner import RunConfig
    from .settings import Budget, GradientSettings, ProblemSettings

    body = spec.scale(scale)
    where = f"{spec.path}: scales.{scale}"
    for key, known in (("backbone", BACKBONES), ("recipe", RECIPES)):
        if body[key] not in known:
            raise SpecError(f"{where}.{key}: unknown {key} {body[key]!r}; known: {sorted(known)}")

    def pick(given, allowed, what):
        if not given:
            return list(allowed)
        for g in given if strict else ():
            if g not in allowed:
                raise SpecError(f"{what} {g!r} is not in spec {spec.name!r} ({scale}): {list(allowed)}")
        return list(given)

    configs = []
    scale_problem = dict(body.get("problem") or {})
    # Settings were checked when the spec loaded (speccheck.check_raw); built here.
    gradient = typed(GradientSettings, body.get("gradient"), f"{where}.gradient")
    budget = typed(Budget, body.get("budget"), f"{where}.budget")
    rows = {row["name"]: row for row in spec.rows(scale)}
    for name in pick(methods, list(rows), "method"):
        row = rows[name] if name in rows else _row(name, spec.path)
        problem = typed(ProblemSettings, {**scale_problem, **row["problem"]},
                        f"{where}: method {name!r} problem")
        method = row["method"]
        learner = dict(row["learner"] or {})
        learner_settings_or_error(learner, f"{where}: method {name!r} learner")
        # The scale's block for this learner kind may change backbone and recipe,
        # and the row its own.
        on = {"backbone": body["backbone"], "backbone_options": body.get("backbone_options"),
              "recipe": body["recipe"],
              **((body.get("learners") or {}).get(learner.get("kind", "coop")) or {}),
              **{k: row[k] for k in ("backbone", "backbone_options", "recipe") if k in row}}
        for key, known in (("backbone", BACKBONES), ("recipe", RECIPES)):
            if on[key] not in known:
                raise SpecError(f"{where}.learners: unknown {key} {on[key]!r}; known: {sorted(known)}")
        kind_block = (body.get("learners") or {}).get(learner.get("kind", "coop")) or {}
        _check_backbone_options(on["backbone"], on["backbone_options"],
                                f"{where}.learners.{learner.get('kind', 'coop')}.backbone_options"
                                if "backbone_options" in kind_block else f"{where}.backbone_options")
        # A row's own settings win; else the spec's, updated by the scale's
        # (e.g. the mini scale's perturbation, calibrated to its backbone).
        settings = row["settings"] if row["settings"] is not None else {
            **(spec.method_settings.get(method) or {}),
            **((body.get("method_settings") or {}).get(method) or {})}
        _check_method(method, settings, f"{spec.path}: method {name!r} settings")
        for dataset in pick(datasets, body["datasets"], "dataset"):
            _check_learner_fits(learner, dataset, f"{where}: method {name!r} learner")
            for k in pick(shots, body["shots"], "shots"):
                for seed in pick(seeds, body["seeds"], "seed"):
                    configs.append(RunConfig(
                        method=method, dataset=dataset, shots=int(k), seed=int(seed), scale=scale,
                        table=spec.table, backbone=on["backbone"],
                        backbone_options=dict(on["backbone_options"] or {}),
                        recipe=on["recipe"], problem=problem, learner=learner,
                        gradient=gradient, budget=budget,
                        method_settings=dict(settings or {}),
                        label=name if name != method else "",
                        budget_overrides=dict(row["budget"]),
                        data_seed=body.get("data_seed"), eval_every=body.get("eval_every"),
                        spec=f"{spec.name}@v{spec.version}", shared_runs=spec.shared_runs(scale),
                        llm={**(body.get("llm") or {}), **(row["llm"] or {})}))
    return configs
