"""benchmarks/lm_task_criterion.py's verdicts on fixed scores: the criterion on
the seed mean, the mpnet screening rule, and --combine of separate calls."""
import json

from benchmarks import lm_task_criterion as crit

BASE = {"candidate": "c", "family": "copa", "backbone": "mpnet-lm", "items": 1000, "train": 600, "val": 200,
        "test": 200, "max_steps": 120, "shots": 1000000, "val_majority": 50.0}


def scores(*accs):
    return [{"val_accuracy": a, "val_loss": 0.5, "train_loss": 0.4} for a in accs]


def write(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_criterion_is_judged_on_the_seed_mean():
    assert crit.criterion_line(BASE, [1, 2, 3], scores(61.0, 60.0, 59.5))["verdict"] == "PASS"
    line = crit.criterion_line(BASE, [1, 2, 3], scores(70.0, 55.0, 54.0))
    assert line["val_mean"] == 59.67 and line["verdict"] == "FAIL (a) margin < 10"
    small = crit.criterion_line({**BASE, "test": 149}, [1, 2, 3], scores(70.0, 70.0, 70.0))
    assert small["verdict"] == "FAIL (c) test < 150"


def test_screening_stops_below_the_majority_rate_and_owes_seeds_at_or_above_it():
    assert crit.criterion_line(BASE, [1], scores(49.5), screen=True)["verdict"] == "FAIL (a) at screening"
    assert crit.criterion_line(BASE, [1], scores(50.0), screen=True)["verdict"] == "INCOMPLETE (seeds 2-3 owed)"
    # without the rule, one seed is judged like three
    assert crit.criterion_line(BASE, [1], scores(49.5))["verdict"] == "FAIL (a) margin < 10"


def test_combine_merges_the_seeds_of_separate_calls(tmp_path):
    first = write(tmp_path / "seed1.jsonl", [crit.criterion_line(BASE, [1], scores(62.0)),
                                             crit.criterion_line({**BASE, "candidate": "d"}, [1], scores(40.0))])
    rest = write(tmp_path / "seeds23.jsonl", [crit.criterion_line(BASE, [2, 3], scores(61.0, 60.0))])
    merged = crit.combine([rest, first], screen=True)
    assert [(m["candidate"], m["seeds"], m["val_accuracy"], m["verdict"]) for m in merged] == [
        ("c", [1, 2, 3], [62.0, 61.0, 60.0], "PASS"), ("d", [1], [40.0], "FAIL (a) at screening")]


def test_combine_refuses_lines_of_other_settings_or_a_repeated_seed(tmp_path, capsys):
    first = write(tmp_path / "a.jsonl", [crit.criterion_line(BASE, [1], scores(62.0))])
    other = write(tmp_path / "b.jsonl", [crit.criterion_line({**BASE, "max_steps": 60}, [2], scores(61.0))])
    again = write(tmp_path / "c.jsonl", [crit.criterion_line(BASE, [1], scores(61.0))])
    for second in (other, again):
        assert crit.main(["--combine", str(first), str(second), "--screen"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{second}: line 1: c differs" in err[0]
