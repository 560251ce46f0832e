"""CI regression check: recorded runs replay to the recorded numbers.

Re-runs a subset of the Table 3 mini sweep (every method; see
benchmarks/golden.py) from scratch, replaying every LLM call from
benchmarks/responses/, and compares each final metric with the goldens.
"""
import json

import pytest

from benchmarks import golden


@pytest.mark.slow
def test_recorded_runs_replay_to_golden_values():
    recorded = json.loads(golden.GOLDEN.read_text())
    actual = golden.compute()
    exact = recorded["platform"] == golden.platform_id()
    problems = golden.compare(recorded["runs"], actual, exact)
    assert not problems, (f"{len(problems)} metric(s) moved "
                          f"({'exact' if exact else 'tolerance'} comparison):\n  " + "\n  ".join(problems))


def test_compare_reports_what_moved():
    want = {"combined/intent_recognition/4shot/seed1": {"test_accuracy": 80.0, "test_loss": 0.5}}
    got = {"combined/intent_recognition/4shot/seed1": {"test_accuracy": 70.0, "test_loss": 0.5}}
    lines = golden.compare(want, got, exact=True)
    assert len(lines) == 1 and "test_accuracy" in lines[0] and "80.000000 -> now 70.000000" in lines[0]
    assert golden.compare(want, want, exact=True) == []
    assert "missing from this run" in golden.compare(want, {}, exact=True)[0]
