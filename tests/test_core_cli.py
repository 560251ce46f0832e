"""The `maao` command line: help, and one-line errors with exit status 2 for bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from maao.cli import main


@pytest.fixture(scope="module")
def common(tmp_path_factory, maao_cache_dir):
    from maao.tracking import Tracker

    tmp = tmp_path_factory.mktemp("cli")
    Tracker(f"sqlite:///{tmp / 'mlflow.db'}")   # create the tables now: MLflow logs while it does
    return ["--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--responses", str(tmp / "r.jsonl"),
            "--cache-dir", str(maao_cache_dir / "features")]


def test_help_in_process(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "sweep", "zero-shot", "responses", "llm"):
        assert command in out
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--method", "--dataset", "--shots", "--seed", "--n-ctx", "--scale", "--llm-mode"):
        assert option in out


def test_help_subprocess():
    done = subprocess.run([sys.executable, "-m", "maao.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: maao" in done.stdout and "run" in done.stdout


def test_missing_required_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--dataset", "bbc_news", "--shots", "1"])
    assert exc.value.code == 2
    assert "--method" in capsys.readouterr().err


def _error(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (code, captured.out, err)
    assert err.startswith("maao: error: ")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def _run(method="single_start", dataset="intent_recognition", shots="1", *extra):
    return ["run", "--method", method, "--dataset", dataset, "--shots", shots, *extra]


def test_unknown_dataset(capsys, common):
    err = _error(capsys, _run("single_start", "no_such_dataset", "1", *common))
    assert "no_such_dataset" in err


def test_unknown_method(capsys, common):
    err = _error(capsys, _run("gradient_magic", "intent_recognition", "1", *common))
    assert "gradient_magic" in err and "single_start" in err       # names the known ones


@pytest.mark.slow
def test_too_many_shots(capsys, common):
    err = _error(capsys, _run("single_start", "intent_recognition", "1000", *common))
    assert "1000" in err


def test_zero_n_ctx(capsys, common):
    err = _error(capsys, _run("single_start", "intent_recognition", "1", "--n-ctx", "0", *common))
    assert "n_ctx" in err


def test_paper_scale_missing_data_dir(capsys, common, tmp_path):
    missing = tmp_path / "nonexistent"
    err = _error(capsys, _run("single_start", "eurosat", "1", "--scale", "paper",
                              "--data-dir", str(missing), *common))
    assert "eurosat" in err.lower()
    assert str(missing) in err


def test_unknown_spec(capsys, common):
    err = _error(capsys, _run("single_start", "intent_recognition", "1", "--spec", "table99", *common))
    assert "table99" in err


def test_unknown_scale(capsys, common):
    err = _error(capsys, _run("single_start", "intent_recognition", "1", "--scale", "huge", *common))
    assert "huge" in err
