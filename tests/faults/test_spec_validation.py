"""Issue 12, items 5 and 9: a bad spec or command line fails at once, before
torch is imported or the MLflow store is created: exit 2, one line naming
the file and the field, no traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maao.spec import SPEC_DIR, load_spec, read_spec
from maao.speccheck import BUILTIN_METHODS, SpecError, method_names

# One fresh interpreter checks every case in turn (torch must still be absent
# after each), which keeps the suite fast.
PROBE = """
import contextlib, io, json, sys
from pathlib import Path
from maao.cli import main
results = []
for argv, db in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv + ["--tracking-uri", f"sqlite:///{db}"])
        except SystemExit as exit:
            rc = exit.code
    results.append([rc, err.getvalue(), "torch" in sys.modules, Path(db).exists()])
print(json.dumps(results))
"""


def run_cases(tmp: Path, cases: dict) -> dict:
    todo = [[argv, str(tmp / f"{i}.db")] for i, (argv, _) in enumerate(cases.values())]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(todo)], capture_output=True, text=True,
                          timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(cases, json.loads(done.stdout.strip().splitlines()[-1])))


def check_early_error(result, names):
    rc, err, torch_imported, db_created = result
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maao: error: "), err
    assert "Traceback" not in err
    assert not torch_imported, "torch was imported before the input was checked"
    assert not db_created, "the MLflow store was created for bad input"
    for name in names:
        assert name in lines[0], (name, lines[0])


def spec_file(tmp_path: Path, edit) -> Path:
    raw = edit(read_spec(SPEC_DIR / "table3.yaml"))  # its included defaults merged in
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "bad.yaml"
    path.write_text("" if raw is None else yaml.safe_dump(raw))
    return path


def _set(raw, dotted: str, value):
    *parents, last = dotted.split(".")
    node = raw
    for p in parents:
        node = node[p]
    node[last] = value
    return raw


# The index an appended row gets: after table3's own rows.
TABLE3_ROWS = len(yaml.safe_load((SPEC_DIR / "table3.yaml").read_text())["methods"])

BAD_SPECS = {
    "unknown top-level key": (lambda r: {**r, "method_setings": r.pop("method_settings")},
                              ["method_setings", "did you mean 'method_settings'"]),
    "typo inside llm": (lambda r: _set(r, "scales.mini.llm.temprature", 0.5),
                        ["scales.mini.llm", "temprature"]),
    "typo inside instruction": (
        lambda r: _set(r, "method_settings.combined.instruction.trajectroy", False),
        ["method_settings.combined.instruction", "trajectroy"]),
    "empty spec": (lambda r: None, ["empty spec"]),
    "seed not a number": (lambda r: _set(r, "scales.mini.seeds", ["one"]), ["scales.mini.seeds[0]", "'one'"]),
    "zero shots": (lambda r: _set(r, "scales.mini.shots", [0, 4]), ["scales.mini.shots[0]"]),
    "unknown method row": (lambda r: _set(r, "methods", r["methods"] + ["gradient_magic"]),
                           [f"methods[{TABLE3_ROWS}]", "gradient_magic"]),
    "unknown dataset": (lambda r: _set(r, "scales.mini.datasets", ["bbc_news", "bbc_newz"]),
                        ["scales.mini.datasets[1]", "bbc_newz"]),
    "scale key typo": (lambda r: _set(r, "scales.mini.seedz", [1]), ["scales.mini", "seedz"]),
    # Settings types of the scale blocks (maao.settings) are checked torch-free too.
    "gradient value": (lambda r: _set(r, "scales.mini.gradient", {"lr": -1}), ["scales.mini.gradient", "lr"]),
    "problem value": (lambda r: _set(r, "scales.mini.problem", {"n_ctx": 0}), ["scales.mini.problem", "n_ctx"]),
    "missing include": (lambda r: {**r, "include": ["_defaults/nope.yaml"]}, ["include[0]", "nope.yaml"]),
}


BAD_ARGV = {
    "unknown dataset": (["run", "--method", "single_start", "--dataset", "no_such_dataset", "--shots", "1"],
                        ["no_such_dataset"]),
    "zero shots": (["run", "--method", "single_start", "--dataset", "bbc_news", "--shots", "0"], ["--shots"]),
    "unknown method": (["run", "--method", "gradient_magic", "--dataset", "bbc_news", "--shots", "1"],
                       ["gradient_magic"]),
    "unknown spec": (["run", "--method", "single_start", "--dataset", "bbc_news", "--shots", "1",
                      "--spec", "table99"], ["table99"]),
    "zero n_ctx": (["run", "--method", "single_start", "--dataset", "bbc_news", "--shots", "1", "--n-ctx", "0"],
                   ["n_ctx"]),
    "sweep dataset not in spec": (["sweep", "table3", "--datasets", "eurosat"], ["--datasets", "eurosat"]),
    "sweep shots not in spec": (["sweep", "table3", "--shots", "2"], ["--shots", "2"]),
    "sweep method typo": (["sweep", "table3", "--methods", "combined", "llm_onyl"],
                          ["llm_onyl", "did you mean 'llm_only'"]),
    "unknown scale": (["sweep", "table3", "--scale", "huge"], ["huge"]),
    "zero-shot unknown dataset": (["zero-shot", "--dataset", "nope"], ["nope"]),
}


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    """Every bad spec and bad command line, run in one fresh interpreter."""
    tmp = tmp_path_factory.mktemp("early")
    cases = {}
    for case, (edit, names) in BAD_SPECS.items():
        path = spec_file(tmp / case.replace(" ", "_"), edit)
        cases["spec: " + case] = (["sweep", str(path)], [str(path), *names])
    cases.update({"argv: " + k: v for k, v in BAD_ARGV.items()})
    results = run_cases(tmp, cases)
    return {case: (results[case], cases[case][1]) for case in cases}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_fails_before_any_work(early, case):
    check_early_error(*early["spec: " + case])


@pytest.mark.parametrize("case", sorted(BAD_ARGV))
def test_bad_command_line_fails_before_torch(early, case):
    check_early_error(*early["argv: " + case])


def test_bad_method_setting_is_one_line_before_the_store(tmp_path):
    """A setting only the method class knows (checked after torch, before MLflow)."""
    path = spec_file(tmp_path, lambda r: _set(r, "method_settings.llm_only.proposals_per_iter", 3))
    ((rc, err, _, db_created),) = run_cases(tmp_path, {"x": (["sweep", str(path)], [])}).values()
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and "proposals_per_iter" in err and "llm_only" in err
    assert not db_created


def test_committed_specs_are_valid_and_expand():
    from maao.spec import expand

    for path in sorted(SPEC_DIR.glob("*.yaml")):
        spec = load_spec(str(path))
        for scale in spec.scales:
            assert expand(spec, scale), (path, scale)


def test_method_names_match_the_registry():
    from maao.methods import available_methods

    assert method_names() == set(available_methods())
    assert set(BUILTIN_METHODS) <= method_names()


def test_yaml_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmethods: [a, b\n")
    with pytest.raises(SpecError) as exc:
        load_spec(str(path))
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
