"""Run one (method, dataset, shots, seed) configuration, tracked in MLflow.

The configuration is fully resolved before anything runs; its canonical JSON
hash names the run, so a finished run is skipped on re-run and every LLM call
of a run has a stable position (run hash, call number) in the response store.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import torch

from .gradient import GradientSettings
from .llm.prices import usage_metrics
from .methods import Budget, RunContext, RunLog, get_method
from .run_record import RunRecord
from .problem import ProblemSettings, PromptProblem
from .table_views import COMPARE_METRIC, COMPARE_PARAMS
from .tracking import NOTE, PARENT, Tracker

log = logging.getLogger(__name__)

# Parts of the LLM settings that change where/how a call is made, not what is
# asked: excluded from the run hash (the response store key excludes them too).
_LLM_TRANSPORT = ("base_url", "timeout_s", "max_retries", "backoff_s", "api_key_env")


@dataclass(frozen=True)
class RunConfig:
    method: str
    dataset: str
    shots: int
    seed: int
    scale: str = "mini"
    table: str = "adhoc"
    spec: str = ""                               # "table3@v1": part of the hash
    backbone: str = "minilm"
    backbone_options: dict = field(default_factory=dict)
    recipe: str = "coop-mini"
    problem: ProblemSettings = field(default_factory=ProblemSettings)
    # The prompt learner, {"kind": "tcp", ...settings} (maao.learners.settings);
    # {} = CoOp with its defaults.
    learner: dict = field(default_factory=dict)
    gradient: GradientSettings | None = None    # None: the recipe's
    budget: Budget | None = None                # None: N, m from the recipe, M by shots
    method_settings: dict = field(default_factory=dict)
    llm: dict = field(default_factory=dict)      # maao.llm.LLMSettings fields
    # An ablation row: its own name (the MLflow `method` tag) and budget changes,
    # e.g. {"rounds": 1} or {"steps_per_round": 100, "keep_total": True}.
    label: str = ""
    budget_overrides: dict = field(default_factory=dict)
    # Figure 2: a fixed training set (few-shot sample `data_seed`) while `seed`
    # varies the initialisation; and a test-accuracy curve every `eval_every` steps.
    data_seed: int | None = None
    eval_every: int | None = None
    # The scale's runs version where runs are shared across tables (the spec's
    # `shared_runs`), 0 where a run belongs to its table: see identity().
    shared_runs: int = 0

    def __post_init__(self):
        if self.shots <= 0:
            raise ValueError(f"shots must be positive, got {self.shots}")

    def semantic(self) -> dict:
        d = asdict(self)
        d["llm"] = {k: v for k, v in sorted(self.llm.items()) if k not in _LLM_TRANSPORT}
        for optional in ("label", "budget_overrides", "data_seed", "eval_every", "learner", "shared_runs"):
            # absent unless used, so hashes of runs recorded before they existed stay valid
            if not d[optional]:
                del d[optional]
        if d["gradient"]:
            for optional in GradientSettings.OPTIONAL:
                if d["gradient"].get(optional) is None:
                    d["gradient"].pop(optional, None)
        return d

    @property
    def name(self) -> str:
        """The row this run belongs to (the MLflow `method` tag)."""
        return self.label or self.method

    @property
    def sample_seed(self) -> int:
        """The seed of the few-shot sample: `data_seed` where fixed, else `seed`."""
        return self.seed if self.data_seed is None else self.data_seed

    def identity(self) -> dict:
        """What the run hash covers.

        A table's own run (`shared_runs` 0): the semantic configuration, its
        table and spec version included. A run shared across tables: what
        can change its result, each part resolved to its settings (so
        Table 4's "td_mp_ot" that states the combined optimizer's defaults
        and Table 3's "combined" that states them otherwise are one run),
        and the scale's runs version in place of table, spec version, row
        name and the budget overrides (the resolved budget covers them).
        Call it on a resolved config (`resolve`: the budget filled in)."""
        d = self.semantic()
        if not self.shared_runs:
            return d
        from .learners.settings import learner_settings

        for per_table in ("table", "spec", "label"):
            d.pop(per_table, None)
        if self.budget is not None:     # resolved: the budget says what the overrides did
            d.pop("budget_overrides", None)
        d["method_settings"] = asdict(get_method(self.method).from_dict(self.method_settings).settings)
        d["learner"] = asdict(learner_settings(self.learner))
        return d

    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def experiment(self) -> str:
        return f"maao-{self.table}-{self.scale}"


@dataclass
class RunSummary:
    config: RunConfig
    skipped: bool
    metrics: dict
    seconds: float
    run_id: str
    busy: bool = False      # another live process is training this configuration (run_id)
    llm_replayed: int = 0   # LLM calls answered from the response store (not live)
    mirrored: bool = False  # a copy of the run another table's sweep trained (maao.shared_runs)


@lru_cache(maxsize=4)
def _backbone(name: str, options_json: str):
    from .backbones import load_backbone

    return load_backbone(name, **json.loads(options_json))


@lru_cache(maxsize=16)
def _dataset(name: str, data_dir: str | None):
    from .datasets import load_dataset

    return load_dataset(name, data_dir=data_dir)


def build_problem(config: RunConfig, data_dir=None, cache_dir=None) -> PromptProblem:
    from .datasets import few_shot

    dataset = _dataset(config.dataset, str(data_dir) if data_dir else None)
    if getattr(dataset, "is_lm_task", False):   # Table 1: the input runs through the encoder
        from .datasets.lm_tasks import train_subset
        from .lm_problem import LMPromptProblem

        train = train_subset(dataset, config.shots, config.sample_seed)  # <= shots per class
        backbone = _backbone(config.backbone, json.dumps(config.backbone_options, sort_keys=True))
        return LMPromptProblem(backbone, dataset, train, config.problem, learner=config.learner)
    train = few_shot(dataset, config.shots, config.sample_seed)
    backbone = _backbone(config.backbone, json.dumps(config.backbone_options, sort_keys=True))
    return PromptProblem(backbone, dataset, train, config.problem, cache_dir=cache_dir,
                         learner=config.learner)


def check_inputs(configs, data_dir=None) -> None:
    """Every dataset of the configs loads (a paper set: from its data folder)
    and every mini few-shot sample is stored: checked before the store is
    opened, so that a missing seed or --data-dir fails before any run trains
    (a DatasetError, one line)."""
    from .datasets import few_shot
    from .datasets.base import DatasetError

    seen = set()
    for config in configs:
        if (config.dataset, config.shots, config.sample_seed) in seen:
            continue
        seen.add((config.dataset, config.shots, config.sample_seed))
        try:
            dataset = _dataset(config.dataset, str(data_dir) if data_dir else None)
        except DatasetError as err:
            if data_dir:
                raise
            raise DatasetError(f"{err} (no --data-dir given: the default is $MAAO_DATA_DIR, else ~/data)") from None
        if dataset.scale == "mini" and not getattr(dataset, "is_lm_task", False):
            few_shot(dataset, config.shots, config.sample_seed)   # reads the stored file


def train_size(config: RunConfig, data_dir=None) -> int:
    """The number of training examples of a run, without loading its encoder
    (what `resolve` needs of the problem; `maao sweep --dry-run` uses it)."""
    dataset = _dataset(config.dataset, str(data_dir) if data_dir else None)
    if getattr(dataset, "is_lm_task", False):
        from .datasets.lm_tasks import train_subset

        return len(train_subset(dataset, config.shots, config.sample_seed).labels)
    from .datasets import few_shot

    return len(few_shot(dataset, config.shots, config.sample_seed).labels)


def resolve(config: RunConfig, problem: PromptProblem) -> RunConfig:
    """Fill recipe defaults (gradient settings, budget) so the hash covers them."""
    return resolve_for(config, len(problem.train_y))


def resolve_for(config: RunConfig, n_train: int) -> RunConfig:
    """`resolve` for a run of `n_train` training examples."""
    from .presets import get_recipe

    recipe = get_recipe(config.recipe).for_dataset(config.dataset)
    gradient = config.gradient or recipe.gradient
    budget = config.budget or Budget(
        recipe.rounds, recipe.steps_per_round,
        recipe.final_steps(config.shots, n_train, gradient))
    if config.budget_overrides:
        o = dict(config.budget_overrides)
        unknown = set(o) - {"rounds", "steps_per_round", "final_steps", "keep_total"}
        if unknown:
            raise ValueError(f"unknown budget override(s) {sorted(unknown)}")
        rounds = o.get("rounds", budget.rounds)
        per_round = o.get("steps_per_round", budget.steps_per_round)
        final = o.get("final_steps", budget.final_steps)
        if o.get("keep_total"):  # Table 6: m*N + M constant
            if rounds * per_round > budget.total_steps:
                raise ValueError(
                    f"keep_total: {rounds} rounds x {per_round} steps = {rounds * per_round} steps "
                    f"exceed this run's total budget of {budget.total_steps} steps "
                    f"({config.dataset}, {config.shots} shots, recipe {config.recipe}); "
                    f"choose a smaller steps_per_round or a larger budget")
            final = budget.total_steps - rounds * per_round
        budget = Budget(rounds, per_round, final)
    return replace(config, gradient=gradient, budget=budget)


def execute(config: RunConfig, tracker: Tracker, store=None, data_dir=None, cache_dir=None,
            force: bool = False, progress: bool = False, parent_run_id: str | None = None) -> RunSummary:
    """Run one configuration unless a finished identical run exists.
    `parent_run_id`: the sweep's parent run, under which the run is nested
    (a reused finished run too); it is not part of the hash."""
    method_cls = get_method(config.method)
    method = method_cls.from_dict(config.method_settings)
    problem = build_problem(config, data_dir, cache_dir)
    config = resolve(config, problem)
    key = config.config_hash()

    llm = reusable = None
    if method_cls.uses_llm:
        from . import provenance
        from .llm import LLMClient, LLMSettings

        if store is None:
            raise ValueError(f"method {config.method!r} needs an LLM response store")
        llm = LLMClient(LLMSettings(**config.llm), store, run_seed=config.seed)
        # A finished run stands for this one only if its replies are the store's;
        # live and refresh modes ask the endpoint again, so they reuse none.
        replays = store.mode in ("replay", "record-missing")
        reusable = lambda run: replays and provenance.reusable(run, store)  # noqa: E731
    tags = {"table": config.table, "scale": config.scale, "method": config.name,
            "optimizer": config.method,
            "dataset": config.dataset, "shots": config.shots, "seed": config.seed,
            "backbone": config.backbone, "config_hash": key,
            "data_seed": config.sample_seed}
    if llm is not None:   # a run without an LLM carries no LLM tags or params
        tags.update(llm_model=config.llm.get("model", ""), **provenance.start_tags(store.mode))
    if parent_run_id:
        tags[PARENT] = parent_run_id
    name = f"{config.name}/{config.dataset}/{config.shots}shot/seed{config.seed}"
    claim = tracker.claim(config.experiment, key, name, tags, reusable=reusable, force=force)
    if claim.state == "finished":
        if parent_run_id:
            tracker.adopt(parent_run_id, claim.run)
        if llm is not None:   # the manifest of a resumed sweep lists the reused run's keys too
            pairs = provenance.pairs_of(claim.run)
            store.used_keys.update(key for key, _ in pairs or ())
            store.used_keys_known &= pairs is not None
        return RunSummary(config, True, dict(claim.run.data.metrics), 0.0, claim.run_id)
    if claim.state == "busy":
        return RunSummary(config, True, {}, 0.0, claim.run_id, busy=True)
    run_id = claim.run_id
    if config.shared_runs and not force:
        mirrored = _mirror_if_trained(config, tracker, run_id, key, tags, reusable, store, llm is not None)
        if mirrored is not None:
            return mirrored
    start = time.perf_counter()
    try:
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        runlog = RunLog(eval_every=config.eval_every)
        if progress:
            from tqdm import tqdm

            runlog.progress = tqdm(total=config.budget.total_steps, desc=name, unit="step",
                                   leave=False)
        ctx = RunContext(problem, config.gradient, config.budget, generator, runlog, key, llm,
                         target_model=_model_phrase(problem), task=_task_phrase(problem))
        result = method.run(ctx)
        if runlog.progress is not None:
            runlog.progress.close()
        metrics = evaluate_result(problem, result)
        metrics.update(runlog.counters)
        metrics["seconds"] = time.perf_counter() - start
        artifacts = {"config.json": config.semantic(), "final_prompt.json": _prompt_record(problem, result)}
        for kind, entries in runlog.records.items():
            artifacts[f"{kind}.json"] = entries
        end_tags = {}
        if llm is not None:
            artifacts["llm_transcript.json"] = llm.transcript
            artifacts["llm_pairs.json"] = provenance.used_pairs(llm.transcript)
            metrics["llm_calls"] = len(llm.transcript)
            metrics.update(usage_metrics(llm.transcript, config.llm.get("model")))   # tokens, cost (USD)
            end_tags = provenance.finish_tags(store, llm.transcript)
        params = config.semantic() if llm else {k: v for k, v in config.semantic().items() if k != "llm"}
        # What MLflow's compare page plots by default: the first three differing
        # params, sorted (capitals first), against the first metric a run logged
        # (Tracker.finish writes these first); maao.table_views, issue 26 item 4.
        params = {**dict(zip(COMPARE_PARAMS, (config.name, str(config.seed), str(config.shots)))), **params}
        metrics[COMPARE_METRIC] = metrics["test_accuracy"]
        record = RunRecord.build(name, params, runlog.metrics, metrics, artifacts, {**tags, **end_tags})
        try:
            record = _readable(record, config, runlog.metrics)
        except Exception:  # noqa: BLE001 - a picture or a description never costs a trained run
            log.exception("run %s: description / loss curve / rounds.md not made", name)
        tracker.finish(run_id, record)
    except BaseException as err:
        tracker.fail(run_id, err)
        raise
    replayed = sum(e["source"] != "live" for e in llm.transcript) if llm else 0
    return RunSummary(config, False, metrics, metrics["seconds"], run_id, llm_replayed=replayed)


def _mirror_if_trained(config, tracker, run_id, key, tags, reusable, store, uses_llm):
    """A run shared across tables that another table's sweep trained: the
    claimed run becomes its mirror (maao.shared_runs), skipped like a
    finished run. None where no such run exists (this process trains it)."""
    from . import provenance, shared_runs

    source = shared_runs.find_source(tracker, config.scale, key, config.experiment, reusable)
    if source is None:
        return None
    try:
        metrics = shared_runs.mirror(tracker, run_id, source, tags, _mirror_note(config))
    except BaseException as err:
        tracker.fail(run_id, err)
        raise
    if uses_llm:   # the manifest of this table lists the keys its mirrored runs use
        pairs = provenance.pairs_of(source)
        store.used_keys.update(k for k, _ in pairs or ())
        store.used_keys_known &= pairs is not None
    return RunSummary(config, True, metrics, 0.0, run_id, mirrored=True)


def _mirror_note(config) -> str:
    return (f"{config.name} in {config.table} ({config.dataset}, {config.shots} shots, seed {config.seed}): "
            f"the same configuration (hash {config.config_hash()}, runs version {config.shared_runs}).")


def _readable(record: RunRecord, config: RunConfig, step_metrics: list) -> RunRecord:
    """What the MLflow UI shows a reader (maao/run_views.py), made from the
    record's cleaned texts: the loss curve and the rounds as text, the
    description and final-prompt tags."""
    from . import run_views

    art = record.artifacts
    rounds = art.get("rounds.json") or []
    prompt = run_views.final_prompt_text(art["final_prompt.json"])
    marks = run_views.restarts(config.method, rounds, config.budget.steps_per_round, config.budget.rounds)
    views = {}
    png = run_views.loss_curve_png(record.name, step_metrics, marks)
    if png is not None:
        views["loss_curve.png"] = png
    if rounds:
        views["rounds.md"] = run_views.rounds_markdown(record.name, rounds, art.get("llm_transcript.json", []))
    note = run_views.run_note(record.tags, record.final_metrics, prompt, marks)
    return record.with_views(views, {NOTE: note, "final_prompt": prompt})


def _model_phrase(problem) -> str:
    """How the instruction names the target model ("CLIP", "MiniLM sentence embedding")."""
    return problem.backbone.model_phrase


def _task_phrase(problem) -> str:
    """The task as the instruction names it: Fig. 3 says "image classification"
    for every image set; a mini text set names its own task ("news topic
    classification")."""
    dataset = problem.dataset
    return "image classification" if dataset.modality == "image" else dataset.task


def majority_accuracy(labels) -> float:
    """Accuracy (%) of always predicting the most frequent class: a reference line."""
    counts = torch.bincount(torch.as_tensor(labels))
    return counts.max().item() * 100.0 / len(labels)


def evaluate_result(problem, result) -> dict:
    """Final metrics, the test split evaluated once after training."""
    if hasattr(problem, "select_result"):   # Table 1: last or best-dev state (a setting)
        result = problem.select_result(result)
    if result.prompt is not None:
        problem.learner.load_extra_state(result.learner_state)   # TCP's trained meta-net
        train_loss, train_acc = problem.evaluate(result.prompt[None], "train")
        test_loss, test_acc = problem.evaluate(result.prompt[None], "test")
    else:
        train_loss, train_acc = problem.evaluate_templates([result.template], "train")
        test_loss, test_acc = problem.evaluate_templates([result.template], "test")
    return {"train_loss": train_loss.item(), "train_accuracy": train_acc.item(),
            "test_loss": test_loss.item(), "test_accuracy": test_acc.item(),
            "test_majority_accuracy": majority_accuracy(problem.split("test")[1].cpu())}


def _prompt_record(problem, result) -> dict:
    if result.prompt is not None:
        return {"kind": "soft", "projected": problem.project(result.prompt[None])[0],
                "vectors": result.prompt.tolist()}
    return {"kind": "template", "template": result.template}
