"""Runs shared across tables (issue 25 item 3, decision 141): with a scale's
`shared_runs`, a run's hash leaves out its table, so one configuration in two
tables is trained once, replies from one response file per scale, and shows
one number in both (the second table holds a mirror of the first's run).
Real MiniLM, a real MLflow SQLite store, the real loopback OpenAI server."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from maao.cli import main
from maao.runner import build_problem, resolve
from maao.spec import expand, load_spec

pytestmark = pytest.mark.slow

# Two tables of one scale. "ta"'s combined states the combined optimizer's
# settings one way, "tb"'s "full" another way (defaults left out, n_ctx and
# rounds stated at their defaults): the same configuration.
SCALE = """
scales:
  mini:
    backbone: minilm
    recipe: coop-mini
    problem: {{init_std: 0.0585}}
    datasets: [intent_recognition]
    shots: [1]
    seeds: [1, 2]
    budget: {{rounds: 2, steps_per_round: 3, final_steps: 4}}
    llm: {{provider: openai-compatible, model: fake-model, base_url: "http://127.0.0.1:9/v1",
          temperature: 0.7, max_tokens: 80, seed: null, rollout: per-seed-call}}
    {shared}
"""
TABLE_A = """name: ta
version: 1
methods:
  - {name: combined, method: combined,
     settings: {top_k: 5, restart: best, fallback: best_trajectory,
                instruction: {style: gpt, task_definition: true, manual_prompt: true, trajectory: true}}}
  - single_start
"""
TABLE_B = """name: tb
version: 4
methods:
  - {name: full, method: combined, problem: {n_ctx: 4}, settings: {top_k: 5}}
  - {name: long, method: single_start, problem: {n_ctx: 8}}
