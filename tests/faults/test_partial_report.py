"""Issue 12, item 8: a subset sweep never overwrites the committed full table,
and a report lacking cells of its spec says so in its caption."""
from __future__ import annotations

import argparse
import itertools
import sys

import pytest

from benchmarks import table as table_cli
from maao.spec import load_spec


def fill_store(uri: str, table: str, keep=lambda cell: True) -> int:
    """Finished runs (tags + test_accuracy only) for the spec's cells that `keep` selects."""
    from mlflow.tracking import MlflowClient

    spec = load_spec(table)
    body = spec.scale("mini")
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(f"maao-{table}-mini")
    n = 0
    for i, cell in enumerate(itertools.product([r["name"] for r in spec.rows("mini")], body["datasets"],
                                               body["shots"], body["seeds"])):
        if not keep(cell):
            continue
        method, dataset, shots, seed = cell
        run = client.create_run(exp, tags={"table": table, "scale": "mini", "method": method,
                                           "dataset": dataset, "shots": str(shots), "seed": str(seed)})
        client.log_metric(run.info.run_id, "test_accuracy", 50.0 + (i * 7919 % 97) / 10)
        client.set_terminated(run.info.run_id, "FINISHED")
        n += 1
    return n


@pytest.fixture
def out_root(tmp_path, monkeypatch):
    """reports/ redirected to a temporary directory (the committed files stay untouched)."""
    import reports.method_table as mt

    root = tmp_path / "reports"
    monkeypatch.setattr(mt, "DEFAULT_OUT", root)
    return root


def run_reports(argv):
    from reports.__main__ import main

    return main(argv)


def cells_of(table: str) -> int:
    """The committed spec's mini cells (rows x datasets x shots x seeds)."""
    spec = load_spec(table)
    body = spec.scale("mini")
    return len(spec.rows("mini")) * len(body["datasets"]) * len(body["shots"]) * len(body["seeds"])


def test_partial_store_writes_beside_not_over_the_committed_table(tmp_path, out_root, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kept = fill_store(uri, "table4", keep=lambda cell: cell[1] == "intent_recognition" and cell[3] == 1)
    assert kept == 4            # the four rows of one (dataset, shots, seed)
    assert run_reports(["table4", "--tracking-uri", uri]) == 0
    assert not (out_root / "table4.md").exists() and not (out_root / "table4_cells.csv").exists()
    md = (out_root / "out" / "table4.md").read_text()
    total = cells_of("table4")
    assert f"INCOMPLETE: {total - kept} of the {total}" in md and "(none, bbc_news, 4, 1)" in md
    assert "INCOMPLETE" in (out_root / "out" / "table4.tex").read_text()
    assert "have no finished run" in capsys.readouterr().err


def test_complete_store_writes_the_committed_table(tmp_path, out_root):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert fill_store(uri, "table4") == cells_of("table4")
    assert run_reports(["table4", "--tracking-uri", uri]) == 0
    md = (out_root / "table4.md").read_text()
    assert "INCOMPLETE" not in md and not (out_root / "out").exists()


def test_explicit_out_is_honoured_and_still_flags_missing_cells(tmp_path, out_root):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kept = fill_store(uri, "table4", keep=lambda cell: cell[3] != 3)
    assert run_reports(["table4", "--tracking-uri", uri, "--out", str(tmp_path / "mine")]) == 0
    total = cells_of("table4")
    assert total - kept == 8    # seed 3 of four rows x two datasets
    assert f"INCOMPLETE: 8 of the {total}" in (tmp_path / "mine" / "table4.md").read_text()
    assert not out_root.exists()


def _plan(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("table")
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--out")
    parser.add_argument("--tracking-uri")
    args, rest = parser.parse_known_args(argv)
    return table_cli.plan(args, rest)


def test_subset_sweep_reports_to_its_own_directory():
    # The README's subset example (tox -e table3 -- --datasets ... --methods ...).
    steps, out = _plan(["table3", "--datasets", "intent_recognition", "--seeds", "1", "--shots", "1",
                        "--methods", "single_start", "combined"])
    sweep, report = steps
    assert sweep[:4] == [sys.executable, "-m", "maao.cli", "sweep"]
    assert out == "reports/out" and report[-2:] == ["--out", "reports/out"]
    steps, out = _plan(["table3", "--seeds=1"])
    assert out == "reports/out"
    steps, out = _plan(["table3", "--seeds", "1", "--out", "x"])
    assert out == "x" and steps[1][-2:] == ["--out", "x"]
    steps, out = _plan(["table3"])
    assert "--out" not in steps[1]       # the reports CLI decides: reports/, or reports/out/ if incomplete


def test_processes_start_together_at_one_thread_each_and_a_failure_is_the_exit_status(tmp_path, monkeypatch):
    # benchmarks.table --processes N: N copies of the sweep at MAAO_THREADS = cores // N.
    monkeypatch.delenv("MAAO_THREADS", raising=False)
    monkeypatch.setattr(table_cli.os, "cpu_count", lambda: 2)
    script = ("import os, sys, pathlib; d = pathlib.Path(sys.argv[1]); "
              "(d / str(os.getpid())).write_text(os.environ['MAAO_THREADS']); sys.exit(int(sys.argv[2]))")
    assert table_cli.run_together([sys.executable, "-c", script, str(tmp_path), "0"], 2) == 0
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["1", "1"]
    assert table_cli.run_together([sys.executable, "-c", script, str(tmp_path), "3"], 2) == 3


def test_processes_keep_a_thread_count_that_is_set(tmp_path, monkeypatch):
    # tox's table environments set MAAO_THREADS=2 (the goldens' count) with
    # --processes 2: each process must run at 2, not at cores // N.
    monkeypatch.setenv("MAAO_THREADS", "2")
    monkeypatch.setattr(table_cli.os, "cpu_count", lambda: 2)
    script = ("import os, sys, pathlib; "
              "(pathlib.Path(sys.argv[1]) / str(os.getpid())).write_text(os.environ['MAAO_THREADS'])")
    assert table_cli.run_together([sys.executable, "-c", script, str(tmp_path)], 2) == 0
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["2", "2"]


def test_processes_below_one_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        table_cli.main(["table3", "--processes", "0"])
    assert exit_.value.code == 2 and "--processes: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("code, status", [(0, "FINISHED"), (2, "FAILED"), (130, "KILLED")])
def test_the_shared_sweep_parent_ends_with_every_process_s_outcome(tmp_path, code, status):
    # Each of N sweep processes ends the shared parent as it stops; the last
    # one's FINISHED must not hide another's failure (benchmarks.table --processes).
    from maao.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    parent = tracker.sweep_run("maao-table3-mini", "table3 mini sweep", {"table": "table3", "scale": "mini"})
    tracker.end_sweep(parent, "FINISHED")       # the process that stopped last
    args = argparse.Namespace(table="table3", scale="mini", tracking_uri=uri)
    assert table_cli.settle_sweep_parent(args, code) == parent
    assert tracker.client.get_run(parent).info.status == status
