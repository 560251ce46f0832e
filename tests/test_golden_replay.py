"""CI regression check: recorded runs replay to the recorded numbers.

Re-runs a subset of each recorded mini sweep (Tables 1-8, Figure 2; every
method row; see benchmarks/golden.py) from scratch, replaying every LLM call
from benchmarks/responses/, and compares each final metric with the goldens.
"""
import pytest

from benchmarks import golden


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(golden.CELLS))
def test_recorded_runs_replay_to_golden_values(spec):
    problems, exact = golden.check(spec)
    assert not problems, (f"{spec}: {len(problems)} metric(s) moved "
                          f"({'exact' if exact else 'tolerance'} comparison):\n  " + "\n  ".join(problems))


def test_every_recorded_spec_has_goldens():
    """A spec whose responses are committed must be checked in CI too."""
    from maao.spec import load_spec

    responses = golden.GOLDEN_DIR.parent / "responses"
    recorded = {p.name.split("-mini.jsonl")[0] for p in responses.glob("*-mini.jsonl")}
    # the scale's file (decision 141): a manifest per table, mini.<table>.manifest.json
    recorded |= {p.name.split(".")[1] for p in responses.glob("mini.*.manifest.json")}
    assert recorded <= set(golden.CELLS), f"recorded but not golden-checked: {recorded - set(golden.CELLS)}"
    for spec in golden.CELLS:
        assert golden.golden_path(spec).is_file(), f"no golden file for {spec}"
        assert load_spec(spec).responses_path(golden.SCALE).is_file()


def test_compare_reports_what_moved():
    want = {"combined/intent_recognition/4shot/seed1": {"test_accuracy": 80.0, "test_loss": 0.5}}
    got = {"combined/intent_recognition/4shot/seed1": {"test_accuracy": 70.0, "test_loss": 0.5}}
    lines = golden.compare(want, got, exact=True)
    assert len(lines) == 1 and "test_accuracy" in lines[0] and "80.000000 -> now 70.000000" in lines[0]
    assert golden.compare(want, want, exact=True) == []
    assert "missing from this run" in golden.compare(want, {}, exact=True)[0]


def test_platform_names_the_cpu_kernels():
    """Goldens compare exactly only on the CPU they were made on: another
    vendor or kernel set reduces floats in another order (decision #136)."""
    import torch

    pid = golden.platform_id()
    assert golden.cpu_id() in pid and torch.backends.cpu.get_cpu_capability() in pid
    assert pid != "x86_64|torch 2.14.1|threads 2"   # the pre-#136 form never matches


def test_an_unknown_platform_may_land_within_the_known_platforms_span():
    """Decision #139: where known platforms replay a run to different values, a
    new platform passes anywhere in their span (widened by the tolerance) and
    fails beyond it; a platform with its own entry is still compared exactly."""
    name = "combined/winowhy/32shot/seed1"
    doc = {"platform": "ref", "runs": {name: {"test_accuracy": 48.31, "llm_calls": 3}},
           "per_platform": {"amd": {name: {"test_accuracy": 50.11, "llm_calls": 3}}}}
    want, exact, known = golden.expected(doc, "new cpu")
    assert not exact and want is doc["runs"]
    inside, beyond = {name: {"test_accuracy": 49.66, "llm_calls": 3}}, {name: {"test_accuracy": 51.0,
                                                                                "llm_calls": 3}}
    assert golden.compare(want, inside, exact, known) == []
    (line,) = golden.compare(want, beyond, exact, known)
    assert "48.310000..50.110000" in line
    assert golden.compare(want, inside, exact) != []               # without the span: beyond tolerance
    assert golden.expected(doc, "amd") == (doc["per_platform"]["amd"], True, ())
    assert golden.compare(doc["per_platform"]["amd"], inside, True) != []
