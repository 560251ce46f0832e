"""Issue 21, item 6: bad input that the torch-free check cannot see (it needs
the backbone's constructor, the stored few-shot files or the data folder)
still fails before the MLflow store is created: exit 2, one line naming
the file and the field. An error once the sweep has begun leaves its parent
run FAILED (an interrupt leaves it KILLED)."""
from __future__ import annotations

import pytest
from test_spec_validation import _set, run_cases, spec_file

pytestmark = pytest.mark.slow


def one_line_before_the_store(result, names):
    rc, err, _torch, db_created = result
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maao: error: ") and "Traceback" not in err, err
    assert not db_created, "the MLflow store was created for bad input"
    for name in names:
        assert name in lines[0], (name, lines[0])


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("late")
    options = spec_file(tmp / "options", lambda r: _set(r, "scales.mini.backbone_options", {"devise": "cpu"}))
    seed = spec_file(tmp / "seed", lambda r: _set(r, "scales.mini.seeds", [1, 27]))
    nodata = tmp / "no-data"
    nodata.mkdir()
    cases = {
        "misspelt backbone option": (["sweep", str(options)],
                                     [str(options), "scales.mini.backbone_options", "'devise'",
                                      "did you mean 'device'"]),
        "seed without a stored split": (["sweep", str(seed)], [str(seed), "seed=27", "stored: "]),
        "paper scale without its data folder": (
            ["sweep", "table3", "--scale", "paper", "--data-dir", str(nodata)], ["table3.yaml", str(nodata)]),
        "run: seed without a stored split": (
            ["run", "--method", "single_start", "--dataset", "bbc_news", "--shots", "1", "--seed", "29"],
            ["seed=29"]),
    }
    results = run_cases(tmp, cases)
    return {case: (results[case], cases[case][1]) for case in cases}


@pytest.mark.parametrize("case", ["misspelt backbone option", "seed without a stored split",
                                  "paper scale without its data folder", "run: seed without a stored split"])
def test_fails_before_the_store_is_created(late, case):
    one_line_before_the_store(*late[case])


def test_an_error_during_the_sweep_leaves_its_parent_failed(tmp_path):
    """A row whose budget does not fit (found once its problem is built, after
    the sweep's parent run exists): exit 2, one line, the parent FAILED."""
    from mlflow.tracking import MlflowClient

    def edit(raw):
        raw["methods"] = [{"name": "too_long", "method": "single_start",
                           "budget": {"rounds": 1, "steps_per_round": 100000, "keep_total": True}}]
        raw["scales"]["mini"].update(datasets=["intent_recognition"], shots=[1], seeds=[1])
        return raw

    path = spec_file(tmp_path, edit)
    ((rc, err, _, db_created),) = run_cases(tmp_path, {"x": (["sweep", str(path)], [])}).values()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "keep_total" in err, err
    assert db_created
    client = MlflowClient(f"sqlite:///{tmp_path / '0.db'}")
    exp = client.get_experiment_by_name("maao-table3-mini")
    (parent,) = client.search_runs([exp.experiment_id], "tags.run_kind = 'sweep'")
    assert parent.info.status == "FAILED"