"""


def write_specs(root: Path, shared: str = "shared_runs: 1") -> tuple[Path, Path]:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    a, b = root / "specs" / "ta.yaml", root / "specs" / "tb.yaml"
    a.write_text(TABLE_A + SCALE.format(shared=shared))
    b.write_text(TABLE_B + SCALE.format(shared=shared))
    return a, b


def resolved_hash(spec_path: Path, row: str, seed: int = 1) -> str:
    (config,) = expand(load_spec(str(spec_path)), "mini", methods=[row], seeds=[seed])
    return resolve(config, build_problem(config)).config_hash()


def test_one_configuration_one_hash_across_tables(tmp_path, minilm, maao_cache_dir):
    a, b = write_specs(tmp_path)
    assert resolved_hash(a, "combined") == resolved_hash(b, "full")
    assert resolved_hash(a, "combined", seed=2) != resolved_hash(a, "combined")
    assert resolved_hash(a, "single_start") != resolved_hash(b, "long")      # n_ctx 4 vs 8
    # A table's own runs (no shared_runs) keep table and spec version in the hash.
    a, b = write_specs(tmp_path / "own", shared="")
    assert resolved_hash(a, "combined") != resolved_hash(b, "full")
    spec = load_spec(str(a))
    assert spec.shared_runs("mini") == 0 and spec.responses_path("mini").name == "ta-mini.jsonl"


def test_the_runs_version_is_part_of_the_hash(tmp_path, minilm, maao_cache_dir):
    a, _ = write_specs(tmp_path / "v1")
    a2, _ = write_specs(tmp_path / "v2", shared="shared_runs: 2")
    assert resolved_hash(a, "combined") != resolved_hash(a2, "combined")


def test_the_second_table_mirrors_the_first_tables_run(tmp_path, fake_llm_server, minilm, maao_cache_dir,
                                                      monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    a, b = write_specs(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    common = ["--tracking-uri", uri, "--llm-mode", "record-missing", "--llm-base-url", fake_llm_server.base_url]
    assert main(["sweep", str(a), *common]) == 0
    asked = len(fake_llm_server.chat_requests)
    assert asked == 2 * 2                  # 2 seeds x 2 rounds, each seed its own sample
    # The dry run counts the shared runs as to copy, not as to train.
    capsys.readouterr()
    assert main(["sweep", str(b), *common, "--dry-run"]) == 0
    assert ("4 in the selection, 0 finished in the store (by cell tags), 2 to train (0 with an LLM), "
            "2 to copy from another table's finished run") in capsys.readouterr().out
    assert main(["sweep", str(b), *common]) == 0
    assert "2 of them copied from another table's run" in capsys.readouterr().out
    assert len(fake_llm_server.chat_requests) == asked       # nothing asked again

    # One response file for the scale, a manifest per table: both list the same keys.
    responses = tmp_path / "responses"
    assert sorted(p.name for p in responses.iterdir()) == [
        "mini.jsonl", "mini.ta.manifest.json", "mini.tb.manifest.json"]
    manifest_a = json.loads((responses / "mini.ta.manifest.json").read_text())
    assert json.loads((responses / "mini.tb.manifest.json").read_text()) == manifest_a

    from reports.runs import load_runs

    ta = load_runs(uri, "ta", "mini", responses=responses / "mini.jsonl")
    tb = load_runs(uri, "tb", "mini", responses=responses / "mini.jsonl")
    combined = ta[ta.method == "combined"].set_index("seed").test_accuracy
    full = tb[tb.method == "full"].set_index("seed").test_accuracy
    assert list(full.index) == [1, 2] and (full == combined).all()
    assert len(tb[tb.method == "long"]) == 2                 # trained here: n_ctx 8 is another run

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    mirror = client.get_run(tb[(tb.method == "full") & (tb.seed == 1)].run_id.item())
    source = client.get_run(ta[(ta.method == "combined") & (ta.seed == 1)].run_id.item())
    assert mirror.data.tags["mirror_of"] == source.info.run_id
    assert mirror.data.tags["table"] == "tb" and mirror.data.tags["method"] == "full"
    assert mirror.data.tags["config_hash"] == source.data.tags["config_hash"]
    assert mirror.data.params == source.data.params
    for key in source.data.metrics:
        got = [(m.step, m.value) for m in client.get_metric_history(mirror.info.run_id, key)]
        assert got == [(m.step, m.value) for m in client.get_metric_history(source.info.run_id, key)], key
    artifacts = {f.path for f in client.list_artifacts(mirror.info.run_id)}
    assert {"config.json", "llm_pairs.json", "llm_transcript.json"} <= artifacts
    assert artifacts == {f.path for f in client.list_artifacts(source.info.run_id)}

    # A rerun of either table trains nothing and asks nothing.
    assert main(["sweep", str(b), *common]) == 0
    assert "0 run(s) trained, 4 skipped" in capsys.readouterr().out
    # And the replay check of both tables' manifests against the one file.
    assert main(["responses", "check", str(b)]) == 0
    assert "mini.tb.manifest.json" in capsys.readouterr().out

    # The tables' manifests commit to the shared file's replies: an edited reply is refused.
    from maao.llm import ResponseStore
    from maao.llm.errors import CorruptRecord

    lines = (responses / "mini.jsonl").read_text().splitlines(keepends=True)
    record = json.loads(lines[0])
    record["response"]["text"] = "1. an edited {}\n" + record["response"]["text"]
    lines[0] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    (responses / "mini.jsonl").write_text("".join(lines))
    with pytest.raises(CorruptRecord, match=r"mini\.t[ab]\.manifest\.json"):
        ResponseStore(responses / "mini.jsonl", cache_dir=tmp_path / "index")


def test_a_bad_shared_runs_value_is_one_line(tmp_path, capsys):
    a, _ = write_specs(tmp_path, shared="shared_runs: yes")
    assert main(["sweep", str(a), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shared_runs" in err and str(a) in err


def test_a_tables_own_run_keeps_table_and_spec_in_its_hash(tmp_path):
    # Without shared_runs the hash covers what it covered before shared runs existed.
    a, _ = write_specs(tmp_path, shared="")
    (config,) = expand(load_spec(str(a)), "mini", methods=["combined"], seeds=[1])
    assert config.shared_runs == 0 and "shared_runs" not in config.semantic()
    assert config.identity() == config.semantic()
    assert (config.identity()["table"], config.identity()["spec"]) == ("ta", "ta@v1")
    shared = replace(config, shared_runs=1).identity()
    assert "table" not in shared and "spec" not in shared and shared["shared_runs"] == 1


# Rows of the committed mini reports that are one configuration (decision 141):
# each group must show one number in every (dataset, shots, seed) its tables share.
SAME_CONFIGURATION = [
    [("table3", "combined"), ("table4", "td_mp_ot"), ("table5", "N3"), ("table6", "m10"),
     ("table7", "l2"), ("table8", "combined_len4"), ("table2", "coop_llm")],
    [("table3", "single_start"), ("table8", "gradient_len4"), ("table2", "coop")],
    [("table3", "multi_start_perturbed"), ("table4", "none")],
]


@pytest.mark.parametrize("group", SAME_CONFIGURATION, ids=lambda g: "=".join(f"{t}.{r}" for t, r in g))
def test_committed_tables_show_one_number_per_shared_configuration(group):
    import pandas as pd

    reports = Path(__file__).resolve().parent.parent / "reports"
    values: dict = {}
    for table, row in group:
        cells = pd.read_csv(reports / f"{table}_cells.csv")
        cells = cells[cells.method == row]
        assert len(cells), f"{table} has no row {row}"
        for cell in cells.itertuples():
            values.setdefault((cell.dataset, cell.shots, cell.seed), {})[f"{table}.{row}"] = cell.test_accuracy
    shared = {cell: by_table for cell, by_table in values.items() if len(by_table) > 1}
    assert len(shared) >= 10          # the tables do overlap
    assert {cell: v for cell, v in shared.items() if len(set(v.values())) > 1} == {}
